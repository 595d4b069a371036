"""What the background analysis of a call is doing, as people read it (issue 11 item 7).

A call's ``analysis_state`` (pending, running, done, failed, none, no_audio) and its ``transcribe`` job
(``dedupe_key`` ``transcribe:<id>``: queued, running, done, dead) give one state:

- ``queued``: waiting for a worker; ``retrying``: an attempt failed and another is scheduled;
- ``transcribing``: a worker has it, with an estimated percentage when earlier calls tell how fast the
  recogniser runs here (their ``processing_s / audio_s``), never past 95 % before it is done;
- ``done``, ``failed`` (no attempt left), ``none`` (never queued: not analysed), ``no_audio``.

The call list uses it to tell "no flags" (analysed, nothing found) from "not analysed".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from akashi.callfacts import CallFacts
from akashi.db.base import utcnow
from akashi.db.models import AuditEntry, Call, Job
from akashi.web.i18n import jst

#: states after which nothing will change by itself (the page stops asking)
SETTLED = frozenset({"done", "failed", "none", "no_audio"})
_HISTORY = 20


def _job_key(call_id: int) -> str:
    return f"transcribe:{call_id}"


def _state(call_state: str, job: Job | None) -> str:
    if call_state == "done":
        return "done"
    if call_state == "no_audio":
        return "no_audio"
    if job is not None:
        if job.state == "running":
            return "transcribing"
        if job.state == "queued":
            return "retrying" if job.attempts else "queued"
        if job.state == "dead":
            return "failed"
    if call_state == "running":
        return "transcribing"
    if call_state == "failed":
        return "failed"
    if call_state == "pending":
        return "queued" if job is not None else "none"
    return "none"


def _jobs(s: Session, call_ids: list[int]) -> dict[int, Job]:
    if not call_ids:
        return {}
    keys = {_job_key(i): i for i in call_ids}
    rows = s.scalars(select(Job).where(Job.dedupe_key.in_(list(keys))))
    return {keys[str(j.dedupe_key)]: j for j in rows}


def analysis_states(s: Session, call_ids: list[int]) -> dict[int, str]:
    """The analysis state of each call in ``call_ids`` (one query for the calls, one for their jobs)."""
    if not call_ids:
        return {}
    jobs = _jobs(s, call_ids)
    rows = s.execute(select(Call.id, Call.analysis_state).where(Call.id.in_(call_ids)))
    return {cid: _state(state, jobs.get(cid)) for cid, state in rows}


def _speed(s: Session) -> float | None:
    """Median seconds of processing per second of audio over the last analysed calls, if any."""
    ratios: list[float] = []
    rows = s.scalars(
        select(Call.extra).where(Call.analysis_state == "done").order_by(Call.id.desc()).limit(_HISTORY)
    )
    for extra in rows:
        a = CallFacts.read(extra).analysis
        audio, spent = (a.audio_s, a.processing_s) if a else (None, None)
        if audio is not None and spent is not None and audio > 0 and spent > 0:
            ratios.append(spent / audio)
    return median(ratios) if ratios else None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def analysis_info(s: Session, call: Call, now: datetime | None = None) -> dict[str, Any]:
    """The call page's view of its analysis: state, estimated progress, since when, attempts."""
    job = _jobs(s, [call.id]).get(call.id)
    state = _state(call.analysis_state, job)
    progress: int | None = None
    since = ""
    if job is not None and state in ("queued", "retrying", "transcribing", "failed"):
        since = jst(job.updated_at if state != "queued" else job.created_at)
    if state == "transcribing" and job is not None:
        speed = _speed(s)
        expected = call.duration_s * speed if speed else 0.0
        if expected > 0:
            elapsed = ((now or utcnow()) - _aware(job.updated_at)).total_seconds()
            progress = max(1, min(95, round(100 * elapsed / expected)))
    if state == "done":
        analysed = call.facts.analysis
        done_at = analysed.at if analysed else None
        if done_at is not None:
            try:
                since = jst(_aware(datetime.fromisoformat(done_at)))
            except ValueError:
                since = ""
    return {
        "state": state,
        "progress": progress,
        "since": since,
        "attempts": job.attempts if job is not None else 0,
        "max_attempts": job.max_attempts if job is not None else 0,
        "settled": state in SETTLED,
    }


def hold_facts(s: Session, call_id: int) -> dict[str, str] | None:
    """Who placed the call's legal hold, when (JST) and why: its latest ``hold`` audit entry, if any."""

    entry = s.scalar(
        select(AuditEntry)
        .where(
            AuditEntry.action == "hold",
            AuditEntry.target_type == "call",
            AuditEntry.target_id == str(call_id),
            AuditEntry.outcome == "ok",
        )
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    if entry is None:
        return None
    try:
        detail = json.loads(entry.detail or "{}")
    except ValueError:
        detail = {}
    reason = detail.get("reason") if isinstance(detail, dict) else None
    return {"who": entry.user_name, "when": jst(entry.ts), "reason": str(reason or "")}
