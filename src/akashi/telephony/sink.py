"""The hand-over of a finished call to :mod:`akashi.ingest` (the recorder never touches the database)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from akashi.telephony.call.outcome import CallOutcome
from akashi.telephony.recorder import CallMeta, finalise

if TYPE_CHECKING:
    from akashi.context import Akashi
    from akashi.ingest import CallRecord

#: the installation opened by a store worker process (one per process)
_worker: dict[str, Akashi] = {}


def store_folder(ak: Akashi, folder: Path) -> int:
    """Finalise a call's spool folder into its stereo WAV (or RTP container), ingest it, remove the folder."""
    from akashi.ingest import ingest_call

    done = folder / "ingested"
    if done.exists():  # stored before a crash: only the clean-up was left
        shutil.rmtree(folder, ignore_errors=True)
        return int(done.read_text() or 0)
    media, meta = finalise(folder)
    if media.suffix == ".akrtp":
        from akashi.telephony.rawmedia import ingest_raw_call

        call_id = ingest_raw_call(ak, media, to_record(meta))
    else:
        call_id = ingest_call(ak, media, to_record(meta))
    done.write_text(str(call_id))  # a restart must not store the same call twice
    shutil.rmtree(folder, ignore_errors=True)
    return call_id


def init_worker(home: str) -> None:
    """Start of a store worker process: open the installation once."""
    from akashi.context import Akashi

    _worker["ak"] = Akashi.open(home, run_migrations=False)


def store_in_worker(folder: str) -> int:
    """:func:`store_folder` in a worker process made by :func:`init_worker`."""
    return store_folder(_worker["ak"], Path(folder))


def _ts(t: float | None) -> datetime | None:
    return datetime.fromtimestamp(t, UTC) if t is not None else None


def to_record(meta: CallMeta) -> CallRecord:
    """The ingest record of a finished call, from its :class:`~akashi.telephony.call.outcome.CallOutcome`."""
    from akashi.ingest import CallRecord

    out = CallOutcome.of(meta)
    start = _ts(out.started_at)
    assert start is not None
    extra = out.facts.to_extra()
    extra["payload_type"] = out.payload_type
    return CallRecord(
        started_at=start,
        direction=out.direction,
        caller=out.caller,
        dialled=out.dialled,
        answered_at=_ts(out.answered_at),
        ended_at=_ts(out.ended_at),
        agent=out.agent,
        agent_sip_user=out.agent_sip_user,
        site=out.site,
        status=out.status,
        hangup_side=out.hangup_side,
        call_ids=list(out.call_ids),
        notice_mode=out.notice_mode,
        notice_started_at=_ts(out.notice_started_at),
        notice_ended_at=_ts(out.notice_ended_at),
        bridged_at=_ts(out.bridged_at),
        codec=out.codec,
        extra=extra,
    )
