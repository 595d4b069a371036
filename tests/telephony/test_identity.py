"""Caller identity rules (sans-I/O): 184/186 prefixes, the trunk leg's From/PAI, trusted PAI inbound."""

from __future__ import annotations

from akashi.config.telephony import TrunkSettings
from akashi.telephony.identity import inbound_caller, outbound_identity, split_privacy_prefix, trusted_source
from akashi.telephony.sip.message import Request


def invite(*headers: tuple[str, str], frm: str = '"Customer" <sip:0901234567@10.0.0.9>;tag=a') -> Request:
    """An INVITE from ``frm`` with extra headers."""
    req = Request(method="INVITE", uri="sip:0312345678@akashi.example")
    req.add("From", frm)
    for name, value in headers:
        req.add(name, value)
    return req


def test_privacy_prefixes() -> None:
    """184 withholds, 186 shows; the prefix is stripped only before a number (0 or +)."""
    assert split_privacy_prefix("1840312349999") == ("0312349999", True)
    assert split_privacy_prefix("186+81312349999") == ("+81312349999", False)
    assert split_privacy_prefix("0312349999") == ("0312349999", None)
    assert split_privacy_prefix("184") == ("184", None)
    assert split_privacy_prefix("1841234") == ("1841234", None)


def test_outbound_identity_headers() -> None:
    """From is from_user@from_domain; PAI or PPI per trunk; withheld: anonymous From, Privacy: id."""
    t = TrunkSettings(name="t", host="203.0.113.5", from_user="0312340000", from_domain="trunk.example.jp",
                      identity_header="pai")  # fmt: skip
    shown = outbound_identity(t, "201", "198.51.100.7", withheld=False)
    assert shown.from_ == "<sip:0312340000@trunk.example.jp>"
    assert shown.headers == (("P-Asserted-Identity", "<sip:0312340000@trunk.example.jp>"),)
    hidden = outbound_identity(t.model_copy(update={"identity_header": "ppi"}), "201", "198.51.100.7", True)
    assert "anonymous.invalid" in hidden.from_ and "0312340000" not in hidden.from_
    assert hidden.headers == (
        ("P-Preferred-Identity", "<sip:0312340000@trunk.example.jp>"),
        ("Privacy", "id"),
    )
    plain = outbound_identity(TrunkSettings(name="t", host="203.0.113.5"), "201", "2001:db8::1", False)
    assert plain.from_ == "<sip:201@[2001:db8::1]>" and plain.headers == ()


def test_trusted_sources() -> None:
    """A trunk's host (any port) or inbound_networks is trusted; anything else, or a bad address, is not."""
    trunks = [
        TrunkSettings(name="t", host="203.0.113.5:5070"),
        TrunkSettings(name="n", host="sip.example.jp"),
    ]
    assert trusted_source(("203.0.113.5", 5060), trunks, [])
    assert not trusted_source(("203.0.113.6", 5070), trunks, [])
    assert trusted_source(("10.1.2.3", 5060), trunks, ["10.0.0.0/8"])
    assert not trusted_source(("not-an-ip", 5060), trunks, ["10.0.0.0/8"])
    assert not trusted_source(None, trunks, ["0.0.0.0/0"])


def test_inbound_caller_reads_pai_only_when_trusted() -> None:
    """PAI (sip: or tel:) gives the number from a trusted source; Privacy: id or anonymous From: withheld."""
    pai = ("P-Asserted-Identity", '"Net" <sip:0120999999@carrier;user=phone>, <tel:+81120999999>')
    assert inbound_caller(invite(pai), trusted=True) == ("0120999999", False)
    assert inbound_caller(invite(pai), trusted=False) == ("0901234567", False)
    tel = ("P-Asserted-Identity", "<tel:+81-3-1234-0000>")
    anon = '"Anonymous" <sip:anonymous@anonymous.invalid>;tag=b'
    assert inbound_caller(invite(tel, ("Privacy", "id"), frm=anon), trusted=True) == ("+81312340000", True)
    assert inbound_caller(invite(("Privacy", "id")), trusted=False) == ("0901234567", True)
    assert inbound_caller(invite(frm=anon), trusted=False) == ("anonymous", True)
    bad = ("P-Asserted-Identity", "<sip:evil;drop@carrier>")  # not a number: never the caller
    assert inbound_caller(invite(bad), trusted=True) == ("0901234567", False)
