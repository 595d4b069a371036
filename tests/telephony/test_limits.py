"""The SIP edge's admission rules (sans-I/O) and the digest nonce book's bounded, constant-time upkeep."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from akashi.config.telephony import SipSettings
from akashi.telephony.edge import call_id_of, head_fields
from akashi.telephony.limits import CallLimits, LogEvery, RefusalLog
from akashi.telephony.sip.digest import NonceBook, authorization


def test_rate_per_source_with_burst_and_refill() -> None:
    """10/s: a burst of 10 passes, the 11th waits 0.1 s (Retry-After 1); another source is not affected."""
    lim = CallLimits(100, 100, rate=10)
    assert all(lim.admit("10.0.0.1", 0.0) is None for _ in range(10))
    r = lim.admit("10.0.0.1", 0.0)
    assert r is not None and r.status == 503 and r.kind == "rate" and r.retry_after_s == 1
    assert ("Retry-After", "1") in r.headers
    assert lim.admit("10.0.0.2", 0.0) is None
    assert lim.admit("10.0.0.1", 0.1) is None  # one token back after 1/rate s
    assert lim.admit("10.0.0.1", 0.1) is not None
    assert lim.refused["rate"] == 2


def test_slow_rate_says_how_long_to_wait() -> None:
    """At 0.2/s an exhausted bucket needs 5 s for the next INVITE: Retry-After 5."""
    lim = CallLimits(100, 100, rate=0.2)
    assert lim.admit("a", 0.0) is None
    r = lim.admit("a", 0.0)
    assert r is not None and r.retry_after_s == 5


def test_calls_per_source_total_and_ports() -> None:
    """Per source, in total, and no calls when the media ports are gone; ended calls free their place."""
    lim = CallLimits(3, 2, rate=1000)
    for src in ("a", "a", "b"):
        assert lim.admit(src, 0.0) is None
        lim.started(src)
    r = lim.admit("a", 0.0)
    assert r is not None and r.kind == "calls" and r.retry_after_s == 5  # total reached first
    lim.finished("b")
    r = lim.admit("a", 0.0)
    assert r is not None and r.kind == "calls_per_source"
    assert lim.admit("c", 0.0) is None
    r = lim.admit("c", 0.0, capacity=0)
    assert r is not None and r.kind == "calls"
    lim.finished("a")
    lim.finished("a")
    assert lim.total == 0 and lim.active == {}


def test_inbound_networks() -> None:
    """Empty: anyone; else only the listed addresses/networks (IPv4 and IPv6); junk sources are refused."""
    assert CallLimits(1, 1, 1).inbound_allowed("198.51.100.7") is None
    lim = CallLimits(1, 1, 1, inbound_networks=["203.0.113.5", "10.1.0.0/16", "2001:db8::/32"])
    assert lim.inbound_allowed("203.0.113.5") is None
    assert lim.inbound_allowed("10.1.200.3") is None
    assert lim.inbound_allowed("2001:db8::1") is None
    for src in ("203.0.113.6", "10.2.0.1", "?", "::1"):
        r = lim.inbound_allowed(src)
        assert r is not None and r.status == 403 and r.retry_after_s == 0
    assert lim.refused["inbound"] == 4


def test_inbound_networks_setting_is_checked() -> None:
    """A typo in sip.inbound_networks stops the start, it does not open the edge."""
    with pytest.raises(ValidationError, match="inbound_networks"):
        SipSettings(inbound_networks=["10.0.0.0/33"])
    with pytest.raises(ValidationError):
        SipSettings(invites_per_second_per_source=0)
    with pytest.raises(ValidationError):
        SipSettings(max_calls=0)


@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=300))
def test_rate_buckets_stay_bounded(sources: list[int]) -> None:
    """A flood from many (spoofed) addresses keeps at most ``max_sources`` buckets."""
    lim = CallLimits(10, 10, rate=1, max_sources=50)
    for i, s in enumerate(sources):
        lim.admit(str(s), float(i))
    assert len(lim._buckets) <= 50


def test_refusal_log_is_rate_limited() -> None:
    """The first refusal of a kind is logged at once; the rest of the window only counted, then summed."""
    log = RefusalLog(every_s=10)
    lim = CallLimits(1, 1, rate=1)
    assert lim.admit("x", 0.0) is None
    refusal = lim.admit("x", 0.0)
    assert refusal is not None
    first = log.note(refusal, "192.0.2.1", 0.0)
    assert first is not None and "192.0.2.1" in first and "503" in first
    assert all(log.note(refusal, "192.0.2.1", t / 100) is None for t in range(1, 999))
    summary = log.note(refusal, "192.0.2.2", 10.0)
    assert summary is not None and "999 since the last report" in summary


def test_nonce_book_upkeep_is_constant_time() -> None:
    """Issuing never rebuilds the book (10,000 nonces out): only the expired oldest are dropped."""
    book = NonceBook(ttl_s=300, limit=10_000)
    first = [book.issue(now=float(i) / 100) for i in range(10_000)]
    store = book._issued
    assert len(book) == 10_000
    book.issue(now=100.0)
    assert book._issued is store  # the same mapping, not a copy made per challenge
    assert len(book) == 10_000 and first[0] not in store  # the oldest made room
    fresh = book.issue(now=200.0 + 0.01)
    # 300 s after the first: the nonces issued in its first 1.01 s have expired; the rest are live
    book.issue(now=301.01)
    assert first[100] not in store and first[102] in store and fresh in store
    ch = f'Digest realm="r", nonce="{first[5000]}", qop="auth"'
    assert book.use(authorization(ch, method="INVITE", uri="sip:x", username="u", password="p"), 301.5)


_INVITE = (
    "INVITE sip:0312345678@192.0.2.1 SIP/2.0\r\n"
    "v: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK1\r\n"
    "From: <sip:a@198.51.100.7>;tag=1\r\nt: <sip:0312345678@192.0.2.1>\r\n"
    "Call-ID: c1@198.51.100.7\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)


def test_head_fields_at_a_glance() -> None:
    """The five fields a response needs (compact names too), in their own spelling; else the parser decides."""
    fields = head_fields(_INVITE.encode())
    assert fields is not None
    assert [k for k, _v in fields] == ["v", "From", "t", "Call-ID", "CSeq"]
    assert call_id_of(fields) == "c1@198.51.100.7"
    assert head_fields(_INVITE.replace("CSeq: 1 INVITE\r\n", "").encode()) is None  # a field missing
    folded = _INVITE.replace(
        "From: <sip:a@198.51.100.7>;tag=1\r\n", "From: <sip:a@198.51.100.7>\r\n ;tag=1\r\n"
    )
    assert head_fields(folded.encode()) is None  # a folded line
    bare_lf = _INVITE.replace("Call-ID: c1", "Call-ID: c1\nX-Injected: 1\r\nX: c")
    assert head_fields(bare_lf.encode()) is None  # a lone LF is never echoed back
    assert head_fields(_INVITE.replace("From: <sip:a", "From: <sip:\xe9").encode("latin-1")) is None


def test_over_rate_only_looks_while_tokens_remain() -> None:
    """The gate's check takes nothing while a token is left (admit takes it); past the rate it refuses."""
    lim = CallLimits(10, 10, rate=2)
    assert lim.over_rate("a", 0.0) is None and lim.over_rate("a", 0.0) is None
    assert lim.admit("a", 0.0) is None and lim.admit("a", 0.0) is None  # both tokens still there
    r = lim.over_rate("a", 0.0)
    assert r is not None and r.kind == "rate" and lim.refused["rate"] == 1
    assert lim.over_rate("a", 0.5) is None  # one token back after 1/rate s


def test_log_every() -> None:
    """One line per window, standing for every event since the last."""
    every = LogEvery(every_s=10)
    assert every.note(0.0) == 1
    assert [every.note(t) for t in (1.0, 2.0, 9.9)] == [None, None, None]
    assert every.note(10.0) == 4
    assert every.total == 5
