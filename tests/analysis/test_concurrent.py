"""Analysis workers share one model: each thread has its own batched pipeline, and calls recognised side by
side come out as they do one at a time (``akashi transcriber --workers N``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from akashi.analysis import transcribe
from akashi.analysis.audio import parse_wav
from akashi.analysis.lexicon import load_lexicon
from akashi.analysis.pipeline import decode_options
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


@pytest.mark.asr
@pytest.mark.tts
@pytest.mark.usefixtures("whisper_model")  # the bundled model is there (or the peer is missing, loudly)
def test_calls_recognised_side_by_side_match_one_at_a_time(call_wav: Callable[[str], Path]) -> None:
    """On a model with two workers behind the transcriber's live gate, as ``analysis.workers = 2`` runs."""
    from akashi.analysis.live import live_first
    from akashi.analysis.model import load_model

    two = load_model(AnalysisSettings(), workers=2)
    assert two.model.num_workers == 2 and live_first(two).slots == 2
    opts = decode_options(AnalysisSettings(), load_lexicon())
    calls = [parse_wav(call_wav(name).read_bytes()) for name in ("threat_sns", "polite_refund")]

    def timed(audio: Any) -> list[tuple[str, float, float, str, list[tuple[float, float]]]]:
        segments, _stats = transcribe.transcribe_audio(two, audio, "ja", opts)
        return [
            (s.channel, s.start_s, s.end_s, s.text, [(w.start_s, w.end_s) for w in s.words]) for s in segments
        ]

    alone = [timed(a) for a in calls]
    with ThreadPoolExecutor(2) as pool:
        side_by_side = list(pool.map(timed, calls * 2))
    assert side_by_side == alone * 2
