"""The SIP serializer refuses CR and LF in anything Akashi writes; dialled numbers are digits only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akashi.telephony.sip.build import request, response_to
from akashi.telephony.sip.grammar import SipParseError
from akashi.telephony.sip.message import Header, Request, Response, SipBuildError, parse
from akashi.telephony.sip.uri import phone_number

BREAKS = st.sampled_from(["\r", "\n", "\r\n"])
TEXT = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=["Cs"]), max_size=40)


def _invite() -> Request:
    return request(
        "INVITE",
        "sip:0312345678@192.0.2.1",
        via="SIP/2.0/UDP 192.0.2.2:5060;branch=z9hG4bKx",
        from_="<sip:201@192.0.2.2>;tag=a",
        to="<sip:0312345678@192.0.2.1>",
        call_id="c1@192.0.2.2",
        cseq=1,
    )


@given(before=TEXT, brk=BREAKS, after=TEXT)
def test_header_value_with_a_line_break_is_refused(before: str, brk: str, after: str) -> None:
    """add/set refuse the value at once; a header changed behind the API's back is refused when written."""
    value = before + brk + after
    req = _invite()
    with pytest.raises(SipBuildError):
        req.add("P-Asserted-Identity", value)
    with pytest.raises(SipBuildError):
        req.set("To", value)
    with pytest.raises(SipBuildError):
        request("INVITE", "sip:1@h", via="SIP/2.0/UDP h;branch=z9hG4bKy", from_=value, to="<sip:1@h>",
                call_id="c", cseq=1)  # fmt: skip
    req.headers.append(Header("X-Note", value))
    with pytest.raises(SipBuildError):
        bytes(req)


@given(before=TEXT, bad=st.sampled_from([":", "\r", "\n", " ", "\t", "\x00"]), after=TEXT)
def test_header_name_that_is_not_a_token_is_refused(before: str, bad: str, after: str) -> None:
    """A name with ':' or whitespace would let its "value" become another header."""
    with pytest.raises(SipBuildError):
        _invite().add(before + bad + after, "x")


@given(before=TEXT, brk=BREAKS, after=TEXT)
def test_start_lines_with_line_breaks_are_refused(before: str, brk: str, after: str) -> None:
    """A reason phrase or Request-URI carrying CR/LF is never written."""
    resp = response_to(_invite(), 480)
    resp.reason = before + brk + after
    with pytest.raises(SipBuildError):
        bytes(resp)
    req = _invite()
    req.uri = "sip:" + before + brk + after + "@h"
    with pytest.raises(SipBuildError):
        bytes(req)


@given(value=TEXT)
def test_clean_values_round_trip(value: str) -> None:
    """Values without line breaks are written and parsed back unchanged (apart from edge blanks)."""
    req = _invite()
    req.add("X-Note", value)
    back = parse(bytes(req))
    assert isinstance(back, Request)
    assert back.get("X-Note") == value.strip(" \t")


def test_received_messages_are_written_back_as_they_came() -> None:
    """Folded headers of a received message keep their raw CRLF: round trip is byte for byte."""
    data = bytes(_invite()).replace(b"Max-Forwards: 70\r\n", b"Subject: a\r\n b\r\nMax-Forwards: 70\r\n")
    msg = parse(data)
    assert bytes(msg) == data
    assert isinstance(msg, Request) and not isinstance(msg, Response)


@pytest.mark.parametrize(
    ("user", "number"),
    [
        ("0312345678", "0312345678"),
        ("+81312345678", "+81312345678"),
        ("*67#", "*67#"),
        ("03-1234-5678", "0312345678"),
        ("(03)1234.5678", "0312345678"),
        ("127.0.0.1:5099;", None),
        ("0312345678\r\nP-Asserted-Identity: <sip:110@evil>", None),
        ("0312345678;npdi", None),
        ("03 1234 5678", None),
        ("1" * 33, None),
        ("", None),
        ("---", None),
        ("201@evil", None),
        ("０３１２３４５６７８", None),  # full-width digits are not ASCII digits
    ],
)
def test_phone_number(user: str, number: str | None) -> None:
    """Only digits, +, * and # (at most 32) once the RFC 3966 visual separators are dropped."""
    assert phone_number(user) == number


@given(st.text(max_size=40))
def test_phone_number_never_passes_anything_else(user: str) -> None:
    """Whatever comes in, what comes out is None or only [0-9+*#]."""
    n = phone_number(user)
    assert n is None or (0 < len(n) <= 32 and set(n) <= set("0123456789+*#"))


@pytest.mark.parametrize("brk", [b"\r", b"\n"])
def test_parser_rejects_a_bare_line_break_inside_a_header(brk: bytes) -> None:
    """A lone CR or LF (which some parsers take for a line end) is refused, naming the part."""
    data = bytes(_invite()).replace(
        b"Max-Forwards: 70\r\n",
        b"Subject: hi" + brk + b"P-Asserted-Identity: <sip:110@evil>\r\nMax-Forwards: 70\r\n",
    )
    with pytest.raises(SipParseError) as err:
        parse(data)
    assert (err.value.field, err.value.detail) == ("headers", "bare CR or LF inside a line")
