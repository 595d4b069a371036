"""HTTP digest authentication for SIP (RFC 7616 / RFC 8760: SHA-256 and MD5, qop=auth), sans-I/O.

A server may offer several challenges (one ``WWW-Authenticate`` header each, or several in one
value); :func:`choose_challenge` picks the strongest one Akashi can answer and says why when none can.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from akashi.errors import ProtocolError
from akashi.telephony.sip.grammar import SipParseError, split_hostport
from akashi.telephony.sip.uri import parse_uri

#: hash of each algorithm Akashi answers, strongest first (RFC 7616 3.2, RFC 8760)
HASHES = {"SHA-512-256": "sha512_256", "SHA-256": "sha256", "MD5": "md5"}
#: the algorithms Akashi offers in its own challenges, in the order of the headers
OFFERED = ("SHA-256", "MD5")


class DigestError(ProtocolError):
    """No challenge could be answered (unknown algorithm, auth-int only, realm or host not allowed)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            f"認証要求に応答できません: {reason}", f"cannot answer the digest challenge: {reason}"
        )


def _params(rest: str, field_name: str) -> tuple[dict[str, str], str]:
    """``k=v, k="v"`` pairs from the front of ``rest``; stops at a new scheme (a token without ``=``)."""
    out: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        while i < n and rest[i] in " ,\t":
            i += 1
        j = i
        while j < n and rest[j] not in "=, \t":
            j += 1
        k = j
        while k < n and rest[k] in " \t":
            k += 1
        if i >= n:
            break
        if k >= n or rest[k] != "=":
            return out, rest[i:]  # "Digest ..." of a next challenge (or a stray token)
        key = rest[i:j].lower()
        i = k + 1
        while i < n and rest[i] in " \t":
            i += 1
        if i < n and rest[i] == '"':
            j = i + 1
            buf = []
            while j < n and rest[j] != '"':
                if rest[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(rest[j])
                j += 1
            if j >= n:
                raise SipParseError(field_name, "unbalanced quotes")
            out[key] = "".join(buf)
            i = j + 1
        else:
            j = rest.find(",", i)
            j = n if j < 0 else j
            out[key] = rest[i:j].strip()
            i = j
    return out, ""


def split_challenges(value: str, field_name: str = "WWW-Authenticate") -> list[tuple[str, dict[str, str]]]:
    """Every ``(scheme, params)`` in one header value (RFC 7235 allows several, comma-separated)."""
    out: list[tuple[str, dict[str, str]]] = []
    rest = value.strip()
    while rest:
        scheme, _, rest = rest.partition(" ")
        scheme = scheme.strip(", \t")
        if not scheme:
            continue
        params, rest = _params(rest, field_name)
        out.append((scheme, params))
        rest = rest.strip()
    return out


def parse_challenge(value: str) -> dict[str, str]:
    """Parse one ``Digest realm="x", nonce="y", ...`` (or credentials) into a dict with lower-case keys."""
    found = split_challenges(value)
    if not found:
        raise SipParseError("WWW-Authenticate", "empty")
    scheme, out = found[0]
    if scheme.lower() != "digest":
        raise SipParseError("WWW-Authenticate", f"scheme {scheme!r}")
    if "nonce" not in out or "realm" not in out:
        raise SipParseError("WWW-Authenticate", "realm or nonce missing")
    return out


def _algorithm(ch: dict[str, str]) -> tuple[str, bool]:
    """(base algorithm in upper case, whether it is a -sess variant)."""
    alg = ch.get("algorithm", "MD5").strip().upper()
    if alg.endswith("-SESS"):
        return alg[: -len("-SESS")], True
    return alg, False


def _qops(ch: dict[str, str]) -> list[str]:
    return [q.strip().lower() for q in ch.get("qop", "").split(",") if q.strip()]


def unanswerable(ch: dict[str, str]) -> str | None:
    """Why a parsed challenge cannot be answered, or None when it can."""
    if any(c in v for v in ch.values() for c in "\r\n\x00"):
        return "CR, LF or NUL in the challenge"
    alg, _sess = _algorithm(ch)
    if alg not in HASHES:
        return f"algorithm {ch.get('algorithm', '')!r} not supported"
    if alg == "SHA-512-256" and "sha512_256" not in hashlib.algorithms_available:
        return "algorithm SHA-512-256 not available"
    qops = _qops(ch)
    if qops and "auth" not in qops:
        return f"qop {ch.get('qop', '')!r} (only auth is supported)"
    return None


def choose_challenge(values: Iterable[str], *, realm: str = "") -> dict[str, str]:
    """The strongest answerable Digest challenge among every header value given.

    ``realm``: when not empty, only a challenge of that realm is answered. Raises
    :class:`DigestError` with every reason when none can be answered.
    """
    reasons: list[str] = []
    best: tuple[int, dict[str, str]] | None = None
    rank = list(HASHES)
    for value in values:
        try:
            found = split_challenges(value)
        except SipParseError as exc:
            reasons.append(exc.detail)
            continue
        for scheme, ch in found:
            if scheme.lower() != "digest":
                reasons.append(f"scheme {scheme[:20]!r}")
                continue
            if "nonce" not in ch or "realm" not in ch:
                reasons.append("realm or nonce missing")
                continue
            why = unanswerable(ch)
            if why is None and realm and ch["realm"] != realm:
                why = f"realm {ch['realm'][:60]!r} is not the trunk's {realm!r}"
            if why is not None:
                reasons.append(why)
                continue
            strength = rank.index(_algorithm(ch)[0])
            if best is None or strength < best[0]:
                best = (strength, ch)
    if best is None:
        raise DigestError("; ".join(reasons) or "no challenge")
    return best[1]


def _hash(alg: str, s: str) -> str:
    return hashlib.new(HASHES[alg], s.encode(), usedforsecurity=False).hexdigest()


def digest_response(
    ch: dict[str, str], *, method: str, uri: str, username: str, password: str, nc: int = 1, cnonce: str = ""
) -> str:
    """The response hash for a challenge (qop=auth or none; MD5, SHA-256, SHA-512-256, -sess)."""
    alg, sess = _algorithm(ch)
    if alg not in HASHES:
        raise DigestError(f"algorithm {ch.get('algorithm', '')!r} not supported")
    ha1 = _hash(alg, f"{username}:{ch['realm']}:{password}")
    if sess:
        ha1 = _hash(alg, f"{ha1}:{ch['nonce']}:{cnonce}")
    ha2 = _hash(alg, f"{method}:{uri}")
    if "auth" in _qops(ch):
        return _hash(alg, f"{ha1}:{ch['nonce']}:{nc:08x}:{cnonce}:auth:{ha2}")
    return _hash(alg, f"{ha1}:{ch['nonce']}:{ha2}")


def _quote(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"')


def authorization(
    challenge: str | Sequence[str],
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: int = 1,
    realm: str = "",
) -> str:
    """An Authorization / Proxy-Authorization value answering the strongest of the challenges.

    ``challenge``: one header value or all of them (every ``WWW-Authenticate`` of a 401). Raises
    :class:`DigestError` when none can be answered.
    """
    ch = choose_challenge([challenge] if isinstance(challenge, str) else challenge, realm=realm)
    cnonce = secrets.token_hex(8)
    resp = digest_response(
        ch, method=method, uri=uri, username=username, password=password, nc=nc, cnonce=cnonce
    )
    alg = ch.get("algorithm", "MD5").strip().upper()
    hashed_user = ch.get("userhash", "").lower() == "true"
    user = _hash(_algorithm(ch)[0], f"{username}:{ch['realm']}") if hashed_user else username
    parts = [
        f'username="{_quote(user)}"',
        f'realm="{_quote(ch["realm"])}"',
        f'nonce="{_quote(ch["nonce"])}"',
        f'uri="{_quote(uri)}"',
        f'response="{resp}"',
        f"algorithm={alg}",
    ]
    if "opaque" in ch:
        parts.append(f'opaque="{_quote(ch["opaque"])}"')
    if "auth" in _qops(ch):
        parts += ["qop=auth", f"nc={nc:08x}", f'cnonce="{cnonce}"']
    if hashed_user:
        parts.append("userhash=true")
    return "Digest " + ", ".join(parts)


def challenges(
    realm: str, nonce: str, *, stale: bool = False, algorithms: Sequence[str] = OFFERED
) -> list[str]:
    """Akashi's own challenge, one header value per algorithm offered (by default SHA-256 first, then MD5)."""
    tail = ", stale=true" if stale else ""
    return [
        f'Digest realm="{_quote(realm)}", nonce="{nonce}", algorithm={a}, qop="auth"{tail}'
        for a in algorithms
        if a in OFFERED
    ]


def same_uri(a: str, b: str) -> bool:
    """Whether a digest ``uri`` names the Request-URI (equal text, or the same SIP URI parsed)."""
    if a == b:
        return True
    try:
        ua, ub = parse_uri(a), parse_uri(b)
    except ProtocolError:
        return False
    params_a = {(k.lower(), v.lower()) for k, v in ua.params}
    params_b = {(k.lower(), v.lower()) for k, v in ub.params}
    return (ua.scheme, ua.user, ua.host, ua.port, params_a) == (
        ub.scheme,
        ub.user,
        ub.host,
        ub.port,
        params_b,
    )


def check_authorization(
    value: str, *, method: str, password: str, realm: str, request_uri: str | None = None
) -> bool:
    """Verify a client's Authorization header against the password (server side).

    The answer may use any algorithm Akashi offers (SHA-256 or MD5). ``request_uri``: the request's
    Request-URI; the digest ``uri`` must name it (RFC 7616 3.4.6), so a response computed for
    another request cannot be used here.
    """
    try:
        p = parse_challenge(value)
    except SipParseError:
        return False
    if p.get("realm") != realm or "uri" not in p or "response" not in p or "username" not in p:
        return False
    alg, sess = _algorithm(p)
    if alg not in OFFERED or sess:
        return False
    if request_uri is not None and not same_uri(p["uri"], request_uri):
        return False
    ch = {"realm": realm, "nonce": p["nonce"], "qop": p.get("qop", ""), "algorithm": alg}
    try:
        nc = int(p.get("nc", "1"), 16)
    except ValueError:
        return False  # a malformed nonce count is a failed authentication, not a crash
    want = digest_response(
        ch,
        method=method,
        uri=p["uri"],
        username=p["username"],
        password=password,
        nc=nc,
        cnonce=p.get("cnonce", ""),
    )
    return secrets.compare_digest(want, p["response"])


@dataclass(frozen=True)
class Credentials:
    """A trunk's digest credentials and where they may be sent: its configured host and realm."""

    username: str
    password: str = field(repr=False)
    #: the trunk's configured ``host`` or ``host:port``
    host: str
    #: when not empty, only challenges of this realm are answered
    realm: str = ""

    def refusal(self, target: str) -> str | None:
        """Why these credentials may not answer a challenge to a request for ``target`` (None: they may)."""
        try:
            want_host, want_port = split_hostport(self.host, "trunk host")
            u = parse_uri(target)
        except ProtocolError as exc:
            return str(exc.args[0]) if exc.args else "bad URI"
        if u.host != want_host.strip("[]").lower() or (u.port or 5060) != (want_port or 5060):
            return f"the request went to {u.host}:{u.port or 5060}, not the trunk's {self.host}"
        return None

    def answer(
        self,
        challenge: Sequence[str],
        *,
        method: str,
        uri: str,
        source: tuple[str, int] | None = None,
        sent_to: tuple[str, int] | None = None,
    ) -> str:
        """The Authorization value for a request to ``uri``; :class:`DigestError` when it may not be sent.

        ``source`` / ``sent_to``: where the challenge came from and where the request went; a
        challenge from another address (a spoofed 401 over UDP) is not answered.
        """
        why = self.refusal(uri)
        if why is None and source is not None and sent_to is not None and source[0] != sent_to[0]:
            why = f"the challenge came from {source[0]}, not from the trunk's {sent_to[0]}"
        if why is not None:
            raise DigestError(why)
        return authorization(
            challenge,
            method=method,
            uri=uri,
            username=self.username,
            password=self.password,
            realm=self.realm,
        )


class NonceBook:
    """The nonces a server issued, with the highest nonce count (``nc``) each has accepted.

    A request is accepted once per nonce count: a replayed Authorization header (same or lower
    ``nc``) is refused, as is a nonce that expired or was never issued. A nonce without ``qop``
    carries no count and so is good for one request only. Sans-I/O: the caller passes the clock
    (monotonic: nonces are kept in the order they were issued, so expiry only looks at the oldest).

    Issuing and using are O(1) amortised: a flood of challenges costs each one constant work, not
    a pass over the ``limit`` nonces already out.
    """

    def __init__(self, ttl_s: float, limit: int = 10000) -> None:
        self.ttl_s = ttl_s
        self.limit = limit
        #: nonce -> (issue time, highest nc accepted), oldest first
        self._issued: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._issued)

    def issue(self, now: float) -> str:
        """A fresh nonce, valid for ``ttl_s`` from ``now``; expired (and the oldest past ``limit``) drop."""
        issued = self._issued
        # oldest first: stop at the first live one (each nonce is dropped once: O(1) amortised)
        while issued and now - next(iter(issued.values()))[0] >= self.ttl_s:
            issued.popitem(last=False)
        while len(issued) >= self.limit:
            issued.popitem(last=False)
        nonce = secrets.token_hex(12)
        self._issued[nonce] = (now, 0)
        return nonce

    def use(self, value: str, now: float) -> bool:
        """Accept an (already verified) Authorization value once: its nonce is live and its nc is new."""
        try:
            p = parse_challenge(value)
            nc = int(p.get("nc", "1"), 16)
        except (SipParseError, ValueError):
            return False
        entry = self._issued.get(p["nonce"])
        if entry is None or now - entry[0] >= self.ttl_s or nc <= entry[1]:
            return False
        self._issued[p["nonce"]] = (entry[0], nc)
        return True
