"""SIPREC's sans-I/O parts: multipart bodies, recording metadata (RFC 7866 and SBC variants), the two-stream
SDP, the customer/operator decision. Captured-style samples, round trips, truncated and hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akashi.telephony.sip.message import Request
from akashi.telephony.siprec import SiprecError
from akashi.telephony.siprec.body import is_siprec
from akashi.telephony.siprec.metadata import Metadata, Participant, Session, Stream, parse_metadata
from akashi.telephony.siprec.multipart import Part, boundary_of, join, split
from akashi.telephony.siprec.roles import decide, number_of
from akashi.telephony.siprec.sdp import AnswerStream, answer, parse_offer
from akashi.telephony.siprec.xmltree import MAX_BYTES, MAX_DEPTH

# -- samples: the RFC 7866 example and the forms common SBCs send ------------------------------
#: RFC 7866 8.1.1's metadata (Alice and Bob; streams labelled 96 and 97, each sent by one of them)
RFC7866 = """<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
  <datamode>complete</datamode>
  <session session_id="0PGwbVdXTS6EqxuB6Ah5OQ==">
    <sipSessionID>ab30317f1a784dc48ff824d0d3715d86;
                  remote=47755a9de7794ba387653f2099600ef2</sipSessionID>
    <group-ref>7+OTCyoxTmqmqyA/1weDAg==</group-ref>
    <call-center xmlns='urn:ietf:params:xml:ns:callcenter'>
      <supervisor>sip:alice@atlanta.com</supervisor>
    </call-center>
    <mydata xmlns='http://example.com/my'>
      <structure>structure!</structure>
      <whatever>structure</whatever>
    </mydata>
  </session>
  <participant participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <nameID aor="sip:{cust}@atlanta.com">
      <name xml:lang="it">{cust_name}</name>
    </nameID>
  </participant>
  <participant participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <nameID aor="sip:{op}@biloxy.com">
      <name xml:lang="it">{op_name}</name>
    </nameID>
  </participant>
  <stream stream_id="UAAMm5GRQKSCMVvLyl4rFw==" session_id="0PGwbVdXTS6EqxuB6Ah5OQ==">
    <label>96</label>
  </stream>
  <stream stream_id="i1Pz3to5hGk8fuXl+PbwCw==" session_id="0PGwbVdXTS6EqxuB6Ah5OQ==">
    <label>97</label>
  </stream>
  <participantsessionassoc participant_id="srfBElmCRp2QB23b7Mpk0w==" session_id="0PGwbVdXTS6EqxuB6Ah5OQ==">
    <associate-time>2010-12-16T23:41:07Z</associate-time>
  </participantsessionassoc>
  <participantstreamassoc participant_id="srfBElmCRp2QB23b7Mpk0w==">
    <send>i1Pz3to5hGk8fuXl+PbwCw==</send>
    <recv>UAAMm5GRQKSCMVvLyl4rFw==</recv>
  </participantstreamassoc>
  <participantstreamassoc participant_id="zSfPoSvdSDCmU3A3TRDxAw==">
    <send>UAAMm5GRQKSCMVvLyl4rFw==</send>
    <recv>i1Pz3to5hGk8fuXl+PbwCw==</recv>
  </participantstreamassoc>
</recording>
"""

#: Oracle/Acme Packet SBC: the draft namespace, id/session attributes, send inside the participant,
#: quoted names, apkt:callingParty; the called party listed first
ORACLE = """<?xml version='1.0' encoding='UTF-8'?>
<recording xmlns='urn:ietf:params:xml:ns:recording'>
<datamode>complete</datamode>
<session id="jWBTU+dDQeZL6U3Gdk6Cwg==">
<associate-time>2015-04-28T10:40:29</associate-time>
<extensiondata xmlns:apkt="http://acmepacket.com/siprec/extensiondata">
<apkt:ucid>00FA0800012CAB553FA9ED;encoding=hex</apkt:ucid>
<apkt:callerOrig>true</apkt:callerOrig>
</extensiondata>
</session>
<participant id="wpjlMwVqTUZSI2tmcXkZFg==" session="jWBTU+dDQeZL6U3Gdk6Cwg==">
<nameID aor="sip:{op}@pbx.example.co.jp">
<name>"{op_name}"</name>
</nameID>
<send>Rg+mboP0TOpzFgtWlWVeUQ==</send>
<associate-time>2015-04-28T10:40:29</associate-time>
<extensiondata xmlns:apkt="http://acmepacket.com/siprec/extensiondata">
<apkt:callingParty>false</apkt:callingParty>
</extensiondata>
</participant>
<participant id="jXXFR+0mQ1RPK5QGlWUprQ==" session="jWBTU+dDQeZL6U3Gdk6Cwg==">
<nameID aor="sip:{cust}@carrier.example.net">
<name>"{cust_name}"</name>
</nameID>
<send>goO9dQk7T/VclQNR6C6nrw==</send>
<associate-time>2015-04-28T10:40:29</associate-time>
<extensiondata xmlns:apkt="http://acmepacket.com/siprec/extensiondata">
<apkt:callingParty>true</apkt:callingParty>
</extensiondata>
</participant>
<stream id="goO9dQk7T/VclQNR6C6nrw==" session="jWBTU+dDQeZL6U3Gdk6Cwg==">
<label>553654187</label>
<mode>separate</mode>
</stream>
<stream id="Rg+mboP0TOpzFgtWlWVeUQ==" session="jWBTU+dDQeZL6U3Gdk6Cwg==">
<label>553654188</label>
<mode>separate</mode>
</stream>
</recording>
"""

#: Ribbon/Sonus SBC: a prefixed namespace, bare AORs (no sip:), a lone space for no name, and the
#: original call's From/To in callData (escaped)
RIBBON = """<?xml version="1.0" encoding="UTF-8"?>
<tns:recording xmlns:tns='urn:ietf:params:xml:ns:recording'>
<tns:datamode>complete</tns:datamode>
<tns:group group_id="ZjExNDNiMDAtNjk1MS0xMA==">
<tns:associate-time>2026-05-15T00:41:05Z</tns:associate-time>
<callData xmlns='urn:ietf:params:xml:ns:callData'>
<fromhdr>"{cust_name}" &lt;sip:{cust}@172.16.198.55&gt;;tag=BKH9F7r61c3Fj</fromhdr>
<tohdr>&lt;sip:{op}@172.16.195.72&gt;;tag=gK04802798</tohdr>
<callid>0a5a5f62-a606-1235-d6a2-5254003a4988</callid>
</callData>
</tns:group>
<tns:session session_id="ZjExNDNiMDEtNjk1MS0xMA==">
<tns:group-ref>ZjExNDNiMDAtNjk1MS0xMA==</tns:group-ref>
<tns:start-time>2026-05-15T00:41:05Z</tns:start-time>
</tns:session>
<tns:participant participant_id="ZjExNDNiMDMtNjk1MS0xMA==">
<tns:nameID aor="{op}@172.16.195.72">
<tns:name xml:lang="en"> </tns:name>
</tns:nameID>
</tns:participant>
<tns:participant participant_id="ZjExNDNiMDItNjk1MS0xMA==">
<tns:nameID aor="{cust}@172.16.198.55">
<tns:name xml:lang="en">{cust_name}</tns:name>
</tns:nameID>
</tns:participant>
<tns:stream stream_id="ZjExNDNiMDQtNjk1MS0xMA==" session_id="ZjExNDNiMDEtNjk1MS0xMA==">
<tns:label>1</tns:label>
</tns:stream>
<tns:stream stream_id="ZjExNDNiMDUtNjk1MS0xMA==" session_id="ZjExNDNiMDEtNjk1MS0xMA==">
<tns:label>2</tns:label>
</tns:stream>
<tns:participantstreamassoc participant_id="ZjExNDNiMDItNjk1MS0xMA==">
<tns:send>ZjExNDNiMDQtNjk1MS0xMA==</tns:send>
<tns:recv>ZjExNDNiMDUtNjk1MS0xMA==</tns:recv>
</tns:participantstreamassoc>
<tns:participantstreamassoc participant_id="ZjExNDNiMDMtNjk1MS0xMA==">
<tns:send>ZjExNDNiMDUtNjk1MS0xMA==</tns:send>
<tns:recv>ZjExNDNiMDQtNjk1MS0xMA==</tns:recv>
</tns:participantstreamassoc>
</tns:recording>
"""

#: Cisco CUBE-like: the RFC form with E.164 AORs on IP hosts, no names, a vendor ExtensionData block
CUBE = """<?xml version="1.0" encoding="UTF-8"?>
<recording xmlns='urn:ietf:params:xml:ns:recording:1'>
  <datamode>complete</datamode>
  <session session_id="5O5wl8NmEeWf+5d4ldEkLQ==">
    <sipSessionID>2a1d0b3bd7fe5f6a8e8b5e1d0b1b2a3c;remote=00000000000000000000000000000000</sipSessionID>
    <start-time>2026-01-04T09:24:39.379Z</start-time>
    <ExtensionData xmlns="http://cisco.com/siprec/cube"><callID>1234</callID></ExtensionData>
  </session>
  <participant participant_id="5O5wl8NmEeWf+5d4ldEkLQ1==">
    <nameID aor="sip:{op}@10.0.0.20"></nameID>
  </participant>
  <participant participant_id="5O5wl8NmEeWf+5d4ldEkLQ2==">
    <nameID aor="sip:{cust}@10.0.0.1;user=phone"></nameID>
  </participant>
  <stream stream_id="s-cust" session_id="5O5wl8NmEeWf+5d4ldEkLQ=="><label>1</label></stream>
  <stream stream_id="s-op" session_id="5O5wl8NmEeWf+5d4ldEkLQ=="><label>2</label></stream>
  <participantstreamassoc participant_id="5O5wl8NmEeWf+5d4ldEkLQ2=="><send>s-cust</send></participantstreamassoc>
  <participantstreamassoc participant_id="5O5wl8NmEeWf+5d4ldEkLQ1=="><send>s-op</send></participantstreamassoc>
</recording>
"""

#: the least an SRC sends (an Asterisk-like minimal one): two participants and two labelled streams,
#: no associations at all (so the customer's stream is the first m= line)
MINIMAL = """<?xml version="1.0"?>
<recording xmlns="urn:ietf:params:xml:ns:recording:1">
<participant participant_id="a"><nameID aor="sip:{cust}@pbx"><name>{cust_name}</name></nameID></participant>
<participant participant_id="b"><nameID aor="sip:{op}@pbx"><name>{op_name}</name></nameID></participant>
<stream stream_id="x"><label>1</label></stream>
<stream stream_id="y"><label>2</label></stream>
</recording>
"""

#: for each sample: the SDP labels in m= order, and the label the customer sends
VARIANTS = {
    "rfc7866": (RFC7866, ["96", "97"], "97"),
    "oracle": (ORACLE, ["553654187", "553654188"], "553654187"),
    "ribbon": (RIBBON, ["1", "2"], "1"),
    "cube": (CUBE, ["1", "2"], "1"),
    "minimal": (MINIMAL, ["1", "2"], "1"),
}
PARTIES = {"cust": "09011112222", "cust_name": "山田 太郎", "op": "201", "op_name": "佐藤 花子"}


def sample(name: str, **kw: str) -> bytes:
    """A sample filled with the test's parties (the customer, the operator 201)."""
    return VARIANTS[name][0].format(**{**PARTIES, **kw}).encode()


# -- multipart --------------------------------------------------------------------------------
SDP2 = (
    "v=0\r\no=SRC 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n"
    "m=audio 12240 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=label:96\r\na=sendonly\r\n"
    "m=audio 12242 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\na=label:97\r\na=sendonly\r\n"
)


def test_rfc7866_body_splits_into_sdp_and_metadata() -> None:
    body = (
        "--foobar\r\nContent-Type: application/sdp\r\n\r\n" + SDP2 + "\r\n"
        "--foobar\r\nContent-Type: application/rs-metadata\r\nContent-Disposition: recording-session\r\n\r\n"
        + RFC7866.format(**PARTIES) + "\r\n--foobar--\r\n"
    ).encode()  # fmt: skip
    parts = split(body, boundary_of("multipart/mixed;boundary=foobar"))
    assert [p.content_type for p in parts] == ["application/sdp", "application/rs-metadata"]
    assert parts[0].body == SDP2.encode()
    assert parts[1].disposition == "recording-session"
    assert parse_metadata(parts[1].body).participants[0].name == "山田 太郎"


def test_lf_line_ends_quoted_boundary_preamble_and_epilogue() -> None:
    body = b"preamble\n--b 1\nContent-Type: application/sdp\n\nv=0\n\n--b 1--\nepilogue"
    parts = split(body, boundary_of('multipart/mixed; charset=x; boundary="b 1"'))
    assert parts == [Part((("Content-Type", "application/sdp"),), b"v=0\n")]


@pytest.mark.parametrize(
    ("ctype", "body"),
    [
        ("application/sdp", b""),
        ("multipart/mixed", b""),
        ("multipart/mixed;boundary=" + "x" * 71, b""),
        ("multipart/mixed;boundary=b", b"no delimiter"),
        ("multipart/mixed;boundary=b", b"--b\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n"),
        ("multipart/mixed;boundary=b", b"--b\r\nnot a header\r\n\r\nv=0\r\n--b--"),
        ("multipart/mixed;boundary=b", b"".join(b"--b\r\n\r\nx\r\n" for _ in range(9)) + b"--b--"),
    ],
    ids=[
        "not-multipart",
        "no-boundary",
        "long-boundary",
        "no-delimiter",
        "truncated",
        "bad-header",
        "too-many",
    ],
)
def test_bad_multipart_is_refused(ctype: str, body: bytes) -> None:
    with pytest.raises(SiprecError):
        split(body, boundary_of(ctype))


_token = st.text("abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
_parts = st.lists(
    st.builds(
        Part,
        st.lists(
            st.tuples(_token.map(str.title), st.text("abc xyz/;=+", max_size=20).map(str.strip)), max_size=3
        ).map(tuple),
        st.binary(max_size=200).filter(lambda b: b"--bnd" not in b and not b.startswith((b"\n", b"\r"))),
    ).filter(lambda p: bool(p.headers)),
    min_size=1,
    max_size=8,
)


@given(_parts)
@settings(max_examples=200)
def test_multipart_round_trip(parts: list[Part]) -> None:
    assert split(join(parts, "bnd"), "bnd") == parts


@given(st.binary(max_size=300))
def test_multipart_never_crashes(data: bytes) -> None:
    with contextlib.suppress(SiprecError):
        split(data, "bnd")


# -- metadata ---------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_sbc_variants_decide_the_customer_stream(variant: str) -> None:
    _xml, labels, customer_label = VARIANTS[variant]
    meta = parse_metadata(sample(variant))
    roles = decide(meta, labels, agent_users=["201"], company_numbers=["0312345678", "*"])
    assert roles.customer_label == customer_label
    assert roles.operator_label == next(lb for lb in labels if lb != customer_label)
    assert roles.customer is not None and number_of(roles.customer.aor) == "09011112222"
    assert roles.operator is not None and number_of(roles.operator.aor) == "201"
    assert roles.basis == "agent"
    if variant in ("oracle", "ribbon", "minimal"):
        assert roles.customer.name == "山田 太郎"


def test_without_agents_the_calling_party_or_order_decides() -> None:
    oracle = parse_metadata(sample("oracle"))  # the called party is listed first
    roles = decide(oracle, ["553654187", "553654188"], [], [])
    assert (roles.basis, roles.customer_label, roles.inbound) == ("calling_party", "553654187", True)
    ribbon = parse_metadata(sample("ribbon"))
    assert decide(ribbon, ["1", "2"], [], []).basis == "calling_party"
    rfc = parse_metadata(sample("rfc7866"))
    roles = decide(rfc, ["96", "97"], [], [])
    assert (roles.basis, roles.customer_label) == ("order", "97")  # Alice, listed first, sends 97
    # the company's number (a route) names the operator too; a call the agent placed is outbound
    roles = decide(
        parse_metadata(sample("oracle", op="0312345678")), ["553654187", "553654188"], [], ["0312345678"]
    )
    assert (roles.basis, roles.customer_label) == ("route", "553654187")
    flipped = sample("oracle").replace(b"<apkt:callingParty>false", b"<apkt:callingParty>X")
    flipped = flipped.replace(b"<apkt:callingParty>true", b"<apkt:callingParty>false")
    flipped = flipped.replace(b"<apkt:callingParty>X", b"<apkt:callingParty>true")
    roles = decide(parse_metadata(flipped), ["553654187", "553654188"], ["201"], [])
    assert (roles.customer_label, roles.inbound) == ("553654187", False)
    assert decide(None, ["1", "2"], ["201"], []).basis == "sdp_order"


def test_partial_update_renames_and_adds_a_party() -> None:
    meta = parse_metadata(sample("minimal"))
    update = parse_metadata(
        b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'><datamode>partial</datamode>"
        b"<participant participant_id='b'><nameID aor='sip:202@pbx'><name>Suzuki</name></nameID></participant>"
        b"<participant participant_id='c'><nameID aor='sip:203@pbx'/></participant>"
        b"<participantstreamassoc participant_id='c'><send>y</send></participantstreamassoc>"
        b"<participantsessionassoc participant_id='b' session_id='s'><disassociate-time>2026-01-01T00:00:00Z"
        b"</disassociate-time></participantsessionassoc></recording>"
    )
    assert update.datamode == "partial"
    merged = meta.merge(update)
    assert [p.id for p in merged.participants] == ["a", "b", "c"]
    assert merged.participant("b") == Participant("b", "sip:202@pbx", "Suzuki", left=True)
    assert merged.sender_of("2") == Participant("c", "sip:203@pbx", send=("y",))
    assert (
        meta.merge(parse_metadata(sample("cube"))).participants[0].id.startswith("5O5")
    )  # complete replaces


HOSTILE = {
    "billion-laughs": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'>&b;</recording>",
    "external-entity": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'>&x;</recording>",
    "external-dtd": b'<!DOCTYPE r SYSTEM "http://203.0.113.9/x.dtd"><recording/>',
    "too-large": b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'>" + b" " * MAX_BYTES + b"</recording>",
    "too-deep": b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'>" + b"<a>" * MAX_DEPTH + b"</a>" * MAX_DEPTH
    + b"</recording>",
    "truncated": sample("rfc7866")[:500],
    "not-xml": b"v=0\r\n",
    "wrong-root": b"<html xmlns='urn:ietf:params:xml:ns:recording:1'/>",
    "wrong-namespace": b"<recording xmlns='urn:example'/>",
    "no-id": b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'><participant/></recording>",
    "bad-datamode": b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'><datamode>x</datamode></recording>",
    "long-aor": b"<recording xmlns='urn:ietf:params:xml:ns:recording:1'><participant participant_id='p'>"
    b"<nameID aor='" + b"a" * 300 + b"'/></participant></recording>",
}  # fmt: skip


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_or_invalid_metadata_is_refused(name: str) -> None:
    with pytest.raises(SiprecError) as err:
        parse_metadata(HOSTILE[name])
    assert "metadata" in err.value.en


_ids = st.text("ABCDEFabcdef0123456789+/=", min_size=1, max_size=24)
_names = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp", "Co", "Cn")), max_size=20).map(
    lambda s: "".join(ch for ch in s if ch.isprintable()).strip().strip('"').strip()
)
_metadata = st.builds(
    Metadata,
    st.sampled_from(["complete", "partial"]),
    st.lists(st.builds(Session, _ids, _ids, st.just("")), max_size=2, unique_by=lambda s: s.id).map(tuple),
    st.lists(
        st.builds(
            Participant,
            _ids,
            st.sampled_from(["", "sip:201@pbx", "sip:+81312345678@sbc;user=phone", "tel:0312345678"]),
            _names,
            st.lists(_ids, max_size=2).map(tuple),
            st.lists(_ids, max_size=2).map(tuple),
            st.sampled_from([None, True, False]),
            st.booleans(),
        ),
        max_size=4,
        unique_by=lambda p: p.id,
    ).map(tuple),
    st.lists(st.builds(Stream, _ids, _ids, _ids), max_size=3, unique_by=lambda s: s.id).map(tuple),
    _names,
    _names,
)


@given(_metadata)
@settings(max_examples=200)
def test_metadata_round_trip(meta: Metadata) -> None:
    assert parse_metadata(meta.to_xml()) == meta


@given(st.binary(max_size=400))
def test_metadata_never_crashes(data: bytes) -> None:
    with contextlib.suppress(SiprecError):
        parse_metadata(data)


# -- SDP and recognition ----------------------------------------------------------------------
def test_two_labelled_streams_answered_recvonly_and_video_refused() -> None:
    offer = parse_offer((SDP2 + "m=video 12244 RTP/AVP 96\r\na=label:98\r\na=sendonly\r\n").encode())
    assert [(s.media, s.label, s.audio.port if s.audio else 0) for s in offer] == [
        ("audio", "96", 12240),
        ("audio", "97", 12242),
        ("video", "98", 0),
    ]
    assert offer[0].audio is not None and offer[0].audio.direction == "sendonly"
    codecs = tuple(offer[0].audio.codecs[:1])
    sdp = answer(
        offer,
        [AnswerStream(30000, codecs), AnswerStream(30002, codecs), AnswerStream(0)],
        "192.0.2.5",
        (7, 8),
    )
    text = sdp.decode()
    assert "m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=recvonly\r\na=label:96\r\n" in text
    assert "m=audio 30002 RTP/AVP 0" in text and "m=video 0 RTP/AVP 96\r\na=label:98" in text
    assert [s.label for s in parse_offer(sdp)] == ["96", "97", "98"]


@pytest.mark.parametrize(
    "sdp",
    [
        b"",
        b"v=0\r\n",
        b"\xff\xfe",
        b"v=0\r\nc=IN IP4 host.example\r\nm=audio 1 RTP/AVP 0\r\n",
        b"m=audio x RTP/AVP 0\r\n",
    ],
    ids=["empty", "no-m", "not-utf8", "hostname", "bad-port"],
)
def test_bad_offer_is_refused(sdp: bytes) -> None:
    with pytest.raises(SiprecError):
        parse_offer(sdp)


def _invite(headers: str) -> Request:
    r = Request(method="INVITE", uri="sip:srs@192.0.2.5")
    for line in headers.splitlines():
        k, _, v = line.partition(":")
        r.add(k.strip(), v.strip())
    return r


def test_siprec_invite_recognised_by_require_or_src_feature_tag() -> None:
    assert is_siprec(_invite("Require: timer, siprec"))
    assert is_siprec(_invite('Contact: "SRC" <sip:src@10.0.0.1:5060>;+sip.src'))
    assert not is_siprec(_invite("Contact: <sip:src@10.0.0.1;+sip.src>"))  # a URI parameter is no feature tag
    assert not is_siprec(_invite("Require: 100rel\r\nContact: <sip:0901234567@10.0.0.1>"))


def test_numbers_of_aors() -> None:
    assert number_of("sip:+81312345678@sbc;user=phone") == "+81312345678"
    assert number_of("0312345678@10.0.0.1") == "0312345678"
    assert number_of("tel:090-1111-2222") == "09011112222"
    assert number_of("sip:alice@atlanta.com") == ""
    assert number_of("") == ""


def test_siprec_networks_setting() -> None:
    import ipaddress

    from pydantic import ValidationError

    from akashi.config.telephony import SipSettings

    assert SipSettings().siprec_networks == []  # the default: every SIPREC session refused
    s = SipSettings.model_validate({"siprec_networks": ["10.1.0.5/16", "2001:db8::1"]})
    assert s.siprec_networks == [ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("2001:db8::1/128")]
    for bad in (["sbc.example"], [5]):
        with pytest.raises(ValidationError):
            SipSettings.model_validate({"siprec_networks": bad})
