"""Voice mining terms and scores: customer channel only, no names, no fillers, no unsure words;
TF-IDF per call; rising terms by log-odds on synthetic weeks; what analysis stores per call."""

from __future__ import annotations

import random
import wave
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from akashi.analysis.detect import Segment, Word
from akashi.analysis.mining import call_keywords, call_terms, rising_terms, segment_terms
from akashi.analysis.pipeline import analyze_call
from akashi.calloutcome import CallOutcome
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Call, TranscriptSegment
from akashi.db.models_analysis import CallKeyword
from akashi.ingest import ingest_call


def _customer(text: str, words: tuple[Word, ...] = ()) -> Segment:
    return Segment("customer", 0.0, 3.0, text, words)


def test_names_of_people_and_companies_are_not_terms() -> None:
    terms = call_terms(
        [
            _customer("田中様の件で、山田商事で買った冷蔵庫が壊れたんです"),
            _customer("保健山元さんに返品をお願いしました"),  # a mis-heard name: 保健 + 山元 (人名)
            _customer("株式会社サンプルの佐藤です。鈴木さんから冷蔵庫の配送を聞きました"),
        ]
    )
    assert terms == Counter({"冷蔵庫": 2, "返品": 1, "配送": 1})
    for name in (
        "田中",
        "山田商事",
        "保健山元",
        "保健",
        "山元",
        "株式会社サンプル",
        "サンプル",
        "佐藤",
        "鈴木",
    ):
        assert name not in terms


def test_fillers_greetings_and_the_operator_are_not_terms() -> None:
    segments = [
        Segment(
            "operator", 0.0, 2.0, "お電話ありがとうございます。この通話はサービス向上のため録音しております。"
        ),
        Segment("operator", 5.0, 6.0, "解約の手続きについてご案内します"),
        _customer("えーと、あのー、まあ、その、ちょっと請求書のことなんですけど"),
        Segment("mixed", 7.0, 8.0, "解約したいです"),  # a mono recording cannot be told apart
    ]
    assert call_terms(segments) == Counter({"請求書": 1})


def test_words_the_recogniser_was_unsure_of_are_left_out() -> None:
    words = (
        Word(0.0, 0.5, "配送", 0.93),
        Word(0.5, 0.9, "が遅れて", 0.9),
        Word(0.9, 1.3, "工場", 0.21),  # Whisper's guess for 向上, at 0.21
        Word(1.3, 1.5, "の", 0.9),
        Word(1.5, 2.5, "返金をお願いします", 0.88),
    )
    seg = _customer("配送が遅れて工場の返金をお願いします", words)
    assert segment_terms(seg) == ["配送", "返金"]
    # a low word inside a noun run drops the run (never half a term)
    run = _customer("商品交換", (Word(0, 1, "商品", 0.9), Word(1, 2, "交換", 0.3)))
    assert segment_terms(run) == []
    # words that do not spell the text: the utterance is judged by its mean probability
    off = _customer("返品したい", (Word(0, 1, "へんぴん", 0.2), Word(1, 2, "したい", 0.3)))
    assert segment_terms(off) == []
    assert segment_terms(_customer("返品したい", (Word(0, 1, "へんぴん", 0.9),))) == ["返品"]


def test_call_keywords_rank_what_is_particular_to_the_call() -> None:
    terms = {"注文": 3, "液漏れ": 2}
    # 注文 is said in 95 of 100 other calls, 液漏れ in 2: the call is about the leak
    ranked = call_keywords(terms, {"注文": 95, "液漏れ": 2}, 100)
    assert [w for w, _ in ranked] == ["液漏れ", "注文"]
    # a first call: no background, ranked by how often each was said
    assert [w for w, _ in call_keywords(terms, {}, 0)] == ["注文", "液漏れ"]


def _weeks(seed: int) -> tuple[Counter[str], Counter[str]]:
    """Synthetic calls-per-term: 40 calls a week over a steady vocabulary, then a week where 解約 rises."""
    rng = random.Random(seed)
    steady = ["注文", "配送", "返品", "請求書", "ポイント", "会員登録", "パスワード", "在庫"]
    previous: Counter[str] = Counter()
    current: Counter[str] = Counter()
    for week in range(5):
        target = current if week == 4 else previous
        for _ in range(40):
            said = set(rng.sample(steady, 2))
            if rng.random() < (0.35 if week == 4 else 0.03):
                said.add("解約")
            if week == 4 and rng.random() < 0.03:
                said.add("雨漏り")  # said once this week, never before: an anecdote, not a trend
            target.update(said)
    return current, previous


def test_a_rising_term_is_found_and_steady_terms_are_not() -> None:
    for seed in range(5):
        current, previous = _weeks(seed)
        rising = rising_terms(current, previous)
        assert [r.term for r in rising][:1] == ["解約"], (seed, rising)
        assert all(r.term not in ("注文", "配送", "雨漏り") for r in rising)
        top = rising[0]
        assert top.current == current["解約"] and top.previous == previous["解約"] and top.z >= 1.645


def test_nothing_rises_in_an_unchanged_week_or_an_empty_one() -> None:
    steady = Counter({"注文": 40, "配送": 30, "返品": 10})
    assert rising_terms(steady, Counter({k: 4 * v for k, v in steady.items()})) == []
    assert rising_terms(Counter(), Counter({"注文": 10})) == []


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0\0\0" * 8000)
    return path


def test_analysis_stores_customer_terms_and_keywords(sqlite_home: Path, tmp_path: Path) -> None:
    with Akashi.open(sqlite_home) as ak:
        ids = []
        for i, said in enumerate(
            ["注文した商品が届きません", "注文の配送が遅れています", "注文の商品に液漏れがありました"]
        ):
            cid = ingest_call(
                ak,
                _wav(tmp_path / f"{i}.wav"),
                CallOutcome(started_at=datetime.now(UTC), direction="in", caller="0312345678", codec="pcm16"),
                transcribe=False,
            )
            with session_scope(ak.engine) as s:
                s.add_all(
                    [
                        TranscriptSegment(
                            call_id=cid,
                            channel="operator",
                            start_s=0.0,
                            end_s=1.0,
                            text="お電話ありがとうございます。担当の高橋です。解約のご案内です",
                        ),
                        TranscriptSegment(
                            call_id=cid,
                            channel="customer",
                            start_s=1.0,
                            end_s=3.0,
                            text=f"佐藤と申します。{said}",
                        ),
                    ]
                )
            analyze_call(ak, cid, retranscribe=False)
            ids.append(cid)
        with session_scope(ak.engine) as s:
            stored = {
                cid: dict(
                    s.execute(
                        select(CallKeyword.word, CallKeyword.count).where(CallKeyword.call_id == cid)
                    ).all()
                )
                for cid in ids
            }
            last = s.get(Call, ids[-1])
            assert last is not None
            keywords = last.extra["analysis"]["keywords"]
    assert stored[ids[0]] == {"注文": 1, "商品": 1}
    assert stored[ids[1]] == {"注文": 1, "配送": 1}
    # 注文 was said in every earlier call: 液漏れ, said only here, leads the last call's keywords
    assert keywords[0] == "液漏れ" and set(keywords) == {"液漏れ", "商品", "注文"}
    for word in ("佐藤", "高橋", "解約"):
        assert all(word not in bag for bag in stored.values())
