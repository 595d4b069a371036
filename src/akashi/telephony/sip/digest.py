"""HTTP digest authentication for SIP (RFC 2617 / RFC 8760 MD5), sans-I/O."""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict

from akashi.telephony.sip.message import SipParseError


def parse_challenge(value: str) -> dict[str, str]:
    """Parse ``Digest realm="x", nonce="y", ...`` into a dict with lower-case keys."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipParseError("WWW-Authenticate", f"scheme {scheme!r}")
    out: dict[str, str] = {}
    i = 0
    n = len(rest)
    while i < n:
        while i < n and rest[i] in " ,\t":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip().lower()
        i = eq + 1
        if i < n and rest[i] == '"':
            j = i + 1
            buf = []
            while j < n and rest[j] != '"':
                if rest[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(rest[j])
                j += 1
            if j >= n:
                raise SipParseError("WWW-Authenticate", "unbalanced quotes")
            out[key] = "".join(buf)
            i = j + 1
        else:
            j = rest.find(",", i)
            j = n if j < 0 else j
            out[key] = rest[i:j].strip()
            i = j
    if "nonce" not in out or "realm" not in out:
        raise SipParseError("WWW-Authenticate", "realm or nonce missing")
    return out


def _h(s: str) -> str:
    return hashlib.md5(s.encode(), usedforsecurity=False).hexdigest()


def digest_response(
    ch: dict[str, str], *, method: str, uri: str, username: str, password: str, nc: int = 1, cnonce: str = ""
) -> str:
    """The response hash for a challenge (qop=auth or none)."""
    ha1 = _h(f"{username}:{ch['realm']}:{password}")
    ha2 = _h(f"{method}:{uri}")
    qop = ch.get("qop", "")
    if "auth" in [q.strip() for q in qop.split(",")]:
        return _h(f"{ha1}:{ch['nonce']}:{nc:08x}:{cnonce}:auth:{ha2}")
    return _h(f"{ha1}:{ch['nonce']}:{ha2}")


def authorization(challenge: str, *, method: str, uri: str, username: str, password: str, nc: int = 1) -> str:
    """An Authorization / Proxy-Authorization value answering a challenge."""
    ch = parse_challenge(challenge)
    if ch.get("algorithm", "MD5").upper() != "MD5":
        raise SipParseError("WWW-Authenticate", f"algorithm {ch['algorithm']!r}")
    cnonce = secrets.token_hex(8)
    resp = digest_response(
        ch, method=method, uri=uri, username=username, password=password, nc=nc, cnonce=cnonce
    )
    parts = [
        f'username="{username}"',
        f'realm="{ch["realm"]}"',
        f'nonce="{ch["nonce"]}"',
        f'uri="{uri}"',
        f'response="{resp}"',
        "algorithm=MD5",
    ]
    if "opaque" in ch:
        parts.append(f'opaque="{ch["opaque"]}"')
    if "auth" in [q.strip() for q in ch.get("qop", "").split(",")]:
        parts += ["qop=auth", f"nc={nc:08x}", f'cnonce="{cnonce}"']
    return "Digest " + ", ".join(parts)


def check_authorization(value: str, *, method: str, password: str, realm: str) -> bool:
    """Verify a client's Authorization header against the password (server side)."""
    try:
        p = parse_challenge(value)
    except SipParseError:
        return False
    if p.get("realm") != realm or "uri" not in p or "response" not in p or "username" not in p:
        return False
    ch = {"realm": realm, "nonce": p["nonce"], "qop": p.get("qop", "")}
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
