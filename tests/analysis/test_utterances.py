"""Transcripts as timed utterances: one segment per utterance on the call's timeline, flags timed by
their words.

The unit tests feed known words and regions; the recogniser tests (markers ``asr``/``tts``) run the
bundled Whisper on generated calls whose turn times are known from the script.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from akashi.analysis.audio import parse_wav, write_wav
from akashi.analysis.detect import Segment, Word, lexicon_findings
from akashi.analysis.lexicon import load_lexicon
from akashi.analysis.packing import SILENT_WORD_S, WHISPER_RATE, heard_in_speech, pack, unpack
from akashi.analysis.pipeline import analyze_call
from akashi.analysis.transcribe import utterances
from akashi.calloutcome import CallOutcome
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import CallFlag, TranscriptSegment
from akashi.ingest import ingest_call

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def _words(*spec: tuple[float, float, str]) -> list[Word]:
    return [Word(a, b, t) for a, b, t in spec]


def test_words_are_cut_at_regions_and_sentence_ends() -> None:
    words = _words(
        (1.0, 1.4, "対応が"),
        (1.4, 2.0, "遅い。"),
        (2.3, 3.0, "訴えて"),
        (3.0, 3.5, "やる"),
        (7.9, 8.4, "晒す"),  # starts before its region (a recogniser's early edge): clamped to it
        (8.4, 8.8, "ぞ"),
    )
    segs = utterances(words, [(0.8, 3.7), (8.0, 9.0)], "customer")
    assert [(g.start_s, g.end_s, g.text) for g in segs] == [
        (1.0, 2.0, "対応が遅い。"),
        (2.3, 3.5, "訴えてやる"),
        (8.0, 8.8, "晒すぞ"),
    ]
    assert all(g.channel == "customer" and g.words for g in segs)
    # Without VAD regions a pause splits.
    gaps = utterances(_words((0.0, 0.5, "はい"), (2.0, 2.5, "いいえ")), [], "operator")
    assert [g.text for g in gaps] == ["はい", "いいえ"]


def test_packing_maps_every_time_back_to_the_call() -> None:
    audio = np.zeros(20 * WHISPER_RATE, dtype=np.float32)
    regions = [(1.0, 3.0), (10.0, 10.5), (15.0, 19.0)]
    packed = pack(audio, regions)
    # Each region is followed by a silence in the packed audio; packed time maps back exactly.
    assert len(packed.audio) > sum(int((b - a) * WHISPER_RATE) for a, b in regions)
    for (p, c, n), (a, b) in zip(packed.spans, regions, strict=True):
        assert (c, n) == pytest.approx((a, b - a))
        assert unpack(p + 0.2, p + 0.4, packed.spans) == pytest.approx((a + 0.2, a + 0.4))
    # A word the recogniser put in a gap belongs to the nearer region, never to the silence.
    p1, _, n1 = packed.spans[1]
    assert unpack(p1 + n1 + 0.05, p1 + n1 + 0.1, packed.spans) == pytest.approx((10.5, 10.5))
    # Windows of at most 30 s that hold whole regions.
    assert all(c["end"] - c["start"] <= 30.0 + 1.0 for c in packed.clips)


def test_words_written_in_the_silence_of_the_packing_are_left_out(caplog: pytest.LogCaptureFixture) -> None:
    audio = np.zeros(20 * WHISPER_RATE, dtype=np.float32)
    packed = pack(audio, [(1.0, 3.0), (10.0, 10.5)])
    (p0, _, n0), (p1, _, n1) = packed.spans
    raw = [
        (p0 + 0.1, p0 + 0.5, "対応が", 0.9),
        (p0 + n0 + 0.3, p0 + n0 + 0.6, "遅い", 0.8),  # timing drift into the gap: the nearer region's
        (p1, p1 + 0.4, "はい", 0.9),
        # a loop written after the last speech of the window, at the end of its silence and past it
        (p1 + n1 + SILENT_WORD_S + 0.1, p1 + n1 + SILENT_WORD_S + 0.1, "晒す", 1.0),
        (p1 + n1 + 1.5, p1 + n1 + 1.5, "ぞ。", 1.0),
    ]
    with caplog.at_level("DEBUG", logger="akashi.analysis.packing"):
        kept = heard_in_speech(raw, packed.spans, "customer")
    assert [(i, text) for i, _a, _b, text, _p in kept] == [(0, "対応が"), (0, "遅い"), (1, "はい")]
    assert kept[1][1:3] == pytest.approx((3.0, 3.0))  # clamped onto its region's end
    assert "customer: 2 words written in the silence" in caplog.text and "晒すぞ。" in caplog.text


def test_many_regions_fill_several_windows() -> None:
    audio = np.zeros(200 * WHISPER_RATE, dtype=np.float32)
    regions = [(i * 5.0, i * 5.0 + 3.0) for i in range(30)]
    packed = pack(audio, regions)
    assert len(packed.clips) > 1
    starts = {round(p, 3) for p, _, _ in packed.spans}
    assert all(round(c["start"], 3) in starts for c in packed.clips)  # no region is cut by a window
    assert all(c["end"] - c["start"] <= 30.0 for c in packed.clips)


def test_a_flag_is_timed_by_its_words_not_its_utterance() -> None:
    seg = Segment(
        "customer",
        10.0,
        14.0,
        "対応が遅いんだよ。ネットに晒すぞ",
        tuple(
            _words(
                (10.0, 10.5, "対応"),
                (10.5, 10.7, "が"),
                (10.7, 11.2, "遅い"),
                (11.2, 11.6, "んだよ。"),
                (12.4, 12.8, "ネット"),
                (12.8, 12.9, "に"),
                (12.9, 13.5, "晒す"),
                (13.5, 14.0, "ぞ"),
            )
        ),
    )
    (sns,) = [f for f in lexicon_findings([seg], load_lexicon(None), ("customer",)) if "晒" in f.words]
    assert (sns.start_s, sns.end_s) == (12.4, 13.5)
    assert sns.detail["time_of"] == "words" and sns.detail["utterance_s"] == [10.0, 14.0]
    # An older transcript without word times keeps the utterance's time, and says so.
    old = Segment("customer", 10.0, 14.0, seg.text)
    (flag,) = [f for f in lexicon_findings([old], load_lexicon(None), ("customer",)) if "晒" in f.words]
    assert (flag.start_s, flag.end_s, flag.detail["time_of"]) == (10.0, 14.0, "utterance")


def test_word_times_are_stored_and_reused(sqlite_home: Path, tmp_path: Path) -> None:
    wav = tmp_path / "c.wav"
    wav.write_bytes(write_wav(np.zeros((8000 * 6, 2), dtype=np.float32), 8000, "pcmu"))
    with Akashi.open(sqlite_home) as ak:
        rec = CallOutcome(started_at=T0, direction="in", caller="0312345678", source="import")
        call_id = ingest_call(ak, wav, rec, transcribe=False)
        words = [Word(2.0, 2.4, "今すぐ"), Word(2.6, 3.1, "土下座"), Word(3.1, 3.4, "しろ")]
        with session_scope(ak.engine) as s:
            s.add(
                TranscriptSegment(
                    call_id=call_id,
                    channel="customer",
                    start_s=2.0,
                    end_s=3.4,
                    text="今すぐ土下座しろ",
                    words=[w.to_json() for w in words],
                )
            )
        res = analyze_call(ak, call_id, retranscribe=False)
        with session_scope(ak.engine) as s:
            flag = s.scalars(select(CallFlag).where(CallFlag.category == "土下座の要求")).one()
            stored = s.scalars(select(TranscriptSegment)).one()
    assert (flag.words, flag.start_s, flag.end_s) == ("土下座", 2.6, 3.1)  # the word, not the utterance
    assert stored.words == [w.to_json() for w in words]
    assert res.to_json()["transcript"] == [
        {"channel": "customer", "start_s": 2.0, "end_s": 3.4, "text": "今すぐ土下座しろ"}
    ]


def _turns(wav: Path) -> list[dict[str, Any]]:
    return list(json.loads(wav.with_suffix(".json").read_text()))


@pytest.mark.asr
@pytest.mark.tts
@pytest.mark.parametrize(("name", "mono"), [("threat_sns", False), ("dogeza", False), ("threat_sns", True)])
def test_utterances_of_a_generated_call_follow_its_turns(
    sqlite_home: Path,
    tmp_path: Path,
    call_wav: Callable[[str], Path],
    whisper_model: Any,
    name: str,
    mono: bool,
) -> None:
    """Every utterance lies in one turn of its speaker; the first one of each turn starts within 0.5 s
    of the turn; a flag lies inside the turn that holds its words; the notice is found in the greeting.
    Mono (both voices on one channel, as old recorders kept them): the same, across speakers."""
    wav = call_wav(name)
    turns = _turns(wav)
    if mono:
        stereo = parse_wav(wav.read_bytes())
        mixed = (stereo.channel(0) + stereo.channel(1)).reshape(-1, 1)
        wav = tmp_path / "mono.wav"
        wav.write_bytes(write_wav(mixed, stereo.rate, "pcmu"))
        wav.with_suffix(".json").write_text(json.dumps(turns))
        turns = [t | {"speaker": "mixed"} for t in turns]
    with Akashi.open(sqlite_home) as ak:
        record = CallOutcome(
            started_at=T0, direction="in", caller="0312345678", source="import", notice_mode="operator"
        )
        call_id = ingest_call(ak, wav, record, transcribe=False)
        res = analyze_call(ak, call_id, model=whisper_model)
    segs = res.segments
    assert segs and [g.start_s for g in segs] == sorted(g.start_s for g in segs)  # interleaved by time
    assert {g.channel for g in segs} == ({"mixed"} if mono else {"customer", "operator"})
    duration = parse_wav(wav.read_bytes()).duration_s
    slack = 0.3  # word edges from cross-attention, and the VAD's padding

    def turn_of(channel: str, start: float, end: float) -> list[dict[str, Any]]:
        """The turns of ``channel`` that [start, end] shares more than a word's edge with."""
        edge = min(0.15, (end - start) / 2)
        return [
            t
            for t in turns
            if t["speaker"] == channel and min(end, t["end_s"]) - max(start, t["start_s"]) > edge
        ]

    first_of_turn: dict[int, float] = {}
    for g in segs:
        assert 0.0 <= g.start_s <= g.end_s <= duration
        held = turn_of(g.channel, g.start_s, g.end_s)
        assert len(held) == 1, f"{g} spans {len(held)} turns"
        t = held[0]
        assert t["start_s"] - slack <= g.start_s and g.end_s <= t["end_s"] + slack, (g, t)
        first_of_turn.setdefault(turns.index(t), g.start_s)
    assert set(first_of_turn) == set(range(len(turns))), "a turn got no utterance"
    for i, start in first_of_turn.items():
        assert abs(start - turns[i]["start_s"]) <= 0.5, (turns[i], start)
    lexicon_flags = [f for f in res.findings if f.source == "lexicon"]
    assert lexicon_flags, "the generated call's abuse was not found"
    for f in lexicon_flags:
        (t,) = turn_of(f.channel, f.start_s, f.end_s)
        assert t["start_s"] - slack <= f.start_s < f.end_s <= t["end_s"] + slack, (f, t)
        assert f.detail["time_of"] == "words"
    assert res.notice is not None
    assert res.notice.check == "given", res.notice.detail
    greeting = turns[0]
    assert greeting["start_s"] - slack <= res.notice.detail["at_s"] <= greeting["end_s"]
