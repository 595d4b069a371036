"""What the readable transcript of a call shows: its lines, flags and header, and how they are written.

The bottom of the transcript modules: :mod:`akashi.analysis.transcript_doc` builds a
:class:`TranscriptDoc` from a call's facts and writes it as text, and
:mod:`akashi.analysis.transcript_pdf` draws it as a PDF; both read the types and wording here, and
this module imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")

SPEAKERS: dict[str, tuple[str, str]] = {
    "customer": ("顧客", "customer"),
    "operator": ("担当者", "operator"),
    "mixed": ("通話（左右なし）", "both sides"),
}

MACHINE_MADE = (
    "この文字起こしは音声認識により機械的に作成したもので、聞き誤りを含むことがあります。"
    "証拠は media/ フォルダの録音（原本）です。引用の際は必ず録音の該当時刻を聞いて確かめてください。",
    "This transcript was made by machine (speech recognition) and may contain recognition errors. "
    "The evidence is the recording in the media/ folder (the original); check the recording at the "
    "time given before quoting it.",
)


@dataclass(frozen=True)
class Flag:
    """One flag of the call: a category, the matched words and their time in the recording."""

    category: str
    words: str
    channel: str
    start_s: float | None
    end_s: float | None
    source: str


@dataclass(frozen=True)
class Line:
    """One utterance as shown: who, when, what, and the flags found in its words."""

    channel: str
    start_s: float
    end_s: float
    text: str
    flags: tuple[Flag, ...] = ()


@dataclass(frozen=True)
class TranscriptDoc:
    """Everything the readable transcript shows, in the order it is shown."""

    call_id: int
    t0: datetime | None  # the recording's first sample (answer time, else start), aware
    header: list[tuple[str, str]]  # (label, value) lines about the call
    notice: tuple[str, str]  # the notice check's result, Japanese and English
    recogniser: list[tuple[str, str]]  # (label, value): model, settings, when
    lines: list[Line]
    other_flags: list[Flag] = field(default_factory=list)  # flags not inside any utterance

    def clock(self, offset_s: float | None) -> str:
        """``10:15:26 JST (+0:26)``: the wall-clock time and the offset into the recording."""
        if offset_s is None:
            return "（通話全体 / whole call）"
        rel = offset(offset_s)
        if self.t0 is None:
            return f"+{rel}"
        at = (self.t0 + timedelta(seconds=offset_s)).astimezone(JST)
        return f"{at:%H:%M:%S} JST (+{rel})"


def offset(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) of an offset into the recording, rounded down to the second."""
    whole = max(0, int(seconds))
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def speaker(channel: str) -> str:
    """``顧客 / customer`` for a channel name."""
    ja, en = SPEAKERS.get(channel, (channel, channel))
    return f"{ja} / {en}"


def flag_text(f: Flag) -> str:
    """``[フラグ / flag] 脅迫「晒すぞ」``."""
    words = f"「{f.words}」" if f.words else ""
    return f"[フラグ / flag] {f.category}{words}"
