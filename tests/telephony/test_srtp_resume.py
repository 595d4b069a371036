"""SRTP sessions resumed where a stream stood (a restarted media worker's): marks and fast-forward."""

from __future__ import annotations

import os

import pylibsrtp
import pytest

from akashi.telephony.srtp import ResumableSession


def _rtp(seq: int, ssrc: int = 0xABCDEF01) -> bytes:
    return (
        bytes([0x80, 0]) + (seq & 0xFFFF).to_bytes(2, "big") + bytes(4) + ssrc.to_bytes(4, "big") + b"x" * 20
    )


def _phone(key: bytes, inbound: bool) -> pylibsrtp.Session:
    kind = pylibsrtp.Policy.SSRC_ANY_INBOUND if inbound else pylibsrtp.Policy.SSRC_ANY_OUTBOUND
    return pylibsrtp.Session(pylibsrtp.Policy(key=key, ssrc_type=kind))


def test_marks_follow_the_wraps_and_ignore_a_late_packet() -> None:
    key = os.urandom(30)
    phone, akashi = _phone(key, inbound=False), ResumableSession(key, inbound=True)
    marks = []
    for i in range(3 * 65536 + 500):  # three wraps; looked at every 1,000 packets
        seq = (60000 + i) & 0xFFFF
        akashi.unprotect(phone.protect(_rtp(seq)))
        if i % 1000 == 0:
            marks.append(akashi.marks())
    assert akashi.marks() == ((0xABCDEF01, 3, (60000 + 3 * 65536 + 499) & 0xFFFF),)
    assert [m[0][1] for m in marks] == sorted(m[0][1] for m in marks)  # never back
    late = ResumableSession(key, inbound=False)
    late.protect(_rtp(100))
    late.marks()
    late.protect(_rtp(65500))  # a packet from before the wrap, sent late
    assert late.marks() == ((0xABCDEF01, 0, 100),)


@pytest.mark.parametrize("roc", [1, 2, 7])
def test_resumed_sessions_interoperate_where_fresh_ones_fail(roc: int) -> None:
    key = os.urandom(30)
    seq = 40000
    index = (roc << 16) | seq
    # the phone's sender and receiver, which never restarted, at that index
    phone_tx, phone_rx = _phone(key, inbound=False), _phone(key, inbound=True)
    helper = _phone(key, inbound=False)
    step = index % 0x4000
    while True:  # bring the phone's own sessions there (as a call of that length would have)
        phone_tx.protect(_rtp(step & 0xFFFF))
        phone_rx.unprotect(helper.protect(_rtp(step & 0xFFFF)))
        if step >= index:
            break
        step = min(step + 0x4000, index)
    mark = ((0xABCDEF01, roc, seq - 20),)  # the last report was 20 packets ago
    fresh_rx, fresh_tx = ResumableSession(key, inbound=True), ResumableSession(key, inbound=False)
    with pytest.raises(pylibsrtp.Error):
        fresh_rx.unprotect(phone_tx.protect(_rtp(seq + 1)))
    with pytest.raises(pylibsrtp.Error):
        phone_rx.unprotect(fresh_tx.protect(_rtp(seq + 1)))
    rx, tx = (
        ResumableSession(key, inbound=True, resume=mark),
        ResumableSession(key, inbound=False, resume=mark),
    )
    assert rx.unprotect(phone_tx.protect(_rtp(seq + 2))) == _rtp(seq + 2)
    assert phone_rx.unprotect(tx.protect(_rtp(seq + 2))) == _rtp(seq + 2)
    assert rx.marks() == tx.marks() == ((0xABCDEF01, roc, seq + 2),)
    assert "key hidden" in repr(rx) and key.hex() not in repr(rx)
