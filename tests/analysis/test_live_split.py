"""Live first on the shared model: post-call batches run window by window always (a live batch waits for
one window, also the first one after a quiet minute), with the same segments as batched."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from akashi.analysis.audio import parse_wav, write_wav
from akashi.analysis.detect import Segment
from akashi.analysis.lexicon import load_lexicon
from akashi.analysis.live import _Gated, live_first
from akashi.analysis.pipeline import decode_options
from akashi.analysis.transcribe import transcribe_audio
from akashi.config.analysis import AnalysisSettings


class _Windows:
    """A stand-in for the CTranslate2 model: ``generate`` notes each window it is given (a batch of
    rows, as faster-whisper's batched pipeline passes them); the first window blocks."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.first_in = threading.Event()
        self.release_first = threading.Event()
        self.device = "cpu"

    def generate(self, features: Any, prompts: list[list[int]], **_kw: Any) -> list[str]:
        rows = np.asarray(features)
        assert len(rows) == len(prompts)
        if not self.order:
            self.first_in.set()
            assert self.release_first.wait(10)
        names = [f"{p[0]}-{int(r.flat[0])}" for r, p in zip(rows, prompts, strict=True)]
        self.order += names
        return names


def test_the_first_live_batch_after_a_quiet_spell_waits_for_one_post_call_window_not_the_batch() -> None:
    pytest.importorskip("ctranslate2")
    holder = type("WhisperModel", (), {})()
    inner = _Windows()
    holder.model = inner
    gate = live_first(holder)  # no live batch has ever run: nothing marks calls as live
    batch = np.arange(3, dtype=np.float32).reshape(3, 1)
    got: list[list[str]] = []
    post = threading.Thread(target=lambda: got.append(holder.model.generate(batch, [[7], [8], [9]])))
    post.start()
    assert inner.first_in.wait(10)  # the post-call batch is inside its first window

    waited: list[float] = []

    def live_batch() -> None:
        with gate.live() as w:
            waited.append(w)
            holder.model.generate(np.full((2, 1), 5, dtype=np.float32), [[1], [1]])  # whole

    live = threading.Thread(target=live_batch)
    live.start()
    deadline = threading.Event()
    while gate._live == 0:  # the live batch is waiting for the window in progress
        assert not deadline.wait(0.01) and live.is_alive()
    inner.release_first.set()
    post.join(10)
    live.join(10)
    assert inner.order == ["7-0", "1-5", "1-5", "8-1", "9-2"]
    assert got == [["7-0", "8-1", "9-2"]]  # the batch's results, in its order
    assert gate.yielded == 1
    assert waited[0] > 0  # it waited for the window in progress (what the live answers report)


class _Rows:
    """The real model, noting the rows (windows) of each heavy call."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.rows: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in ("encode", "generate", "align"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.rows.append((name, int(args[0].shape[0])))
            return attr(*args, **kwargs)

        return call


@pytest.mark.slow
def test_post_call_segments_are_the_same_split_window_by_window_as_batched(
    whisper_model: Any, call_wav: Callable[[str], Path]
) -> None:
    """Post-call analysis stays the source of record: splitting its batches changes nothing it finds."""
    calls = [parse_wav(call_wav(name).read_bytes()) for name in ("dogeza", "polite_refund", "threat_sns")]
    stereo = np.stack([np.concatenate([c.channel(k) for c in calls]) for k in (0, 1)], axis=1)
    audio = parse_wav(write_wav(stereo, calls[0].rate, "pcm16"))  # ~70 s: 2-3 windows a channel
    cfg = AnalysisSettings()
    opts = decode_options(cfg, load_lexicon())
    inner = whisper_model.model
    batched, split = _Rows(inner), _Rows(inner)
    try:
        whisper_model.model = batched  # a channel's windows as one batch, not shared out among workers
        whole, _ = transcribe_audio(whisper_model, audio, cfg.language, replace(opts, share_workers=False))
        gate = live_first(whisper_model)
        assert isinstance(whisper_model.model, _Gated)
        whisper_model.model = _Gated(split, gate)
        parts, _ = transcribe_audio(whisper_model, audio, cfg.language, opts)
    finally:
        whisper_model.model = inner  # the session's model, as other tests expect it
    assert max(n for _, n in batched.rows) > 1, batched.rows  # there were batches to split
    assert {n for _, n in split.rows} == {1}, split.rows
    assert len(split.rows) == sum(n for _, n in batched.rows)
    assert whole, "nothing recognised"
    # The same segments, words and times. A word's probability may differ in the last digits: CTranslate2's
    # CPU kernels round differently for a batch of one than for a batch of several (seen once, 0.86 vs 0.85).
    assert [_timed(s) for s in parts] == [_timed(s) for s in whole]
    for got, want in zip(_probabilities(parts), _probabilities(whole), strict=True):
        assert got == pytest.approx(want, abs=0.05)


def _timed(seg: Segment) -> tuple[object, ...]:
    return (seg.channel, seg.start_s, seg.end_s, seg.text, [(w.start_s, w.end_s, w.text) for w in seg.words])


def _probabilities(segs: list[Segment]) -> list[float]:
    return [w.probability for s in segs for w in s.words]
