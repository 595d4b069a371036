"""Pure tests of the 100rel state machines and the session-timer headers (no sockets)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akashi.errors import ProtocolError
from akashi.telephony.reliable import (
    MAX_RSEQ,
    PrackResult,
    PrackTracker,
    Provisional,
    RAck,
    ReliableUas,
    parse_rseq,
    wants_100rel,
)
from akashi.telephony.sessiontimer import (
    SessionExpires,
    invite_headers,
    parse_min_se,
    request_headers,
    too_small,
    uac_timer,
    uas_timer,
)
from akashi.telephony.sip.message import Request, Response


def _req(*headers: tuple[str, str]) -> Request:
    r = Request(method="INVITE", uri="sip:a@b")
    for k, v in headers:
        r.add(k, v)
    return r


def _resp(*headers: tuple[str, str]) -> Response:
    r = Response(status=200)
    for k, v in headers:
        r.add(k, v)
    return r


# -- header parsing --------------------------------------------------------------------
def test_rack_round_trip_and_errors() -> None:
    r = RAck.parse("  776656 1 INVITE ")
    assert (r.rseq, r.cseq, r.method) == (776656, 1, "INVITE")
    assert str(r) == "776656 1 INVITE"
    for bad in ("", "1 2", "x 1 INVITE", "0 1 INVITE", "1 x INVITE", "1 1 INV1TE", "1 1 INVITE extra"):
        with pytest.raises(ProtocolError):
            RAck.parse(bad)


@given(st.integers(1, MAX_RSEQ), st.integers(0, 2**31 - 1))
def test_rack_parse_is_inverse_of_str(rseq: int, cseq: int) -> None:
    r = RAck(rseq, cseq, "INVITE")
    assert RAck.parse(str(r)) == r


def test_rseq_bounds() -> None:
    assert parse_rseq("1") == 1 and parse_rseq(str(MAX_RSEQ)) == MAX_RSEQ
    for bad in ("0", str(MAX_RSEQ + 1), "-1", "1.5", ""):
        with pytest.raises(ProtocolError):
            parse_rseq(bad)


def test_session_expires_parse() -> None:
    assert SessionExpires.parse("1800") == SessionExpires(1800, None)
    assert SessionExpires.parse("90;refresher=UAC") == SessionExpires(90, "uac")
    assert SessionExpires.parse(" 120 ; x=y ; refresher=uas") == SessionExpires(120, "uas")
    assert str(SessionExpires(90, "uac")) == "90;refresher=uac"
    for bad in ("", "abc", "0", "90;refresher=proxy", "-5"):
        with pytest.raises(ProtocolError):
            SessionExpires.parse(bad)
    assert parse_min_se("90;lr") == 90
    with pytest.raises(ProtocolError):
        parse_min_se("x")


def test_too_small_and_compact_form() -> None:
    assert too_small(_req(("Session-Expires", "30")), 90)
    assert not too_small(_req(("x", "90")), 90)
    assert not too_small(_req(), 90)
    with pytest.raises(ProtocolError):
        too_small(_req(("Session-Expires", "soon")), 90)


def test_wants_100rel() -> None:
    assert wants_100rel(_req(("Require", "100rel")))
    assert wants_100rel(_req(("Require", "timer, 100REL")))
    # only supported: Akashi's 180 stays unreliable (a lost PRACK would otherwise cost the call)
    assert not wants_100rel(_req(("Supported", "timer, 100rel")))
    assert not wants_100rel(_req(("k", "100rel")))


# -- session timer negotiation -----------------------------------------------------------
def test_uas_timer_roles() -> None:
    # no Session-Expires: no timer
    assert uas_timer(_req(("Supported", "timer"))) is None
    # the caller supports timers and names nobody: the caller refreshes
    t = uas_timer(_req(("Supported", "timer"), ("Session-Expires", "90")))
    assert t is not None and not t.we_refresh and t.peer_supports
    assert t.response_headers() == [("Session-Expires", "90;refresher=uac"), ("Require", "timer")]
    assert t.expire_in == 60 and t.refresh_in == 45
    # a caller without timer support cannot refresh, even when a proxy said so
    t = uas_timer(_req(("Session-Expires", "1800;refresher=uac")))
    assert t is not None and t.we_refresh and not t.peer_supports
    assert t.response_headers() == [("Session-Expires", "1800;refresher=uas")]
    assert t.expire_in == 1800 - 32
    # refresher=uas asked by the caller: Akashi refreshes
    t = uas_timer(_req(("Require", "timer"), ("Session-Expires", "10;refresher=uas")))
    assert t is not None and t.we_refresh and t.refresh_in == 5


def test_uac_timer_roles() -> None:
    assert uac_timer(_resp()) is None  # RFC 4028 7.2: no Session-Expires, no timer
    t = uac_timer(_resp(("Session-Expires", "600;refresher=uac"), ("Require", "timer")))
    assert t is not None and t.we_refresh and t.peer_supports
    t = uac_timer(_resp(("Session-Expires", "600;refresher=uas")))
    assert t is not None and not t.we_refresh
    t = uac_timer(_resp(("Session-Expires", "600")))
    assert t is not None and t.we_refresh


def test_request_headers() -> None:
    assert dict(invite_headers(1800, 90)) == {
        "Supported": "100rel, timer",
        "Session-Expires": "1800",
        "Min-SE": "90",
    }
    assert ("Session-Expires", "600;refresher=uac") in request_headers(600, 90)
    assert ("Session-Expires", "600;refresher=uas") in request_headers(600, 90, we_refresh=False)


# -- the UAS reliable-provisional state machine -----------------------------------------
def test_reliable_uas_retransmits_doubling_then_gives_up() -> None:
    m = ReliableUas(cseq=1, t1=0.5, t2=4.0, next_rseq=10)
    assert m.may_send_2xx()
    assert m.send() == 10
    assert not m.may_send_2xx()
    delays = []
    while (d := m.retransmit_after()) is not None:
        delays.append(d)
    assert delays[:5] == [0.5, 1.0, 2.0, 4.0, 4.0]  # T1 doubling, capped at T2
    assert sum(delays) == pytest.approx(32.0)  # 64*T1, then 504
    assert m.timed_out


def test_reliable_uas_prack_matching() -> None:
    m = ReliableUas(cseq=5, next_rseq=1)
    rseq = m.send()
    with pytest.raises(ProtocolError):
        m.send()  # one outstanding at a time (RFC 3262 3)
    assert m.on_prack(RAck(rseq, 4, "INVITE")) is PrackResult.NO_MATCH  # wrong CSeq
    assert m.on_prack(RAck(rseq + 1, 5, "INVITE")) is PrackResult.NO_MATCH  # wrong RSeq
    assert m.on_prack(RAck(rseq, 5, "BYE")) is PrackResult.NO_MATCH
    assert m.on_prack(RAck(rseq, 5, "INVITE")) is PrackResult.ACKED
    assert m.may_send_2xx() and m.retransmit_after() is None and not m.timed_out
    assert m.on_prack(RAck(rseq, 5, "INVITE")) is PrackResult.NO_MATCH  # already acknowledged: 481
    assert m.send() == rseq + 1  # the next reliable 1xx counts on


def test_reliable_uas_final_stops_everything() -> None:
    m = ReliableUas(cseq=1)
    rseq = m.send()
    m.finish()
    assert m.retransmit_after() is None and not m.timed_out
    assert m.on_prack(RAck(rseq, 1, "INVITE")) is PrackResult.NO_MATCH


# -- the UAC side ------------------------------------------------------------------------
def test_prack_tracker() -> None:
    p = PrackTracker()
    assert p.on_provisional("a", 7) is Provisional.PRACK
    assert p.on_provisional("a", 7) is Provisional.REPRACK  # retransmission
    assert p.on_provisional("a", 9) is Provisional.IGNORE  # a gap: out of order
    assert p.on_provisional("a", 6) is Provisional.IGNORE  # older
    assert p.on_provisional("a", 8) is Provisional.PRACK
    assert p.on_provisional("b", 100) is Provisional.PRACK  # another early dialog counts alone
    p.last["c"] = MAX_RSEQ
    assert p.on_provisional("c", 1) is Provisional.PRACK  # wraps around


@given(st.lists(st.integers(1, 20), max_size=30))
def test_prack_tracker_pracks_each_rseq_once_in_order(seq: list[int]) -> None:
    p = PrackTracker()
    pracked = [r for r in seq if p.on_provisional("t", r) is Provisional.PRACK]
    assert all(b == a + 1 for a, b in itertools.pairwise(pracked))
