"""The pure-numpy signal processing behind notice audio: resampling, filters, trimming, WAV output."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akashi.notices.dsp import (
    fade,
    fir_filter,
    kaiser_highpass,
    normalise,
    read_wav_pcm16,
    resample,
    trim_silence,
    write_wav_pcm16,
)


def _tone(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.sin(2 * np.pi * freq * t)


def _mid_rms(x: np.ndarray) -> float:
    mid = x[len(x) // 4 : 3 * len(x) // 4]
    return float(np.sqrt(np.mean(mid**2)))


@pytest.mark.parametrize(
    ("rate_in", "rate_out"), [(48000, 8000), (24000, 8000), (22050, 8000), (8000, 16000)]
)
def test_resample_keeps_in_band_tone_in_phase(rate_in: int, rate_out: int) -> None:
    y = resample(_tone(1000, rate_in), rate_in, rate_out, cutoff_hz=3400)
    ref = _tone(1000, rate_out, len(y) / rate_out)[: len(y)]
    mid = slice(len(y) // 4, 3 * len(y) // 4)
    assert len(y) == rate_out
    # Delay compensated: the output lines up with the input sample for sample.
    assert float(np.max(np.abs(y[mid] - ref[mid]))) < 1e-3


@pytest.mark.parametrize("freq", [3800, 6000, 20000])
def test_resample_removes_out_of_band_tone(freq: int) -> None:
    y = resample(_tone(freq, 48000), 48000, 8000, cutoff_hz=3400)
    assert _mid_rms(y) < 1e-3  # better than -57 dB


def test_highpass_removes_hum_and_keeps_voice_band() -> None:
    h = kaiser_highpass(300, 8000, 200)
    assert _mid_rms(fir_filter(_tone(50, 8000), h)) < 1e-3
    assert abs(_mid_rms(fir_filter(_tone(1000, 8000), h)) - np.sqrt(0.5)) < 1e-3


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=5000), rate_in=st.sampled_from([8000, 16000, 22050, 24000, 48000])
)
def test_resample_length(n: int, rate_in: int) -> None:
    y = resample(np.zeros(n), rate_in, 8000, cutoff_hz=3400)
    assert len(y) == (n * 8000) // rate_in
    assert not np.any(np.isnan(y))


def test_resample_rejects_bad_cutoff() -> None:
    with pytest.raises(ValueError, match="cutoff_hz"):
        resample(np.zeros(10), 48000, 8000, cutoff_hz=4000)


def test_trim_silence_keeps_the_sound_with_padding() -> None:
    rate = 8000
    x = np.concatenate([np.zeros(rate), 0.5 * _tone(440, rate, 0.5), np.zeros(2 * rate)])
    y = trim_silence(x, rate, pad_s=0.05)
    assert 0.5 * rate <= len(y) <= 0.62 * rate
    assert trim_silence(np.zeros(rate), rate).size == 0


def test_normalise_fade_and_wav_roundtrip(tmp_path: Path) -> None:
    x = normalise(0.1 * _tone(440, 8000), -3.0)
    assert abs(float(np.max(np.abs(x))) - 10 ** (-3 / 20)) < 1e-9
    f = fade(x, 8000, 0.01)
    assert f[0] == 0.0 and f[-1] == 0.0
    path = tmp_path / "t.wav"
    write_wav_pcm16(path, f, 8000)
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()) == (1, 2, 8000, 8000)
    back, rate = read_wav_pcm16(path)
    assert rate == 8000
    assert float(np.max(np.abs(back - f))) < 1 / 16000
