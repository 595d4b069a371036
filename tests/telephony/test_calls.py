"""Calls through the B2BUA with SIPp on both sides and real RTP on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from akashi.codecs import g711
from akashi.db import session_scope
from akashi.db.models import Call
from akashi.telephony.calls import Call as SipCall
from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import NOTICE_HZ, NOTICE_S, Start
from tests.telephony.peers import Sipp, bursts, rtp_peer

pytestmark = [pytest.mark.sip]


async def _call(svc: TelephonyService, timeout: float = 20, peers: tuple[Sipp, ...] = ()) -> SipCall:
    """The call the B2BUA is handling (waits until it has its media ports).

    On failure it says what the B2BUA held and what the SIPp ``peers`` logged: a loaded CI machine
    once missed this wait with nothing to tell why.
    """
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        for c in svc.calls.values():
            if c.a_rtp is not None and c.b_rtp is not None:
                return c
        await asyncio.sleep(0.01)
    held = [(c.call_id, c.state, c.a_rtp is not None, c.b_rtp is not None) for c in svc.calls.values()]
    logs = "\n".join(p.log() for p in peers)
    raise AssertionError(f"no call reached the B2BUA with both media ports; calls held: {held}\n{logs}")


async def _until(cond: Callable[[], bool], timeout: float = 10) -> None:
    """Poll a condition of the in-process B2BUA (its state has no event for tests to wait on)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def _stored(svc: TelephonyService, call_id: int) -> tuple[Call, np.ndarray, np.ndarray, int]:
    """The calls row and the decoded left/right channels of its stored WAV."""
    with session_scope(svc.ak.engine) as s:
        row = s.scalar(select(Call).where(Call.id == call_id))
        assert row is not None
        s.expunge(row)
    assert row.media_object_id
    data = b"".join(svc.ak.store.iter_plaintext(row.media_object_id))
    fmt = int.from_bytes(data[20:22], "little")
    channels = int.from_bytes(data[22:24], "little")
    assert channels == 2
    i = data.index(b"data")
    n = int.from_bytes(data[i + 4 : i + 8], "little")
    frames = np.frombuffer(data[i + 8 : i + 8 + n], dtype=np.uint8).reshape(-1, 2)
    codec = "PCMU" if fmt == 7 else "PCMA"
    return row, g711.decode(frames[:, 0].tobytes(), codec), g711.decode(frames[:, 1].tobytes(), codec), fmt


def onsets(pcm: np.ndarray, thresh: float = 3000, min_gap_s: float = 0.3) -> list[float]:
    """Start times (s) of loud bursts."""
    loud = np.abs(pcm.astype(np.int32)) > thresh
    out: list[float] = []
    idx = np.flatnonzero(loud)
    last = -1e9
    for i in idx:
        t = i / 8000
        if t - last > min_gap_s:
            out.append(t)
        last = t
    return out


def dominant_hz(pcm: np.ndarray) -> float:
    """The strongest frequency of a stretch of audio."""
    spec = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.argmax(spec) * 8000 / len(pcm))


@pytest.mark.parametrize(
    ("drop_every", "workers"), [(0, 0), (20, 0), (0, 2)], ids=["clean", "loss5pct", "media-workers"]
)
async def test_notice_then_operator_aligned(
    b2bua: Start, tmp_path: Path, notice_wav: Path, drop_every: int, workers: int
) -> None:
    """Caller hears the whole notice first, then the operator; the stored stereo file is aligned.

    With ``drop_every=20`` both sides lose 5% of their packets: the gaps become silence and
    everything after them stays in place. With ``workers=2`` two media worker processes relay,
    record and play the notice, and the result is the same.
    """
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua([opx.port], notice=notice_wav, sip_extra=f"media_workers = {workers}\n")
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=4500))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        assert call.a_rtp is not None and call.b_rtp is not None
        assert call.a_rtp.in_worker is call.b_rtp.in_worker is bool(workers)
        assert svc.stats().get("media_workers", 0) == workers
        a_port, b_port = call.a_rtp.port, call.b_rtp.port
        await asyncio.wait_for(cust.first_packet.wait(), 5)  # the notice starts right after answer
        cust_marks = [0.5, 1.7, 2.9]
        op_marks = [0.3, 1.5, 2.6]
        # the customer talks during the notice too; the operator once bridged
        t_cust = asyncio.create_task(
            cust.send_signal(bursts(4.0, cust_marks, 500.0), ("127.0.0.1", a_port), drop_every=drop_every)
        )
        await _until(lambda: call.meta.bridged_at is not None)
        await svc.ports.synced()  # with media workers the bridge reaches the relay as a message
        t_op = asyncio.create_task(
            op.send_signal(bursts(3.2, op_marks, 700.0), ("127.0.0.1", b_port), drop_every=drop_every)
        )
        # RFC 4733 DTMF (payload type 101) is relayed untouched
        dtmf = bytes([0x80, 101, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9, 5, 0x0A, 0x00, 0xA0])
        n_before = len(op.received)
        assert cust.transport is not None
        cust.transport.sendto(dtmf, ("127.0.0.1", a_port))
        await _until(lambda: any(p == dtmf for _t, p in op.received[n_before:]), 5)
        cust_start = await t_cust
        op_start = await t_op
        assert await callx.wait() == 0, callx.log()
        assert await opx.wait() == 0, opx.log()
        call_id = await asyncio.wait_for(svc.stored.get(), 20)
        assert call_id is not None
        row, left, right, fmt = await asyncio.to_thread(_stored, svc, call_id)

    assert fmt == 7
    assert row.status == "completed"
    assert row.agent_name == "佐藤 花子"
    assert row.caller == "0901234567" and row.dialled == "0312345678"
    assert row.hangup_side == "caller"
    assert row.notice_mode == "automatic"
    assert row.notice_started_at is not None and row.bridged_at is not None
    assert row.notice_ended_at is not None and row.notice_ended_at <= row.bridged_at
    assert row.extra["announcement"] == "default"
    assert abs(row.extra["notice_duration_s"] - NOTICE_S) < 0.05
    # what the caller heard: the notice tone (1 kHz) first, in full, before any operator audio
    heard = cust.heard()
    notice_part = cust.payloads(int(NOTICE_S * 50))  # the first second of packets, in order
    assert len(notice_part) == int(NOTICE_S * 8000)
    assert abs(dominant_hz(notice_part) - NOTICE_HZ) < 5
    # then, while the operator's phone rings, the ringback tone (400 Hz), quietly
    after = cust.payloads(int(NOTICE_S * 50) + 10)[len(notice_part) :]
    assert abs(dominant_hz(after) - 400) < 10
    assert np.abs(after.astype(np.int32)).max() < 3000
    op_heard = onsets(heard[int(NOTICE_S * 8000) + 800 :])
    assert len(op_heard) == len(op_marks)
    # right channel: the notice at the start, then the operator's bursts
    assert abs(dominant_hz(right[: int(NOTICE_S * 8000)]) - NOTICE_HZ) < 20
    assert row.answered_at is not None
    answered = row.answered_at.timestamp()
    want_left = [cust_start - answered + m for m in cust_marks]
    want_right = [op_start - answered + m for m in op_marks]
    got_left = onsets(left)
    got_right = [t for t in onsets(right) if t > NOTICE_S + 0.05]
    assert len(got_left) == len(want_left) and len(got_right) == len(want_right), (got_left, got_right)
    for g, w in zip(got_left + got_right, want_left + want_right, strict=True):
        assert abs(g - w) < 0.040, (got_left, want_left, got_right, want_right)


async def test_stored_call_found_and_exported(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """A recorded call is found by `akashi calls search --number` and exported by `akashi export call`."""
    import json
    import zipfile

    from typer.testing import CliRunner

    import akashi.cli.main  # noqa: F401  (registers the whole command tree)
    from akashi.cli.apps import app

    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua([opx.port], notice=notice_wav, store_processes=1)  # stored by a worker process
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=2000))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc, peers=(callx, opx))
        assert call.a_rtp is not None
        await cust.send_signal(bursts(1.5, [0.2], 500.0), ("127.0.0.1", call.a_rtp.port))
        assert await callx.wait() == 0, callx.log()
        call_id = await asyncio.wait_for(svc.stored.get(), 20)
    home = str(svc.ak.settings.home)
    runner = CliRunner()
    res = await asyncio.to_thread(
        runner.invoke, app, ["--home", home, "calls", "search", "--number", "090-1234-567", "--json"]
    )
    assert res.exit_code == 0, res.output
    found = json.loads(res.output)
    rows = found if isinstance(found, list) else found.get("calls", found.get("items", []))
    assert any(int(r.get("id", -1)) == call_id for r in rows), found
    out = tmp_path / "call.zip"
    res = await asyncio.to_thread(
        runner.invoke, app, ["--home", home, "export", "call", str(call_id), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(out) as z:
        wavs = [n for n in z.namelist() if n.endswith(".wav")]
        assert wavs, z.namelist()
        data = z.read(wavs[0])
    assert int.from_bytes(data[20:22], "little") == 7 and int.from_bytes(data[22:24], "little") == 2
    i = data.index(b"data")
    frames = np.frombuffer(data[i + 8 :], dtype=np.uint8).reshape(-1, 2)
    right = g711.decode(frames[:, 1].tobytes(), "PCMU")
    assert abs(dominant_hz(right[:8000]) - NOTICE_HZ) < 20  # the notice first on the caller's side
