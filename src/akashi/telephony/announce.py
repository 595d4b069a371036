"""Announcement audio: a WAV file read as mono samples at the rate a codec wants (8 or 16 kHz)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from akashi.errors import AkashiError


def read_wav_8k(path: Path) -> np.ndarray:
    """A 16-bit PCM WAV as 8 kHz mono samples (mixed down and resampled when needed)."""
    return read_wav(path, 8000)


def read_wav(path: Path, rate_out: int) -> np.ndarray:
    """A 16-bit PCM WAV as mono samples at ``rate_out`` (mixed down and resampled when needed)."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise AkashiError(
                    f"{path}: 16 ビット PCM の WAV が必要です", f"{path}: need a 16-bit PCM WAV"
                )
            rate, ch = w.getframerate(), w.getnchannels()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    except (OSError, wave.Error, EOFError) as exc:
        raise AkashiError(
            f"案内音声を読めません: {path}", f"cannot read announcement audio {path}: {exc}"
        ) from exc
    if ch > 1:
        pcm = pcm.reshape(-1, ch).mean(axis=1)
    if rate != rate_out and len(pcm):
        n = int(len(pcm) * rate_out / rate)
        pcm = np.interp(np.arange(n) * rate / rate_out, np.arange(len(pcm)), pcm)
    return np.clip(np.round(pcm), -32768, 32767).astype(np.int16)


def ringback(rate: int = 8000) -> np.ndarray:
    """One 3 s cycle of the Japanese ringback (呼出音): 400 Hz modulated at 16 Hz, 1 s on, 2 s off."""
    t = np.arange(int(3 * rate)) / rate
    on = t < 1.0
    tone = np.sin(2 * np.pi * 400 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 16 * t)) * on
    return (tone * 0.07 * 32767).astype(np.int16)
