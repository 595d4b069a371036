"""The readable transcript of a call: ``transcript.txt`` and ``transcript.pdf`` for evidence packages.

Built from what a package's ``metadata.json`` already carries (the call's facts with its timed
utterances, flags and notice check, as :func:`akashi.calls.call_facts` gives them) plus the analysis
record (which Whisper model, with which settings). Times are shown twice: the JST clock time and
the offset into the recording, so a reader can write "at 0:26 the customer said ..." and find it in
the audio. Every page says that the text is machine-made and that the recording is the evidence.

Rendering is pure: facts in, text or PDF bytes out. The PDF uses the signage's Japanese font
handling (:mod:`akashi.notices.fonts`: IPAex embedded when installed).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

from akashi.analysis.transcript_model import (
    JST,
    MACHINE_MADE,
    Flag,
    Line,
    TranscriptDoc,
    flag_text,
    offset,
    speaker,
)
from akashi.callfacts import AnalysisFacts
from akashi.store.export import Derived

NOTICE_CHECKS: dict[str, tuple[str, str]] = {
    "given": ("告知あり（目的の説明あり）", "given, with its purpose"),
    "given_without_purpose": ("告知あり（目的の説明なし）", "given, without its purpose"),
    "late": ("告知が遅れました（確認時間の後）", "late (after the window)"),
    "not_given": ("告知なし", "not given"),
}

#: a flag belongs to an utterance when its words start inside it (with this much slack, seconds)
SLACK_S = 0.25


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _jst(value: Any) -> str:
    at = _when(value)
    return f"{at.astimezone(JST):%Y-%m-%d %H:%M:%S} JST" if at else "—"


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def notice_result(notice: dict[str, Any], analysed: bool) -> tuple[str, str]:
    """The notice check as one Japanese and one English sentence (words heard and their time included)."""
    mode = str(notice.get("mode") or "")
    check = notice.get("check")
    if mode in ("", "none"):
        return ("確認対象外（告知方式: なし）", "not checked (the call's notice mode asks for none)")
    if not isinstance(check, str) or check not in NOTICE_CHECKS:
        if not analysed:
            return ("未確認（まだ解析されていません）", "not checked yet (the call has not been analysed)")
        return (f"確認結果なし（告知方式: {mode}）", f"no check result (notice mode: {mode})")
    ja, en = NOTICE_CHECKS[check]
    heard = str(notice.get("heard") or "")
    at = _num(notice.get("at_s"))
    extra_ja = extra_en = ""
    if heard:
        extra_ja += f"　聞き取った言葉:「{heard}」"
        extra_en += f"; words heard: 「{heard}」"
    if at is not None:
        extra_ja += f"（+{offset(at)}）"
        extra_en += f" at +{offset(at)}"
    return (f"{ja}（方式: {mode}）{extra_ja}", f"{en} (mode: {mode}){extra_en}")


def _flags(rows: Any) -> list[Flag]:
    out = []
    for f in rows if isinstance(rows, list) else []:
        if not isinstance(f, dict):
            continue
        out.append(
            Flag(
                category=str(f.get("category") or ""),
                words=str(f.get("words") or ""),
                channel=str(f.get("channel") or ""),
                start_s=_num(f.get("start_s")),
                end_s=_num(f.get("end_s")),
                source=str(f.get("source") or ""),
            )
        )
    return out


def _place_flags(lines: list[Line], flags: list[Flag]) -> tuple[list[Line], list[Flag]]:
    """Attach each worded, timed flag to the utterance its words start in (same channel)."""
    attached: dict[int, list[Flag]] = {}
    rest: list[Flag] = []
    for f in flags:
        home = None
        if f.start_s is not None and f.words:
            for i, ln in enumerate(lines):
                same_side = f.channel in ("", ln.channel) or "mixed" in (f.channel, ln.channel)
                if same_side and ln.start_s - SLACK_S <= f.start_s <= ln.end_s + SLACK_S:
                    home = i
                    break
        if home is None:
            rest.append(f)
        else:
            attached.setdefault(home, []).append(f)
    placed = [
        Line(ln.channel, ln.start_s, ln.end_s, ln.text, tuple(attached.get(i, ())))
        for i, ln in enumerate(lines)
    ]
    return placed, rest


def _early_media_row(facts: dict[str, Any]) -> list[tuple[str, str]]:
    """The header row saying the recording starts before the answer (early media), when it does."""
    at, answer_s = facts.get("audio_started_at"), _num(facts.get("answer_at_s"))
    if not at or answer_s is None:
        return []
    return [
        (
            "録音の開始 / Recording starts",
            f"{_jst(at)}（早期メディア: 応答は録音の +{offset(answer_s)} / early media: "
            f"answered at +{offset(answer_s)} into the recording）",
        )
    ]


def _settings_text(settings: Any) -> str:
    if not isinstance(settings, dict) or not settings:
        return "記録なし / not recorded"
    return ", ".join(f"{k}={settings[k]}" for k in sorted(settings))


def build_doc(facts: dict[str, Any], analysis: AnalysisFacts | None) -> TranscriptDoc | None:
    """The document of one call, or None when ``facts`` carries no transcript (a role that may not
    read what was said, or a call exported without it)."""
    segments = facts.get("transcript")
    if not isinstance(segments, list):
        return None
    # line times are call-audio times: from the recording's first sample, which is before the answer
    # when the call kept its early media (ringback, announcements)
    t0 = (
        _when(facts.get("audio_started_at"))
        or _when(facts.get("answered_at"))
        or _when(facts.get("started_at"))
    )
    lines = sorted(
        (
            Line(
                str(g.get("channel") or ""),
                _num(g.get("start_s")) or 0.0,
                _num(g.get("end_s")) or 0.0,
                str(g.get("text") or "").strip(),
            )
            for g in segments
            if isinstance(g, dict)
        ),
        key=lambda ln: (ln.start_s, ln.end_s),
    )
    lines, rest = _place_flags(lines, _flags(facts.get("flag_details")))
    direction = {"in": "着信 / inbound", "out": "発信 / outbound"}.get(str(facts.get("direction")), "—")
    header = [
        ("通話 / Call", str(facts.get("id", ""))),
        ("開始 / Started", _jst(facts.get("started_at"))),
        ("応答 / Answered", _jst(facts.get("answered_at"))),
        ("終了 / Ended", _jst(facts.get("ended_at"))),
        *_early_media_row(facts),
        ("方向 / Direction", direction),
        ("発信者 / Caller", str(facts.get("caller") or "—")),
        ("着信番号 / Dialled", str(facts.get("dialled") or "—")),
        ("担当者 / Agent", str(facts.get("agent") or "—")),
        ("拠点 / Site", str(facts.get("site") or "—")),
    ]
    media = facts.get("evidence_object")
    if isinstance(media, dict):
        header.append(("録音（証拠）/ Recording (evidence)", f"{media.get('file', '')}"))
        header.append(("録音の SHA-256 / Recording SHA-256", str(media.get("sha256", ""))))
    a = analysis or AnalysisFacts()
    recogniser = [
        ("音声認識モデル / Speech recognition model", f"Whisper {a.model or '—'}"),
        ("認識の設定 / Recognition settings", _settings_text(a.settings)),
        ("用語集 / Lexicon", str(a.lexicon or "—")),
        ("解析日時 / Analysed at", _jst(a.at)),
    ]
    notice = facts.get("notice") if isinstance(facts.get("notice"), dict) else {}
    return TranscriptDoc(
        call_id=int(facts.get("id") or 0),
        t0=t0,
        header=header,
        notice=notice_result(notice or {}, analysed=analysis is not None),
        recogniser=recogniser,
        lines=lines,
        other_flags=rest,
    )


def _until(f: Flag) -> str:
    return f" – +{offset(f.end_s)}" if f.end_s is not None and f.start_s is not None else ""


def render_text(doc: TranscriptDoc) -> str:
    """The transcript as plain UTF-8 text (one utterance per line, flags under their utterance)."""
    out = [
        "通話の文字起こし（機械作成） / Call transcript (machine-made)",
        "=" * 60,
        "",
        *(f"{label}: {value}" for label, value in doc.header),
        "",
        "注意 / Note",
        f"  {MACHINE_MADE[0]}",
        f"  {MACHINE_MADE[1]}",
        "",
        *(f"{label}: {value}" for label, value in doc.recogniser),
        "",
        f"録音告知の確認 / Recording notice check: {doc.notice[0]}",
        f"  {doc.notice[1]}",
        "",
        "フラグ（発話外） / Flags outside utterances:",
        *(
            [f"  {doc.clock(f.start_s)}{_until(f)}  {flag_text(f)}" for f in doc.other_flags]
            if doc.other_flags
            else ["  なし / none"]
        ),
        "",
        "発話 / Utterances (時刻は JST、括弧内は録音の先頭からの時間 / JST time, in brackets the offset "
        "into the recording)",
        "-" * 60,
    ]
    if not doc.lines:
        out.append("（発話は認識されませんでした / no speech was recognised）")
    for ln in doc.lines:
        out.append(f"{doc.clock(ln.start_s)} – +{offset(ln.end_s)}  {speaker(ln.channel)}")
        out.append(f"    {ln.text}")
        out.extend(f"    ★ {flag_text(f)} (+{offset(f.start_s or 0.0)})" for f in ln.flags)
    out += ["-" * 60, MACHINE_MADE[0], MACHINE_MADE[1], ""]
    return "\n".join(out)


def render_pdf(doc: TranscriptDoc, font_path: str | None = None) -> bytes:
    """The transcript as an A4 PDF with an embedded Japanese font (see :mod:`akashi.notices.fonts`)."""
    from akashi.analysis.transcript_pdf import draw_transcript  # noqa: PLC0415 - reportlab is the optional 'media' extra; only PDFs need it

    buf = io.BytesIO()
    draw_transcript(buf, doc, font_path)
    return buf.getvalue()


TXT_NAME = "transcript.txt"
PDF_NAME = "transcript.pdf"
HOW = (
    "machine-made transcript of the recording (speech recognition; model and settings inside), "
    "not the evidence: the recording is / 録音から音声認識で機械的に作成した文字起こし（証拠は録音）"
)


def package_files(
    facts: dict[str, Any], analysis: AnalysisFacts | None, media_name: str, *, prefix: str = ""
) -> list[Derived]:
    """``transcript.txt`` and ``transcript.pdf`` for an evidence package's ``derived/`` folder, made
    from ``media_name`` (its name inside ``media/``); none when ``facts`` has no transcript, or when the
    call was never analysed (an empty transcript then means "not transcribed", not "nothing said")."""
    doc = build_doc(facts, analysis)
    if doc is None or (not doc.lines and analysis is None):
        return []
    return [
        Derived(f"{prefix}{TXT_NAME}", render_text(doc).encode(), media_name, HOW),
        Derived(f"{prefix}{PDF_NAME}", render_pdf(doc), media_name, HOW),
    ]
