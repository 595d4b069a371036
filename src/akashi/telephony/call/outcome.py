"""One frozen, typed outcome of a finished call: what the store is handed.

:class:`CallOutcome` is built once from the call's final metadata (:meth:`CallOutcome.of`), its status
checked against the four the store knows; :func:`akashi.telephony.sink.to_record` turns it into the
ingest record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast, get_args

from akashi.telephony.call.facts import CallFacts
from akashi.telephony.recorder import CallMeta

#: how a call ended, as stored
CallStatus = Literal["completed", "missed", "interrupted", "failed"]
STATUSES: frozenset[str] = frozenset(get_args(CallStatus))


def _status(value: str) -> CallStatus:
    """A stored status; anything else (a call that never reached an end of its own) is ``missed``."""
    return cast(CallStatus, value) if value in STATUSES else "missed"


@dataclass(frozen=True)
class CallOutcome:
    """Everything known about a finished call except its media (times are UTC seconds)."""

    status: CallStatus
    direction: Literal["in", "out"]
    caller: str
    dialled: str
    agent: str
    agent_sip_user: str
    site: str
    hangup_side: str
    started_at: float
    answered_at: float | None
    bridged_at: float | None
    ended_at: float | None
    notice_mode: str
    notice_started_at: float | None
    notice_ended_at: float | None
    codec: str
    payload_type: int
    #: the caller's Call-ID, then the bridged leg's
    call_ids: tuple[str, ...]
    facts: CallFacts

    @classmethod
    def of(cls, meta: CallMeta) -> CallOutcome:
        """The outcome of a call from its final metadata (a copy: later changes to ``meta`` do not reach it)."""
        return cls(
            status=_status(meta.status),
            direction="in" if meta.direction == "in" else "out",
            caller=meta.caller,
            dialled=meta.dialled,
            agent=meta.agent,
            agent_sip_user=meta.agent_sip_user,
            site=meta.site,
            hangup_side=meta.hangup_side,
            started_at=meta.started_at,
            answered_at=meta.answered_at,
            bridged_at=meta.bridged_at,
            ended_at=meta.ended_at,
            notice_mode=meta.notice_mode,
            notice_started_at=meta.notice_started_at,
            notice_ended_at=meta.notice_ended_at,
            codec=meta.codec,
            payload_type=meta.payload_type,
            call_ids=tuple(meta.call_ids),
            facts=meta.extra.model_copy(deep=True),
        )
