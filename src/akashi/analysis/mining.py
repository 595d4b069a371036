"""Voice mining: what customers talk about, as terms scored against a background.

Terms come from the **customer** channel only (the operator's greeting, notice and apologies say
nothing about why a customer called; a mono recording's ``mixed`` channel cannot be told apart, so it
gives none). A term is a noun or a run of nouns (SudachiPy, mode C), without:

- personal and company names: Sudachi's proper-noun tags 固有名詞-人名 / 固有名詞-組織, a noun run
  followed by an honorific suffix (さん, 様, 氏…) and runs holding a company form (株式会社…); a run that
  holds a name is dropped whole (保健+山元 is a mis-heard name, not a health topic);
- fillers and words every call has (greeting, notice, apologies);
- words the recogniser was unsure of: a token overlapping a word whose probability is below
  ``min_probability`` breaks the run (Whisper's word probabilities, kept with each segment).

Scores, both pure functions over counts:

- :func:`call_keywords`: TF-IDF of one call's terms against the calls analysed before it;
- :func:`rising_terms`: weighted log-odds with an informative Dirichlet prior (Monroe, Colaresi and
  Quinn 2008) of a period against an earlier one, on the number of calls that mention each term, so
  that one angry caller repeating a word ten times is one call, not ten.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from akashi.analysis.detect import Segment
from akashi.analysis.text import Token, normalise, tokenize

#: The channel whose words are mined.
CUSTOMER = "customer"
#: Words below this recogniser probability are not trusted as terms.
MIN_PROBABILITY = 0.5
#: Most terms kept per call (the background's raw material).
MAX_TERMS = 200

_NAME_TAGS = frozenset({"人名", "組織"})
_HONORIFICS = frozenset(
    {"さん", "様", "さま", "氏", "殿", "くん", "君", "ちゃん", "先生", "社長", "部長", "課長"}
)
_COMPANY_FORMS = ("株式会社", "有限会社", "合同会社", "合資会社", "(株)", "(有)", "㈱", "㈲")
# Words of every call, fillers that Sudachi reads as nouns, and words that only carry the talk along.
STOP_TERMS = frozenset(
    {
        "こと",
        "もの",
        "ところ",
        "よう",
        "ため",
        "方",
        "ほう",
        "とき",
        "時",
        "感じ",
        "それ",
        "これ",
        "あれ",
        "の",
        "ん",
        "はい",
        "ええ",
        "えー",
        "えっと",
        "あの",
        "あのー",
        "まあ",
        "なんか",
        "ちょっと",
        "電話",
        "お電話",
        "通話",
        "録音",
        "担当",
        "担当者",
        "サービス向上",
        "品質向上",
        "品質管理",
        "向上",
        "サービス",
        "申し訳",
        "失礼",
        "少々",
        "確認",
        "今日",
        "本日",
        "今",
        "自分",
        "お客様",
        "御社",
        "弊社",
        "ご視聴",
        "視聴",
        "チャンネル登録",
    }
)


def _low_confidence_chars(seg: Segment, min_probability: float) -> set[int] | None:
    """Character offsets (of ``normalise(seg.text)``) of words below ``min_probability``.

    None when the words do not spell the text (then the segment is judged by its mean probability).
    """
    low: set[int] = set()
    pos = 0
    for w in seg.words:
        n = len(normalise(w.text))
        if w.probability < min_probability:
            low.update(range(pos, pos + n))
        pos += n
    return low if pos == len(normalise(seg.text)) else None


def _is_name(tok: Token) -> bool:
    return len(tok.pos) > 2 and tok.pos[1] == "固有名詞" and tok.pos[2] in _NAME_TAGS


def _is_term_noun(tok: Token) -> bool:
    return (
        tok.pos[0] == "名詞"
        and tok.pos[1] not in ("数詞", "代名詞")
        and (len(tok.pos) < 3 or tok.pos[2] != "助数詞可能")
        and tok.surface not in STOP_TERMS
    )


def segment_terms(seg: Segment, min_probability: float = MIN_PROBABILITY) -> list[str]:
    """The terms of one utterance, in order (see the module's rules)."""
    low: set[int] = set()
    if seg.words:
        aligned = _low_confidence_chars(seg, min_probability)
        if aligned is None and sum(w.probability for w in seg.words) / len(seg.words) < min_probability:
            return []
        low = aligned or set()
    out: list[str] = []
    run: list[Token] = []
    unsure_run = [False]  # a run holding a word the recogniser was unsure of is dropped whole

    def close(next_tok: Token | None) -> None:
        if not run:
            return
        word = "".join(t.surface for t in run)
        named = any(_is_name(t) for t in run) or any(f in word for f in _COMPANY_FORMS)
        honorific = next_tok is not None and next_tok.surface in _HONORIFICS
        if not (named or honorific or unsure_run[0]) and len(word) >= 2 and word not in STOP_TERMS:
            out.append(word[:128])
        run.clear()
        unsure_run[0] = False

    for tok in tokenize(seg.text):
        if _is_name(tok) or _is_term_noun(tok):
            run.append(tok)  # a name stays in its run so that the whole run is dropped as a name
            unsure_run[0] = unsure_run[0] or any(c in low for c in range(tok.begin, tok.end))
            continue
        close(tok)
    close(None)
    return out


def call_terms(
    segments: Iterable[Segment], min_probability: float = MIN_PROBABILITY, limit: int = MAX_TERMS
) -> Counter[str]:
    """How often each term was said on the customer channel of one call (at most ``limit`` terms)."""
    counts: Counter[str] = Counter()
    for seg in segments:
        if seg.channel == CUSTOMER:
            counts.update(segment_terms(seg, min_probability))
    return Counter(dict(counts.most_common(limit)))


def call_keywords(
    terms: Mapping[str, int], doc_freq: Mapping[str, int], n_docs: int, top: int = 10
) -> list[tuple[str, float]]:
    """One call's terms by TF-IDF against ``n_docs`` other calls (``doc_freq``: calls that said each).

    Smoothed IDF (``1 + ln((1 + N) / (1 + df))``) keeps a first call's terms ranked by how often they
    were said; a term said in most calls sinks below one said only here.
    """
    scored = [
        (w, (1.0 + math.log(n)) * (1.0 + math.log((1 + n_docs) / (1 + doc_freq.get(w, 0)))))
        for w, n in terms.items()
        if n > 0
    ]
    scored.sort(key=lambda x: (-x[1], x[0]))
    return [(w, round(s, 3)) for w, s in scored[:top]]


@dataclass(frozen=True)
class Rising:
    """A term said in more calls in the current period than the earlier one predicts."""

    term: str
    current: int  # calls that said it in the current period
    previous: int  # calls that said it in the earlier period
    z: float  # log-odds ratio over its standard deviation


def rising_terms(
    current: Mapping[str, int],
    previous: Mapping[str, int],
    background: Mapping[str, int] | None = None,
    *,
    prior: float = 0.1,
    min_calls: int = 2,
    min_z: float = 1.645,
    top: int = 20,
) -> list[Rising]:
    """Terms rising in ``current`` against ``previous`` (counts of calls per term).

    Weighted log-odds with an informative Dirichlet prior: the prior of each term is ``prior`` times
    its count in ``background`` (by default both periods together), so rare terms are shrunk towards
    the background rate instead of jumping to infinity. Only terms said in at least ``min_calls``
    calls of the current period with ``z >= min_z`` are returned, highest first (1.645: a one-sided
    test at 5 %, since only rises are looked for).
    """
    bg: Counter[str] = Counter(background) if background is not None else Counter(current) + Counter(previous)
    a0 = prior * sum(bg.values())
    n_i, n_j = sum(current.values()), sum(previous.values())
    if n_i == 0 or a0 <= 0:
        return []
    out: list[Rising] = []
    for w, y_i in current.items():
        if y_i < min_calls:
            continue
        a_w = prior * bg.get(w, 0) or prior  # a term unseen in the background still gets some prior
        y_j = previous.get(w, 0)
        li = math.log((y_i + a_w) / max(n_i + a0 - y_i - a_w, 1e-9))
        lj = math.log((y_j + a_w) / max(n_j + a0 - y_j - a_w, 1e-9))
        z = (li - lj) / math.sqrt(1.0 / (y_i + a_w) + 1.0 / (y_j + a_w))
        if z >= min_z:
            out.append(Rising(w, int(y_i), int(y_j), round(z, 2)))
    out.sort(key=lambda r: (-r.z, r.term))
    return out[:top]
