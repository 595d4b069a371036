"""A media worker process: relays, records and plays the RTP of the endpoints the SIP process gives it.

Started by :class:`~akashi.telephony.mediapool.MediaWorkers` as ``python -m
akashi.telephony.mediaworker --fd N``, with one end of a Unix socket pair. It runs the same
:class:`~akashi.telephony.media.RtpEndpoint` relay as the SIP process does without workers, and the
same spool writer: buffered packets go to the spool files every :data:`FLUSH_S` on one I/O thread,
so a ``kill -9`` of the worker loses at most that much of its calls, and a full disk loses nothing
until the backlog limit. When the SIP process goes away (the socket closes) the worker writes out
what it holds and exits. Its own load monitor says when it is overloaded; the SIP process then sends
new calls to another worker, or refuses them when every worker is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import socket
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from akashi.telephony import mediaproto as mp
from akashi.telephony.admission import LoadMonitor, run_monitor
from akashi.telephony.media import NoticePlayer, RtpEndpoint, RtpEndpoint6
from akashi.telephony.recorder import SpoolWriter, write_batch
from akashi.telephony.srtp import ResumableSession, StreamMark

log = logging.getLogger("akashi.telephony.mediaworker")
FLUSH_S = 0.5
STATS_S = 0.5
#: SRTP marks are sent again when a stream wrapped, or moved this many packets on (well within the
#: 32,768 that libsrtp's index guess allows a resumed stream to be behind)
MARK_EVERY = 0x2000
#: an endpoint's SRTP marks: (rx, tx), each (SSRC, rollover counter, sequence number) per stream
Marks = tuple[tuple[StreamMark, ...], tuple[StreamMark, ...]]


class Worker:
    """The endpoints, spool files and players of one worker process, driven by the SIP process's messages."""

    def __init__(self, send: Callable[[mp.Message], None], load: LoadMonitor) -> None:
        self.send = send
        self.load = load
        self.eps: dict[int, RtpEndpoint] = {}
        self.states: dict[int, mp.State] = {}
        self.sinks: dict[str, SpoolWriter] = {}
        self.users: dict[str, set[int]] = {}  # spool path -> endpoints recording into it
        self.plays: dict[int, asyncio.Task[None]] = {}
        self._reported: dict[int, tuple[int, int, int, bool]] = {}
        self._marked: dict[int, Marks] = {}  # the SRTP marks last sent, per endpoint
        self.io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="akashi-media-spool")
        self.lag: list[float] = []
        self.disk_error = ""

    async def handle(self, msg: mp.Message) -> None:
        """Carry out one message of the SIP process."""
        if isinstance(msg, mp.Open):
            await self._open(msg)
        elif isinstance(msg, mp.State):
            self._apply(msg)
        elif isinstance(msg, mp.Play):
            self._play(msg)
        elif isinstance(msg, mp.Stop):
            task = self.plays.get(msg.play)
            if task is not None:
                task.cancel()
        elif isinstance(msg, mp.Close):
            await self._close(msg.ep)
        elif isinstance(msg, mp.Sync):
            self.send(mp.Synced(msg.token))

    async def _open(self, msg: mp.Open) -> None:
        loop = asyncio.get_running_loop()
        cls = RtpEndpoint6 if msg.v6 else RtpEndpoint
        try:
            _tr, ep = await loop.create_datagram_endpoint(
                lambda: cls(msg.port), local_addr=(msg.host, msg.port)
            )
        except OSError as exc:
            self.send(mp.Opened(msg.ep, f"{exc.strerror or exc}"))
            return
        self.eps[msg.ep] = ep
        for i, st in self.states.items():  # a State that named this endpoint as its peer before it was open
            if st.peer == msg.ep and i in self.eps:
                self.eps[i].peer = ep
        self.send(mp.Opened(msg.ep))

    def _apply(self, st: mp.State) -> None:
        ep = self.eps.get(st.ep)
        if ep is None:
            return
        prev = self.states.get(st.ep)
        if prev is None or prev.generation != st.generation:  # a new SDP: learn address and SSRCs again
            ep.remote, ep.latched, ep.nat_ip = st.remote, st.latched, st.nat_ip
            ep.ssrc = ep.ssrc_event = None
            ep.forgive_early(st.remote)
        ep.signal_ip = st.signal_ip
        ep.payload_types = None if st.payload_types is None else frozenset(st.payload_types)
        ep.event_pts = frozenset(st.event_pts)
        ep.forward = st.forward
        ep.peer = self.eps.get(st.peer) if st.peer is not None else None
        ep.label = st.label
        # a new endpoint, or a restarted worker's: its streams resume where the last report saw them
        if prev is None or prev.srtp_rx != st.srtp_rx:
            at = st.srtp_rx_at if prev is None else ()
            ep.srtp_rx = (
                ResumableSession(bytes.fromhex(st.srtp_rx), inbound=True, resume=at) if st.srtp_rx else None
            )
        if prev is None or prev.srtp_tx != st.srtp_tx:
            at = st.srtp_tx_at if prev is None else ()
            ep.srtp_tx = (
                ResumableSession(bytes.fromhex(st.srtp_tx), inbound=False, resume=at) if st.srtp_tx else None
            )
        ep.record_in = self._sink(st.ep, st.record_in)
        ep.record_out = self._sink(st.ep, st.record_out)
        ep.tap = self._tap(st.ep, event=False) if st.tap else None
        ep.event_tap = self._tap(st.ep, event=True) if st.event_tap else None
        self.states[st.ep] = st
        for path in [
            p for p, eps in self.users.items() if st.ep in eps and p not in (st.record_in, st.record_out)
        ]:
            self._release(st.ep, path)

    def _sink(self, ep: int, path: str | None) -> SpoolWriter | None:
        if path is None:
            return None
        w = self.sinks.get(path)
        if w is None:
            try:
                w = self.sinks[path] = SpoolWriter(Path(path))
            except OSError as exc:  # its folder is gone (the call was stored): nothing to record into
                log.error("media worker cannot open the spool %s: %s", path, exc.strerror or exc)
                return None
        self.users.setdefault(path, set()).add(ep)
        return w

    def _release(self, ep: int, path: str) -> SpoolWriter | None:
        """``ep`` no longer records into ``path``; the writer when nothing else does."""
        users = self.users.get(path)
        if users is None:
            return None
        users.discard(ep)
        if users:
            return None
        del self.users[path]
        return self.sinks.pop(path, None)

    def _tap(self, ep: int, *, event: bool) -> Callable[[bytes, float], None]:
        send = self.send

        def tap(data: bytes, t: float) -> None:
            send(mp.Tap(ep, t, event, data))

        return tap

    def _play(self, msg: mp.Play) -> None:
        ep = self.eps.get(msg.ep)
        if ep is None:
            self.send(mp.Played(msg.play))
            return
        player = NoticePlayer(ep, msg.payloads, msg.payload_type, msg.step, msg.ptime_ms, repeat=msg.repeat)
        task = asyncio.get_running_loop().create_task(player.play())
        self.plays[msg.play] = task

        def done(_t: asyncio.Task[None]) -> None:
            self.plays.pop(msg.play, None)
            self.send(mp.Played(msg.play))

        task.add_done_callback(done)

    async def _close(self, ep_id: int) -> None:
        ep = self.eps.pop(ep_id, None)
        self.states.pop(ep_id, None)
        self._reported.pop(ep_id, None)
        self._marked.pop(ep_id, None)
        last = None
        if ep is not None:
            last = _full_stats(ep)
            for other in self.eps.values():
                if other.peer is ep:
                    other.peer = None
            ep.close()
        closing = [(p, w) for p in list(self.users) if (w := self._release(ep_id, p)) is not None]
        loop = asyncio.get_running_loop()
        for _p, w in closing:
            with contextlib.suppress(OSError):  # a full disk: what it holds is lost with the worker only
                await loop.run_in_executor(self.io, w.close)
        self.send(
            mp.Closed(
                ep_id, tuple(p for p, _w in closing), {p: w.dropped for p, w in closing if w.dropped}, last
            )
        )

    async def flush_loop(self) -> None:
        """Write the buffered packets of every spool file every :data:`FLUSH_S`."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(FLUSH_S)
            batch: list[tuple[SpoolWriter, bytes | bytearray]] = [
                (w, w.take()) for w in self.sinks.values() if (w.buf or w.pending) and w.fd >= 0
            ]
            if batch:
                error = await loop.run_in_executor(self.io, write_batch, batch)
                was, self.disk_error = self.disk_error, "" if error is None else f"{error.strerror or error}"
                if self.disk_error != was:  # said once by the SIP process, which logs it for every worker
                    self.report()

    async def stats_loop(self) -> None:
        """Report the endpoints that changed, and the load, every :data:`STATS_S`."""
        while True:
            await asyncio.sleep(STATS_S)
            self.report()

    def report(self) -> None:
        """One :class:`~akashi.telephony.mediaproto.Stats` with the endpoints changed since the last."""
        eps: dict[int, mp.EndpointStats] = {}
        reported = self._reported
        for i, ep in self.eps.items():
            n_refused = sum(ep.refused.values()) if ep.refused else 0
            last = reported.get(i)
            if (
                last is not None
                and last[0] == ep.rx_packets
                and last[1] == ep.tx_packets
                and last[2] == n_refused
            ):
                continue
            reported[i] = (ep.rx_packets, ep.tx_packets, n_refused, ep.latched)
            if (
                last is None or last[2] != n_refused or last[3] != ep.latched
            ):  # the rare part, when it changed
                eps[i] = _full_stats(ep)
            else:
                eps[i] = mp.EndpointStats(ep.rx_packets, ep.tx_packets, ep.last_rx, ep.latched)
        self._report_marks()
        lags = sorted(self.lag)
        self.lag.clear()
        p95 = lags[int(0.95 * (len(lags) - 1))] * 1000 if lags else 0.0
        self.send(mp.Stats(eps, self.load.overloaded, p95, self.load.cpu, self.disk_error))

    def _report_marks(self) -> None:
        """Where the SRTP streams stand, for the endpoints whose streams moved on enough (see :func:`_moved`)."""
        changed: dict[int, Marks] = {}
        for i, ep in self.eps.items():
            rx, tx = ep.srtp_rx, ep.srtp_tx
            if rx is None and tx is None:
                continue
            now = (
                rx.marks() if isinstance(rx, ResumableSession) else (),
                tx.marks() if isinstance(tx, ResumableSession) else (),
            )
            if _moved(self._marked.get(i), now):
                changed[i] = self._marked[i] = now
        if changed:
            self.send(mp.SrtpMarks(changed))

    def close(self) -> None:
        """The SIP process is gone: write out and close every spool file."""
        for task in self.plays.values():
            task.cancel()
        for ep in self.eps.values():
            ep.close()
        for w in self.sinks.values():
            with contextlib.suppress(OSError):
                w.close()
        self.io.shutdown(wait=True)


def _moved(old: Marks | None, new: Marks) -> bool:
    """Whether SRTP marks must be sent again: a stream new or wrapped, or more than MARK_EVERY further."""
    if old is None:
        return True
    for was, now in zip(old, new, strict=True):
        if {m[0] for m in was} != {m[0] for m in now}:
            return True
        before = {ssrc: (roc << 16) | seq for ssrc, roc, seq in was}
        if any(
            roc != before[ssrc] >> 16 or abs(((roc << 16) | seq) - before[ssrc]) >= MARK_EVERY
            for ssrc, roc, seq in now
        ):
            return True
    return False


def _full_stats(ep: RtpEndpoint) -> mp.EndpointStats:
    """An endpoint's counters with its latching and refusals (when they changed, and at its close)."""
    remote = ep.remote if ep.latched else None
    return mp.EndpointStats(
        ep.rx_packets, ep.tx_packets, ep.last_rx, ep.latched, remote, dict(ep.refused), list(ep.refused_from)
    )


async def serve(sock: socket.socket, max_lag_s: float, max_cpu: float) -> None:
    """Serve the SIP process on ``sock`` until it closes."""
    reader, writer = await asyncio.open_unix_connection(sock=sock)

    def send(msg: mp.Message) -> None:
        if not writer.is_closing():
            writer.write(mp.encode(msg))

    worker = Worker(send, LoadMonitor(max_lag_s, max_cpu))
    decoder = mp.Decoder()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)  # as the SIP process does: the relay makes no cycles
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(worker.flush_loop()),
                tg.create_task(worker.stats_loop()),
                tg.create_task(
                    run_monitor(
                        worker.load, lambda _m: worker.report(), on_lag=lambda _t, lag: worker.lag.append(lag)
                    )
                ),
            ]
            with contextlib.suppress(ConnectionError):  # the SIP process is gone, as with an end of file
                while data := await reader.read(1 << 16):
                    for msg in decoder.feed(data):
                        await worker.handle(msg)
            for t in tasks:
                t.cancel()
    finally:
        worker.close()
        writer.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the worker process."""
    ap = argparse.ArgumentParser(prog="akashi-media-worker")
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--max-lag-ms", type=float, default=0.0)
    ap.add_argument("--max-cpu", type=float, default=0.0)
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format=f"%(asctime)s media-worker-{args.index} %(levelname)s %(message)s"
    )
    sock = socket.socket(fileno=args.fd)
    started = time.monotonic()
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up, as akashi serve uses it

        uvloop.run(serve(sock, args.max_lag_ms / 1000, args.max_cpu))
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(sock, args.max_lag_ms / 1000, args.max_cpu))
    log.debug("media worker %d ran %.0f s", args.index, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
