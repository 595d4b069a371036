"""Moves one camera's closed segments from the local queue into the evidence store, in order.

When the store fails, the segment stays queued and the uploader retries later, still in order;
nothing is dropped that has not been stored. Within a :class:`~akashi.cameras.service.CameraService`
the segments go through its shared :class:`~akashi.cameras.storer.SegmentStorer` (batched with other
cameras'); an uploader on its own stores each segment alone, the same way. Uploaded local copies are dropped oldest first past
``camera_policy.local_max_mb``; passing the limit with segments not yet stored raises an alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from akashi.cameras import records
from akashi.cameras.events import CameraEvent, Listener
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.cameras.storer import SegmentStorer, Stored, store_segments
from akashi.db import utcnow

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)


class Uploader:
    """Upload loop of one camera; wake it with :meth:`wake` when a segment closes."""

    def __init__(
        self,
        ak: Akashi,
        camera_id: int,
        camera: str,
        spool: CameraSpool,
        emit: Listener,
        storer: SegmentStorer | None = None,
    ) -> None:
        self.ak = ak
        self.storer = storer  # shared by the cameras of a service: batches; else each segment alone
        self.camera_id = camera_id
        self.camera = camera
        self.spool = spool
        self.emit = emit
        self._wake = asyncio.Event()
        self.retry_s = ak.settings.store.retry_interval_s
        self.max_bytes = ak.settings.camera_policy.local_max_mb * 1024 * 1024
        self.retain = timedelta(days=ak.settings.camera_policy.retain_days)
        self.alerting = False
        self._loop: asyncio.AbstractEventLoop | None = None
        # Segments that may already be stored: whatever was queued before this uploader's first pass
        # (left by a process that died) and any whose upload failed part-way. Only these are looked
        # up before a put; a segment this process just closed cannot be in the store yet.
        self._first_pass = True
        self._maybe_stored: set[str] = set()

    def _post(self, ev: CameraEvent) -> None:
        """Emit from a worker thread: listeners run in the event loop."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.emit, ev)

    def wake(self) -> None:
        """A segment is ready (call from the event loop)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Upload until ``stop``; then one last pass so that closed segments are not left behind."""
        self._loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            ok = await self.drain()
            await asyncio.to_thread(self._check_space)
            if stop.is_set():
                if not ok:
                    log.warning("camera spool %s: segments still queued at stop", self.spool.dir)
                return
            waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            try:
                await asyncio.wait(waits, timeout=None if ok else self.retry_s, return_when="FIRST_COMPLETED")
            finally:
                for w in waits:
                    w.cancel()
            if stop.is_set():
                self._wake.set()  # fall through to the final pass

    async def drain(self) -> bool:
        """Upload every queued segment, oldest first; False when the store failed (retry later)."""
        pending = await asyncio.to_thread(self.spool.pending)
        if self._first_pass:
            self._first_pass = False
            self._maybe_stored.update(meta.key for meta, _ in pending)
        for meta, media in pending:
            try:
                if meta.key in self._maybe_stored and await asyncio.to_thread(self._already_stored, meta):
                    continue
                if self.storer is not None:
                    stored = await self.storer.store(meta, media, self.spool, self.retain)
                else:
                    stored = await asyncio.to_thread(self._upload, meta, media)
                self._maybe_stored.discard(meta.key)
                self.emit(
                    CameraEvent(
                        "segment_stored",
                        meta.camera,
                        utcnow(),
                        object_id=stored.object_id,
                        latency_s=stored.latency_s,
                        extra={"since_end_s": stored.since_end_s, "batch": stored.batch},
                    )
                )
            except Exception as exc:  # the store or database is down: keep it queued, in order
                self._maybe_stored.add(meta.key)
                log.warning("camera %s: upload failed, queued: %s", meta.camera, exc)
                self.emit(CameraEvent("upload_failed", meta.camera, utcnow(), str(exc)[:300]))
                return False
        return True

    def _already_stored(self, meta: SegmentMeta) -> bool:
        """A segment queued before a crash or a failed upload may be stored: then only its entry goes."""
        if records.segment_exists(self.ak.engine, meta.camera_id, meta.started_at):
            self.spool.uploaded(meta)  # stored before a crash, only the queue entry was left
            self._maybe_stored.discard(meta.key)
            return True
        return False

    def _upload(self, meta: SegmentMeta, media: Path) -> Stored:
        """Store one segment alone (no shared storer): the same path as a batch of one."""
        (res,) = store_segments(self.ak, [(meta, media, self.spool, self.retain)])
        if isinstance(res, BaseException):
            raise res
        return res

    def _check_space(self) -> None:
        ok = self.spool.prune(self.max_bytes)
        if not ok and not self.alerting:
            self.alerting = True
            msg = "ローカルの録画キューが上限を超えています（保存先に届いていません）"
            log.error("camera %s: %s / local queue over its limit, store unreachable", self.camera, msg)
            records.set_state(self.ak.engine, self.camera_id, "alert", alert=msg)
            self._post(CameraEvent("alert", self.camera, utcnow(), f"{msg} / local camera queue over limit"))
        elif ok and self.alerting:
            self.alerting = False
            records.set_state(self.ak.engine, self.camera_id, "recording", alert="")


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` unless ``stop`` is set first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
