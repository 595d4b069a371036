"""The owner of all camera recording in one process (``akashi serve``, ``akashi cameras run``)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import select

from akashi.cameras import records
from akashi.cameras.events import CameraEvent, Listener
from akashi.cameras.pause import note_paused
from akashi.cameras.records import CameraSpec
from akashi.cameras.retention import apply_camera_holds
from akashi.cameras.status import note_state
from akashi.cameras.storer import SegmentStorer
from akashi.cameras.supervisor import Supervisor
from akashi.cameras.uploader import wait_or_stop
from akashi.config.watch import ConfigWatch
from akashi.db import session_scope
from akashi.db.models import Camera
from akashi.errors import ConfigError

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)

#: How often incident holds are brought up to date while recording.
HOLDS_EVERY_S = 60.0
#: Pause before a camera whose supervisor failed unexpectedly is started again.
RESTART_AFTER_S = 5.0
#: How often the camera list is compared with what records (another process may have changed it).
RECONCILE_S = 3.0


@dataclass
class _Running:
    """One camera being recorded: what it was started from, its own stop, its task."""

    spec: CameraSpec
    policy: tuple[float, float, str]
    sup: Supervisor
    stop: asyncio.Event
    task: asyncio.Task[None]


class CameraService:
    """Runs one :class:`Supervisor` (recorder + uploader) per enabled camera, and keeps that set up to date.

    Cameras come and go while it runs (added or removed in the web or the CLI, edited in ``akashi.toml``):
    every :data:`RECONCILE_S` seconds, or at once after :meth:`wake`, the cameras in force are compared
    with those recording; a new camera starts, a removed or disabled one stops, a changed one (URL, site,
    segment length, the camera policy) restarts. The others are not touched.

    Use ``await service.run(stop)`` inside an event loop, or ``async with CameraService(ak) as svc``
    which starts it in the background and stops it on exit. Blocking work (PyAV demux, database,
    store) runs in threads, so the loop stays free for the web app and telephony.
    """

    def __init__(
        self, ak: Akashi, listeners: list[Listener] | None = None, watch: ConfigWatch | None = None
    ) -> None:
        self.ak = ak
        #: ``akashi.toml`` reloaded when it changes: shared with the process's other services, else our own
        self._own_watch = watch is None
        self.watch = ConfigWatch(ak) if watch is None else watch
        self.listeners: list[Listener] = list(listeners or [])
        self.supervisors: dict[str, Supervisor] = {}
        #: stores the segments of every camera in batches (one thread, one transaction per batch)
        self.storer = SegmentStorer(ak)
        self._running: dict[str, _Running] = {}
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._seen: object = None
        #: "no camera configured" was said and is still true (said once, not on every configuration reload)
        self._said_none = False
        #: rounds that changed which cameras record (tests wait on :attr:`reconciled`)
        self.reconciles = 0
        self.reconciled = asyncio.Event()

    def emit(self, ev: CameraEvent) -> None:
        """Give an event to every listener (in the event loop's thread)."""
        for fn in self.listeners:
            try:
                fn(ev)
            except Exception:
                log.exception("camera event listener failed")

    def wake(self) -> None:
        """Look at the cameras in force now (the configuration changed in this process)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Record every enabled camera until ``stop`` is set, following changes to the camera list."""
        self.watch.listeners.append(lambda _settings: self.wake())
        self.storer.start()
        try:
            await self._run(stop)
        finally:
            self.storer.close()  # every uploader has finished: nothing or one batch is left

    async def _run(self, stop: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._holds(stop), name="camera incident holds")
            if self._own_watch:
                tg.create_task(self.watch.run(stop), name="camera config watch")
            while not stop.is_set():
                try:
                    await self.reconcile(tg, stop)
                except Exception:  # the database is down, a camera name clashes...: next round
                    log.exception("camera list not brought up to date")
                self._wake.clear()
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
                await asyncio.wait(waits, timeout=RECONCILE_S, return_when="FIRST_COMPLETED")
                for w in waits:
                    w.cancel()
            for run in self._running.values():
                run.stop.set()

    def _fingerprint(self) -> object:
        """What decides the cameras in force, cheaply (no key loading or decryption)."""
        with session_scope(self.ak.engine) as s:
            rows = s.execute(select(Camera.name, Camera.site_id, Camera.extra).order_by(Camera.id)).all()
        keys = ("source", "url", "segment_seconds", "enabled")
        db = tuple((n, sid, tuple((e or {}).get(k) for k in keys)) for n, sid, e in rows)
        st = self.ak.settings
        return (st.cameras, st.camera_policy, db)

    async def reconcile(self, tg: asyncio.TaskGroup, stop: asyncio.Event) -> bool:
        """Start, stop and restart cameras to match the configuration; True when something changed."""
        seen = await asyncio.to_thread(self._fingerprint)
        if seen == self._seen:
            return False
        try:
            specs = await asyncio.to_thread(records.configured_cameras, self.ak.settings, self.ak.engine)
        except ConfigError as exc:  # two cameras of one name: said once, until the list changes again
            self._seen = seen
            log.warning("カメラの一覧を反映できません / camera list not applied: %s", exc.en)
            return False
        p = self.ak.settings.camera_policy
        policy = (p.socket_timeout_s, p.reconnect_max_s, p.rtsp_reader)
        wanted = {c.name: c for c in specs if c.enabled}
        going = [
            r for name, r in self._running.items()
            if name not in wanted or wanted[name] != r.spec or r.policy != policy
        ]  # fmt: skip
        for r in going:
            r.stop.set()
        if going:  # a restarted camera's old recorder closes its segment and gap before the new one opens
            await asyncio.wait([r.task for r in going])
        for r in going:
            del self._running[r.spec.name]
            self.supervisors.pop(r.spec.name, None)
        gone = [r.spec.name for r in going if r.spec.name not in wanted]
        disabled = [c for c in specs if not c.enabled]
        await asyncio.to_thread(self._mark, gone, disabled)
        for spec in wanted.values():
            if spec.name in self._running:
                continue
            cam_id = await asyncio.to_thread(records.ensure_camera, self.ak.engine, spec)
            sup = Supervisor(self.ak, spec, cam_id, self.emit, self.storer)
            cam_stop = asyncio.Event()
            task = tg.create_task(self._guarded(sup, cam_stop), name=f"camera {spec.name}")
            self._running[spec.name] = _Running(spec, policy, sup, cam_stop, task)
            self.supervisors[spec.name] = sup
            log.info("camera %s: recording starts", spec.name)
        for r in going:
            log.info("camera %s: %s", r.spec.name, "restarted" if r.spec.name in wanted else "stopped")
        if stop.is_set():
            for r in self._running.values():
                r.stop.set()
        self._seen = seen
        none = not self._running and not specs
        if none and not self._said_none:
            log.info("no camera configured")
        self._said_none = none
        self.reconciles += 1
        self.reconciled.set()
        return True

    def _mark(self, gone: list[str], disabled: list[CameraSpec]) -> None:
        """Say why cameras no longer record: removed from the configuration, paused by an admin, or disabled."""
        engine = self.ak.engine
        for spec in disabled:
            cam_id = records.ensure_camera(engine, spec)
            if not note_paused(engine, cam_id):
                note_state(engine, cam_id, "disabled")
        with session_scope(engine) as s:
            ids = {n: i for n, i in s.execute(select(Camera.name, Camera.id).where(Camera.name.in_(gone)))}
        for name in gone:
            if name in ids and name not in {d.name for d in disabled}:
                note_state(engine, ids[name], "removed")

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
