"""The hand-over of a finished call to :mod:`akashi.ingest` (the recorder never touches the database)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from akashi.telephony.recorder import CallMeta

if TYPE_CHECKING:
    from akashi.ingest import CallRecord


def _ts(t: float | None) -> datetime | None:
    return datetime.fromtimestamp(t, UTC) if t is not None else None


def to_record(meta: CallMeta) -> CallRecord:
    """The ingest record of a finished call."""
    from akashi.ingest import CallRecord

    start = _ts(meta.started_at)
    assert start is not None
    extra = dict(meta.extra)
    extra["payload_type"] = meta.payload_type
    return CallRecord(
        started_at=start,
        direction="in" if meta.direction == "in" else "out",
        caller=meta.caller,
        dialled=meta.dialled,
        answered_at=_ts(meta.answered_at),
        ended_at=_ts(meta.ended_at),
        agent=meta.agent,
        agent_sip_user=meta.agent_sip_user,
        site=meta.site,
        status=meta.status if meta.status in ("completed", "missed", "interrupted") else "missed",  # type: ignore[arg-type]
        hangup_side=meta.hangup_side,
        call_ids=list(meta.call_ids),
        notice_mode=meta.notice_mode,
        notice_started_at=_ts(meta.notice_started_at),
        notice_ended_at=_ts(meta.notice_ended_at),
        bridged_at=_ts(meta.bridged_at),
        codec=meta.codec,
        extra=extra,
    )
