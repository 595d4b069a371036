"""The live board's store: events in, calls in progress out, commands taken once; SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from akashi.access import Principal, load_principal
from akashi.access.live import LiveStore, calls_in_progress, events_since, last_event_id, post_command
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import AuditEntry, Site, User
from akashi.db.models_live import LiveCall
from akashi.errors import AccessDenied, NotFoundError
from akashi.telephony.live import LiveEvent

T0 = datetime(2026, 12, 6, 3, 0, tzinfo=UTC).timestamp()


class Clock:
    """A settable clock for the store (the stale timeout is about wall time)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _people(ak: Akashi) -> None:
    with session_scope(ak.engine) as s:
        tokyo, osaka = Site(name="tokyo"), Site(name="osaka")
        s.add_all([tokyo, osaka])
        s.flush()
        mgr = User(name="mgr", role="manager", password_hash="x")
        mgr.sites = [tokyo]
        far = User(name="mgr_osaka", role="manager", password_hash="x")
        far.sites = [osaka]
        s.add_all([mgr, far, User(name="op", role="operator", password_hash="x")])


def _who(ak: Akashi, name: str) -> Principal:
    with session_scope(ak.engine) as s:
        return load_principal(s, name)


def _start(store: LiveStore, call_id: str, site: str = "tokyo", at: float = T0) -> None:
    store.publish(LiveEvent(call_id, "started", at, site=site, caller="090-1111-2222", agent="sato"))


def test_events_make_calls_in_progress_scoped_by_site(akashi: Akashi) -> None:
    _people(akashi)
    store = LiveStore(akashi.engine, clock=Clock(T0 + 5))
    _start(store, "c-tokyo")
    _start(store, "c-osaka", site="osaka")
    store.publish(LiveEvent("c-tokyo", "answered", T0 + 2))
    store.publish(LiveEvent("c-tokyo", "flag", T0 + 4, detail={"severity": "mild", "text": "早くしろ"}))
    assert store.exchange(["c-tokyo", "c-osaka"]) == []
    now = datetime.fromtimestamp(T0 + 5, UTC)
    with session_scope(akashi.engine) as s:
        mine = calls_in_progress(s, _who(akashi, "mgr"), now=now)
        everyone = calls_in_progress(s, Principal.system(), now=now)
        assert calls_in_progress(s, _who(akashi, "op"), now=now) == []
        assert [c.call_id for c in mine] == ["c-tokyo"]
        assert sorted(c.call_id for c in everyone) == ["c-osaka", "c-tokyo"]
        call = mine[0]
        assert (call.site, call.caller, call.agent) == ("tokyo", "090-1111-2222", "sato")
        assert call.answered_at == datetime.fromtimestamp(T0 + 2, UTC)
        assert [e.kind for e in call.events] == ["started", "answered", "flag"]
        assert call.events[-1].detail == {"severity": "mild", "text": "早くしろ"}
        evs = events_since(s, _who(akashi, "mgr"), 0)
        assert [e.kind for e in evs] == ["started", "answered", "flag"]
        assert events_since(s, _who(akashi, "mgr"), evs[1].id) == evs[2:]
        assert last_event_id(s) >= evs[-1].id


def test_board_command_is_audited_and_taken_exactly_once(akashi: Akashi) -> None:
    _people(akashi)
    store = LiveStore(akashi.engine)
    _start(store, "c1")
    store.exchange(["c1"])
    with session_scope(akashi.engine) as s:
        cid = post_command(s, _who(akashi, "mgr"), "c1", "warn", "test")
    with session_scope(akashi.engine) as s, pytest.raises(AccessDenied):
        post_command(s, _who(akashi, "op"), "c1", "end", "test")
    # another site's manager: not in scope
    with session_scope(akashi.engine) as s, pytest.raises(NotFoundError):
        post_command(s, _who(akashi, "mgr_osaka"), "c1", "end", "test")
    with session_scope(akashi.engine) as s, pytest.raises(NotFoundError):
        post_command(s, _who(akashi, "mgr"), "no-such-call", "end", "test")
    assert store.exchange(["other"]) == []  # only the node running the call takes its commands
    cmds = store.exchange(["c1"])
    assert [(c.id, c.call_id, c.action, c.by) for c in cmds] == [(cid, "c1", "warn", "mgr")]
    assert store.exchange(["c1"]) == []
    with session_scope(akashi.engine) as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.target_type == "live_call")).all()
        assert [(e.user_name, e.action, e.outcome) for e in entries] == [
            ("mgr", "live_warn", "ok"),
            ("op", "live_end", "denied"),
            ("mgr_osaka", "live_end", "denied"),
        ]


def test_two_nodes_never_take_the_same_command(akashi: Akashi) -> None:
    _people(akashi)
    a, b = LiveStore(akashi.engine), LiveStore(akashi.engine)
    _start(a, "c1")
    a.exchange(["c1"])
    with session_scope(akashi.engine) as s:
        for _ in range(20):
            post_command(s, Principal.system(), "c1", "end", "test")
    got: list[int] = []
    go = threading.Barrier(2)

    def node(store: LiveStore) -> None:
        go.wait()
        for _ in range(5):
            got.extend(c.id for c in store.exchange(["c1"]))

    threads = [threading.Thread(target=node, args=(x,)) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(set(got)) and len(got) == 20


def test_ended_and_stale_calls_leave_the_board(akashi: Akashi) -> None:
    clock = Clock(T0)
    store = LiveStore(akashi.engine, stale_after_s=30, clock=clock)
    _start(store, "ends")
    _start(store, "dies")
    _start(store, "beats")
    store.exchange(["ends", "dies", "beats"])
    store.publish(LiveEvent("ends", "ended", T0 + 10, detail={"by": "caller"}))
    clock.t = T0 + 20
    store.exchange(["beats"])  # the node of "dies" has stopped beating
    clock.t = T0 + 40
    store.exchange(["beats"])

    def board() -> list[str]:
        with session_scope(akashi.engine) as s:
            now = datetime.fromtimestamp(clock.t, UTC)
            return [c.call_id for c in calls_in_progress(s, Principal.system(), now=now)]

    assert board() == ["beats"]
    with session_scope(akashi.engine) as s:
        rows = {r.call_id: r for r in s.scalars(select(LiveCall))}
        assert rows["ends"].end_reason == "ended"
        assert rows["dies"].end_reason == "stale"
        assert rows["dies"].ended_at == datetime.fromtimestamp(T0, UTC)
        assert rows["beats"].ended_at is None
        kinds = [
            (e.call_id, e.kind, e.detail) for e in events_since(s, Principal.system(), 0) if e.kind == "ended"
        ]
        assert ("dies", "ended", {"reason": "stale"}) in kinds
    # a board that reads without any node exchanging still hides a call not refreshed in time
    clock.t = T0 + 40 + 31
    assert board() == []
    # a week on, the live rows of ended calls are pruned (the evidence is the call's timeline and ledger)
    clock.t = T0 + 8 * 86400
    store.exchange([])
    with session_scope(akashi.engine) as s:
        assert sorted(r.call_id for r in s.scalars(select(LiveCall))) == []
        assert events_since(s, Principal.system(), 0) == []


def test_events_stay_queued_while_the_database_is_unreachable(
    akashi: Akashi, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LiveStore(akashi.engine)
    _start(store, "c1")

    class Down(Exception):
        pass

    def down(*_a: object, **_k: object) -> set[int]:
        raise Down

    with monkeypatch.context() as m:
        m.setattr(store, "_write", down)
        with pytest.raises(Down):
            store.exchange(["c1"])
    store.exchange(["c1"])
    with session_scope(akashi.engine) as s:
        assert [r.call_id for r in s.scalars(select(LiveCall))] == ["c1"]
