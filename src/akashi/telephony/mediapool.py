"""Media worker processes (``sip.media_workers``): the RTP relay and recorder out of the SIP process.

:class:`MediaWorkers` owns N worker processes (:mod:`akashi.telephony.mediaworker`), each with its own
slice of ``sip.rtp_ports``; the telephony service starts it, and stops it after its calls. Call control
keeps working with :class:`~akashi.telephony.media.RtpEndpoint` objects: here they are
:class:`WorkerEndpoint` stand-ins whose settings go to the worker that holds the socket (one
:class:`~akashi.telephony.mediaproto.State` per change, coalesced), whose counters come back from it,
and whose players and taps run through it. Both legs of a call are opened on the same worker
(``near``), so the relay never crosses processes.

A worker that dies (``kill -9``, a crash) is started again at once and given every endpoint it held,
on the same ports: its calls lose what it had not yet written (at most the spool's half second) and
the packets of the restart, and go on being relayed and recorded. A notice it was playing is played
again from the start, so the caller hears it whole before the call goes on. New calls go to the least busy
worker that is not overloaded; while every worker is, new calls get 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from akashi.errors import AkashiError, ProtocolError
from akashi.telephony import mediaproto as mp
from akashi.telephony.admission import RETRY_AFTER_S
from akashi.telephony.limits import Refusal
from akashi.telephony.media import NoticePlayer, RtpEndpoint
from akashi.telephony.portpool import no_ipv6, no_port
from akashi.telephony.recorder import SpoolWriter
from akashi.telephony.workerport import WorkerEndpoint

log = logging.getLogger(__name__)
T = TypeVar("T")
#: how long a worker may take to start and connect
START_S = 30.0
#: times a play cut by a worker's death is started again (a worker that keeps dying must not hold the call)
REPLAYS = 3


class _Worker:
    """One worker process, its port slice, its endpoints and the messages in flight."""

    def __init__(self, pool: MediaWorkers, index: int, ports: list[int]) -> None:
        self.pool = pool
        self.index = index
        self.free = ports
        self.eps: dict[int, WorkerEndpoint] = {}
        self.proc: asyncio.subprocess.Process | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.opening: dict[int, asyncio.Future[str | None]] = {}
        #: plays in flight: True when played through (or stopped), False when the worker died
        self.plays: dict[int, asyncio.Future[bool]] = {}
        self.syncs: dict[int, asyncio.Future[None]] = {}
        self.paths: dict[str, set[int]] = {}  # spool path -> endpoints recording into it here
        #: endpoints being closed, until the worker says so (their final counters come with that)
        self.closing: dict[int, WorkerEndpoint] = {}
        self.overloaded = False
        self.lag_p95_ms = 0.0
        self.cpu = 0.0
        self.restarts = 0
        self.disk_error = ""
        self._dirty: set[WorkerEndpoint] = set()
        self._flush_scheduled = False
        self.up = asyncio.Event()

    @property
    def load(self) -> int:
        """Endpoints held (a call is two)."""
        return len(self.eps)

    # -- messages out ----------------------------------------------------------------------
    def send(self, msg: mp.Message) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(mp.encode(msg))

    def dirty(self, ep: WorkerEndpoint) -> None:
        """``ep`` changed: send its State once this turn of the loop is over."""
        self._dirty.add(ep)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._send_dirty)

    def _send_dirty(self) -> None:
        self._flush_scheduled = False
        for ep in self._dirty:
            if not ep.closed and ep.id in self.eps:
                self._hold_paths(ep)
                self.send(ep.state())
        self._dirty.clear()

    def _hold_paths(self, ep: WorkerEndpoint) -> None:
        for w in (ep.record_in, ep.record_out):
            if isinstance(w, SpoolWriter):
                self.paths.setdefault(str(w.path), set()).add(ep.id)
                self.pool.writers[str(w.path)] = w

    async def open(self, ep: WorkerEndpoint) -> str | None:
        """Bind ``ep``'s port in the worker; the error when it could not."""
        await self.up.wait()
        fut: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.opening[ep.id] = fut
        self.send(mp.Open(ep.id, ep.host, ep.port, ep.v6))
        try:
            return await asyncio.wait_for(fut, START_S)
        finally:
            self.opening.pop(ep.id, None)

    async def play(self, ep: WorkerEndpoint, player: NoticePlayer) -> None:
        """Play to ``ep`` until done; a play cut by the worker's death starts again from the beginning
        once the worker is back, so that a notice is always heard whole before the call goes on."""
        for cuts in range(REPLAYS + 1):
            await self.up.wait()
            if ep.closed or ep.id not in self.eps:
                return
            play_id = next(self.pool.ids)
            fut: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self.plays[play_id] = fut
            self._send_dirty()  # the worker must know the endpoint's remote before it sends
            self.send(
                mp.Play(ep.id, play_id, player.pt, player.step, round(player.ptime_s * 1000), player.repeat,
                        tuple(player.payloads))
            )  # fmt: skip
            try:
                if await fut:
                    return
            except asyncio.CancelledError:
                self.send(mp.Stop(play_id))
                raise
            finally:
                self.plays.pop(play_id, None)
            again = cuts < REPLAYS
            log.warning(
                "メディアワーカー %d の再起動で再生が途切れました。%s / media worker %d restarted mid-play "
                "(port %d): %s",
                self.index, "最初から流し直します" if again else f"{cuts + 1} 回目のため流し直しません",
                self.index, ep.port, "playing it again from the start" if again else f"cut {cuts + 1} times, given up",
            )  # fmt: skip

    async def synced(self) -> None:
        """Return once the worker has carried out every change sent so far (at once if it is down: a
        restarted worker gets every endpoint's State before anything else)."""
        if not self.up.is_set():
            return
        self._send_dirty()
        token = next(self.pool.ids)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.syncs[token] = fut
        self.send(mp.Sync(token))
        await fut

    def close_endpoint(self, ep: WorkerEndpoint) -> None:
        self._send_dirty()
        if self.eps.pop(ep.id, None) is not None:
            self.closing[ep.id] = ep
            ep.done = asyncio.get_running_loop().create_future()
            self.send(mp.Close(ep.id))
        self._dirty.discard(ep)

    # -- messages in -----------------------------------------------------------------------
    def take(self, msg: mp.Message) -> None:
        """One message of the worker."""
        if isinstance(msg, mp.Tap):
            ep = self.eps.get(msg.ep)
            tap = None if ep is None else ep.event_tap if msg.event else ep.tap
            if tap is not None:
                tap(msg.data, msg.t)
        elif isinstance(msg, mp.Stats):
            for i, st in msg.eps.items():
                if (ep := self.eps.get(i)) is not None:
                    ep.take_stats(st)
            self.overloaded, self.lag_p95_ms, self.cpu = msg.overloaded, msg.lag_p95_ms, msg.cpu
            if msg.disk_error != self.disk_error:
                self.disk_error = msg.disk_error
                self.pool.disk_changed()
        elif isinstance(msg, mp.SrtpMarks):
            for i, (rx, tx) in msg.marks.items():
                if (ep := self.eps.get(i)) is not None:  # kept for a restart, not sent back
                    object.__setattr__(ep, "srtp_rx_at", rx)
                    object.__setattr__(ep, "srtp_tx_at", tx)
        elif isinstance(msg, mp.Opened | mp.Played | mp.Synced):
            self._answered(msg)
        elif isinstance(msg, mp.Closed):
            self._closed(msg)

    def _answered(self, msg: mp.Opened | mp.Played | mp.Synced) -> None:
        """The answer to an Open, a Play or a Sync: the future waiting on it is done."""
        if isinstance(msg, mp.Opened):
            _finish(self.opening.get(msg.ep), msg.error)
        elif isinstance(msg, mp.Played):
            _finish(self.plays.get(msg.play), True)
        else:
            _finish(self.syncs.pop(msg.token, None), None)

    def _closed(self, msg: mp.Closed) -> None:
        ep = self.closing.pop(msg.ep, None)
        if ep is not None:
            if msg.last is not None:
                ep.take_stats(msg.last)
            self.free.append(ep.port)
            ep.released()
        for path, n in msg.dropped.items():
            w = self.pool.writers.get(path)
            if w is not None:
                w.dropped += n
        self._unhold(msg.ep)

    def _unhold(self, ep_id: int) -> None:
        for path in [p for p, eps in self.paths.items() if ep_id in eps]:
            eps = self.paths[path]
            eps.discard(ep_id)
            if not eps:
                del self.paths[path]
                self.pool.released(path)

    def lost(self) -> None:
        """The process is gone: what was in flight ends, closing endpoints are released."""
        self.up.clear()
        self.writer = None
        for fut in self.opening.values():
            _finish(fut, "media worker restarted")
        for done in self.plays.values():
            _finish(done, self.pool.stopping)  # cut: played again once the worker is back
        for sync in self.syncs.values():
            _finish(sync, None)
        self.syncs.clear()
        for ep_id, ep in self.closing.items():
            self._unhold(ep_id)
            self.free.append(ep.port)
            ep.released()  # its counters are those of the last report
        self.closing.clear()


class MediaWorkers:
    """N media worker processes: one owner that starts them, restarts a dead one, and stops them."""

    def __init__(
        self, host: str, ports: str, host6: str, count: int, *, max_lag_s: float = 0.0, max_cpu: float = 0.0
    ) -> None:
        lo, hi = (int(p) for p in ports.split("-"))
        even = list(range(lo + (lo & 1), hi, 2))
        if len(even) < 2 * count:
            raise AkashiError(
                "メディアワーカーの数に対して RTP ポートが足りません（sip.rtp_ports）",
                f"sip.rtp_ports has too few ports for {count} media workers",
            )
        size = len(even) // count
        self.host, self.host6 = host, host6
        self.max_lag_s, self.max_cpu = max_lag_s, max_cpu
        self.workers = []
        for i in range(count):
            part = even[i * size : (i + 1) * size if i < count - 1 else len(even)]
            random.shuffle(part)
            self.workers.append(_Worker(self, i, part))
        self.ids = itertools.count(1)
        #: spool path -> the call's writer (dropped packets are added to it)
        self.writers: dict[str, SpoolWriter] = {}
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.stopping = False
        self.refused = 0
        #: told why the workers' spool disk refuses writes, and "" once it takes them again
        self.on_disk: Callable[[str], None] = lambda _why: None

    @property
    def used(self) -> set[int]:
        """Ports held by the workers' endpoints (and those being closed)."""
        return {ep.port for w in self.workers for ep in w.eps.values()} | {
            ep.port for w in self.workers for ep in w.closing.values()
        }

    def disk_changed(self) -> None:
        """A worker's spool disk refuses writes, or takes them again: say what holds for all of them."""
        self.on_disk(next((w.disk_error for w in self.workers if w.disk_error), ""))

    # -- MediaPorts ------------------------------------------------------------------------
    @property
    def has_ipv6(self) -> bool:
        """Whether Akashi has an IPv6 address for media (``sip.ipv6_address``)."""
        return bool(self.host6)

    @property
    def free_count(self) -> int:
        """Ports left to open, all workers together."""
        return sum(len(w.free) for w in self.workers)

    def admit(self) -> Refusal | None:
        """503 while every worker is overloaded (new calls go to one that is not)."""
        if any(not w.overloaded for w in self.workers):
            return None
        self.refused += 1
        return Refusal(503, RETRY_AFTER_S, "overload", "every media worker overloaded")

    async def open(self, *, ipv6: bool = False, near: RtpEndpoint | None = None) -> RtpEndpoint:
        """A port on ``near``'s worker, else on the least busy worker that is not overloaded."""
        if ipv6 and not self.host6:
            raise no_ipv6()
        if isinstance(near, WorkerEndpoint) and isinstance(near._worker, _Worker):
            worker = near._worker
        else:
            fit = [w for w in self.workers if w.free] or self.workers
            worker = min(fit, key=lambda w: (w.overloaded, w.load))
        host = self.host6 if ipv6 else self.host
        for _ in range(min(64, len(worker.free))):
            port = worker.free.pop(0)
            ep = WorkerEndpoint(worker, next(self.ids), port, host, ipv6)
            worker.eps[ep.id] = ep
            error = await worker.open(ep)
            if error is None:
                return ep
            del worker.eps[ep.id]
            worker.send(mp.Close(ep.id))  # in case a restarted worker bound it after all
            worker.free.append(port)
            log.debug("media worker %d could not bind port %d: %s", worker.index, port, error)
        raise no_port()

    async def synced(self) -> None:
        """Return once every worker has carried out the changes sent to it so far: a packet that arrives
        after this is relayed and recorded as call control last said (the tests wait on it before they
        send media right after a bridge, which reaches the worker as a message)."""
        await asyncio.gather(*(w.synced() for w in self.workers))

    # -- the spool -------------------------------------------------------------------------
    async def settled(self, paths: Iterable[Path]) -> None:
        """Return once no worker has any of ``paths`` open (their last packets are in the files)."""
        loop = asyncio.get_running_loop()
        waits = []
        for p in map(str, paths):
            if any(p in w.paths for w in self.workers):
                fut: asyncio.Future[None] = loop.create_future()
                self._waiting.setdefault(p, []).append(fut)
                waits.append(fut)
        if waits:
            await asyncio.gather(*waits)
        for p in map(str, paths):
            self.writers.pop(p, None)

    def released(self, path: str) -> None:
        for fut in self._waiting.pop(path, []):
            if not fut.done():
                fut.set_result(None)

    # -- running ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start every worker; return once all are connected."""
        for w in self.workers:
            self._spawn(w)
        await asyncio.wait_for(asyncio.gather(*(w.up.wait() for w in self.workers)), START_S)

    def _spawn(self, w: _Worker) -> None:
        task = asyncio.get_running_loop().create_task(self._run(w))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, w: _Worker) -> None:
        """Run worker ``w``'s process, read its messages, and start it again when it dies."""
        while not self.stopping:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            with theirs:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "akashi.telephony.mediaworker", "--fd", str(theirs.fileno()),
                    "--index", str(w.index), "--max-lag-ms", str(self.max_lag_s * 1000),
                    "--max-cpu", str(self.max_cpu), pass_fds=(theirs.fileno(),),
                )  # fmt: skip
            reader, writer = await asyncio.open_unix_connection(sock=ours)
            w.proc, w.writer = proc, writer
            held = list(w.eps.values())  # after a restart: every endpoint it held, on the same port
            for ep in held:
                w.send(mp.Open(ep.id, ep.host, ep.port, ep.v6))
            for ep in held:  # then their states, whose peers are all open by now
                w._hold_paths(ep)
                w.send(ep.state())
            w.up.set()
            decoder = mp.Decoder()
            try:
                while data := await reader.read(1 << 16):
                    for msg in decoder.feed(data):
                        w.take(msg)
            except (ProtocolError, ConnectionError) as exc:
                log.error("media worker %d: %s", w.index, exc)
            w.lost()
            writer.close()
            if self.stopping:  # the worker writes out its spool files and exits by itself
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 10)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            code = await proc.wait()
            if self.stopping:
                return
            w.restarts += 1
            log.error(
                "メディアワーカー %d が止まりました（終了コード %s）。通話 %d 件分のポートで再起動します / "
                "media worker %d died (exit %s); restarting it with its %d ports",
                w.index, code, len(w.eps) // 2, w.index, code, len(w.eps),
            )  # fmt: skip

    async def stop(self) -> None:
        """Close every worker's connection: each writes out its spool files and exits."""
        self.stopping = True
        for w in self.workers:
            if w.writer is not None:
                w.writer.close()
        procs = [w.proc for w in self.workers if w.proc is not None]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), 10)
        for p in procs:
            if p.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
        for task in list(self._tasks):
            task.cancel()
        for fut_list in self._waiting.values():
            for fut in fut_list:
                if not fut.done():
                    fut.set_result(None)

    def stats(self) -> dict[str, int]:
        """For the SIP stats: workers, those overloaded, restarts, the worst p95 lag (µs)."""
        return {
            "media_workers": len(self.workers),
            "media_workers_overloaded": sum(w.overloaded for w in self.workers),
            "media_worker_restarts": sum(w.restarts for w in self.workers),
            "media_worker_lag_p95_us": int(max((w.lag_p95_ms for w in self.workers), default=0) * 1000),
            "refused_media_overload": self.refused,
        }


def _finish(fut: asyncio.Future[T] | None, result: T) -> None:
    """Answer ``fut`` with ``result`` unless it is gone or already answered."""
    if fut is not None and not fut.done():
        fut.set_result(result)
