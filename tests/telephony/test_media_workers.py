"""Media worker processes: a worker killed mid-call comes back and the call goes on; overload refuses calls."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
from pathlib import Path

import numpy as np
import pylibsrtp
import pytest

from akashi.telephony.media import NoticePlayer
from akashi.telephony.mediapool import MediaWorkers, WorkerEndpoint
from akashi.telephony.sdp import Codec
from akashi.telephony.srtp import KeyedSession
from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_calls import _call, _stored, _until

pytestmark = [pytest.mark.sip]

TALK_S = 7.0
KILL_AT = 2.5


def _loud(pcm: np.ndarray) -> np.ndarray:
    """Per 20 ms frame: whether it holds the tone."""
    frames = pcm[: len(pcm) // 160 * 160].reshape(-1, 160).astype(np.float64)
    loud: np.ndarray = np.sqrt(np.mean(frames**2, axis=1)) > 2000
    return loud


async def test_worker_killed_mid_call_is_restarted_and_the_call_goes_on(b2bua: Start, tmp_path: Path) -> None:
    """kill -9 of the worker that relays a call: it is started again on the same ports, relaying and
    recording resume, and the stored call lacks only the time around the kill."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua([opx.port], notice=None, mode="operator", sip_extra="media_workers = 2\n")
        assert svc.media_workers is not None
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=int((TALK_S + 2.5) * 1000)))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc, peers=(callx, opx))
        await _until(lambda: call.meta.bridged_at is not None)
        a = call.a_rtp
        assert isinstance(a, WorkerEndpoint) and call.b_rtp is not None
        worker = a._worker
        assert worker is not None and worker.proc is not None and call.b_rtp in worker.eps.values()
        answered = call.meta.answered_at
        assert answered is not None
        talk = asyncio.create_task(cust.send_signal(tone(300, TALK_S), ("127.0.0.1", a.port)))
        await asyncio.sleep(KILL_AT)
        old_pid = worker.proc.pid
        os.kill(old_pid, signal.SIGKILL)
        await _until(lambda: svc.stats()["media_worker_restarts"] == 1, 15)
        await _until(
            lambda: worker.proc is not None and worker.proc.pid != old_pid, 15
        )  # counted, then started
        await _until(worker.up.is_set, 15)
        n_relayed = len(op.received)
        await _until(lambda: len(op.received) > n_relayed + 25, 10)  # relaying again, same ports
        await talk
        assert await callx.wait() == 0, callx.log()
        assert await opx.wait() == 0, opx.log()
        call_id = await asyncio.wait_for(svc.stored.get(), 30)
        assert call_id is not None
        row, left, _right, _fmt = await asyncio.to_thread(_stored, svc, call_id)
    assert row.status == "completed"
    start = cust.sent_start - answered
    loud = _loud(left[int(start * 8000) : int((start + TALK_S) * 8000)])
    kill = int(KILL_AT * 50)
    assert loud[: kill - 50].mean() > 0.98  # before the kill, up to its last unwritten half second
    assert loud[-100:].mean() > 0.98  # after the restart, to the end
    gap_s = float((~loud).sum()) / 50
    print(f"audio lost around the worker's kill: {gap_s:.2f} s")
    assert gap_s < 3.0, gap_s  # the unwritten half second and the restart, nothing else


async def test_overloaded_workers_refuse_new_calls() -> None:
    """Each worker's own load monitor: while every worker reports overload, new calls get 503; a new
    port goes to a worker that is not overloaded."""
    base = random.randrange(10000, 30000, 1000)  # as the B2BUA tests' RTP ports
    workers = MediaWorkers("127.0.0.1", f"{base}-{base + 98}", "", 2, max_cpu=1e-6)
    await workers.start()
    try:
        assert workers.admit() is None  # nothing reported yet
        await _until(lambda: all(w.overloaded for w in workers.workers), 15)  # a worker's idle CPU > 1e-6
        refusal = workers.admit()
        assert refusal is not None and refusal.status == 503 and refusal.kind == "overload"
        assert refusal.retry_after_s > 0
        assert workers.stats()["media_workers_overloaded"] == 2
        assert workers.stats()["refused_media_overload"] == 1
        # the choice of worker (as reported): the one that is not overloaded
        workers.workers[1].overloaded = False
        ep = await workers.open()
        assert isinstance(ep, WorkerEndpoint) and ep._worker is workers.workers[1]
        ep.close()
    finally:
        await workers.stop()
    codes = [w.proc.returncode if w.proc is not None else None for w in workers.workers]
    assert codes == [0, 0], codes


async def test_refusals_up_to_the_close_reach_the_call() -> None:
    """A stranger's packets just before a port is closed are counted: the worker sends its last counters
    with the close, and call control waits for them before the call's refusals are written."""
    base = random.randrange(10000, 30000, 1000)
    workers = MediaWorkers("127.0.0.1", f"{base}-{base + 98}", "", 1)
    await workers.start()
    try:
        ep = await workers.open()
        ep.set_remote(("127.0.0.1", 9), [Codec(0, "PCMU")])  # the peer is elsewhere: the spray is refused
        packet = bytes([0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7]) + b"v" * 160
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as stranger:
            for _ in range(30):
                stranger.sendto(packet, ("127.0.0.1", ep.port))
        await asyncio.sleep(0.05)  # delivered, but well before the next half-second report
        ep.close()
        await ep.closed_fully()
        assert ep.refused == {"source": 30}, ep.refused
        assert ep.refused_sources and ep.refused_sources[0].startswith("127.0.0.1:")
    finally:
        await workers.stop()


async def test_a_packet_right_after_a_bridge_is_relayed_once_synced() -> None:
    """A bridge reaches a worker as a message: ``synced()`` returns once the worker has it, so the first
    packet sent after it is relayed (each of 20 fresh pairs, one packet each). A worker's death does not hold it up."""
    base = random.randrange(10000, 30000, 1000)
    workers = MediaWorkers("127.0.0.1", f"{base}-{base + 98}", "", 2)
    await workers.start()
    loop = asyncio.get_running_loop()
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as operator,
        ):
            phone.bind(("127.0.0.1", 0))
            operator.bind(("127.0.0.1", 0))
            operator.setblocking(False)
            for i in range(20):
                a = await workers.open()
                b = await workers.open(near=a)  # the call's other leg, in the same worker
                a.set_remote(phone.getsockname(), [Codec(0, "PCMU")])
                b.set_remote(operator.getsockname(), [Codec(0, "PCMU")])
                a.peer, b.peer = b, a
                a.forward = True
                await workers.synced()
                packet = bytes([0x80, 0, 0, i, 0, 0, 0, 160, 0, 0, 0, 7]) + bytes([i]) * 160
                phone.sendto(packet, ("127.0.0.1", a.port))
                got = await asyncio.wait_for(loop.sock_recv(operator, 2048), 5)
                assert got[12:] == packet[12:], i
                a.close()
                b.close()
        proc = workers.workers[0].proc
        assert proc is not None
        os.kill(proc.pid, signal.SIGKILL)
        # dying, down or back: it returns (a worker's death answers the syncs it had not)
        await asyncio.wait_for(workers.synced(), 5)
    finally:
        await workers.stop()


async def test_notice_cut_by_a_worker_kill_is_played_again_whole() -> None:
    """kill -9 of the worker while it plays a notice: once it is back the notice starts again from its
    first packet, and the play ends only after the whole notice went out, so no caller is connected
    having heard part of it."""
    base = random.randrange(10000, 30000, 1000)
    workers = MediaWorkers("127.0.0.1", f"{base}-{base + 98}", "", 1)
    await workers.start()
    n = 100  # 2 s of 20 ms packets, each naming its place in the notice
    payloads = [i.to_bytes(2, "big") + b"\xff" * 158 for i in range(n)]
    heard: list[int] = []
    loop = asyncio.get_running_loop()

    async def listen(sock: socket.socket) -> None:
        while True:
            heard.append(int.from_bytes((await loop.sock_recv(sock, 2048))[12:14], "big"))

    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
            caller.bind(("127.0.0.1", 0))
            caller.setblocking(False)
            listening = asyncio.create_task(listen(caller))
            ep = await workers.open()
            ep.set_remote(caller.getsockname(), [Codec(0, "PCMU")])
            t0 = loop.time()
            play = asyncio.create_task(NoticePlayer(ep, payloads, 0, 160).play())
            await asyncio.sleep(0.6)
            proc = workers.workers[0].proc
            assert proc is not None
            os.kill(proc.pid, signal.SIGKILL)
            await asyncio.wait_for(play, 20)
            took = loop.time() - t0
            await asyncio.sleep(0.2)
            listening.cancel()
            ep.close()
    finally:
        await workers.stop()
    assert workers.stats()["media_worker_restarts"] == 1
    again = heard.index(0, 1)  # where the notice began again
    assert 10 < again < n, heard[:40]  # the cut play had begun and not ended
    assert heard[:again] == list(range(again)), heard[:again]
    assert heard[again:] == list(range(n)), heard[again:]  # then the notice again, whole
    assert took > 0.6 + n * 0.02, took


async def test_srtp_past_a_sequence_wrap_survives_a_worker_restart() -> None:
    """An SRTP call whose sequence numbers wrapped (past 65,536 packets, about 22 minutes at 50 a
    second) has a rollover counter of 1: the restarted worker's fresh sessions resume both directions
    at the marks of the last report, so it keeps decrypting the phone's packets and the operator's
    phone keeps decrypting Akashi's. (Fresh sessions at counter 0 would fail authentication both ways.)"""
    base = random.randrange(10000, 30000, 1000)
    workers = MediaWorkers("127.0.0.1", f"{base}-{base + 98}", "", 1)
    await workers.start()
    key_in, key_out = os.urandom(30), os.urandom(30)
    phone = pylibsrtp.Session(pylibsrtp.Policy(key=key_in, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    operator = pylibsrtp.Session(pylibsrtp.Policy(key=key_out, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND))
    heard: list[int] = []
    failed = 0
    loop = asyncio.get_running_loop()

    async def listen(sock: socket.socket) -> None:
        nonlocal failed
        while True:
            data = await loop.sock_recv(sock, 2048)
            try:
                heard.append(int.from_bytes(operator.unprotect(data)[12:16], "big"))
            except pylibsrtp.Error:
                failed += 1

    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as cust,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as op,
        ):
            for s in (cust, op):
                s.bind(("127.0.0.1", 0))
                s.setblocking(False)
            listening = asyncio.create_task(listen(op))
            a = await workers.open()
            b = await workers.open(near=a)
            a.set_remote(cust.getsockname(), [Codec(0, "PCMU")])
            b.set_remote(op.getsockname(), [Codec(0, "PCMU")])
            a.srtp_rx = KeyedSession(key_in, inbound=True)
            b.srtp_tx = KeyedSession(key_out, inbound=False)
            a.peer = b
            await workers.synced()
            dest = ("127.0.0.1", a.port)
            first = 65536 - 300  # wraps 1.5 s in, at 200 packets a second
            for i in range(1100):
                if i == 500:  # 1 s after the wrap: the last report has seen it
                    proc = workers.workers[0].proc
                    assert proc is not None
                    os.kill(proc.pid, signal.SIGKILL)
                    await _until(lambda: workers.stats()["media_worker_restarts"] == 1, 15)
                    await _until(workers.workers[0].up.is_set, 15)
                    await workers.synced()  # the restarted worker has the endpoints' states
                    after = len(heard)
                seq = (first + i) & 0xFFFF
                rtp = bytes([0x80, 0]) + seq.to_bytes(2, "big") + bytes(4) + b"SSRC" + i.to_bytes(4, "big")
                cust.sendto(phone.protect(rtp + b"\xff" * 156), dest)
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.3)
            listening.cancel()
            assert a.srtp_rx_at and a.srtp_rx_at[0][1] == 1, a.srtp_rx_at  # the SIP process knew of the wrap
            assert b.srtp_tx_at and b.srtp_tx_at[0][1] == 1, b.srtp_tx_at
            a.close()
            b.close()
    finally:
        await workers.stop()
    assert heard[:after] == list(range(after)) and after > 450, (after, heard[-5:])
    resumed = heard[after:]
    assert len(resumed) > 550 and resumed[-1] == 1099, (len(resumed), resumed[-5:])  # relayed again
    assert failed == 0, failed  # and the operator's phone decrypted every packet Akashi sent
    assert a.refused == {}, a.refused  # Akashi decrypted every packet of the phone's


@pytest.mark.parametrize("workers", ["auto", "0"])
async def test_the_cpu_limit_is_each_workers_and_the_sip_process_is_checked_by_lag(
    b2bua: Start, workers: str
) -> None:
    """By default (one worker per core) admission's CPU limit applies to each worker and the SIP process,
    which only signals, is checked by its loop lag; with the relay in the SIP process it gets both."""
    limits = "admission_max_cpu = 0.5\nadmission_max_loop_lag_ms = 40\n"
    line = "" if workers == "auto" else f"media_workers = {workers}\n"
    svc = await b2bua([free_udp_port()], notice=None, sip_extra=line + limits)
    assert svc.load.max_lag_s == 0.04
    if workers == "auto":
        assert svc.media_workers is not None and len(svc.media_workers.workers) == len(
            os.sched_getaffinity(0)
        )
        assert (svc.media_workers.max_cpu, svc.media_workers.max_lag_s) == (0.5, 0.04)
        assert svc.load.max_cpu == 0.0
    else:
        assert svc.media_workers is None and svc.load.max_cpu == 0.5
