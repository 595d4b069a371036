"""Durable job queue in the database, and the workers that run its jobs."""

from akashi.jobs.queue import ClaimedJob, JobQueue, enqueue
from akashi.jobs.worker import WorkerPool, handler, handlers, run_one

__all__ = ["ClaimedJob", "JobQueue", "WorkerPool", "enqueue", "handler", "handlers", "run_one"]
