"""The SIP process <-> media worker messages: every kind round-trips, any cut of the stream, bad frames refused."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akashi.errors import ProtocolError
from akashi.telephony import mediaproto as mp

MESSAGES: list[mp.Message] = [
    mp.Open(1, "127.0.0.1", 20000),
    mp.Open(2, "::1", 20002, v6=True),
    mp.State(
        ep=1,
        generation=3,
        remote=("192.0.2.7", 4000),
        latched=False,
        signal_ip="192.0.2.7",
        nat_ip=None,
        payload_types=(0, 101),
        event_pts=(101,),
        forward=True,
        peer=2,
        record_in="/spool/a/caller.spool",
        record_out="/spool/a/heard.spool",
        tap=True,
        event_tap=False,
        label="abc 顧客",
        srtp_rx="00" * 30,
        srtp_tx=None,
        srtp_rx_at=((0x11223344, 1, 200), (7, 0, 65535)),
    ),
    mp.State(
        ep=2,
        generation=0,
        remote=None,
        latched=False,
        signal_ip=None,
        nat_ip=None,
        payload_types=None,
        event_pts=(),
        forward=False,
        peer=None,
        record_in=None,
        record_out=None,
        tap=False,
        event_tap=True,
        label="",
        srtp_rx=None,
        srtp_tx=None,
    ),
    mp.Play(1, 7, 0, 160, 20, False, (b"\xff" * 160, b"\x7f" * 160, b"")),
    mp.Play(1, 8, 9, 160, 20, True, ()),
    mp.Stop(7),
    mp.Close(2),
    mp.Opened(1),
    mp.Opened(2, "Address already in use"),
    mp.Stats(
        {1: mp.EndpointStats(10, 9, 1.5e9, True, ("192.0.2.7", 4001), {"source": 2}, [("198.51.100.1", 9)])},
        overloaded=True,
        lag_p95_ms=12.5,
        cpu=0.91,
        disk_error="No space left on device",
    ),
    mp.Stats({}, overloaded=False, lag_p95_ms=0.0, cpu=0.0),
    mp.Stats(
        {3: mp.EndpointStats(1, 2, 3.5, False), 4: mp.EndpointStats(0, 0, 1.0, False, None, {}, [])},
        False,
        1,
        0.1,
    ),
    mp.SrtpMarks({1: (((0xFFFFFFFF, 3, 12),), ()), 2: ((), ((5, 0, 0), (6, 1, 1)))}),
    mp.SrtpMarks({}),
    mp.Tap(1, 1.7e9 + 0.25, False, b"\x80\x00" + b"\x00" * 170),
    mp.Tap(2, 0.0, True, b""),
    mp.Played(7),
    mp.Sync(8),
    mp.Synced(8),
    mp.Closed(2, ("/spool/a/caller.spool",), {"/spool/a/caller.spool": 4}),
    mp.Closed(3, (), {}, mp.EndpointStats(5, 0, 2.5, False, None, {"source": 7}, [("192.0.2.9", 40000)])),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_each_message_round_trips(msg: mp.Message) -> None:
    assert mp.Decoder().feed(mp.encode(msg)) == [msg]


@given(st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
def test_any_cut_of_the_stream_gives_the_same_messages(cuts: list[int]) -> None:
    stream = b"".join(mp.encode(m) for m in MESSAGES)
    dec = mp.Decoder()
    out: list[mp.Message] = []
    pos = 0
    for cut in sorted(c % (len(stream) + 1) for c in cuts):
        out += dec.feed(stream[pos:cut])
        pos = cut
    out += dec.feed(stream[pos:])
    assert out == MESSAGES


def test_srtp_keys_are_not_in_the_repr() -> None:
    state = MESSAGES[2]
    assert isinstance(state, mp.State) and state.srtp_rx
    assert state.srtp_rx not in repr(state)


@pytest.mark.parametrize(
    ("frame", "what"),
    [
        (struct.pack("!I", 0), "frame length"),
        (struct.pack("!I", mp.MAX_FRAME + 1), "frame length"),
        (struct.pack("!I", 3) + bytes([99]) + b"{}", "unknown kind"),
        (struct.pack("!I", 4) + bytes([mp.Open.KIND]) + b"{x}", "unreadable"),
        (struct.pack("!I", 3) + bytes([mp.Close.KIND]) + b"{}", "unreadable"),
        (struct.pack("!I", 5) + bytes([mp.Tap.KIND]) + b"abcd", "unreadable"),
    ],
    ids=["zero", "too-long", "kind", "json", "fields", "tap"],
)
def test_bad_frames_are_refused(frame: bytes, what: str) -> None:
    with pytest.raises(ProtocolError, match=what):
        mp.Decoder().feed(frame)


def test_play_whose_sizes_do_not_add_up_is_refused() -> None:
    frame = bytearray(mp.encode(mp.Play(1, 2, 0, 160, 20, False, (b"x" * 10,))))
    frame += b"extra"
    frame[0:4] = struct.pack("!I", len(frame) - 4)
    with pytest.raises(ProtocolError, match="unreadable"):
        mp.Decoder().feed(bytes(frame))
