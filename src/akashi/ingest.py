"""Finished recordings enter Akashi here: media to the evidence store, a row in ``calls``, a job.

The telephony recorder and ``akashi import call`` both hand their calls to :func:`ingest_call` as one
typed :class:`~akashi.calloutcome.CallOutcome`; its facts become the row's JSON column
(schema: :class:`akashi.callfacts.CallFacts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from akashi.access.agents import adopt_name
from akashi.calloutcome import CallOutcome
from akashi.db.base import session_scope, utcnow
from akashi.db.models import Agent, Call
from akashi.db.queries import national_digits, site_id_for
from akashi.errors import AkashiError
from akashi.jobs import enqueue
from akashi.store import ledger
from akashi.wavinfo import parse_wav_header

if TYPE_CHECKING:
    from akashi.callfacts import CallEvent
    from akashi.context import Akashi
    from akashi.store.evidence import PutResult

#: ``calls.analysis_state`` of a call with nothing to transcribe (no media, or media without sound)
NO_AUDIO = "no_audio"


def agent_for(session: Session, name: str, sip_user: str, site_id: int | None) -> Agent | None:
    """Find (or create) the agent record by SIP user, else by name.

    The configured (or PBX-given) ``name`` wins over an agent auto-created with the phone's user as its
    name (see :func:`akashi.access.agents.adopt_name`).
    """
    agent = None
    if sip_user:
        agent = session.scalar(select(Agent).where(Agent.sip_user == sip_user))
        if agent is not None and name and agent.name != name:
            agent = adopt_name(session, agent, name)
    if agent is None and name:
        agent = session.scalar(select(Agent).where(Agent.name == name))
    if agent is None and (name or sip_user):
        try:
            with session.begin_nested():
                agent = Agent(name=name or sip_user, sip_user=sip_user or None, site_id=site_id)
                session.add(agent)
                session.flush()
        except IntegrityError:  # another call stored at the same moment created it first (as site_id_for)
            agent = session.scalar(select(Agent).where(Agent.sip_user == sip_user)) if sip_user else None
            agent = agent or session.scalar(select(Agent).where(Agent.name == (name or sip_user)))
            if agent is None:
                raise
    return agent


def store_call_media(
    ak: Akashi, media: Path, record: CallOutcome, *, media_type: str, suffix: str
) -> PutResult:
    """Put a call's recording in the evidence store, kept ``retention.calls_days`` from its start."""
    retain = record.started_at + timedelta(days=ak.settings.retention.calls_days)
    with media.open("rb") as f:
        return ak.store.put(
            f,
            kind="call_audio",
            media_type=media_type,
            filename=f"{record.started_at:%Y%m%dT%H%M%S}-{national_digits(record.caller) or 'unknown'}.{suffix}",
            site=record.site or None,
            meta={"caller": record.caller, "dialled": record.dialled, "call_ids": list(record.call_ids)},
            retain_until=retain,
        )


def record_call(
    ak: Akashi,
    record: CallOutcome,
    *,
    ended: datetime | None,
    duration_s: float,
    media_object_id: str | None,
    codec: str,
    channels: int,
    transcribe: bool,
    has_audio: bool = True,
) -> int:
    """Create the ``calls`` row (site and agent resolved or created); queue transcription when asked.

    The row's JSON column holds ``record.facts`` as :meth:`~akashi.callfacts.CallFacts.to_extra` stores it.

    A call without audio (no media, or media holding no sound: a refused attempt) is marked
    ``analysis_state="no_audio"`` and never gets a transcription job: there is nothing to hear.
    """
    transcribe = transcribe and has_audio
    with session_scope(ak.engine) as s:
        site_id = site_id_for(s, record.site)
        agent = agent_for(s, record.agent, record.agent_sip_user, site_id)
        call = Call(
            started_at=record.started_at,
            answered_at=record.answered_at,
            ended_at=ended,
            direction=record.direction,
            caller=record.caller,
            dialled=record.dialled,
            caller_digits=national_digits(record.caller),
            dialled_digits=national_digits(record.dialled),
            agent_id=agent.id if agent else None,
            agent_name=agent.name if agent else record.agent,
            site_id=site_id,
            duration_s=duration_s,
            status=record.status,
            source=record.source,
            hangup_side=record.hangup_side,
            call_ids=list(record.call_ids),
            notice_mode=record.notice_mode,
            notice_started_at=record.notice_started_at,
            notice_ended_at=record.notice_ended_at,
            bridged_at=record.bridged_at,
            media_object_id=media_object_id,
            codec=codec,
            channels=channels,
            analysis_state="pending" if transcribe else ("none" if has_audio else NO_AUDIO),
            extra=record.facts.to_extra(),
            created_at=utcnow(),
        )
        s.add(call)
        s.flush()
        record_timeline(ak, s, call.id, media_object_id, record.events)
        if transcribe and ak.settings.analysis.enabled:
            enqueue(s, "transcribe", {"call_id": call.id}, dedupe_key=f"transcribe:{call.id}")
        return call.id


def record_timeline(
    ak: Akashi, session: Session, call_id: int, object_id: str | None, events: Sequence[CallEvent]
) -> None:
    """One ledger entry per step of the call's live-protection timeline (key, warning, board action...),
    on the call's recording, in the transaction that records the call; a call without a recording has
    its timeline in the ``calls`` row only."""
    if object_id is None:
        return

    for ev in events:
        ledger.append_entry(session, "event", object_id, ev.ledger_data(call_id), anchor=ak.store.anchor)


def ingest_call(ak: Akashi, media: Path | None, record: CallOutcome, *, transcribe: bool = True) -> int:
    """Store ``media`` (a WAV) encrypted, record the call, queue its transcription. Returns the call id."""
    info = None
    put = None
    if media is not None:
        with media.open("rb") as f:
            info = parse_wav_header(f.read(65536), media.stat().st_size)
        if info.channels not in (1, 2):
            raise AkashiError(
                f"WAV は モノラルかステレオ（左=お客様, 右=応対者）にしてください: {info.channels} チャンネル",
                f"WAV must be mono or stereo (left customer, right operator): {info.channels} channels",
            )
        put = store_call_media(ak, media, record, media_type="audio/wav", suffix="wav")
    ended = record.ended_at
    if ended is None and info is not None:
        ended = record.started_at + timedelta(seconds=info.duration_s)
    return record_call(
        ak,
        record,
        ended=ended,
        duration_s=info.duration_s
        if info
        else ((ended - record.started_at).total_seconds() if ended else 0.0),
        media_object_id=put.object_id if put else None,
        codec=record.codec or (info.codec if info else ""),
        channels=info.channels if info else 0,
        transcribe=put is not None and transcribe,
        has_audio=info is not None and info.data_size > 0,
    )
