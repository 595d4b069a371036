"""SIPREC sessions (RFC 7866) from a SIPp SRC into Akashi, with two real RTP streams on loopback.

SIPp plays the SBC/PBX: an INVITE with ``Require: siprec``, a ``+sip.src`` Contact and a multipart body
(two labelled ``sendonly`` streams and the recording metadata of the RFC 7866 example or of a common
SBC). The first stream is SIPp's own RTP (``rtp_stream``, from its media port); the second comes from a
Python socket at the port the SDP names. Each party's stream is a different tone, so the stored stereo
file shows which stream went to which channel. A re-INVITE pauses (``a=inactive``) and resumes with a
partial metadata update; the stored call has the numbers and names of the metadata, ``notice_mode =
"siprec"`` and its analysis job. From outside ``sip.siprec_networks`` the INVITE gets 403 (SIPp, and a
raw socket from another address), audited.
"""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from akashi.analysis.detect import Segment
from akashi.analysis.pipeline import notice_check
from akashi.db import session_scope
from akashi.db.models import Call, Job
from akashi.telephony.service import TelephonyService
from akashi.telephony.siprec.session import SiprecSession
from akashi.web.services.calls import summary
from tests.conftest import require_binary
from tests.ports import free_udp_port
from tests.security.test_edge_refusal_audit import counted
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_calls import _stored, dominant_hz
from tests.telephony.test_early_media import ulaw_wav
from tests.telephony.test_siprec_parsers import PARTIES, VARIANTS, sample

pytestmark = [pytest.mark.sip]

STREAM1_HZ, STREAM2_HZ = 600.0, 1400.0
ALLOW = 'siprec_networks = ["127.0.0.0/8"]\n'

INVITE = """
  <send retrans="500">
    <![CDATA[
INVITE sip:srs@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:SRC@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:srs@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:src@[local_ip]:[local_port]>;+sip.src
Require: siprec
Accept: application/sdp, application/rs-metadata
Max-Forwards: 70
Content-Type: {ctype}
Content-Length: [len]

{body}
    ]]>
  </send>
  <recv response="100" optional="true"/>
"""

REINVITE_HEAD = INVITE.replace(
    "To: <sip:srs@[remote_ip]:[remote_port]>", "To: <sip:srs@[remote_ip]:[remote_port]>[peer_tag_param]"
)
REINVITE_HEAD = REINVITE_HEAD.replace(
    "INVITE sip:srs@[remote_ip]:[remote_port] SIP/2.0", "INVITE [next_url] SIP/2.0"
)

ACK = """
  <send>
    <![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:SRC@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:srs@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} ACK
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
"""

BYE = """
  <send retrans="500">
    <![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:SRC@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:srs@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 10 BYE
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
"""


def sdp(labels: list[str], direction: str = "sendonly", second: str = "[opport]") -> str:
    """Two streams: the first from SIPp's RTP socket, the second from the test's (``second``)."""
    out = "v=0\no=SRC 1 {v} IN IP4 [local_ip]\ns=-\nc=IN IP4 [local_ip]\nt=0 0\n"
    for port, label in zip(("[media_port]", second), labels, strict=True):
        out += f"m=audio {port} RTP/AVP 0\na=rtpmap:0 PCMU/8000\na=label:{label}\na={direction}\n"
    return out


def multipart(sdp_text: str, xml: str) -> str:
    return (
        "--foobar\nContent-Type: application/sdp\n\n" + sdp_text + "\n"
        "--foobar\nContent-Type: application/rs-metadata+xml\nContent-Disposition: recording-session\n\n"
        + xml.strip() + "\n--foobar--"
    )  # fmt: skip


def answered(cseq: int, direction: str) -> str:
    """The 200 with Akashi's SDP (checked: two streams, ``direction``), then the ACK."""
    return (
        f'  <recv response="200" rtd="true" rrs="true">\n    <action>\n'
        f'      <ereg regexp="m=audio [1-9][0-9]* RTP/AVP 0.*a={direction}.*m=audio [1-9][0-9]* RTP/AVP 0.*a={direction}" search_in="body" '
        f'check_it="true" assign_to="d{cseq}"/>\n    </action>\n  </recv>\n'
        + ACK.format(cseq=cseq)
        + f'  <Reference variables="d{cseq}"/>\n'
    )


PARTIAL = (
    "<?xml version='1.0' encoding='UTF-8'?>\n<recording xmlns='urn:ietf:params:xml:ns:recording:1'>\n"
    "<datamode>partial</datamode>\n<participant participant_id='{pid}'><nameID aor='{aor}'>"
    "<name>{name}</name></nameID></participant>\n</recording>"
)


def src_scenario(variant: str, wav: Path, *, pause: bool, talk_ms: int = 3000, update: str = "") -> str:
    """The SRC: INVITE (two streams + metadata), RTP, optionally pause and resume (with ``update``), BYE."""
    labels = VARIANTS[variant][1]
    xml = sample(variant)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<scenario name="src">']
    body = multipart(sdp(labels).replace("{v}", "1"), xml.decode())
    parts.append(INVITE.format(cseq=1, ctype="multipart/mixed;boundary=foobar", body=body))
    parts.append(answered(1, "recvonly"))
    parts.append(f'  <nop><action><exec rtp_stream="{wav},1,0"/></action></nop>')
    if pause:
        parts.append(f'  <pause milliseconds="{talk_ms // 2}"/>')
        inactive = sdp(labels, "inactive").replace("{v}", "2")
        parts.append(REINVITE_HEAD.format(cseq=2, ctype="application/sdp", body=inactive))
        parts.append(answered(2, "inactive"))
        parts.append('  <pause milliseconds="1500"/>')
        resume = sdp(labels).replace("{v}", "3")
        body = multipart(resume, update) if update else resume
        ctype = "multipart/mixed;boundary=foobar" if update else "application/sdp"
        parts.append(REINVITE_HEAD.format(cseq=3, ctype=ctype, body=body))
        parts.append(answered(3, "recvonly"))
        talk_ms //= 2
    parts.append(f'  <pause milliseconds="{talk_ms}"/>')
    parts.append(BYE)
    parts.append("</scenario>")
    return "\n".join(parts)


def refused_scenario(variant: str) -> str:
    """An SRC whose INVITE must get 403 (ACKed)."""
    labels = VARIANTS[variant][1]
    body = multipart(sdp(labels).replace("{v}", "1"), sample(variant).decode())
    ack = (
        ACK.format(cseq=1)
        .replace("[next_url]", "sip:srs@[remote_ip]:[remote_port]")
        .replace("[branch]", "[branch-1]")
    )
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="src">',
            INVITE.format(cseq=1, ctype="multipart/mixed;boundary=foobar", body=body),
            '  <recv response="403"/>',
            ack.replace("[branch-1]", "[branch]"),
            "</scenario>",
        ]
    )


async def record(
    b2bua: Start, tmp_path: Path, variant: str, *, pause: bool = False, update: str = ""
) -> tuple[TelephonyService, int]:
    """Run one SRC session; the service and the stored call id."""
    sipp = require_binary("sipp")
    seconds = 6.0 if pause else 3.5
    wav = ulaw_wav(tmp_path / "stream1.wav", tone(STREAM1_HZ, seconds, 0.5))
    async with rtp_peer() as second:
        svc = await b2bua([free_udp_port()], notice=None, sip_extra=ALLOW)
        src = Sipp(sipp, tmp_path, "src", src_scenario(variant, wav, pause=pause, update=update))
        await src.start(f"127.0.0.1:{svc.sip.local[1]}", "-key", "opport", str(second.port), "-m", "1")
        try:
            session = await _session(svc)
            await asyncio.wait_for(_answered(session), 10)
            port = session.eps[session.index.index(1)].port  # the second m= line's port
            sender = asyncio.create_task(
                second.send_signal(tone(STREAM2_HZ, seconds, 0.5), ("127.0.0.1", port))
            )
            assert await src.wait(40) == 0, src.log()
            await sender
        finally:
            src.kill()
        call_id = await asyncio.wait_for(svc.stored.get(), 30)
        assert call_id is not None
        return svc, call_id


async def _session(svc: TelephonyService) -> SiprecSession:
    loop = asyncio.get_running_loop()
    end = loop.time() + 15
    while loop.time() < end:
        for s in svc.siprec.sessions.values():
            return s
        await asyncio.sleep(0.01)
    raise AssertionError("no SIPREC session reached Akashi")


async def _answered(session: SiprecSession) -> None:
    while not session.answered:
        await asyncio.sleep(0.01)


def _row(svc: TelephonyService, call_id: int) -> tuple[Call, list[Job]]:
    with session_scope(svc.ak.engine) as s:
        row = s.get(Call, call_id)
        assert row is not None
        jobs = list(s.scalars(select(Job)))
        s.expunge_all()
    return row, jobs


def sounding(pcm: np.ndarray) -> np.ndarray:
    """A channel from its first to its last loud sample."""
    idx = np.flatnonzero(np.abs(pcm.astype(np.int32)) > 2000)
    return pcm[idx[0] : idx[-1]] if len(idx) else pcm


def loud(pcm: np.ndarray) -> np.ndarray:
    """The part of a channel that holds sound."""
    return pcm[np.abs(pcm.astype(np.int32)) > 2000]


@pytest.mark.parametrize("variant", list(VARIANTS))
async def test_src_variants_recorded_customer_left_operator_right(
    b2bua: Start, tmp_path: Path, variant: str
) -> None:
    """Each SBC's metadata: the customer's stream on the left, the operator's on the right, numbers, names."""
    svc, call_id = await record(b2bua, tmp_path, variant)
    row, left, right, _fmt = await asyncio.to_thread(_stored, svc, call_id)
    _xml, labels, customer_label = VARIANTS[variant]
    first_is_customer = labels[0] == customer_label
    cust_hz, op_hz = (STREAM1_HZ, STREAM2_HZ) if first_is_customer else (STREAM2_HZ, STREAM1_HZ)
    assert abs(dominant_hz(sounding(left)) - cust_hz) < 15, variant
    assert abs(dominant_hz(sounding(right)) - op_hz) < 15, variant
    assert len(loud(left)) > 8000 and len(loud(right)) > 8000
    row, jobs = _row(svc, call_id)
    assert (row.direction, row.caller, row.dialled) == ("in", PARTIES["cust"], PARTIES["op"])
    assert row.agent_name == "佐藤 花子"  # agent 201 from the configuration
    assert (row.status, row.notice_mode, row.channels) == ("completed", "siprec", 2)
    facts = row.extra["siprec"]
    assert facts["basis"] == "agent" and facts["labels"]["customer"] == customer_label
    if variant in ("oracle", "ribbon", "minimal"):
        assert facts["customer_name"] == PARTIES["cust_name"]
        assert summary(row, {}).caller_name == PARTIES["cust_name"]  # the call list and page show it
    assert [(j.kind, j.payload["call_id"]) for j in jobs] == [
        ("transcribe", call_id)
    ]  # analysed like any call


async def test_pause_resume_and_partial_metadata_update(b2bua: Start, tmp_path: Path) -> None:
    """a=inactive pauses both channels (nothing recorded meanwhile), sendonly resumes; a partial update
    renames the customer; the notice check runs on the operator channel."""
    update = PARTIAL.format(
        pid="srfBElmCRp2QB23b7Mpk0w==", aor=f"sip:{PARTIES['cust']}@atlanta.com", name="山田 花子"
    )
    svc, call_id = await record(b2bua, tmp_path, "rfc7866", pause=True, update=update)
    row, jobs = _row(svc, call_id)
    facts = row.extra["siprec"]
    assert facts["customer_name"] == "山田 花子" and facts["metadata_updates"] == 1
    assert len(facts["pauses"]) == 1
    start, end = facts["pauses"][0]
    assert 1.0 < end - start < 3.0
    _row2, left, right, _fmt = await asyncio.to_thread(_stored, svc, call_id)
    assert row.answered_at is not None
    answered_at = row.answered_at
    if answered_at.tzinfo is None:  # SQLite keeps UTC without its zone
        answered_at = answered_at.replace(tzinfo=UTC)
    t0 = answered_at.timestamp()
    a, b = int((start - t0 + 0.2) * 8000), int((end - t0 - 0.2) * 8000)
    assert b - a > 4000
    assert len(loud(left[a:b])) == 0 and len(loud(right[a:b])) == 0  # paused: nothing kept
    assert len(loud(left[:a])) > 4000 and len(loud(right[b:])) > 4000  # recorded before and after
    assert [j.kind for j in jobs] == ["transcribe"]
    # the PBX played the notice: analysis looks for it on the operator channel only
    said = [Segment("operator", 0.5, 4.0, "この通話は、サービス向上のため録音させていただきます。")]
    found = notice_check(svc.ak, row, said)
    assert found is not None and found.ok, found
    missing = notice_check(svc.ak, row, [Segment("customer", 0.5, 4.0, said[0].text)])
    assert missing is not None and not missing.ok


async def test_siprec_refused_outside_siprec_networks(b2bua: Start, tmp_path: Path) -> None:
    """The default (no siprec_networks): SIPp's SIPREC INVITE gets 403; nothing is recorded."""
    sipp = require_binary("sipp")
    svc = await b2bua([free_udp_port()], notice=None)
    src = Sipp(sipp, tmp_path, "src", refused_scenario("rfc7866"))
    await src.start(f"127.0.0.1:{svc.sip.local[1]}", "-key", "opport", str(free_udp_port()), "-m", "1")
    try:
        assert await src.wait(30) == 0, src.log()
    finally:
        src.kill()
    assert not svc.siprec.sessions and svc.stored.empty()


class _Raw(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.put_nowait(data)


async def test_raw_socket_siprec_from_another_address_gets_403_and_is_audited(b2bua: Start) -> None:
    """An attacker at 127.0.0.9 (outside 127.0.0.1/32) sends a hand-made SIPREC INVITE: 403, audited."""
    from akashi.access.sipaudit import INVITE_ACTION

    svc = await b2bua([free_udp_port()], notice=None, sip_extra='siprec_networks = ["127.0.0.1/32"]\n')
    loop = asyncio.get_running_loop()
    tr, raw = await loop.create_datagram_endpoint(_Raw, local_addr=("127.0.0.9", 0))
    try:
        ip, port = tr.get_extra_info("sockname")[:2]
        body = multipart(
            sdp(["1", "2"]).replace("{v}", "1").replace("[local_ip]", ip).replace("[media_port]", "4000")
            .replace("[opport]", "4002"),
            sample("minimal").decode(),
        ).replace("\n", "\r\n")  # fmt: skip
        msg = (
            f"INVITE sip:srs@127.0.0.1:{svc.sip.local[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
            f"From: <sip:src@{ip}>;tag=1\r\nTo: <sip:srs@127.0.0.1>\r\nCall-ID: {secrets.token_hex(8)}\r\n"
            f"CSeq: 1 INVITE\r\nContact: <sip:src@{ip}:{port}>;+sip.src\r\nMax-Forwards: 70\r\n"
            f"Content-Type: multipart/mixed;boundary=foobar\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        )
        tr.sendto(msg.encode(), ("127.0.0.1", svc.sip.local[1]))
        answer = await asyncio.wait_for(raw.got.get(), 10)
        assert answer.startswith(b"SIP/2.0 403"), answer[:200]
        assert b"SIPREC" in answer
    finally:
        tr.close()
    rows = await counted(svc, INVITE_ACTION, "siprec", 1)
    assert rows and rows[0]["target"] == "127.0.0.9" and rows[0]["status"] == 403
    assert not svc.siprec.sessions
