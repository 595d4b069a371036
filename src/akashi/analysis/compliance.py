"""Recording-notice compliance (録音告知の確認).

Automatic mode: the notice must have played completely before the call was bridged to the operator,
and be audible in the recording's right channel (what the customer heard: the notice, then the
operator).
Operator mode: within the first ``window_s`` seconds the operator must say that the call is recorded
and why (fuzzy match on readings of the configured text and common variants).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from akashi.analysis.audio import Float32, frame_dbfs
from akashi.analysis.detect import Segment
from akashi.analysis.text import best_window, reading_of

# Ways operators say "this call is recorded" and "for what" (readings are compared, not spelling).
RECORDING_PHRASES = ("録音", "記録", "録音させていただ", "録音しており", "録音いたし")
PURPOSE_PHRASES = (
    "サービス向上",
    "品質向上",
    "応対品質",
    "対応品質",
    "品質の向上",
    "サービスの向上",
    "内容確認",
    "正確な対応",
    "トラブル防止",
    "お客様対応の向上",
    "確認のため",
    "記録のため",
)
TEXT_THRESHOLD = 0.6  # similarity of the configured notice text to what was said
PHRASE_THRESHOLD = 0.8
MIN_AUDIBLE = 0.5  # share of the notice's frames with sound (sentences have pauses between them)
PLAYED_RATIO = 0.95  # an automatic notice that played for less than this share was cut short


@dataclass
class NoticeResult:
    """Whether the notice was given, and why we think so."""

    mode: str
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)


def _best_phrase(reading: str, phrases: Sequence[str]) -> tuple[float, str]:
    best = (0.0, "")
    for p in phrases:
        score = best_window(reading, reading_of(p))[0]
        if score > best[0]:
            best = (score, p)
    return best


def check_operator_notice(segments: Sequence[Segment], notice_text: str, window_s: float) -> NoticeResult:
    """Operator mode: was a notice with its purpose said on the operator channel within ``window_s``?"""
    # A mono recording ("mixed") has both voices on one channel: the notice may be anywhere in it.
    early = [s for s in segments if s.channel in ("operator", "mixed") and s.start_s < window_s]
    said = "".join(s.text for s in early)
    heard = reading_of(said)
    text_reading = reading_of(notice_text)
    text_score = best_window(heard, text_reading)[0] if heard and text_reading else 0.0
    rec_score, rec_phrase = _best_phrase(heard, RECORDING_PHRASES)
    pur_score, pur_phrase = _best_phrase(heard, PURPOSE_PHRASES)
    variant_ok = rec_score >= PHRASE_THRESHOLD and pur_score >= PHRASE_THRESHOLD
    ok = text_score >= TEXT_THRESHOLD or variant_ok
    return NoticeResult(
        "operator",
        ok,
        {
            "window_s": window_s,
            "text_similarity": round(text_score, 3),
            "recording_phrase": rec_phrase if rec_score >= PHRASE_THRESHOLD else "",
            "purpose_phrase": pur_phrase if pur_score >= PHRASE_THRESHOLD else "",
            "heard": said[:200],
        },
    )


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
        return NoticeResult("automatic", False, {"reason": "notice not played / 告知未再生"})
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
    return NoticeResult("automatic", ok, detail)
