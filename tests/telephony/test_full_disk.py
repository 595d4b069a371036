"""A full spool disk during a call: calls go on, the recording waits in memory, nothing is lost.

The spool lives on a real, tiny tmpfs that the test fills up while a call is being recorded (mounting
needs root, as in CI; elsewhere the test is skipped like a missing peer).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from akashi.telephony import recorder
from tests.conftest import missing_peer, require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_calls import _call, _stored, _until

pytestmark = [pytest.mark.sip]


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 2 MiB tmpfs as the spool folder."""
    disk = tmp_path / "spooldisk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], check=False)
    if done.returncode != 0:
        missing_peer("a tmpfs mount for the spool (needs root)")
    monkeypatch.setenv("AKASHI_STORE__SPOOL_PATH", str(disk))
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of ``disk``; the filler file (delete it to give the space back)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    probe = disk / "probe"
    with pytest.raises(OSError) as err:
        probe.write_bytes(b"x" * 8192)
    assert err.value.errno == errno.ENOSPC
    probe.unlink(missing_ok=True)
    return filler


TALK_S = 6.0
#: the disk fills this long after the customer starts talking
FULL_AT = 1.0


async def _full_disk_call(
    b2bua: Start, tmp_path: Path, small_disk: Path, full_s: float, sip_extra: str = ""
) -> tuple[object, np.ndarray]:
    """A call whose spool disk is full for ``full_s`` seconds while the customer talks (300 Hz).

    Returns the stored row and the stored left channel from the moment the customer began talking.
    """
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua([opx.port], notice=None, mode="operator", sip_extra=sip_extra)
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=int((TALK_S + 2.5) * 1000)))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        await _until(lambda: call.meta.bridged_at is not None)
        assert call.a_rtp is not None and call.meta.answered_at is not None
        answered = call.meta.answered_at
        talk = asyncio.create_task(cust.send_signal(tone(300, TALK_S), ("127.0.0.1", call.a_rtp.port)))
        await asyncio.sleep(FULL_AT)
        filler = await asyncio.to_thread(fill, small_disk)
        await _until(lambda: svc.disk_error != "", 5)  # Akashi says so
        n_relayed = len(op.received)
        await asyncio.sleep(full_s)
        assert len(op.received) > n_relayed + 40 * full_s  # the call went on while the disk was full
        filler.unlink()
        await talk
        assert await callx.wait() == 0, callx.log()
        assert await opx.wait() == 0, opx.log()
        await _until(lambda: svc.disk_error == "", 10)
        call_id = await asyncio.wait_for(svc.stored.get(), 30)
        assert call_id is not None
        row, left, _right, _fmt = await asyncio.to_thread(_stored, svc, call_id)
        start = cust.sent_start - answered
    return row, left[int(start * 8000) : int((start + TALK_S) * 8000)]


def _loud_frames(pcm: np.ndarray) -> float:
    frames = pcm[: len(pcm) // 160 * 160].reshape(-1, 160).astype(np.float64)
    return float(np.mean(np.sqrt(np.mean(frames**2, axis=1)) > 2000))


async def test_full_spool_disk_loses_nothing(small_disk: Path, b2bua: Start, tmp_path: Path) -> None:
    """The disk is full for 2 s mid-call: relaying goes on, the packets wait, all the speech is stored."""
    row, spoken = await _full_disk_call(b2bua, tmp_path, small_disk, 2.0)
    assert row.status == "completed"  # type: ignore[attr-defined]
    assert "spool_dropped_packets" not in row.extra  # type: ignore[attr-defined]
    assert _loud_frames(spoken) > 0.98  # the customer's tone, unbroken across the full disk


async def test_disk_full_for_too_long_drops_and_says_so(
    small_disk: Path, b2bua: Start, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the memory allowance new packets are dropped, counted in the call, silence in their place."""
    monkeypatch.setattr(recorder, "MAX_BACKLOG", 16 * 1024)  # about 1.5 s of one leg
    # the smaller allowance holds in this process only, so the SIP process relays (no media workers)
    row, spoken = await _full_disk_call(b2bua, tmp_path, small_disk, 3.0, sip_extra="media_workers = 0\n")
    assert row.extra["spool_dropped_packets"] > 20  # type: ignore[attr-defined]
    assert 0.5 < _loud_frames(spoken) < 0.95  # a gap of silence where packets were dropped
    before = spoken[: int(FULL_AT * 8000)]
    # once the space is back (and the next flush has written the backlog): in place, no shift
    after = spoken[int((FULL_AT + 3.0 + 1.0) * 8000) :]
    assert _loud_frames(before) > 0.98 and _loud_frames(after) > 0.98
