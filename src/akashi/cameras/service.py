"""The owner of all camera recording in one process (``akashi serve``, ``akashi cameras run``)."""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType
from typing import TYPE_CHECKING

from akashi.cameras import records
from akashi.cameras.events import CameraEvent, Listener
from akashi.cameras.supervisor import Supervisor
from akashi.cameras.uploader import wait_or_stop

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)

#: How often incident holds are brought up to date while recording.
HOLDS_EVERY_S = 60.0
#: Pause before a camera whose supervisor failed unexpectedly is started again.
RESTART_AFTER_S = 5.0


class CameraService:
    """Runs one :class:`Supervisor` (recorder + uploader) per enabled camera.

    Use ``await service.run(stop)`` inside an event loop, or ``async with CameraService(ak) as svc``
    which starts it in the background and stops it on exit. Blocking work (PyAV demux, database,
    store) runs in threads, so the loop stays free for the web app and telephony.
    """

    def __init__(self, ak: Akashi, listeners: list[Listener] | None = None) -> None:
        self.ak = ak
        self.listeners: list[Listener] = list(listeners or [])
        self.supervisors: dict[str, Supervisor] = {}
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def emit(self, ev: CameraEvent) -> None:
        """Give an event to every listener (in the event loop's thread)."""
        for fn in self.listeners:
            try:
                fn(ev)
            except Exception:
                log.exception("camera event listener failed")

    async def run(self, stop: asyncio.Event) -> None:
        """Record every enabled camera until ``stop`` is set."""
        specs = await asyncio.to_thread(records.configured_cameras, self.ak.settings, self.ak.engine)
        async with asyncio.TaskGroup() as tg:
            for spec in specs:
                if not spec.enabled:
                    continue
                cam_id = await asyncio.to_thread(records.ensure_camera, self.ak.engine, spec)
                sup = Supervisor(self.ak, spec, cam_id, self.emit)
                self.supervisors[spec.name] = sup
                tg.create_task(self._guarded(sup, stop), name=f"camera {spec.name}")
            if not self.supervisors:
                log.info("no camera configured")
            else:
                tg.create_task(self._holds(stop), name="camera incident holds")

    async def _guarded(self, sup: Supervisor, stop: asyncio.Event) -> None:
        """Run one camera; an unexpected failure restarts that camera alone, never the others."""
        while not stop.is_set():
            try:
                await sup.run(stop)
                return
            except Exception:
                log.exception("camera %s failed; restarting it", sup.spec.name)
                await wait_or_stop(stop, RESTART_AFTER_S)

    async def _holds(self, stop: asyncio.Event) -> None:
        """Keep footage inside open incidents held (see :mod:`akashi.cameras.retention`)."""
        from akashi.cameras.retention import apply_camera_holds

        while not stop.is_set():
            try:
                await asyncio.to_thread(apply_camera_holds, self.ak)
            except Exception:  # the store or database is down: next round
                log.exception("camera incident holds failed")
            await wait_or_stop(stop, HOLDS_EVERY_S)

    async def __aenter__(self) -> CameraService:
        self._stop.clear()
        self._task = asyncio.create_task(self.run(self._stop), name="cameras")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
