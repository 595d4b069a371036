"""Sans-I/O helpers of the web app: Range parsing, WAV peaks (PCM, mu-law, A-law), highlighting, JST."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from akashi.errors import ProtocolError
from akashi.wavinfo import parse_wav_header
from akashi.web.i18n import duration, jst, translate
from akashi.web.render import highlight
from akashi.web.services.media import ByteRange, RangeNotSatisfiable, parse_range, wav_peaks


def _wav(codec: int, bits: int, channels: int, rate: int, data: bytes) -> bytes:
    fmt = struct.pack(
        "<HHIIHH", codec, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits
    )
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_parse_range_forms() -> None:
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-", 100) == ByteRange(0, 99, 100)
    assert parse_range("bytes=10-19", 100) == ByteRange(10, 19, 100)
    assert parse_range("bytes=90-500", 100) == ByteRange(90, 99, 100)
    assert parse_range("bytes=-5", 100) == ByteRange(95, 99, 100)
    assert parse_range("bytes=-500", 100) == ByteRange(0, 99, 100)
    assert parse_range("bytes=0-1,5-6", 100) is None  # multi-range: whole resource
    assert parse_range("items=0-1", 100) is None
    assert parse_range("bytes=5-2", 100) is None
    assert parse_range("bytes=x-2", 100) is None
    assert parse_range("bytes=10-19", 100).content_range() == "bytes 10-19/100"  # type: ignore[union-attr]
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=100-", 100)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-0", 100)


@given(size=st.integers(1, 10_000), a=st.integers(0, 20_000), b=st.integers(0, 20_000))
def test_parse_range_stays_inside(size: int, a: int, b: int) -> None:
    try:
        r = parse_range(f"bytes={a}-{b}", size)
    except RangeNotSatisfiable:
        assert a >= size
        return
    if r is not None:
        assert 0 <= r.start <= r.end < size and r.length == r.end - r.start + 1


def test_peaks_pcm_stereo_in_any_chunking() -> None:
    x = np.zeros((8000, 2), dtype="<i2")
    x[1000:1100, 0] = 16384
    x[7000:7100, 1] = -32768
    data = _wav(1, 16, 2, 8000, x.tobytes())
    expected = None
    for size in (3, 77, 4096, len(data)):
        p = wav_peaks([data[i : i + size] for i in range(0, len(data), size)], buckets=8)
        assert p["channels"] == 2 and p["duration_s"] == 1.0
        expected = expected or p["peaks"]
        assert p["peaks"] == expected
    assert expected == [[0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]


def test_peaks_g711() -> None:
    ulaw = bytes([0xFF] * 400 + [0x80] * 400)  # silence, then full-scale positive
    p = wav_peaks([_wav(7, 8, 1, 8000, ulaw)], buckets=2)
    assert p["peaks"][0][0] == 0.0 and p["peaks"][0][1] > 0.95
    alaw = bytes([0xD5] * 400 + [0xAA] * 400)
    p = wav_peaks([_wav(6, 8, 1, 8000, alaw)], buckets=2)
    assert p["peaks"][0][0] < 0.001 and p["peaks"][0][1] > 0.95


def test_bad_wav_is_refused() -> None:
    with pytest.raises(ProtocolError):
        parse_wav_header(b"RIFX....WAVE")
    with pytest.raises(ProtocolError):
        wav_peaks([_wav(85, 16, 1, 8000, b"\0" * 10)])  # MP3-in-WAV: not decodable here


def test_highlight_escapes_and_marks() -> None:
    out = str(highlight("<b>土下座</b>しろ、土下座だ", ["土下座"]))
    assert (
        out
        == '&lt;b&gt;<mark class="flagged">土下座</mark>&lt;/b&gt;しろ、<mark class="flagged">土下座</mark>だ'
    )
    assert str(highlight("a<b", [])) == "a&lt;b"


def test_jst_and_labels() -> None:
    assert jst(datetime(2026, 1, 1, 15, 0, tzinfo=UTC)) == "2026-01-02 00:00:00 JST"
    assert duration(3725) == "1:02:05" and duration(65) == "1:05"
    assert translate("calls", "ja") == "通話" and translate("calls", "en") == "Calls"
    assert translate("no-such-key", "en") == "no-such-key"
