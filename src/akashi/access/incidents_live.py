"""Call to camera (issue 14 item 6): a protection event on a live call opens or extends an incident.

A protection-key press (``key``), a warning played (``warning``) or a severe live flag (``flag`` with
``severity=severe``) at a site opens an incident under legal hold (or adds to the open one for the same
caller), with each of the site's cameras from 5 minutes before the event to 5 minutes after. The camera
footage is held by :func:`akashi.cameras.retention.apply_camera_holds` (the incident is open and held; the
cameras' own minute loop holds segments stored later). The call itself is linked once ingest has stored
it, found by its SIP Call-ID in ``calls.call_ids``, and its recording is then held. The incident's notes
name earlier calls from the same number (repeat callers).

Everything here but :func:`live_holds` works in the caller's transaction and does no I/O besides it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from akashi.cameras.retention import apply_camera_holds
from akashi.db.base import session_scope
from akashi.db.models import Call, Camera, EvidenceObject, Incident, IncidentItem
from akashi.db.models_live import LiveCall
from akashi.db.queries import national_digits

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)

JST = timezone(timedelta(hours=9), "JST")

#: Camera footage kept around a protection event.
MARGIN = timedelta(minutes=5)
#: ``created_by`` of incidents opened from live events, and the actor of the holds placed for them.
LIVE_ACTOR = "live"
#: How long after its end a live call's stored row is still looked for.
LINK_WINDOW = timedelta(days=1)
#: Earlier calls from the same number named in a new incident's notes.
REPEAT_LIMIT = 10

_WHAT = {
    "key": ("保護キーが押されました", "protection key pressed"),
    "warning": ("警告を流しました", "warning played"),
    "flag": ("重大な発言を検知しました", "severe live flag"),
}


def is_trigger(kind: str, detail: Mapping[str, str]) -> bool:
    """Whether an event opens an incident: a key press, a warning, or a severe flag."""
    return kind in ("key", "warning") or (kind == "flag" and detail.get("severity") == "severe")


def _stamp(at: datetime) -> str:
    return at.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S JST")


def _open_incident_for(s: Session, live: LiveCall) -> Incident | None:
    """The open incident this call already joined, or the open live incident of the same caller."""
    if live.incident_id is not None:
        inc = s.get(Incident, live.incident_id)
        if inc is not None and inc.status == "open":
            return inc
    digits = national_digits(live.caller)
    if not digits:
        return None
    for other in s.scalars(
        select(LiveCall)
        .join(Incident, Incident.id == LiveCall.incident_id)
        .where(Incident.status == "open", Incident.created_by == LIVE_ACTOR, LiveCall.id != live.id)
        .order_by(LiveCall.id.desc())
        .limit(200)
    ):
        if national_digits(other.caller) == digits:
            return s.get(Incident, other.incident_id)
    return None


def _earlier_calls(s: Session, caller: str, before: datetime) -> list[Call]:
    digits = national_digits(caller)
    if not digits:
        return []
    return list(
        s.scalars(
            select(Call)
            .where(Call.caller_digits == digits, Call.started_at < before)
            .order_by(Call.started_at.desc())
            .limit(REPEAT_LIMIT)
        )
    )


def _cover(s: Session, inc: Incident, site_id: int | None, at: datetime) -> None:
    """Make each camera of the site covered from ``at - MARGIN`` to ``at + MARGIN`` in ``inc``."""
    if site_id is None:
        return
    start, end = at - MARGIN, at + MARGIN
    for cam in s.scalars(select(Camera).where(Camera.site_id == site_id).order_by(Camera.id)):
        items = s.scalars(
            select(IncidentItem).where(
                IncidentItem.incident_id == inc.id,
                IncidentItem.camera_id == cam.id,
                IncidentItem.released.is_(False),
            )
        ).all()
        near = [
            it
            for it in items
            if it.started_at is not None
            and it.ended_at is not None
            and it.started_at <= end
            and it.ended_at >= start
        ]
        if near:
            it = near[0]
            assert it.started_at is not None and it.ended_at is not None
            it.started_at, it.ended_at = min(it.started_at, start), max(it.ended_at, end)
        else:
            s.add(IncidentItem(incident_id=inc.id, camera_id=cam.id, started_at=start, ended_at=end))


def open_for_event(s: Session, live: LiveCall, kind: str, at: datetime, detail: Mapping[str, str]) -> int:
    """Open (or extend) the incident for a protection event on ``live``; returns the incident id."""
    inc = _open_incident_for(s, live)
    ja, en = _WHAT.get(kind, (kind, kind))
    words = detail.get("text", "")
    line = f"{_stamp(at)} {ja} / {en}" + (f": 「{words}」" if words else "")
    if inc is None:
        who = live.caller or "非通知"
        inc = Incident(
            title=f"通話中の保護 {who} / live protection {live.caller or 'anonymous'}",
            site_id=live.site_id,
            legal_hold=True,
            created_by=LIVE_ACTOR,
            notes=f"通話 Call-ID {live.call_id}\n{line}",
        )
        s.add(inc)
        s.flush()
        earlier = _earlier_calls(s, live.caller, live.started_at)
        if earlier:
            listed = ", ".join(f"#{c.id} ({_stamp(c.started_at)})" for c in earlier)
            inc.notes += f"\n同じ番号からの過去の通話 / earlier calls from this number: {listed}"
    else:
        if live.incident_id != inc.id:
            inc.notes += f"\n通話 Call-ID {live.call_id}"
        inc.notes += f"\n{line}"
        inc.legal_hold = True
    live.incident_id = inc.id
    _cover(s, inc, live.site_id, at)
    s.flush()
    return inc.id


def link_stored_calls(s: Session, now: datetime) -> set[int]:
    """Link the stored ``calls`` rows of live calls that opened incidents; returns the incidents changed.

    Ingest stores a call after it ends, with the SIP Call-IDs of its legs in ``calls.call_ids``.
    """
    changed: set[int] = set()
    pending = s.scalars(
        select(LiveCall).where(
            LiveCall.incident_id.is_not(None),
            LiveCall.stored_call_id.is_(None),
            LiveCall.started_at >= now - LINK_WINDOW,
        )
    ).all()
    for live in pending:
        near = s.scalars(
            select(Call).where(
                Call.started_at >= live.started_at - timedelta(hours=1),
                Call.started_at <= live.started_at + timedelta(hours=1),
            )
        )
        call = next((c for c in near if live.call_id in (c.call_ids or [])), None)
        if call is None or live.incident_id is None:
            continue
        live.stored_call_id = call.id
        s.add(IncidentItem(incident_id=live.incident_id, call_id=call.id))
        changed.add(live.incident_id)
    s.flush()
    return changed


def live_holds(ak: Akashi) -> None:
    """Hold the recordings of calls linked to live incidents, and the cameras' footage in their ranges."""

    with session_scope(ak.engine) as s:
        objects = s.execute(
            select(EvidenceObject.id, IncidentItem.incident_id)
            .join(Call, Call.media_object_id == EvidenceObject.id)
            .join(IncidentItem, IncidentItem.call_id == Call.id)
            .join(Incident, Incident.id == IncidentItem.incident_id)
            .where(
                Incident.created_by == LIVE_ACTOR,
                Incident.legal_hold.is_(True),
                EvidenceObject.legal_hold.is_(False),
                EvidenceObject.state != "deleted",
            )
        ).all()
    for oid, incident_id in objects:
        ak.store.hold(oid, reason=f"incident {incident_id}", actor=LIVE_ACTOR)
    apply_camera_holds(ak)
