"""``akashi demo``: simulated traffic through the real code paths of an installation.

The demo opens the installation's home and starts Akashi's own SIP service (the B2BUA, its
announcements, recorder and store hand-over) on a loopback-only port of its own, with one route per
demo call that rings a simulated operator's phone. Callers dial that port over real SIP/RTP and speak
the scripts of :mod:`akashi.demo.plan`; the operators answer with speech. Finished calls are stored
and queued for analysis like any other call, marked ``demo``; a running ``akashi serve`` transcribes
and flags them and shows them in its list. A simulated camera streams over RTSP on loopback and is
recorded by Akashi's camera supervisor for the length of the demo.

The demo never uses the installation's own SIP listener, trunks or routes: its callers and operators
exist only on loopback, and no real phone is rung.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import update

from akashi.access.live import live_store
from akashi.config.telephony import AgentSettings, AnnouncementSettings, RouteSettings, SipSettings
from akashi.db.base import session_scope
from akashi.db.models import Call, Site
from akashi.db.queries import site_id_for
from akashi.demo import camera
from akashi.demo.plan import OPERATORS, PlannedCall, plan, tracks, tts_engine
from akashi.demo.site import DEMO_SITE, DEMO_SITE_LABEL
from akashi.demo.ua import Caller, DemoCallError, OperatorPhone, Talk
from akashi.errors import ConfigError
from akashi.telephony.service import TelephonyService

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)

MAX_CALLS = 50
#: the announcements of the demo routes: Akashi plays the notice, or the operator gives it
AUTOMATIC = "demo"
OPERATOR = "demo-operator"
#: how long the demo waits for the last calls to be stored after they end
STORE_WAIT_S = 120.0


@dataclass
class DemoResult:
    """What a demo run made."""

    call_ids: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    camera_id: int | None = None
    camera_segments: int = 0
    camera_skipped: str = ""
    listen: str = ""

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary."""
        return {
            "calls": self.call_ids,
            "failed": self.failed,
            "camera_id": self.camera_id,
            "camera_segments": self.camera_segments,
            "camera_skipped": self.camera_skipped,
            "listen": self.listen,
        }


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (the SIP service binds both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise ConfigError("デモ用の空きポートがありません", "no free loopback port for the demo")


def number_for(index: int, call: PlannedCall) -> str:
    """The dialled number of the ``index``-th demo call (one route per call)."""
    return f"0120{9 if not call.operator_notice else 8}{index:05d}"


def demo_settings(ak: Akashi, routes: list[RouteSettings], port: int) -> None:
    """Point ``ak`` at the demo's loopback SIP service: its routes, operators and notices."""
    # RTP ports of their own, away from the installation's range (its calls may be running)
    lo, hi = (int(p) for p in ak.settings.sip.rtp_ports.split("-"))
    bases = [b for b in range(40000, 60000, 1000) if b + 998 < lo or b > hi] or [60000]
    base = random.choice(bases)
    sip = SipSettings.model_validate(
        {
            "enabled": True,
            "listen": f"127.0.0.1:{port}",
            "public_address": "127.0.0.1",
            "rtp_ports": f"{base}-{base + 998}",
            "store_processes": 0,
            "inbound_networks": ["127.0.0.0/8"],
            # the demo's callers and operators run in this process's event loop: its lag is the demo's
            # own load, not overload from outside, so admission by load would refuse the demo's calls
            "admission_max_loop_lag_ms": 0,
            "admission_max_cpu": 0,
            "routes": routes,
        }
    )
    agents = [a for a in ak.settings.agents if a.sip_user not in {u for _n, u in OPERATORS}]
    agents += [AgentSettings(name=n, sip_user=u, site=DEMO_SITE) for n, u in OPERATORS]
    notice = ak.settings.announcements.get("default") or AnnouncementSettings()
    announcements = dict(ak.settings.announcements)
    announcements[AUTOMATIC] = AnnouncementSettings(mode="automatic", text=notice.text, voice=notice.voice)
    announcements[OPERATOR] = AnnouncementSettings(mode="operator", text=notice.text)
    ak.settings = ak.settings.model_copy(
        update={"sip": sip, "agents": agents, "announcements": announcements}
    )


def _ensure_site(ak: Akashi) -> None:
    with session_scope(ak.engine) as s:
        site = s.get(Site, site_id_for(s, DEMO_SITE))
        if site is not None and not site.label:
            site.label = DEMO_SITE_LABEL


def mark_demo(ak: Akashi, call_ids: list[int]) -> None:
    """Mark stored calls as demo data."""
    if call_ids:
        with session_scope(ak.engine) as s:
            s.execute(update(Call).where(Call.id.in_(call_ids)).values(demo=True))


class Demo:
    """One demo run: owns the loopback SIP service, the phones, the callers and the camera."""

    def __init__(
        self,
        ak: Akashi,
        calls: int,
        duration_s: float,
        say: Callable[[str], None],
        *,
        with_camera: bool = True,
        tts: str = "auto",
    ) -> None:
        if not 1 <= calls <= MAX_CALLS:
            raise ConfigError(f"--calls は 1〜{MAX_CALLS} です", f"--calls must be 1 to {MAX_CALLS}")
        if not 5 <= duration_s <= 3600:
            raise ConfigError("--duration は 5〜3600 秒です", "--duration must be 5 to 3600 seconds")
        self.ak = ak
        self.calls = plan(calls)
        self.duration_s = duration_s
        self.say = say
        self.with_camera = with_camera
        if tts not in ("auto", "openjtalk", "kokoro"):
            raise ConfigError(
                f"--tts は auto・openjtalk・kokoro のいずれかです: {tts}",
                f"--tts must be auto, openjtalk or kokoro: {tts}",
            )
        self.tts = tts_engine(tts)
        self.result = DemoResult()
        self._started = 0.0

    async def run(self) -> DemoResult:
        """Run the demo to its end (every call made and stored, the camera stopped)."""
        ak = self.ak
        cache = ak.settings.home / "cache" / "demo"
        self.say("デモ通話の音声を用意しています… / preparing the demo calls' speech…")
        talks = [Talk(*await asyncio.to_thread(tracks, c, cache, self.tts)) for c in self.calls]
        phones = [OperatorPhone(t, ring_s=1.0 + (i % 3) * 0.5) for i, t in enumerate(talks)]
        routes = []
        for i, (call, phone) in enumerate(zip(self.calls, phones, strict=True)):
            port = await phone.open()
            _name, user = OPERATORS[i % len(OPERATORS)]
            routes.append(
                RouteSettings(
                    match=number_for(i, call),
                    ring=[f"sip:{user}@127.0.0.1:{port}"],
                    announcement=OPERATOR if call.operator_notice else AUTOMATIC,
                    site=DEMO_SITE,
                    ring_timeout_s=20,
                )
            )
        port = _free_port()
        self._tell_listener(port)
        demo_settings(ak, routes, port)
        await asyncio.to_thread(_ensure_site, ak)
        self.result.listen = f"127.0.0.1:{port}"
        svc = TelephonyService(ak, live_link=live_store(ak))
        # its own spool: a restart of `akashi serve` never finishes a demo call, nor the demo a real one
        svc.spool_root = ak.settings.spool_path / "demo-calls"
        loop = asyncio.get_running_loop()
        self._started = loop.time()
        stop = asyncio.Event()
        cam_stop = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as tg:
                svc_task = tg.create_task(svc.run(stop))
                if self.with_camera:
                    tg.create_task(self._camera(cam_stop))
                await _until_ready(svc, svc_task)
                for p in phones:
                    tg.create_task(self._phone(p, stop))
                await self._place_calls(talks, port)
                await self._collect(svc)
                await self._rest_of(self.duration_s)
                cam_stop.set()
                stop.set()
        finally:
            stop.set()
            cam_stop.set()
            for p in phones:
                p.close()
            await asyncio.to_thread(ak.store.flush_spool)
        return self.result

    def _tell_listener(self, port: int) -> None:
        if self.ak.settings.sip.enabled:
            self.say(
                f"デモは本番の受付・電話機・回線を使わず、ループバック専用の受付（127.0.0.1:{port}）で動きます"
                f" / the demo uses a loopback-only SIP listener of its own (127.0.0.1:{port}): no real phone "
                "or trunk is used"
            )
        else:
            self.say(
                f"SIP が無効なため、デモ用の受付をループバック（127.0.0.1:{port}）だけで起動します"
                f" / SIP is not enabled: the demo starts a loopback-only listener for itself (127.0.0.1:{port})"
            )

    async def _place_calls(self, talks: list[Talk], port: int) -> None:
        """Start the calls spread over the demo's duration; wait for every one to end."""
        gap = self.duration_s / max(len(self.calls), 1)
        callers = []
        for i, (call, talk) in enumerate(zip(self.calls, talks, strict=True)):
            caller = Caller(("127.0.0.1", port), number_for(i, call), call.caller, talk)
            callers.append(self._one_call(i, call, caller, i * gap))
        await asyncio.gather(*callers)

    async def _phone(self, phone: OperatorPhone, stop: asyncio.Event) -> None:
        """Run one operator's phone; a failure ends that call only, never the whole demo."""
        try:
            await phone.run(stop)
        except DemoCallError as exc:
            self.say(f"オペレーターの電話が応答できません / an operator's phone failed: {exc}")

    async def _one_call(self, i: int, call: PlannedCall, caller: Caller, delay: float) -> None:
        await asyncio.sleep(delay)
        self.say(f"通話 {i + 1}/{len(self.calls)} を発信 / placing call {i + 1}: {call.label}")
        try:
            await caller.run()
        except DemoCallError as exc:
            self.result.failed.append(f"{call.label}: {exc}")
            self.say(f"通話 {i + 1} は失敗しました / call {i + 1} failed: {exc}")

    async def _collect(self, svc: TelephonyService) -> None:
        """Mark each stored call as demo as it arrives, until every placed call is stored."""
        wanted = len(self.calls) - len(self.result.failed)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STORE_WAIT_S
        while len(self.result.call_ids) < wanted and loop.time() < deadline:
            try:
                cid = await asyncio.wait_for(svc.stored.get(), deadline - loop.time())
            except TimeoutError:
                break
            if cid is not None:
                self.result.call_ids.append(cid)
                await asyncio.to_thread(mark_demo, self.ak, [cid])
                self.say(f"記録しました / recorded: call {cid}")
        # calls recovered from an interrupted earlier demo are demo calls too
        extra = [c for c in svc.recovered if c not in self.result.call_ids]
        await asyncio.to_thread(mark_demo, self.ak, extra)

    async def _rest_of(self, duration_s: float) -> None:
        """Keep the camera running for at least the demo's duration."""
        left = self._started + duration_s - asyncio.get_running_loop().time()
        if left > 0:
            await asyncio.sleep(left)

    async def _camera(self, stop: asyncio.Event) -> None:
        taken = await asyncio.to_thread(camera.name_taken, self.ak)
        source = taken or await camera.start_source()
        if isinstance(source, str):
            self.result.camera_skipped = source
            self.say(f"デモカメラは省略します / skipping the demo camera: {source}")
            return
        self.say(f"デモカメラを録画します / recording the demo camera: {source.url}")
        try:
            self.result.camera_id = await camera.record(self.ak, source.url, stop)
        finally:
            await asyncio.to_thread(source.stop)
        if self.result.camera_id is not None:
            self.result.camera_segments = await asyncio.to_thread(
                camera.segment_count, self.ak, self.result.camera_id
            )


async def _until_ready(svc: TelephonyService, task: asyncio.Task[None]) -> None:
    """Wait until the SIP service listens; its own error when it fails to start."""
    ready = asyncio.create_task(svc.ready.wait())
    await asyncio.wait({ready, task}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
    if svc.ready.is_set():
        return
    ready.cancel()
    exc = task.exception() if task.done() else None
    if exc is not None:
        raise exc
    raise ConfigError("デモ用の SIP 受付が起動しません", "the demo's SIP listener did not start")
