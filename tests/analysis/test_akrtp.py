"""Analysis of calls kept as RTP (G.722, Opus): the container is decoded to 16 kHz stereo first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from akashi.analysis.pipeline import analyze_call
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Call, Job, TranscriptSegment
from tests.codecs.rtpaudio import CALLER_AT, G722, HEARD_AT, OPUS, Spec, ingest_container, two_leg_container

pytest.importorskip("av")
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


class FakeWhisper:
    """Stands in for faster-whisper: records the audio it is given, says one line per channel."""

    def __init__(self) -> None:
        self.heard: list[np.ndarray] = []

    def transcribe(self, audio: np.ndarray, **_kw: Any) -> tuple[list[SimpleNamespace], None]:
        self.heard.append(audio)
        first = float(np.argmax(np.abs(audio) > 0.1)) / 16000
        text = "土下座しろ" if len(self.heard) == 1 else "申し訳ございません"
        return [SimpleNamespace(start=first, end=first + 0.2, text=text)], None


@pytest.mark.parametrize("spec", [G722, OPUS], ids=["g722", "opus"])
def test_pipeline_runs_on_an_akrtp_call(sqlite_home: Path, tmp_path: Path, spec: Spec) -> None:
    """Transcription is queued at ingest; the recogniser gets each leg at 16 kHz, aligned."""
    path = two_leg_container(tmp_path / "call.akrtp", spec, T0.timestamp())
    with Akashi.open(sqlite_home) as ak:
        ak.settings.analysis.batched = False
        ak.settings.analysis.vad = False  # tones are not speech to Silero: hand the fake each whole leg
        call_id = ingest_container(ak, path, spec, T0)
        with session_scope(ak.engine) as s:
            job = s.scalars(select(Job)).one()
            assert (job.kind, job.payload["call_id"]) == ("transcribe", call_id)
        model = FakeWhisper()
        res = analyze_call(ak, call_id, model=model)
        with session_scope(ak.engine) as s:
            call = s.get(Call, call_id)
            assert call is not None and call.analysis_state == "done"
            segs = list(s.scalars(select(TranscriptSegment).where(TranscriptSegment.call_id == call_id)))
    assert len(model.heard) == 2
    assert all(len(leg) == pytest.approx(2.0 * 16000, abs=800) for leg in model.heard)
    assert {g.channel for g in segs} == {"customer", "operator"}
    by_channel = {g.channel: g.start_s for g in segs}
    assert abs(by_channel["customer"] - CALLER_AT[0]) <= 0.04
    assert abs(by_channel["operator"] - HEARD_AT[0]) <= 0.04
    assert "customer" in {f.channel for f in res.findings if f.source == "lexicon"}


@pytest.mark.asr
@pytest.mark.slow
def test_whisper_transcribes_a_g722_call(
    sqlite_home: Path, tmp_path: Path, call_wav: Callable[[str], Path], whisper_model: Any
) -> None:
    """A scripted call sent as G.722 (encoded with PyAV) is transcribed like its G.711 original."""
    from akashi.analysis.audio import parse_wav, resample
    from akashi.codecs.container import write_container
    from akashi.jobs import JobQueue, run_one
    from tests.codecs.rtpaudio import encode, rtp

    src = parse_wav(call_wav("threat_sns").read_bytes())
    legs = []
    for ch in range(2):
        pcm16k = np.clip(resample(src.channel(ch), src.rate, 16000) * 32767, -32768, 32767).astype(np.int16)
        payloads = encode(G722, pcm16k)
        legs.append(
            [(T0.timestamp() + i * 0.02, rtp(9, i, i * 160, 0x42 + ch, p)) for i, p in enumerate(payloads)]
        )
    path = tmp_path / "call.akrtp"
    write_container(path, {"name": "G722", "payload_type": 9, "rate": 8000, "t0": T0.timestamp()}, *legs)
    with Akashi.open(sqlite_home) as ak:
        call_id = ingest_container(ak, path, G722, T0)
        assert run_one(ak, JobQueue(ak.engine), "test-worker", ["transcribe"])
        with session_scope(ak.engine) as s:
            call = s.get(Call, call_id)
            segs = list(s.scalars(select(TranscriptSegment).where(TranscriptSegment.call_id == call_id)))
    assert call is not None and call.analysis_state == "done"
    assert {g.channel for g in segs} == {"customer", "operator"}
    assert "SNS・ネット晒し" in call.flags
