"""The sans-I/O core: SIP parser (RFC 4475 torture, round trip, fuzz), SDP, RTP, G.711, digest."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akashi.codecs import g711
from akashi.codecs.timeline import header_fields, payload_offset
from akashi.errors import ProtocolError
from akashi.telephony.rtp import RtpError, RtpPacket
from akashi.telephony.sdp import SdpError, choose_codecs, parse_sdp
from akashi.telephony.sip import digest
from akashi.telephony.sip.build import request, response_to
from akashi.telephony.sip.grammar import SipParseError
from akashi.telephony.sip.message import (
    Request,
    Response,
    iter_stream,
    parse,
)
from akashi.telephony.sip.transport import SipUdp
from akashi.telephony.sip.uri import parse_name_addr, parse_uri
from tests.telephony.torture import TORTURE

INVITE = (
    b"INVITE sip:0312345678@10.0.0.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK776asdhds;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b'From: "Customer" <sip:0901234567@10.0.0.9>;tag=1928301774\r\n'
    b"To: <sip:0312345678@10.0.0.1>\r\n"
    b"Call-ID: a84b4c76e66710@10.0.0.9\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:0901234567@10.0.0.9>\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 4\r\n\r\nv=0\n"
)


@pytest.mark.parametrize("name", sorted(TORTURE))
def test_torture_messages(name: str) -> None:
    """RFC 4475: valid messages parse and round-trip; invalid ones name the bad field."""
    data, expect = TORTURE[name]
    if expect == "invalid":
        with pytest.raises(SipParseError) as err:
            parse(data)
        assert err.value.field
        assert err.value.field in str(err.value)
        return
    try:
        msg = parse(data)
    except SipParseError:
        if expect == "either":
            return
        raise
    assert data.startswith(bytes(msg))  # exact, and dblreq's second request is not part of it
    msg.call_id  # noqa: B018 - the mandatory headers are readable
    msg.cseq  # noqa: B018


def test_wsinv_fields() -> None:
    """Folding, compact forms and odd spacing are understood, not just tolerated."""
    msg = parse(TORTURE["wsinv"][0])
    assert isinstance(msg, Request)
    assert msg.cseq == (9, "INVITE")
    assert msg.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert len(msg.vias) == 3
    assert parse_name_addr(msg.header("To")).param("tag") is not None
    assert msg.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert len(msg.body) == 150


def test_round_trip_and_edit() -> None:
    """Unchanged messages come back byte for byte; edited headers are written canonically."""
    msg = parse(INVITE)
    assert bytes(msg) == INVITE
    assert msg.body == b"v=0\n"
    msg.set("Max-Forwards", "69")
    assert b"\r\nMax-Forwards: 69\r\n" in bytes(msg)
    assert parse(bytes(msg)).get("max-forwards") == "69"


def test_built_messages_parse() -> None:
    """What the builders make parses back to the same fields."""
    req = request(
        "INVITE",
        "sip:201@127.0.0.1:5070",
        via="SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport",
        from_="<sip:akashi@127.0.0.1>;tag=x1",
        to="<sip:201@127.0.0.1>",
        call_id="c1@h",
        cseq=7,
        body=b"v=0\r\n",
        content_type="application/sdp",
    )
    back = parse(bytes(req))
    assert isinstance(back, Request) and back.method == "INVITE" and back.cseq == (7, "INVITE")
    resp = response_to(back, 486, to_tag="t9")
    r2 = parse(bytes(resp))
    assert isinstance(r2, Response) and r2.status == 486 and r2.reason == "Busy Here"
    assert parse_name_addr(r2.header("To")).param("tag") == "t9"


def test_uri() -> None:
    """User, host, port and parameters of SIP URIs."""
    u = parse_uri("sip:%32%30%31@Example.COM:5070;transport=udp")
    assert (u.user, u.host, u.port, u.param("transport")) == ("201", "example.com", 5070, "udp")
    assert parse_uri("sip:[2001:db8::1]:5060").host == "2001:db8::1"
    with pytest.raises(SipParseError):
        parse_uri("http://example.com")


def test_stream_framing() -> None:
    """TCP: messages are cut by Content-Length, partial ones wait for more bytes."""
    buf = bytearray(INVITE + INVITE[:50])
    assert list(iter_stream(buf)) == [INVITE]
    assert bytes(buf) == INVITE[:50]
    buf += INVITE[50:]
    assert list(iter_stream(buf)) == [INVITE]


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_random_bytes(data: bytes) -> None:
    """Arbitrary bytes: a message or SipParseError, nothing else."""
    with contextlib.suppress(SipParseError):
        parse(data)


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_fuzz_mutated_messages(data: st.DataObject) -> None:
    """Valid messages with bytes changed, inserted or cut: a message or SipParseError."""
    base = bytearray(data.draw(st.sampled_from([INVITE] + [m for m, _ in TORTURE.values()])))
    for _ in range(data.draw(st.integers(1, 8))):
        op = data.draw(st.sampled_from(["set", "insert", "cut"]))
        pos = data.draw(st.integers(0, max(0, len(base) - 1)))
        if op == "set" and base:
            base[pos] = data.draw(st.integers(0, 255))
        elif op == "insert":
            base[pos:pos] = data.draw(
                st.sampled_from([b"\r\n", b" ", b":", b";", b"<", b'"', b"\x00", b"\xff"])
            )
        else:
            del base[pos : pos + data.draw(st.integers(1, 40))]
    try:
        msg = parse(bytes(base))
    except SipParseError:
        return
    bytes(msg)


class _Capture:
    """A stand-in datagram transport recording what the endpoint sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sent.append((data, addr))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 5060)


@pytest.mark.parametrize("name", sorted(TORTURE))
async def test_torture_through_transport(name: str) -> None:
    """The endpoint never raises: malformed requests get 400 (naming the field) or are dropped."""
    seen: list[Request] = []
    ep = SipUdp(seen.append)
    cap = _Capture()
    ep.transport = cast(asyncio.DatagramTransport, cap)
    data, expect = TORTURE[name]
    ep.datagram_received(data, ("192.0.2.7", 5062))
    if expect == "invalid":
        assert not seen
        for out, addr in cap.sent:
            # the 400 copies the request's (possibly broken) headers, so only its status line is checked
            assert out.startswith(b"SIP/2.0 400 Bad Request (") and addr == ("192.0.2.7", 5062)
    ep.close()


def test_sdp_offer_answer() -> None:
    """The first offered G.711 codec and telephone-event are chosen; hold is seen."""
    body = (
        b"v=0\r\no=- 1 2 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
        b"m=audio 40000 RTP/AVP 18 8 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
        b"a=fmtp:101 0-15\r\na=sendonly\r\n"
    )
    s = parse_sdp(body)
    assert (s.address, s.port, s.direction) == ("192.0.2.5", 40000, "sendonly")
    chosen = choose_codecs(s)
    assert [(c.pt, c.name) for c in chosen] == [(8, "PCMA"), (101, "telephone-event")]
    back = parse_sdp(s.to_bytes())
    assert [c.pt for c in back.codecs] == [18, 8, 0, 101]
    with pytest.raises(SdpError) as err:
        parse_sdp(b"v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n")
    assert err.value.field == "m"
    assert choose_codecs(parse_sdp(body.replace(b"18 8 0 101", b"18"))) == []


def test_sdp_keeps_the_channel_count() -> None:
    """rtpmap's channel count round-trips: Opus must be written opus/48000/2 (RFC 7587) or phones refuse it."""
    body = (
        b"v=0\r\no=- 1 2 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
        b"m=audio 40000 RTP/AVP 111 9\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 useinbandfec=1\r\n"
    )
    s = parse_sdp(body)
    assert [(c.name, c.rate, c.channels) for c in s.codecs] == [("opus", 48000, 2), ("G722", 8000, 1)]
    out = s.to_bytes()
    assert b"a=rtpmap:111 opus/48000/2\r\n" in out and b"a=rtpmap:9 G722/8000\r\n" in out
    assert [(c.name, c.channels) for c in choose_codecs(s, relay_any=True)] == [("opus", 2)]
    with pytest.raises(SdpError):
        parse_sdp(body.replace(b"opus/48000/2", b"opus/48000/2/1"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600))
def test_sdp_fuzz(data: bytes) -> None:
    """Arbitrary SDP: parsed or SdpError."""
    with contextlib.suppress(SdpError):
        parse_sdp(data)


@given(
    pt=st.integers(0, 127),
    seq=st.integers(0, 0xFFFF),
    ts=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=200),
    marker=st.booleans(),
    csrc=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15),
    padding=st.integers(0, 20),
)
def test_rtp_round_trip(
    pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool, csrc: list[int], padding: int
) -> None:
    """bytes(RtpPacket.parse(b)) == b, and the hot-path helpers agree with the parser."""
    pkt = RtpPacket(pt, seq, ts, ssrc, payload, marker, tuple(csrc), None, padding)
    data = bytes(pkt)
    back = RtpPacket.parse(data)
    assert back == pkt and bytes(back) == data
    assert header_fields(data) == (pt, seq, ts, ssrc)
    if not padding:
        assert data[payload_offset(data) :] == payload


def test_rtp_errors() -> None:
    """Truncated and wrong-version packets are refused with the field named."""
    with pytest.raises(RtpError) as err:
        RtpPacket.parse(b"\x80\x00\x00")
    assert err.value.field == "header"
    with pytest.raises(RtpError) as err:
        RtpPacket.parse(b"\x40" + bytes(11))
    assert err.value.field == "version"
    assert isinstance(err.value, ProtocolError)


def test_g711_tables() -> None:
    """Known code points, and encode(decode(x)) == x for every code."""
    assert g711.ULAW_DECODE[0x80] == 32124 and g711.ULAW_DECODE[0x00] == -32124
    assert g711.ULAW_DECODE[0xFF] == 0
    assert g711.ALAW_DECODE[0xD5] == 8 and g711.ALAW_DECODE[0x55] == -8
    assert g711.ALAW_DECODE[0xAA] == 32256 and g711.ALAW_DECODE[0x2A] == -32256
    codes = bytes(range(256))
    assert g711.encode(g711.decode(codes, "PCMA"), "PCMA") == codes
    mu = g711.encode(g711.decode(codes, "PCMU"), "PCMU")
    assert mu == codes.replace(b"\x7f", b"\xff")
    assert g711.encode(np.zeros(1, np.int16), "PCMU") == b"\xff"
    x = (np.sin(np.arange(8000) / 10) * 20000).astype(np.int16)
    for codec in ("PCMU", "PCMA"):
        y = g711.decode(g711.encode(x, codec), codec).astype(np.float64)
        snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((x - y) ** 2))
        assert snr > 30, (codec, snr)


def test_digest_rfc2617_example() -> None:
    """The worked example of RFC 2617 3.5."""
    ch = {"realm": "testrealm@host.com", "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093", "qop": "auth"}
    got = digest.digest_response(
        ch,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
    )
    assert got == "6629fae49393a05397450978507c4ef1"


def test_digest_round_trip() -> None:
    """An Authorization we make passes the server-side check; a wrong password does not."""
    challenge = 'Digest realm="akashi", nonce="abc123", qop="auth", algorithm=MD5, opaque="o"'
    auth = digest.authorization(
        challenge, method="INVITE", uri="sip:0312345678@trunk", username="u", password="p"
    )
    assert digest.check_authorization(auth, method="INVITE", password="p", realm="akashi")
    assert not digest.check_authorization(auth, method="INVITE", password="q", realm="akashi")
    with pytest.raises(SipParseError):
        digest.parse_challenge('Basic realm="x"')


def test_unsupported_extension_gets_420() -> None:
    """An INVITE requiring an extension Akashi lacks is refused with 420 and Unsupported (RFC 3261 8.2.2.3)."""
    from types import SimpleNamespace

    from akashi.telephony.service import TelephonyService
    from akashi.telephony.siprec.server import SiprecServer

    svc = TelephonyService.__new__(TelephonyService)
    svc.calls = {}
    svc.siprec = SiprecServer(svc)  # an INVITE without Require: siprec is none of its business
    sent: list[Response] = []
    svc.sip = cast(SipUdp, SimpleNamespace(respond=lambda req, resp: sent.append(resp)))
    req = parse(INVITE.replace(b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\nRequire: foo\r\n"))
    assert isinstance(req, Request)
    svc.on_request(req)
    assert len(sent) == 1 and sent[0].status == 420 and sent[0].get("Unsupported") == "foo"
