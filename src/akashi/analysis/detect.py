"""Harassment detection on transcripts (lexicon) and on audio and call records (behaviour).

Every finding is a :class:`Finding` that keeps its evidence: category, words, channel and time range.
Lexicon matching runs on katakana readings (fuzzy for long terms) so that kana and near-miss kanji
from the recogniser still match; demands and threats are weighed by the mood of the words after them
so that firm but polite complaints are not flagged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from akashi.analysis import phonetic
from akashi.analysis.audio import Float32, frame_dbfs
from akashi.analysis.lexicon import Lexicon
from akashi.analysis.text import Token, best_window, mood, normalise, tokenize

MOOD_WINDOW = 10  # tokens after a keyword whose mood decides how much a demand weighs
SHORT_READING = 3  # readings this short must match exactly and on token boundaries
# Readings of this many morae or more are matched by how they sound (:mod:`phonetic`); shorter ones letter by
# letter. On four morae a changed consonant already makes another word (各段 for 拡散, 工事 for 上司).
PHONETIC_MORAE = 5
# Telephone-band Whisper confuses voiced and unvoiced kana (ドゲザ → トゲザ, ダ → タ): readings of three
# kana or more also match with dakuten ignored, at this fraction of the similarity.
FOLDED_FACTOR = 0.9


@dataclass(frozen=True)
class Word:
    """A recognised word with its time on the call's timeline and the recogniser's probability."""

    start_s: float
    end_s: float
    text: str
    probability: float = 1.0

    def to_json(self) -> list[Any]:
        """The compact stored form: ``[start_s, end_s, text, probability]``."""
        return [round(self.start_s, 2), round(self.end_s, 2), self.text, round(self.probability, 3)]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> Word:
        """A word from its stored form (see :meth:`to_json`)."""
        return cls(float(data[0]), float(data[1]), str(data[2]), float(data[3]) if len(data) > 3 else 1.0)


@dataclass(frozen=True)
class Segment:
    """An utterance on one channel: its time on the call's timeline, text and (when known) words."""

    channel: str
    start_s: float
    end_s: float
    text: str
    words: tuple[Word, ...] = ()

    def time_of(self, begin: int, end: int) -> tuple[float, float] | None:
        """The time of characters ``begin:end`` of ``normalise(text)`` from the words that hold them.

        None when the segment has no word times (an old transcript) or the words do not spell the text.
        """
        if not self.words:
            return None
        spans, pos = [], 0
        for w in self.words:
            n = len(normalise(w.text))
            spans.append((pos, pos + n, w))
            pos += n
        if pos != len(normalise(self.text)):
            return None
        hit = [w for a, b, w in spans if a < end and b > begin]
        if not hit:
            return None
        return hit[0].start_s, max(hit[0].start_s, hit[-1].end_s)


@dataclass
class Finding:
    """One flag with its evidence."""

    category: str
    source: str  # lexicon | behaviour | compliance
    words: str = ""
    channel: str = ""
    start_s: float = 0.0
    end_s: float = 0.0
    score: float = 1.0
    detail: dict[str, Any] = field(default_factory=dict)


def _token_spans(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for t in tokens:
        spans.append((pos, pos + len(t.reading)))
        pos += len(t.reading)
    return spans


def _find(reading: str, term: str, starts: set[int], ends: set[int], floor: float) -> tuple[float, int, int]:
    """Where ``term`` (a reading) occurs in ``reading``: (similarity, start, end).

    Readings of up to two kana must match exactly on token boundaries (バカ is not in バカンス); three
    kana exactly from a token start; longer ones fuzzily from a token start, those of
    :data:`PHONETIC_MORAE` or more by how alike they sound (ASR near misses keep the vowels). A fuzzy
    similarity under ``floor`` may come back as 0.
    """
    n = len(term)
    if n <= SHORT_READING:
        pos = reading.find(term)
        while pos >= 0:
            if pos in starts and (n == SHORT_READING or pos + n in ends):
                return 1.0, pos, pos + n
            pos = reading.find(term, pos + 1)
        return 0.0, 0, 0
    if len(phonetic.morae(term)) >= PHONETIC_MORAE:
        return phonetic.best_window(reading, term, starts, floor)
    return best_window(reading, term, starts)


_SENTENCE_END = re.compile(r"[。．.!?！？]+")


def sentences(text: str) -> list[tuple[int, str]]:
    """The sentences of ``normalise(text)`` with their character offsets in it (ends kept)."""
    norm = normalise(text)
    out, pos = [], 0
    for m in _SENTENCE_END.finditer(norm):
        if norm[pos : m.end()].strip():
            out.append((pos, norm[pos : m.end()]))
        pos = m.end()
    if norm[pos:]:
        out.append((pos, norm[pos:]))
    return out


def match_text(text: str, lexicon: Lexicon) -> list[dict[str, Any]]:
    """Lexicon hits in one utterance: category, term, words heard, similarity, mood, score and
    ``span`` (the characters of ``normalise(text)`` the words take).

    The mood of a demand is read within its sentence. One hit per category (the strongest) is
    returned; hits below ``flag_threshold`` are dropped.
    """
    best: dict[str, dict[str, Any]] = {}
    for offset, sentence in sentences(text):
        for hit in _match_sentence(sentence, lexicon):
            hit["span"] = (hit["span"][0] + offset, hit["span"][1] + offset)
            if hit["category"] not in best or hit["score"] > best[hit["category"]]["score"]:
                best[hit["category"]] = hit
    order = {c.name: i for i, c in enumerate(lexicon.categories)}
    return sorted(best.values(), key=lambda h: order[h["category"]])


def _match_sentence(text: str, lexicon: Lexicon) -> list[dict[str, Any]]:  # noqa: PLR0912 - one pass over a sentence's tokens; each branch is one matching rule, read in order
    tokens = tokenize(text)
    if not tokens:
        return []
    reading = "".join(t.reading for t in tokens)
    spans = _token_spans(tokens)
    starts = {s for s, _ in spans}
    ends = {e for _, e in spans}
    folded = phonetic.fold(reading)
    hits: list[dict[str, Any]] = []
    for cat in lexicon.categories:
        best: dict[str, Any] | None = None
        for term in cat.terms:
            sim, a, b = max(_find(reading, r, starts, ends, lexicon.fuzzy_threshold) for r in term.readings)
            if sim < 1.0:
                for r in term.readings:
                    if len(r) >= SHORT_READING:
                        fsim, fa, fb = _find(folded, phonetic.fold(r), starts, ends, lexicon.fuzzy_threshold)
                        if fsim * FOLDED_FACTOR > sim:
                            sim, a, b = fsim * FOLDED_FACTOR, fa, fb
            if sim < lexicon.fuzzy_threshold:
                continue
            covered = [i for i, (s, e) in enumerate(spans) if s < b and e > a]
            if not covered:
                continue
            last = covered[-1]
            tail = tokens[covered[0] : last + 1 + MOOD_WINDOW]
            m = mood(tail)
            if cat.kind == "word" or term.any_mood:
                factor = 1.0
            else:
                factor = {"imperative": 1.0, "plain": lexicon.plain_weight, "polite": lexicon.polite_weight}[
                    m
                ]
            score = round(term.weight * sim * factor, 3)
            if score < lexicon.flag_threshold:
                continue
            if best is None or score > best["score"]:
                best = {
                    "category": cat.name,
                    "term": term.text,
                    "words": "".join(tokens[i].surface for i in covered),
                    "span": (tokens[covered[0]].begin, tokens[last].end),
                    "similarity": round(sim, 3),
                    "mood": m,
                    "score": score,
                    "severity": cat.severity,
                }
        if best is not None:
            hits.append(best)
    for hit in _pattern_hits(tokens, reading, spans, lexicon):
        same = next((h for h in hits if h["category"] == hit["category"]), None)
        if same is None:
            hits.append(hit)
        elif hit["score"] > same["score"]:
            hits[hits.index(same)] = hit
    # Words an exact term explains are not also a near miss of another category's term
    # (家まで行く is a threat, not 家まで来い); of two near misses on the same words, the one that
    # explains more of them stands (電章をよべ is 店長を呼べ, not 弁償).
    exact = [h["span"] for h in hits if h["similarity"] >= 1.0]
    return [
        h
        for h in hits
        if h["similarity"] >= 1.0
        or (
            not any(_overlap(h["span"], span) for span in exact)
            and not any(_overlap(h["span"], o["span"]) and _longer(o, h) for o in hits if o is not h)
        )
    ]


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _longer(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether hit ``a`` explains more characters than ``b`` (or as many, with a higher score)."""
    la, lb = a["span"][1] - a["span"][0], b["span"][1] - b["span"][0]
    return bool(la > lb or (la == lb and a["score"] > b["score"]))


def _pattern_hits(
    tokens: Sequence[Token], reading: str, spans: Sequence[tuple[int, int]], lexicon: Lexicon
) -> list[dict[str, Any]]:
    """Threats by pattern: a stem from a token start followed at once by a hard ending (殺す|ぞ)."""
    out: list[dict[str, Any]] = []
    severity_of = {c.name: c.severity for c in lexicon.categories}
    for pat in lexicon.patterns:
        found: dict[str, Any] | None = None
        for first, (start, _end) in enumerate(spans):
            for stem in pat.stems:
                if not reading.startswith(stem, start):
                    continue
                after = start + len(stem)
                ending = next((e for e in pat.endings if reading.startswith(e, after)), None)
                if ending is None:
                    continue
                stop = after + len(ending)
                covered = [i for i in range(first, len(spans)) if spans[i][0] < stop]
                if mood(tokens[covered[-1] + 1 : covered[-1] + 1 + MOOD_WINDOW]) == "polite":
                    continue  # 行くぞ…と言われまして: reported speech in a polite sentence
                found = {
                    "category": pat.category,
                    "term": pat.texts[pat.stems.index(stem)] + "…" + ending,
                    "words": "".join(tokens[i].surface for i in covered),
                    "span": (tokens[covered[0]].begin, tokens[covered[-1]].end),
                    "similarity": 1.0,
                    "mood": "imperative",
                    "score": round(pat.weight, 3),
                    "severity": severity_of.get(pat.category, 1.0),
                }
                break
            if found is not None:
                break
        if found is not None and found["score"] >= lexicon.flag_threshold:
            out.append(found)
    return out


def lexicon_findings(segments: Sequence[Segment], lexicon: Lexicon, channels: Sequence[str]) -> list[Finding]:
    """Lexicon findings in the segments of the given channels (normally the customer's)."""
    out: list[Finding] = []
    for seg in segments:
        if seg.channel not in channels:
            continue
        for hit in match_text(seg.text, lexicon):
            at = seg.time_of(*hit["span"])
            start, end = at if at is not None else (seg.start_s, seg.end_s)
            out.append(
                Finding(
                    category=hit["category"],
                    source="lexicon",
                    words=hit["words"],
                    channel=seg.channel,
                    start_s=round(start, 2),
                    end_s=round(end, 2),
                    score=hit["score"],
                    detail={k: hit[k] for k in ("term", "similarity", "mood", "severity")}
                    | {
                        "text": seg.text,
                        "time_of": "words" if at is not None else "utterance",
                        "utterance_s": [seg.start_s, seg.end_s],
                    },
                )
            )
    return out


def _runs(mask: np.ndarray[Any, np.dtype[np.bool_]]) -> list[tuple[int, int]]:
    """(start, end) index pairs of consecutive True values."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    diff = np.diff(padded)
    return list(zip(np.flatnonzero(diff == 1).tolist(), np.flatnonzero(diff == -1).tolist(), strict=True))


def shouting(
    customer: Float32, rate: int, dbfs: float, seconds: float, frame_s: float = 0.1
) -> list[Finding]:
    """Stretches where the customer channel stays above ``dbfs`` for at least ``seconds``.

    Gaps under 0.5 s (between words) do not break a stretch.
    """
    levels = frame_dbfs(customer, rate, frame_s)
    loud = levels > dbfs
    bridge = int(0.5 / frame_s)
    for s, e in _runs(~loud):
        if s > 0 and e < len(loud) and e - s <= bridge:
            loud[s:e] = True
    out = []
    for s, e in _runs(loud):
        if (e - s) * frame_s >= seconds:
            peak = float(levels[s:e].max())
            out.append(
                Finding(
                    "大声",
                    "behaviour",
                    channel="customer",
                    start_s=s * frame_s,
                    end_s=e * frame_s,
                    score=1.0,
                    detail={"peak_dbfs": round(peak, 1), "threshold_dbfs": dbfs},
                )
            )
    return out


def talk_over(
    customer: Float32,
    operator: Float32,
    rate: int,
    *,
    min_total_s: float,
    speech_dbfs: float = -40.0,
    frame_s: float = 0.1,
) -> list[Finding]:
    """The customer starting to speak while the operator is speaking (被せ発話), if it adds up.

    Counts overlapping speech that the customer began while the operator already spoke.
    """
    cust = frame_dbfs(customer, rate, frame_s) > speech_dbfs
    oper = frame_dbfs(operator, rate, frame_s) > speech_dbfs
    n = min(len(cust), len(oper))
    cust, oper = cust[:n], oper[:n]
    total = 0.0
    events: list[tuple[float, float]] = []
    for s, e in _runs(cust):
        if s > 0 and oper[s - 1] and oper[s]:
            overlap = int(np.count_nonzero(oper[s:e]))
            if overlap * frame_s >= 0.5:
                total += overlap * frame_s
                events.append((s * frame_s, e * frame_s))
    if not events or total < min_total_s:
        return []
    return [
        Finding(
            "被せ発話",
            "behaviour",
            channel="customer",
            start_s=events[0][0],
            end_s=events[-1][1],
            score=1.0,
            detail={"overlap_s": round(total, 1), "times": len(events)},
        )
    ]


def severity(findings: Sequence[Finding], weights: dict[str, float]) -> float:
    """A call's severity: per category its strongest score x category weight, summed, capped at 10."""
    best: dict[str, float] = {}
    for f in findings:
        best[f.category] = max(best.get(f.category, 0.0), f.score * weights.get(f.category, 1.0))
    return round(min(10.0, sum(best.values())), 2)
