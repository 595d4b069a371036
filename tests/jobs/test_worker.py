"""Workers run registered handlers; a failing handler is retried, then dead-lettered."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import Job
from akashi.jobs import JobQueue, WorkerPool, enqueue, handler, run_one


def test_run_one_retries_then_succeeds(akashi: Akashi) -> None:
    calls: list[dict[str, Any]] = []

    @handler("test_flaky")
    def flaky(ak: Akashi, payload: dict[str, Any]) -> None:
        calls.append(payload)
        if len(calls) == 1:
            raise RuntimeError("transient")

    q = JobQueue(akashi.engine, backoff_seconds=0)
    with session_scope(akashi.engine) as s:
        jid = enqueue(s, "test_flaky", {"x": 1})
    assert run_one(akashi, q, "w", ["test_flaky"])
    with session_scope(akashi.engine) as s:
        row = s.get(Job, jid)
        assert row is not None and row.state == "queued" and "transient" in row.last_error
    assert run_one(akashi, q, "w", ["test_flaky"])
    with session_scope(akashi.engine) as s:
        assert s.get(Job, jid).state == "done"  # type: ignore[union-attr]
    assert calls == [{"x": 1}, {"x": 1}]
    assert not run_one(akashi, q, "w", ["test_flaky"])


def test_pool_runs_jobs_and_stops(akashi: Akashi) -> None:
    done = threading.Event()
    seen: list[int] = []

    @handler("test_count")
    def count(ak: Akashi, payload: dict[str, Any]) -> None:
        seen.append(payload["n"])
        if len(seen) == 5:
            done.set()

    with session_scope(akashi.engine) as s:
        for n in range(5):
            enqueue(s, "test_count", {"n": n})
    akashi.settings.jobs.poll_seconds = 0.05
    with WorkerPool(akashi, count=2, kinds=["test_count"]):
        assert done.wait(30)
    assert sorted(seen) == [0, 1, 2, 3, 4]
    with session_scope(akashi.engine) as s:
        states = s.scalars(sa.select(Job.state).where(Job.kind == "test_count")).all()
        assert set(states) == {"done"}


def test_long_job_keeps_its_lease(akashi: Akashi) -> None:
    """A job that runs past its lease is renewed while it runs: nobody else claims it meanwhile."""
    release = threading.Event()
    started = threading.Event()

    @handler("test_long")
    def long_job(ak: Akashi, payload: dict[str, Any]) -> None:
        started.set()
        assert release.wait(30)

    q = JobQueue(akashi.engine, lease_seconds=1)
    with session_scope(akashi.engine) as s:
        jid = enqueue(s, "test_long", {})
    runner = threading.Thread(target=run_one, args=(akashi, q, "w1", ["test_long"]))
    runner.start()
    try:
        assert started.wait(10)
        # three leases pass while the job runs; another worker must find nothing to take
        for _ in range(6):
            release.wait(0.5)
            assert q.claim("w2", ["test_long"]) is None
    finally:
        release.set()
        runner.join(10)
    with session_scope(akashi.engine) as s:
        row = s.get(Job, jid)
        assert row is not None and row.state == "done" and row.attempts == 1
