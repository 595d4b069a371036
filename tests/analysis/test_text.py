"""Japanese text helpers: readings, mood, fuzzy windows, keywords."""

from __future__ import annotations

import pytest

from akashi.analysis.text import best_window, keywords, mood, reading_of, similarity, to_katakana, tokenize


def test_readings_are_katakana_and_ignore_punctuation() -> None:
    assert reading_of("土下座しろ。") == "ドゲザシロ"
    assert reading_of("どげざ") == "ドゲザ"
    assert to_katakana("ばか") == "バカ"
    assert reading_of("、。！") == ""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("責任者を出せ", "imperative"),
        ("訴えるぞ", "imperative"),
        ("ふざけるな", "imperative"),
        ("晒してやる", "imperative"),
        ("責任者の方はいらっしゃいますか", "polite"),
        ("謝ってください", "polite"),
        ("いつ返金していただけるのでしょうか", "polite"),
        ("返金してほしい", "plain"),
    ],
)
def test_mood(text: str, expected: str) -> None:
    assert mood(tokenize(text)) == expected


def test_similarity_and_windows() -> None:
    assert similarity("ウッタエ", "ウッタエ") == 1.0
    assert similarity("ウタエ", "ウッタエ") == pytest.approx(0.75)
    score, start, end = best_window("オマエヲウタエテヤル", "ウッタエ")
    assert score == pytest.approx(0.75)
    assert "オマエヲウタエテヤル"[start:end] == "ウタエ"
    # Fuzzy windows only from token starts when starts are given.
    assert best_window("イシャリョウ", "シャチョウ", starts={0})[0] < 0.75
    assert best_window("", "ア") == (0.0, 0, 0)


def test_keywords_are_characteristic_nouns() -> None:
    kws = dict(
        keywords(["商品が届かないので返金してほしい。注文番号は123です。", "商品の返金について確認します"])
    )
    assert kws["商品"] == 2
    assert kws["返金"] == 2
    assert "注文番号" in kws
    assert "こと" not in kws


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("迷惑料も払え", "imperative"),  # SudachiPy reads 払え here as 払える (can pay), continuative
        ("迷惑料も払えよ", "imperative"),
        ("電話それをも払え、", "imperative"),
        ("返金も払えない", "plain"),
        ("商品が壊れ、連絡もない", "plain"),  # a continuative that ends a clause but is no order
    ],
)
def test_an_order_read_as_a_potential_verb_is_still_an_order(text: str, expected: str) -> None:
    assert mood(tokenize(text)) == expected
