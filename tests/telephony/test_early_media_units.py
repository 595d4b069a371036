"""Early media kept before the answer, unit by unit: the spool's finalise, the facts, the transcript's times.

The real-peer proof is :mod:`tests.telephony.test_early_media_answer`; these pin the rules.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from akashi.analysis.transcript_doc import build_doc, render_text
from akashi.callfacts import CallFacts
from akashi.telephony.recorder import CallMeta, CallSpool, finalise


def _pkt(seq: int, ts: int, ssrc: int, value: int) -> bytes:
    return bytes([0x80, 0]) + struct.pack("!HII", seq, ts, ssrc) + bytes([value]) * 160


def _spool(tmp: Path, *, early: float | None, answered: float | None) -> Path:
    """A finished call: ringback (byte 0x11) from t=100 for 1.5 s, the answer at 102, speech (0x22) after."""
    meta = CallMeta(started_at=99.0, direction="out", answered_at=answered, ended_at=104.0)
    meta.extra.early_media_at = early
    meta.status, meta.finished = "completed", True
    spool = CallSpool(tmp / "call", meta)
    for i in range(75):  # ringback: 1.5 s, its own SSRC
        spool.caller.append(_pkt(i, 160 * i, 1, 0x11), 100.0 + 0.02 * i)
    for i in range(50):  # the customer after the answer: 1 s, another SSRC
        spool.caller.append(_pkt(i, 5000 + 160 * i, 2, 0x22), 102.0 + 0.02 * i)
    spool.finish()
    return tmp / "call"


def _left(wav: Path) -> np.ndarray:
    data = wav.read_bytes()
    i = data.index(b"data")
    n = int.from_bytes(data[i + 4 : i + 8], "little")
    return np.frombuffer(data[i + 8 : i + 8 + n], dtype=np.uint8).reshape(-1, 2)[:, 0]


def test_answered_call_with_early_media_starts_at_its_first_packet(tmp_path: Path) -> None:
    """The WAV starts with the ringback; the facts say where the answer is in it."""
    wav, meta = finalise(_spool(tmp_path, early=99.9, answered=102.0))
    assert meta.extra.audio_started_at == 100.0 and meta.extra.answer_at_s == 2.0
    assert meta.extra.answer_offset_s() == 2.0
    left = _left(wav)
    assert (left[: 75 * 160] == 0x11).all()  # the ringback from the first sample, nothing cut
    assert (left[2 * 8000 : 3 * 8000] == 0x22).all()  # the customer's speech at +2.0 s: the answer
    assert len(left) == 3 * 8000
    # the facts round-trip through the stored JSON
    back = CallFacts.read(meta.extra.to_extra())
    assert back.audio_started_at == 100.0 and back.answer_offset_s() == 2.0


def test_without_early_media_the_audio_starts_at_the_answer(tmp_path: Path) -> None:
    """No early media (an inbound call, a 180 without SDP): as before, the answer is the audio's start."""
    wav, meta = finalise(_spool(tmp_path, early=None, answered=102.0))
    assert meta.extra.audio_started_at is None and meta.extra.answer_offset_s() == 0.0
    left = _left(wav)
    assert len(left) == 8000 and (left == 0x22).all()


def test_unanswered_call_keeps_its_early_media_from_the_start(tmp_path: Path) -> None:
    """A 404 after the announcement: never answered, the audio counts from the call's start."""
    wav, meta = finalise(_spool(tmp_path, early=99.9, answered=None))
    assert meta.extra.audio_started_at is None and meta.extra.answer_at_s is None
    left = _left(wav)
    assert (left[8000 : 8000 + 75 * 160] == 0x11).all()  # 1 s after the start (99.0)


def _facts(**more: object) -> dict[str, object]:
    return {
        "id": 7,
        "started_at": "2026-12-06T01:00:00+00:00",
        "answered_at": "2026-12-06T01:00:10+00:00",
        "ended_at": "2026-12-06T01:01:00+00:00",
        "direction": "out",
        "transcript": [{"channel": "customer", "start_s": 12.0, "end_s": 14.0, "text": "もしもし"}],
        **more,
    }


def test_transcript_times_are_call_audio_times() -> None:
    """Early media kept: a line at +12 s of audio is 12 s after the recording's start, not the answer."""
    doc = build_doc(_facts(audio_started_at="2026-12-06T01:00:07+00:00", answer_at_s=3.0), None)
    assert doc is not None and doc.t0 == datetime(2026, 12, 6, 1, 0, 7, tzinfo=UTC)
    text = render_text(doc)
    assert "10:00:19 JST" in text, text  # 01:00:07 UTC + 12 s, in JST
    assert "録音の開始 / Recording starts" in text and "answered at +0:03 into the recording" in text
    plain = build_doc(_facts(), None)  # no early media: the answer is the audio's start, no such row
    assert plain is not None and plain.t0 == datetime(2026, 12, 6, 1, 0, 10, tzinfo=UTC)
    assert "録音の開始" not in render_text(plain) and "10:00:22 JST" in render_text(plain)
