"""DTMF parsing without sockets: RFC 4733 telephone-event blocks, one key per press, SIP INFO bodies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akashi.telephony.dtmf import DtmfError, KeyDetector, TelephoneEvent, info_key, parse_events

# a captured press of "9" from a soft-phone: start, two updates, three end packets (same timestamp)
PRESS_9 = [bytes.fromhex(h) for h in ("090a00a0", "090a0140", "090a01e0", "098a0280", "098a0280", "098a0280")]


@given(st.binary(min_size=4, max_size=4))
def test_block_round_trips(data: bytes) -> None:
    assert bytes(TelephoneEvent.parse(data)) == data


@given(st.integers(0, 255), st.booleans(), st.integers(0, 63), st.integers(0, 0xFFFF), st.booleans())
def test_event_round_trips(event: int, end: bool, volume: int, duration: int, reserved: bool) -> None:
    ev = TelephoneEvent(event, end, volume, duration, reserved)
    assert TelephoneEvent.parse(bytes(ev)) == ev


def test_captured_press() -> None:
    ev = TelephoneEvent.parse(PRESS_9[3])
    assert (ev.key, ev.end, ev.volume, ev.duration) == ("9", True, 10, 640)
    assert TelephoneEvent(10).key == "*" and TelephoneEvent(11).key == "#" and TelephoneEvent(15).key == "D"
    assert TelephoneEvent(16).key is None  # flash


@pytest.mark.parametrize("data", [b"", b"\x09\x8a\x02", b"\x09\x8a\x02\x80\x00"])
def test_truncated_payloads_are_refused(data: bytes) -> None:
    with pytest.raises(DtmfError) as err:
        parse_events(data)
    assert err.value.field == "payload"


def test_bounds_are_checked() -> None:
    with pytest.raises(DtmfError, match="volume"):
        TelephoneEvent(1, volume=64)
    with pytest.raises(DtmfError, match="event"):
        TelephoneEvent(256)


def test_one_key_per_press_despite_repeated_end_packets() -> None:
    det = KeyDetector()
    keys: list[str] = []
    for p in PRESS_9:
        keys += det.feed(1000, p)
    assert keys == ["9"]
    star = [bytes([10, 0x0A, 0, 160]), *[bytes([10, 0x8A, 1, 64])] * 3]
    for p in star:
        keys += det.feed(2000, p)
    assert keys == ["9", "*"]


def test_a_held_key_counts_at_once_and_a_press_without_its_start_too() -> None:
    det = KeyDetector()
    assert det.feed(100, bytes([10, 0x0A, 0, 160])) == ["*"]  # still held: no end packet yet
    assert det.feed(100, bytes([10, 0x0A, 1, 64])) == []
    assert det.feed(900, bytes([9, 0x8A, 1, 64])) == ["9"]  # only its end packets arrived
    assert det.feed(900, bytes([9, 0x8A, 1, 64])) == []
    assert det.feed(1700, bytes([16, 0x0A, 0, 160])) == []  # flash is no key


def test_redundant_blocks_use_the_newest() -> None:
    det = KeyDetector()
    old = bytes(TelephoneEvent(3, end=True, duration=800))
    assert det.feed(50, old + bytes(TelephoneEvent(5, end=True, duration=400))) == ["5"]


@given(st.lists(st.sampled_from("0123456789*#ABCD"), min_size=1, max_size=12), st.integers(1, 4))
def test_any_key_sequence_is_read_once_per_press(seq: list[str], ends: int) -> None:
    det = KeyDetector()
    out: list[str] = []
    for i, k in enumerate(seq):
        code = "0123456789*#ABCD".index(k)
        ts = 1000 + i * 4000
        out += det.feed(ts, bytes(TelephoneEvent(code, duration=160)))
        for _ in range(ends):
            out += det.feed(ts, bytes(TelephoneEvent(code, end=True, duration=800)))
    assert out == seq


@pytest.mark.parametrize(
    ("ctype", "body", "key"),
    [
        ("application/dtmf-relay", b"Signal=9\r\nDuration=160\r\n", "9"),
        ("application/dtmf-relay", b"Signal= *\r\nDuration= 250\r\n", "*"),
        ("Application/DTMF-Relay; charset=us-ascii", b"signal=10\r\n", "*"),
        ("application/dtmf", b"#", "#"),
        ("application/dtmf", b"11\r\n", "#"),
        ("application/dtmf", b"a", "A"),
    ],
)
def test_info_bodies(ctype: str, body: bytes, key: str) -> None:
    assert info_key(ctype, body) == key


@pytest.mark.parametrize(
    ("ctype", "body", "field"),
    [
        ("application/dtmf-relay", b"Duration=160\r\n", "Signal"),
        ("application/dtmf-relay", b"Signal=X\r\n", "Signal"),
        ("application/dtmf", b"99", "Signal"),
        ("text/plain", b"9", "Content-Type"),
        ("application/dtmf", "９".encode(), "body"),
    ],
)
def test_bad_info_bodies_are_refused(ctype: str, body: bytes, field: str) -> None:
    with pytest.raises(DtmfError) as err:
        info_key(ctype, body)
    assert err.value.field == field
