"""A real soft-phone on both sides: baresip caller -> Akashi -> baresip operator (auto-answer)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import wave
from pathlib import Path

import numpy as np
import pytest

from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.ports import free_udp_tcp_port
from tests.telephony.conftest import NOTICE_HZ, NOTICE_S, Start
from tests.telephony.peers import baresip_ready, bursts, write_wav16
from tests.telephony.test_calls import _stored, dominant_hz, onsets

pytestmark = [pytest.mark.sip]

CUST_MARKS = [0.5, 1.7, 2.9]
OP_MARKS = [0.3, 1.5, 2.6]


def baresip_dir(root: Path, name: str, account: str, mic: Path) -> tuple[Path, int]:
    """A config folder for one baresip: WAV as microphone (aufile), dumps of what it hears (sndfile)."""
    d = root / name
    d.mkdir()
    port = free_udp_tcp_port()
    rtp = random.randrange(40000, 60000, 100)
    (d / "config").write_text(
        f"""poll_method epoll
sip_listen 127.0.0.1:{port}
audio_player aubridge,x
audio_alert aubridge,x
audio_source aufile,{mic}
ausrc_srate 8000
auplay_srate 8000
ausrc_channels 1
auplay_channels 1
rtp_ports {rtp}-{rtp + 98}
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module sndfile.so
module aubridge.so
module account.so
module menu.so
snd_path {d}
"""
    )
    (d / "accounts").write_text(account.replace("PORT", str(port)) + "\n")
    (d / "contacts").write_text("")
    return d, port


def read_dump(folder: Path, kind: str) -> np.ndarray:
    """baresip's sndfile dump (``enc``: what it sent, ``dec``: what it heard)."""
    files = sorted(folder.glob(f"dump-*-{kind}.wav"))
    assert files, f"no {kind} dump in {folder}"
    with wave.open(str(files[-1]), "rb") as w:
        assert w.getframerate() == 8000
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


async def test_baresip_caller_notice_operator(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """What the caller heard starts with the notice, then the operator; the stored file is aligned."""
    baresip = require_binary("baresip")
    cust_mic = write_wav16(tmp_path / "cust.wav", bursts(6.0, CUST_MARKS, 500.0))
    op_mic = write_wav16(tmp_path / "op.wav", bursts(5.0, OP_MARKS, 700.0))
    op_dir, op_port = baresip_dir(tmp_path, "op", "<sip:201@127.0.0.1:PORT>;regint=0;answermode=auto", op_mic)
    cust_dir, _ = baresip_dir(tmp_path, "cust", "<sip:0901234567@127.0.0.1:PORT>;regint=0", cust_mic)
    svc: TelephonyService = await b2bua([op_port], notice=notice_wav)
    op_log = (tmp_path / "op.log").open("wb")
    cust_log = (tmp_path / "cust.log").open("wb")
    # Each peer in its own process group: killing the group reaches baresip, not only `timeout`.
    op = await asyncio.create_subprocess_exec(
        "timeout", "-s", "KILL", "30", baresip, "-f", str(op_dir), stdout=op_log, stderr=op_log,
        start_new_session=True,
    )  # fmt: skip
    cust = None
    try:
        await baresip_ready(tmp_path / "op.log")
        cust = await asyncio.create_subprocess_exec(
            "timeout",
            "-s",
            "KILL",
            "30",
            baresip,
            "-f",
            str(cust_dir),
            "-e",
            f"/dial sip:0312345678@127.0.0.1:{svc.sip.local[1]}",
            "-t",
            "9",
            stdout=cust_log,
            stderr=cust_log,
            start_new_session=True,
        )
        await asyncio.wait_for(cust.wait(), 30)
        call_id = await asyncio.wait_for(svc.stored.get(), 30)
    finally:
        for proc in (op, cust):
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
    assert call_id is not None, (tmp_path / "cust.log").read_text(errors="replace")[-3000:]
    row, left, right, fmt = await asyncio.to_thread(_stored, svc, call_id)
    assert fmt == 7
    assert row.status == "completed"
    assert row.hangup_side in ("caller", "operator")
    assert row.agent_name == "佐藤 花子" and row.caller == "0901234567" and row.dialled == "0312345678"

    # what the caller heard: the whole notice first, then the operator's bursts
    heard = read_dump(cust_dir, "dec")
    first = np.flatnonzero(np.abs(heard.astype(np.int32)) > 3000)[0]
    notice = heard[first : first + int(NOTICE_S * 8000)]
    assert abs(dominant_hz(notice) - NOTICE_HZ) < 20
    later = onsets(heard[first + int(NOTICE_S * 8000) + 400 :])
    assert len(later) == len(OP_MARKS), later
    for t in later[:1]:
        seg = heard[first + int((NOTICE_S + t) * 8000) + 400 :][:400]
        assert abs(dominant_hz(seg) - 700) < 40

    # the stored file: customer left, right = notice then operator, both where they happened
    assert row.answered_at is not None and row.bridged_at is not None
    assert abs(dominant_hz(right[: int(NOTICE_S * 8000)]) - NOTICE_HZ) < 20
    got_left = onsets(left)
    got_right = [t for t in onsets(right) if t > NOTICE_S + 0.05]
    assert len(got_left) == len(CUST_MARKS) and len(got_right) == len(OP_MARKS), (got_left, got_right)
    # each party starts talking when its call is answered: the customer at answer (t=0 of the file),
    # the operator when it answered (bridged_at); its words must be there, not shifted, within 40 ms
    op_start = (row.bridged_at - row.answered_at).total_seconds()
    for g, w in zip(got_left, CUST_MARKS, strict=True):
        assert abs(g - w) < 0.040 + 0.02, (got_left, CUST_MARKS)  # + one 20 ms packet of baresip's start
    for g, w in zip(got_right, OP_MARKS, strict=True):
        assert abs(g - (op_start + w)) < 0.040 + 0.02, (got_right, op_start, OP_MARKS)
    # left and right against each other, independent of when anyone started
    sent_c, sent_o = read_dump(cust_dir, "enc"), read_dump(op_dir, "enc")
    assert len(onsets(sent_c)) == len(CUST_MARKS) and len(onsets(sent_o)) == len(OP_MARKS)
    spread_l = np.ptp(np.array(got_left) - np.array(CUST_MARKS))
    spread_r = np.ptp(np.array(got_right) - np.array(OP_MARKS))
    assert spread_l < 0.040 and spread_r < 0.040, (spread_l, spread_r)
