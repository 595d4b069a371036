"""Readings compared by how they sound: the near misses Whisper writes on 8 kHz speech keep the vowels."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akashi.analysis import phonetic
from akashi.analysis.detect import match_text
from akashi.analysis.lexicon import Lexicon, load_lexicon
from akashi.analysis.text import reading_of
from akashi.analysis.text import similarity as letters


@pytest.fixture(scope="module")
def lex() -> Lexicon:
    return load_lexicon()


def test_morae_join_small_kana_and_read_long_vowels() -> None:
    assert [m for m, _ in phonetic.morae("シャチョウヲダセ")] == ["シャ", "チョ", "オ", "オ", "ダ", "セ"]
    assert [m for m, _ in phonetic.morae("シャチョー")] == ["シャ", "チョ", "オ"]
    assert [at for _, at in phonetic.morae("キョウ")] == [0, 2]


@pytest.mark.parametrize(
    ("heard", "said"),
    [
        ("仮想を出せ", "社長を出せ"),  # the bench's development calls: the consonants lost, the vowels kept
        ("電話をおよべ", "店長を呼べ"),
    ],
)
def test_a_near_miss_that_keeps_the_vowels_sounds_closer_than_it_reads(heard: str, said: str) -> None:
    a, b = reading_of(heard), reading_of(said)
    assert letters(a, b) < 0.75 <= phonetic.similarity(a, b)


def test_a_changed_vowel_costs_a_whole_mora() -> None:
    assert phonetic.similarity("カソウ", "カソウ") == 1.0
    assert phonetic.similarity("ドゲザ", "トゲザ") == pytest.approx(1 - phonetic.VOICING / 3)
    assert phonetic.similarity("カサ", "カソ") == 0.5
    assert phonetic.similarity("カサ", "カタ") == pytest.approx(1 - phonetic.SAME_VOWEL / 2)


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("仮想を出せ、", "責任者・上司の要求"),
        ("電話をおよべ、", "責任者・上司の要求"),
    ],
)
def test_demands_as_the_recogniser_wrote_them_are_found(lex: Lexicon, text: str, category: str) -> None:
    hits = match_text(text, lex)
    assert category in {h["category"] for h in hits}, hits


@pytest.mark.parametrize(
    "text",
    [
        "各段 30 秒で測りました。",  # カクダン: one consonant from 拡散, but four morae are matched letter by letter
        "工事の間は録画を止めます。",  # コウジ / ジョウシ
        "対応が遅いと思います。",  # タイオウ / バイショウ: the same vowels
        "社長にご相談いただけますか。",  # the word itself, asked politely
        "返送をお願いできますか。",
    ],
)
def test_sound_alike_words_and_polite_requests_are_not_flagged(lex: Lexicon, text: str) -> None:
    assert match_text(text, lex) == []


_KANA = st.text(
    alphabet="アイウエオカキクケコサシスセソタチツテトナニヌネノハバパマヤユヨラリルレロワヲンッーャュョ",
    max_size=14,
)


@settings(max_examples=300, deadline=None)
@given(haystack=_KANA, needle=_KANA.filter(lambda s: len(s) >= 3), floor=st.sampled_from([0.5, 0.75, 0.9]))
def test_the_floor_skips_only_stretches_that_could_not_reach_it(
    haystack: str, needle: str, floor: float
) -> None:
    full = phonetic.best_window(haystack, needle)
    fast = phonetic.best_window(haystack, needle, floor=floor)
    if full[0] >= floor:
        assert fast[0] == pytest.approx(full[0])
    else:
        assert fast[0] < floor
