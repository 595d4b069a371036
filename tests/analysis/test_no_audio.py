"""Calls stored with no audio (a refused attempt, a header and no sound) are never transcribed.

Before, such a call queued a ``transcribe`` job that failed with numpy's "a cannot be empty" and
was retried with backoff; now the call is marked ``no_audio``, gets no job, and a job already queued
for one is dead-lettered at its first run.
"""

from __future__ import annotations

import wave
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from akashi.calloutcome import CallOutcome
from akashi.codecs.container import write_container
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Call, Job
from akashi.ingest import NO_AUDIO, ingest_call
from akashi.jobs import JobQueue, enqueue, run_one
from akashi.telephony.rawmedia import has_packets, ingest_raw_call
from tests.web.conftest import stereo_wav

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _record(codec: str = "PCMU") -> CallOutcome:
    return CallOutcome(started_at=T0, direction="out", caller="201", dialled="0312345678", codec=codec)


def _empty_wav(path: Path) -> Path:
    """A stereo μ-law WAV header with no frames: what a refused outbound attempt leaves."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
    return path


def _state_and_jobs(ak: Akashi, call_id: int) -> tuple[str, list[Job]]:
    with session_scope(ak.engine) as s:
        call = s.get(Call, call_id)
        assert call is not None
        jobs = list(s.scalars(select(Job).where(Job.kind == "transcribe")))
        s.expunge_all()
        return call.analysis_state, [j for j in jobs if j.payload.get("call_id") == call_id]


def test_empty_recording_and_missing_media_get_no_job(sqlite_home: Path, tmp_path: Path) -> None:
    with Akashi.open(sqlite_home) as ak:
        empty = ingest_call(ak, _empty_wav(tmp_path / "empty.wav"), _record())
        none = ingest_call(ak, None, _record())
        real = ingest_call(ak, stereo_wav(tmp_path / "real.wav", seconds=1.0), _record())
        assert _state_and_jobs(ak, empty) == (NO_AUDIO, [])
        assert _state_and_jobs(ak, none) == (NO_AUDIO, [])
        state, jobs = _state_and_jobs(ak, real)
        assert state == "pending" and len(jobs) == 1  # a call with sound is still transcribed


def test_rtp_container_without_packets_gets_no_job(sqlite_home: Path, tmp_path: Path) -> None:
    header = {"name": "G722", "payload_type": 9, "rate": 8000, "t0": T0.timestamp()}
    empty = tmp_path / "empty.akrtp"
    write_container(empty, header, [], [])
    full = tmp_path / "full.akrtp"
    packet = bytes([0x80, 9]) + (1).to_bytes(2, "big") + (160).to_bytes(4, "big") + bytes(4) + bytes(160)
    write_container(full, header, [(T0.timestamp(), packet)], [])
    assert not has_packets(empty) and has_packets(full)
    with Akashi.open(sqlite_home) as ak:
        call_id = ingest_raw_call(ak, empty, _record("G722"))
        assert _state_and_jobs(ak, call_id) == (NO_AUDIO, [])


def test_a_queued_job_for_a_call_without_audio_fails_for_good(sqlite_home: Path, tmp_path: Path) -> None:
    """A job queued before the fix (or by hand) is dead after one run, with a readable reason."""
    with Akashi.open(sqlite_home) as ak:
        call_id = ingest_call(ak, _empty_wav(tmp_path / "empty.wav"), _record())
        with session_scope(ak.engine) as s:
            enqueue(s, "transcribe", {"call_id": call_id}, dedupe_key=f"transcribe:{call_id}")
        queue = JobQueue(ak.engine, backoff_seconds=0.0)
        assert run_one(ak, queue, "w1", ["transcribe"])
        assert not run_one(ak, queue, "w1", ["transcribe"])  # nothing queued again: no retry
        state, jobs = _state_and_jobs(ak, call_id)
        assert state == NO_AUDIO
        assert [(j.state, j.attempts) for j in jobs] == [("dead", 1)]
        assert "no audio" in (jobs[0].last_error or "") and "cannot be empty" not in (
            jobs[0].last_error or ""
        )
