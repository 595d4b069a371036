"""Stores closed segments of every camera together: one thread, one transaction per batch.

Storing one 4-second segment alone cost about as much CPU in database and ledger work (two
transactions, a ledger lock, anchor writes) as in encryption and hashing. :class:`SegmentStorer`
takes whatever segments the cameras closed since its last batch (each camera's uploader still hands
over its own segments one at a time, in order) and stores them with
:func:`akashi.store.batch.put_files`: every segment still gets its own data key, hashes and ledger
entry, and its camera row is written in the same transaction as its evidence object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from akashi.cameras.records import add_segment_rows
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.store.batch import PutFile, put_files

if TYPE_CHECKING:
    from akashi.context import Akashi
    from akashi.store.evidence import PutResult

log = logging.getLogger(__name__)

#: Segments stored in one transaction at most (about 2 MB each at 1080p: a fraction of a second).
MAX_BATCH = 64
#: Threads that seal a batch's files (encryption and hashing release the GIL; fsyncs overlap).
SEAL_THREADS = 3
#: A batch waits this long after its first segment for others: far inside the 5 s in which a segment
#: must be in the store, and it gathers more segments per transaction and per ledger anchor write.
BATCH_WINDOW_S = 0.5


@dataclass(frozen=True)
class Stored:
    """A segment in the store: its object, how long after its file closed and after the segment's end
    (its last frame, wall clock) its ledger entry was committed, and how many segments shared it."""

    object_id: str
    latency_s: float
    since_end_s: float = 0.0
    batch: int = 1


def store_segments(
    ak: Akashi, items: list[tuple[SegmentMeta, Path, CameraSpool, timedelta]], pool: Executor | None = None
) -> list[Stored | BaseException]:
    """Store closed segments (evidence objects + segment rows in one transaction), then drop their
    queue entries; per segment what happened. A database failure is raised for all of them."""
    closed = []
    files = []
    for meta, media, _, retain in items:
        try:
            closed.append(media.stat().st_mtime)
        except OSError:
            closed.append(time.time())
        mov = meta.extra.get("container") == "mov"
        ext = "mov" if mov else "mp4"
        files.append(
            PutFile(
                media,
                kind="camera_segment",
                media_type="video/quicktime" if mov else "video/mp4",
                filename=f"{meta.camera}_{meta.started_at.strftime('%Y%m%dT%H%M%S.%fZ')}.{ext}",
                site=meta.site or None,
                meta={
                    "camera": meta.camera,
                    "camera_id": meta.camera_id,
                    "started_at": meta.started_at.isoformat(),
                    "ended_at": meta.ended_at.isoformat(),
                    "frames": meta.frames,
                    "codec": meta.codec,
                    "width": meta.width,
                    "height": meta.height,
                    "recovered": meta.recovered,
                    "audio": meta.extra.get("audio", ""),
                },
                retain_until=meta.ended_at + retain,
            )
        )

    def rows(s: Session, done: list[tuple[int, PutResult]]) -> None:
        add_segment_rows(s, [(items[i][0], r.object_id, r.sha256, r.size) for i, r in done])

    results = put_files(ak.store, files, rows, pool)
    committed = time.time()

    def dequeue(k: int) -> Stored | BaseException:
        meta, _, spool, _ = items[k]
        res = results[k]
        if isinstance(res, BaseException):
            return res
        try:
            spool.uploaded(meta)
        except OSError as exc:  # stored and recorded; the queue entry stays and is looked up later
            return exc
        since_end = committed - meta.ended_at.timestamp()
        return Stored(res.object_id, max(0.0, committed - closed[k]), since_end, len(items))

    ks = range(len(items))
    return list(pool.map(dequeue, ks)) if pool is not None else [dequeue(k) for k in ks]


_Job = tuple[
    SegmentMeta, Path, CameraSpool, timedelta, "asyncio.Future[Stored]", asyncio.AbstractEventLoop, float
]


class SegmentStorer:
    """One storing thread for all cameras (a context manager: started on entry, joined on exit)."""

    def __init__(self, ak: Akashi, window_s: float = BATCH_WINDOW_S) -> None:
        self.ak = ak
        self.window_s = window_s
        self._q: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        #: segments stored per batch (the last few hundred), for the bench and the logs
        self.batch_sizes: list[int] = []

    def __enter__(self) -> SegmentStorer:
        self.start()
        return self

    def start(self) -> None:
        """Start the storing thread."""
        if self._thread is None:
            self._pool = ThreadPoolExecutor(SEAL_THREADS, thread_name_prefix="akashi-camera-seal")
            self._thread = threading.Thread(target=self._run, name="akashi-camera-storer", daemon=True)
            self._thread.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Finish the segments handed over (at most a batch: uploaders wait for theirs), then stop."""
        if self._thread is not None:
            self._q.put(None)
            self._thread.join()
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    async def store(self, meta: SegmentMeta, media: Path, spool: CameraSpool, retain: timedelta) -> Stored:
        """Store one segment (in whichever batch it lands); raises what kept it out of the store."""
        if self._thread is None:
            raise RuntimeError("SegmentStorer is not running")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Stored] = loop.create_future()
        self._q.put((meta, media, spool, retain, fut, loop, time.monotonic()))
        return await fut

    def _run(self) -> None:
        stopping = False
        while not stopping:
            job = self._q.get()
            if job is None:
                break
            batch = [job]
            until = job[6] + self.window_s  # from its hand-over: a backlog is not held back again
            while len(batch) < MAX_BATCH:  # what arrives within the window joins this batch
                try:
                    more = self._q.get(timeout=max(0.0, until - time.monotonic()))
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._store(batch)

    def _store(self, batch: list[_Job]) -> None:
        self.batch_sizes = [*self.batch_sizes[-500:], len(batch)]
        results: list[Stored | BaseException]
        try:
            results = store_segments(self.ak, [(m, p, sp, r) for m, p, sp, r, *_ in batch], self._pool)
        except BaseException as exc:  # the database or store is down: every segment stays queued
            results = [exc] * len(batch)
        for (*_, fut, loop, _), res in zip(batch, results, strict=True):
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for this answer any more
                loop.call_soon_threadsafe(_settle, fut, res)


def _settle(fut: asyncio.Future[Stored], res: Stored | BaseException) -> None:
    if fut.done():  # its uploader was cancelled (service stopping): the segment is stored anyway
        return
    if isinstance(res, BaseException):
        fut.set_exception(res)
    else:
        fut.set_result(res)
