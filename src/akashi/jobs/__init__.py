"""Durable job queue in the database, and the workers that run its jobs."""

from akashi.jobs.queue import ClaimedJob, JobQueue, PermanentJobError, enqueue
from akashi.jobs.worker import WorkerPool, handler, handlers, run_one

__all__ = [
    "ClaimedJob",
    "JobQueue",
    "PermanentJobError",
    "WorkerPool",
    "enqueue",
    "handler",
    "handlers",
    "run_one",
]
