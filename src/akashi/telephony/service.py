"""The telephony service: SIP endpoint, media ports, calls and the recorder, owned by one object."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import socket
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING

from akashi.access.sipaudit import refusal_auditor
from akashi.config.telephony import AgentSettings, RouteSettings
from akashi.errors import AkashiError, ProtocolError
from akashi.telephony import desk
from akashi.telephony.addresses import advertised_host
from akashi.telephony.admission import LagRecord, LoadMonitor, run_monitor
from akashi.telephony.announce import Announcements
from akashi.telephony.authguard import AuthGuard
from akashi.telephony.call import host as call_host
from akashi.telephony.call.host import FinishedCall
from akashi.telephony.call.numbers import NOT_A_NUMBER, called_number, dialled
from akashi.telephony.call.state import CallState
from akashi.telephony.calls import Call
from akashi.telephony.calltask import CallTask
from akashi.telephony.desk import live_loop, publish_state
from akashi.telephony.edge import LIMIT_TAG, EdgeUdp, FloodGate
from akashi.telephony.edgeaudit import EdgeAudit, media_refusal
from akashi.telephony.legtimers import refuse_invite
from akashi.telephony.limits import CallLimits, LogEvery, Refusal, RefusalLog
from akashi.telephony.live import LiveLink, NullLiveLink
from akashi.telephony.mediapool import MediaWorkers
from akashi.telephony.outbound import outbound_agent
from akashi.telephony.portpool import MediaPorts, PortPool
from akashi.telephony.recorder import CallMeta, CallSpool
from akashi.telephony.register import Registrar
from akashi.telephony.reliable import OPTION_TAGS
from akashi.telephony.sip.build import response_to
from akashi.telephony.sip.digest import NonceBook
from akashi.telephony.sip.grammar import split_hostport
from akashi.telephony.sip.message import Request
from akashi.telephony.sip.transport import SipUdp
from akashi.telephony.sip.uri import parse_uri
from akashi.telephony.siprec import live as siprec_live
from akashi.telephony.siprec.server import SiprecServer
from akashi.telephony.storing import Recordings
from akashi.telephony.trunks import uri_transport

if TYPE_CHECKING:
    from collections.abc import Sequence

    from akashi.context import Akashi
    from akashi.telephony.call.host import LiveTap

log = logging.getLogger(__name__)

NONCE_TTL_S = 300.0
#: option tags a request may require of us
SUPPORTED_OPTIONS: frozenset[str] = frozenset(OPTION_TAGS)


class TelephonyService:
    """SIP recording B2BUA. ``await run(stop)`` serves until ``stop`` is set, then hangs up and closes."""

    ALLOW = call_host.ALLOW

    def __init__(self, ak: Akashi, *, live_link: LiveLink | None = None) -> None:
        self.ak = ak
        #: the live board (issue 14): events out, board commands in; settable until run()
        self.live: LiveLink = live_link or NullLiveLink()
        #: live detection's tap of the customer audio (None: no live detection in this process)
        self.live_tap: LiveTap | None = None
        self.settings = ak.settings.sip
        host, port = split_hostport(self.settings.listen, "sip.listen")
        self.listen = (host, port or 5060)
        self.sip: SipUdp = None  # type: ignore[assignment]  # set in run()
        #: RTP ports: this process's own pool, or the media workers' (``sip.media_workers``); set in run()
        self.ports: MediaPorts = None  # type: ignore[assignment]
        self.media_workers: MediaWorkers | None = None
        self.calls: dict[str, Call] = {}
        #: calls ended a moment ago, for live flags that come after the hang-up
        self.ended = desk.Ended()
        #: spools of the running calls, finished calls stored, a killed run's spools recovered
        self.recordings = Recordings(ak, ak.settings.spool_path / "calls")
        #: what calls play to the caller: notices, the "nobody can answer" message, ringback
        self.notices = Announcements(ak, ak.settings.home / "cache" / "announcements")
        self._tasks: set[asyncio.Task[None]] = set()
        self.ready = asyncio.Event()
        self._nonces = NonceBook(NONCE_TTL_S)
        s = self.settings
        #: what a new INVITE must pass first: INVITE rate and calls per source, calls in all, inbound sources
        self.limits = CallLimits(
            s.max_calls, s.max_calls_per_source, s.invites_per_second_per_source, None, s.inbound_networks
        )
        self._refusals = RefusalLog()
        #: loop lag and CPU of this process: new calls get 503 while it is overloaded. With media workers
        #: the CPU limit is each worker's (they relay); this process, signalling only, is checked by its lag
        cpu_limit = 0.0 if s.media_worker_count else s.admission_max_cpu
        self.load = LoadMonitor(s.admission_max_loop_lag_ms / 1000, cpu_limit)
        #: calls ended because their 200 OK was never ACKed (logged at most every few seconds)
        self.unacked = LogEvery()
        #: floods are answered before the SIP parser (see akashi.telephony.edge)
        self.gate = FloodGate(self)
        #: the source address each running call was admitted for (released once, when it ends)
        self._admitted: dict[str, str] = {}
        s = self.settings
        #: digest failures of agents' phones per source address, and the locks they cause
        self.auth_guard = AuthGuard(s.auth_lockout_after, s.auth_lockout_window_s, s.auth_lockout_s)
        #: refused outbound attempts go here: the access layer audits them (telephony has no database)
        self.report_refusal = refusal_auditor(ak.engine)
        #: refused INVITEs and RTP, summarised (one entry per source and kind a minute) for report_refusal
        self.edge_audit = EdgeAudit(lambda r: self.report_refusal(r))  # noqa: PLW0108 - replaceable later
        self.registrars: list[Registrar] = []
        self.tls_port = 0
        self.lags = LagRecord()
        #: SIPREC recording sessions from the SBCs/PBXs of sip.siprec_networks (RFC 7866)
        self.siprec = SiprecServer(self)

    # -- addresses ------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """The address advertised in Contact, Via and SDP."""
        return advertised_host(self.settings.public_address, self.listen[0])

    @property
    def media_address(self) -> str:
        """Address in SDP."""
        return self.host

    @property
    def via_host(self) -> str:
        """host:port for Via."""
        return f"{self.host}:{self.sip.local[1]}"

    @property
    def contact(self) -> str:
        """Our Contact."""
        return f"<sip:akashi@{self.host}:{self.sip.local[1]}>"

    # -- running --------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        loop = asyncio.get_running_loop()
        rtp_host = self.listen[0] or "0.0.0.0"  # noqa: S104 - configured listen address
        workers = await self._open_media(rtp_host)
        try:
            await self.recordings.open(self.settings.store_processes)
            await self.notices.prepare(self.settings.routes)
            _tr, self.sip = await loop.create_datagram_endpoint(
                lambda: EdgeUdp(self.on_request, gate=self.gate.absorb), local_addr=self.listen
            )
            tcp = await asyncio.start_server(self.sip.serve_tcp_connection, self.listen[0], self.sip.local[1])
            log.info("SIP listening on udp and tcp %s:%d", *self.sip.local)
            tls = await self._start_tls()
        except BaseException:
            if workers is not None:  # a start that failed (the SIP port taken...) leaves no worker behind
                await workers.stop()
            raise
        # objects made while starting (settings, SQLAlchemy, codecs) never die: keep them out of
        # the collector's full passes, which would otherwise stall the RTP relay for milliseconds
        gc.freeze()
        # every RTP packet allocates a short-lived address tuple: with the default thresholds the
        # collector ran its full pass about once a second at 400 calls (20+ ms stalls); collect
        # the young generation less often and the old ones rarely (the relay makes no cycles)
        gc.set_threshold(20_000, 50, 100)
        self.ready.set()
        try:
            async with asyncio.TaskGroup() as tg:
                flusher = tg.create_task(self.recordings.flush_loop())
                liver = tg.create_task(live_loop(self))
                # one 20 ms timer for the loop-lag stats and admission control (fed only when it is on)
                loader = tg.create_task(
                    run_monitor(self.load, lambda m: log.warning(m.describe()), on_lag=self.lags.note)
                )
                self.registrars = [Registrar(self, t) for t in self.settings.trunks if t.register_]
                reg_tasks = [tg.create_task(r.run()) for r in self.registrars]
                await stop.wait()
                for t in reg_tasks:
                    t.cancel()
                for call in list(self.calls.values()):
                    call.hang_up()
                self.siprec.hang_up()
                waiting = self._tasks | self.siprec.tasks | self.recordings.tasks
                if waiting:
                    await asyncio.wait(waiting, timeout=10)
                flusher.cancel()
                liver.cancel()
                loader.cancel()
        finally:
            self.edge_audit.close()  # the refusals counted since the last summary are audited too
            tcp.close()
            if tls is not None:
                tls.close()
            self.sip.close()
            if workers is not None:  # they write out what they hold before the spools are closed
                await workers.stop()
            await self.recordings.close()

    async def _open_media(self, rtp_host: str) -> MediaWorkers | None:
        """The RTP ports: this process's pool, or ``sip.media_workers`` worker processes (started here)."""
        s = self.settings
        if not s.media_worker_count:
            self.ports = PortPool(rtp_host, s.rtp_ports, s.ipv6_address)
            return None
        workers = MediaWorkers(
            rtp_host, s.rtp_ports, s.ipv6_address, s.media_worker_count,
            max_lag_s=s.admission_max_loop_lag_ms / 1000, max_cpu=s.admission_max_cpu,
        )  # fmt: skip
        workers.on_disk = self.recordings.disk_state
        await workers.start()
        log.info(
            "RTP はメディアワーカー %d 個で中継・録音します（ポート %s）/ %d media workers relay and record RTP (ports %s)",
            s.media_worker_count, s.rtp_ports, s.media_worker_count, s.rtp_ports,
        )  # fmt: skip
        self.ports = self.recordings.media = self.media_workers = workers
        return workers

    async def _start_tls(self) -> asyncio.Server | None:
        """SIP over TLS when a certificate is configured (``sip.tls_listen``, else the SIP port + 1)."""
        s = self.settings
        if not (s.tls_cert and s.tls_key):
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ctx.load_cert_chain(s.tls_cert, s.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise AkashiError(
                f"TLS 証明書を読めません: {s.tls_cert}",
                f"cannot load the TLS certificate {s.tls_cert}: {exc}",
            ) from exc
        if s.tls_listen:
            h, _, p = s.tls_listen.rpartition(":")
            host, port = h.strip("[]"), int(p) if p.isdigit() else 5061  # port 0: any free port
        else:
            host, port = self.listen[0], self.sip.local[1] + 1
        server = await asyncio.start_server(
            functools.partial(self.sip.serve_tcp_connection, label="TLS"), host, port, ssl=ctx
        )
        self.tls_port = int(server.sockets[0].getsockname()[1])
        log.info("SIP listening on tls %s:%d", host, self.tls_port)
        return server

    def stats(self) -> dict[str, int]:
        """Counters for monitoring and the benchmark (cheap: no per-packet work)."""
        calls = {id(c): c for c in self.calls.values()}.values()
        rx = tx = 0
        for c in calls:
            for ep in (c.a_rtp, c.b_rtp):
                if ep is not None:
                    rx += ep.rx_packets
                    tx += ep.tx_packets
        return {
            "active_calls": len(calls),
            "bridged_calls": sum(1 for c in calls if c.meta.bridged_at is not None),
            "rtp_rx_packets": rx,
            "rtp_tx_packets": tx,
            "stored_calls": self.recordings.finished_calls,
            "malformed_sip": self.sip.malformed if self.sip is not None else 0,
            "spool_disk_error": int(bool(self.recordings.disk_error)),
            **{f"refused_{kind}": n for kind, n in self.limits.refused.items()},
            "refused_acks_dropped": self.gate.acks_dropped,
            "calls_never_acked": self.unacked.total,
            **self.lags.stats(),
            **self.load.stats(),
            **(self.media_workers.stats() if self.media_workers is not None else {}),
        }

    # -- live protection (issue 14) -------------------------------------------------------
    def warn(self, call_id: str, by: str) -> bool:
        """The board's warn: the warning plays on the call as with the operator's key (False: not live)."""
        return desk.command(self.calls, call_id, "warn", by)

    def end(self, call_id: str, by: str) -> bool:
        """The board's end: the final message plays, then the call ends (False: not live)."""
        return desk.command(self.calls, call_id, "end", by)

    def live_flag(
        self, call_id: str, severity: str, text: str, at: float, categories: Sequence[str] = ()
    ) -> None:
        """A live detection result (call it on the service's event loop): published with its categories
        (脅迫, 暴言...), and the route's warning policy applied."""
        if call_id in self.calls:
            desk.flag(self.calls, call_id, severity, text, at, categories)
        elif (session := self.siprec.sessions.get(call_id)) is not None:
            siprec_live.flag(session, severity, text, at, categories)
        elif not self.ended.flag(self.live, call_id, severity, text, at, categories):
            log.info(
                "live flag of call %s dropped: no such call in the last %.0f s", call_id, desk.LATE_FLAG_S
            )

    # -- configuration lookups ------------------------------------------------------------
    def route_for(self, dialled: str) -> RouteSettings | None:
        """The route of a dialled number (exact match, else "*")."""
        fallback = None
        for r in self.settings.routes:
            if r.match == dialled:
                return r
            if r.match == "*" and fallback is None:
                fallback = r
        return fallback

    def agent_for(self, sip_user: str) -> AgentSettings | None:
        """The agent whose phone is ``sip_user``."""
        return next((a for a in self.ak.settings.agents if a.sip_user == sip_user), None)

    async def resolve(self, uri: str) -> tuple[str, int] | None:
        """Where to send a request for a SIP URI (host:port, DNS A record)."""
        try:
            u = parse_uri(uri)
        except ProtocolError:
            return None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                u.host, u.port or (5061 if uri_transport(uri) == "TLS" else 5060), type=socket.SOCK_DGRAM
            )
        except OSError:
            return None
        for fam, _t, _p, _c, addr in infos:
            if fam == socket.AF_INET:
                return str(addr[0]), int(addr[1])
        return None

    # -- SIP dispatch ---------------------------------------------------------------------
    def register_leg(self, call_id: str, owner: str) -> None:
        """Route requests of an operator leg's dialog to its call (the one of the caller's Call-ID ``owner``)."""
        call = self.calls.get(owner)
        if call is not None:
            self.calls[call_id] = call

    def on_request(self, req: Request) -> None:
        """A request from the network (already deduplicated by the transaction layer)."""
        if self.siprec.handles(req):
            return  # a SIPREC session's request, or a new session (akashi.telephony.siprec)
        call = self.calls.get(req.call_id)
        if call is not None:
            self._in_call(call, req)
            return
        m = req.method
        unsupported = [o for o in req.get_all("Require") if o.lower() not in SUPPORTED_OPTIONS]
        if unsupported and m not in ("ACK", "CANCEL"):
            # RFC 3261 8.2.2.3: an extension we do not implement is refused
            self.sip.respond(req, response_to(req, 420, extra=[("Unsupported", ", ".join(unsupported))]))
            return
        if m == "INVITE":
            if req.to_tag:
                self.sip.respond(req, response_to(req, 481))
                return
            refused = refuse_invite(req, self.settings.min_se_s)  # RFC 4028: Session-Expires too small
            if refused is not None:
                self.sip.respond(req, refused)
                return
            self._new_call(req)
        elif m == "OPTIONS":
            self.sip.respond(
                req, response_to(req, 200, extra=[("Allow", self.ALLOW), ("Accept", "application/sdp")])
            )
        elif m == "ACK":
            return
        elif m in ("BYE", "CANCEL", "UPDATE", "INFO", "PRACK"):
            self.sip.respond(req, response_to(req, 481))
        else:
            self.sip.respond(req, response_to(req, 405, extra=[("Allow", self.ALLOW)]))

    def _in_call(self, call: Call, req: Request) -> None:
        """A request in one of ``call``'s dialogs (the caller's, or a leg's)."""
        from_caller = req.call_id == call.invite.call_id
        if req.method == "INVITE" and from_caller and req.branch == call.invite.branch:
            return
        if call.state is CallState.DONE:  # still closing its ports: its dialogs are over (a crossing BYE)
            if req.method != "ACK":
                self.sip.respond(req, response_to(req, 481))
            return
        leg = (
            None if from_caller else next((lg for lg in call.legs if lg.dialog.call_id == req.call_id), None)
        )
        call.on_request(req, from_caller, leg)

    def _outbound(self, req: Request) -> bool:
        """An agent's phone calling out: placed on the trunk once authenticated.

        Returns False when the request is not an outbound call (it is then routed inbound).
        """
        handled, agent = outbound_agent(self, req, self._nonces)
        if agent is not None:
            self.sip.respond(req, response_to(req, 100))
            self._start(Call.outbound(self, req, agent, self.settings.trunks[0]))
        return handled

    def _start(self, call: Call) -> None:
        source = _source(call.invite)
        self.limits.started(source)
        self._admitted[call.invite.call_id] = source
        self.calls[call.invite.call_id] = call
        publish_state(call, "started")
        task = asyncio.get_running_loop().create_task(CallTask(call).run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def current_agents(self) -> list[AgentSettings]:
        """The agents of the running configuration (reloaded without a restart)."""
        return self.ak.settings.agents

    def refuse(self, req: Request, refusal: Refusal | None, *, stateless: bool = False) -> bool:
        """Send a limit's refusal (logged at most every few seconds per kind); False when there is none."""
        if refusal is None:
            return False
        line = self._refusals.note(refusal, _source(req), time.monotonic())
        self.edge_audit.refused(refusal.kind, _source(req), refusal.status)
        if line is not None:
            log.warning(line)
        resp = response_to(req, refusal.status, to_tag=LIMIT_TAG, extra=refusal.headers)
        if stateless:
            self.sip.respond_stateless(req, resp)  # a flood's answers are never resent
        else:
            self.sip.respond(req, resp)
        return True

    def _new_call(self, req: Request) -> None:
        # the limits come first: a flood must cost no more than this check and one datagram
        capacity = self.ports.free_count // 2  # each call needs two RTP ports
        if self.refuse(req, self.limits.admit(_source(req), time.monotonic(), capacity), stateless=True):
            return
        if self.refuse(req, self.load.admit() or self.ports.admit(), stateless=True):
            return  # overloaded: refused before it costs anything, so calls already up stay clean
        if called_number(req, self.settings.trunks) is None:
            # percent-decoded junk (";", ":", CR LF...) must never reach a route or the trunk leg;
            # logged and audited at once, then once a minute per source with how many there were
            self.edge_audit.refused("number", _source(req), 484, req.uri)
            self.sip.respond(req, response_to(req, 484, to_tag="nr", extra=[("Warning", NOT_A_NUMBER)]))
            return
        if self._outbound(req):
            return
        if self.refuse(req, self.limits.inbound_allowed(_source(req))):
            return  # sip.inbound_networks: only the configured trunks/PBXs call in
        self.sip.respond(req, response_to(req, 100))
        route = self.route_for(dialled(req, self.settings.trunks))  # the trunk's route_by
        if route is None:
            self.sip.respond(req, response_to(req, 404, to_tag="nr"))
            return
        self._start(Call(self, req, route))

    # -- recording (akashi.telephony.storing) ---------------------------------------------
    @property
    def spool_root(self) -> Path:
        """Where the running calls' spools are (set before :meth:`run` to move them)."""
        return self.recordings.spool_root

    @spool_root.setter
    def spool_root(self, path: Path) -> None:
        self.recordings.spool_root = path

    @property
    def stored(self) -> asyncio.Queue[int | None]:
        """Ids of stored calls (None when storing failed), in order; the newest 1000 wait there."""
        return self.recordings.stored

    @property
    def recovered(self) -> list[int]:
        """Ids of the calls recovered at start from a previous run's spools."""
        return self.recordings.recovered

    @property
    def disk_error(self) -> str:
        """Why the spool disk refuses writes ("" while it takes them)."""
        return self.recordings.disk_error

    def recover(self) -> list[int]:
        """Finalise spools left by a previous run (killed process): stored as interrupted calls."""
        return self.recordings.recover()

    def open_spool(self, meta: CallMeta) -> CallSpool:
        """A spool folder for a new call."""
        return self.recordings.open_spool(meta)

    def call_finished(self, call: FinishedCall) -> None:
        """Release the call and hand its recording to the store (in a thread)."""
        source = self._admitted.pop(call.invite.call_id, None)
        live = self.calls.get(call.invite.call_id)
        if live is not None:
            publish_state(live, "ended")
            self.ended.remember(live.call_id, live.meta)
        if source is not None:
            self.limits.finished(source)
        self.edge_audit.media(media_refusal(call.invite.call_id, source or "?", call.meta.extra))
        for cid in call.dialog_ids:
            if self.calls.get(cid) is call:
                del self.calls[cid]
        if call.spool is not None:
            self.recordings.finished(call.spool)


def _source(req: Request) -> str:
    """The address a request came from (what the per-source limits count)."""
    return req.source[0] if req.source else "?"
