"""Forged WAV files: every reader of WAV (ingest's header check, the waveform, the transcriber) refuses
them through the one parser, :func:`akashi.wavinfo.parse_wav_header`, with the same exact reason.

An attacker who can plant a file among imported recordings (or a compromised recorder) writes a WAV
whose header lies: ``data`` before ``fmt``, no channels, a zero sample rate, a cut ``fmt`` chunk. The
readers must not disagree about such a file (one accepting what another refuses is how a file slips
past a check), and none may fail with anything but a :class:`ProtocolError` naming the fault.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from akashi.analysis.audio import parse_wav, write_wav
from akashi.errors import ProtocolError
from akashi.wavinfo import parse_wav_header
from akashi.web.services.media import wav_peaks


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")


def _riff(*chunks: bytes) -> bytes:
    inner = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(inner)) + inner


def _fmt(code: int = 1, channels: int = 1, rate: int = 8000, bits: int = 16) -> bytes:
    align = channels * bits // 8
    return _chunk(b"fmt ", struct.pack("<HHIIHH", code, channels, rate, rate * align, align, bits))


SAMPLES = b"\x00\x10" * 400

FORGED = {
    "data before fmt": (_riff(_chunk(b"data", SAMPLES), _fmt()), "data chunk before fmt"),
    "no channels": (
        _riff(_fmt(channels=0), _chunk(b"data", SAMPLES)),
        "channels or sample rate invalid: 0/8000",
    ),
    "zero rate": (_riff(_fmt(rate=0), _chunk(b"data", SAMPLES)), "channels or sample rate invalid: 1/0"),
    "fmt cut short": (
        _riff(_chunk(b"fmt ", b"\x01\x00\x01\x00"), _chunk(b"data", SAMPLES)),
        "fmt chunk too short",
    ),
    "RIFX disguise": (b"RIFX" + _riff(_fmt(), _chunk(b"data", SAMPLES))[4:], "RIFF/WAVE header missing"),
    "no fmt at all": (_riff(_chunk(b"LIST", b"INFOxxxx")), "fmt chunk not found"),
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_every_reader_refuses_a_forged_wav_with_the_same_reason(name: str) -> None:
    """The header parser, the waveform and the transcriber's decoder give one and the same refusal."""
    data, reason = FORGED[name]
    messages = []
    for read in (
        lambda: parse_wav_header(data, len(data)),
        lambda: parse_wav(data),
        lambda: wav_peaks([data]),
    ):
        with pytest.raises(ProtocolError, match=reason) as err:
            read()
        messages.append(str(err.value))
    assert len(set(messages)) == 1, messages
    assert "WAV" in messages[0] and " / " in messages[0]  # Japanese first, English beside it


def test_a_genuine_wav_still_reads_the_same_everywhere() -> None:
    """The refusals above are not a parser that refuses everything: a real recording reads alike."""
    data = write_wav(np.full((800, 2), 0.25, dtype=np.float32), 8000, "pcmu")
    info = parse_wav_header(data, len(data))
    audio = parse_wav(data)
    peaks = wav_peaks([data[:7], data[7:50], data[50:]], buckets=4)
    assert (info.channels, info.sample_rate, info.codec) == (2, 8000, "PCMU")
    assert audio.samples.shape == (800, 2) and audio.rate == info.sample_rate
    assert peaks["channels"] == 2 and peaks["rate"] == 8000
    assert abs(float(peaks["duration_s"]) - info.duration_s) < 1e-9  # type: ignore[arg-type]
