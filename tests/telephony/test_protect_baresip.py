"""The protection key from a real soft-phone: a baresip operator presses ``*9`` (RFC 4733, sent by baresip
itself from its console), a baresip caller hears the warning, and a second press ends the call."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path

import pytest

from akashi.telephony.calls import Call
from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.telephony.conftest import Start
from tests.telephony.peers import baresip_ready, bursts, write_wav16
from tests.telephony.test_baresip import baresip_dir, read_dump
from tests.telephony.test_calls import _call, _stored, _until, dominant_hz
from tests.telephony.test_protect_calls import WARNING_HZ, WARNING_S, kinds, route_lines

pytestmark = [pytest.mark.sip]


def keys(port: int, text: str) -> None:
    """Type ``text`` on a baresip's UDP console (cons module): digits in a call are sent as DTMF."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for ch in text:
            s.sendto(ch.encode(), ("127.0.0.1", port))


async def test_baresip_operator_presses_the_protection_key(
    b2bua: Start, tmp_path: Path, notice_wav: Path
) -> None:
    baresip = require_binary("baresip")
    mic = write_wav16(tmp_path / "quiet.wav", bursts(20.0, [], 500.0))
    op_dir, op_port = baresip_dir(tmp_path, "op", "<sip:201@127.0.0.1:PORT>;regint=0;answermode=auto", mic)
    cust_dir, _ = baresip_dir(tmp_path, "cust", "<sip:0901234567@127.0.0.1:PORT>;regint=0", mic)
    console = free_udp_port()
    with (op_dir / "config").open("a") as f:
        f.write(f"module cons.so\ncons_listen 127.0.0.1:{console}\n")
    svc: TelephonyService = await b2bua([op_port], notice=notice_wav, route_extra=route_lines(tmp_path))
    procs: list[asyncio.subprocess.Process] = []
    logs = [(tmp_path / f"{n}.log").open("wb") for n in ("op", "cust")]
    try:
        procs.append(
            await asyncio.create_subprocess_exec(
                "timeout", "-s", "KILL", "40", baresip, "-f", str(op_dir),
                stdout=logs[0], stderr=logs[0], start_new_session=True,
            )
        )  # fmt: skip
        await baresip_ready(tmp_path / "op.log")
        procs.append(
            await asyncio.create_subprocess_exec(
                "timeout", "-s", "KILL", "40", baresip, "-f", str(cust_dir),
                "-e", f"/dial sip:0312345678@127.0.0.1:{svc.sip.local[1]}", "-t", "25",
                stdout=logs[1], stderr=logs[1], start_new_session=True,
            )
        )  # fmt: skip
        call: Call = await _call(svc, 15)
        await _until(lambda: call.meta.bridged_at is not None, 15)
        await asyncio.sleep(0.3)
        keys(console, "*9")
        await _until(lambda: "played" in kinds(call), 15)
        keys(console, "*9")  # within the window: the final message, then Akashi hangs up both
        await _until(lambda: call.over, 15)
        call_id = await asyncio.wait_for(svc.stored.get(), 30)
    finally:
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
    assert call_id is not None
    row, _left, right, _fmt = await asyncio.to_thread(_stored, svc, call_id)
    timeline = row.extra["timeline"]
    assert [e["kind"] for e in timeline] == ["key", "warning", "played", "key", "final", "played"]
    assert row.hangup_side == "operator"
    assert row.answered_at is not None
    i = int((timeline[1]["at"] - row.answered_at.timestamp() + 0.2) * 8000)
    assert abs(dominant_hz(right[i : i + int(WARNING_S * 4000)]) - WARNING_HZ) < 20
    # the baresip caller heard it
    heard = read_dump(cust_dir, "dec")
    assert any(
        abs(dominant_hz(heard[j : j + 4000]) - WARNING_HZ) < 20
        for j in range(0, max(1, len(heard) - 4000), 2000)
    )
