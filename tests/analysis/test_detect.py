"""Harassment detection on text (no speech recognition): every category, ASR near misses, polite
complaints that must not be flagged, behaviour signals on synthetic audio."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akashi.analysis.detect import (
    Finding,
    Segment,
    lexicon_findings,
    match_text,
    severity,
    shouting,
    talk_over,
)
from akashi.analysis.lexicon import CATEGORIES, load_lexicon


@pytest.fixture(scope="module")
def lex():  # type: ignore[no-untyped-def]
    return load_lexicon()


def test_default_lexicon_covers_the_mhlw_categories(lex) -> None:  # type: ignore[no-untyped-def]
    assert [c.name for c in lex.categories] == list(CATEGORIES)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("何回言わせるんだバカ", "暴言"),
        ("ふざけるな", "暴言"),
        ("訴えるぞ", "脅迫"),
        ("お前の家に行くからな", "脅迫"),
        ("今すぐ土下座しろ", "土下座の要求"),
        ("どげざしろよ", "土下座の要求"),  # recogniser wrote it in kana
        ("お前の名前をネットに晒すぞ", "SNS・ネット晒し"),
        ("SNSで拡散してやる", "SNS・ネット晒し"),
        ("責任者を出せ", "責任者・上司の要求"),
        ("社長を出せよ", "責任者・上司の要求"),
        ("慰謝料を払え", "金銭要求"),
        ("金をよこせ", "金銭要求"),
        ("誠意を見せろよ", "金銭要求"),
        ("電話を切るなよ", "拘束"),
        ("納得するまで帰さないからな", "拘束"),
        ("女のくせに生意気だ", "差別的・性的な言動"),
        ("撃たえてやるからな", "脅迫"),  # 訴え misheard as 撃たえ
        ("殺すぞ", "脅迫"),
        ("ぶっ殺してやる", "脅迫"),
        ("ばかやろう", "暴言"),
        ("今すぐ来いよ", "拘束"),
        ("責任者と話させろ", "責任者・上司の要求"),
    ],
)
def test_harassment_is_found(lex, text: str, category: str) -> None:  # type: ignore[no-untyped-def]
    hits = match_text(text, lex)
    assert category in {h["category"] for h in hits}, hits


@pytest.mark.parametrize(
    "text",
    [
        "いつ返金していただけるのでしょうか",
        "届いた商品が壊れていたので交換をお願いしたいのですが",
        "対応が遅すぎます。きちんと説明してください",
        "責任者の方はいらっしゃいますか",
        "この件について上司の方に確認していただけますか",
        "返金していただけますか",
        "訴えることも検討しております",
        "バカンスの予定を変更したいです",
        "慰謝料について相談させてください",
        "先週注文した商品の配送状況を知りたいのですが",
        "SNSで御社の広告を拝見しました",
        "上司の方によろしくお伝えください",
        "社長のお話をテレビで拝見しました",
        "拡散希望のキャンペーンについて教えてください",
        "店長さんにはいつもお世話になっています",
        "電話を切るのを忘れていました",
        "弁償していただくことは可能でしょうか",
        "ネットで注文したのですが届きません",
        "謝罪に来てください",
    ],
)
def test_firm_but_polite_is_not_flagged(lex, text: str) -> None:  # type: ignore[no-untyped-def]
    assert match_text(text, lex) == []


def test_hit_keeps_evidence(lex) -> None:  # type: ignore[no-untyped-def]
    (hit,) = match_text("今すぐ土下座しろ", lex)
    assert hit["words"] == "土下座"
    assert hit["term"] == "土下座"
    assert hit["mood"] == "imperative"
    assert hit["score"] == 1.0


def test_only_customer_channel_is_searched(lex) -> None:  # type: ignore[no-untyped-def]
    segs = [
        Segment("operator", 1.0, 3.0, "土下座しろと言われても困ります"),
        Segment("customer", 4.0, 6.5, "責任者を出せ"),
    ]
    found = lexicon_findings(segs, lex, ("customer",))
    assert [(f.category, f.channel, f.start_s, f.end_s) for f in found] == [
        ("責任者・上司の要求", "customer", 4.0, 6.5)
    ]
    assert found[0].detail["text"] == "責任者を出せ"


def _tone(seconds: float, level: float, rate: int = 8000) -> np.ndarray:  # type: ignore[type-arg]
    t = np.arange(int(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * 300 * t)).astype(np.float32)


def test_shouting_needs_sustained_loudness() -> None:
    quiet = _tone(2, 0.05)
    loud = _tone(4, 0.9)
    short = _tone(1, 0.9)
    gap = np.zeros(2400, dtype=np.float32)  # 0.3 s between words does not break a shout
    x = np.concatenate([quiet, loud[:16000], gap, loud[16000:], quiet, short, quiet])
    found = shouting(x, 8000, dbfs=-12.0, seconds=3.0)
    assert len(found) == 1
    assert found[0].category == "大声"
    assert found[0].start_s == pytest.approx(2.0, abs=0.1)
    assert found[0].end_s == pytest.approx(6.3, abs=0.1)
    assert shouting(np.concatenate([quiet, short, quiet]), 8000, dbfs=-12.0, seconds=3.0) == []


def test_talk_over_counts_customer_starting_over_operator() -> None:
    rate = 8000
    op = np.zeros(rate * 20, dtype=np.float32)
    cu = np.zeros(rate * 20, dtype=np.float32)
    op[0 : rate * 16] = _tone(16, 0.2)
    for start in (2, 6, 10):  # the customer cuts in three times for 2.5 s each
        cu[start * rate : int((start + 2.5) * rate)] = _tone(2.5, 0.2)
    found = talk_over(cu, op, rate, min_total_s=5.0)
    assert len(found) == 1
    assert found[0].detail["times"] == 3
    assert found[0].detail["overlap_s"] == pytest.approx(7.5, abs=0.3)
    # Taking turns is not talking over.
    cu2 = np.zeros_like(cu)
    cu2[rate * 16 : rate * 19] = _tone(3, 0.2)
    assert talk_over(cu2, op, rate, min_total_s=1.0) == []


def test_severity_takes_the_strongest_per_category() -> None:
    fs = [
        Finding("脅迫", "lexicon", score=0.6),
        Finding("脅迫", "lexicon", score=1.0),
        Finding("暴言", "lexicon", score=1.0),
    ]
    assert severity(fs, {"脅迫": 3.0, "暴言": 2.0}) == 5.0
    assert severity([Finding("x", "lexicon", score=1.0)] * 3, {"x": 20.0}) == 10.0
    assert severity([], {}) == 0.0


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(
            list(
                "あいうえおかきくけこさしすせそたちつてとなにぬねのアイウエオ土下座責任者出訴えるぞ。、 ！ABC1"
            )
        ),
        max_size=40,
    )
)
def test_matching_never_fails_and_scores_stay_in_range(text: str) -> None:
    for hit in match_text(text, load_lexicon()):
        assert 0.5 <= hit["score"] <= 1.0
        assert hit["category"] in CATEGORIES
