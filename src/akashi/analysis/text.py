"""Japanese text: SudachiPy tokens with readings, mood of a clause, reading similarity, keywords.

Whisper writes many words in kana or with near-miss kanji (土下座 → どげざ, 訴え → 撃たえ), so matching
is done on katakana readings as well as on surface forms.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from akashi.db.fts import normalise_query

_local = threading.local()

_PUNCT = set("。、．，.,!?！？「」『』（）()・…ー〜~ 　\t\n")
_HIRA_TO_KATA = {c: c + 0x60 for c in range(0x3041, 0x3097)}

# Markers of polite speech (dictionary forms of auxiliaries and verbs of request).
POLITE = frozenset(
    {
        "です",
        "ます",
        "ください",
        "下さる",
        "くださる",
        "頂く",
        "いただく",
        "いただける",
        "願う",
        "存ずる",
        "申し上げる",
        "おる",
        "ござる",
        "でしょう",
        "致す",
        "いたす",
    }
)
# Sentence-final particles that harden a plain form into a threat or an order.
STRONG_PARTICLES = frozenset({"ぞ", "ぜ", "ろ", "な", "や", "こら", "おい"})
# Kana an order of a godan verb ends in (払え, 出せ).
_E_ROW = frozenset("えけせてねへめれげぜでべぺ")


@dataclass(frozen=True)
class Token:
    """One morpheme: surface, katakana reading, dictionary form, part of speech."""

    surface: str
    reading: str
    lemma: str
    pos: tuple[str, ...]
    begin: int = 0  # characters of the normalised text this token takes
    end: int = 0

    @property
    def imperative(self) -> bool:
        """An imperative conjugation (出せ, しろ, 来い)."""
        return len(self.pos) > 5 and self.pos[5].startswith("命令形")


def _tokenizer() -> Any:
    tok = getattr(_local, "tokenizer", None)
    if tok is None:
        from sudachipy import Dictionary  # noqa: PLC0415 - sudachipy is the optional 'analysis' extra

        tok = Dictionary(dict="core").tokenizer()
        _local.tokenizer = tok
    return tok


def normalise(text: str) -> str:
    """NFKC, no spaces: the form texts are stored and searched in."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def to_katakana(text: str) -> str:
    """Hiragana to katakana, other characters unchanged."""
    return text.translate(_HIRA_TO_KATA)


def tokenize(text: str) -> list[Token]:
    """SudachiPy (core dictionary, mode C) tokens of ``text``, punctuation dropped."""
    from sudachipy import SplitMode  # noqa: PLC0415 - sudachipy is the optional 'analysis' extra

    out: list[Token] = []
    for m in _tokenizer().tokenize(normalise(text), SplitMode.C):
        surface = m.surface()
        if not surface or all(c in _PUNCT for c in surface):
            continue
        reading = m.reading_form()
        if not reading or reading == "キゴウ":
            reading = to_katakana(surface)
        out.append(
            Token(
                surface,
                to_katakana(reading),
                m.dictionary_form(),
                tuple(m.part_of_speech()),
                m.begin(),
                m.end(),
            )
        )
    return out


def reading_of(text: str) -> str:
    """The katakana reading of ``text`` (no spaces or punctuation)."""
    return "".join(t.reading for t in tokenize(text))


def search_reading(query: str) -> str:
    """The katakana reading of a search query, normalised as the index is ('' without SudachiPy)."""

    try:
        return reading_of(normalise_query(query))
    except ImportError:  # pragma: no cover - the analysis extra is not installed
        return ""


def mood(tokens: Iterable[Token]) -> str:
    """``imperative``, ``polite`` or ``plain`` for the words that follow a keyword.

    Polite markers win over imperatives (「ください」 is an imperative form of くださる but asks politely).
    """
    toks = list(tokens)
    if any(t.lemma in POLITE or t.surface in POLITE for t in toks):
        return "polite"
    if any(t.imperative for t in toks) or any(_bare_imperative(toks, i) for i in range(len(toks))):
        return "imperative"
    # 〜てやる / 〜てやるからな: a threat in plain form.
    if any(t.lemma == "やる" and i > 0 and toks[i - 1].surface in ("て", "で") for i, t in enumerate(toks)):
        return "imperative"
    if any(t.surface in STRONG_PARTICLES and t.pos[0] in ("助詞", "感動詞") for t in toks):
        return "imperative"
    return "plain"


def _bare_imperative(toks: list[Token], i: int) -> bool:
    """An order SudachiPy read as the stem of another verb: in 「迷惑料も払え」 it gives 払える (can pay)
    in its continuative form, which cannot end a clause. At a clause end (the last word, or punctuation
    or よ/や right after it) the word counts as an order when SudachiPy reads it alone as one (払え is,
    壊れ is not)."""
    t = toks[i]
    if t.pos[0] != "動詞" or not t.pos[5].startswith("連用形") or t.surface[-1] not in _E_ROW:
        return False
    if i + 1 < len(toks) and toks[i + 1].begin == t.end and toks[i + 1].surface not in ("よ", "や"):
        return False
    alone = tokenize(t.surface)
    return len(alone) == 1 and alone[0].imperative


def levenshtein(a: str, b: str) -> int:
    """Edit distance between two short strings."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def similarity(a: str, b: str) -> float:
    """1 - normalised edit distance (1.0 = identical)."""
    if not a and not b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def best_window(haystack: str, needle: str, starts: set[int] | None = None) -> tuple[float, int, int]:
    """Best :func:`similarity` of ``needle`` against any window of ``haystack`` of about its length.

    Fuzzy windows begin only at ``starts`` (token boundaries) when given; an exact substring may
    begin anywhere. Returns (score, start, end) in ``haystack`` characters.
    """
    m = len(needle)
    if m == 0 or not haystack:
        return 0.0, 0, 0
    exact = haystack.find(needle)
    if exact >= 0:
        return 1.0, exact, exact + m
    best = (0.0, 0, 0)
    need = Counter(needle)
    for start in range(len(haystack)):
        if starts is not None and start not in starts:
            continue
        for length in (m - 1, m, m + 1):
            if length <= 0 or start + length > len(haystack):
                continue
            cand = haystack[start : start + length]
            if sum((Counter(cand) & need).values()) < 0.6 * m:
                continue
            s = similarity(cand, needle)
            if s > best[0]:
                best = (s, start, start + length)
    return best


_KEYWORD_POS = ("名詞",)
# Words of every call (greeting, recording notice, apologies) say nothing about what a call is about.
_STOP = frozenset(
    {
        "こと",
        "もの",
        "ところ",
        "よう",
        "ため",
        "方",
        "とき",
        "それ",
        "これ",
        "あれ",
        "の",
        "ん",
        "さん",
        "様",
        "電話",
        "お電話",
        "通話",
        "録音",
        "担当",
        "サービス向上",
        "品質向上",
        "向上",
        "サービス",
        "申し訳",
        "失礼",
        "少々",
        "確認",
    }
)


def keywords(texts: Iterable[str], top: int = 10) -> list[tuple[str, int]]:
    """The nouns (and noun compounds) that characterise a text, most frequent first."""
    counts: Counter[str] = Counter()
    for text in texts:
        run: list[str] = []
        for tok in [*tokenize(text), None]:
            is_noun = (
                tok is not None
                and tok.pos[0] in _KEYWORD_POS
                and tok.pos[1] not in ("数詞", "代名詞")
                and tok.pos[2] != "助数詞可能"
                and tok.surface not in _STOP  # a stop word ends a compound (ため|録音)
            )
            if is_noun and tok is not None:
                run.append(tok.surface)
                continue
            if run:
                word = "".join(run)
                if len(word) >= 2 and word not in _STOP:
                    counts[word] += 1
                run = []
    return counts.most_common(top)
