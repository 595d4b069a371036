"""SIP over TLS with a real soft-phone: Akashi rings a baresip operator over TLS (issue 10, item 8).

The caller is baresip over UDP; the operator is another baresip that accepts only what reaches its
TLS port (baresip listens for TLS on its SIP port + 1) with a throwaway certificate; Akashi checks
that certificate against ``sip.tls_ca``. The call is answered, bridged and stored with the
operator's audio in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import require_binary
from tests.security.trunk_peers import self_signed
from tests.telephony.conftest import Start, b2bua  # noqa: F401 - fixtures
from tests.telephony.peers import baresip_ready, bursts, write_wav16
from tests.telephony.test_baresip import baresip_dir
from tests.telephony.test_calls import _stored, dominant_hz, onsets

pytestmark = [pytest.mark.sip]

OP_MARKS = [0.3, 1.5, 2.6]


async def _run(args: list[str], log: Path) -> asyncio.subprocess.Process:
    out = log.open("wb")
    return await asyncio.create_subprocess_exec(
        "timeout", "-s", "KILL", "30", *args, stdout=out, stderr=out, start_new_session=True
    )


async def test_operator_rung_over_tls(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
) -> None:
    """INVITE, ACK and BYE to the operator go over TLS; the stored call holds the operator's bursts."""
    baresip = require_binary("baresip")
    cert, key = self_signed(tmp_path, "operator")
    pem = tmp_path / "operator-all.pem"
    pem.write_bytes(cert.read_bytes() + key.read_bytes())
    op_mic = write_wav16(tmp_path / "op.wav", bursts(5.0, OP_MARKS, 700.0))
    cust_mic = write_wav16(tmp_path / "cust.wav", bursts(6.0, [0.5], 500.0))
    op_dir, op_port = baresip_dir(tmp_path, "op", "<sip:201@127.0.0.1:PORT>;regint=0;answermode=auto", op_mic)
    with (op_dir / "config").open("a") as f:
        f.write(f"sip_certificate {pem}\n")
    cust_dir, _ = baresip_dir(tmp_path, "cust", "<sip:0901234567@127.0.0.1:PORT>;regint=0", cust_mic)
    svc = await b2bua(
        [op_port + 1],
        notice=None,
        mode="operator",
        ring_params=";transport=tls",
        sip_extra=f'tls_ca = "{cert}"',
    )
    op = await _run([baresip, "-f", str(op_dir)], tmp_path / "op.log")
    cust = None
    try:
        await baresip_ready(tmp_path / "op.log")
        dial = f"/dial sip:0312345678@127.0.0.1:{svc.sip.local[1]}"
        cust = await _run([baresip, "-f", str(cust_dir), "-e", dial, "-t", "8"], tmp_path / "cust.log")
        await asyncio.wait_for(cust.wait(), 30)
        call_id = await asyncio.wait_for(svc.stored.get(), 30)
    finally:
        for proc in (op, cust):
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
    assert call_id is not None, (tmp_path / "op.log").read_text(errors="replace")[-3000:]
    row, _left, right, _fmt = await asyncio.to_thread(_stored, svc, call_id)
    assert row.status == "completed", row.status
    assert row.bridged_at is not None
    # the operator's leg was a TLS connection Akashi opened, and only that
    assert svc.sip.stream_only.get(("127.0.0.1", op_port + 1)) == "TLS"
    got = onsets(right)
    assert len(got) >= 2, got
    start = int(got[0] * 8000) + 200
    assert abs(dominant_hz(right[start : start + 400].astype(np.int16)) - 700) < 40
