"""SDES SDP (a=crypto, RTP/SAVP), c= address checks, RTP header checks and SRTP sessions, without sockets."""

from __future__ import annotations

import asyncio
import base64
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akashi.telephony.media import RtpEndpoint, SpoolSink
from akashi.telephony.rtp import MAX_PACKET, header_problem
from akashi.telephony.sdp import SRTP_SUITE, AudioSession, Codec, SdpError, parse_crypto, parse_sdp
from akashi.telephony.srtp import LegCrypto, answer_crypto, new_crypto, rewrite_crypto, sessions, take_answer

KEY = bytes(range(30))
OFFER = (
    "v=0\r\no=- 1 1 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"
    "m=audio 4000 RTP/SAVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:" + base64.b64encode(KEY).decode() + "\r\n"
    "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(KEY).decode() + "|2^31\r\n"
)


def test_savp_offer_parsed_and_answered_with_a_fresh_key() -> None:
    """The first crypto of the suite Akashi speaks is taken; the answer keeps its tag, with a key of ours."""
    offer = parse_sdp(OFFER.encode())
    assert offer.srtp and [c.tag for c in offer.crypto] == [2] and offer.crypto[0].key == KEY
    keys = answer_crypto(offer)
    assert keys is not None and keys.local.tag == 2 and keys.local.key != KEY and len(keys.local.key) == 30
    body = AudioSession(
        "192.0.2.1", 5000, [Codec(0, "PCMU")], profile="RTP/SAVP", crypto=[keys.local]
    ).to_bytes()
    again = parse_sdp(body)
    assert again.srtp and again.crypto[0].key == keys.local.key
    assert KEY.hex() not in repr(keys) and base64.b64encode(KEY).decode() not in repr(offer)


@pytest.mark.parametrize(
    "line",
    [
        "1 AES_CM_128_HMAC_SHA1_80 inline:!!!",
        "1 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
        "x AES_CM_128_HMAC_SHA1_80 a",
    ],
)
def test_bad_crypto_refused(line: str) -> None:
    """A key that is not base64, has the wrong length, or a malformed attribute is a named SDP error."""
    with pytest.raises(SdpError) as e:
        parse_crypto(line)
    assert e.value.field == "crypto"


def test_mki_and_other_suites_ignored() -> None:
    """Keys with an MKI and other suites are not used (not an error: another line may do)."""
    k = base64.b64encode(KEY).decode()
    assert parse_crypto(f"1 {SRTP_SUITE} inline:{k}|2^20|1:4") is None
    assert parse_crypto(f"1 AEAD_AES_256_GCM inline:{k}") is None


@pytest.mark.parametrize(
    ("c", "why"),
    [
        ("c=IN IP4 pbx.example.com", "not an IP address"),
        ("c=IN IP6 192.0.2.1", "not an IP6"),
        ("c=IN IP4 224.0.0.5", "multicast"),
        ("c=IN ATM 1", "address type"),
    ],
)
def test_connection_must_be_a_unicast_ip(c: str, why: str) -> None:
    """Hostnames (a DNS lookup per packet), mismatched types and multicast are refused while parsing."""
    with pytest.raises(SdpError) as e:
        parse_sdp(OFFER.replace("c=IN IP4 192.0.2.5", c).encode())
    assert e.value.field == "c" and why in str(e.value)


def test_rewrite_crypto_swaps_keys_per_leg() -> None:
    """An SDP passed to the other leg loses this leg's keys and carries that leg's own (or none)."""
    mine = new_crypto(1)
    out = rewrite_crypto(OFFER.encode(), mine)
    parsed = parse_sdp(out)
    assert parsed.srtp and [c.key for c in parsed.crypto] == [mine.key]
    assert base64.b64encode(KEY) not in out
    plain = parse_sdp(rewrite_crypto(OFFER.encode(), None))
    assert plain.profile == "RTP/AVP" and not plain.crypto


def test_take_answer_needs_srtp() -> None:
    """An answer without a=crypto under Akashi's tag is a refusal."""
    from akashi.telephony.srtp import SrtpRefused

    keys = LegCrypto(new_crypto(1))
    with pytest.raises(SrtpRefused):
        take_answer(keys, parse_sdp(OFFER.replace("RTP/SAVP", "RTP/AVP").encode()), "operator")
    with pytest.raises(SrtpRefused):
        take_answer(keys, parse_sdp(OFFER.encode()), "operator")  # its keys are tagged 2
    take_answer(keys, parse_sdp(OFFER.replace("crypto:2", "crypto:1").encode()), "operator")
    assert keys.remote is not None and keys.remote.key == KEY


@given(st.binary(max_size=80))
def test_header_problem_never_raises(data: bytes) -> None:
    """Any datagram gets a reason or None, never an exception."""
    why = header_problem(data)
    assert why in (None, "truncated", "too_long", "version", "padding")


def test_header_problem_reasons() -> None:
    """Version, truncation and length, by name."""
    ok = bytes([0x80, 0]) + bytes(10) + b"x" * 160
    assert header_problem(ok) is None
    assert header_problem(bytes([0x40]) + ok[1:]) == "version"
    assert header_problem(ok[:8]) == "truncated"
    assert header_problem(bytes([0x83]) + ok[1:12]) == "truncated"  # 3 CSRCs announced, none there
    assert header_problem(ok + bytes(MAX_PACKET)) == "too_long"


async def test_forged_srtp_refused() -> None:
    """From the right address, SRTP made with another key (or plain RTP) is refused; the right key passes."""
    loop = asyncio.get_running_loop()
    _t, ep = await loop.create_datagram_endpoint(lambda: RtpEndpoint(0), local_addr=("127.0.0.1", 0))
    got: list[bytes] = []

    class Sink(SpoolSink):
        def append(self, data: bytes, t: float) -> None:
            got.append(data)

    ep.record_in = Sink()
    phone_keys = LegCrypto(new_crypto(1), new_crypto(1))  # the phone's view: its key local, ours remote
    ours = LegCrypto(phone_keys.remote, phone_keys.local)  # type: ignore[arg-type]
    ep.srtp_tx, ep.srtp_rx = sessions(ours)
    phone_tx, _ = sessions(phone_keys)
    forger_tx, _ = sessions(LegCrypto(new_crypto(1), new_crypto(1)))
    port = ep.transport.get_extra_info("sockname")[1] if ep.transport else 0
    rtp = bytes([0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7]) + b"v" * 160
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        ep.set_remote(s.getsockname(), [Codec(0, "PCMU")])
        s.sendto(forger_tx.protect(rtp), ("127.0.0.1", port))
        s.sendto(rtp, ("127.0.0.1", port))
        s.sendto(phone_tx.protect(rtp), ("127.0.0.1", port))
        for _ in range(200):
            if got:
                break
            await asyncio.sleep(0.01)
    ep.close()
    assert got == [rtp]  # decrypted: what is recorded is the clear packet
    assert ep.refused == {"srtp": 2}
