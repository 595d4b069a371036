"""G.722 and Opus through the B2BUA: the stored RTP decodes to the caller left, the operator right, aligned."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pytest

from akashi.codecs.container import read_container
from akashi.codecs.decode import decode_container
from tests.codecs.rtpaudio import G722, OPUS, Spec, bursts, encode, onsets, rms, rtp
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import RtpPeer, Sipp, rtp_peer
from tests.telephony.test_codecs import bridged_ports, only
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]
pytest.importorskip("av")

CALLER_AT = [0.2, 0.8]  # 440 Hz bursts (0.2 s) the customer sends
OPERATOR_AT = [0.4, 1.0]  # 1000 Hz bursts the operator sends
LOST = 45  # the customer's packet 0.90-0.92 s, inside its second burst, never sent


async def send_encoded(
    peer: RtpPeer, dest: tuple[str, int], spec: Spec, payloads: list[bytes], drop: int | None = None
) -> float:
    """Send 20 ms packets paced on a deadline (no drift), never packet ``drop``; wall time of the first."""
    assert peer.transport is not None
    loop = asyncio.get_running_loop()
    start, wall = loop.time(), time.time()
    ssrc, seq, ts = random.getrandbits(32), random.getrandbits(16), random.getrandbits(32)
    for i, p in enumerate(payloads):
        if i != drop:
            peer.transport.sendto(rtp(spec.pt, seq + i, ts + i * spec.step, ssrc, p), dest)
        delay = start + (i + 1) * 0.02 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
    return wall


@pytest.mark.parametrize("spec", [G722, OPUS], ids=["g722", "opus"])
async def test_real_codec_call_decodes_aligned(b2bua: Start, tmp_path: Path, spec: Spec) -> None:
    sipp = require_binary("sipp")
    caller_payloads = encode(spec, bursts(spec.rate, 1.2, CALLER_AT, 440))
    operator_payloads = encode(spec, bursts(spec.rate, 1.2, OPERATOR_AT, 1000))
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", only(spec.sdp, scenarios.operator(talk_ms=4000)))
        svc = await b2bua([opx.port], notice=None, mode="operator")
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", only(spec.sdp, scenarios.caller(talk_ms=2500)))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        a_port, b_port = await bridged_ports(svc)
        cust_start, op_start = await asyncio.gather(
            send_encoded(cust, ("127.0.0.1", a_port), spec, caller_payloads, drop=LOST),
            send_encoded(op, ("127.0.0.1", b_port), spec, operator_payloads),
        )
        assert await callx.wait() == 0, callx.log()
        assert await opx.wait() == 0, opx.log()
        row = await asyncio.wait_for(_row(svc), 30)
        assert row.media_object_id
        data = b"".join(svc.ak.store.iter_plaintext(row.media_object_id))
    header, _recs = read_container(data)
    assert (header["name"], header["payload_type"]) == (spec.name, spec.pt)
    out = decode_container(data)
    assert out.rate == 16000
    t0 = float(header["t0"])
    want_left = [cust_start - t0 + a for a in CALLER_AT]
    want_right = [op_start - t0 + a for a in OPERATOR_AT]
    got_left, got_right = onsets(out.left, out.rate), onsets(out.right, out.rate)
    assert len(got_left) == 2 and all(abs(g - w) <= 0.04 for g, w in zip(got_left, want_left, strict=True)), (
        got_left,
        want_left,
    )
    assert len(got_right) == 2 and all(
        abs(g - w) <= 0.04 for g, w in zip(got_right, want_right, strict=True)
    ), (got_right, want_right)
    # the lost packet is a hole of silence in the second burst, and what follows is not shifted
    hole = cust_start - t0 + LOST * 0.02
    level = rms(out.left, out.rate, hole - 0.07, hole - 0.02)
    assert level > 5000
    assert rms(out.left, out.rate, hole + 0.003, hole + 0.017) < 0.1 * level
    assert rms(out.left, out.rate, hole + 0.03, hole + 0.07) > 0.5 * level
    assert rms(out.right, out.rate, hole - 0.07, hole + 0.07) < 0.1 * level  # legs do not leak
