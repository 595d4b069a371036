"""RFC 3161 time stamps: build a ``TimeStampReq``, check a ``TimeStampResp``, and a thin HTTP client.

The encoding and the checks are sans-I/O (bytes in, objects out, :class:`TsaError` naming what is
wrong); :func:`post_query` is the only function that touches the network. ASN.1 and the CMS signature
are handled by ``rfc3161-client`` (maintained by Trail of Bits for sigstore). A response is kept
whole (``.tsr``) beside what it stamps, so that ``openssl ts -verify -in X.tsr -data X -CAfile CA``
checks it with nothing of ours.
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime

import cryptography.x509
from rfc3161_client import (
    HashAlgorithm,
    PKIStatus,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from akashi.errors import AkashiError

#: The largest response accepted from a TSA (a token with a certificate chain is a few KiB).
MAX_RESPONSE = 256 * 1024
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
SHA256_OID = cryptography.x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")


class TsaError(AkashiError):
    """A time stamp could not be obtained or does not prove what it should."""


@dataclass(frozen=True)
class TimeStampQuery:
    """A DER ``TimeStampReq`` over the SHA-256 of some data, and the nonce it carries."""

    der: bytes
    nonce: int | None
    digest: bytes


@dataclass(frozen=True)
class TimeStamp:
    """What a checked response says: the TSA's time and serial, and whether its certificate chain was verified."""

    gen_time: datetime
    serial: int
    policy: str
    chain_verified: bool


def build_query(data: bytes) -> TimeStampQuery:
    """A request for a time stamp over ``SHA-256(data)``, with a nonce and asking for the TSA certificate."""
    req = (
        TimestampRequestBuilder()
        .data(data)
        .hash_algorithm(HashAlgorithm.SHA256)
        .nonce(nonce=True)
        .cert_request(cert_request=True)
        .build()
    )
    return TimeStampQuery(req.as_bytes(), req.nonce, hashlib.sha256(data).digest())


def load_ca(pem: bytes) -> list[cryptography.x509.Certificate]:
    """Certificates of a PEM bundle (roots and intermediates of a TSA)."""
    try:
        certs = cryptography.x509.load_pem_x509_certificates(pem)
    except ValueError as err:
        raise TsaError(f"TSA の証明書が読めません: {err}", f"unreadable TSA certificate: {err}") from None
    return list(certs)


def _parse(der: bytes) -> TimeStampResponse:
    if len(der) > MAX_RESPONSE:
        raise TsaError("TSA の応答が大きすぎます", f"TSA response larger than {MAX_RESPONSE} bytes")
    try:
        return decode_timestamp_response(der)
    except ValueError as err:
        raise TsaError(
            f"TSA の応答が RFC 3161 の形式ではありません: {err}", f"not an RFC 3161 TimeStampResp: {err}"
        ) from None


def check_response(
    der: bytes,
    data: bytes,
    *,
    nonce: int | None = None,
    ca: list[cryptography.x509.Certificate] | None = None,
) -> TimeStamp:
    """Check that ``der`` is a granted time stamp over ``SHA-256(data)``.

    ``nonce``: the request's (checked when given). ``ca``: roots and intermediates of the TSA; with
    them the CMS signature, the certificate chain and the time-stamping key usage are verified
    (``chain_verified``); without them only the status, the hash and the nonce are, and the caller
    must say that the signer is unverified.
    """
    resp = _parse(der)
    if resp.status not in (PKIStatus.GRANTED, PKIStatus.GRANTED_WITH_MODS):
        why = "; ".join(resp.status_string) or str(resp.status)
        raise TsaError(f"TSA が拒否しました: {why}", f"the TSA refused: {why}")
    info = resp.tst_info
    imprint = info.message_imprint
    if imprint.hash_algorithm != SHA256_OID:
        raise TsaError("TSA のハッシュ方式が SHA-256 ではありません", "the time stamp is not over SHA-256")
    if imprint.message != hashlib.sha256(data).digest():
        raise TsaError(
            "タイムスタンプが対象のデータと一致しません",
            "the time stamp is not over this data (hash differs)",
        )
    if nonce is not None and info.nonce != nonce:
        raise TsaError("TSA の応答のノンスが要求と違います", "the response's nonce is not the request's")
    verified = False
    if ca:
        roots = [c for c in ca if c.issuer == c.subject]
        builder = VerifierBuilder()
        for c in roots:
            builder = builder.add_root_certificate(c)
        for c in ca:
            if c not in roots:
                builder = builder.add_intermediate_certificate(c)
        if not roots:
            raise TsaError("TSA のルート証明書がありません", "no root certificate in the TSA CA file")
        try:
            builder.build().verify(resp, hashlib.sha256(data).digest())
        except VerificationError as err:
            raise TsaError(
                f"TSA の署名を確認できません: {err}", f"TSA signature not verified: {err}"
            ) from None
        verified = True
    return TimeStamp(info.gen_time, info.serial_number, info.policy.dotted_string, verified)


def post_query(url: str, query: bytes, timeout_s: float) -> bytes:
    """POST a ``TimeStampReq`` to a TSA and return the body of its reply (not yet checked)."""
    if not url.startswith(("https://", "http://")):
        raise TsaError(f"TSA の URL が不正です: {url}", f"TSA URL must be http(s): {url}")
    req = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, data=query, method="POST", headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
            body: bytes = resp.read(MAX_RESPONSE + 1)
    except urllib.error.HTTPError as err:
        raise TsaError(
            f"TSA が HTTP {err.code} を返しました（{url}）", f"the TSA answered HTTP {err.code} ({url})"
        ) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise TsaError(
            f"TSA に接続できません（{url}）: {reason}", f"cannot reach the TSA ({url}): {reason}"
        ) from None
    return body


def timestamp(
    url: str, data: bytes, timeout_s: float, ca: list[cryptography.x509.Certificate] | None
) -> tuple[bytes, TimeStamp]:
    """Obtain and check a time stamp over ``data``: the response DER and what it says."""
    q = build_query(data)
    der = post_query(url, q.der, timeout_s)
    return der, check_response(der, data, nonce=q.nonce, ca=ca)
