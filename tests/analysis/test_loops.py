"""Decoding loops: Whisper on noisy speech may write one phrase or one kana over and over to the end of
its window (seen on a generated polite call: 「責任者の想像をお話し」 three times, then し 140 times)."""

from __future__ import annotations

from akashi.analysis.detect import Segment, Word
from akashi.analysis.transcribe import drop_loops


def _seg(channel: str, start: float, chars: str) -> Segment:
    words = tuple(Word(start + i * 0.1, start + i * 0.1 + 0.1, c) for i, c in enumerate(chars))
    return Segment(channel, start, start + len(chars) * 0.1, chars, words)


def test_a_kana_said_over_and_over_is_kept_three_times() -> None:
    (seg,) = drop_loops([_seg("customer", 0.0, "お話し" + "し" * 140)])
    assert seg.text == "お話ししし"
    assert seg.end_s == seg.words[-1].end_s


def test_a_phrase_repeated_across_utterances_is_kept_three_times() -> None:
    phrase = "責任者を出せ"
    segs = [_seg("customer", 10.0 * i, phrase) for i in range(5)] + [_seg("operator", 1.0, phrase * 5)]
    out = drop_loops(segs)
    assert "".join(s.text for s in out if s.channel == "customer") == phrase * 3
    assert [s.text for s in out if s.channel == "operator"] == [phrase * 3]  # channels apart


def test_ordinary_speech_and_segments_without_words_are_unchanged() -> None:
    segs = [
        _seg("customer", 0.0, "はいはいはい、分かりました"),
        _seg("customer", 5.0, "もしもし、聞こえますか"),
        Segment("customer", 9.0, 10.0, "ししししししし"),  # no word times: left as it is
    ]
    assert drop_loops(segs) == segs
