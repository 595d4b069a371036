"""The telephony service: SIP endpoint, media ports, calls and the recorder, owned by one object."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import gc
import logging
import multiprocessing
import socket
import ssl
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from akashi.config.telephony import AgentSettings, RouteSettings
from akashi.errors import AkashiError, ProtocolError
from akashi.telephony.admission import LoadMonitor, run_monitor
from akashi.telephony.announce import Announcements
from akashi.telephony.call import host as call_host
from akashi.telephony.call.host import FinishedCall
from akashi.telephony.call.numbers import NOT_A_NUMBER, dialled, dialled_number
from akashi.telephony.calls import InboundCall
from akashi.telephony.edge import LIMIT_TAG, EdgeUdp, FloodGate
from akashi.telephony.edgeaudit import EdgeAudit, media_refusal
from akashi.telephony.limits import CallLimits, LogEvery, Refusal, RefusalLog
from akashi.telephony.media import PortPool
from akashi.telephony.outbound import OutboundCall, outbound_agent
from akashi.telephony.recorder import MAX_BACKLOG, META, CallMeta, CallSpool, write_batch
from akashi.telephony.register import Registrar
from akashi.telephony.reliable import OPTION_TAGS
from akashi.telephony.sink import init_worker, store_folder, store_in_worker
from akashi.telephony.sip.build import response_to
from akashi.telephony.sip.digest import NonceBook
from akashi.telephony.sip.grammar import split_hostport
from akashi.telephony.sip.message import Request, Response
from akashi.telephony.sip.transport import SipUdp
from akashi.telephony.sip.uri import parse_name_addr, parse_uri
from akashi.telephony.timers import refuse_invite
from akashi.telephony.trunks import uri_transport

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)

FLUSH_S = 0.5
#: how long a finished call waits for a full spool disk before it is left for the next start
FINISH_WAIT_S = 600.0
NONCE_TTL_S = 300.0
#: option tags a request may require of us
SUPPORTED_OPTIONS: frozenset[str] = frozenset(OPTION_TAGS)
_ANY = ("0.0.0.0", "::", "")  # noqa: S104 - wildcard addresses, to advertise a real one


class TelephonyService:
    """SIP recording B2BUA. ``await run(stop)`` serves until ``stop`` is set, then hangs up and closes."""

    ALLOW = call_host.ALLOW

    def __init__(self, ak: Akashi) -> None:
        self.ak = ak
        self.settings = ak.settings.sip
        host, port = split_hostport(self.settings.listen, "sip.listen")
        self.listen = (host, port or 5060)
        self.sip: SipUdp = None  # type: ignore[assignment]  # set in run()
        self.calls: dict[str, InboundCall] = {}
        self.spool_root = ak.settings.spool_path / "calls"
        #: what calls play to the caller: notices, the "nobody can answer" message, ringback
        self.notices = Announcements(ak, ak.settings.home / "cache" / "announcements")
        self._tasks: set[asyncio.Task[None]] = set()
        self._spools: set[CallSpool] = set()
        self.ready = asyncio.Event()
        #: why the spool disk refuses writes ("" while it takes them)
        self.disk_error = ""
        self.finished_calls = 0
        self.ingested: list[int] = []
        self._nonces = NonceBook(NONCE_TTL_S)
        s = self.settings
        #: what a new INVITE must pass first: INVITE rate and calls per source, calls in all, inbound sources
        self.limits = CallLimits(
            s.max_calls, s.max_calls_per_source, s.invites_per_second_per_source, None, s.inbound_networks
        )
        self._refusals = RefusalLog()
        #: loop lag and CPU of this process: new calls get 503 while it is overloaded
        self.load = LoadMonitor(s.admission_max_loop_lag_ms / 1000, s.admission_max_cpu)
        #: calls ended because their 200 OK was never ACKed (logged at most every few seconds)
        self.unacked = LogEvery()
        #: floods are answered before the SIP parser (see akashi.telephony.edge)
        self.gate = FloodGate(self)
        #: the source address each running call was admitted for (released once, when it ends)
        self._admitted: dict[str, str] = {}
        from akashi.access.sipaudit import refusal_auditor
        from akashi.telephony.authguard import AuthGuard

        s = self.settings
        #: digest failures of agents' phones per source address, and the locks they cause
        self.auth_guard = AuthGuard(s.auth_lockout_after, s.auth_lockout_window_s, s.auth_lockout_s)
        #: refused outbound attempts go here: the access layer audits them (telephony has no database)
        self.report_refusal = refusal_auditor(ak.engine)
        #: refused INVITEs and RTP, summarised (one entry per source and kind a minute) for report_refusal
        self.edge_audit = EdgeAudit(lambda r: self.report_refusal(r))  # noqa: PLW0108 - replaceable later
        self.registrars: list[Registrar] = []
        self.tls_port = 0
        #: one thread for every spool write, in order: a slow disk must not stall the RTP relay
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="akashi-spool")
        self._pool: ProcessPoolExecutor | None = None
        self._lags: collections.deque[tuple[float, float]] = collections.deque(maxlen=3000)
        #: ids of stored calls (None when storing failed), in the order they were stored
        self.stored: asyncio.Queue[int | None] = asyncio.Queue()

    # -- addresses ------------------------------------------------------------------------
    @property
    def host(self) -> str:
        """The address advertised in Contact, Via and SDP."""
        if self.settings.public_address:
            return self.settings.public_address
        h = self.listen[0]
        if h in _ANY:
            return _primary_ip()
        return h

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
        self.ports = PortPool(rtp_host, self.settings.rtp_ports, self.settings.ipv6_address)
        self.spool_root.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(self.recover)
        if self.settings.store_processes:
            self._pool = ProcessPoolExecutor(
                max_workers=self.settings.store_processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
                initargs=(str(self.ak.settings.home),),
            )
        await self.notices.prepare(self.settings.routes)
        _tr, self.sip = await loop.create_datagram_endpoint(
            lambda: EdgeUdp(self.on_request, gate=self.gate.absorb), local_addr=self.listen
        )
        tcp = await asyncio.start_server(self.sip.serve_tcp_connection, self.listen[0], self.sip.local[1])
        log.info("SIP listening on udp and tcp %s:%d", *self.sip.local)
        tls = await self._start_tls()
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
                flusher = tg.create_task(self._flush_loop())
                lagger = tg.create_task(self._lag_loop())
                loader = tg.create_task(run_monitor(self.load, lambda m: log.warning(m.describe())))
                self.registrars = [Registrar(self, t) for t in self.settings.trunks if t.register_]
                reg_tasks = [tg.create_task(r.run()) for r in self.registrars]
                await stop.wait()
                for t in reg_tasks:
                    t.cancel()
                for call in list(self.calls.values()):
                    call.hang_up()
                if self._tasks:
                    await asyncio.wait(self._tasks, timeout=10)
                flusher.cancel()
                lagger.cancel()
                loader.cancel()
        finally:
            await asyncio.get_running_loop().run_in_executor(self._io, lambda: None)  # drain queued writes
            self.edge_audit.close()  # the refusals counted since the last summary are audited too
            tcp.close()
            if tls is not None:
                tls.close()
            self.sip.close()
            for sp in list(self._spools):
                with contextlib.suppress(OSError):  # a full disk: the spool keeps what it has
                    sp.close()
            self._io.shutdown(wait=True)
            if self._pool is not None:
                self._pool.shutdown(wait=True)

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

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(FLUSH_S)
            batch = [item for sp in self._spools for item in sp.take()]
            if batch:
                # the single I/O thread keeps the order of every write to a file
                self._disk(await loop.run_in_executor(self._io, write_batch, batch))

    def _disk(self, error: OSError | None) -> None:
        """Say once when the spool disk starts refusing writes (full disk...), and when it is back."""
        if error is not None and not self.disk_error:
            self.disk_error = f"{error.strerror or error}"
            log.error(
                "録音を書き込めません（%s）。空きができるまで通話ごとに最大 %d MB をメモリに保持します / "
                "cannot write recordings (%s); keeping up to %d MB per call leg in memory until it recovers",
                self.disk_error, MAX_BACKLOG >> 20, self.disk_error, MAX_BACKLOG >> 20,
            )  # fmt: skip
        elif error is None and self.disk_error:
            log.warning("録音の書き込みが再開しました / recordings are being written again")
            self.disk_error = ""

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
            "stored_calls": self.finished_calls,
            "malformed_sip": self.sip.malformed if self.sip is not None else 0,
            "spool_disk_error": int(bool(self.disk_error)),
            **{f"refused_{kind}": n for kind, n in self.limits.refused.items()},
            "refused_acks_dropped": self.gate.acks_dropped,
            "calls_never_acked": self.unacked.total,
            **self._lag_stats(),
            **self.load.stats(),
        }

    def _lag_stats(self) -> dict[str, int]:
        """Event-loop lag over the last minute (µs): how late a 20 ms timer fired; RTP waits as long."""
        lags = sorted(lag for _t, lag in self._lags)
        if not lags:
            return {}
        return {
            "loop_lag_p50_us": int(lags[len(lags) // 2] * 1e6),
            "loop_lag_p99_us": int(lags[int(0.99 * (len(lags) - 1))] * 1e6),
            "loop_lag_max_us": int(lags[-1] * 1e6),
        }

    async def _lag_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.02)
            self._lags.append((t, max(0.0, loop.time() - t - 0.02)))

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
        call = self.calls.get(req.call_id)
        if call is not None:
            from_caller = req.call_id == call.invite.call_id
            leg = (
                None
                if from_caller
                else next((lg for lg in call.legs if lg.dialog.call_id == req.call_id), None)
            )
            if req.method == "INVITE" and from_caller and req.branch == call.invite.branch:
                return
            call.on_request(req, from_caller, leg)
            return
        m = req.method
        unsupported = [o for o in req.get_all("Require") if o.lower() not in SUPPORTED_OPTIONS]
        if unsupported and m not in ("ACK", "CANCEL"):
            # RFC 3261 8.2.2.3: an extension we do not implement is refused
            self.sip.respond(req, response_to(req, 420, extra=[("Unsupported", ", ".join(unsupported))]))
            return
        if m == "INVITE":
            if parse_to_tag(req):
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

    def _outbound(self, req: Request) -> bool:
        """An agent's phone calling out: placed on the trunk once authenticated.

        Returns False when the request is not an outbound call (it is then routed inbound).
        """
        handled, agent = outbound_agent(self, req, self._nonces)
        if agent is not None:
            self.sip.respond(req, response_to(req, 100))
            self._start(OutboundCall(self, req, agent, self.settings.trunks[0]))
        return handled

    def _start(self, call: InboundCall) -> None:
        source = _source(call.invite)
        self.limits.started(source)
        self._admitted[call.invite.call_id] = source
        self.calls[call.invite.call_id] = call
        task = asyncio.get_running_loop().create_task(call.run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        capacity = len(self.ports.free) // 2  # each call needs two RTP ports
        if self.refuse(req, self.limits.admit(_source(req), time.monotonic(), capacity), stateless=True):
            return
        if self.refuse(req, self.load.admit(), stateless=True):
            return  # overloaded: refused before it costs anything, so calls already up stay clean
        if dialled_number(req) is None:
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
        route = self.route_for(dialled(req))
        if route is None:
            self.sip.respond(req, response_to(req, 404, to_tag="nr"))
            return
        self._start(InboundCall(self, req, route))

    # -- recording ------------------------------------------------------------------------
    def open_spool(self, meta: CallMeta) -> CallSpool:
        """A spool folder for a new call."""
        folder = self.spool_root / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        sp = CallSpool(folder, meta, self._io)
        self._spools.add(sp)
        return sp

    def call_finished(self, call: FinishedCall) -> None:
        """Release the call and hand its recording to the store (in a thread)."""
        source = self._admitted.pop(call.invite.call_id, None)
        if source is not None:
            self.limits.finished(source)
        self.edge_audit.media(media_refusal(call.invite.call_id, source or "?", call.meta.extra.to_extra()))
        for cid in call.dialog_ids:
            if self.calls.get(cid) is call:
                del self.calls[cid]
        sp = call.spool
        if sp is None:
            return
        self._spools.discard(sp)
        if sp.dropped:
            sp.meta.extra.spool_dropped_packets = sp.dropped  # the disk refused writes for minutes
        task = asyncio.get_running_loop().create_task(self._store(sp))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        if not await self._finish_spool(sp):
            self.stored.put_nowait(None)
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
                self.ingested.append(cid)
        self.stored.put_nowait(cid)

    def store_call(self, folder: Path) -> int | None:
        """Finalise a spool folder and ingest it; the folder goes once the call is stored."""
        try:
            call_id = store_folder(self.ak, folder)
        except Exception:
            log.exception("storing call %s failed; its spool is kept for the next start", folder.name)
            return None
        self.finished_calls += 1
        self.ingested.append(call_id)
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


def parse_to_tag(req: Request | Response) -> str:
    """The To tag ('' when absent)."""
    return parse_name_addr(req.header("To")).param("tag") or ""


def _source(req: Request) -> str:
    """The address a request came from (what the per-source limits count)."""
    return req.source[0] if req.source else "?"


def _primary_ip() -> str:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()
