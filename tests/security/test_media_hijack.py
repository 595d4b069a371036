"""Media hijack: a stranger sprays RTP at a call's ports with raw UDP sockets.

Nothing of it may reach the evidence or the other party, the stranger hears nothing, and every
refused packet is counted with the call. A second SSRC and malformed RTP from the caller's own
address are refused too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from akashi.codecs import g711
from akashi.telephony.media import RtpEndpoint, SpoolSink, nat_source
from akashi.telephony.sdp import Codec
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start, b2bua, notice_wav  # noqa: F401 - fixtures
from tests.telephony.peers import Sipp, bursts, rtp_peer, tone
from tests.telephony.test_calls import _call, _stored, _until

pytestmark = [pytest.mark.sip]

#: the stranger's audio: a 2.4 kHz tone, far from every frequency the call itself carries
ATTACK_HZ = 2400.0


def rtp(payload: bytes, *, ssrc: int, seq: int, pt: int = 0, b0: int = 0x80) -> bytes:
    """One RTP packet as an attacker writes it by hand."""
    return (
        bytes([b0, pt])
        + seq.to_bytes(2, "big")
        + (seq * 160).to_bytes(4, "big")
        + ssrc.to_bytes(4, "big")
        + payload
    )


def band_energy(pcm: np.ndarray, hz: float, width: float = 60.0) -> float:
    """Share of the signal's energy within ``width`` Hz of ``hz``."""
    if len(pcm) == 0:
        return 0.0
    spec = np.abs(np.fft.rfft(pcm.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(pcm), 1 / 8000)
    total = float(spec.sum()) or 1.0
    return float(spec[np.abs(freqs - hz) < width].sum()) / total


@contextlib.contextmanager
def raw_udp(host: str = "127.0.0.1") -> Iterator[socket.socket]:
    """A plain, non-blocking UDP socket: what a scanner sprays from."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.setblocking(False)
    try:
        yield s
    finally:
        s.close()


def received_nothing(s: socket.socket) -> bool:
    """Whether nothing at all arrived on the socket."""
    try:
        s.recv(4096)
    except BlockingIOError:
        return True
    return False


async def spray(s: socket.socket, ports: list[int], seconds: float, payload: bytes) -> int:
    """Send valid-looking RTP (version 2, PCMU) to every port, as fast as a small flood; packets sent."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    ssrc, seq, sent = random.getrandbits(32), random.getrandbits(15), 0
    while loop.time() < end:
        for p in ports:
            s.sendto(rtp(payload, ssrc=ssrc, seq=seq), ("127.0.0.1", p))
            sent += 1
        seq += 1
        await asyncio.sleep(0.005)
    return sent


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "media-workers"])
async def test_stranger_rtp_is_refused_and_never_recorded(
    b2bua: Start,  # noqa: F811 - fixture
    tmp_path: Path,
    notice_wav: Path,  # noqa: F811 - fixture
    caplog: pytest.LogCaptureFixture,
    workers: int,
) -> None:
    """During a SIPp call, raw sockets spray both media ports; a second SSRC and bad headers from the caller.

    With media workers the ports are in the worker processes, and their refusals come back to the call.
    """
    sipp = require_binary("sipp")
    caplog.set_level(logging.WARNING, logger="akashi.telephony.media")
    attack = g711.encode(tone(ATTACK_HZ, 0.02, 0.6), "PCMU")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
        svc = await b2bua([opx.port], notice=notice_wav, sip_extra=f"media_workers = {workers}\n")
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", scenarios.caller(talk_ms=4000))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        call = await _call(svc)
        assert call.a_rtp is not None and call.b_rtp is not None
        a_port, b_port = call.a_rtp.port, call.b_rtp.port
        with raw_udp() as stranger:
            # before anyone speaks: a scanner that reaches the port first must not take it over
            await spray(stranger, [a_port, b_port], 0.3, attack)
            t_cust = asyncio.create_task(
                cust.send_signal(bursts(3.0, [0.5, 1.7], 500.0), ("127.0.0.1", a_port))
            )
            await _until(lambda: call.meta.bridged_at is not None)
            t_op = asyncio.create_task(op.send_signal(bursts(2.4, [0.3, 1.5], 700.0), ("127.0.0.1", b_port)))
            sprayed = await spray(stranger, [a_port, b_port], 1.0, attack)
            # from the caller's own address: a second SSRC, RTP version 1, truncated headers
            assert cust.transport is not None
            for i in range(20):
                cust.transport.sendto(rtp(attack, ssrc=0x0BAD0BAD, seq=i), ("127.0.0.1", a_port))
            cust.transport.sendto(rtp(attack, ssrc=1, seq=1, b0=0x40), ("127.0.0.1", a_port))
            cust.transport.sendto(b"\x80\x00\x00\x01\x00\x00", ("127.0.0.1", a_port))
            cust.transport.sendto(
                rtp(b"", ssrc=1, seq=1, b0=0x8F), ("127.0.0.1", a_port)
            )  # 15 CSRCs, none there
            await t_cust
            await t_op
            assert await callx.wait() == 0, callx.log()
            assert await opx.wait() == 0, opx.log()
            call_id = await asyncio.wait_for(svc.stored.get(), 20)
            assert call_id is not None
            # the stranger never heard a thing: Akashi sent nothing its way
            assert received_nothing(stranger)
        row, left, right, _fmt = await asyncio.to_thread(_stored, svc, call_id)

    assert sprayed > 100
    # the recording has the call's own audio, none of the stranger's
    assert len(left) > 8000 and np.abs(left.astype(np.int32)).max() > 3000
    assert band_energy(left, ATTACK_HZ) < 0.01, band_energy(left, ATTACK_HZ)
    assert band_energy(right, ATTACK_HZ) < 0.01, band_energy(right, ATTACK_HZ)
    # nor did the other party hear it
    op_heard = op.heard()
    assert len(op_heard) > 0 and band_energy(op_heard, ATTACK_HZ) < 0.01
    assert band_energy(cust.heard(), ATTACK_HZ) < 0.01
    # every refusal counted, per reason and side, and stored with the call
    refused = row.extra["rtp_refused"]
    assert refused["caller"]["source"] >= sprayed // 2 - 5, refused
    assert refused["operator"]["source"] >= sprayed // 2 - 5, refused
    assert refused["caller"]["ssrc"] == 20, refused
    assert refused["caller"]["version"] == 1 and refused["caller"]["truncated"] == 2, refused
    assert row.status == "completed"
    if workers:
        return  # the workers log to their own standard error
    # logged once per reason per side, not once per packet
    lines = [r.getMessage() for r in caplog.records if "refused RTP" in r.getMessage()]
    assert sum("(source)" in ln for ln in lines) == 2, lines
    assert sum("(ssrc)" in ln for ln in lines) == 1, lines


async def _endpoint(port_host: str = "127.0.0.1") -> RtpEndpoint:
    loop = asyncio.get_running_loop()
    _t, ep = await loop.create_datagram_endpoint(lambda: RtpEndpoint(0), local_addr=(port_host, 0))
    return ep


async def test_nat_latch_only_to_the_signalling_ip() -> None:
    """A phone behind NAT (private SDP address): media latches to the SIP source's IP, nobody else's."""
    ep = await _endpoint()
    assert ep.transport is not None
    port = ep.transport.get_extra_info("sockname")[1]
    got: list[bytes] = []

    class Sink(SpoolSink):
        def append(self, data: bytes, t: float) -> None:
            got.append(data)

    ep.record_in = Sink()
    ep.signal_ip = "127.0.0.1"
    ep.set_remote(("192.168.77.7", 4000), [Codec(0, "PCMU"), Codec(101, "telephone-event")])
    assert ep.nat_ip == "127.0.0.1"
    try:
        with raw_udp("127.0.0.2") as elsewhere, raw_udp() as phone, raw_udp() as neighbour:
            elsewhere.sendto(rtp(b"x" * 160, ssrc=7, seq=1), ("127.0.0.1", port))
            phone.sendto(b"\x00junk", ("127.0.0.1", port))  # not RTP: no latching to it
            phone.sendto(rtp(b"p" * 160, ssrc=9, seq=1), ("127.0.0.1", port))
            await _until(lambda: len(got) == 1, 5)
            # latched: another port of the same IP is a stranger now
            neighbour.sendto(rtp(b"n" * 160, ssrc=9, seq=2), ("127.0.0.1", port))
            phone.sendto(rtp(b"q" * 160, ssrc=9, seq=2, pt=8), ("127.0.0.1", port))  # PCMA: not negotiated
            phone.sendto(rtp(b"r" * 160, ssrc=9, seq=3), ("127.0.0.1", port))
            await _until(lambda: len(got) == 2, 5)
            assert ep.remote == phone.getsockname()
            # Akashi's own audio goes to the latched address only
            ep.send(rtp(b"a" * 160, ssrc=1, seq=1), 0.0)
            await _until(lambda: not received_nothing_peek(phone), 5)
            assert received_nothing(neighbour) and received_nothing(elsewhere)
    finally:
        ep.close()
    assert [p[12:13] for p in got] == [b"p", b"r"]
    assert ep.refused == {"source": 3, "payload_type": 1}


async def test_the_answerers_packets_before_its_answer_are_forgiven(caplog: pytest.LogCaptureFixture) -> None:
    """The called phone sends RTP as soon as it answers, sometimes before Akashi has read the answer's SDP:
    those packets are refused (no address is known yet) but, once the SDP names that very address, not
    counted against the call nor logged as an attack. A stranger's packets of the same moment stay counted."""
    ep = await _endpoint()
    assert ep.transport is not None
    port = ep.transport.get_extra_info("sockname")[1]
    caplog.set_level(logging.WARNING, logger="akashi.telephony.media")
    try:
        with raw_udp() as phone, raw_udp() as stranger:
            for seq in (1, 2):
                phone.sendto(rtp(b"p" * 160, ssrc=9, seq=seq), ("127.0.0.1", port))
            stranger.sendto(rtp(b"s" * 160, ssrc=5, seq=1), ("127.0.0.1", port))
            await _until(lambda: ep.refused.get("source") == 3, 5)
            assert not [r for r in caplog.records if "refused RTP" in r.getMessage()]  # not yet: who is who?
            ep.set_remote(phone.getsockname(), [Codec(0, "PCMU")])
            assert ep.refused == {"source": 1}
            assert ep.refused_sources == [f"127.0.0.1:{stranger.getsockname()[1]}"]
            lines = [r.getMessage() for r in caplog.records if "refused RTP" in r.getMessage()]
            assert len(lines) == 1 and str(stranger.getsockname()[1]) in lines[0], lines
            phone.sendto(rtp(b"p" * 160, ssrc=9, seq=3), ("127.0.0.1", port))
            await _until(lambda: ep.rx_packets == 1, 5)
    finally:
        ep.close()


def received_nothing_peek(s: socket.socket) -> bool:
    """Like :func:`received_nothing`, but leaves the datagram there."""
    try:
        s.recv(4096, socket.MSG_PEEK)
    except BlockingIOError:
        return True
    return False


async def test_new_ssrc_accepted_after_a_new_sdp() -> None:
    """A re-INVITE (new SDP) lets the peer start a new stream; without one, a second SSRC is refused."""
    ep = await _endpoint()
    assert ep.transport is not None
    port = ep.transport.get_extra_info("sockname")[1]
    got: list[bytes] = []

    class Sink(SpoolSink):
        def append(self, data: bytes, t: float) -> None:
            got.append(data)

    ep.record_in = Sink()
    try:
        with raw_udp() as phone:
            ep.signal_ip = "127.0.0.1"
            ep.set_remote(phone.getsockname(), [Codec(0, "PCMU"), Codec(101, "telephone-event")])
            assert ep.nat_ip is None  # the SDP address is where SIP came from: no latching at all
            phone.sendto(rtp(b"1" * 160, ssrc=1, seq=1), ("127.0.0.1", port))
            phone.sendto(rtp(b"\x00" * 4, ssrc=5, seq=2, pt=101), ("127.0.0.1", port))  # DTMF: its own SSRC
            phone.sendto(rtp(b"2" * 160, ssrc=2, seq=3), ("127.0.0.1", port))
            await _until(lambda: len(got) == 2 and ep.refused.get("ssrc") == 1, 5)
            ep.set_remote(phone.getsockname(), [Codec(0, "PCMU")])  # the re-INVITE
            phone.sendto(rtp(b"3" * 160, ssrc=2, seq=4), ("127.0.0.1", port))
            await _until(lambda: len(got) == 3, 5)
    finally:
        ep.close()
    assert [p[12:13] for p in got] == [b"1", b"\x00", b"3"]


def test_nat_rule() -> None:
    """Latching to the signalling IP only when the SDP address cannot be the phone's real one."""
    assert nat_source("192.168.1.20", "203.0.113.9") == "203.0.113.9"  # private SDP, public SIP
    assert nat_source("10.0.0.5", "10.0.0.5") is None  # same host: the SDP address as it is
    assert nat_source("198.51.200.7", "203.0.113.9") is None  # a global media server: no latching
    assert nat_source(None, "203.0.113.9") == "203.0.113.9"  # no SDP address (yet)
    assert nat_source("192.168.1.20", None) is None
