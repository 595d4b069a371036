"""A lint for recording notices, following the usual guidance for customer-harassment measures.

A good notice says that the call is recorded and why (the purpose), is short (about 15 seconds at
most), and is the first thing the caller hears, before they speak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

MAX_SECONDS = 15.0

# Phrases that state a purpose of recording. Matching is on the text with spaces removed.
PURPOSE_PHRASES: tuple[str, ...] = (
    "サービス向上",
    "サービスの向上",
    "品質向上",
    "品質の向上",
    "応対品質",
    "対応品質",
    "応対内容の確認",
    "対応内容の確認",
    "内容確認",
    "内容の確認",
    "正確",
    "聞き間違い",
    "聞き違い",
    "トラブル防止",
    "トラブルの防止",
    "防犯",
    "安全",
    "記録のため",
    "記録として",
    "証拠",
)
RECORDING_WORDS: tuple[str, ...] = ("録音", "記録", "ろくおん")

_SMALL_KANA = set("ャュョァィゥェォヮ")
_PAUSES = re.compile(r"[、。，．,.！!？?\s]+")

Level = Literal["warning", "info"]


@dataclass(frozen=True)
class LintMessage:
    """One finding: a stable ``code``, a ``level``, and the message in Japanese and English."""

    code: str
    level: Level
    ja: str
    en: str

    def __str__(self) -> str:
        return f"{self.ja} / {self.en}"


def _mora_count(text: str) -> int:
    """Morae of ``text`` as read by Open JTalk; a character count when it is not available."""
    try:
        import pyopenjtalk  # noqa: PLC0415 - pyopenjtalk is the optional 'media' extra and loads its dictionary on import
    except ImportError:  # pragma: no cover - a dependency of the package
        return len(_PAUSES.sub("", text))
    kana = str(pyopenjtalk.g2p(text, kana=True))
    return sum(1 for ch in _PAUSES.sub("", kana) if ch not in _SMALL_KANA)


def estimate_duration(text: str) -> float:
    """Seconds the notice will take when spoken: about 7.8 morae a second plus 0.35 s per pause.

    Calibrated on Open JTalk's default voice (within ~10% on notices of 1 to 12 seconds).
    """
    body = text.strip().rstrip("。．.！!？?")
    if not body:
        return 0.0
    pauses = len([p for p in _PAUSES.findall(body) if p.strip()])
    return _mora_count(body) / 7.8 + 0.35 * pauses


def lint_notice(text: str, duration_s: float | None, first: bool = True) -> list[LintMessage]:
    """Check a recording notice. ``duration_s`` is the audio's length (estimated from the text if
    ``None``); ``first`` says whether the notice is played before anything else, as it should be.

    Returns the findings, warnings first; an empty list means the notice follows the guidance.
    """
    found: list[LintMessage] = []
    compact = re.sub(r"\s+", "", text)
    if not compact:
        return [LintMessage("empty", "warning", "案内文が空です。", "The notice is empty.")]
    if not any(word in compact for word in RECORDING_WORDS):
        found.append(
            LintMessage(
                "no-recording-word",
                "warning",
                "「録音」していることが伝わりません。「この通話は録音させていただきます」のように明示してください。",
                "The notice does not say that the call is recorded; say so plainly "
                '("この通話は録音させていただきます").',
            )
        )
    if not any(p in compact for p in PURPOSE_PHRASES):
        found.append(
            LintMessage(
                "no-purpose",
                "warning",
                "録音の目的がありません。「サービス向上のため」「応対内容の確認のため」などを入れてください。",
                "The notice gives no purpose; add one such as サービス向上のため (to improve our service) "
                "or 応対内容の確認のため (to confirm what was said).",
            )
        )
    seconds = duration_s if duration_s is not None else estimate_duration(text)
    if seconds > MAX_SECONDS:
        how = "音声" if duration_s is not None else "推定"
        found.append(
            LintMessage(
                "too-long",
                "warning",
                f"案内が長すぎます（{how} {seconds:.1f} 秒、目安は {MAX_SECONDS:.0f} 秒以内）。"
                "要点だけにしてください。",
                f"The notice is too long ({'audio' if duration_s is not None else 'estimated'} "
                f"{seconds:.1f} s; keep it within about {MAX_SECONDS:.0f} s).",
            )
        )
    if not first:
        found.append(
            LintMessage(
                "not-first",
                "warning",
                "録音の案内は、お客様が話し始める前、最初に流してください。",
                "Play the recording notice first, before the customer speaks.",
            )
        )
    return found
