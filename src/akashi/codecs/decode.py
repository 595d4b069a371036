"""An ``akrtp1`` container decoded to a playable stereo PCM16 WAV, sans-I/O (bytes in, bytes out).

Left is leg 0 (what the customer sent), right is leg 1 (what the customer heard). Packets are
placed by :func:`akashi.codecs.timeline.segments` (the rules of the G.711 recorder), so loss and
jitter become silence, never a shift; each segment gets a fresh decoder. Decoding uses PyAV
(``av``, in the ``media`` and ``analysis`` extras). Wideband codecs come out at 16 kHz (Opus
resampled from 48 kHz with ``av.AudioResampler``), narrowband ones at 8 kHz. A payload the
decoder rejects becomes silence.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from akashi.codecs.audiofile import sniff, to_wav
from akashi.codecs.container import MAGIC, read_container
from akashi.codecs.pyav import MAX_SECONDS, load_av
from akashi.codecs.timeline import Segment, segments
from akashi.errors import AkashiError, ProtocolError

if TYPE_CHECKING:
    import av

Int16 = npt.NDArray[np.int16]

#: SDP encoding name (lower case) -> FFmpeg decoders to try, in order
DECODERS: dict[str, tuple[str, ...]] = {
    "pcmu": ("pcm_mulaw",),
    "pcma": ("pcm_alaw",),
    "g722": ("g722",),
    "opus": ("libopus", "opus"),
    "l16": ("pcm_s16be",),
    "l8": ("pcm_u8",),
    "g729": ("g729",),
    "gsm": ("gsm",),
    "ilbc": ("ilbc",),
    "speex": ("libspeex",),
    "g726-32": ("adpcm_g726le",),
}
#: RTP clocks that differ from the audio rate (RFC 3551 4.5.2: G.722 counts 8000 for 16 kHz audio)
AUDIO_RATE = {"g722": 16000, "opus": 48000}


def decoder_name(codec: str) -> str | None:
    """The FFmpeg decoder PyAV has for SDP codec ``codec``, or None."""
    try:
        av = load_av()
    except AkashiError:
        return None
    key = codec.lower()
    for name in (*DECODERS.get(key, ()), key):
        try:
            av.Codec(name, "r")
        except Exception:  # noqa: S112  (not this FFmpeg build: try the next name)
            continue
        return name
    return None


def decodable(codec: str) -> bool:
    """Whether calls in ``codec`` can be turned into audio here (for playback and transcription)."""
    return decoder_name(codec) is not None


@dataclass(frozen=True)
class Stereo:
    """Decoded call: ``left`` (customer sent) and ``right`` (customer heard), int16 at ``rate``."""

    rate: int
    left: Int16
    right: Int16

    def wav(self) -> bytes:
        """A stereo PCM16 RIFF/WAVE file."""
        n = max(len(self.left), len(self.right))
        frames = np.zeros((n, 2), dtype="<i2")
        frames[: len(self.left), 0] = self.left
        frames[: len(self.right), 1] = self.right
        data = frames.tobytes()
        fmt = struct.pack("<HHIIHH", 1, 2, self.rate, self.rate * 4, 4, 16)
        body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data))
        return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data


def _mono_s16(frame: av.AudioFrame) -> Int16:
    """One decoded frame as mono int16 (channels averaged)."""
    a = frame.to_ndarray()
    channels = max(1, len(frame.layout.channels))
    if not frame.format.is_planar:
        a = a.reshape(-1, channels).T
    if a.dtype.kind == "f":
        x = a.astype(np.float64) * 32768.0
    elif a.dtype == np.int32:
        x = a.astype(np.float64) / 65536.0
    elif a.dtype == np.uint8:
        x = (a.astype(np.float64) - 128.0) * 256.0
    else:
        x = a.astype(np.float64)
    out: Int16 = np.clip(np.round(x.mean(axis=0)), -32768, 32767).astype(np.int16)
    return out


class _SegmentDecoder:
    """Decodes the packets of one segment into contiguous audio at the output rate."""

    def __init__(self, name: str, clock: int, audio_rate: int, out_rate: int, channels: int) -> None:
        av = load_av()
        self.av = av
        self.ctx = av.CodecContext.create(name, "r")
        self.ctx.sample_rate = audio_rate
        self.ctx.layout = "stereo" if channels == 2 and name.startswith("pcm") else "mono"
        self.clock = clock
        self.audio_rate = audio_rate
        self.out_rate = out_rate
        self.resampler = (
            av.AudioResampler(format="s16", layout="mono", rate=out_rate) if out_rate != audio_rate else None
        )
        self.pieces: list[Int16] = []

    def _emit(self, samples: Int16) -> None:
        if self.resampler is None:
            self.pieces.append(samples)
            return
        if len(samples):
            frame = self.av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = self.audio_rate
            self._collect(self.resampler.resample(frame))

    def _collect(self, frames: list[av.AudioFrame]) -> None:
        for f in frames:
            self.pieces.append(f.to_ndarray().reshape(-1).astype(np.int16))

    def _decode(self, payload: bytes) -> Int16:
        if not payload:
            return np.zeros(0, dtype=np.int16)  # an empty packet would tell the decoder to drain
        try:
            frames = self.ctx.decode(self.av.Packet(payload))
            got = [_mono_s16(f) for f in frames]
        except (self.av.FFmpegError, ValueError):
            return np.zeros(0, dtype=np.int16)  # a corrupt payload: the gap before the next is silence
        return np.concatenate(got) if got else np.zeros(0, dtype=np.int16)

    def run(self, seg: Segment) -> tuple[int, Int16]:
        """(position of the audio at the output rate relative to the segment's timestamp 0, audio)."""
        packets = sorted(seg.packets, key=lambda p: p[0])
        first = round(packets[0][0] * self.audio_rate / self.clock)
        cursor = first
        prev: int | None = None
        for ext, payload in packets:
            if ext == prev:
                continue  # a duplicate: the decoder must not see it twice
            prev = ext
            pos = round(ext * self.audio_rate / self.clock)
            samples = self._decode(payload)
            if pos - cursor > MAX_SECONDS * self.audio_rate:
                raise _too_long()
            if pos > cursor:
                self._emit(np.zeros(pos - cursor, dtype=np.int16))  # loss: silence in its place
                cursor = pos
            if pos < cursor:  # a duplicate or an overlap: keep what is already there
                samples = samples[cursor - pos :]
            self._emit(samples)
            cursor += len(samples)
        if self.resampler is not None:
            self._collect(self.resampler.resample(None))
        audio = np.concatenate(self.pieces) if self.pieces else np.zeros(0, dtype=np.int16)
        return round(first * self.out_rate / self.audio_rate), audio


def _too_long() -> ProtocolError:
    return ProtocolError(
        f"RTP 保存形式の時刻が不正です ({MAX_SECONDS // 3600} 時間を超えます)",
        f"RTP container times span more than {MAX_SECONDS // 3600} hours",
    )


def _place(parts: list[tuple[int, Int16]], rate: int) -> Int16:
    """Lay audio parts at their positions (later parts win where they overlap; before 0 is cut)."""
    end = max((pos + len(a) for pos, a in parts), default=0)
    if end > MAX_SECONDS * rate:
        raise _too_long()
    out = np.zeros(max(0, end), dtype=np.int16)
    for pos, a in parts:
        skip = max(0, -pos)
        if skip < len(a):
            out[pos + skip : pos + len(a)] = a[skip:]
    return out


def decode_container(data: bytes) -> Stereo:
    """Decode an ``akrtp1`` container (see the module docstring). :class:`ProtocolError` if broken."""
    header, records = read_container(data)
    name = header["name"]
    dec = decoder_name(name)
    if dec is None:
        load_av()  # a missing PyAV is the clearer message
        raise ProtocolError(
            f"コーデック {name} は復号できません", f"codec {name} cannot be decoded (no FFmpeg decoder)"
        )
    key = name.lower()
    try:
        clock = int(header.get("rate") or 8000)
        t0 = float(header.get("t0") or (records[0][1] if records else 0.0))
        channels = int(header.get("channels") or 1)
    except (TypeError, ValueError) as exc:
        raise ProtocolError("RTP 保存形式の見出しが不正です", "RTP container header has bad rate/t0") from exc
    if clock <= 0:
        raise ProtocolError("RTP 保存形式のクロックが不正です", f"RTP container clock rate {clock}")
    audio_rate = AUDIO_RATE.get(key, clock)
    out_rate = 8000 if audio_rate <= 8000 else 16000
    legs: list[Int16] = []
    for leg in (0, 1):
        recs = [(t, pkt) for lg, t, _ts, pkt in records if lg == leg]
        parts = []
        for seg in segments(recs, header["payload_type"], clock):
            start, audio = _SegmentDecoder(dec, clock, audio_rate, out_rate, channels).run(seg)
            parts.append((round((seg.offset - t0) * out_rate) + start, audio))
        legs.append(_place(parts, out_rate))
    return Stereo(out_rate, legs[0], legs[1])


def is_container(data: bytes) -> bool:
    """Whether ``data`` is an ``akrtp1`` container (else: a WAV as recorded)."""
    return data.startswith(MAGIC)


def playable_wav(data: bytes) -> bytes:
    """A stored call's media as a WAV: a container decoded, an MP3/M4A kept as received decoded
    (codecs/audiofile.py), a WAV as it is."""
    if is_container(data):
        return decode_container(data).wav()

    return to_wav(data) if sniff(data[:16]) is not None else data
