"""Job handlers and the worker pool that runs them."""

from __future__ import annotations

import importlib
import logging
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from akashi.jobs.queue import JobQueue, PermanentJobError, worker_name

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)

Handler = Callable[["Akashi", dict[str, Any]], None]
_HANDLERS: dict[str, Handler] = {}
# Modules whose import registers handlers; imported lazily by the pool so that the CLI stays light.
HANDLER_MODULES = ["akashi.analysis.jobs"]


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register ``fn(ak, payload)`` as the handler of jobs of ``kind``."""

    def deco(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return deco


def handlers() -> dict[str, Handler]:
    """All registered handlers, importing the modules that define them."""

    for mod in HANDLER_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
    return dict(_HANDLERS)


def run_one(ak: Akashi, queue: JobQueue, worker: str, kinds: list[str] | None = None) -> bool:
    """Claim and run one job. Returns False when there was nothing to do."""
    table = handlers()
    job = queue.claim(worker, kinds if kinds is not None else list(table))
    if job is None:
        return False
    fn = table.get(job.kind)
    if fn is None:
        queue.fail(job.id, worker, f"no handler for job kind {job.kind!r}")
        return True
    done = threading.Event()
    keeper = threading.Thread(
        target=_keep_lease, args=(queue, job.id, worker, done), name=f"akashi-lease-{job.id}", daemon=True
    )
    keeper.start()
    try:
        fn(ak, job.payload)
    except Exception as exc:
        permanent = isinstance(exc, PermanentJobError)
        error = str(exc) if permanent else "".join(traceback.format_exception(exc))
        state = queue.fail(job.id, worker, error, permanent=permanent)
        log.warning("job %s (%s) failed, now %s: %s", job.id, job.kind, state, exc)
    else:
        queue.complete(job.id, worker)
    finally:
        done.set()
        keeper.join()
    return True


def _keep_lease(queue: JobQueue, job_id: int, worker: str, done: threading.Event) -> None:
    """Renew a running job's lease every third of it, so a long job (an hour-long call) is not taken twice."""
    interval = max(0.5, queue.lease.total_seconds() / 3)
    while not done.wait(interval):
        queue.extend(job_id, worker)


class WorkerPool:
    """Owner of the job worker threads: start with ``with`` or :meth:`start`, stop with :meth:`stop`."""

    def __init__(self, ak: Akashi, count: int | None = None, kinds: list[str] | None = None) -> None:
        self.ak = ak
        js = ak.settings.jobs
        self.count = js.workers if count is None else count
        self.kinds = kinds
        self.queue = JobQueue(ak.engine, lease_seconds=js.lease_seconds, backoff_seconds=js.backoff_seconds)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _loop(self, index: int) -> None:
        if self.kinds == []:
            return  # nothing this pool may run (e.g. every kind belongs to the transcriber)
        name = f"{worker_name()}:{index}"
        while not self._stop.is_set():
            try:
                busy = run_one(self.ak, self.queue, name, self.kinds)
            except Exception:
                log.exception("job worker %s: unexpected error", name)
                busy = False
            if not busy:
                self._stop.wait(self.ak.settings.jobs.poll_seconds)

    def start(self) -> None:
        """Start the worker threads."""
        for i in range(self.count):
            t = threading.Thread(target=self._loop, args=(i,), name=f"akashi-job-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the workers to stop after their current job and wait for them."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
