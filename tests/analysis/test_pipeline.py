"""The analysis of stored calls: detection, behaviour, notice check, storage, CLI, model loading.

Speech recognition runs in one test only (marker ``asr``): import call → job → transcript → flags →
search hit. The others reuse a stored transcript, which is what ``akashi analyze ID`` does after a
lexicon change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from akashi.analysis.audio import write_wav
from akashi.analysis.model import BUNDLED_SIZE, ModelError, bundled_model_dir, resolve_model
from akashi.analysis.pipeline import analyze_call
from akashi.analysis.text import search_reading
from akashi.callfacts import CallFacts
from akashi.calloutcome import CallOutcome
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.fts import text_filter
from akashi.db.models import Call, CallFlag, Job, TranscriptSegment
from akashi.db.models_analysis import CallKeyword
from akashi.ingest import ingest_call

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def _tone_wav(
    path: Path, seconds: float, *, loud_customer: bool = False, operator_s: tuple[float, float] = (0.0, 0.0)
) -> Path:
    rate = 8000
    t = np.arange(int(seconds * rate)) / rate
    customer = (0.9 if loud_customer else 0.05) * np.sin(2 * np.pi * 300 * t)
    operator = np.zeros_like(customer)
    a, b = (int(x * rate) for x in operator_s)
    operator[a:b] = 0.2 * np.sin(2 * np.pi * 500 * t[a:b])  # what the customer heard (e.g. the notice)
    path.write_bytes(write_wav(np.stack([customer, operator], axis=1).astype(np.float32), rate, "pcmu"))
    return path


def _ingest(ak: Akashi, wav: Path, segments: list[tuple[str, float, str]], **rec: Any) -> int:
    record = CallOutcome(
        started_at=rec.pop("started_at", T0),
        direction="in",
        caller=rec.pop("caller", "03-1234-5678"),
        source="import",
        **rec,
    )
    call_id = ingest_call(ak, wav, record, transcribe=False)
    with session_scope(ak.engine) as s:
        for channel, start, text in segments:
            s.add(
                TranscriptSegment(call_id=call_id, channel=channel, start_s=start, end_s=start + 2, text=text)
            )
    return call_id


def test_reanalysis_of_stored_transcript(sqlite_home: Path, tmp_path: Path) -> None:
    wav = _tone_wav(tmp_path / "c.wav", 8.0, loud_customer=True)
    with Akashi.open(sqlite_home) as ak:
        first = _ingest(ak, wav, [], started_at=T0 - timedelta(days=2))
        _ingest(ak, wav, [], started_at=T0 - timedelta(days=1))
        call_id = _ingest(
            ak,
            wav,
            [
                ("operator", 0.5, "お電話ありがとうございます。担当の山田です。"),
                ("customer", 3.0, "責任者を出せ。ネットに晒すぞ"),
                ("operator", 5.0, "土下座しろと言われても困ります"),
            ],
            notice_mode="operator",
            agent="山田",
        )
        res = analyze_call(ak, call_id, retranscribe=False)
        with session_scope(ak.engine) as s:
            call = s.get(Call, call_id)
            assert call is not None
            flags = {f.category: f for f in s.scalars(select(CallFlag).where(CallFlag.call_id == call_id))}
            kws = set(s.scalars(select(CallKeyword.word).where(CallKeyword.call_id == call_id)))
            earlier = s.get(Call, first)
            assert earlier is not None and earlier.analysis_state == "none"
    assert set(res.flags) == {"責任者・上司の要求", "SNS・ネット晒し", "大声", "リピート", "notice_missing"}
    assert call.flags == res.flags
    assert call.analysis_state == "done"
    assert call.severity == pytest.approx(1.5 + 2.5 + 1.5 + 1.0)  # notice_missing adds no severity
    sns = flags["SNS・ネット晒し"]
    assert (sns.source, sns.channel, sns.start_s, sns.end_s) == ("lexicon", "customer", 3.0, 5.0)
    assert "晒す" in sns.words
    assert flags["大声"].source == "behaviour"
    assert flags["リピート"].detail["calls"] == 3
    assert flags["notice_missing"].source == "compliance"
    assert "土下座の要求" not in flags  # the operator's words are not the customer's
    assert "責任者" in kws
    assert call.extra["analysis"]["notice_ok"] is False


def test_long_call_and_automatic_notice(sqlite_home: Path, tmp_path: Path) -> None:
    heard = _tone_wav(tmp_path / "heard.wav", 8.0, operator_s=(0.0, 6.0))
    silent = _tone_wav(tmp_path / "silent.wav", 8.0)
    sec = timedelta(seconds=1)
    notice = {
        "notice_mode": "automatic",
        "notice_started_at": T0,
        "notice_ended_at": T0 + 6 * sec,
        "bridged_at": T0 + 7 * sec,
        "answered_at": T0,
        "facts": CallFacts(notice_duration_s=6.0),
    }
    say = [("customer", 7.0, "配送状況を知りたいのですが")]
    with Akashi.open(sqlite_home, run_migrations=False) as ak:
        ak.settings.analysis.long_call_minutes = 0.1  # 6 s
        ok = _ingest(ak, heard, say, **notice)
        cut = _ingest(
            ak,
            heard,
            say,
            caller="0311112222",
            **(notice | {"notice_ended_at": T0 + 2 * sec, "bridged_at": T0 + 3 * sec}),
        )
        logged_only = _ingest(ak, silent, say, caller="0322223333", **notice)  # logged, but nothing audible
        res = analyze_call(ak, ok, retranscribe=False)
        assert res.flags == ["時間拘束"]
        assert res.notice is not None and res.notice.detail["audible_share"] == 1.0
        assert analyze_call(ak, cut, retranscribe=False).flags == ["notice_missing", "時間拘束"]
        res = analyze_call(ak, logged_only, retranscribe=False)
        assert res.flags == ["notice_missing", "時間拘束"]
        assert res.notice is not None and "not audible" in res.notice.detail["reason"]
        missed = ingest_call(
            ak,
            None,
            CallOutcome(
                started_at=T0, direction="in", caller="0344445555", status="missed", notice_mode="operator"
            ),
        )
        res = analyze_call(ak, missed, retranscribe=False)
        assert res.flags == []
        assert res.notice is None


def test_cli_analyze_and_report(sqlite_home: Path, tmp_path: Path) -> None:
    wav = _tone_wav(tmp_path / "c.wav", 3.0)
    with Akashi.open(sqlite_home) as ak:
        call_id = _ingest(ak, wav, [("customer", 1.0, "今すぐ土下座しろ")])
    env = {**os.environ, "AKASHI_HOME": str(sqlite_home)}
    cmd = [sys.executable, "-m", "akashi.cli.main"]
    out = subprocess.run(
        [*cmd, "analyze", str(call_id), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["flags"] == ["土下座の要求"]
    assert data["findings"][0]["words"] == "土下座"
    out = subprocess.run(
        [*cmd, "report", "--from", "2026-11-01", "--to", "2026-11-03", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout)["per_category"] == {"土下座の要求": 1}
    out = subprocess.run(
        [*cmd, "analyze", "999", "--json"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 4
    assert "no call 999" in out.stderr
    out = subprocess.run(
        [*cmd, "analyze", str(call_id), "--queue", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout)["queued"] == "analyze"


def test_model_resolution(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        resolve_model(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"no model\.bin"):
        resolve_model(str(tmp_path / "empty"))
    assert resolve_model("large-v3") == "large-v3"
    assert resolve_model("kotoba-tech/kotoba-whisper-v2.0-faster") == "kotoba-tech/kotoba-whisper-v2.0-faster"
    with pytest.raises(ModelError, match="not found"):
        resolve_model("./models/missing")


@pytest.mark.asr
def test_bundled_model_rebuild_and_corruption(tmp_path: Path, whisper_model: Any) -> None:
    folder = bundled_model_dir(tmp_path)
    assert (folder / "model.bin").stat().st_size == BUNDLED_SIZE
    assert {p.name for p in folder.iterdir()} >= {
        "model.bin",
        "config.json",
        "tokenizer.json",
        "vocabulary.json",
    }
    assert resolve_model(str(folder)) == str(folder)
    # A local folder loads as it is; a hub name is looked up in the local cache only (offline).
    from akashi.analysis.model import load_model
    from akashi.config.analysis import AnalysisSettings

    assert load_model(AnalysisSettings(model=str(folder)), tmp_path) is not None
    with pytest.raises(ModelError, match=r"analysis\.online"):
        load_model(AnalysisSettings(model="large-v3"), tmp_path)
    # A damaged copy is noticed and rebuilt rather than loaded.
    with (folder / "model.bin").open("r+b") as f:
        f.truncate(1000)
    assert (bundled_model_dir(tmp_path) / "model.bin").stat().st_size == BUNDLED_SIZE


@pytest.mark.asr
@pytest.mark.slow
def test_import_job_transcript_flags_search(
    sqlite_home: Path, call_wav: Callable[[str], Path], whisper_model: Any
) -> None:
    from akashi.jobs import JobQueue, run_one

    with Akashi.open(sqlite_home) as ak:
        record = CallOutcome(
            started_at=T0,
            direction="in",
            caller="0312345678",
            source="import",
            notice_mode="operator",
            agent="山田",
        )
        call_id = ingest_call(ak, call_wav("threat_sns"), record)
        assert run_one(ak, JobQueue(ak.engine), "test-worker", ["transcribe"])
        with session_scope(ak.engine) as s:
            job = s.scalars(select(Job)).one()
            assert (job.kind, job.state, job.last_error) == ("transcribe", "done", "")
            call = s.get(Call, call_id)
            assert call is not None
            segs = list(s.scalars(select(TranscriptSegment).where(TranscriptSegment.call_id == call_id)))
            flags = list(s.scalars(select(CallFlag).where(CallFlag.call_id == call_id)))
            hits = list(s.scalars(select(Call.id).where(text_filter(s, "晒す", search_reading("晒す")))))
            misses = list(
                s.scalars(select(Call.id).where(text_filter(s, "土下座", search_reading("土下座"))))
            )
    assert call.analysis_state == "done"
    assert {g.channel for g in segs} == {"customer", "operator"}
    assert all(g.reading for g in segs)
    sns = [f for f in flags if f.category == "SNS・ネット晒し"]
    assert sns and sns[0].channel == "customer"
    # The customer's threat comes after the operator's greeting (about 10 s into the call).
    assert 5.0 < sns[0].start_s < 20.0
    assert "notice_missing" not in call.flags  # the operator said the notice
    assert call.severity > 0
    assert hits == [call_id]
    assert misses == []


def test_unreadable_media_marks_the_call_failed(sqlite_home: Path, tmp_path: Path) -> None:
    import struct

    from akashi.errors import ProtocolError

    body = np.zeros(800, dtype="<f4").tobytes()  # IEEE float: stored as received, not decodable here
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(body)) + body
    wav = tmp_path / "float.wav"
    wav.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    with Akashi.open(sqlite_home) as ak:
        call_id = _ingest(ak, wav, [])
        with pytest.raises(ProtocolError, match="unsupported WAV format"):
            analyze_call(ak, call_id, retranscribe=True)
        with session_scope(ak.engine) as s:
            call = s.get(Call, call_id)
            assert call is not None and call.analysis_state == "failed"


@pytest.mark.asr
def test_transcriber_process_runs_analysis_jobs(
    sqlite_home: Path, tmp_path: Path, whisper_model: Any
) -> None:
    import time

    from akashi.analysis.worker import TranscriberProcess
    from akashi.jobs import enqueue

    wav = _tone_wav(tmp_path / "c.wav", 3.0)
    with Akashi.open(sqlite_home) as ak:
        call_id = _ingest(ak, wav, [("customer", 1.0, "今すぐ土下座しろ")])
        with session_scope(ak.engine) as s:
            enqueue(s, "analyze", {"call_id": call_id})
        with TranscriberProcess(sqlite_home) as proc:
            deadline = time.monotonic() + 120
            state = ""
            while time.monotonic() < deadline and proc.running:
                with session_scope(ak.engine) as s:
                    state = s.scalars(select(Job.state).where(Job.kind == "analyze")).one()
                if state == "done":
                    break
                time.sleep(0.2)  # the child is another process: poll its result in the database
            assert proc.running
            assert state == "done"
        assert proc.proc is not None and proc.proc.returncode == 0  # stopped cleanly by SIGTERM
        with session_scope(ak.engine) as s:
            call = s.get(Call, call_id)
            assert call is not None and call.flags == ["土下座の要求"]
