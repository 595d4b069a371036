"""The recordings of the telephony service: spools written while calls run, finished calls stored.

One :class:`Recordings` per service owns the spool I/O thread (every file write, in order, so a slow
disk never stalls the RTP relay), the optional worker processes that store finished calls
(``sip.store_processes``), and the spools left by a killed process (stored as interrupted at start).
The service opens it in its ``run`` and closes it after the last call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from akashi.telephony.recorder import MAX_BACKLOG, META, CallMeta, CallSpool, write_batch
from akashi.telephony.sink import init_worker, store_folder, store_in_worker

if TYPE_CHECKING:
    from akashi.context import Akashi
    from akashi.telephony.mediapool import MediaWorkers

log = logging.getLogger(__name__)

FLUSH_S = 0.5
#: how long a finished call waits for a full spool disk before it is left for the next start
FINISH_WAIT_S = 600.0
#: how many stored call ids :attr:`Recordings.stored` keeps for a reader (the demo, tests)
STORED_KEPT = 1000


class Recordings:
    """Spools of the running calls and the storing of finished ones."""

    def __init__(self, ak: Akashi, spool_root: Path) -> None:
        self.ak = ak
        self.spool_root = spool_root
        self._spools: set[CallSpool] = set()
        #: why the spool disk refuses writes ("" while it takes them)
        self.disk_error = ""
        self.finished_calls = 0
        #: ids of the calls recovered at start from a previous run's spools (killed process)
        self.recovered: list[int] = []
        #: ids of stored calls (None when storing failed), in the order they were stored; only the
        #: newest STORED_KEPT wait there (nothing takes them in production: the demo and tests do)
        self.stored: asyncio.Queue[int | None] = asyncio.Queue(maxsize=STORED_KEPT)
        #: one thread for every spool write, in order: a slow disk must not stall the RTP relay
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="akashi-spool")
        self._pool: ProcessPoolExecutor | None = None
        #: calls being stored (awaited at shutdown)
        self.tasks: set[asyncio.Task[None]] = set()
        #: the media worker processes that write the spools' packets (None: this process writes them)
        self.media: MediaWorkers | None = None

    async def open(self, store_processes: int) -> None:
        """Store what a killed process left, then start the storing worker processes (if any)."""
        self.spool_root.mkdir(parents=True, exist_ok=True)
        self.recovered = await asyncio.to_thread(self.recover)
        if store_processes:
            self._pool = ProcessPoolExecutor(
                max_workers=store_processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
                initargs=(str(self.ak.settings.home),),
            )

    async def close(self) -> None:
        """Write what is queued, close every spool (a full disk: each keeps what it has), stop the workers."""
        await asyncio.get_running_loop().run_in_executor(self._io, lambda: None)  # drain queued writes
        for sp in list(self._spools):
            with contextlib.suppress(OSError):
                sp.close()
        self._io.shutdown(wait=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    async def flush_loop(self) -> None:
        """Write the spools' buffered packets every :data:`FLUSH_S` (the service runs it as one task)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(FLUSH_S)
            batch = [item for sp in self._spools for item in sp.take()]
            if batch:
                # the single I/O thread keeps the order of every write to a file
                self._disk(await loop.run_in_executor(self._io, write_batch, batch))

    def _disk(self, error: OSError | None) -> None:
        """Say once when the spool disk starts refusing writes (full disk...), and when it is back."""
        self.disk_state("" if error is None else f"{error.strerror or error}")

    def disk_state(self, why: str) -> None:
        """The spool disk refuses writes for ``why`` ("": it takes them): logged when that changes."""
        if why and not self.disk_error:
            self.disk_error = why
            log.error(
                "録音を書き込めません（%s）。空きができるまで通話ごとに最大 %d MB をメモリに保持します / "
                "cannot write recordings (%s); keeping up to %d MB per call leg in memory until it recovers",
                self.disk_error, MAX_BACKLOG >> 20, self.disk_error, MAX_BACKLOG >> 20,
            )  # fmt: skip
        elif not why and self.disk_error:
            log.warning("録音の書き込みが再開しました / recordings are being written again")
            self.disk_error = ""

    def open_spool(self, meta: CallMeta) -> CallSpool:
        """A spool folder for a new call."""
        folder = self.spool_root / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        sp = CallSpool(folder, meta, self._io, media_here=self.media is None)
        self._spools.add(sp)
        return sp

    def finished(self, sp: CallSpool) -> None:
        """A call is over: its spool is written out and stored (in a task)."""
        self._spools.discard(sp)
        task = asyncio.get_running_loop().create_task(self._store(sp))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _finish_spool(self, sp: CallSpool) -> bool:
        """Write the call's last packets and metadata, waiting out a full disk; False if it never came back."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FINISH_WAIT_S
        while True:
            try:
                # queued on the I/O thread, after every earlier write of this call
                await loop.run_in_executor(self._io, sp.finish)
            except OSError as exc:
                self._disk(exc)
                if loop.time() > deadline:
                    log.error(
                        "call %s could not be written; its spool waits for the next try", sp.folder.name
                    )
                    return False
                await asyncio.sleep(1.0)
            else:
                return True

    async def _store(self, sp: CallSpool) -> None:
        folder = sp.folder
        if self.media is not None:  # the workers write out and close the call's files first
            await self.media.settled((sp.caller.path, sp.heard.path))
        if sp.dropped:
            sp.meta.extra.spool_dropped_packets = sp.dropped  # the disk refused writes for minutes
        if not await self._finish_spool(sp):
            self._stored(None)
            return
        if self._pool is None:
            cid = await asyncio.to_thread(self.store_call, folder)
        else:
            try:
                cid = await asyncio.get_running_loop().run_in_executor(
                    self._pool, store_in_worker, str(folder)
                )
            except Exception:
                log.exception("storing call %s failed; its spool is kept for the next start", folder.name)
                cid = None
            if cid is not None:
                self.finished_calls += 1
        self._stored(cid)

    def _stored(self, cid: int | None) -> None:
        """Tell whoever waits on :attr:`stored`; the oldest id goes when nobody takes them."""
        if self.stored.full():
            self.stored.get_nowait()
        self.stored.put_nowait(cid)

    def store_call(self, folder: Path) -> int | None:
        """Finalise a spool folder and ingest it; the folder goes once the call is stored."""
        try:
            call_id = store_folder(self.ak, folder)
        except Exception:
            log.exception("storing call %s failed; its spool is kept for the next start", folder.name)
            return None
        self.finished_calls += 1
        return call_id

    def recover(self) -> list[int]:
        """Finalise spools left by a previous run (killed process): stored as interrupted calls."""
        out = []
        for folder in sorted(self.spool_root.glob("*")):
            if (folder / META).exists():
                cid = self.store_call(folder)
                if cid is not None:
                    out.append(cid)
        return out
