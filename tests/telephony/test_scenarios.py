"""SIPp scenarios: hang-ups, busy, no answer, CANCEL, hold/resume, BYE from each side."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from akashi.db import session_scope
from akashi.db.models import Call
from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.telephony import scenarios
from tests.telephony.conftest import NOTICE_HZ, NOTICE_S, UNAVAILABLE_HZ, UNAVAILABLE_S, Start
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_calls import _stored, dominant_hz

pytestmark = [pytest.mark.sip]


async def _row(svc: TelephonyService) -> Call:
    call_id = await asyncio.wait_for(svc.stored.get(), 30)
    assert call_id is not None
    with session_scope(svc.ak.engine) as s:
        row = s.scalar(select(Call).where(Call.id == call_id))
        assert row is not None
        s.expunge(row)
    return row


async def _run(
    b2bua: Start,
    tmp_path: Path,
    caller_xml: str,
    operator_xml: str | None,
    *,
    notice: Path | None,
    mode: str = "automatic",
    ring_timeout_s: int = 5,
    media: bool = True,
    rtp_timeout_s: float = 20,
) -> tuple[Call, TelephonyService]:
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", operator_xml) if operator_xml else None
        svc = await b2bua(
            [opx.port if opx else free_udp_port()],
            notice=notice,
            mode=mode,
            ring_timeout_s=ring_timeout_s,
            rtp_timeout_s=rtp_timeout_s,
        )
        if opx:
            await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", caller_xml)
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        sender = None
        if media:
            # the customer talks as soon as Akashi's media port is known
            async def talk() -> None:
                while True:
                    for c in list(svc.calls.values()):
                        if c.a_rtp is not None:
                            await cust.send_signal(tone(300, 2.0), ("127.0.0.1", c.a_rtp.port))
                            return
                    await asyncio.sleep(0.01)

            sender = asyncio.create_task(talk())
        rc = await callx.wait()
        assert rc == 0, callx.log()
        if opx:
            assert await opx.wait() == 0, opx.log()
        if sender is not None:
            sender.cancel()
        return await _row(svc), svc


async def test_caller_hangs_up_during_notice(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """BYE during the notice: nobody is rung, the call is stored as missed with the notice."""
    row, _svc = await _run(b2bua, tmp_path, scenarios.caller(talk_ms=400), None, notice=notice_wav)
    assert row.status == "missed"
    assert row.hangup_side == "caller"
    assert row.notice_started_at is not None and row.bridged_at is None
    assert row.media_object_id  # the caller's audio and the part of the notice played are kept


async def test_operator_busy_after_notice(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """486 from the only operator after the notice: the caller hears why, then a BYE with Reason 486.

    The caller was answered to hear the notice, so the busy status cannot be its final response any
    more: the "nobody can answer" message takes its place, and the BYE carries ``Reason: SIP;cause=486``.
    """
    row, svc = await _run(
        b2bua,
        tmp_path,
        scenarios.caller(hangup="akashi", bye_reason="SIP;cause=486"),
        scenarios.operator(answer="busy"),
        notice=notice_wav,
    )
    assert row.status == "missed"
    assert row.hangup_side == "akashi"
    assert row.notice_ended_at is not None
    assert row.extra["final_status"] == 486
    _row2, _left, right, _fmt = _stored(svc, row.id)
    # what the caller heard: the notice, then the message, each where it was played
    assert abs(dominant_hz(right[: int(NOTICE_S * 8000)]) - NOTICE_HZ) < 20
    said = (row.extra["unavailable_started_at"] - row.answered_at.timestamp()) * 8000
    part = right[int(said) + 400 : int(said + UNAVAILABLE_S * 8000) - 400]
    assert abs(dominant_hz(part) - UNAVAILABLE_HZ) < 20


async def test_no_answer_after_notice_spoken_message(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """Nobody answers after the notice: the built-in spoken message, then a BYE with Reason 480."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust:
        svc = await b2bua([free_udp_port()], notice=notice_wav, ring_timeout_s=1, unavailable=None)
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(hangup="akashi", bye_reason="SIP;cause=4"))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        assert await callx.wait() == 0, callx.log()
        row = await _row(svc)
    assert row.status == "missed" and row.hangup_side == "akashi"
    assert row.extra["final_status"] in (404, 408, 480)
    _row2, _left, right, _fmt = _stored(svc, row.id)
    said = (row.extra["unavailable_started_at"] - row.answered_at.timestamp()) * 8000
    spoken = right[int(said) :]
    assert len(spoken) > 3 * 8000  # several seconds of speech before the hang-up
    assert np.sqrt(np.mean(spoken.astype(np.float64) ** 2)) > 300  # not silence


async def test_operator_busy_operator_mode(b2bua: Start, tmp_path: Path) -> None:
    """Operator-mode route (no notice played by Akashi): the caller gets the 486 itself."""
    row, _svc = await _run(
        b2bua,
        tmp_path,
        scenarios.caller(final=486),
        scenarios.operator(answer="busy"),
        notice=None,
        mode="operator",
    )
    assert row.status == "missed"
    assert row.notice_mode == "operator"


async def test_no_answer_times_out(b2bua: Start, tmp_path: Path) -> None:
    """Ring timeout: the operator's phone gets CANCEL, the caller 480."""
    row, _svc = await _run(
        b2bua,
        tmp_path,
        scenarios.caller(final=480),
        scenarios.operator(answer="noanswer"),
        notice=None,
        mode="operator",
        ring_timeout_s=2,
        media=False,
    )
    assert row.status == "missed"


async def test_cancel_before_answer(b2bua: Start, tmp_path: Path) -> None:
    """The caller gives up while the operator rings: CANCEL both ways, 487, missed call."""
    row, _svc = await _run(
        b2bua,
        tmp_path,
        scenarios.caller_cancel(800),
        scenarios.operator(answer="noanswer"),
        notice=None,
        mode="operator",
        media=False,
    )
    assert row.status == "missed"
    assert row.hangup_side == "caller"


async def test_hold_and_resume(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """re-INVITE sendonly then sendrecv from the caller reaches the operator and is answered."""
    row, _svc = await _run(
        b2bua,
        tmp_path,
        scenarios.caller(talk_ms=6000, reinvite=True),
        scenarios.operator(reinvites=2),
        notice=notice_wav,
    )
    assert row.status == "completed"
    assert row.hangup_side == "caller"


async def test_operator_hangs_up(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """BYE from the operator ends the caller's side too."""
    row, _svc = await _run(
        b2bua,
        tmp_path,
        scenarios.caller(hangup="akashi"),
        scenarios.operator(hangup="operator", talk_ms=1000),
        notice=notice_wav,
    )
    assert row.status == "completed"
    assert row.hangup_side == "operator"
    assert row.agent_name == "佐藤 花子"


async def test_rtp_timeout_ends_dead_call(b2bua: Start, tmp_path: Path) -> None:
    """No media from either side: the call is ended by Akashi (BYE both ways) after rtp_timeout_s."""
    row, _svc = await _run(
        b2bua,
        tmp_path,
        scenarios.caller(hangup="akashi"),
        scenarios.operator(hangup="caller"),
        notice=None,
        mode="operator",
        media=False,
        rtp_timeout_s=2,
    )
    assert row.status == "completed"
    assert row.hangup_side == "timeout"


async def test_tcp_both_legs(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """SIP over TCP on both sides (RFC 3261 18.3 framing), recorded like UDP calls."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(
            sipp, tmp_path, "op", scenarios.operator(hangup="operator", talk_ms=1500).replace("/UDP", "/TCP")
        )
        svc = await b2bua([opx.port], notice=notice_wav, ring_params=";transport=tcp")
        await opx.start("-t", "t1", "-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(hangup="akashi").replace("/UDP", "/TCP"))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}",
            "-t",
            "t1",
            "-s",
            "0312345678",
            "-key",
            "rtpport",
            str(cust.port),
            "-m",
            "1",
        )
        assert await callx.wait() == 0, callx.log()
        assert await opx.wait() == 0, opx.log()
        row = await _row(svc)
    assert row.status == "completed" and row.hangup_side == "operator"


async def test_tls_options(b2bua: Start, tmp_path: Path) -> None:
    """With a certificate configured, SIP over TLS answers (OPTIONS keep-alive -> 200)."""
    import datetime as dt
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    svc = await b2bua(
        [free_udp_port()],
        notice=None,
        mode="operator",
        sip_extra=f'tls_cert = "{tmp_path / "cert.pem"}"\ntls_key = "{tmp_path / "key.pem"}"\ntls_listen = "127.0.0.1:0"\n',
    )
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection("127.0.0.1", svc.tls_port, ssl=ctx)
    writer.write(
        b"OPTIONS sip:akashi@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKtls1\r\n"
        b"From: <sip:probe@127.0.0.1>;tag=1\r\nTo: <sip:akashi@127.0.0.1>\r\nCall-ID: tls-1\r\n"
        b"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    writer.close()
    assert head.startswith(b"SIP/2.0 200 OK\r\n")
    assert b"Allow: INVITE" in head


async def _two_phones(b2bua: Start, tmp_path: Path, first_xml: str, talk_ms: int, **b2bua_kw: object) -> Call:
    """A call to a route ringing two SIPp phones: 201 plays ``first_xml``, 202 answers; the stored row."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        first = Sipp(sipp, tmp_path, "op1", first_xml)
        answers = Sipp(sipp, tmp_path, "op2", scenarios.operator(hangup="caller"))
        svc = await b2bua([first.port, answers.port], **b2bua_kw)
        await first.start("-m", "1")
        await answers.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=talk_ms))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        assert await callx.wait() == 0, callx.log()
        assert await first.wait() == 0, first.log()
        assert await answers.wait() == 0, answers.log()
        return await _row(svc)


@pytest.mark.parametrize("strategy", ["parallel", "sequential"])
async def test_two_operators(b2bua: Start, tmp_path: Path, notice_wav: Path, strategy: str) -> None:
    """Phone 201 is busy, 202 answers: the agent is whoever answered (鈴木 一郎, osaka)."""
    busy = scenarios.operator(answer="busy")
    row = await _two_phones(b2bua, tmp_path, busy, 2500, notice=notice_wav, strategy=strategy)
    assert row.status == "completed"
    assert row.agent_name == "鈴木 一郎"
    assert len(row.call_ids) == 2  # the customer's Call-ID and the answering phone's


async def test_sequential_ring_timeout_moves_on(b2bua: Start, tmp_path: Path) -> None:
    """Sequential: the first phone rings out (CANCEL after ring_timeout_s), the second answers."""
    silent = scenarios.operator(answer="noanswer")
    row = await _two_phones(
        b2bua, tmp_path, silent, 1000, notice=None, mode="operator", strategy="sequential", ring_timeout_s=1
    )
    assert row.status == "completed" and row.agent_name == "鈴木 一郎"
