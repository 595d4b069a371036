"""kill -9 of Akashi during 20 active calls: after a restart every call is stored, interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import Call
from tests.conftest import make_home, require_binary
from tests.ports import free_udp_port
from tests.telephony import scenarios
from tests.telephony.conftest import sip_toml
from tests.telephony.peers import Sipp, bursts, write_wav16

pytestmark = [pytest.mark.sip, pytest.mark.slow]

N = 20

RTP_SDP = (
    scenarios.SDP.replace("[rtpport]", "[media_port]")
    .replace(" 0 101", " 0")
    .replace("a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\n", "")
)


def _with_rtp(xml: str, after: str, wav: Path) -> str:
    """Start SIPp's RTP stream (looped) right after the element ``after``."""
    return xml.replace(after, after + f'\n  <nop><action><exec rtp_stream="{wav},-1,0"/></action></nop>', 1)


def _serve(home: Path, ready: Path, log: Path) -> subprocess.Popen[bytes]:
    ready.unlink(missing_ok=True)
    return subprocess.Popen(
        [
            "timeout",
            "-s",
            "KILL",
            "120",
            sys.executable,
            "-m",
            "akashi.cli.main",
            "--home",
            str(home),
            "sip",
            "serve",
            "--ready-file",
            str(ready),
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "AKASHI_HOME": str(home)},
        start_new_session=True,  # its own process group: kill -9 reaches Akashi, not just `timeout`
    )


async def _wait_file(path: Path, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, "akashi sip serve exited"
        assert time.monotonic() < end, "akashi sip serve did not get ready"
        await asyncio.sleep(0.1)


def _bridged(spool: Path) -> int:
    n = 0
    for meta in spool.glob("*/meta.json"):
        try:
            if json.loads(meta.read_text()).get("bridged_at"):
                n += 1
        except (OSError, ValueError):
            continue
    return n


async def test_kill9_during_20_calls(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spools survive the process: at most the last second of each call is lost."""
    monkeypatch.delenv("AKASHI_HOME", raising=False)
    sipp = require_binary("sipp")
    require_binary("sox")
    wav = tmp_path / "talk.wav"
    subprocess.run(
        [
            "timeout",
            "30",
            "sox",
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-e",
            "u-law",
            str(wav),
            "synth",
            "3",
            "sine",
            "440",
        ],
        check=True,
    )
    notice = write_wav16(tmp_path / "notice.wav", bursts(0.5, [0.0], 1000.0, burst_s=0.5))
    op_xml = scenarios.operator(hangup="caller").replace("[rtpport]", "[media_port]")
    op_xml = _with_rtp(op_xml, '<recv request="ACK" crlf="true"/>', wav)
    opx = Sipp(sipp, tmp_path, "op", op_xml)
    sip_port = free_udp_port()
    home = make_home(
        tmp_path / "home",
        sqlite_url,
        extra_toml=sip_toml(sip_port, [opx.port], notice=notice, store_processes=1),
    )
    spool = tmp_path / "home" / "spool" / "calls"
    ready = tmp_path / "ready.json"
    log = tmp_path / "akashi.log"
    caller_xml = scenarios.caller(talk_ms=60_000).replace("[rtpport]", "[media_port]")
    caller_xml = _with_rtp(caller_xml, scenarios.ACK.rstrip(), wav)
    callx = Sipp(sipp, tmp_path, "caller", caller_xml)
    proc = _serve(home, ready, log)
    try:
        await _wait_file(ready, proc)
        await opx.start("-mp", str(free_udp_port()), "-m", str(N), limit_s=90)
        await callx.start(
            f"127.0.0.1:{sip_port}",
            "-s",
            "0312345678",
            "-mp",
            str(free_udp_port()),
            "-m",
            str(N),
            "-l",
            str(N),
            "-r",
            "10",
            limit_s=90,
        )
        end = time.monotonic() + 40
        while _bridged(spool) < N:
            assert time.monotonic() < end, f"only {_bridged(spool)} calls bridged\n{log.read_text()[-3000:]}"
            await asyncio.sleep(0.2)
        await asyncio.sleep(3.0)  # media flows on every call
        killed_at = time.time()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        assert len(list(spool.glob("*/meta.json"))) == N
        proc = _serve(home, ready, log)
        await _wait_file(ready, proc)  # unfinished spools are stored before the service is ready
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        callx.kill()
        opx.kill()
    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        rows = list(s.scalars(select(Call)))
        assert len(rows) == N
        for row in rows:
            assert row.status == "interrupted"
            assert row.caller == "0901234567" and row.agent_name == "佐藤 花子"
            assert row.ended_at is not None and row.answered_at is not None
            lost = killed_at - row.ended_at.timestamp()
            assert -0.1 < lost <= 1.0, lost
            assert row.duration_s >= (row.ended_at - row.answered_at).total_seconds() - 0.1
    assert not list(spool.glob("*/meta.json"))
