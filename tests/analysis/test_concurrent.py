"""Analysis workers share one model: each thread has its own batched pipeline, and calls recognised side by
side come out as they do one at a time (``akashi transcriber --workers N``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from akashi.analysis import transcribe
from akashi.analysis.audio import WavAudio, parse_wav
from akashi.analysis.detect import Segment
from akashi.analysis.lexicon import load_lexicon
from akashi.analysis.pipeline import decode_options
from akashi.analysis.transcribe import DecodeOptions
from akashi.config.analysis import AnalysisSettings


def test_each_thread_gets_its_own_pipeline_on_a_shared_model() -> None:
    pytest.importorskip("faster_whisper")
    model, other = SimpleNamespace(), SimpleNamespace()
    mine = transcribe._pipeline(model)
    assert transcribe._pipeline(model) is mine and mine.model is model  # kept for this thread's next call
    assert transcribe._pipeline(other) is not mine
    theirs: list[Any] = []
    worker = threading.Thread(target=lambda: theirs.append(transcribe._pipeline(model)))
    worker.start()
    worker.join()
    assert theirs[0] is not mine and theirs[0].model is model


def test_a_calls_channels_are_recognised_at_once_when_the_model_has_two_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    met = threading.Barrier(2, timeout=10)
    ran_in: list[int] = []

    def channel(model: Any, audio: Any, name: str, language: str, opts: Any) -> list[Segment]:
        ran_in.append(threading.get_ident())
        if model.model.num_workers == 2:
            met.wait()  # each channel waits for the other: one after the other would break the barrier
        return [Segment(name, 1.0 if name == "customer" else 2.0, 3.0, name)]

    monkeypatch.setattr(transcribe, "transcribe_channel", channel)
    audio = WavAudio(rate=8000, samples=np.full((8000, 2), 0.5, dtype=np.float32), codec="pcm_s16le")
    two = SimpleNamespace(model=SimpleNamespace(num_workers=2))
    segments, _stats = transcribe.transcribe_audio(two, audio, "ja", DecodeOptions())
    assert [s.channel for s in segments] == ["customer", "operator"]
    ran_in.clear()
    one = SimpleNamespace(model=SimpleNamespace(num_workers=1))
    transcribe.transcribe_audio(one, audio, "ja", DecodeOptions())
    assert ran_in == [threading.get_ident()] * 2  # one worker: here, one channel after the other


@pytest.mark.asr
@pytest.mark.tts
@pytest.mark.usefixtures("whisper_model")  # the bundled model is there (or the peer is missing, loudly)
def test_calls_and_channels_side_by_side_match_one_at_a_time(call_wav: Callable[[str], Path]) -> None:
    """A model with two workers behind the transcriber's live gate, as ``analysis.workers = 2`` runs it: each
    call's two channels are recognised at once, and so are two calls; the words and times are those of one
    worker doing one channel after the other."""
    from akashi.analysis.live import live_first
    from akashi.analysis.model import load_model

    one, two = load_model(AnalysisSettings(workers=1)), load_model(AnalysisSettings(workers=2))
    assert one.model.num_workers == 1
    assert two.model.num_workers == 2 and live_first(two).slots == 2
    opts = decode_options(AnalysisSettings(), load_lexicon())
    calls = [parse_wav(call_wav(name).read_bytes()) for name in ("threat_sns", "polite_refund")]

    def timed(model: Any, audio: Any) -> list[tuple[str, float, float, str, list[tuple[float, float]]]]:
        segments, _stats = transcribe.transcribe_audio(model, audio, "ja", opts)
        return [
            (s.channel, s.start_s, s.end_s, s.text, [(w.start_s, w.end_s) for w in s.words]) for s in segments
        ]

    alone = [timed(one, a) for a in calls]
    assert {seg[0] for seg in alone[0]} == {"customer", "operator"}
    assert [timed(two, a) for a in calls] == alone  # a call's channels side by side
    with ThreadPoolExecutor(2) as pool:
        side_by_side = list(pool.map(lambda a: timed(two, a), calls * 2))
    assert side_by_side == alone * 2  # and two calls at once


@pytest.mark.asr
@pytest.mark.usefixtures("whisper_model")
def test_the_transcribers_jobs_get_its_gated_model(sqlite_home: Path) -> None:
    """``akashi transcriber --workers 3``: the jobs load the model from the settings as the transcriber did, so
    they get its model (three workers, behind the live gate), not a second one of their own that the gate
    never sees (bench/live.py showed live batches never waiting and post-call jobs queued behind each other)."""
    from akashi.analysis.live import _Gated
    from akashi.analysis.model import load_model
    from akashi.analysis.pipeline import model_cache
    from akashi.analysis.worker import run_transcriber
    from akashi.context import Akashi

    stop = threading.Event()
    with Akashi.open(sqlite_home) as ak:
        runner = threading.Thread(target=run_transcriber, args=(ak, 3, stop), daemon=True)
        runner.start()
        try:
            sock = sqlite_home / "run" / "live.sock"
            for _ in range(600):  # listening once the model is loaded and gated
                if sock.exists():
                    break
                stop.wait(0.05)
            cfg = ak.settings.analysis
            jobs_model = load_model(cfg, model_cache(cfg), online=cfg.online)  # as the analysis job does
            assert isinstance(jobs_model.model, _Gated) and jobs_model.model.gate.slots == 3
            assert jobs_model.model.num_workers == 3
        finally:
            stop.set()
            runner.join(30)
