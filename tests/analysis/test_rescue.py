"""Speech regions the recogniser left without a word get a second pass of their own (analysis.rescue).

The pure helpers are tested on known words and regions; the hooks in ``transcribe`` with a fake
recogniser that, like Whisper at the end of a well-filled window, writes nothing for the last region
of its first window.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from akashi.analysis import rescue, transcribe
from akashi.analysis.detect import Segment, Word
from akashi.analysis.packing import WHISPER_RATE
from akashi.analysis.rescue import Heard
from akashi.analysis.transcribe import DecodeOptions, transcribe_channel, transcribe_joint


def test_uncovered_regions_are_those_no_word_touches() -> None:
    regions = [(0.5, 2.0), (2.0, 3.0), (4.0, 5.0), (6.0, 7.5)]
    words = [Word(0.6, 1.0, "はい"), Word(2.0, 2.0, "え"), Word(6.1, 6.4, "もしもし")]
    # the zero-length word on the edge of two touching regions covers both: no second pass for either
    assert rescue.uncovered(regions, words) == [2]
    assert rescue.uncovered(regions, []) == [0, 1, 2, 3]
    assert rescue.uncovered([], words) == []


def test_unheard_and_merge_renumber_a_second_pass() -> None:
    heard: list[Heard] = [(0, 0.5, 1.0, "はい", 0.9), (2, 6.0, 6.5, "そう", 0.8)]
    assert rescue.unheard(4, heard) == [1, 3]
    again: list[Heard] = [(1, 9.0, 9.4, "ください", 0.7), (0, 3.0, 3.3, "おやめ", 0.6)]
    assert rescue.merge(heard, [1, 3], again) == [
        (0, 0.5, 1.0, "はい", 0.9),
        (1, 3.0, 3.3, "おやめ", 0.6),
        (2, 6.0, 6.5, "そう", 0.8),
        (3, 9.0, 9.4, "ください", 0.7),
    ]


def test_recover_runs_nothing_when_nothing_is_missing() -> None:
    def recognise(idx: Sequence[int]) -> list[Heard]:
        raise AssertionError("no second pass where every region got a word")

    assert rescue.recover([], recognise, "customer") == []


def test_recover_numbers_words_as_the_first_pass_and_logs_silent_regions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    asked: list[list[int]] = []

    def recognise(idx: Sequence[int]) -> list[Heard]:
        asked.append(list(idx))
        return [(0, 3.1, 3.5, "おやめ", 0.9), (0, 3.5, 3.9, "ください", 0.9)]  # the second one: a cough

    regions = [(0.0, 1.0), (1.5, 2.5), (3.0, 4.0), (5.0, 5.4)]
    with caplog.at_level(logging.DEBUG, logger="akashi.analysis.rescue"):
        got = rescue.recover([2, 3], recognise, "customer", regions)
    assert asked == [[2, 3]]
    assert got == [(2, 3.1, 3.5, "おやめ", 0.9), (2, 3.5, 3.9, "ください", 0.9)]
    (record,) = caplog.records
    assert record.levelno == logging.DEBUG and "customer" in record.message and "5.00-5.40s" in record.message


def _channel(*regions: tuple[float, float, int], length_s: float = 30.0) -> np.ndarray[Any, Any]:
    """A channel whose speech regions are runs of a constant value that names them (tag / 100)."""
    audio = np.zeros(int(length_s * WHISPER_RATE), dtype=np.float32)
    for a, b, tag in regions:
        audio[int(a * WHISPER_RATE) : int(b * WHISPER_RATE)] = tag / 100
    return audio


def _runs(audio: np.ndarray[Any, Any], start_s: float = 0.0) -> list[tuple[float, float, int]]:
    """(start, end, tag) of the non-silent runs of ``audio``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0.0], audio, [0.0]])) != 0)
    out = []
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        out.append((start_s + a / WHISPER_RATE, start_s + b / WHISPER_RATE, round(float(audio[a]) * 100)))
    return out


class FakeWhisper:
    """The batched pipeline's interface: one word per region (the region's tag), and nothing for the
    last region of its first window on the first call (as Whisper on the mono μ-law call)."""

    def __init__(self, stop_early: bool) -> None:
        self.stop_early = stop_early
        self.calls: list[list[int]] = []  # the tags each call was given

    def transcribe(self, audio: Any, *, clip_timestamps: list[dict[str, float]], **_kw: Any) -> Any:
        segs = []
        tags = []
        for n, clip in enumerate(clip_timestamps):
            s0 = int(clip["start"] * WHISPER_RATE)
            runs = _runs(audio[s0 : int(clip["end"] * WHISPER_RATE)], clip["start"])
            tags += [tag for _a, _b, tag in runs]
            if self.stop_early and not self.calls and n == 0:
                runs = runs[:-1]
            words = [
                SimpleNamespace(start=a, end=b, word=f"語{tag}。", probability=0.9) for a, b, tag in runs
            ]
            if words:
                segs.append(SimpleNamespace(start=words[0].start, end=words[-1].end, text="", words=words))
        self.calls.append(tags)
        return iter(segs), None


@pytest.fixture(autouse=True)
def _fake_vad(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        transcribe, "speech_regions", lambda audio, longest_s=30.0: [(a, b) for a, b, _t in _runs(audio)]
    )
    monkeypatch.setattr(transcribe, "_pipeline", lambda model: model)  # the fake is its own batched pipeline


@pytest.mark.parametrize("stop_early", [True, False])
def test_a_channel_region_left_without_words_is_recognised_again(stop_early: bool) -> None:
    audio = _channel((1.0, 3.0, 1), (4.0, 6.5, 2), (8.0, 9.5, 3), (20.0, 21.5, 4))
    fake = FakeWhisper(stop_early)
    segs = transcribe_channel(fake, audio, "mixed", "ja", DecodeOptions())
    assert [(s.start_s, s.end_s, s.text) for s in segs] == [
        (1.0, 3.0, "語1。"),
        (4.0, 6.5, "語2。"),
        (8.0, 9.5, "語3。"),
        (20.0, 21.5, "語4。"),
    ]
    # the second pass got the missing region alone; where nothing was missing there was none
    assert fake.calls == ([[1, 2, 3, 4], [4]] if stop_early else [[1, 2, 3, 4]])


@pytest.mark.parametrize("stop_early", [True, False])
def test_joint_regions_left_without_words_are_recognised_again(stop_early: bool) -> None:
    customer = _channel((1.0, 3.0, 1), (9.0, 12.0, 3))
    operator = _channel((4.0, 6.0, 2), (14.0, 16.0, 4))
    fake = FakeWhisper(stop_early)
    segs = transcribe_joint(fake, [("customer", customer), ("operator", operator)], "ja", DecodeOptions())
    got = sorted((s.start_s, s.channel, s.text) for s in segs)
    assert got == [
        (1.0, "customer", "語1。"),
        (4.0, "operator", "語2。"),
        (9.0, "customer", "語3。"),
        (14.0, "operator", "語4。"),
    ]
    assert fake.calls == ([[1, 2, 3, 4], [4]] if stop_early else [[1, 2, 3, 4]])


def test_repeated_regions_only_repeat_what_the_regions_just_before_them_hold() -> None:
    regions = [(0.0, 2.0), (3.0, 5.0), (6.0, 8.0), (9.0, 10.0), (11.0, 12.0)]
    words = [
        Word(0.1, 1.0, "対応が遅いんだよ、"),
        Word(1.0, 1.9, "訴えてやるからな。"),
        Word(3.1, 4.9, "訴えてやるからな"),  # all of it said in region 0: a repeat
        Word(6.1, 7.9, "訴えてやるからな、土下座しろ"),  # more than a repeat: new words
        Word(9.1, 9.9, "はい。"),
        Word(11.1, 11.9, "はい"),  # too short to tell a loop from a second はい
    ]
    assert rescue.repeated(regions, words) == [1]
    far = [(float(i), i + 0.5) for i in range(rescue.REPEAT_LOOKBACK + 2)]
    said = [Word(0.1, 0.4, "社長を出せと言っている")] + [
        Word(i + 0.1, i + 0.4, f"別の話{i}です") for i in range(1, rescue.REPEAT_LOOKBACK + 1)
    ]
    # said again further back than the lookback: not a loop of the window
    assert (
        rescue.repeated(far, [*said, Word(far[-1][0] + 0.1, far[-1][0] + 0.4, "社長を出せと言っている")])
        == []
    )


def test_a_repeat_heard_again_is_replaced_and_kept_where_the_second_pass_hears_nothing() -> None:
    regions = [(0.0, 2.0), (3.0, 5.0), (6.0, 8.0)]
    first = [
        Word(0.1, 1.9, "お前の名前を晒すぞ"),
        Word(3.1, 4.9, "お前の名前を晒すぞ"),
        Word(6.1, 7.9, "ご返金を"),
    ]
    asked: list[list[int]] = []

    def recognise(idx: Sequence[int]) -> list[Heard]:
        asked.append(list(idx))
        return [(0, 3.2, 4.8, "電話を切るなよ", 0.8)]

    got = rescue.rehear(regions, first, recognise, "customer")
    assert asked == [[1]]
    assert sorted((w.start_s, w.text) for w in got) == [
        (0.1, "お前の名前を晒すぞ"),
        (3.2, "電話を切るなよ"),
        (6.1, "ご返金を"),
    ]
    # the second pass hears nothing there: the first pass's words stay (better said twice than lost)
    assert rescue.rehear(regions, first, lambda idx: [], "customer") == first
    # it hears much the same words again: said twice, and the first pass's words stay
    again: list[Heard] = [(0, 3.2, 4.8, "お前の名前をさらすぞ", 0.6)]
    assert rescue.rehear(regions, first, lambda idx: again, "customer") == first
    # without the check (the operator's channel) a repeat is not heard again
    assert rescue.rehear(regions, first, recognise, "operator", repeats=False) == first
    assert asked == [[1]]


SAID = {"語1。": "対応が遅いんだよ。", "語2。": "電話を切るなよ。", "語3。": "納得するまで話すぞ。"}


class SayingWhisper(FakeWhisper):
    """Writes each region's sentence (:data:`SAID`); :meth:`alter` changes a window's words on its first call."""

    def transcribe(self, audio: Any, *, clip_timestamps: list[dict[str, float]], **_kw: Any) -> Any:
        first = not self.calls
        segs, _info = super().transcribe(audio, clip_timestamps=clip_timestamps)
        out = []
        for n, seg in enumerate(segs):
            words = [
                SimpleNamespace(start=w.start, end=w.end, word=SAID[w.word], probability=0.9)
                for w in seg.words
            ]
            if first:
                words = self.alter(n, words, clip_timestamps)
            out.append(SimpleNamespace(start=seg.start, end=seg.end, text="", words=words))
        return iter(out), None

    def alter(self, window: int, words: list[Any], clips: list[dict[str, float]]) -> list[Any]:
        return words


def _three_sentences(fake: SayingWhisper, channel: str) -> list[Segment]:
    """``channel`` transcribed by ``fake`` from three speech regions, whose sentences are :data:`SAID`."""
    return transcribe_channel(
        fake, _channel((1.0, 3.0, 1), (4.0, 6.5, 2), (8.0, 9.5, 3)), channel, "ja", DecodeOptions()
    )


class LoopingWhisper(SayingWhisper):
    """On its first call writes the first region's sentence again for the second region of the first window
    (a loop of the window), as Whisper did on joined calls."""

    def alter(self, window: int, words: list[Any], clips: list[dict[str, float]]) -> list[Any]:
        if len(words) > 1:
            words[1].word = words[0].word
        return words


@pytest.mark.parametrize("channel", ["customer", "operator"])
def test_a_customer_region_that_repeats_the_one_before_is_heard_again(channel: str) -> None:
    fake = LoopingWhisper(stop_early=False)
    segs = _three_sentences(fake, channel)
    texts = [s.text for s in segs]
    if channel == "customer":
        assert texts == ["対応が遅いんだよ。", "電話を切るなよ。", "納得するまで話すぞ。"]
        assert fake.calls == [[1, 2, 3], [2]]
    else:  # the operator's channel is not checked for repeats
        assert texts == ["対応が遅いんだよ。", "対応が遅いんだよ。", "納得するまで話すぞ。"]
        assert fake.calls == [[1, 2, 3]]


class EchoingWhisper(SayingWhisper):
    """At the end of its first window, on its first call, writes the window's sentences once more with no
    time of their own (0 s long, at the window's end: in the silence after the last region), as Whisper did
    on a caller who said the same lines twice."""

    def alter(self, window: int, words: list[Any], clips: list[dict[str, float]]) -> list[Any]:
        if window == 0:
            end = clips[0]["end"]
            words += [SimpleNamespace(start=end, end=end, word=w.word, probability=1.0) for w in list(words)]
        return words


@pytest.mark.parametrize("channel", ["customer", "operator"])
def test_sentences_written_after_the_last_speech_of_a_window_are_not_kept(channel: str) -> None:
    fake = EchoingWhisper(stop_early=False)
    segs = _three_sentences(fake, channel)
    # nothing put onto the end of the last region: each sentence once, at the time it was said
    assert [(s.start_s, s.end_s, s.text) for s in segs] == [
        (1.0, 3.0, "対応が遅いんだよ。"),
        (4.0, 6.5, "電話を切るなよ。"),
        (8.0, 9.5, "納得するまで話すぞ。"),
    ]
    assert fake.calls == [[1, 2, 3]]  # every region kept its word: no second pass


class WindowedWhisper(FakeWhisper):
    """Records which regions each window of its calls held."""

    def __init__(self) -> None:
        super().__init__(stop_early=False)
        self.windows: list[list[int]] = []

    def transcribe(self, audio: Any, *, clip_timestamps: list[dict[str, float]], **kw: Any) -> Any:
        for clip in clip_timestamps:
            s0 = int(clip["start"] * WHISPER_RATE)
            self.windows.append([tag for _a, _b, tag in _runs(audio[s0 : int(clip["end"] * WHISPER_RATE)])])
        return super().transcribe(audio, clip_timestamps=clip_timestamps, **kw)


@pytest.mark.parametrize("channel", ["customer", "operator"])
def test_a_long_calls_customer_speech_is_heard_in_shorter_windows(channel: str) -> None:
    # 8 regions of 3 s: 32 s packed with the silences, more than one 30 s window
    audio = _channel(*[(1.0 + 5 * i, 4.0 + 5 * i, i + 1) for i in range(8)], length_s=45.0)
    fake = WindowedWhisper()
    segs = transcribe_channel(fake, audio, channel, "ja", DecodeOptions(customer_window_s=15.0))
    assert [s.text for s in segs] == [f"語{i + 1}。" for i in range(8)]
    if channel == "customer":  # windows of at most 15 s: 3 regions (4 s each with its silence) a window
        assert fake.windows == [[1, 2, 3], [4, 5, 6], [7, 8]]
    else:
        assert fake.windows == [[1, 2, 3, 4, 5, 6, 7], [8]]


def test_a_short_calls_customer_speech_stays_in_one_window() -> None:
    audio = _channel(*[(1.0 + 5 * i, 4.0 + 5 * i, i + 1) for i in range(5)])  # 20 s packed
    fake = WindowedWhisper()
    transcribe_channel(fake, audio, "customer", "ja", DecodeOptions(customer_window_s=15.0))
    assert fake.windows == [[1, 2, 3, 4, 5]]


class TwoWorkerWhisper(WindowedWhisper):
    """A model with two workers (``model.num_workers``) whose first two calls must overlap in time."""

    def __init__(self) -> None:
        super().__init__()
        self.model = SimpleNamespace(num_workers=2)
        self.together = threading.Barrier(2, timeout=10)
        self.lock = threading.Lock()

    def transcribe(self, audio: Any, *, clip_timestamps: list[dict[str, float]], **kw: Any) -> Any:
        with self.lock:
            first_two = len(self.calls) < 2
            got = super().transcribe(audio, clip_timestamps=clip_timestamps, **kw)
        if first_two:
            self.together.wait()  # raises BrokenBarrierError unless another call is in progress
        return got


def test_a_long_channels_windows_are_shared_out_among_the_models_workers() -> None:
    audio = _channel(*[(1.0 + 5 * i, 4.0 + 5 * i, i + 1) for i in range(8)], length_s=45.0)
    shared = TwoWorkerWhisper()
    segs = transcribe_channel(shared, audio, "customer", "ja", DecodeOptions(customer_window_s=15.0))
    # three 15 s windows, one a turn, two at a time; the segments in window order
    assert sorted(shared.calls) == [[1, 2, 3], [4, 5, 6], [7, 8]]
    alone = WindowedWhisper()
    opts = DecodeOptions(customer_window_s=15.0, share_workers=False)
    assert segs == transcribe_channel(alone, audio, "customer", "ja", opts)
    assert alone.calls == [[1, 2, 3, 4, 5, 6, 7, 8]]  # one call for all three windows


def test_a_short_channels_one_window_is_one_call_on_a_model_with_workers() -> None:
    audio = _channel(*[(1.0 + 5 * i, 4.0 + 5 * i, i + 1) for i in range(5)])
    fake = TwoWorkerWhisper()
    fake.together = threading.Barrier(1)  # nothing to wait for
    transcribe_channel(fake, audio, "customer", "ja", DecodeOptions(customer_window_s=15.0))
    assert fake.calls == [[1, 2, 3, 4, 5]]


def test_piles_of_words_given_no_time_are_left_out(caplog: pytest.LogCaptureFixture) -> None:
    words = [
        Word(1.0, 1.4, "電話を"),
        Word(1.4, 1.4, "え"),  # one word of no length (an aligner's rounding) stays
        Word(1.5, 1.9, "切るなよ"),
        # the call before's threat, every word at one instant
        *(Word(8.75, 8.75, t) for t in ("訴え", "て", "やる", "から", "な。")),
        Word(8.75, 9.3, "話を"),
        Word(12.0, 12.0, "はい"),
        Word(12.0, 12.0, "。"),  # a short pile: fewer than six letters
    ]
    with caplog.at_level("DEBUG", logger="akashi.analysis.rescue"):
        kept = rescue.unpiled(words, "customer")
    assert [w.text for w in kept] == ["電話を", "え", "切るなよ", "話を", "はい", "。"]
    assert "customer: 5 words given no time at 8.75s left out: 訴えてやるからな。" in caplog.text


class PilingWhisper(SayingWhisper):
    """On its first call writes the first region's sentence again for the second region, every word at the
    second region's start (no time of its own), as Whisper and its aligner did on joined calls."""

    def alter(self, window: int, words: list[Any], clips: list[dict[str, float]]) -> list[Any]:
        if len(words) > 1:
            at = words[1].start
            words[1:2] = [
                SimpleNamespace(start=at, end=at, word=part, probability=0.9)
                for part in ("対応", "が", "遅い", "んだ", "よ。")
            ]
        return words


def test_a_region_whose_words_were_given_no_time_is_heard_again() -> None:
    fake = PilingWhisper(stop_early=False)
    segs = _three_sentences(fake, "operator")
    assert [(s.start_s, s.text) for s in segs] == [
        (1.0, "対応が遅いんだよ。"),
        (4.0, "電話を切るなよ。"),
        (8.0, "納得するまで話すぞ。"),
    ]
    assert fake.calls == [[1, 2, 3], [2]]
