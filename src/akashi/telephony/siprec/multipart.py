"""multipart/mixed bodies (RFC 2046 5.1) as SIPREC sends them: an SDP part and a metadata part (sans-I/O).

:func:`split` parses a body into :class:`Part` objects; :func:`join` writes them back, so that
``split(join(parts, b), b) == parts``. Line ends may be CRLF or bare LF (some SRCs and test tools send
LF); a body without its closing delimiter is truncated and refused.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from akashi.telephony.siprec import SiprecError

#: a SIPREC body has an SDP part and a metadata part; more than this is not a recording session
MAX_PARTS = 8
#: RFC 2046 5.1.1: 1 to 70 characters from this set, not ending in a space
_BOUNDARY = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$")
_HEADER = re.compile(rb"^([!-9;-~]+)[ \t]*:[ \t]*(.*)$")


@dataclass(frozen=True)
class Part:
    """One body part: its header lines (name, value) in order and its content."""

    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str:
        """The first value of a header ("" when absent), name case-insensitive."""
        key = name.lower()
        return next((v for k, v in self.headers if k.lower() == key), "")

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower case (RFC 2046: text/plain when absent)."""
        value = self.header("Content-Type").split(";", 1)[0].strip().lower()
        return value or "text/plain"

    @property
    def disposition(self) -> str:
        """The Content-Disposition type, lower case ("" when absent)."""
        return self.header("Content-Disposition").split(";", 1)[0].strip().lower()


def media_type(content_type: str) -> str:
    """The media type of a Content-Type value, lower case, without parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def boundary_of(content_type: str) -> str:
    """The ``boundary`` parameter of a multipart Content-Type (quotes removed); refused when unusable."""
    if not media_type(content_type).startswith("multipart/"):
        raise SiprecError("Content-Type", f"not multipart: {content_type[:60]!r}")
    for param in _params(content_type):
        name, _, value = param.partition("=")
        if name.strip().lower() == "boundary":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            if not _BOUNDARY.match(value):
                raise SiprecError("boundary", f"not an RFC 2046 boundary: {value[:80]!r}")
            return value
    raise SiprecError("boundary", "missing")


def _params(content_type: str) -> list[str]:
    """The ``;`` parameters of a header value (a quoted value may hold ``;``)."""
    out: list[str] = []
    cur: list[str] = []
    quoted = False
    for ch in content_type.split(";", 1)[1] if ";" in content_type else "":
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [p for p in out if p.strip()]


def split(body: bytes, boundary: str) -> list[Part]:
    """The parts of a multipart body (preamble and epilogue ignored)."""
    delim = re.compile(rb"(?:\A|\r?\n)--" + re.escape(boundary.encode()) + rb"(--)?[ \t]*(?:\r?\n|\Z)")
    matches = list(delim.finditer(body))
    if not matches:
        raise SiprecError("multipart", "no delimiter line")
    parts: list[Part] = []
    for m, nxt in itertools.pairwise(matches):
        if m.group(1):  # the close delimiter: what follows is the epilogue
            return parts
        if len(parts) >= MAX_PARTS:
            raise SiprecError("multipart", f"more than {MAX_PARTS} parts")
        parts.append(_part(body[m.end() : nxt.start()]))
    if not matches[-1].group(1):
        raise SiprecError("multipart", "truncated: no closing delimiter")
    return parts


def _part(raw: bytes) -> Part:
    """One part: header lines, a blank line, the content."""
    if raw.startswith(b"\r\n") or raw.startswith(b"\n"):
        return Part((), raw[2:] if raw.startswith(b"\r\n") else raw[1:])  # no headers
    m = re.search(rb"\r?\n\r?\n", raw)
    if m is None:
        head, content = raw, b""
    else:
        head, content = raw[: m.start()], raw[m.end() :]
    headers: list[tuple[str, str]] = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and headers:  # folded continuation
            k, v = headers[-1]
            headers[-1] = (k, f"{v} {line.strip().decode('utf-8', 'replace')}")
            continue
        hm = _HEADER.match(line)
        if hm is None:
            raise SiprecError("part header", repr(line[:60]))
        headers.append((hm.group(1).decode("ascii"), hm.group(2).decode("utf-8", "replace").strip()))
    return Part(tuple(headers), content)


def join(parts: list[Part], boundary: str) -> bytes:
    """A multipart body of ``parts`` (CRLF line ends, closing delimiter, no preamble)."""
    out = bytearray()
    for p in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        for k, v in p.headers:
            out += f"{k}: {v}\r\n".encode()
        out += b"\r\n" + p.body + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return bytes(out)
