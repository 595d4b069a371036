"""The live board's database side (issue 14): telephony writes live calls, the web reads them.

:class:`LiveStore` is the :class:`~akashi.telephony.live.LiveLink` of a telephony node: ``publish``
queues an event (O(1), any thread), ``exchange`` (every ~0.5 s, in a worker thread) writes the queued
events, moves the heartbeat of the calls the node still runs (every :data:`BEAT_EVERY_S`), closes calls
whose node stopped beating, opens incidents for protection events, and hands back the board's commands
for the node's calls, each taken exactly once (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
nodes never take the same one).

The reading side (:func:`calls_in_progress`, :func:`events_since`) and the board's writes
(:func:`post_command`) check the principal: the board is for admins and managers, scoped to their sites,
and every command is audited with who pressed it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, false, select, update
from sqlalchemy.orm import Session

from akashi.access.audit import audit
from akashi.access.evidence import refuse
from akashi.access.incidents_live import is_trigger, link_stored_calls, live_holds, open_for_event
from akashi.access.principal import Principal
from akashi.db.base import session_scope, utcnow
from akashi.db.models_live import LiveCall, LiveCommandRow, LiveEventRow
from akashi.db.queries import site_id_for
from akashi.errors import NotFoundError
from akashi.telephony.live import LiveAction, LiveCommand, LiveEvent

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)

#: Who may watch the board and press its buttons.
BOARD_ROLES = frozenset({"admin", "manager"})
#: A call not refreshed by its node for this long is shown no more and closed as ``stale``.
STALE_AFTER_S = 30.0
#: Events kept queued while the database is unreachable (older ones are dropped, with a log line).
MAX_QUEUED = 10_000
#: How often the node refreshes its live calls' ``seen_at`` and closes stale ones (seconds): well inside
#: :data:`STALE_AFTER_S`; waiting commands are still looked for and taken at every exchange (an UPDATE
#: of every live call twice a second cost the relay process ~2-3% of its CPU at 200 calls)
BEAT_EVERY_S = 5.0
#: How often the node looks for stored calls of live incidents to link (seconds).
LINK_EVERY_S = 5.0
ACTIONS: tuple[LiveAction, ...] = ("warn", "end")
#: Live rows are working state, not evidence (the call's timeline and the ledger are): kept this long.
KEEP = timedelta(days=7)
#: How often a node prunes live rows older than :data:`KEEP` (seconds).
PRUNE_EVERY_S = 600.0


def _dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class LiveStore:
    """A :class:`~akashi.telephony.live.LiveLink` over the database.

    ``after_incident`` runs (in the exchanging thread, after the commit) when an incident was opened,
    extended or linked to a stored call: the wiring passes one that puts the call's recording and the
    camera ranges under hold (:func:`akashi.access.incidents_live.live_holds`).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        stale_after_s: float = STALE_AFTER_S,
        after_incident: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.stale_after_s = stale_after_s
        self.after_incident = after_incident
        self.clock = clock
        self._lock = threading.Lock()
        self._queued: list[LiveEvent] = []
        self._dropped = 0
        self._last_link = 0.0
        self._last_prune = 0.0
        self._last_beat = -math.inf

    def publish(self, event: LiveEvent) -> None:
        """Queue ``event`` for the next exchange; never blocks on the database."""
        with self._lock:
            if len(self._queued) >= MAX_QUEUED:
                self._queued.pop(0)
                self._dropped += 1
            self._queued.append(event)

    def exchange(self, live_calls: Sequence[str]) -> list[LiveCommand]:
        """Write the queued events and heartbeats; return the pending commands for ``live_calls``.

        Events stay queued when the write fails (the database is down): the next exchange retries them.
        """
        with self._lock:
            events = list(self._queued)
            dropped, self._dropped = self._dropped, 0
        if dropped:
            log.warning("live board: %d events dropped while the database was unreachable", dropped)
        now = _dt(self.clock())
        link = self.clock() - self._last_link >= LINK_EVERY_S
        beat = self.clock() - self._last_beat >= BEAT_EVERY_S
        with session_scope(self.engine) as s:
            touched = self._write(s, events, now)
            # the beat's UPDATE comes before the take: on SQLite its write lock serialises the nodes' takes
            take = beat or self._pending(s, live_calls)
            if take:
                self._beat(s, live_calls, now)
            commands = self._take(s, live_calls, now) if take else []
            if beat:
                self._sweep(s, now)
            if link:
                touched |= link_stored_calls(s, now)
            if self.clock() - self._last_prune >= PRUNE_EVERY_S:
                self._last_prune = self.clock()
                prune(s, now - KEEP)
        with self._lock:
            del self._queued[: len(events)]
        if link:
            self._last_link = self.clock()
        if beat:
            self._last_beat = self.clock()
        if touched and self.after_incident is not None:
            try:
                self.after_incident()
            except Exception:  # the holds are retried by the cameras' periodic run and the next link
                log.exception("live board: placing holds for live incidents failed")
        return commands

    # -- writing -------------------------------------------------------------------------------
    def _write(self, s: Session, events: Sequence[LiveEvent], now: datetime) -> set[int]:
        touched: set[int] = set()
        sites: dict[str, int | None] = {}
        for ev in events:
            if ev.site not in sites:
                sites[ev.site] = site_id_for(s, ev.site)
            site_id = sites[ev.site]
            at = _dt(ev.at)
            row = s.scalar(select(LiveCall).where(LiveCall.call_id == ev.call_id))
            if row is None:
                row = LiveCall(
                    call_id=ev.call_id,
                    site=ev.site,
                    site_id=site_id,
                    caller=ev.caller,
                    agent=ev.agent,
                    direction=ev.direction,
                    started_at=at,
                    seen_at=now,
                    end_reason="",
                )
                s.add(row)
            else:
                # a later event may know more (the agent once answered); never blank a known field
                row.site, row.caller, row.agent = (
                    ev.site or row.site,
                    ev.caller or row.caller,
                    ev.agent or row.agent,
                )
                if site_id is not None:
                    row.site_id = site_id
                row.seen_at = max(row.seen_at, now)
            if ev.kind == "answered" and row.answered_at is None:
                row.answered_at = at
            if ev.kind == "ended":
                row.ended_at, row.end_reason = at, "ended"
            s.add(
                LiveEventRow(
                    call_id=ev.call_id,
                    site_id=row.site_id,
                    kind=ev.kind,
                    at=at,
                    detail=dict(ev.detail),
                    created_at=now,
                )
            )
            s.flush()
            if is_trigger(ev.kind, ev.detail):
                touched.add(open_for_event(s, row, ev.kind, at, ev.detail))
        return touched

    def _beat(self, s: Session, live_calls: Sequence[str], now: datetime) -> None:
        if live_calls:
            s.execute(
                update(LiveCall)
                .where(LiveCall.call_id.in_(list(live_calls)), LiveCall.ended_at.is_(None))
                .values(seen_at=now)
            )

    def _pending(self, s: Session, live_calls: Sequence[str]) -> bool:
        """Whether a command waits for one of ``live_calls`` (a read of the pending index, usually empty).

        The calls waiting for a command are matched here rather than in SQL: building an ``IN`` of every
        live call twice a second was most of what the exchange still cost at 200 calls (profiled).
        """
        if not live_calls:
            return False
        waiting = s.scalars(select(LiveCommandRow.call_id).where(LiveCommandRow.taken_at.is_(None))).all()
        return bool(waiting) and not set(waiting).isdisjoint(live_calls)

    def _take(self, s: Session, live_calls: Sequence[str], now: datetime) -> list[LiveCommand]:
        if not live_calls:
            return []
        stmt = (
            select(LiveCommandRow)
            .where(LiveCommandRow.taken_at.is_(None), LiveCommandRow.call_id.in_(list(live_calls)))
            .order_by(LiveCommandRow.id)
        )
        if s.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        out: list[LiveCommand] = []
        for row in s.scalars(stmt):
            row.taken_at = now
            if row.action in ACTIONS:
                out.append(
                    LiveCommand(row.id, row.call_id, "warn" if row.action == "warn" else "end", row.by)
                )
        return out

    def _sweep(self, s: Session, now: datetime) -> None:
        """Close calls whose node stopped beating (died, or lost its database) as ``stale``."""
        cutoff = now - timedelta(seconds=self.stale_after_s)
        for row in s.scalars(select(LiveCall).where(LiveCall.ended_at.is_(None), LiveCall.seen_at < cutoff)):
            row.ended_at, row.end_reason = row.seen_at, "stale"
            s.add(
                LiveEventRow(
                    call_id=row.call_id,
                    site_id=row.site_id,
                    kind="ended",
                    at=row.seen_at,
                    detail={"reason": "stale"},
                    created_at=now,
                )
            )


def prune(s: Session, before: datetime) -> None:
    """Delete live rows older than ``before`` (ended calls, their events, taken or stale commands)."""
    s.execute(delete(LiveEventRow).where(LiveEventRow.at < before))
    s.execute(delete(LiveCommandRow).where(LiveCommandRow.created_at < before))
    s.execute(delete(LiveCall).where(LiveCall.ended_at.is_not(None), LiveCall.ended_at < before))


# -- the board's reading side -----------------------------------------------------------------
@dataclass(frozen=True)
class BoardEvent:
    """One event as the board receives it."""

    id: int
    call_id: str
    kind: str
    at: datetime
    detail: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 UTC)."""
        return {
            "id": self.id,
            "call_id": self.call_id,
            "kind": self.kind,
            "at": self.at.isoformat(),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class BoardCall:
    """A call in progress as the board shows it, with its events (flags, keys, warnings) so far."""

    call_id: str
    site: str
    caller: str
    agent: str
    direction: str
    started_at: datetime
    answered_at: datetime | None
    events: list[BoardEvent] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "call_id": self.call_id,
            "site": self.site,
            "caller": self.caller,
            "agent": self.agent,
            "direction": self.direction,
            "started_at": self.started_at.isoformat(),
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
            "events": [e.to_json() for e in self.events],
        }


def may_watch(p: Principal) -> bool:
    """Whether ``p`` may see the live board at all (its sites are checked per call)."""
    return p.role in BOARD_ROLES


def _sites_clause(p: Principal, col: Any) -> Any:
    if p.site_ids is None:
        return None
    return col.in_(sorted(p.site_ids)) if p.site_ids else false()


def calls_in_progress(
    s: Session, p: Principal, *, now: datetime | None = None, stale_after_s: float = STALE_AFTER_S
) -> list[BoardCall]:
    """Calls in progress that ``p`` may watch (none unless :func:`may_watch`), oldest first."""
    if not may_watch(p):
        return []
    now = now or utcnow()
    stmt = (
        select(LiveCall)
        .where(LiveCall.ended_at.is_(None), LiveCall.seen_at >= now - timedelta(seconds=stale_after_s))
        .order_by(LiveCall.started_at, LiveCall.id)
    )
    scope = _sites_clause(p, LiveCall.site_id)
    if scope is not None:
        stmt = stmt.where(scope)
    calls = list(s.scalars(stmt))
    events: dict[str, list[BoardEvent]] = {c.call_id: [] for c in calls}
    if calls:
        for e in s.scalars(
            select(LiveEventRow).where(LiveEventRow.call_id.in_(list(events))).order_by(LiveEventRow.id)
        ):
            events[e.call_id].append(BoardEvent(e.id, e.call_id, e.kind, e.at, dict(e.detail)))
    return [
        BoardCall(
            c.call_id, c.site, c.caller, c.agent, c.direction, c.started_at, c.answered_at, events[c.call_id]
        )
        for c in calls
    ]


def events_since(s: Session, p: Principal, after_id: int, limit: int = 200) -> list[BoardEvent]:
    """Events after ``after_id`` on calls at the sites ``p`` may watch, in order."""
    if not may_watch(p):
        return []
    stmt = select(LiveEventRow).where(LiveEventRow.id > after_id).order_by(LiveEventRow.id).limit(limit)
    scope = _sites_clause(p, LiveEventRow.site_id)
    if scope is not None:
        stmt = stmt.where(scope)
    return [BoardEvent(e.id, e.call_id, e.kind, e.at, dict(e.detail)) for e in s.scalars(stmt)]


def last_event_id(s: Session) -> int:
    """The newest event id (a board opened now streams what comes after it)."""
    return int(s.scalar(select(LiveEventRow.id).order_by(LiveEventRow.id.desc()).limit(1)) or 0)


def post_command(s: Session, p: Principal, call_id: str, action: str, client: str) -> int:
    """Ask the node running ``call_id`` to ``warn`` or ``end``; audited with who pressed it.

    Refused (and audited) for roles other than admins and managers; a call that is not in progress or
    not at the user's sites is answered as not found.
    """
    engine = s.get_bind()
    assert isinstance(engine, Engine)
    target = f"live_{action}"
    if action not in ACTIONS:
        raise NotFoundError(f"操作 {action} はありません", f"no action {action}")
    if not may_watch(p):
        raise refuse(
            engine,
            p,
            target,
            "live_call",
            call_id[:64],
            client,
            f"role_{p.role}_no_board",
            message=(
                "通話モニターの操作は管理者とマネージャーのみです",
                "only admins and managers may act on live calls",
            ),
        )
    row = s.scalar(select(LiveCall).where(LiveCall.call_id == call_id, LiveCall.ended_at.is_(None)))
    if row is None or not p.sees_site(row.site_id):
        if row is not None:
            refuse(engine, p, target, "live_call", call_id[:64], client, "out_of_scope")
        raise NotFoundError("この通話は通話中ではありません", "this call is not in progress")
    cmd = LiveCommandRow(call_id=call_id, action=action, by=p.name)
    s.add(cmd)
    s.flush()
    audit(
        s,
        user=p.name,
        action=target,
        target_type="live_call",
        target_id=call_id[:64],
        client=client,
        detail={"command": cmd.id, "site": row.site, "caller": row.caller, "agent": row.agent},
    )
    return cmd.id


def live_store(ak: Akashi) -> LiveStore:
    """The live link of an installation's telephony: events to the board, incidents held as evidence."""

    return LiveStore(ak.engine, after_incident=lambda: live_holds(ak))
