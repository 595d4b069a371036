"""The operator's protection key through the B2BUA (issue 14): SIPp on both sides, real RTP on loopback.

The operator presses ``*9`` as RFC 4733 telephone-events (or SIP INFO): the caller hears the warning,
the operator hears it too, the stored right channel holds it and the ledger has the timeline; a second
press (or the board's end) plays the final message and hangs up both sides.

SIPp does the signalling; the operator's media (its RFC 4733 events) comes from an RTP socket at the
port its SDP names. SIPp 3.6.1's own ``play_pcap_audio`` was tried: it sends from UDP source port 0
(a raw socket), which Akashi's media check rightly refuses as a stranger. A real soft-phone sending
its own DTMF is in ``test_protect_baresip.py``.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from akashi.codecs import g711
from akashi.db import session_scope
from akashi.db.models import LedgerEntry
from akashi.telephony.calls import Call
from akashi.telephony.dtmf import KEYS, TelephoneEvent
from akashi.telephony.live import LiveCommand, LiveEvent
from akashi.telephony.service import TelephonyService
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import RtpPeer, Sipp, rtp_peer, tone, write_wav16
from tests.telephony.test_calls import _call, _stored, _until, dominant_hz

pytestmark = [pytest.mark.sip]

WARNING_HZ, WARNING_S = 1500.0, 1.5
FINAL_HZ, FINAL_S = 2500.0, 0.5


def route_lines(tmp_path: Path, extra: str = "") -> str:
    """The route's protection settings with tone messages (easy to find in what each side heard)."""
    warning = write_wav16(tmp_path / "warning.wav", tone(WARNING_HZ, WARNING_S))
    final = write_wav16(tmp_path / "final.wav", tone(FINAL_HZ, FINAL_S))
    return f'warning_audio = "{warning}"\nfinal_audio = "{final}"\nprotection_window_s = 60\n{extra}'


#: the operator phone's telephone-event stream keeps one SSRC for the whole call
EVENT_SSRC = random.getrandbits(32).to_bytes(4, "big")


async def press(peer: RtpPeer, dest: tuple[str, int], keys: str) -> None:
    """Press ``keys`` as RFC 4733 events (PT 101): start, updates, then the end packet three times."""
    assert peer.transport is not None
    ssrc, seq = EVENT_SSRC, random.getrandbits(16)
    for k in keys:
        ts = random.getrandbits(32).to_bytes(4, "big")
        code = KEYS.index(k)
        events = [TelephoneEvent(code, volume=10, duration=160 * (i + 1)) for i in range(3)]
        events += [TelephoneEvent(code, end=True, volume=10, duration=640)] * 3
        for i, ev in enumerate(events):
            hdr = bytes([0x80, (0x80 if i == 0 else 0) | 101]) + seq.to_bytes(2, "big") + ts + ssrc
            peer.transport.sendto(hdr + bytes(ev), dest)
            seq = (seq + 1) & 0xFFFF
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)


def kinds(call: Call) -> list[str]:
    return [e.kind for e in call.meta.extra.timeline or []]


def heard_since(peer: RtpPeer, start: int) -> np.ndarray:
    """PCMU audio a peer received from packet ``start`` on, joined in arrival order."""
    pkts = [p for _t, p in peer.received[start:] if (p[1] & 0x7F) == 0]
    return g711.decode(b"".join(p[12:] for p in pkts), "PCMU")


def ledger_events(svc: TelephonyService, object_id: str) -> list[str]:
    import json

    with session_scope(svc.ak.engine) as s:
        rows = s.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.action == "event", LedgerEntry.object_id == object_id)
            .order_by(LedgerEntry.seq)
        ).all()
        return [json.loads(r.data)["kind"] for r in rows]


class Board:
    """A LiveLink that keeps what is published and hands out the commands a test queues."""

    def __init__(self) -> None:
        self.events: list[LiveEvent] = []
        self.commands: list[LiveCommand] = []

    def publish(self, event: LiveEvent) -> None:
        self.events.append(event)

    def exchange(self, live_calls: object) -> list[LiveCommand]:
        out, self.commands = self.commands, []
        return out


async def test_operator_key_warns_then_second_press_ends(
    b2bua: Start, tmp_path: Path, notice_wav: Path
) -> None:
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua([opx.port], notice=notice_wav, route_extra=route_lines(tmp_path))
        board = Board()
        svc.live = board  # what the board is told as it happens (read by the call, set before it starts)
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(hangup="akashi"))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        await _until(lambda: call.meta.bridged_at is not None)
        assert call.b_rtp is not None
        c0, o0 = len(cust.received), len(op.received)
        await press(op, ("127.0.0.1", call.b_rtp.port), "*9")
        await _until(lambda: "played" in kinds(call), 15)
        assert kinds(call) == ["key", "warning", "played"]
        # the caller heard the warning, and so did the operator
        assert abs(dominant_hz(heard_since(cust, c0)) - WARNING_HZ) < 10
        assert abs(dominant_hz(heard_since(op, o0)) - WARNING_HZ) < 10
        assert len(heard_since(cust, c0)) >= WARNING_S * 8000 * 0.95
        # the press itself was relayed to the caller as before
        assert any((p[1] & 0x7F) == 101 for _t, p in cust.received[c0:])
        assert [e.kind for e in board.events] == ["started", "answered", "key", "warning"]
        assert board.events[2].detail["by"] == "operator" and board.events[2].call_id == call.call_id
        c1 = len(cust.received)
        await press(
            op, ("127.0.0.1", call.b_rtp.port), "*9"
        )  # within the window: the final message, then BYE
        assert await callx.wait(30) == 0, callx.log()
        assert await opx.wait(30) == 0, opx.log()
        assert abs(dominant_hz(heard_since(cust, c1)) - FINAL_HZ) < 10
        call_id = await asyncio.wait_for(svc.stored.get(), 20)
        assert call_id is not None
        row, _left, right, _fmt = await asyncio.to_thread(_stored, svc, call_id)
        assert board.events[-1].kind == "ended"
        assert board.events[-1].detail == {"status": "completed", "hangup_side": "operator"}
        assert board.events[1].agent == "佐藤 花子" and board.events[1].caller == "0901234567"

    assert row.hangup_side == "operator"
    timeline = row.extra["timeline"]
    assert [e["kind"] for e in timeline] == ["key", "warning", "played", "key", "final", "played"]
    assert timeline[0]["by"] == "operator" and timeline[3]["detail"] == {"press": "2"}
    # the stored right channel (what the caller heard) holds the warning where it was played
    assert row.answered_at is not None
    warned = timeline[1]["at"] - row.answered_at.timestamp()
    i = int((warned + 0.2) * 8000)
    assert abs(dominant_hz(right[i : i + 8000]) - WARNING_HZ) < 20
    assert np.abs(right[i : i + 8000].astype(np.int32)).mean() > 3000
    ended = timeline[4]["at"] - row.answered_at.timestamp()
    j = int((ended + 0.1) * 8000)
    assert abs(dominant_hz(right[j : j + 2400]) - FINAL_HZ) < 30
    # one ledger entry per timeline step, on the call's recording, and the ledger still verifies
    assert row.media_object_id
    assert ledger_events(svc, row.media_object_id) == [e["kind"] for e in timeline]
    report = await asyncio.to_thread(svc.ak.store.verify)
    assert report.ok, report.as_dict()


def operator_info(keys: str) -> str:
    """An operator phone that answers, then presses ``keys`` as SIP INFO (application/dtmf-relay)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<scenario name="operator-info">',
        """  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="rfrom"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="lto"/>
    </action>
  </recv>""",
        scenarios.OP_RINGING,
        scenarios.OP_OK,
        '  <recv request="ACK" crlf="true"/>',
        '  <pause milliseconds="500"/>',
    ]
    for n, k in enumerate(keys):
        body = f"Signal={k}\r\nDuration=160\r\n"
        parts.append(f"""  <send retrans="500">
    <![CDATA[
INFO [next_url] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch];rport
From: [$lto];tag=[pid]SIPpTag01[call_number]
To: [$rfrom]
Call-ID: [call_id]
CSeq: {2 + n} INFO
Max-Forwards: 70
Content-Type: application/dtmf-relay
Content-Length: [len]

{body}
    ]]>
  </send>
  <recv response="200"/>""")
    parts += ['  <recv request="BYE" timeout="60000"/>', scenarios.OK_TO_REQUEST, "</scenario>"]
    return "\n".join(parts)


def caller_gets_info(count: int) -> str:
    """The customer: answered, the operator's INFOs relayed to it (answered 200), then BYE from Akashi."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<scenario name="caller-info">', scenarios.CALLER_INVITE]
    parts += ['  <recv response="200" rtd="true" rrs="true"/>', scenarios.ACK]
    for _ in range(count):
        parts += ['  <recv request="INFO" timeout="20000"/>', scenarios.OK_TO_REQUEST]
    parts += ['  <recv request="BYE" timeout="60000"/>', scenarios.OK_TO_REQUEST, "</scenario>"]
    return "\n".join(parts)


async def test_sip_info_key_warns_and_the_board_ends(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", operator_info("*9"))
        svc = await b2bua([opx.port], notice=notice_wav, route_extra=route_lines(tmp_path))
        board = Board()
        svc.live = board
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", caller_gets_info(2))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        c0 = len(cust.received)
        await _until(lambda: "played" in kinds(call), 20)
        assert abs(dominant_hz(heard_since(cust, c0)[-int(WARNING_S * 8000) :]) - WARNING_HZ) < 10
        assert not svc.end("no-such-call", "kanri")
        # the route's default policy "ask": a severe flag asks the board, and plays nothing by itself
        svc.live_flag(call.call_id, "severe", "ふざけるな", time.time())
        assert board.events[-1].kind == "flag" and board.events[-1].detail["ask"] == "1"
        assert kinds(call)[-1] == "flag"
        # the board's end, fetched by the service's exchange loop: final message, then both hung up
        board.commands.append(LiveCommand(1, call.call_id, "end", "kanri"))
        assert await callx.wait(30) == 0, callx.log()
        assert await opx.wait(30) == 0, opx.log()
        call_id = await asyncio.wait_for(svc.stored.get(), 20)
        assert call_id is not None
        row, *_ = await asyncio.to_thread(_stored, svc, call_id)
        # live recognition runs behind the call: a flag after the hang-up still reaches the board, marked so
        assert board.events[-1].kind == "ended"
        svc.live_flag(call.call_id, "severe", "殺すぞ", time.time(), ["脅迫"])
        late = board.events[-1]
        assert (late.kind, late.call_id, late.agent, late.caller) == (
            "flag",
            call.call_id,
            "佐藤 花子",
            "0901234567",
        )
        assert (
            late.detail["after_end"] == "1" and "ask" not in late.detail and late.detail["category"] == "脅迫"
        )
        svc.live_flag("no-such-call", "severe", "殺すぞ", time.time())
        assert board.events[-1] is late

    timeline = row.extra["timeline"]
    assert [(e["kind"], e["by"]) for e in timeline] == [
        ("key", "operator"),
        ("warning", "operator"),
        ("played", "akashi"),
        ("flag", "live"),
        ("final", "kanri"),
        ("played", "akashi"),
    ]
    assert row.hangup_side == "akashi"
    assert row.media_object_id and len(ledger_events(svc, row.media_object_id)) == len(timeline)


@pytest.mark.parametrize("answers", [True, False], ids=["answered", "busy"])
async def test_second_press_transfers_to_the_supervisor(
    b2bua: Start, tmp_path: Path, notice_wav: Path, answers: bool
) -> None:
    """``protection_second = "transfer"``: the supervisor's phone rings; answered, it takes the caller and
    the operator is hung up; busy, the call stays with the operator and the timeline says so."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op, rtp_peer() as sup:
        supx = Sipp(
            sipp, tmp_path, "sup", scenarios.operator(hangup="caller", answer="answer" if answers else "busy")
        )
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        extra = f'protection_second = "transfer"\nsupervisor = "sip:300@127.0.0.1:{supx.port}"'
        svc = await b2bua([opx.port], notice=notice_wav, route_extra=route_lines(tmp_path, extra))
        await supx.start("-key", "rtpport", str(sup.port), "-m", "1")
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(hangup="caller", talk_ms=9000))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        await _until(lambda: call.meta.bridged_at is not None)
        assert call.b_rtp is not None
        await press(op, ("127.0.0.1", call.b_rtp.port), "*9")
        await press(op, ("127.0.0.1", call.b_rtp.port), "*9")
        done = "transferred" if answers else "transfer_failed"
        await _until(lambda: done in kinds(call), 15)
        if answers:
            assert await opx.wait(30) == 0, opx.log()  # the operator was hung up
            s0 = len(sup.received)
            await cust.send_signal(tone(600.0, 0.6), ("127.0.0.1", call.a_rtp.port if call.a_rtp else 0))
            await _until(lambda: len(sup.received) - s0 > 20)  # the caller now reaches the supervisor
        assert await supx.wait(30) == 0, supx.log()
        assert await callx.wait(30) == 0, callx.log()
        if not answers:
            assert await opx.wait(30) == 0, opx.log()  # still with the operator until the caller hung up
        call_id = await asyncio.wait_for(svc.stored.get(), 20)
        assert call_id is not None
        row, *_ = await asyncio.to_thread(_stored, svc, call_id)

    steps = [e for e in row.extra["timeline"] if e["kind"] != "played"]
    got = [e["kind"] for e in steps]
    assert got == ["key", "warning", "key", "transfer", done], got
    assert row.hangup_side == "caller"
    if answers:
        assert len(row.call_ids) == 3  # the caller's, the operator's and the supervisor's dialogs
    else:
        assert steps[4]["detail"] == {"reason": "486"}


async def test_long_call_guard_alerts_warns_and_ends(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """Minutes as fractions for the test: alert at 1.2 s, the time-limit message at 2.4 s, the end 1.8 s later."""
    sipp = require_binary("sipp")
    limit = write_wav16(tmp_path / "limit.wav", tone(1200.0, 1.0))
    extra = (
        f'long_call_audio = "{limit}"\nlong_call_alert_min = 0.02\n'
        "long_call_warn_min = 0.04\nlong_call_end_after_min = 0.03"
    )
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua([opx.port], notice=notice_wav, route_extra=route_lines(tmp_path, extra))
        board = Board()
        svc.live = board
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(hangup="akashi"))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        await _until(lambda: call.meta.bridged_at is not None)
        c0 = len(cust.received)
        await _until(lambda: "played" in kinds(call), 15)
        assert abs(dominant_hz(heard_since(cust, c0)[-8000:]) - 1200.0) < 10  # the time-limit message
        assert await callx.wait(30) == 0, callx.log()  # ended by Akashi: BYE to both
        assert await opx.wait(30) == 0, opx.log()
        call_id = await asyncio.wait_for(svc.stored.get(), 20)
        assert call_id is not None
        row, *_ = await asyncio.to_thread(_stored, svc, call_id)

    timeline = row.extra["timeline"]
    steps = [(e["kind"], e["detail"].get("step", e["detail"].get("message", ""))) for e in timeline]
    assert steps == [
        ("long_call", "alert"),
        ("long_call", "warn"),
        ("played", "time_limit"),
        ("long_call", "end"),
        ("final", ""),
        ("played", "final"),
    ]
    assert timeline[0]["detail"]["minutes"] == "0.02" and timeline[3]["detail"]["minutes"] == "0.07"
    at = {s: e["at"] for (k, s), e in zip(steps, timeline, strict=True) if k == "long_call"}
    assert at["alert"] < at["warn"] < at["end"]
    assert at["end"] - at["warn"] >= 1.8 * 0.95
    assert row.hangup_side == "akashi"
    assert [e.detail["step"] for e in board.events if e.kind == "long_call"] == ["alert", "warn", "end"]


class Tap:
    """Live detection's ear, as H5's transcriber side would plug it in: keeps what it is handed."""

    def __init__(self) -> None:
        self.frames: list[tuple[str, str, int, float]] = []
        self.calls: list[tuple[str, str]] = []

    def begin(self, call_id: str, site: str = "") -> None:
        self.calls.append(("begin", call_id))

    def end(self, call_id: str) -> None:
        self.calls.append(("end", call_id))

    def audio(self, call_id: str, side: str, pcm16: bytes, t: float) -> None:
        self.frames.append((call_id, side, len(pcm16), t))


async def test_auto_warning_from_severe_live_flags_and_the_customer_tap(
    b2bua: Start, tmp_path: Path, notice_wav: Path
) -> None:
    """``warning = "auto"``: mild flags play nothing; the second severe flag plays the warning."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua(
            [opx.port], notice=notice_wav, route_extra=route_lines(tmp_path, 'warning = "auto"')
        )
        board, tap = Board(), Tap()
        svc.live, svc.live_tap = board, tap
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(hangup="caller", talk_ms=7000))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        await _until(lambda: call.meta.bridged_at is not None)
        assert call.a_rtp is not None
        await cust.send_signal(tone(500.0, 0.4), ("127.0.0.1", call.a_rtp.port))
        await _until(lambda: len(tap.frames) >= 15)
        assert {(cid, side, n) for cid, side, n, _t in tap.frames} == {(call.call_id, "customer", 320)}
        now = time.time()
        for sev in ("mild", "mild", "severe"):
            svc.live_flag(call.call_id, sev, "いい加減にしろ", now)
        assert "warning" not in kinds(call)
        svc.live_flag(call.call_id, "severe", "土下座しろ", now + 1)
        assert kinds(call)[-1] == "warning"
        flags = [e for e in board.events if e.kind == "flag"]
        assert [f.detail["severity"] for f in flags] == ["mild", "mild", "severe", "severe"]
        assert "ask" not in flags[-1].detail  # auto: nobody is asked, it plays
        assert board.events[-1].kind == "warning" and board.events[-1].detail["by"] == "auto"
        await _until(lambda: "played" in kinds(call), 15)
        assert await callx.wait(30) == 0, callx.log()
        assert await opx.wait(30) == 0, opx.log()
        await _until(lambda: len(tap.calls) == 2)
        assert tap.calls == [("begin", call.call_id), ("end", call.call_id)]
