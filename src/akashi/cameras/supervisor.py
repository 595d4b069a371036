"""One camera's supervisor: connect, record, reconnect with capped backoff, and account for every gap."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from akashi.cameras import records
from akashi.cameras.events import CameraEvent, Listener
from akashi.cameras.recorder import SessionConfig, SessionResult, run_session
from akashi.cameras.records import CameraSpec
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.cameras.status import note_state, why_not_recording
from akashi.cameras.storer import SegmentStorer
from akashi.cameras.threads import in_own_thread
from akashi.cameras.uploader import Uploader, wait_or_stop
from akashi.cameras.urls import mask_url
from akashi.db import utcnow

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)
T = TypeVar("T")

BACKOFF_START_S = 0.5
GAP_DOWN = "録画停止中 / recorder not running"
NO_KEYFRAME = "接続しましたがキーフレームが届きません / connected, but no keyframe arrives"
#: A session this long without footage (at least) shows its camera as ``no_keyframe``.
KEYFRAME_WAIT_S = 15.0


class Supervisor:
    """Keeps one camera recording. Gaps: one row per outage, opened when footage stops and closed
    at the first frame after it, so segments and gaps tile the timeline."""

    def __init__(
        self,
        ak: Akashi,
        spec: CameraSpec,
        camera_id: int,
        emit: Listener,
        storer: SegmentStorer | None = None,
    ) -> None:
        self.ak = ak
        self.spec = spec
        self.camera_id = camera_id
        self.emit = emit
        self.policy = ak.settings.camera_policy
        self.spool = CameraSpool(ak.settings.spool_path, camera_id)
        self.uploader = Uploader(ak, camera_id, spec.name, self.spool, emit, storer)
        self.gap_id: int | None = None
        self._gap_unsaved: tuple[datetime, str] | None = None
        self._pending: list[Callable[[], object]] = []
        self.sessions = 0
        #: sessions that reached footage (counted by the recorder thread)
        self.opened = 0
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
            self.policy.rtsp_reader,
        )
        # "connecting" once: a retry after a failure keeps the failure's state (and since when) on show
        await asyncio.to_thread(_safe, note_state, self.ak.engine, self.camera_id, "connecting")
        while not stop.is_set():
            thread_stop = threading.Event()
            session = asyncio.ensure_future(
                in_own_thread(
                    f"camera {self.spec.name}",
                    functools.partial(
                        run_session, cfg, self.spool, thread_stop, self._on_open, self._on_segment
                    ),
                )
            )
            stopper = asyncio.ensure_future(stop.wait())
            opened = self.opened
            done, _ = await asyncio.wait(
                [session, stopper], timeout=self._keyframe_wait(), return_when="FIRST_COMPLETED"
            )
            if not done and self.opened == opened:  # connected (else it would have failed) but no picture
                await asyncio.to_thread(
                    _safe, note_state, self.ak.engine, self.camera_id, "no_keyframe", NO_KEYFRAME
                )
                if self.opened != opened:  # footage began meanwhile: its "recording" must stay the last word
                    await asyncio.to_thread(_safe, note_state, self.ak.engine, self.camera_id, "recording")
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
        await asyncio.to_thread(_safe, note_state, self.ak.engine, self.camera_id, "stopped")

    def _keyframe_wait(self) -> float:
        """How long a session may run without footage before its camera shows ``no_keyframe``: longer
        than a failed connection takes to end (about twice the socket timeout) and than any sane GOP."""
        return max(KEYFRAME_WAIT_S, 3 * self.policy.socket_timeout_s)

    # Called from the recorder thread ------------------------------------------------------
    def _on_open(self, wall: datetime) -> None:
        """Footage resumes: end the open gap there (or record it whole if opening it had failed)."""
        self.opened += 1
        engine, cam = self.ak.engine, self.camera_id
        if self.gap_id is not None:
            gap_id = self.gap_id
            self._pending.append(lambda: records.close_gap(engine, gap_id, wall))
        elif self._gap_unsaved is not None:
            start, reason = self._gap_unsaved
            self._pending.append(lambda: records.add_gap(engine, cam, start, wall, reason))
        self.gap_id, self._gap_unsaved = None, None
        self._flush_pending()
        _safe(note_state, engine, cam, "recording", "", wall)
        self._post(CameraEvent("connected", self.spec.name, wall))

    def _flush_pending(self) -> None:
        """Write gap facts that a database outage held back, in order; keep the rest for later."""
        while self._pending:
            if _safe(self._pending[0]) is _FAILED:
                return
            self._pending.pop(0)

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
        self._flush_pending()
        if self.gap_id is None and self._gap_unsaved is None:
            start = result.last_end or utcnow()
            reason = GAP_DOWN if stopping else result.reason
            gap = _safe(records.open_gap, engine, self.camera_id, start, reason)
            if isinstance(gap, int):
                self.gap_id = gap
            else:
                self._gap_unsaved = (start, reason)
        if not stopping:
            state = why_not_recording(result.connected, result.first_start is not None, result.reason)
            _safe(note_state, engine, self.camera_id, state, result.reason, result.last_end)
            self._post(CameraEvent("disconnected", self.spec.name, utcnow(), result.reason))


_FAILED = object()


def _safe(fn: Callable[..., T], *args: object) -> T | object:
    """Run a bookkeeping write; a database outage must not stop the recording (logged, returns _FAILED)."""
    try:
        return fn(*args)
    except Exception:
        log.exception("camera bookkeeping failed (%s)", getattr(fn, "__name__", fn))
        return _FAILED
