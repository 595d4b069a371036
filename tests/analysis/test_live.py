"""Live detection in the transcriber: the verdict per utterance, packing, and the socket endpoint with
the bundled model fed by the relay's tap (TTS speech, no SIP)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from akashi.analysis.audio import parse_wav
from akashi.analysis.lexicon import load_lexicon
from akashi.analysis.live import LiveRecogniser, LiveServer, judge, one_window, pack
from akashi.config.analysis import AnalysisSettings
from akashi.telephony.livetap import RATE, LiveTap


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("謝って済むと思うなよ。今すぐ土下座しろ。", "severe"),
        ("お前の名前をネットに晒すぞ。", "severe"),
        ("ふざけるな。", "severe"),
        ("お前じゃ話にならない。責任者を出せ。", "notice"),
        ("届いた商品が壊れていました。返金していただけますか。", ""),
        ("先日の対応について、責任者の方とお話しできますでしょうか。", ""),
        ("送料の返金は可能でしょうか。ご検討いただけると助かります。", ""),
    ],
)
def test_the_verdict_of_one_utterance(text: str, severity: str) -> None:
    assert judge(text, load_lexicon()).severity == severity


def test_packing_keeps_utterances_whole_within_30_s_windows() -> None:
    clips = [np.ones(16000 * s, dtype=np.float32) for s in (5, 12, 10, 3, 40)]
    audio, starts, windows = pack(clips)
    assert starts == [0.0, 6.0, 19.0, 30.0, 34.0]
    assert windows == [
        {"start": 0.0, "end": 30.0},  # 5 + 1 + 12 + 1 + 10 + 1 s fill the first window exactly
        {"start": 30.0, "end": 34.0},
        {"start": 34.0, "end": 64.0},  # a 40 s utterance alone, cut at 30 s
    ]
    assert len(audio) == 16000 * 75


def customer_pcm(wav: Path) -> bytes:
    """The customer (left) channel of a test call as 8 kHz 16-bit PCM."""
    audio = parse_wav(wav.read_bytes())
    assert audio.rate == RATE
    return (np.clip(audio.channel(0), -1, 1) * 32767).astype("<i2").tobytes()


async def feed(tap: LiveTap, call_id: str, pcm: bytes, t0: float) -> None:
    """Stream PCM into the tap in 20 ms packets (faster than real time: the tap sees only ``t``)."""
    for i in range(0, len(pcm), 320):
        tap.audio(call_id, "customer", pcm[i : i + 320], t0 + (i + 320) / 2 / RATE)
        if i % (320 * 50) == 0:
            await asyncio.sleep(0)
    tap.end(call_id)


@pytest.mark.slow
async def test_abuse_streamed_through_the_tap_is_flagged_severe_and_a_polite_complaint_is_not(
    tmp_path: Path, whisper_model: Any, call_wav: Callable[[str], Path]
) -> None:
    cfg = AnalysisSettings()
    server = LiveServer(tmp_path / "run" / "live.sock", LiveRecogniser(whisper_model, load_lexicon(), cfg))
    stop_server = threading.Event()
    thread = threading.Thread(target=server.serve, args=(stop_server,), daemon=True)
    thread.start()
    assert server.ready.wait(30)
    results: list[dict[str, Any]] = []
    flags: list[tuple[str, str, str, float]] = []
    answered = asyncio.Event()
    expected = 1 << 30  # known once both calls are fed

    def on_result(head: dict[str, Any]) -> None:
        results.append(head)
        if len(results) >= expected:
            answered.set()

    tap = LiveTap(server.path, lambda *a: flags.append(a), on_result=on_result)
    stop = asyncio.Event()
    task = asyncio.create_task(tap.run(stop))
    try:
        await asyncio.wait_for(tap.connected.wait(), 10)
        await feed(tap, "abuse", customer_pcm(call_wav("dogeza")), 1000.0)
        await feed(tap, "polite", customer_pcm(call_wav("polite_refund")), 2000.0)
        expected = tap.stats.utterances
        assert expected >= 4  # two customer turns per call
        if len(results) < expected:
            await asyncio.wait_for(answered.wait(), 120)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        stop_server.set()
        thread.join(10)
    assert tap.stats.dropped_full == 0
    severe = [f for f in flags if f[1] == "severe"]
    assert {f[0] for f in severe} == {"abuse"}, results
    assert not [f for f in flags if f[0] == "polite"], results
    # the flag carries the words and the time the utterance ended on the call's (wall) clock
    assert any("土下座" in f[2] or "どげざ" in f[2] or "ふざけ" in f[2] for f in severe), severe
    assert all(1000.0 < f[3] < 1100.0 for f in severe)


def test_a_batch_is_what_fits_one_window() -> None:
    assert one_window([3.0] * 10) == 7  # 7 x (3 + 1) = 28 s
    assert one_window([40.0, 2.0]) == 1  # a long one alone
    assert one_window([]) == 0


class _Model:
    """A stand-in for the CTranslate2 model: each ``generate`` notes its name; the first one blocks."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.first_in = threading.Event()
        self.release_first = threading.Event()
        self.device = "cpu"

    def generate(self, name: str) -> str:
        if not self.order:
            self.first_in.set()
            assert self.release_first.wait(10)
        self.order.append(name)
        return name


def test_live_batches_go_before_post_call_model_calls() -> None:
    """A post-call job's next window waits for a live batch that came while its current one ran."""
    from akashi.analysis.live import live_first

    holder = type("WhisperModel", (), {})()
    inner = _Model()
    holder.model = inner
    gate = live_first(holder)
    assert live_first(holder) is gate  # idempotent: one gate per model
    assert holder.model.device == "cpu"  # other attributes pass through
    post = threading.Thread(target=lambda: [holder.model.generate(n) for n in ("post-1", "post-2")])
    post.start()
    assert inner.first_in.wait(10)  # the post-call job is inside its first window

    def live_batch() -> None:
        with gate.live():
            holder.model.generate("live")

    live = threading.Thread(target=live_batch)
    live.start()
    deadline = threading.Event()
    while gate._live == 0:  # the live batch is waiting for the model call in progress
        assert not deadline.wait(0.01) and live.is_alive()
    inner.release_first.set()
    post.join(10)
    live.join(10)
    assert inner.order == ["post-1", "live", "post-2"]
    assert gate.yielded == 1


class _StopsEarly:
    """The batched pipeline's interface: on its first call it writes nothing for the last utterance (as
    Whisper at the end of a well-filled window); every call's prompt is kept."""

    def __init__(self) -> None:
        self.prompts: list[str | None] = []

    def transcribe(self, audio: Any, *, initial_prompt: str | None, clip_timestamps: Any, **_kw: Any) -> Any:
        from types import SimpleNamespace

        self.prompts.append(initial_prompt)
        loud = np.flatnonzero(np.abs(audio) > 0.01) / 16000
        # one word per loud run (the packer leaves a gap of silence after each utterance)
        runs = np.split(loud, np.flatnonzero(np.diff(loud) > 0.1) + 1) if len(loud) else []
        if len(self.prompts) == 1:
            runs = runs[:-1]
        words = [SimpleNamespace(start=r[0], end=r[-1], word=f"語{i}") for i, r in enumerate(runs)]
        return [SimpleNamespace(words=words, text="".join(w.word for w in words))], None


def test_post_call_jobs_run_side_by_side_on_a_model_with_two_workers_and_live_still_goes_first() -> None:
    """Two post-call model calls run at once on a two-worker model; a third waits, and so does a live batch,
    which then runs before any post-call call that came after it."""
    from akashi.analysis.live import LiveFirst, live_first

    holder = type("WhisperModel", (), {})()
    holder.model = type("Whisper", (), {"num_workers": 2})()
    assert live_first(holder).slots == 2  # one post-call slot per model worker
    gate = LiveFirst(slots=2)
    inside, release, order = threading.Semaphore(0), threading.Event(), []

    def post(name: str) -> None:
        with gate.step():
            order.append(name)
            inside.release()
            assert release.wait(10)

    first = [threading.Thread(target=post, args=(n,)) for n in ("post-1", "post-2")]
    for t in first:
        t.start()
    assert inside.acquire(timeout=10) and inside.acquire(timeout=10)  # both inside at once
    third = threading.Thread(target=post, args=("post-3",))
    third.start()

    def live_batch() -> None:
        with gate.live():
            order.append("live")

    live = threading.Thread(target=live_batch)
    live.start()
    waiting = threading.Event()
    while gate._live == 0:
        assert not waiting.wait(0.01) and live.is_alive()
    assert order == ["post-1", "post-2"]  # the third and the live batch wait for a free slot
    release.set()
    for t in (*first, third, live):
        t.join(10)
    assert order == ["post-1", "post-2", "live", "post-3"]


def test_utterances_left_without_words_are_heard_again_without_the_lexicon_prompt() -> None:
    """The second pass over what the first left empty goes without the prompt: padded-out windows are
    mostly silence, where a prompt makes Whisper write its abuse words and alert the board."""
    rec = LiveRecogniser(object(), load_lexicon(), AnalysisSettings(prompt_lexicon=True))
    assert rec.prompt  # the first pass is prompted
    fake = _StopsEarly()
    rec.pipeline = fake
    tone = (np.sin(np.arange(8000) / 3) * 8000).astype("<i2").tobytes()  # 1 s of loud speech stand-in
    assert rec.texts([tone, tone, tone]) == ["語0", "語1", "語0"]
    assert fake.prompts == [rec.prompt, None]
