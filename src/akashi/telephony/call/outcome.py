"""The outcome of a finished call from telephony's own metadata (:class:`~akashi.telephony.recorder.CallMeta`).

:class:`~akashi.calloutcome.CallOutcome` itself lives outside telephony (ingest, analysis and the web
read it without importing the SIP stack); this module builds it once, when the call is over.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from akashi.calloutcome import STATUSES, CallOutcome, CallStatus
from akashi.telephony.recorder import CallMeta

__all__ = ["CallOutcome", "outcome_of"]


def _status(value: str) -> CallStatus:
    """A stored status; anything else (a call that never reached an end of its own) is ``missed``."""
    return cast(CallStatus, value) if value in STATUSES else "missed"


def _ts(t: float | None) -> datetime | None:
    return datetime.fromtimestamp(t, UTC) if t is not None else None


def outcome_of(meta: CallMeta) -> CallOutcome:
    """The outcome of a call from its final metadata (a copy: later changes to ``meta`` do not reach it)."""
    start = _ts(meta.started_at)
    assert start is not None
    return CallOutcome(
        status=_status(meta.status),
        direction="in" if meta.direction == "in" else "out",
        caller=meta.caller,
        dialled=meta.dialled,
        agent=meta.agent,
        agent_sip_user=meta.agent_sip_user,
        site=meta.site,
        hangup_side=meta.hangup_side,
        started_at=start,
        answered_at=_ts(meta.answered_at),
        bridged_at=_ts(meta.bridged_at),
        ended_at=_ts(meta.ended_at),
        notice_mode=meta.notice_mode,
        notice_started_at=_ts(meta.notice_started_at),
        notice_ended_at=_ts(meta.notice_ended_at),
        codec=meta.codec,
        call_ids=tuple(meta.call_ids),
        source="sip",
        facts=meta.extra.model_copy(update={"payload_type": meta.payload_type}),
    )
