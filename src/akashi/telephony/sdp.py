"""SDP (RFC 4566) for audio calls and offer/answer (RFC 3264), sans-I/O."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from akashi.errors import ProtocolError

STATIC_PT = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000), 18: ("G729", 8000), 3: ("GSM", 8000)}
_HOLD_ADDRS = ("0.0.0.0", "::")  # noqa: S104 - RFC 2543 hold address, not a bind
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


class SdpError(ProtocolError):
    """An SDP body could not be parsed; the field is named."""

    def __init__(self, field_name: str, detail: str) -> None:
        self.field = field_name
        super().__init__(f"SDP の {field_name} が不正です: {detail}", f"invalid SDP {field_name}: {detail}")


@dataclass
class Codec:
    """A payload type of the audio stream."""

    pt: int
    name: str
    rate: int = 8000
    fmtp: str = ""
    #: audio channels, the rtpmap's encoding parameters (Opus is always written "opus/48000/2")
    channels: int = 1

    @property
    def is_dtmf(self) -> bool:
        """RFC 4733 telephone-event."""
        return self.name.lower() == "telephone-event"


#: the SRTP crypto suite Akashi offers and accepts (RFC 4568 6.2.1): AES-128 counter mode, 80-bit HMAC-SHA1
SRTP_SUITE = "AES_CM_128_HMAC_SHA1_80"
#: master key (16 bytes) and master salt (14 bytes) of that suite, as carried in ``inline:``
SRTP_KEY_LEN = 30


@dataclass
class Crypto:
    """One ``a=crypto`` attribute (SDES, RFC 4568): tag, suite and the inline master key and salt."""

    tag: int
    suite: str
    key: bytes

    def __repr__(self) -> str:  # never a key in a log or traceback
        return f"Crypto(tag={self.tag}, suite={self.suite!r}, key=<{len(self.key)} bytes>)"

    def line(self) -> str:
        """The attribute's value (after ``a=crypto:``)."""
        return f"{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"


def parse_crypto(value: str) -> Crypto | None:
    """An ``a=crypto`` value; None for a suite or key form Akashi does not use (MKI, other suites)."""
    parts = value.split()
    if len(parts) < 3 or not parts[0].isdigit() or len(parts[0]) > 9:
        raise SdpError("crypto", "want: tag suite key-params")
    tag, suite = int(parts[0]), parts[1]
    if suite != SRTP_SUITE:
        return None
    first = parts[2].split(";")[0]
    if not first.startswith("inline:"):
        raise SdpError("crypto", "key method must be inline")
    material, *rest = first[len("inline:") :].split("|")
    if len(rest) > 1 or any(":" in r for r in rest):
        return None  # an MKI: not used by Akashi
    try:
        key = base64.b64decode(material, validate=True)
    except (binascii.Error, ValueError):
        raise SdpError("crypto", "key is not base64") from None
    if len(key) != SRTP_KEY_LEN:
        raise SdpError("crypto", f"key is {len(key)} bytes, need {SRTP_KEY_LEN}")
    return Crypto(tag, suite, key)


@dataclass
class AudioSession:
    """The audio part of an SDP: where to send, which codecs, direction."""

    address: str
    port: int
    codecs: list[Codec] = field(default_factory=list)
    direction: str = "sendrecv"
    ptime: int = 20
    origin_user: str = "-"
    session_id: int = 0
    version: int = 0
    #: the m= line's transport: RTP/AVP, or RTP/SAVP (SRTP, with ``crypto``)
    profile: str = "RTP/AVP"
    #: usable ``a=crypto`` attributes (SRTP_SUITE only), in the order given
    crypto: list[Crypto] = field(default_factory=list)

    @property
    def srtp(self) -> bool:
        """Whether the stream is SRTP (RTP/SAVP)."""
        return self.profile == "RTP/SAVP"

    def codec(self, pt: int) -> Codec | None:
        """The codec of a payload type."""
        for c in self.codecs:
            if c.pt == pt:
                return c
        return None

    def to_bytes(self) -> bytes:
        """Serialise as an SDP body."""
        ip6 = ":" in self.address
        net = "IP6" if ip6 else "IP4"
        lines = [
            "v=0",
            f"o={self.origin_user} {self.session_id} {self.version} IN {net} {self.address}",
            "s=Akashi",
            f"c=IN {net} {self.address}",
            "t=0 0",
            f"m=audio {self.port} {self.profile} " + " ".join(str(c.pt) for c in self.codecs),
        ]
        lines += [f"a=crypto:{c.line()}" for c in self.crypto]
        for c in self.codecs:
            chans = f"/{c.channels}" if c.channels != 1 else ""
            lines.append(f"a=rtpmap:{c.pt} {c.name}/{c.rate}{chans}")
            if c.fmtp:
                lines.append(f"a=fmtp:{c.pt} {c.fmtp}")
        lines.append(f"a=ptime:{self.ptime}")
        lines.append(f"a={self.direction}")
        return ("\r\n".join(lines) + "\r\n").encode()


def parse_sdp(body: bytes) -> AudioSession:  # noqa: PLR0912, PLR0915 - single-pass parser: one branch per SDP line type, each rejecting bad input
    """Parse the first audio stream of an SDP body."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SdpError("body", "not UTF-8") from exc
    sess_addr = ""
    media_addr = ""
    port = -1
    pts: list[int] = []
    rtpmap: dict[int, tuple[str, int, int]] = {}
    fmtp: dict[int, str] = {}
    direction = "sendrecv"
    ptime = 20
    origin = ("-", 0, 0)
    profile = "RTP/AVP"
    crypto: list[Crypto] = []
    in_audio = False
    seen_media = False
    for raw in text.splitlines():
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            if line:
                raise SdpError("line", repr(line[:40]))
            continue
        k, v = line[0], line[2:]
        if k == "m":
            parts = v.split()
            if in_audio:
                in_audio = False
                break
            if len(parts) < 4:
                raise SdpError("m", repr(v))
            seen_media = True
            if parts[0] == "audio" and port < 0:
                in_audio = True
                if not parts[1].isdigit() or int(parts[1]) > 65535:
                    raise SdpError("m", f"port {parts[1]!r}")
                port = int(parts[1])
                profile = parts[2]
                for p in parts[3:]:
                    if not p.isdigit() or int(p) > 127:
                        raise SdpError("m", f"payload type {p!r}")
                    pts.append(int(p))
            continue
        if seen_media and not in_audio:
            continue
        if k == "o":
            parts = v.split()
            if len(parts) != 6 or not parts[1].isdigit() or not parts[2].isdigit():
                raise SdpError("o", repr(v))
            origin = (parts[0], int(parts[1]), int(parts[2]))
        elif k == "c":
            parts = v.split()
            if len(parts) != 3:
                raise SdpError("c", repr(v))
            addr = _address(parts[1], parts[2])
            if in_audio:
                media_addr = addr
            else:
                sess_addr = addr
        elif k == "a":
            name, _, val = v.partition(":")
            if name == "rtpmap":
                pt_s, _, enc = val.partition(" ")
                enc_parts = enc.split("/")
                if (
                    not pt_s.isdigit()
                    or not 2 <= len(enc_parts) <= 3
                    or not all(p.isdigit() for p in enc_parts[1:])
                ):
                    raise SdpError("rtpmap", repr(val))
                chans = int(enc_parts[2]) if len(enc_parts) == 3 else 1
                rtpmap[int(pt_s)] = (enc_parts[0], int(enc_parts[1]), chans)
            elif name == "fmtp":
                pt_s, _, f = val.partition(" ")
                if pt_s.isdigit():
                    fmtp[int(pt_s)] = f
            elif name == "crypto" and in_audio:
                c = parse_crypto(val)
                if c is not None:
                    crypto.append(c)
            elif name == "ptime" and val.strip().isdigit():
                ptime = max(10, min(int(val.strip()), 200))
            elif name in DIRECTIONS:
                direction = name
    if port < 0:
        raise SdpError("m", "no audio stream")
    addr = media_addr or sess_addr
    if not addr:
        raise SdpError("c", "no connection address")
    codecs = []
    for pt in pts:
        chans = 1
        if pt in rtpmap:
            name, rate, chans = rtpmap[pt]
        elif pt in STATIC_PT:
            name, rate = STATIC_PT[pt]
        else:
            continue
        codecs.append(Codec(pt, name, rate, fmtp.get(pt, ""), chans))
    if addr in _HOLD_ADDRS and direction == "sendrecv":
        direction = "sendonly"  # RFC 2543 hold
    return AudioSession(
        addr, port, codecs, direction, ptime, origin[0], origin[1], origin[2], profile, crypto
    )


def _address(net: str, value: str) -> str:
    """The unicast IP of a ``c=`` line; hostnames, multicast and a mismatched IP4/IP6 are refused."""
    addr = value.split("/", maxsplit=1)[0]
    if net not in ("IP4", "IP6"):
        raise SdpError("c", f"address type {net!r}")
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise SdpError("c", f"not an IP address: {addr[:64]!r}") from None
    if (ip.version == 6) != (net == "IP6"):
        raise SdpError("c", f"{addr!r} is not an {net} address")
    if ip.is_multicast:
        raise SdpError("c", f"multicast address {addr!r}")
    return addr


def sdp_warning(detail: str) -> str:
    """The Warning of a 488 for an SDP that cannot be used (the parser's reason, quotes removed)."""
    clean = "".join(ch for ch in detail if ch.isprintable() and ch not in '"\\')[:120]
    return f'399 akashi "SDP を使えません (unusable SDP: {clean})"'


def choose_codecs(
    offer: AudioSession,
    supported: tuple[str, ...] = ("PCMU", "PCMA"),
    *,
    relay_any: bool = False,
    usable: Callable[[Codec], bool] | None = None,
) -> list[Codec]:
    """Answer codecs: the first offered G.711 codec, plus telephone-event when offered.

    With ``relay_any``, when no G.711 codec was offered the first other audio codec is taken as
    offered (payload type, rate, fmtp): Akashi relays it without decoding; with ``usable`` too,
    the first one ``usable`` accepts (a codec Akashi can play a notice in). Returns an empty list
    when nothing usable was offered (the caller answers 488).
    """
    audio = next((c for c in offer.codecs if c.name.upper() in supported and c.rate == 8000), None)
    if audio is not None:
        out = [Codec(audio.pt, audio.name.upper(), 8000)]
    else:
        others = (c for c in offer.codecs if not c.is_dtmf and (usable is None or usable(c)))
        other = next(others, None) if relay_any else None
        if other is None:
            return []
        out = [Codec(other.pt, other.name, other.rate, other.fmtp, other.channels)]
    dtmf = next((c for c in offer.codecs if c.is_dtmf and c.rate == out[0].rate), None)
    if dtmf is not None:
        out.append(Codec(dtmf.pt, "telephone-event", dtmf.rate, dtmf.fmtp or "0-16"))
    return out


def is_g711(codec: Codec) -> bool:
    """PCMU or PCMA at 8 kHz: Akashi can play notices in it and decode it for the WAV."""
    return codec.name.upper() in ("PCMU", "PCMA") and codec.rate == 8000


def late_offer() -> AudioSession:
    """What Akashi assumes of a caller whose INVITE had no SDP (RFC 3261 13.2.1 late offer).

    Akashi then makes the offer itself, in its 200 OK, and takes the caller's answer from the ACK.
    """
    return AudioSession(
        "", 0, [Codec(0, "PCMU"), Codec(8, "PCMA"), Codec(101, "telephone-event", 8000, "0-16")]
    )


def answer_direction(offered: str) -> str:
    """The direction an answerer that can send and receive gives (RFC 3264 6.1)."""
    return {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}.get(offered, "sendrecv")
