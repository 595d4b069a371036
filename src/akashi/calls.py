"""Facts about calls as the CLI, web UI and evidence packages present them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from akashi.callfacts import CallFacts
from akashi.db.models import Call, CallFlag, Site, TranscriptSegment


def _iso(v: Any) -> str | None:
    return v.isoformat() if v is not None else None


def _notice_check(call: Call, facts: CallFacts, *, with_words: bool) -> dict[str, Any]:
    """The analysis' notice check: ``check`` is given | given_without_purpose | late | not_given, or
    None when the call's mode asks for no check (or it has not been analysed yet); what was heard and
    when only for those who may read what was said."""
    analysis = facts.analysis
    found = analysis.notice if analysis is not None and call.notice_mode not in ("", "none") else None
    if found is None:
        return {"check": None}
    out: dict[str, Any] = {"check": found.check, "at_s": found.at_s}
    if with_words:
        out["heard"] = found.heard or ""
    return out


def call_facts(session: Session, call: Call, *, with_transcript: bool = False) -> dict[str, Any]:
    """A call as a JSON-ready dict; with the transcript segments and flags when asked."""
    site = session.get(Site, call.site_id) if call.site_id else None
    facts = call.facts
    out: dict[str, Any] = {
        "id": call.id,
        "started_at": _iso(call.started_at),
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        "duration_s": round(call.duration_s, 3),
        "direction": call.direction,
        "caller": call.caller,
        "dialled": call.dialled,
        "agent": call.agent_name,
        "site": site.name if site else None,
        "status": call.status,
        "source": call.source,
        "hangup_side": call.hangup_side,
        "call_ids": call.call_ids,
        "notice": {
            "mode": call.notice_mode,
            "started_at": _iso(call.notice_started_at),
            "ended_at": _iso(call.notice_ended_at),
            "bridged_at": _iso(call.bridged_at),
            **_notice_check(call, facts, with_words=with_transcript),
        },
        "codec": call.codec,
        "channels": call.channels,
        "media_object_id": call.media_object_id,
        "flags": call.flags,
        "severity": call.severity,
        "analysis_state": call.analysis_state,
        "keywords": list(facts.analysis.keywords) if facts.analysis else [],
    }
    if facts.audio_started_at is not None:  # early media kept: call-audio time starts before the answer
        out["audio_started_at"] = _iso(datetime.fromtimestamp(facts.audio_started_at, UTC))
        out["answer_at_s"] = facts.answer_offset_s()
    if with_transcript:
        segs = session.scalars(
            select(TranscriptSegment)
            .where(TranscriptSegment.call_id == call.id)
            .order_by(TranscriptSegment.start_s, TranscriptSegment.id)
        )
        out["transcript"] = [
            {"channel": s.channel, "start_s": s.start_s, "end_s": s.end_s, "text": s.text} for s in segs
        ]
        flags = session.scalars(
            select(CallFlag).where(CallFlag.call_id == call.id).order_by(CallFlag.start_s)
        )
        out["flag_details"] = [
            {
                "category": f.category,
                "source": f.source,
                "words": f.words,
                "channel": f.channel,
                "start_s": f.start_s,
                "end_s": f.end_s,
                "score": f.score,
                "detail": f.detail,
            }
            for f in flags
        ]
    return out
