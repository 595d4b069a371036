"""One camera's supervisor: connect, record, reconnect with capped backoff, and account for every gap."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime
from typing import TYPE_CHECKING

from akashi.cameras import records
from akashi.cameras.events import CameraEvent, Listener
from akashi.cameras.recorder import SessionConfig, SessionResult, run_session
from akashi.cameras.records import CameraSpec
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.cameras.uploader import Uploader, wait_or_stop
from akashi.cameras.urls import mask_url
from akashi.db import utcnow

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
GAP_DOWN = "録画停止中 / recorder not running"


class Supervisor:
    """Keeps one camera recording. Gaps: one row per outage, opened when footage stops and closed
    at the first frame after it, so segments and gaps tile the timeline."""

    def __init__(self, ak: Akashi, spec: CameraSpec, camera_id: int, emit: Listener) -> None:
        self.ak = ak
        self.spec = spec
        self.camera_id = camera_id
        self.emit = emit
        self.policy = ak.settings.camera_policy
        self.spool = CameraSpool(ak.settings.spool_path, camera_id)
        self.uploader = Uploader(ak, camera_id, spec.name, self.spool, emit)
        self.gap_id: int | None = None
        self.sessions = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Record until ``stop`` is set, with the uploader beside."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._start_bookkeeping)
        recorded = asyncio.Event()  # the uploader outlives the recorder: its last segment closes at stop

        async def record() -> None:
            try:
                await self._record_loop(stop)
            finally:
                recorded.set()

        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.uploader.run(recorded))
            tg.create_task(record())

    def _start_bookkeeping(self) -> None:
        """Recover what a dead process left, and open the gap of the time nobody recorded."""
        recovered = self.spool.recover()
        if recovered:
            log.info("camera %s: %d segment(s) recovered from the spool", self.spec.name, len(recovered))
        engine = self.ak.engine
        self.gap_id = records.open_gap_of(engine, self.camera_id)
        if self.gap_id is None:
            ends = [m.ended_at for m, _ in self.spool.pending()]
            last = records.last_segment_end(engine, self.camera_id)
            if last is not None:
                ends.append(last)
            if ends:
                self.gap_id = records.open_gap(engine, self.camera_id, max(ends), GAP_DOWN)

    async def _record_loop(self, stop: asyncio.Event) -> None:
        backoff = BACKOFF_START_S
        cfg = SessionConfig(
            self.camera_id,
            self.spec.name,
            self.spec.site,
            self.spec.url,
            self.spec.segment_seconds,
            self.policy.socket_timeout_s,
        )
        while not stop.is_set():
            await asyncio.to_thread(records.set_state, self.ak.engine, self.camera_id, "connecting")
            thread_stop = threading.Event()
            session = asyncio.ensure_future(
                asyncio.to_thread(run_session, cfg, self.spool, thread_stop, self._on_open, self._on_segment)
            )
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait([session, stopper], return_when="FIRST_COMPLETED")
            stopper.cancel()
            if stop.is_set():
                thread_stop.set()
            result = await session
            self.sessions += 1
            await asyncio.to_thread(self._after_session, result, stop.is_set())
            if stop.is_set():
                break
            if result.segments:
                backoff = BACKOFF_START_S
            log.info(
                "camera %s (%s): %s; retry in %.1fs",
                self.spec.name,
                mask_url(cfg.url),
                result.reason,
                backoff,
            )
            await wait_or_stop(stop, backoff)
            backoff = min(backoff * 2, self.policy.reconnect_max_s)
        await asyncio.to_thread(records.set_state, self.ak.engine, self.camera_id, "stopped")

    # Called from the recorder thread ------------------------------------------------------
    def _on_open(self, wall: datetime) -> None:
        if self.gap_id is not None:
            records.close_gap(self.ak.engine, self.gap_id, wall)
            self.gap_id = None
        records.set_state(self.ak.engine, self.camera_id, "recording")
        self._post(CameraEvent("connected", self.spec.name, wall))

    def _on_segment(self, meta: SegmentMeta) -> None:
        ev = CameraEvent("segment_closed", self.spec.name, meta.ended_at, extra={"frames": meta.frames})
        self._post(ev)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.uploader.wake)

    def _post(self, ev: CameraEvent) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.emit, ev)

    # Back in a worker thread after the session -------------------------------------------
    def _after_session(self, result: SessionResult, stopping: bool) -> None:
        engine = self.ak.engine
        if self.gap_id is None:
            start = result.last_end or utcnow()
            reason = GAP_DOWN if stopping else result.reason
            self.gap_id = records.open_gap(engine, self.camera_id, start, reason)
        if not stopping:
            records.set_state(engine, self.camera_id, "offline")
            self._post(CameraEvent("disconnected", self.spec.name, utcnow(), result.reason))
