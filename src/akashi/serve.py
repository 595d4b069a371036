"""``akashi serve``: one owner that starts every enabled part in one event loop and stops them.

Parts: job workers (threads), the web app (uvicorn), telephony (SIP/RTP), cameras, and the
housekeeping timers (spooled uploads, retention, checkpoints).

``akashi serve --only web,worker`` runs some roles only (:data:`ROLES`), so that the roles of one
installation can run on several hosts over PostgreSQL and S3. The ``worker`` role carries the job
workers, the transcriber and the installation-wide timers (retention, checkpoints); every node flushes
its own local upload spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import uvicorn

from akashi.context import Akashi
from akashi.errors import ConfigError
from akashi.jobs import WorkerPool, handlers

if TYPE_CHECKING:
    from akashi.analysis.worker import TranscriberProcess

log = logging.getLogger(__name__)


def _uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


#: The roles ``akashi serve --only`` can start, alone or together.
ROLES = ("telephony", "cameras", "worker", "web")


def parse_roles(text: str) -> frozenset[str]:
    """The roles named by ``--only`` (comma-separated, e.g. ``web,worker``); ConfigError for any other."""
    names = [part.strip().lower() for part in text.split(",")]
    bad = [n for n in names if n not in ROLES]
    if bad or not any(names):
        shown = ", ".join(repr(n) for n in bad) if bad else "''"
        raise ConfigError(
            f"--only の役割 {shown} は使えません（{', '.join(ROLES)} をカンマ区切りで指定）",
            f"--only: unknown role {shown} (use a comma-separated list of {', '.join(ROLES)})",
        )
    return frozenset(names)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: :class:`Server` owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Server:
    """Owner of everything ``akashi serve`` runs."""

    def __init__(
        self,
        ak: Akashi,
        *,
        web: bool | None = None,
        workers: int | None = None,
        roles: frozenset[str] | None = None,
    ) -> None:
        self.ak = ak
        self.roles = frozenset(ROLES) if roles is None else roles
        if roles is not None:
            web = "web" in roles  # a role named in --only runs; one left out does not
        self.web = ak.settings.web.enabled if web is None else web
        self.workers = workers
        if roles is not None and "telephony" in roles and not ak.settings.sip.enabled:
            raise ConfigError(
                "--only telephony ですが sip.enabled が false です（akashi.toml の [sip]）",
                "--only telephony, but sip.enabled is false ([sip] in akashi.toml)",
            )
        self.stop = asyncio.Event()
        self.started = asyncio.Event()
        from akashi.config.watch import ConfigWatch

        #: akashi.toml reloaded when it changes; telephony and cameras take the changes without a restart
        self.config_watch = ConfigWatch(ak)

    async def _every(self, seconds: float, fn: Callable[[], object], what: str) -> None:
        while not self.stop.is_set():
            try:
                await asyncio.to_thread(fn)
            except Exception as exc:  # keep running; the next round retries
                log.warning("%s failed: %s", what, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), seconds)

    @staticmethod
    def _watch(transcriber: TranscriberProcess) -> None:
        """Restart the transcriber child if it died (analysis jobs would otherwise pile up)."""
        if not transcriber.running:
            log.warning(
                "transcriber exited with %s; restarting it", transcriber.proc and transcriber.proc.returncode
            )
            transcriber.start()

    def _retention(self) -> None:
        """Refresh incident holds on camera footage, then delete what retention allows."""
        from akashi.cameras.retention import apply_camera_holds

        apply_camera_holds(self.ak)
        self.ak.store.apply_retention(datetime.now(UTC))

    def _checkpoint(self) -> None:
        """Write a signed checkpoint of the ledger and audit heads outside the box (unless unchanged)."""
        from akashi.store.checkpoint import take_checkpoint

        result = take_checkpoint(self.ak.store, "periodic", skip_unchanged=True)
        if not result.skipped:
            log.info("checkpoint %s written to %s", result.name, ", ".join(result.written))

    async def _web(self) -> None:
        from akashi.web.app import create_app

        host, port = self.ak.settings.web.listen.rsplit(":", 1)
        config = uvicorn.Config(
            create_app(self.ak), host=host, port=int(port), log_level="warning", lifespan="on"
        )
        server = _Uvicorn(config)
        task = asyncio.create_task(server.serve())
        await self.stop.wait()
        server.should_exit = True
        await task

    async def _part(self, name: str, run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        try:
            await run(self.stop)
        except Exception:
            log.exception("%s stopped with an error; stopping Akashi", name)
            self.stop.set()
            raise

    async def run(self) -> None:  # noqa: PLR0912, PLR0915 - starts each enabled part in order, one branch per part
        """Run until :attr:`stop` is set (SIGINT/SIGTERM set it)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop.set)
        s = self.ak.settings
        # Speech recognition takes whole cores for seconds: it runs in a child process, never in the
        # process that relays and records calls; this process's workers take every other job kind.
        transcriber = None
        kinds = None
        worker = "worker" in self.roles
        if s.analysis.enabled and worker:
            from akashi.analysis.worker import ANALYSIS_KINDS, TranscriberProcess

            kinds = [k for k in handlers() if k not in ANALYSIS_KINDS]
            transcriber = TranscriberProcess(s.home)
            transcriber.start()
        pool = WorkerPool(self.ak, self.workers, kinds=kinds) if worker else None
        log.info("roles: %s", ", ".join(r for r in ROLES if r in self.roles))
        try:
            if pool is not None:
                pool.start()
            async with asyncio.TaskGroup() as tg:
                if transcriber is not None:
                    tg.create_task(self._every(15.0, lambda: self._watch(transcriber), "transcriber watch"))
                tg.create_task(
                    self._every(s.store.retry_interval_s, self.ak.store.flush_spool, "spool flush")
                )
                if worker:  # installation-wide: one node's worker role does them for all
                    tg.create_task(
                        self._every(s.retention.run_every_minutes * 60.0, self._retention, "retention")
                    )
                    tg.create_task(
                        self._every(s.store.checkpoint_minutes * 60.0, self._checkpoint, "checkpoint")
                    )
                tg.create_task(self.config_watch.run(self.stop))
                if self.web:
                    tg.create_task(self._web())
                if s.sip.enabled and "telephony" in self.roles:
                    from akashi.access.live import live_store
                    from akashi.telephony.liveconfig import LiveSettings
                    from akashi.telephony.service import TelephonyService

                    phones = TelephonyService(self.ak, live_link=live_store(self.ak))
                    self.config_watch.listeners.append(LiveSettings(phones))
                    tg.create_task(self._part("telephony", phones.run))
                    if transcriber is not None:  # live detection: utterances to this host's transcriber
                        from akashi.telephony.livetap import LiveTap, socket_path

                        phones.live_tap = tap = LiveTap(socket_path(s.home), phones.live_flag)
                        tg.create_task(self._part("live detection", tap.run))
                    elif any(r.live for r in s.sip.routes):
                        log.warning(
                            "live = true のルートがありますが、この機械では文字起こしが動いていません"
                            " / a route has live = true, but no transcriber runs on this host"
                        )
                if "cameras" in self.roles:  # also with no camera yet: one added later starts at once
                    from akashi.cameras.service import CameraService

                    tg.create_task(self._part("cameras", CameraService(self.ak, watch=self.config_watch).run))
                self.started.set()
                await self.stop.wait()
        finally:
            if transcriber is not None:
                await asyncio.to_thread(transcriber.stop)
            if pool is not None:
                await asyncio.to_thread(pool.stop)


def announce_setup(ak: Akashi) -> str | None:
    """With no user yet: make a one-time setup link and print it (stdout, never the log). Returns it."""
    from akashi.firstrun import issue_token, needs_setup, setup_message, setup_url

    if not needs_setup(ak.engine):
        return None
    token = issue_token(ak.engine)
    print(setup_message(ak.settings, token), flush=True)  # the console is the channel, not the log
    return setup_url(ak.settings, token)


def serve(
    ak: Akashi, *, web: bool | None = None, workers: int | None = None, roles: frozenset[str] | None = None
) -> None:
    """Run Akashi in the foreground until interrupted (``roles``: only those of :data:`ROLES`)."""
    _uvloop()
    if roles is not None:
        web = "web" in roles
    if ak.settings.web.enabled if web is None else web:
        announce_setup(ak)
    asyncio.run(Server(ak, web=web, workers=workers, roles=roles).run())
