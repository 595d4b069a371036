"""Peers of the trunk tests: SIPp carriers and registrars that challenge, a TLS front for SIPp, certificates.

SIPp 3.6.1 as packaged in Debian has no TLS (``-t l1`` needs a build with OpenSSL), so the TLS
peer is SIPp over TCP (``-t t1``) behind a TLS terminator written here: Akashi's side of the TLS is
real (handshake, certificate and name checks), the SIP behind it is SIPp's.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import ipaddress
import re
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.telephony import scenarios

AGENT_SECRET = "agent-secret-201"
TRUNK_USER = "akashi-trunk"
TRUNK_PASS = "trunkpass"
REALM = "carrier.example"
SHA = f'WWW-Authenticate: Digest realm="{REALM}", nonce="sha-[call_number]-[pid]", algorithm=SHA-256, qop="auth"'
MD5 = f'WWW-Authenticate: Digest realm="{REALM}", nonce="md5-[call_number]-[pid]", algorithm=MD5, qop="auth"'


def self_signed(folder: Path, name: str = "trunk") -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (its own CA) and its key: (cert.pem, key.pem)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name}.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_p, key_p = folder / f"{name}.pem", folder / f"{name}.key"
    cert_p.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_p.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_p, key_p


class TlsFront:
    """A TLS server that hands each connection's bytes to a TCP port (SIPp ``-t t1``) and back."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.handshakes = 0
        self.port = 0

    async def start(self, cert: Path, key: Path, target: int) -> None:
        """Listen on 127.0.0.1 (any port) in front of ``127.0.0.1:target``."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.close()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.handshakes += 1
            try:
                ur, uw = await asyncio.open_connection("127.0.0.1", target)
            except OSError:
                w.close()
                return
            await asyncio.gather(pipe(r, uw), pipe(ur, w))

        self.server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
        self.port = int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()


@contextlib.asynccontextmanager
async def tls_front(cert: Path, key: Path, target: int) -> AsyncIterator[TlsFront]:
    """A :class:`TlsFront` for the duration of the block."""
    front = TlsFront()
    await front.start(cert, key, target)
    try:
        yield front
    finally:
        front.close()


def _response(status: str, *, tag: str, extra: str = "") -> str:
    return f"""
  <send>
    <![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]{tag}[call_number]
[last_Call-ID:]
[last_CSeq:]
{extra}Content-Length: 0

    ]]>
  </send>
"""


def carrier(challenges: list[str]) -> str:
    """A trunk: challenges the first INVITE with ``challenges`` (header lines), answers a second one 486."""
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="carrier">',
            '  <recv request="INVITE"/>',
            _response("401 Unauthorized", tag="SIPpTag01", extra="".join(c + "\n" for c in challenges)),
            '  <recv request="ACK"/>',
            '  <recv request="INVITE" timeout="20000" ontimeout="end"/>',
            _response("486 Busy Here", tag="SIPpTag02"),
            '  <recv request="ACK"/>',
            '  <label id="end"/>',
            "</scenario>",
        ]
    )


def registrar(challenges: list[str], expires: int = 120) -> str:
    """A registrar: challenges a REGISTER with ``challenges``, grants the next one."""
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="registrar">',
            '  <recv request="REGISTER" timeout="20000"/>',
            _response("401 Unauthorized", tag="SIPpTag09", extra="".join(c + "\n" for c in challenges)),
            '  <recv request="REGISTER" timeout="20000"/>',
            _response("200 OK", tag="SIPpTag09", extra=f"[last_Contact:];expires={expires}\n"),
            "</scenario>",
        ]
    )


AGENT_INVITE = scenarios.CALLER_INVITE.replace('"Customer" <sip:0901234567@', '"Sato" <sip:201@').replace(
    "Contact: <sip:0901234567@", "Contact: <sip:201@"
)


def agent(final: int) -> str:
    """Agent 201 dials out (MD5 digest to Akashi's 407) and expects the final ``final``."""
    invite2 = AGENT_INVITE.split("<recv")[0].replace(
        "CSeq: 1 INVITE", f"CSeq: 2 INVITE\n[authentication username=201 password={AGENT_SECRET}]"
    )
    ack407 = scenarios.ACK.replace("[branch]", "[branch-3]").replace("0901234567", "201")
    ack = scenarios.ACK.replace("CSeq: 1 ACK", "CSeq: 2 ACK").replace("0901234567", "201")
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="agent">',
            AGENT_INVITE.split("<recv")[0],
            '  <recv response="100" optional="true"/>',
            '  <recv response="407" auth="true"/>',
            ack407,
            invite2,
            '  <recv response="100" optional="true"/>',
            '  <recv response="180" optional="true"/>',
            f'  <recv response="{final}" timeout="20000"/>',
            ack.replace("[branch]", "[branch-4]"),  # the ACK of a non-2xx: the INVITE's branch
            "</scenario>",
        ]
    )


def sent_requests(log: str, method: str) -> list[str]:
    """The ``method`` requests SIPp received, as text, from its ``-trace_msg`` log."""
    out = []
    for block in re.split(r"\n-{20,}[^\n]*\n", log):
        start = block.find(f"{method} sip:")
        if "message received" in block and start >= 0:
            out.append(block[start:])
    return out


def header(msg: str, name: str) -> str | None:
    """One header's value in a message's text."""
    m = re.search(rf"(?im)^{re.escape(name)}:[ \t]*(.*)$", msg)
    return m.group(1).strip() if m else None


def check_answer(auth: str, *, method: str, nonce_prefix: str, password: str = TRUNK_PASS) -> dict[str, str]:
    """Verify a digest answer with hashlib (independently of Akashi's code); its parameters."""
    p = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]+))', auth)}
    h = hashlib.sha256 if p["algorithm"] == "SHA-256" else hashlib.md5

    def hx(s: str) -> str:
        return h(s.encode()).hexdigest()

    assert p["nonce"].startswith(nonce_prefix), p
    assert p["username"] == TRUNK_USER and p["realm"] == REALM and p["qop"] == "auth"
    ha1 = hx(f"{TRUNK_USER}:{REALM}:{password}")
    ha2 = hx(f"{method}:{p['uri']}")
    assert p["response"] == hx(f"{ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}"), p
    return p
