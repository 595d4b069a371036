"""SIP messages (RFC 3261 section 7), sans-I/O: bytes in, objects out, and back to the same bytes.

A parsed message keeps every header line as it arrived, so ``bytes(parse(data)) == data`` for any
well-formed message framed with CRLF. Headers changed through the API are written in canonical form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from akashi.errors import AkashiError
from akashi.telephony.sip.grammar import SipParseError, split_hostport
from akashi.telephony.sip.uri import parse_name_addr

MAX_MESSAGE = 65535
MAX_HEADERS = 256

COMPACT = {
    "i": "call-id",
    "m": "contact",
    "f": "from",
    "t": "to",
    "v": "via",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
    "o": "event",
    "r": "refer-to",
    "u": "allow-events",
}

_TOKEN = re.compile(r"^[A-Za-z0-9\-.!%*_+`'~]+$")
_STATUS = re.compile(r"^SIP/(\d+)\.(\d+) (\d{3})(?: (.*))?$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_SLASH = re.compile(r"\s*/\s*")
_REQUEST = re.compile(r"^(\S+) (\S+) SIP/(\d+)\.(\d+)$")

REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    183: "Session Progress",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    420: "Bad Extension",
    422: "Session Interval Too Small",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    484: "Address Incomplete",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
    600: "Busy Everywhere",
    603: "Decline",
}


class SipBuildError(AkashiError, ValueError):
    """Akashi tried to write a SIP message that cannot be sent (a CR or LF inside a header, say).

    This is a bug in the code that built the message, never something to put on the wire: a CR or
    LF in a header value would end the header there and let the rest be read as new headers.
    """

    def __init__(self, part: str, detail: str) -> None:
        self.part = part
        super().__init__(
            f"SIPメッセージを作れません ({part}): {detail}", f"refusing to write SIP {part}: {detail}"
        )


#: characters that may never appear inside a header line (a NUL in a quoted-pair is legal, RFC 4475 3.1.1.2)
_LINE_BREAKS = re.compile(r"[\r\n]")


def check_header(name: str, value: str) -> None:
    """Refuse a header Akashi is about to write whose name is not a token or whose value breaks the line."""
    if not _TOKEN.match(name):
        raise SipBuildError("header name", repr(name[:60]))
    if _LINE_BREAKS.search(value):
        raise SipBuildError(f"header {name}", "CR or LF in the value")


def _check_start(line: str) -> None:
    if _LINE_BREAKS.search(line):
        raise SipBuildError("start line", "CR or LF")


def canonical(name: str) -> str:
    """Lower-case long form of a header name (compact forms expanded)."""
    low = name.strip().lower()
    return COMPACT.get(low, low)


@dataclass
class Header:
    """One header line. ``raw`` is the line as received (folding included), or None once built."""

    name: str
    value: str
    raw: str | None = None

    def line(self) -> str:
        """The header as it is written on the wire (without CRLF).

        A header as received is written back as it came; one built or changed here is checked
        first (:class:`SipBuildError` for a name that is not a token or a CR/LF in the value).
        """
        if self.raw is not None:
            return self.raw
        check_header(self.name, self.value)
        return f"{self.name}: {self.value}"


@dataclass
class SipMessage:
    """Common part of requests and responses: ordered headers and a body."""

    headers: list[Header] = field(default_factory=list)
    body: bytes = b""
    start_raw: str | None = None
    #: monotonic receive time (set by the transport)
    received_at: float = 0.0
    #: (host, port) the message came from (set by the transport)
    source: tuple[str, int] | None = None
    #: "UDP" or "TCP": how the message came (set by the transport)
    transport: str = "UDP"

    # -- headers --------------------------------------------------------------------------
    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of a header (case-insensitive, compact forms accepted)."""
        key = canonical(name)
        for h in self.headers:
            if canonical(h.name) == key:
                return h.value
        return default

    def get_all(self, name: str) -> list[str]:
        """All values of a header, comma-separated lists split (not for Authorization-like headers)."""
        key = canonical(name)
        out: list[str] = []
        for h in self.headers:
            if canonical(h.name) == key:
                out.extend(split_list(h.value))
        return out

    def get_each(self, name: str) -> list[str]:
        """Every value of a header, one per line, not split at commas (for WWW-Authenticate and the like)."""
        key = canonical(name)
        return [h.value for h in self.headers if canonical(h.name) == key]

    def header(self, name: str) -> str:
        """A required header; raises :class:`SipParseError` naming it when absent."""
        v = self.get(name)
        if v is None:
            raise SipParseError(name, "missing")
        return v

    def set(self, name: str, value: str) -> None:
        """Replace all headers of this name by one (added at the end when absent)."""
        check_header(name, value)
        key = canonical(name)
        idx = [i for i, h in enumerate(self.headers) if canonical(h.name) == key]
        if not idx:
            self.headers.append(Header(name, value))
            return
        self.headers[idx[0]] = Header(name, value)
        for i in reversed(idx[1:]):
            del self.headers[i]

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        """Add a header line (at the top with ``first``, as a proxy adds Via)."""
        check_header(name, value)
        if first:
            self.headers.insert(0, Header(name, value))
        else:
            self.headers.append(Header(name, value))

    def remove(self, name: str) -> None:
        """Remove every header of this name."""
        key = canonical(name)
        self.headers = [h for h in self.headers if canonical(h.name) != key]

    def set_body(self, body: bytes, content_type: str | None) -> None:
        """Replace the body and keep Content-Type / Content-Length consistent."""
        self.body = body
        if content_type:
            self.set("Content-Type", content_type)
        elif not body:
            self.remove("Content-Type")
        self.set("Content-Length", str(len(body)))

    # -- common fields --------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        """The Call-ID."""
        return self.header("Call-ID").strip()

    @property
    def cseq(self) -> tuple[int, str]:
        """(number, method) of CSeq."""
        v = self.header("CSeq").split()
        if len(v) != 2 or not v[0].isdigit() or len(v[0]) > 10 or int(v[0]) >= 2**31:
            raise SipParseError("CSeq", repr(self.get("CSeq")))
        return int(v[0]), v[1]

    @property
    def to_tag(self) -> str:
        """The To header's tag ('' when absent: a request outside a dialog)."""
        return parse_name_addr(self.header("To")).param("tag") or ""

    @property
    def vias(self) -> list[str]:
        """Via values, topmost first."""
        return self.get_all("Via")

    @property
    def branch(self) -> str:
        """branch parameter of the topmost Via ('' when absent)."""
        vias = self.vias
        if not vias:
            raise SipParseError("Via", "missing")
        return via_param(vias[0], "branch") or ""

    def _head(self) -> str:
        raise NotImplementedError

    def __bytes__(self) -> bytes:
        head = self._head() + "\r\n" + "".join(h.line() + "\r\n" for h in self.headers) + "\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body


@dataclass
class Request(SipMessage):
    """A SIP request."""

    method: str = ""
    uri: str = ""
    version: str = "SIP/2.0"

    def _head(self) -> str:
        if self.start_raw is not None:
            return self.start_raw
        bad_uri = not self.uri or any(c.isspace() for c in self.uri) or _LINE_BREAKS.search(self.uri)
        if not _TOKEN.match(self.method) or bad_uri:
            raise SipBuildError("request line", repr(f"{self.method} {self.uri}"[:80]))
        return f"{self.method} {self.uri} {self.version}"


@dataclass
class Response(SipMessage):
    """A SIP response."""

    status: int = 200
    reason: str = "OK"
    version: str = "SIP/2.0"

    def _head(self) -> str:
        if self.start_raw is not None:
            return self.start_raw
        line = f"{self.version} {self.status} {self.reason}"
        _check_start(line)
        return line


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, honouring quotes and <...>."""
    out: list[str] = []
    buf: list[str] = []
    quote = False
    angle = False
    esc = False
    for ch in value:
        if esc:
            buf.append(ch)
            esc = False
            continue
        if quote and ch == "\\":
            buf.append(ch)
            esc = True
            continue
        if ch == '"':
            quote = not quote
        elif ch == "<" and not quote:
            angle = True
        elif ch == ">" and not quote:
            angle = False
        if ch == "," and not quote and not angle:
            item = "".join(buf).strip()
            if item:
                out.append(item)
            buf = []
            continue
        buf.append(ch)
    item = "".join(buf).strip()
    if item:
        out.append(item)
    return out


def via_param(via: str, name: str) -> str | None:
    """A parameter of one Via value (``branch``, ``received``, ``rport``...); '' for a flag."""
    for part in via.split(";")[1:]:
        k, _, v = part.partition("=")
        if k.strip().lower() == name:
            return v.strip()
    return None


def via_sent_by(via: str) -> tuple[str, str, int | None]:
    """(transport, host, port) of one Via value."""
    proto, _, rest = _SLASH.sub("/", via.strip()).partition(" ")
    parts = [p.strip() for p in proto.split("/")]
    if len(parts) != 3 or parts[0].upper() != "SIP":
        raise SipParseError("Via", f"bad sent-protocol {proto!r}")
    sent_by = rest.split(";", 1)[0].strip()
    if not sent_by:
        raise SipParseError("Via", "empty sent-by")
    host, port = split_hostport(sent_by, "Via")
    return parts[2].upper(), host, port


def _split_head(data: bytes) -> tuple[bytes, bytes, bool]:
    for sep, crlf in ((b"\r\n\r\n", True), (b"\n\n", False)):
        i = data.find(sep)
        if i >= 0:
            return data[:i], data[i + len(sep) :], crlf
    # no body separator: a datagram may end right after the headers
    if data.endswith(b"\r\n"):
        return data[:-2], b"", True
    raise SipParseError("headers", "no empty line after the headers")


def parse(data: bytes, *, stream: bool = False) -> SipMessage:  # noqa: PLR0912, PLR0915 - single-pass parser: each branch rejects one malformed input with its own message
    """Parse one SIP message.

    With ``stream`` (TCP) a Content-Length is required and the body is exactly that long; for UDP
    the body is the rest of the datagram, cut to Content-Length when that is shorter.
    """
    if len(data) > MAX_MESSAGE:
        raise SipParseError("message", "too large")
    # keep-alive CRLFs before a message are allowed (RFC 5626)
    data_l = data.lstrip(b"\r\n")
    if not data_l:
        raise SipParseError("message", "empty")
    head_b, body, crlf = _split_head(data_l)
    try:
        head = head_b.decode("utf-8", "surrogateescape")
    except UnicodeDecodeError as exc:  # pragma: no cover - surrogateescape never fails
        raise SipParseError("headers", "not text") from exc
    lines = head.split("\r\n" if crlf else "\n")
    start = lines[0]
    if "\x00" in start:
        raise SipParseError("start line", "NUL byte")
    for line in lines:
        # a lone CR or LF inside a line ends it for some parsers: never pass one on
        if _LINE_BREAKS.search(line):
            raise SipParseError("headers", "bare CR or LF inside a line")
    msg: SipMessage
    m = _STATUS.match(start)
    if m:
        if (m.group(1), m.group(2)) != ("2", "0"):
            raise SipParseError("version", start.split(" ", 1)[0])
        code = int(m.group(3))
        if not 100 <= code <= 699:
            raise SipParseError("status", m.group(3))
        msg = Response(status=code, reason=m.group(4) or "", start_raw=start)
    else:
        m = _REQUEST.match(start)
        if not m:
            raise SipParseError("request line", repr(start[:80]))
        method, uri = m.group(1), m.group(2)
        if not _TOKEN.match(method):
            raise SipParseError("method", repr(method[:40]))
        if (m.group(3), m.group(4)) != ("2", "0"):
            raise SipParseError("version", f"SIP/{m.group(3)}.{m.group(4)}")
        if not _SCHEME.match(uri):
            raise SipParseError("Request-URI", repr(uri[:80]))
        msg = Request(method=method, uri=uri, start_raw=start)
    raw_lines: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not raw_lines:
                raise SipParseError("headers", "continuation line before the first header")
            raw_lines[-1] += ("\r\n" if crlf else "\n") + line
        else:
            raw_lines.append(line)
    if len(raw_lines) > MAX_HEADERS:
        raise SipParseError("headers", "too many")
    for raw in raw_lines:
        name, colon, value = raw.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _TOKEN.match(name):
            raise SipParseError("header", repr(raw[:60]))
        value = re.sub(r"[ \t]*\r?\n[ \t]+", " ", value).strip(" \t")
        msg.headers.append(Header(name, value, raw if crlf else None))
    _check(msg)
    clen_s = msg.get("Content-Length")
    if clen_s is not None:
        if not clen_s.isdigit() or len(clen_s) > 9:
            raise SipParseError("Content-Length", repr(clen_s))
        clen = int(clen_s)
        if clen > len(body):
            raise SipParseError("Content-Length", f"{clen} but {len(body)} bytes follow")
        if (clen < len(body) and stream) or clen < len(body):
            body = body[:clen]
    elif stream:
        raise SipParseError("Content-Length", "missing on a stream transport")
    msg.body = body
    if not crlf:
        msg.start_raw = None
    return msg


def _check(msg: SipMessage) -> None:
    """The checks every transaction needs: the mandatory headers and their basic form."""
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        msg.header(name)
    _n, method = msg.cseq
    if isinstance(msg, Request) and method != msg.method:
        raise SipParseError("CSeq", f"method {method} does not match {msg.method}")
    if not _TOKEN.match(method):
        raise SipParseError("CSeq", repr(method))
    for v in msg.vias:
        via_sent_by(v)
    max_fwd = msg.get("Max-Forwards")
    if max_fwd is not None and (not max_fwd.isdigit() or int(max_fwd) > 255):
        raise SipParseError("Max-Forwards", repr(max_fwd))
    for name in ("From", "To"):
        parse_name_addr(msg.header(name), name)


def iter_stream(buf: bytearray) -> Iterator[bytes]:
    """Cut complete messages off the front of a TCP receive buffer (consumed bytes are removed)."""
    while True:
        while buf[:2] == b"\r\n":
            del buf[:2]
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_MESSAGE:
                raise SipParseError("message", "headers too large")
            return
        head = bytes(buf[:end]).decode("utf-8", "replace")
        m = re.search(r"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
        if m is None:
            raise SipParseError("Content-Length", "missing on a stream transport")
        total = end + 4 + int(m.group(1))
        if total > MAX_MESSAGE:
            raise SipParseError("message", "too large")
        if len(buf) < total:
            return
        msg = bytes(buf[:total])
        del buf[:total]
        yield msg
