"""Compressed recordings kept as received (MP3, M4A/AAC from old recorders): recognised by their bytes,
probed and decoded with PyAV, sans-I/O (bytes in, objects or WAV bytes out).

The file as received is the evidence; a PCM16 WAV decoded from it is derived on demand (analysis,
browser playback). Stereo keeps its two channels (left customer, right operator, as for WAVs); audio
above 16 kHz is resampled to 16 kHz, which is all speech recognition uses.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Any

import numpy as np

from akashi.codecs.pyav import MAX_SECONDS, load_av
from akashi.errors import ProtocolError

#: media type -> file suffix, for what is kept as received
KINDS: dict[str, str] = {"audio/mpeg": "mp3", "audio/mp4": "m4a"}
#: decoded audio above this rate is resampled down to it
MAX_RATE = 16000


def sniff(head: bytes) -> str | None:
    """The media type of a compressed recording from its first bytes, or None (WAV, or unknown)."""
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    return None


@dataclass(frozen=True)
class Decoded:
    """A compressed recording decoded: int16 samples shaped (frames, channels)."""

    rate: int
    samples: np.ndarray[Any, np.dtype[np.int16]]
    codec: str

    @property
    def channels(self) -> int:
        """1 (mono) or 2 (stereo)."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.shape[0] / self.rate if self.rate else 0.0

    def wav(self) -> bytes:
        """A PCM16 WAV of the decoded audio."""
        out = io.BytesIO()
        with wave.open(out, "wb") as w:
            w.setnchannels(self.channels)
            w.setsampwidth(2)
            w.setframerate(self.rate)
            w.writeframes(self.samples.astype("<i2", copy=False).tobytes())
        return out.getvalue()


def _why(exc: Exception) -> str:
    """FFmpeg's reason without the errno and the '<none>' file name of an in-memory input."""
    return str(getattr(exc, "strerror", None) or exc)


def decode_audio_file(data: bytes) -> Decoded:
    """Decode an MP3 or M4A held in memory; :class:`ProtocolError` naming what is wrong otherwise."""
    if sniff(data[:16]) is None:
        raise ProtocolError(
            "MP3 でも M4A でもありません", "neither MP3 nor M4A (no ID3/frame sync or ftyp box)"
        )
    av = load_av()
    try:
        container = av.open(io.BytesIO(data), mode="r")
    except av.FFmpegError as exc:
        why = _why(exc)
        raise ProtocolError(
            f"音声ファイルを開けません: {why}", f"cannot open the audio file: {why}"
        ) from None
    with container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise ProtocolError("音声トラックがありません", "no audio track in the file")
        stream = streams[0]
        channels = 2 if (stream.codec_context.channels or 1) >= 2 else 1
        rate = min(int(stream.codec_context.sample_rate or MAX_RATE), MAX_RATE)
        layout = "stereo" if channels == 2 else "mono"
        resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
        parts: list[np.ndarray[Any, np.dtype[np.int16]]] = []
        frames = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1, channels)
                    parts.append(arr.astype(np.int16, copy=False))
                    frames += arr.shape[0]
                if frames > MAX_SECONDS * rate:
                    raise ProtocolError("録音が長すぎます（24 時間超）", "recording longer than 24 hours")
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1, channels).astype(np.int16, copy=False))
        except av.FFmpegError as exc:
            why = _why(exc)
            raise ProtocolError(f"音声を復号できません: {why}", f"cannot decode the audio: {why}") from None
        codec = str(stream.codec_context.name)
    samples = np.concatenate(parts) if parts else np.zeros((0, channels), dtype=np.int16)
    if samples.shape[0] == 0:
        raise ProtocolError(
            "音声が入っていません（復号できたフレームなし）", "no audio decoded from the file"
        )
    return Decoded(rate, samples, codec)


def to_wav(data: bytes) -> bytes:
    """A compressed recording as a PCM16 WAV (what analysis and playback use)."""
    return decode_audio_file(data).wav()
