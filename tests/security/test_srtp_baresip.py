"""SRTP (SDES) with a real soft-phone: baresip caller (srtp-mand) -> Akashi -> baresip operator (srtp-mand).

Both legs are encrypted on the wire with per-leg keys; both phones hear each other (and the caller the
notice); what is stored is the clear audio, inside the encrypted store, and decodes. A phone that
answers in plain RTP where the route asks for SRTP (a SIPp phone: baresip refuses with 488) gets
hung up, and the call is stored as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
from pathlib import Path

import numpy as np
import pytest

from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.ports import free_udp_tcp_port
from tests.telephony import scenarios
from tests.telephony.conftest import NOTICE_HZ, NOTICE_S, Start, b2bua, notice_wav  # noqa: F401 - fixtures
from tests.telephony.peers import Sipp, baresip_ready, bursts, write_wav16
from tests.telephony.test_baresip import read_dump
from tests.telephony.test_calls import _stored, _until, dominant_hz, onsets

pytestmark = [pytest.mark.sip]

#: the route that asks for SRTP toward its phone (appended to the test configuration)
SRTP_NUMBER = "0312340000"


def srtp_route(op_port: int) -> str:
    """An extra route whose phone is offered SRTP."""
    return f"""
[[sip.routes]]
match = "{SRTP_NUMBER}"
ring = ["sip:201@127.0.0.1:{op_port}"]
ring_timeout_s = 5
announcement = "default"
site = "tokyo"
srtp = "sdes"
"""


def baresip_srtp_dir(root: Path, name: str, account: str, mic: Path) -> tuple[Path, int]:
    """A baresip config folder with the srtp module: WAV as microphone, dumps of what it hears."""
    d = root / name
    d.mkdir()
    port = free_udp_tcp_port()
    rtp = random.randrange(40000, 60000, 100)
    modules = ["g711", "aufile", "sndfile", "aubridge", "srtp", "account", "menu"]  # srtp before account
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
"""
        + "".join(f"module {m}.so\n" for m in modules)
        + f"snd_path {d}\n"
    )
    (d / "accounts").write_text(account.replace("PORT", str(port)) + "\n")
    (d / "contacts").write_text("")
    return d, port


async def _run_pair(
    svc: TelephonyService, tmp_path: Path, baresip: str, op_dir: Path, cust_dir: Path, number: str
) -> int | None:
    """Run the operator (auto-answer) and the caller dialling ``number``; the stored call's id."""
    logs = [(tmp_path / f"{n}.log").open("wb") for n in ("op", "cust")]
    op = await asyncio.create_subprocess_exec(
        "timeout", "-s", "KILL", "30", baresip, "-f", str(op_dir), stdout=logs[0], stderr=logs[0],
        start_new_session=True,
    )  # fmt: skip
    cust = None
    try:
        await baresip_ready(tmp_path / "op.log")
        cust = await asyncio.create_subprocess_exec(
            "timeout", "-s", "KILL", "30", baresip, "-f", str(cust_dir),
            "-e", f"/dial sip:{number}@127.0.0.1:{svc.sip.local[1]}", "-t", "8",
            stdout=logs[1], stderr=logs[1], start_new_session=True,
        )  # fmt: skip
        await asyncio.wait_for(cust.wait(), 30)
        return await asyncio.wait_for(svc.stored.get(), 30)
    finally:
        for proc in (op, cust):
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        for f in logs:
            f.close()


async def _srtp_legs(svc: TelephonyService) -> tuple[bool, bool] | None:
    """Whether the bridged call had SRTP on its caller and phone ports (checked while it runs)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + 30
    while loop.time() < end:
        for c in list(svc.calls.values()):
            a, b = c.a_rtp, c.b_rtp
            if a is not None and b is not None and c.meta.bridged_at is not None and b.rx_packets > 10:
                return (a.srtp_rx is not None and a.srtp_tx is not None), (
                    b.srtp_rx is not None and b.srtp_tx is not None
                )
        await asyncio.sleep(0.05)
    return None


@pytest.mark.parametrize(
    ("phone_srtp", "workers"),
    [(True, 0), (False, 0), (True, 2)],
    ids=["both-legs", "caller-only", "both-legs-media-workers"],
)
async def test_baresip_srtp_call_recorded_in_the_clear_inside_the_store(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811 - fixture
    phone_srtp: bool,
    workers: int,
) -> None:
    """SRTP from the caller (and to the phone, when its route asks): everyone hears everyone, the store decodes.

    ``caller-only``: the phone's route has no ``srtp``: Akashi decrypts the caller's SRTP and relays
    plain RTP to the phone, and encrypts the phone's RTP for the caller. ``media-workers``: a media
    worker process holds both ports and is given the legs' keys.
    """
    baresip = require_binary("baresip")
    if not Path("/usr/lib/baresip/modules/srtp.so").exists():
        pytest.fail("baresip's srtp module is missing (Debian's baresip ships it)")
    cust_mic = write_wav16(tmp_path / "cust.wav", bursts(6.0, [0.5, 1.7, 2.9], 500.0))
    op_mic = write_wav16(tmp_path / "op.wav", bursts(5.0, [0.3, 1.5, 2.6], 700.0))
    mediaenc = ";mediaenc=srtp-mand" if phone_srtp else ""
    op_dir, op_port = baresip_srtp_dir(
        tmp_path, "op", f"<sip:201@127.0.0.1:PORT>;regint=0;answermode=auto{mediaenc}", op_mic
    )
    cust_dir, _ = baresip_srtp_dir(
        tmp_path, "cust", "<sip:0901234567@127.0.0.1:PORT>;regint=0;mediaenc=srtp-mand", cust_mic
    )
    svc = await b2bua(
        [op_port], notice=notice_wav, extra=srtp_route(op_port), sip_extra=f"media_workers = {workers}\n"
    )
    watch = asyncio.create_task(_srtp_legs(svc))
    number = SRTP_NUMBER if phone_srtp else "0312345678"  # the fixture's own route: plain to the phone
    call_id = await _run_pair(svc, tmp_path, baresip, op_dir, cust_dir, number)
    # SRTP legs: every packet Akashi took there was authenticated with that phone's key
    assert await asyncio.wait_for(watch, 5) == (True, phone_srtp)
    cust_log = (tmp_path / "cust.log").read_text(errors="replace")
    assert call_id is not None, cust_log[-3000:]
    row, left, right, fmt = await asyncio.to_thread(_stored, svc, call_id)
    assert fmt == 7 and row.status == "completed", row.extra
    assert "rtp_refused" not in row.extra, row.extra["rtp_refused"]

    # each phone decrypted what Akashi sent with its own key: the caller heard the notice then the operator
    heard = read_dump(cust_dir, "dec")
    first = np.flatnonzero(np.abs(heard.astype(np.int32)) > 3000)[0]
    assert abs(dominant_hz(heard[first : first + int(NOTICE_S * 8000)]) - NOTICE_HZ) < 20
    assert len(onsets(heard[first + int(NOTICE_S * 8000) + 400 :])) >= 2
    op_heard = read_dump(op_dir, "dec")
    assert len(onsets(op_heard)) >= 2
    assert (
        abs(dominant_hz(op_heard[np.flatnonzero(np.abs(op_heard.astype(np.int32)) > 3000)[0] :][:400]) - 500)
        < 40
    )

    # and the store holds the clear audio: customer's bursts left, notice then operator right
    assert len(onsets(left)) == 3, onsets(left)
    assert abs(dominant_hz(right[: int(NOTICE_S * 8000)]) - NOTICE_HZ) < 20
    assert len([t for t in onsets(right) if t > NOTICE_S + 0.05]) == 3, onsets(right)


async def test_plain_answer_to_srtp_offer_fails_the_call(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811 - fixture
) -> None:
    """The route asks for SRTP and a (SIPp) phone answers plain RTP/AVP: both legs get a BYE, the call fails."""
    sipp = require_binary("sipp")
    opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))  # waits for Akashi's BYE
    svc = await b2bua([9], notice=notice_wav, extra=srtp_route(opx.port))
    await opx.start("-key", "rtpport", "4002", "-m", "1")
    callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(hangup="akashi", bye_reason="cause=500"))
    await callx.start(
        f"127.0.0.1:{svc.sip.local[1]}", "-s", SRTP_NUMBER, "-key", "rtpport", "4000", "-m", "1"
    )
    assert await callx.wait(30) == 0, callx.log()
    assert await opx.wait(30) == 0, opx.log()
    call_id = await asyncio.wait_for(svc.stored.get(), 20)
    assert call_id is not None
    row, _left, _right, _fmt = await asyncio.to_thread(_stored, svc, call_id)
    assert row.status == "failed", row.extra
    assert row.extra["failure"]["reason"] == "srtp_refused", row.extra
    await _until(lambda: not svc.calls and not svc.ports.used, 5)
