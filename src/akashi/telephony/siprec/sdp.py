"""The SDP of a recording session: one labelled ``m=`` line per recorded stream (RFC 7866 7.1.1), sans-I/O.

:func:`parse_offer` reads every ``m=`` section with the call SDP parser (the session lines plus that
section), keeping its ``a=label``; :func:`answer` writes Akashi's answer, one ``m=`` line per offered
one in order: ``recvonly`` (Akashi only listens) on a port of its own, or port 0 for a stream it
does not record (video, a third stream).
"""

from __future__ import annotations

from dataclasses import dataclass

from akashi.errors import ProtocolError
from akashi.telephony.sdp import AudioSession, Codec, parse_sdp
from akashi.telephony.siprec import SiprecError

#: the most ``m=`` lines read from one offer
MAX_STREAMS = 8


@dataclass(frozen=True)
class OfferedStream:
    """One ``m=`` section of the SRC's offer."""

    index: int
    media: str
    label: str
    #: the audio stream as the call SDP parser reads it (None for other media)
    audio: AudioSession | None
    #: the ``m=`` line's protocol and formats, echoed in a refusal (port 0)
    proto_fmt: str


def _sections(text: str) -> tuple[list[str], list[list[str]]]:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    head: list[str] = []
    media: list[list[str]] = []
    for ln in lines:
        if ln.startswith("m="):
            if len(media) >= MAX_STREAMS:
                raise SiprecError("SDP", f"more than {MAX_STREAMS} m= lines")
            media.append([ln])
        elif media:
            media[-1].append(ln)
        else:
            head.append(ln)
    return head, media


def parse_offer(body: bytes) -> list[OfferedStream]:
    """The streams of an SRC's SDP, in order."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SiprecError("SDP", "not UTF-8") from None
    head, media = _sections(text)
    if not media:
        raise SiprecError("SDP", "no m= line")
    out = []
    for i, sec in enumerate(media):
        parts = sec[0][2:].split(maxsplit=1)
        kind = parts[0] if parts else ""
        rest = parts[1].split(maxsplit=1) if len(parts) > 1 else []
        proto_fmt = rest[1] if len(rest) > 1 else "RTP/AVP 0"
        label = next((ln[len("a=label:") :].strip() for ln in sec if ln.startswith("a=label:")), "")
        label = "".join(ch for ch in label if ch.isprintable() and not ch.isspace())
        audio = None
        if kind == "audio":
            try:
                audio = parse_sdp(("\r\n".join(head + sec) + "\r\n").encode())
            except ProtocolError as exc:
                raise SiprecError("SDP", f"stream {i + 1}: {exc.en}") from None
        out.append(OfferedStream(i, kind, label[:64], audio, proto_fmt))
    return out


def answer_direction(offered: str) -> str:
    """Akashi never sends: it receives what the SRC sends, and nothing while the SRC pauses."""
    return "recvonly" if offered in ("sendonly", "sendrecv") else "inactive"


@dataclass(frozen=True)
class AnswerStream:
    """Akashi's side of one offered stream: its port (0: refused), codecs and direction."""

    port: int
    codecs: tuple[Codec, ...] = ()
    direction: str = "recvonly"


def answer(
    offer: list[OfferedStream], ours: list[AnswerStream], address: str, session: tuple[int, int]
) -> bytes:
    """Akashi's SDP answer: ``ours[i]`` answers ``offer[i]``, labels echoed."""
    net = "IP6" if ":" in address else "IP4"
    sid, version = session
    lines = [
        "v=0",
        f"o=akashi {sid} {version} IN {net} {address}",
        "s=Akashi",
        f"c=IN {net} {address}",
        "t=0 0",
    ]
    for off, ans in zip(offer, ours, strict=True):
        if not ans.port or off.audio is None:
            lines.append(f"m={off.media or 'audio'} 0 {off.proto_fmt}")
        else:
            lines.append(f"m=audio {ans.port} {off.audio.profile} " + " ".join(str(c.pt) for c in ans.codecs))
            for c in ans.codecs:
                lines.append(f"a=rtpmap:{c.pt} {c.name}/{c.rate}")
                if c.fmtp:
                    lines.append(f"a=fmtp:{c.pt} {c.fmtp}")
            lines.append(f"a={ans.direction}")
        if off.label:
            lines.append(f"a=label:{off.label}")
    return ("\r\n".join(lines) + "\r\n").encode()
