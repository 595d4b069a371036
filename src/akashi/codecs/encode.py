"""Announcement audio encoded as 20 ms RTP payloads in a negotiated codec.

G.711 uses the numpy tables of :mod:`akashi.codecs.g711`; G.722 and Opus use PyAV's encoders
(``g722``, ``libopus``). Encoding is done once per (announcement, codec) by the caller, off the
event loop; playing the payloads is then a header and a ``sendto`` per packet.

RTP clocks (RFC 3551, RFC 7587): G.711 8000 (160 per 20 ms), G.722 8000 although its audio is
16 kHz (160), Opus always 48000 (960), whatever the audio's bandwidth.
"""

from __future__ import annotations

import fractions
import functools
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from akashi.codecs import g711

Int16 = npt.NDArray[np.int16]

PTIME_MS = 20
#: what Opus is sent at when the offer says nothing (mono, voice)
OPUS_BITRATE = 32000


class CodecLike(Protocol):
    """A negotiated codec (``akashi.telephony.sdp.Codec``): name, payload type, RTP clock, fmtp."""

    @property
    def name(self) -> str: ...
    @property
    def pt(self) -> int: ...
    @property
    def rate(self) -> int: ...
    @property
    def fmtp(self) -> str: ...


@dataclass(frozen=True)
class Encoded:
    """Audio as RTP payloads of ``PTIME_MS`` each, and the RTP timestamp step per packet."""

    payloads: tuple[bytes, ...]
    step: int
    #: the length of the audio encoded (seconds)
    duration_s: float

    @property
    def ptime_s(self) -> float:
        """Seconds per packet."""
        return PTIME_MS / 1000


def _kind(codec: CodecLike) -> str:
    """``g711``, ``g722``, ``opus`` or ``""`` (not encodable) by name and RTP clock."""
    name = codec.name.upper()
    if name in ("PCMU", "PCMA") and codec.rate == 8000:
        return "g711"
    if name == "G722" and codec.rate == 8000:
        return "g722" if _has_encoder("g722") else ""
    if name == "OPUS" and codec.rate == 48000:
        return "opus" if _has_encoder("libopus") else ""
    return ""


@functools.cache
def _has_encoder(name: str) -> bool:
    try:
        import av  # noqa: PLC0415 - PyAV is the optional 'media' extra; a call-only install never loads it

        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


def can_encode(codec: CodecLike) -> bool:
    """Whether notices and ringback can be played in ``codec``."""
    return bool(_kind(codec))


def encodable_names() -> list[str]:
    """The codec names :func:`can_encode` accepts here (for messages)."""
    out = ["PCMU", "PCMA"]
    if _has_encoder("g722"):
        out.append("G722")
    if _has_encoder("libopus"):
        out.append("opus")
    return out


def codec_key(codec: CodecLike) -> str:
    """What the payloads depend on (not the payload type): a cache key."""
    fmtp = codec.fmtp if codec.name.upper() == "OPUS" else ""
    return f"{codec.name.upper()}/{codec.rate}/{fmtp}"


def pcm_rate(codec: CodecLike) -> int:
    """The sample rate the audio for ``codec`` should be read at: 8 kHz for G.711, else 16 kHz."""
    return 8000 if _kind(codec) == "g711" else 16000


def encode(pcm: Int16, codec: CodecLike, rate: int | None = None) -> Encoded:
    """``pcm`` (mono int16 at ``rate``, by default :func:`pcm_rate`) as 20 ms payloads in ``codec``.

    The last packet is padded with silence. Raises ``ValueError`` for a codec :func:`can_encode`
    refuses or audio at another rate.
    """
    kind = _kind(codec)
    want = pcm_rate(codec)
    if not kind:
        raise ValueError(f"cannot encode {codec.name}/{codec.rate}")
    if rate is not None and rate != want:
        raise ValueError(f"{codec.name} needs audio at {want} Hz, got {rate} Hz")
    pcm = np.ascontiguousarray(pcm, dtype=np.int16)
    duration = len(pcm) / want
    if kind == "g711":
        n = 8 * PTIME_MS
        data = g711.encode(pcm, codec.name)
        fill = bytes([g711.silence(codec.name)]) * ((-len(data)) % n)
        data += fill
        return Encoded(tuple(data[i : i + n] for i in range(0, len(data), n)), n, duration)
    if kind == "g722":
        return Encoded(_pyav("g722", pcm, want, {}), 8 * PTIME_MS, duration)
    bitrate, options = _opus_settings(codec.fmtp)
    return Encoded(_pyav("libopus", pcm, want, options, bitrate), 48 * PTIME_MS, duration)


def fmtp_params(fmtp: str) -> dict[str, str]:
    """``a=fmtp`` parameters (``key=value; key=value``), keys lower-cased."""
    out = {}
    for part in fmtp.split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            out[key.lower()] = value.strip()
    return out


def _opus_settings(fmtp: str) -> tuple[int, dict[str, str]]:
    """Bit rate and encoder options honouring the receiver's fmtp (RFC 7587 7.1).

    Always mono (``stereo=0`` is the default; mono is valid for a receiver that accepts stereo
    too), 20 ms frames, the offer's ``maxaveragebitrate`` as ceiling, ``cbr=1`` as constant rate,
    ``useinbandfec=1`` as in-band FEC.
    """
    p = fmtp_params(fmtp)
    bitrate = OPUS_BITRATE
    if p.get("maxaveragebitrate", "").isdigit():
        bitrate = max(6000, min(bitrate, int(p["maxaveragebitrate"])))
    options = {"application": "voip", "frame_duration": str(PTIME_MS)}
    if p.get("cbr") == "1":
        options["vbr"] = "off"
    if p.get("useinbandfec") == "1":
        options["fec"] = "1"
        options["packet_loss"] = "5"
    return bitrate, options


def _pyav(name: str, pcm: Int16, rate: int, options: dict[str, str], bitrate: int = 0) -> tuple[bytes, ...]:
    """Encode mono 16-bit ``pcm`` with PyAV's encoder ``name``; one payload per 20 ms frame."""
    import av  # noqa: PLC0415 - PyAV is the optional 'media' extra; a call-only install never loads it

    ctx = av.codec.CodecContext.create(name, "w")
    assert isinstance(ctx, av.AudioCodecContext)
    ctx.sample_rate = rate
    ctx.layout = "mono"
    ctx.format = "s16"
    ctx.time_base = fractions.Fraction(1, rate)
    if bitrate:
        ctx.bit_rate = bitrate
    ctx.options = options
    ctx.open()
    frame_n = rate * PTIME_MS // 1000
    if ctx.frame_size and ctx.frame_size != frame_n:
        raise ValueError(f"{name}: frame size {ctx.frame_size}, expected {frame_n}")
    pad = (-len(pcm)) % frame_n
    if pad or not len(pcm):
        pcm = np.concatenate([pcm, np.zeros(pad or frame_n, dtype=np.int16)])
    out: list[bytes] = []
    for i in range(0, len(pcm), frame_n):
        frame = av.AudioFrame.from_ndarray(pcm[None, i : i + frame_n], format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = i
        out.extend(bytes(p) for p in ctx.encode(frame))
    out.extend(bytes(p) for p in ctx.encode(None))
    return tuple(out)
