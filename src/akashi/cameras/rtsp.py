"""Sans-I/O RTSP client messages for Akashi's own camera reader (RTSP 1.0 over TCP, RTP interleaved).

Builds requests, parses responses and interleaved RTP frames out of one byte buffer, answers Basic and
Digest challenges, and reads the media of a DESCRIBE's SDP. The socket lives in
:mod:`akashi.cameras.reader`; nothing here does I/O.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

USER_AGENT = "Akashi"


class RtspError(Exception):
    """The camera answered something this reader cannot go on from (the message is safe to show)."""


@dataclass(frozen=True)
class RtspUrl:
    """A camera URL split into where to connect and what to ask for (the request URL has no password)."""

    host: str
    port: int
    url: str
    user: str
    password: str = field(repr=False)


def parse_url(url: str) -> RtspUrl:
    """Split ``rtsp://user:pass@host:port/path`` (credentials percent-decoded)."""
    parts = urlsplit(url)
    if parts.scheme != "rtsp" or not parts.hostname:
        raise RtspError("rtsp:// の URL ではありません / not an rtsp:// URL")
    host = parts.hostname
    netloc = f"[{host}]" if ":" in host else host
    port = parts.port or 554
    if parts.port:
        netloc += f":{port}"
    clean = urlunsplit(("rtsp", netloc, parts.path or "/", parts.query, ""))
    return RtspUrl(host, port, clean, unquote(parts.username or ""), unquote(parts.password or ""))


def request(method: str, url: str, cseq: int, headers: dict[str, str] | None = None) -> bytes:
    """One RTSP request without a body."""
    lines = [f"{method} {url} RTSP/1.0", f"CSeq: {cseq}", f"User-Agent: {USER_AGENT}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass(frozen=True)
class Response:
    """A parsed RTSP response (header names lower-case)."""

    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


#: Longest response head accepted; a camera that sends more is not speaking RTSP.
MAX_HEAD = 16384
MAX_BODY = 65536


def take_response(buf: bytearray) -> Response | None:
    """Remove and return one whole response from the front of ``buf`` (``None``: not all here yet)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEAD:
            raise RtspError("RTSP の応答が長すぎます / RTSP response head too long")
        return None
    head = bytes(buf[:end]).decode("latin-1").split("\r\n")
    m = re.match(r"RTSP/1\.\d (\d{3}) ?(.*)", head[0])
    if m is None:
        raise RtspError("RTSP の応答ではありません / not an RTSP response")
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            key = name.strip().lower()
            headers[key] = (headers[key] + ", " + value.strip()) if key in headers else value.strip()
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise RtspError("Content-Length が不正です / bad Content-Length") from None
    if not 0 <= length <= MAX_BODY:
        raise RtspError("RTSP の本文が大きすぎます / RTSP body too large")
    if len(buf) < end + 4 + length:
        return None
    body = bytes(buf[end + 4 : end + 4 + length])
    del buf[: end + 4 + length]
    return Response(int(m.group(1)), m.group(2), headers, body)


def _challenges(value: str) -> list[tuple[str, dict[str, str]]]:
    """``WWW-Authenticate`` values (several may be joined by commas) as (scheme, params)."""
    out: list[tuple[str, dict[str, str]]] = []
    for m in re.finditer(r"(Basic|Digest)\s*((?:[\w-]+\s*=\s*(?:\"[^\"]*\"|[^,\s]*)\s*,?\s*)*)", value, re.I):
        params = {
            k.lower(): v.strip('"') for k, v in re.findall(r"([\w-]+)\s*=\s*(\"[^\"]*\"|[^,\s]*)", m.group(2))
        }
        out.append((m.group(1).lower(), params))
    return out


def authorization(challenge: str, method: str, uri: str, user: str, password: str, nc: int = 1) -> str | None:
    """The ``Authorization`` header answering ``challenge`` (Digest preferred), ``None`` if unsupported;
    ``nc`` counts the requests made with the same nonce."""
    found = dict(_challenges(challenge))
    digest = found.get("digest")
    if digest is not None and digest.get("algorithm", "MD5").upper() == "MD5":
        realm, nonce = digest.get("realm", ""), digest.get("nonce", "")

        def md5(s: str) -> str:
            return hashlib.md5(s.encode(), usedforsecurity=False).hexdigest()

        ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"{method}:{uri}")
        parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
        if "auth" in [q.strip() for q in digest.get("qop", "").split(",")]:
            cnonce = os.urandom(8).hex()
            resp = md5(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")
            parts += ["qop=auth", f"nc={nc:08x}", f'cnonce="{cnonce}"']
        else:
            resp = md5(f"{ha1}:{nonce}:{ha2}")
        parts.append(f'response="{resp}"')
        if "opaque" in digest:
            parts.append(f'opaque="{digest["opaque"]}"')
        return "Digest " + ", ".join(parts)
    if "basic" in found:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    return None


def take_frame(buf: bytearray, start: int) -> tuple[int, int, int] | None:
    """The interleaved frame at ``buf[start]`` as (channel, payload start, payload end), ``None`` if cut."""
    if len(buf) < start + 4:
        return None
    size = (buf[start + 2] << 8) | buf[start + 3]
    if len(buf) < start + 4 + size:
        return None
    return buf[start + 1], start + 4, start + 4 + size


@dataclass(frozen=True)
class Media:
    """One ``m=`` section of an SDP: what it carries and where to SETUP it."""

    kind: str  # "video", "audio", ...
    payload_type: int
    codec: str  # encoding name, upper-case ("H264", "H265", "PCMU", "MPEG4-GENERIC", ...)
    clock_rate: int
    channels: int
    fmtp: dict[str, str]
    control: str


def parse_sdp(sdp: str, base: str) -> list[Media]:
    """The media of a DESCRIBE answer; ``base`` is its Content-Base (or the request URL)."""
    out: list[Media] = []
    session_control = ""
    cur: dict[str, str] | None = None
    rtpmap: dict[str, str] = {}
    fmtp: dict[str, str] = {}

    def close() -> None:
        if cur is None:
            return
        pt = cur["pt"]
        enc = rtpmap.get(pt, "").split("/")
        static = {"0": ("PCMU", "8000"), "8": ("PCMA", "8000")}.get(pt, ("", "90000"))
        name = (enc[0] if enc[0] else static[0]).upper()
        rate = int(enc[1]) if len(enc) > 1 and enc[1].isdigit() else int(static[1])
        chans = int(enc[2]) if len(enc) > 2 and enc[2].isdigit() else 1
        params = {}
        for item in fmtp.get(pt, "").split(";"):
            k, _, v = item.strip().partition("=")
            if k:
                params[k.lower()] = v.strip()
        ctl = cur.get("control", "")
        root = session_control if session_control not in ("", "*") else base
        url = (
            ctl if "://" in ctl else (urljoin(root.rstrip("/") + "/", ctl) if ctl not in ("", "*") else root)
        )
        out.append(Media(cur["kind"], int(pt) if pt.isdigit() else -1, name, rate, chans, params, url))

    for raw in sdp.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            close()
            fields = line[2:].split()
            cur = {"kind": fields[0] if fields else "", "pt": fields[3] if len(fields) > 3 else ""}
            rtpmap, fmtp = {}, {}
        elif line.startswith("a=control:"):
            if cur is None:
                session_control = line[10:].strip()
            else:
                cur["control"] = line[10:].strip()
        elif cur is not None and line.startswith("a=rtpmap:"):
            pt, _, enc = line[9:].partition(" ")
            rtpmap[pt] = enc.strip()
        elif cur is not None and line.startswith("a=fmtp:"):
            pt, _, params = line[7:].partition(" ")
            fmtp[pt] = params.strip()
    close()
    return out


def session_id(resp: Response) -> tuple[str, float]:
    """The ``Session`` header's id and its timeout in seconds (60 when the camera gives none)."""
    value = resp.header("session")
    ident, _, rest = value.partition(";")
    m = re.search(r"timeout\s*=\s*(\d+)", rest)
    return ident.strip(), float(m.group(1)) if m else 60.0
