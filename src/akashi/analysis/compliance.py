"""Recording-notice compliance (録音告知の確認).

Automatic mode: the notice must have played completely before the call was bridged to the operator,
and be audible in the recording's right channel (what the customer heard: the notice, then the
operator).
Operator mode: within the first ``window_s`` seconds the operator must say that the call is recorded
and why (fuzzy match on readings of the configured text and common variants; near-misses of 録音 only
inside a sentence about the call). The outcome is given / given without purpose / late / not given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np

from akashi.analysis.audio import Float32, frame_dbfs
from akashi.analysis.detect import Segment, sentences
from akashi.analysis.text import best_window, reading_of, similarity

# Ways operators say "this call is recorded" and "for what" (readings are compared, not spelling).
RECORDING_PHRASES = ("録音", "録音させていただ", "録音しており", "録音いたし")
# Words that mention a recording only in the context of a notice sentence: 記録 is also said of other
# records, and these are what the recogniser makes of 録音 on telephone speech (録音 → 説明, 録画).
WEAK_RECORDING_WORDS = ("記録", "録画", "説明", "六音", "ろくおん", "ろくが", "録音機")
# A notice sentence speaks of the call itself: 「この通話は」「通話内容を」「お電話は」.
CALL_SUBJECTS = (
    "通話は",
    "通話を",
    "通話内容",
    "お電話は",
    "お電話を",
    "お電話の内容",
    "会話は",
    "会話を",
    "応対は",
    # What the recogniser makes of この通話は on telephone speech (the bench's development calls).
    "この数は",
    "その数は",
)
NOTICE_VERBS = ("させていただ", "しており", "いたしており", "いたしま", "されま", "しています", "しま")
PURPOSE_PHRASES = (
    "サービス向上",
    "サービスの向上",
    "サービス品質",
    "品質向上",
    "品質の向上",
    "品質管理",
    "品質改善",
    "応対品質",
    "対応品質",
    "応対記録",
    "対応記録",
    "応対の向上",
    "内容確認",
    "内容の確認",
    "確認のため",
    "記録のため",
    "正確な対応",
    "正確を期す",
    "トラブル防止",
    "トラブルの防止",
    "お客様対応の向上",
    "お客様満足",
    "教育",
    "研修",
)
GIVEN, WITHOUT_PURPOSE, LATE, NOT_GIVEN = "given", "given_without_purpose", "late", "not_given"
CHECKS = (GIVEN, WITHOUT_PURPOSE, LATE, NOT_GIVEN)
TEXT_THRESHOLD = 0.6  # similarity of the configured notice text to what was said
PHRASE_THRESHOLD = 0.8
# A whole sentence this close to the configured notice text counts as the notice said (garbled) when
# it has the notice's shape (「この通話は…のため…いただきます」); other sentences of that shape score up to
# 0.58, and 0.62 when they begin otherwise (「この商品は品質向上のために…」) (tests).
LOOSE_TEXT_THRESHOLD = 0.6
LOOSE_SUBJECTS = ("コノツウワハ", "ソノツウワハ")
LOOSE_VERBS = ("イタダキマス", "オリマス", "イタシマス")
MIN_AUDIBLE = 0.5  # share of the notice's frames with sound (sentences have pauses between them)
PLAYED_RATIO = 0.95  # an automatic notice that played for less than this share was cut short


@dataclass
class NoticeResult:
    """Whether the notice was given, and why we think so.

    ``check`` is one of :data:`CHECKS`: ``given`` (with its purpose), ``given_without_purpose``,
    ``late`` (only after the window) or ``not_given``.
    """

    mode: str
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def check(self) -> str:
        """The outcome of the check (one of :data:`CHECKS`)."""
        return str(self.detail.get("check") or (GIVEN if self.ok else NOT_GIVEN))


@dataclass(frozen=True)
class _Sentence:
    text: str
    reading: str
    start_s: float
    end_s: float


@lru_cache(maxsize=32)
def _readings(phrases: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((p, reading_of(p)) for p in phrases)


def _best_phrase(reading: str, phrases: tuple[str, ...]) -> tuple[float, str]:
    best = (0.0, "")
    for p, r in _readings(phrases):
        score = best_window(reading, r)[0]
        if score > best[0]:
            best = (score, p)
    return best


def _operator_sentences(segments: Sequence[Segment]) -> list[_Sentence]:
    """The operator's sentences in time order, each timed by its words when the segment has them."""
    out = []
    for seg in segments:
        if seg.channel not in ("operator", "mixed"):  # mono: both voices on one channel
            continue
        for offset, text in sentences(seg.text):
            at = seg.time_of(offset, offset + len(text))
            start, end = at if at is not None else (seg.start_s, seg.end_s)
            out.append(_Sentence(text, reading_of(text), start, end))
    return sorted(out, key=lambda x: x.start_s)


def _recording_word(sentence: _Sentence, before: str = "") -> str:
    """The word that says the call is recorded ('' if none): 録音 anywhere, or a weak word
    (記録, or an ASR near-miss of 録音 such as 説明) only in a sentence about the call itself, right
    before the verb of a notice.

    ``before`` is the reading of the sentence said just before: a pause after 「この通話は、」 makes
    the subject a sentence of its own.
    """
    score, phrase = _best_phrase(sentence.reading, RECORDING_PHRASES)
    if score >= PHRASE_THRESHOLD:
        return phrase
    context = before + sentence.reading
    if not any(r in context for _, r in _readings(CALL_SUBJECTS)):
        return ""
    verbs = [r for _, r in _readings(NOTICE_VERBS)]
    purpose = _best_phrase(sentence.reading, PURPOSE_PHRASES)[0] >= 1
    for word, r in _readings(WEAK_RECORDING_WORDS):
        pos = sentence.reading.find(r)
        while pos >= 0:
            after = sentence.reading[pos + len(r) :]
            if any(after.startswith(v) for v in verbs) or purpose:
                return word
            pos = sentence.reading.find(r, pos + 1)
    return ""


def _whole_sentence_score(sent: _Sentence, before: _Sentence | None, text_reading: str) -> float:
    """Similarity of the whole sentence (with a short one said just before it: 「この通話は、」) to the
    configured notice text, for a notice the recogniser garbled word by word (「その数はサービスポーズを
    のため6を立てていただきます」): counted only at :data:`LOOSE_TEXT_THRESHOLD` or more and when the
    sentence has the notice's shape (a purpose 「〜のため」 and a polite verb of a notice)."""
    if "ノタメ" not in sent.reading or not any(v in sent.reading for v in LOOSE_VERBS):
        return 0.0
    score = 0.0
    for said in (sent.reading, before.reading + sent.reading if before and len(before.reading) <= 8 else ""):
        # It must begin like 「この通話は」 (この数は, その数は: 「この商品は…」 is no notice).
        if said and any(similarity(said[: len(x)], x) >= 0.5 for x in LOOSE_SUBJECTS):
            score = max(score, similarity(said, text_reading))
    return score if score >= LOOSE_TEXT_THRESHOLD else 0.0


def check_operator_notice(segments: Sequence[Segment], notice_text: str, window_s: float) -> NoticeResult:
    """Operator mode: did the operator say, within ``window_s``, that the call is recorded and why?

    The outcome (``detail["check"]``) is ``given`` (with its purpose), ``given_without_purpose``,
    ``late`` (said only after the window) or ``not_given``; ``heard`` and ``at_s`` are the notice
    sentence and its time (or what was said in the window when there was none).
    """
    said = _operator_sentences(segments)
    text_reading = reading_of(notice_text)
    found: tuple[_Sentence, str, str, float] | None = None
    for i, sent in enumerate(said):
        near = said[max(0, i - 1) : i + 2]  # the purpose may be said in the sentence before or after
        joined = "".join(x.reading for x in near)
        text_score, by_text = 0.0, False
        if text_reading:  # the configured text, said from this sentence on (it may run into the next)
            ahead = "".join(x.reading for x in said[i : i + 2])
            score, begin, _end = best_window(ahead, text_reading)
            text_score = score if begin < len(sent.reading) else 0.0
            by_text = text_score >= TEXT_THRESHOLD
            if not by_text:
                loose = _whole_sentence_score(sent, said[i - 1] if i else None, text_reading)
                text_score, by_text = max(text_score, loose), loose > 0
        word = _recording_word(sent, said[i - 1].reading if i > 0 else "")
        if not word and not by_text:
            continue
        pur_score, pur_phrase = _best_phrase(joined, PURPOSE_PHRASES)
        purpose = pur_phrase if pur_score >= PHRASE_THRESHOLD else ""
        if by_text and not purpose:
            purpose = "(notice text)"
        found = (sent, word, purpose, text_score)
        if sent.start_s < window_s and purpose:
            break  # the best outcome: no later sentence can improve it
        if sent.start_s >= window_s:
            break
    detail: dict[str, Any] = {"window_s": window_s}
    if found is None:
        early = "".join(x.text for x in said if x.start_s < window_s)
        detail |= {"check": NOT_GIVEN, "heard": early[:200], "at_s": None, "end_s": None}
    else:
        sent, word, purpose, text_score = found
        check = LATE if sent.start_s >= window_s else GIVEN if purpose else WITHOUT_PURPOSE
        detail |= {
            "check": check,
            "heard": sent.text[:200],
            "at_s": round(sent.start_s, 2),
            "end_s": round(sent.end_s, 2),
            "recording_phrase": word,
            "purpose_phrase": purpose,
            "text_similarity": round(text_score, 3),
        }
    return NoticeResult("operator", detail["check"] == GIVEN, detail)


def audio_coverage(
    heard: Float32, rate: int, start_s: float, end_s: float, speech_dbfs: float = -45.0
) -> float:
    """Share of 100 ms frames in [start_s, end_s) of the recording that carry sound (0 if outside it)."""
    if end_s <= start_s or start_s < 0:
        return 0.0
    levels = frame_dbfs(heard, rate, 0.1)
    a, b = int(start_s * 10), int(end_s * 10)
    expected = b - a
    window = levels[a:b]
    return float(np.count_nonzero(window > speech_dbfs)) / expected if expected else 0.0


def check_automatic_notice(
    notice_started_at: datetime | None,
    notice_ended_at: datetime | None,
    bridged_at: datetime | None,
    expected_s: float | None,
    *,
    coverage: float | None = None,
) -> NoticeResult:
    """Automatic mode: the notice started, ran its full length and ended before the bridge.

    ``coverage`` is :func:`audio_coverage` of the notice's time range on the channel the customer
    heard, when the recording holds it: the notice must be audible there, not only logged.
    """
    detail: dict[str, Any] = {}
    if notice_started_at is None or notice_ended_at is None:
        return NoticeResult(
            "automatic", False, {"reason": "notice not played / 告知未再生", "check": NOT_GIVEN}
        )
    played = (notice_ended_at - notice_started_at).total_seconds()
    detail["played_s"] = round(played, 2)
    ok = played > 0
    if expected_s:
        detail["expected_s"] = round(expected_s, 2)
        if played < PLAYED_RATIO * expected_s:
            ok = False
            detail["reason"] = "notice cut short / 告知が途中で終了"
    if bridged_at is None:
        ok = False
        detail.setdefault("reason", "never bridged / 接続記録なし")
    elif notice_ended_at > bridged_at:
        ok = False
        detail.setdefault("reason", "bridged before the notice ended / 告知終了前に接続")
    if coverage is not None:
        detail["audible_share"] = round(coverage, 2)
        if coverage < MIN_AUDIBLE:
            ok = False
            detail.setdefault("reason", "notice not audible in the recording / 録音に告知音声なし")
    detail["check"] = GIVEN if ok else NOT_GIVEN
    return NoticeResult("automatic", ok, detail)
