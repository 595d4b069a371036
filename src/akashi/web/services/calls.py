"""Reading calls for the pages and the API: search rows, detail, notes, holds.

Permission rules live in :mod:`akashi.access`; this module only assembles what the views show.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from akashi.access import Principal, audit
from akashi.access.evidence import check_call, readable_facts, refuse, view_call
from akashi.access.holds import change_call_hold
from akashi.access.search import audited_search
from akashi.analysis.text import search_reading
from akashi.callfacts import CallFacts
from akashi.calls import call_facts
from akashi.db.models import (
    Call,
    CallFlag,
    EvidenceObject,
    Incident,
    IncidentItem,
    Note,
    Site,
    TranscriptSegment,
)
from akashi.db.queries import CallQuery
from akashi.web.i18n import JST, jst
from akashi.web.schemas import CallDetail, CallPage, CallSummary, FlagOut, IncidentRef, NoteOut, Segment

if TYPE_CHECKING:
    from akashi.context import Akashi


def jst_day_start(d: date) -> datetime:
    """Midnight JST of ``d`` (the UI's dates are Japanese calendar days)."""
    return datetime.combine(d, time(0), tzinfo=JST)


def make_query(
    *,
    from_: date | None,
    to: date | None,
    number: str | None,
    agent: str | None,
    site: str | None,
    flag: str | None,
    text: str | None,
    order: str,
    limit: int,
    offset: int,
) -> CallQuery:
    """A :class:`CallQuery` from form/API values; ``to`` is inclusive (whole JST day)."""
    return CallQuery(
        from_=jst_day_start(from_) if from_ else None,
        to=jst_day_start(to) + timedelta(days=1) if to else None,
        number=(number or "").strip() or None,
        agent=(agent or "").strip() or None,
        site=(site or "").strip() or None,
        flag=(flag or "").strip() or None,
        text=(text or "").strip() or None,
        text_reading=search_reading(text.strip()) if text and text.strip() else "",
        order=order,
        limit=limit,
        offset=offset,
    )


def _site_names(s: Session) -> dict[int, str]:
    return {sid: name for sid, name in s.execute(select(Site.id, Site.name))}


def _caller_name(call: Call, facts: CallFacts) -> str:
    """The calling party's name from a SIPREC recording's metadata ("" for other calls)."""
    rec = facts.siprec
    if rec is None:
        return ""
    return rec.customer_name if call.direction == "in" else rec.operator_name


def summary(call: Call, sites: dict[int, str]) -> CallSummary:
    """One list row."""
    facts = call.facts  # validated once per row
    return CallSummary(
        id=call.id,
        started_at=call.started_at,
        started_jst=jst(call.started_at),
        duration_s=round(call.duration_s, 1),
        talk_s=round(facts.talk_s(call.duration_s), 1),
        direction=call.direction,
        caller=call.caller,
        caller_withheld=bool(facts.caller_withheld),
        caller_name=_caller_name(call, facts),
        dialled=call.dialled,
        agent=call.agent_name,
        site=sites.get(call.site_id) if call.site_id else None,
        status=call.status,
        flags=[str(f) for f in call.flags or []],
        severity=call.severity,
        has_media=call.media_object_id is not None,
        demo=bool(call.demo),
    )


def list_calls(s: Session, principal: Principal, q: CallQuery, *, client: str, via: str) -> CallPage:
    """One page of the calls ``principal`` may see; the search and its filters are audited."""
    rows, total = audited_search(s, principal, q, client=client, via=via)
    sites = _site_names(s)
    return CallPage(total=total, limit=q.limit, offset=q.offset, items=[summary(c, sites) for c in rows])


def flagged_terms(flags: list[CallFlag]) -> list[str]:
    """The words of the flags, split on the separators analysis uses, longest first."""
    terms: set[str] = set()
    for f in flags:
        for w in re.split(r"[,、;\n|]+", f.words or ""):
            if w.strip():
                terms.add(w.strip())
    return sorted(terms, key=len, reverse=True)


def readable_dashboard(principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """The dashboard without the words said (top flagged words, keywords) for metadata-only roles."""
    if principal.can_read_content:
        return data
    return {**data, "top_flagged_words": [], "top_keywords": []}


def notes_for(s: Session, target_type: str, target_id: int) -> list[NoteOut]:
    """Notes on a target, oldest first."""
    rows = s.scalars(
        select(Note).where(Note.target_type == target_type, Note.target_id == target_id).order_by(Note.id)
    )
    return [
        NoteOut(id=n.id, author=n.author, text=n.text, created_at=n.created_at, created_jst=jst(n.created_at))
        for n in rows
    ]


def call_site(ak: Akashi, s: Session, principal: Principal, call_id: int, client: str) -> str | None:
    """The site of a call the principal may see (for linking it to an incident; not a view of it)."""
    return summary(check_call(ak, s, principal, call_id, "view", client), _site_names(s)).site


def call_detail(ak: Akashi, s: Session, principal: Principal, call_id: int, client: str) -> CallDetail:
    """The call page's data; the view is audited (a refusal too, as ``view`` denied, and raises).

    Roles without access to content (auditors) get the metadata only: no transcript, no keywords,
    flags without their words.
    """
    call = view_call(ak, s, principal, call_id, client)
    content = principal.can_read_content
    flags = list(s.scalars(select(CallFlag).where(CallFlag.call_id == call.id).order_by(CallFlag.start_s)))
    terms = flagged_terms(flags)
    segs = (
        s.scalars(
            select(TranscriptSegment)
            .where(TranscriptSegment.call_id == call.id)
            .order_by(TranscriptSegment.start_s, TranscriptSegment.id)
        ).all()
        if content
        else []
    )
    transcript = [
        Segment(
            channel=g.channel,
            start_s=g.start_s,
            end_s=g.end_s,
            text=g.text,
            flagged=[t for t in terms if t in g.text],
        )
        for g in segs
    ]
    incidents = s.execute(
        select(Incident.id, Incident.title, Incident.status)
        .join(IncidentItem, IncidentItem.incident_id == Incident.id)
        .where(IncidentItem.call_id == call.id)
        .distinct()
    )
    obj = s.get(EvidenceObject, call.media_object_id) if call.media_object_id else None
    return CallDetail(
        call=summary(call, _site_names(s)),
        facts=readable_facts(principal, call_facts(s, call)),
        transcript=transcript,
        flags=[
            FlagOut(
                category=f.category,
                source=f.source,
                words=f.words if content else "",
                channel=f.channel,
                start_s=f.start_s,
                end_s=f.end_s,
                score=f.score,
            )
            for f in flags
        ],
        notes=notes_for(s, "call", call.id),
        incidents=[IncidentRef(id=i, title=t, status=st) for i, t, st in incidents],
        legal_hold=bool(obj and obj.legal_hold),
        can_play=principal.can_play and obj is not None and obj.state != "deleted",
        can_export=principal.can_export and obj is not None and obj.state != "deleted",
    )


def add_note(
    ak: Akashi, s: Session, principal: Principal, target_type: str, target_id: int, text: str, client: str
) -> Note:
    """Add a note to a call (visible to the user) and audit it."""
    if target_type == "call":
        check_call(ak, s, principal, target_id, "note", client)
    if principal.role in ("auditor", "counsel"):
        raise refuse(
            ak.engine,
            principal,
            "note",
            target_type,
            target_id,
            client,
            f"role_{principal.role}_no_notes",
            message=("この役割ではメモを追加できません", f"{principal.role}s cannot add notes"),
        )
    note = Note(target_type=target_type, target_id=target_id, author=principal.name, text=text)
    s.add(note)
    s.flush()
    audit(
        s,
        user=principal.name,
        action="note",
        target_type=target_type,
        target_id=target_id,
        client=client,
        detail={"note_id": note.id},
    )
    return note


def set_call_hold(
    ak: Akashi, s: Session, principal: Principal, call_id: int, hold: bool, reason: str, client: str
) -> None:
    """Place or release the legal hold on a call's recording (managers and admins; refusals audited)."""
    change_call_hold(ak, s, principal, call_id, hold, reason, client)
