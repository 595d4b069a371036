"""Small signal processing for notice audio: trim, FIR filters, polyphase resampling, WAV output.

Pure numpy on purpose: a user machine needs neither sox nor scipy to turn text into telephone audio.
Filters are linear-phase windowed-sinc FIRs (Kaiser window); their delay is removed so that the
output lines up with the input.
"""

from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

Signal = npt.NDArray[np.float64]

# Kaiser beta 8.0 gives about 80 dB of stop-band attenuation, plenty for 16-bit output.
_KAISER_BETA = 8.0


def kaiser_lowpass(cutoff_hz: float, rate: int, transition_hz: float) -> Signal:
    """Taps of a linear-phase low-pass FIR (odd length, unity gain at DC)."""
    if not 0 < cutoff_hz < rate / 2:
        raise ValueError(f"cutoff_hz must lie in (0, {rate / 2}), got {cutoff_hz}")
    # Kaiser's estimate of the length for ~80 dB attenuation.
    n = math.ceil((80 - 7.95) / (14.36 * transition_hz / rate)) | 1
    t = np.arange(n, dtype=np.float64) - (n - 1) / 2
    h = 2 * cutoff_hz / rate * np.sinc(2 * cutoff_hz / rate * t) * np.kaiser(n, _KAISER_BETA)
    out: Signal = h / h.sum()
    return out


def kaiser_highpass(cutoff_hz: float, rate: int, transition_hz: float) -> Signal:
    """Taps of a linear-phase high-pass FIR made by spectral inversion of a low-pass."""
    h = -kaiser_lowpass(cutoff_hz, rate, transition_hz)
    h[len(h) // 2] += 1.0
    return h


def fir_filter(x: Signal, taps: Signal) -> Signal:
    """Filter ``x`` with an odd-length linear-phase FIR, compensating its delay (same length out)."""
    full = np.convolve(x, taps)
    d = len(taps) // 2
    out: Signal = full[d : d + len(x)]
    return out


def resample(x: Signal, rate_in: int, rate_out: int, cutoff_hz: float | None = None) -> Signal:
    """Resample by the rational factor ``rate_out / rate_in`` with a polyphase windowed-sinc filter.

    ``cutoff_hz`` (default: 0.45 of the lower rate) is also where the signal is band-limited, so a
    telephone band edge of 3,400 Hz costs nothing extra.
    """
    if rate_in <= 0 or rate_out <= 0:
        raise ValueError(f"rates must be positive, got {rate_in} -> {rate_out}")
    g = math.gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    low = min(rate_in, rate_out)
    cut = cutoff_hz if cutoff_hz is not None else 0.45 * low
    if not 0 < cut < low / 2:
        raise ValueError(f"cutoff_hz must lie in (0, {low / 2}), got {cut}")
    if up == down == 1 and cutoff_hz is None:
        return x.copy()
    hi_rate = rate_in * up
    transition = max(min(low / 2 - cut, 0.1 * low), 50.0)
    h = kaiser_lowpass(cut, hi_rate, transition) * up
    delay = (len(h) - 1) // 2  # group delay, in samples of the upsampled signal
    # Pad to a multiple of ``up`` so that every phase has the same number of taps.
    taps_per_phase = -(-len(h) // up)
    h = np.concatenate([h, np.zeros(taps_per_phase * up - len(h))])
    n_out = (len(x) * up) // down
    # Output n sits at upsampled position t = n*down + delay (delay compensation); it gets
    # sum_j h[p + j*up] * x[i - j] with p = t % up, i = t // up.
    pad = taps_per_phase
    xp = np.concatenate([np.zeros(pad), x, np.zeros(pad)])
    t = np.arange(n_out, dtype=np.int64) * down + delay
    phase, idx = t % up, t // up + pad
    out = np.empty(n_out, dtype=np.float64)
    j = np.arange(taps_per_phase, dtype=np.int64)
    block = 4096
    for start in range(0, n_out, block):
        sl = slice(start, min(start + block, n_out))
        rows = idx[sl, None] - j[None, :]
        rows = np.clip(rows, 0, len(xp) - 1)
        coeffs = h[phase[sl, None] + j[None, :] * up]
        out[sl] = np.einsum("ij,ij->i", xp[rows], coeffs)
    return out


def trim_silence(x: Signal, rate: int, threshold_db: float = -40.0, pad_s: float = 0.05) -> Signal:
    """Cut leading and trailing silence (frames quieter than ``threshold_db`` below the peak frame).

    ``pad_s`` of the original signal is kept at each end so that soft onsets are not clipped.
    """
    frame = max(1, int(rate * 0.01))
    n = len(x) // frame
    if n == 0:
        return x.copy()
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    peak = float(rms.max())
    if peak <= 0.0:
        return x[:0].copy()
    loud = np.nonzero(rms >= peak * 10 ** (threshold_db / 20))[0]
    pad = int(pad_s * rate)
    start = max(0, int(loud[0]) * frame - pad)
    end = min(len(x), (int(loud[-1]) + 1) * frame + pad)
    out: Signal = x[start:end].copy()
    return out


def fade(x: Signal, rate: int, seconds: float = 0.01) -> Signal:
    """Raised-cosine fade in and out, so that the cut ends do not click."""
    n = min(int(rate * seconds), len(x) // 2)
    if n <= 0:
        return x.copy()
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, math.pi, n))
    y = x.copy()
    y[:n] *= ramp
    y[len(y) - n :] *= ramp[::-1]
    return y


def normalise(x: Signal, peak_dbfs: float = -3.0) -> Signal:
    """Scale so that the largest sample sits at ``peak_dbfs`` (relative to full scale 1.0)."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak == 0.0:
        return x.copy()
    out: Signal = x * (10 ** (peak_dbfs / 20) / peak)
    return out


def write_wav_pcm16(path: Path, x: Signal, rate: int) -> None:
    """Write ``x`` (floats in [-1, 1]) as a mono 16-bit PCM WAV file."""
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def read_wav_pcm16(path: Path) -> tuple[Signal, int]:
    """Read a mono or multi-channel 16-bit PCM WAV; channels are averaged. Returns (floats, rate)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: sample width must be 16 bits, got {8 * w.getsampwidth()}")
        channels, rate = w.getnchannels(), w.getframerate()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768.0
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data, rate
