"""The durable job queue: claim with lease, retry with backoff, dead letter, reclaim after a dead worker."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from akashi.db import make_engine, session_scope
from akashi.db.base import utcnow
from akashi.db.migrate import migrate
from akashi.db.models import Job
from akashi.jobs import JobQueue, enqueue


@pytest.fixture
def queue(db_url: str) -> Any:
    engine = make_engine(db_url)
    migrate(engine)
    yield JobQueue(engine, lease_seconds=60, backoff_seconds=10)
    engine.dispose()


def test_claim_complete(queue: JobQueue) -> None:
    with session_scope(queue.engine) as s:
        jid = enqueue(s, "transcribe", {"call_id": 1})
    job = queue.claim("w1")
    assert job is not None and job.id == jid and job.payload == {"call_id": 1} and job.attempts == 1
    assert queue.claim("w2") is None  # leased
    queue.complete(job.id, "w1")
    with session_scope(queue.engine) as s:
        assert s.get(Job, jid).state == "done"  # type: ignore[union-attr]


def test_dedupe_key(queue: JobQueue) -> None:
    with session_scope(queue.engine) as s:
        assert enqueue(s, "k", {}, dedupe_key="same") is not None
        assert enqueue(s, "k", {}, dedupe_key="same") is None


def test_retry_with_backoff_then_dead_letter(queue: JobQueue) -> None:
    with session_scope(queue.engine) as s:
        jid = enqueue(s, "k", {}, max_attempts=2)
    now = utcnow()
    job = queue.claim("w", now=now)
    assert job is not None
    assert queue.fail(job.id, "w", "boom", now=now) == "queued"
    assert queue.claim("w", now=now + timedelta(seconds=5)) is None  # backing off
    job = queue.claim("w", now=now + timedelta(seconds=11))
    assert job is not None and job.attempts == 2
    assert queue.fail(job.id, "w", "boom again", now=now) == "dead"
    with session_scope(queue.engine) as s:
        row = s.get(Job, jid)
        assert row is not None and row.state == "dead" and "boom again" in row.last_error
    assert queue.retry_dead(jid)
    assert queue.claim("w", now=utcnow() + timedelta(seconds=1)) is not None


def test_dead_worker_job_is_claimed_again_after_lease(queue: JobQueue) -> None:
    with session_scope(queue.engine) as s:
        enqueue(s, "k", {"n": 1})
    now = utcnow()
    first = queue.claim("dies", now=now)
    assert first is not None
    assert queue.claim("other", now=now + timedelta(seconds=30)) is None
    again = queue.claim("other", now=now + timedelta(seconds=61))
    assert again is not None and again.id == first.id and again.attempts == 2
    queue.complete(first.id, "dies")  # the dead worker's late completion is ignored
    with session_scope(queue.engine) as s:
        assert s.get(Job, first.id).state == "running"  # type: ignore[union-attr]


def test_concurrent_claims_never_share_a_job(queue: JobQueue) -> None:
    with session_scope(queue.engine) as s:
        for i in range(40):
            enqueue(s, "k", {"i": i})
    got: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := queue.claim(name)) is not None:
            with lock:
                got.append(job.id)
            queue.complete(job.id, name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(set(got))
    assert len(got) == 40
