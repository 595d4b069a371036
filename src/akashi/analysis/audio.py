"""WAV decoding, G.711 tables, resampling and loudness, sans-I/O: bytes in, arrays out.

The WAV header is read by :func:`akashi.wavinfo.parse_wav_header`, the one WAV parser; this module
turns the samples it locates into arrays. Call recordings are stereo WAVs (customer left, operator
right) in PCM16 or G.711 (WAV format 7 μ-law, 6 A-law), or mono. ``audioop`` is gone from Python 3.13, so G.711 is done with numpy tables.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from akashi.codecs import g711
from akashi.errors import ProtocolError
from akashi.wavinfo import parse_wav_header

Float32 = npt.NDArray[np.float32]

WAVE_PCM = 1
WAVE_ALAW = 6
WAVE_MULAW = 7


MULAW_TABLE = g711.ULAW_FLOAT
ALAW_TABLE = g711.ALAW_FLOAT


@dataclass(frozen=True)
class WavAudio:
    """Decoded audio: ``samples`` has shape (frames, channels), float32 in [-1, 1]."""

    rate: int
    samples: Float32
    codec: str

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.shape[0] / self.rate if self.rate else 0.0

    def channel(self, index: int) -> Float32:
        """One channel as a contiguous 1-D array."""
        return np.ascontiguousarray(self.samples[:, index])


def parse_wav(data: bytes) -> WavAudio:
    """Decode a RIFF/WAVE file held in memory (PCM16, μ-law, A-law; mono or stereo)."""
    info = parse_wav_header(data, len(data))
    payload = data[info.data_offset : info.data_offset + info.data_size]
    tag, channels, rate, bits = info.format_code, info.channels, info.sample_rate, info.bits
    if tag == WAVE_PCM and bits == 16:
        raw = np.frombuffer(payload[: len(payload) - len(payload) % (2 * channels)], dtype="<i2")
        samples = (raw.astype(np.float32) / 32768.0).reshape(-1, channels)
        codec = "pcm16"
    elif tag in (WAVE_MULAW, WAVE_ALAW) and bits == 8:
        raw8 = np.frombuffer(payload[: len(payload) - len(payload) % channels], dtype=np.uint8)
        table = MULAW_TABLE if tag == WAVE_MULAW else ALAW_TABLE
        samples = table[raw8].reshape(-1, channels)
        codec = "pcmu" if tag == WAVE_MULAW else "pcma"
    else:
        raise ProtocolError(
            f"対応していない WAV 形式です (format {tag}, {bits} bit)",
            f"unsupported WAV format: format tag {tag}, {bits} bits (PCM16, μ-law, A-law only)",
        )
    return WavAudio(rate=rate, samples=np.ascontiguousarray(samples, dtype=np.float32), codec=codec)


def encode_mulaw(x: Float32) -> npt.NDArray[np.uint8]:
    """Encode float samples in [-1, 1] as G.711 μ-law bytes (for announcements and test calls)."""
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
    return np.frombuffer(g711.encode(pcm, "PCMU"), dtype=np.uint8)


def write_wav(samples: Float32, rate: int, codec: str = "pcm16") -> bytes:
    """A WAV file (``samples`` shaped (frames, channels) or 1-D) as bytes; codec pcm16 or pcmu."""
    arr = samples.reshape(-1, 1) if samples.ndim == 1 else samples
    channels = int(arr.shape[1])
    if codec == "pcmu":
        body = encode_mulaw(arr.reshape(-1)).tobytes()
        tag, bits = WAVE_MULAW, 8
    elif codec == "pcm16":
        body = np.clip(np.round(arr.reshape(-1) * 32768.0), -32768, 32767).astype("<i2").tobytes()
        tag, bits = WAVE_PCM, 16
    else:
        raise ValueError(f"codec must be pcm16 or pcmu, not {codec!r}")
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    if tag != WAVE_PCM:
        fmt += struct.pack("<H", 0)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body)) + body
    if len(body) & 1:
        chunks += b"\0"
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def _lowpass(cutoff: float, taps: int) -> Float32:
    """Windowed-sinc low-pass; ``cutoff`` as a fraction of the sample rate (0..0.5)."""
    n = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * n) * np.hamming(taps)
    out: Float32 = (h / h.sum()).astype(np.float32)
    return out


def resample(x: Float32, rate_in: int, rate_out: int) -> Float32:
    """Resample by an integer ratio (8 k→16 k, 48 k→8 k...) with a windowed-sinc filter."""
    if rate_in == rate_out:
        return x.astype(np.float32, copy=False)
    if rate_out % rate_in == 0:
        up = rate_out // rate_in
        stuffed = np.zeros(len(x) * up, dtype=np.float32)
        stuffed[::up] = x
        up_out: Float32 = (np.convolve(stuffed, _lowpass(0.5 / up, 16 * up + 1), mode="same") * up).astype(
            np.float32
        )
        return up_out
    if rate_in % rate_out == 0:
        down = rate_in // rate_out
        filtered = np.convolve(x, _lowpass(0.45 / down, 16 * down + 1), mode="same")
        down_out: Float32 = filtered[::down].astype(np.float32)
        return down_out
    idx = np.arange(0, len(x), rate_in / rate_out)
    interp: Float32 = np.interp(idx, np.arange(len(x)), x).astype(np.float32)
    return interp


def frame_dbfs(x: Float32, rate: int, frame_s: float = 0.1) -> Float32:
    """RMS level of consecutive frames in dBFS (a full-scale sine is about -3 dBFS)."""
    n = max(1, int(rate * frame_s))
    usable = len(x) - len(x) % n
    if usable == 0:
        return np.zeros(0, dtype=np.float32)
    frames = x[:usable].reshape(-1, n).astype(np.float64)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    levels: Float32 = (20 * np.log10(np.maximum(rms, 1e-9))).astype(np.float32)
    return levels


def denoise(x: Float32, frame: int = 512, floor: float = 0.1, over: float = 2.0) -> Float32:
    """``x`` with stationary line noise (hiss) taken out by spectral subtraction.

    The noise's spectrum comes from the 10th percentile of each frequency bin over the recording (each
    channel of a call is silent most of the time, so that is the line without speech); each bin keeps
    ``max(1 - over * noise² / power, floor²)`` of its power. Speech well above the hiss is untouched.
    """
    hop = frame // 2
    if len(x) < frame * 4:
        return x
    window = np.hanning(frame + 1)[:-1].astype(np.float32)  # periodic: overlapping halves sum to 1
    pad = (-len(x)) % hop
    padded = np.concatenate([np.zeros(hop, np.float32), x, np.zeros(pad + hop, np.float32)])
    n = (len(padded) - frame) // hop + 1
    idx = np.arange(frame)[None, :] + hop * np.arange(n)[:, None]
    spec = np.fft.rfft(padded[idx] * window, axis=1)
    power = np.abs(spec) ** 2
    # A bin of noise alone has exponentially distributed power: its 10th percentile is 0.105 of the mean.
    noise = np.percentile(power, 10, axis=0) / 0.1054
    gain = np.sqrt(np.maximum(1.0 - over * noise / np.maximum(power, 1e-12), floor**2))
    frames = np.fft.irfft(spec * gain, n=frame, axis=1).astype(np.float32)
    out = np.zeros(len(padded), np.float32)
    np.add.at(out, idx, frames)
    return out[hop : hop + len(x)]
