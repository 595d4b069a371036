"""A durable job queue in the database.

Claims take a lease; a worker that dies leaves its job to be claimed again once the lease runs out.
On PostgreSQL the claim uses ``FOR UPDATE SKIP LOCKED`` so several workers on several hosts share it;
on SQLite the write lock serialises claims.
"""

from __future__ import annotations

import contextlib
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from akashi.db.base import session_scope, utcnow
from akashi.db.models import Job
from akashi.errors import AkashiError


class PermanentJobError(AkashiError):
    """A job that can never succeed (e.g. a call with no audio to transcribe): dead at once, no retry."""


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds until ``lease_until``."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    max_attempts: int = 5,
    run_after: datetime | None = None,
) -> int | None:
    """Add a job in the caller's transaction. With ``dedupe_key`` a second identical job is not added.

    Returns the job id, or None when a job with the same ``dedupe_key`` already exists.
    """
    if dedupe_key is not None:
        existing = session.scalar(select(Job.id).where(Job.dedupe_key == dedupe_key))
        if existing is not None:
            return None
    job = Job(
        kind=kind,
        payload=payload,
        dedupe_key=dedupe_key,
        max_attempts=max_attempts,
        run_after=run_after or utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        return None
    return job.id


def worker_name() -> str:
    """host:pid identifies a worker in the table."""

    return f"{socket.gethostname()}:{os.getpid()}"


class JobQueue:
    """Claim, finish and fail jobs."""

    def __init__(self, engine: Engine, *, lease_seconds: int = 600, backoff_seconds: float = 10.0) -> None:
        self.engine = engine
        self.lease = timedelta(seconds=lease_seconds)
        self.backoff_seconds = backoff_seconds

    def claim(
        self, worker: str, kinds: list[str] | None = None, now: datetime | None = None
    ) -> ClaimedJob | None:
        """Take the oldest runnable job (queued and due, or running with an expired lease).

        The claim is a conditional UPDATE on the state the job was read in, so two workers can
        never both win it, on SQLite as on PostgreSQL (which also skips rows locked by others).
        """
        now = now or utcnow()
        if kinds is not None and not kinds:
            return None
        for _ in range(20):
            with session_scope(self.engine) as s:
                q = (
                    select(Job.id, Job.state, Job.attempts, Job.max_attempts, Job.kind, Job.payload)
                    .where(
                        or_(
                            (Job.state == "queued") & (Job.run_after <= now),
                            (Job.state == "running") & (Job.lease_until < now),
                        )
                    )
                    .order_by(Job.run_after, Job.id)
                    .limit(1)
                )
                if kinds is not None:
                    q = q.where(Job.kind.in_(kinds))
                if s.get_bind().dialect.name == "postgresql":
                    q = q.with_for_update(skip_locked=True)
                row = s.execute(q).first()
                if row is None:
                    return None
                jid, jstate, attempts, max_attempts, kind, payload = row
                if jstate == "running" and attempts >= max_attempts:
                    # Its worker died on the last allowed attempt.
                    s.execute(
                        update(Job)
                        .where(Job.id == jid, Job.state == "running", Job.attempts == attempts)
                        .values(
                            state="dead",
                            last_error=Job.last_error + "\nlease expired on the last attempt",
                            updated_at=now,
                        )
                    )
                    continue
                result = s.execute(
                    update(Job)
                    .where(Job.id == jid, Job.state == jstate, Job.attempts == attempts)
                    .values(
                        state="running",
                        attempts=attempts + 1,
                        lease_until=now + self.lease,
                        worker=worker,
                        updated_at=now,
                    )
                )
                if cast("CursorResult[Any]", result).rowcount == 1:  # UPDATE reports its row count
                    return ClaimedJob(jid, kind, dict(payload), attempts + 1, max_attempts)
        return None

    def complete(self, job_id: int, worker: str) -> None:
        """Mark done (only if this worker still holds it)."""
        with session_scope(self.engine) as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.worker == worker, Job.state == "running")
                .values(state="done", lease_until=None, updated_at=utcnow())
            )

    def fail(
        self, job_id: int, worker: str, error: str, now: datetime | None = None, *, permanent: bool = False
    ) -> str:
        """Record a failure: retry later with exponential backoff, or dead-letter. Returns the new state.

        ``permanent``: the job can never succeed; dead-lettered now whatever its attempts.
        """
        now = now or utcnow()
        with session_scope(self.engine) as s:
            job = s.get(Job, job_id)
            if job is None or job.worker != worker or job.state != "running":
                return "lost"
            job.last_error = error[-4000:]
            job.lease_until = None
            job.updated_at = now
            if permanent or job.attempts >= job.max_attempts:
                job.state = "dead"
            else:
                job.state = "queued"
                job.run_after = now + timedelta(seconds=self.backoff_seconds * (2 ** (job.attempts - 1)))
            return job.state

    def extend(self, job_id: int, worker: str) -> None:
        """Renew the lease of a long job."""
        with contextlib.suppress(Exception), session_scope(self.engine) as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id, Job.worker == worker, Job.state == "running")
                .values(lease_until=utcnow() + self.lease)
            )

    def retry_dead(self, job_id: int) -> bool:
        """Put a dead-lettered job back in the queue (admin action)."""
        with session_scope(self.engine) as s:
            job = s.get(Job, job_id)
            if job is None or job.state != "dead":
                return False
            job.state, job.attempts, job.run_after = "queued", 0, utcnow()
            return True
