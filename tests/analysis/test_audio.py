"""WAV parsing, G.711 tables, resampling and levels."""

from __future__ import annotations

import contextlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akashi.analysis.audio import (
    ALAW_TABLE,
    MULAW_TABLE,
    Float32,
    denoise,
    encode_mulaw,
    frame_dbfs,
    parse_wav,
    resample,
    write_wav,
)
from akashi.errors import ProtocolError


def test_g711_reference_values() -> None:
    # ITU-T G.711: μ-law 0xFF/0x7F are ±0, 0x00 is the most negative step; A-law 0xD5 is +8, 0x2A -32256.
    assert MULAW_TABLE[0xFF] * 32768 == 0
    assert MULAW_TABLE[0x00] * 32768 == -32124
    assert MULAW_TABLE[0x80] * 32768 == 32124
    assert ALAW_TABLE[0xD5] * 32768 == 8
    assert ALAW_TABLE[0x55] * 32768 == -8
    assert ALAW_TABLE[0x2A] * 32768 == -32256
    assert ALAW_TABLE[0xAA] * 32768 == 32256
    # Both tables are monotonic over their magnitude codes.
    assert np.all(np.diff(MULAW_TABLE[0x80:0x100][::-1]) >= 0)


def test_mulaw_encode_round_trips_every_code() -> None:
    codes = np.arange(256, dtype=np.uint8)
    back = encode_mulaw(MULAW_TABLE[codes])
    # 0x7F (negative zero) encodes as 0xFF (positive zero); every other code is exact.
    assert np.array_equal(back[codes != 0x7F], codes[codes != 0x7F])


def test_stereo_mulaw_wav_round_trip() -> None:
    t = np.arange(8000) / 8000
    left = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    right = np.zeros_like(left)
    audio = parse_wav(write_wav(np.stack([left, right], axis=1), 8000, "pcmu"))
    assert (audio.rate, audio.channels, audio.codec) == (8000, 2, "pcmu")
    assert audio.duration_s == pytest.approx(1.0)
    assert np.max(np.abs(audio.channel(0) - left)) < 0.02
    assert np.max(np.abs(audio.channel(1))) < 1e-3


def test_pcm16_round_trip_is_exact() -> None:
    x = (np.arange(-100, 100, dtype=np.float32) / 128).reshape(-1, 1)
    audio = parse_wav(write_wav(x, 16000, "pcm16"))
    assert audio.codec == "pcm16"
    assert np.allclose(audio.samples, x, atol=1 / 32768)


def _alaw_wav(codes: bytes, channels: int = 1) -> bytes:
    fmt = struct.pack("<HHIIHHH", 6, channels, 8000, 8000 * channels, channels, 8, 0)
    body = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 3) + b"abc\0"
    body += b"data" + struct.pack("<I", len(codes)) + codes
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body


def test_alaw_wav_with_odd_sized_extra_chunk() -> None:
    audio = parse_wav(_alaw_wav(bytes([0xD5, 0x2A, 0xAA, 0x55])))
    assert audio.codec == "pcma"
    assert (audio.samples[:, 0] * 32768).tolist() == [8, -32256, 32256, -8]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"", "RIFF"),
        (b"RIFF\0\0\0\0WAVX", "RIFF"),
        (b"RIFF\x04\0\0\0WAVE", "fmt chunk not found"),
        (_alaw_wav(b"")[:20], "fmt"),
    ],
)
def test_bad_wavs_are_refused_with_a_reason(data: bytes, needle: str) -> None:
    with pytest.raises(ProtocolError, match=needle):
        parse_wav(data)


def test_unsupported_format_is_named() -> None:
    wav = bytearray(write_wav(np.zeros(10, dtype=np.float32), 8000))
    wav[20:22] = struct.pack("<H", 3)  # IEEE float
    with pytest.raises(ProtocolError, match="format tag 3"):
        parse_wav(bytes(wav))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_parse_wav_never_fails_otherwise(data: bytes) -> None:
    for blob in (data, b"RIFF" + data[:4] + b"WAVE" + data[4:]):
        with contextlib.suppress(ProtocolError):
            parse_wav(blob)


def test_resample_keeps_a_tone_and_its_level() -> None:
    t = np.arange(8000) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    up = resample(tone, 8000, 16000)
    assert len(up) == 16000
    spectrum = np.abs(np.fft.rfft(up[2000:14000]))
    assert np.argmax(spectrum) * 16000 / 12000 == pytest.approx(300, abs=2)
    assert np.sqrt(np.mean(up[2000:14000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.03)
    down = resample(np.tile(tone, 6)[:48000], 48000, 8000)
    assert len(down) == 8000


def test_frame_dbfs() -> None:
    full = np.ones(8000, dtype=np.float32)
    assert frame_dbfs(full, 8000)[0] == pytest.approx(0.0, abs=0.01)
    quiet = full * 0.01
    assert frame_dbfs(quiet, 8000)[0] == pytest.approx(-40.0, abs=0.01)
    assert len(frame_dbfs(np.zeros(10, dtype=np.float32), 8000)) == 0


def test_denoise_takes_out_steady_hiss_and_keeps_speech_and_length() -> None:
    rate = 16000
    t = np.arange(rate * 6) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440 * t) * (t % 1 < 0.4)).astype(np.float32)  # speech 40% of the time
    hiss = (0.012 * np.random.default_rng(1).standard_normal(len(t))).astype(np.float32)
    out = denoise(tone + hiss)
    assert out.dtype == np.float32 and len(out) == len(tone)
    pauses = t % 1 > 0.5

    def rms(x: Float32) -> float:
        return float(np.sqrt(np.mean(x**2)))

    assert rms(out[pauses]) < 0.5 * rms(hiss[pauses])  # the line between turns is quieter
    spoken = (t % 1 > 0.05) & (t % 1 < 0.35)
    assert abs(rms(out[spoken]) - rms(tone[spoken])) < 0.05 * rms(tone[spoken])  # speech level kept
    clean = denoise(tone)
    assert float(np.max(np.abs(clean - tone))) < 1e-3  # nothing to take out: unchanged
    short = tone[:100]
    assert denoise(short) is short
