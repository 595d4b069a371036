"""Operator legs that a PBX challenges (issue 15 item 4): a route's ring-target credentials.

Real peers: SIPp plays the PBX that answers Akashi's INVITE with 401 and the authenticated retry with
200; SIPp plays the customer too. Unit tests of where the credentials may go are at the end.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic import ValidationError

from akashi.config.telephony import RouteSettings
from akashi.db.models import Call
from akashi.telephony.sip.digest import digest_response, parse_challenge
from akashi.telephony.trunks import ring_credentials
from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer, tone
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]

PBX_USER = "akashi-pbx"
PBX_SECRET = "pbx-Secret-8821"
NONCE = "5e2f0c9a71"
REALM = "pbx.example"


def challenge(algorithm: str) -> str:
    return f'WWW-Authenticate: Digest realm="{REALM}", nonce="{NONCE}", algorithm={algorithm}, qop="auth"'


def pbx(algorithms: list[str], *, verify_md5: bool = False, answers: bool = True) -> str:
    """The PBX: 401 to the first INVITE (one challenge per algorithm); 200 to an authenticated retry.

    ``answers=False``: the scenario ends after the ACK of the 401 (a retry would fail it).
    """
    first = scenarios.OP_RINGING.replace("180 Ringing", "401 Unauthorized").replace(
        "Contact: <sip:[local_ip]:[local_port]>", "\n".join(challenge(a) for a in algorithms)
    )
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<scenario name="pbx">',
        '  <recv request="INVITE"/>',
        first,
        '  <recv request="ACK"/>',
    ]
    if not answers:
        parts.append("</scenario>")
        return "\n".join(parts)
    verify = (
        f'<verifyauth assign_to="authvalid" username="{PBX_USER}" password="{PBX_SECRET}"/>'
        if verify_md5
        else '<ereg regexp="algorithm=SHA-256" search_in="hdr" header="Authorization:" assign_to="authvalid"/>'
    )
    parts += [
        f"""  <recv request="INVITE" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="Authorization:" check_it="true" assign_to="authhdr"/>
      {verify}
      <log message="authorization [$authhdr]"/>
    </action>
  </recv>""",
        '  <nop hide="true" test="authvalid" next="good"/>',
        scenarios.OP_RINGING.replace("180 Ringing", "403 Forbidden"),
        '  <recv request="ACK" next="end"/>',
        '  <label id="good"/>',
        scenarios.OP_RINGING.replace("SIPpTag01", "SIPpTag02"),
        scenarios.OP_OK.replace("SIPpTag01", "SIPpTag02"),
        '  <recv request="ACK"/>',
        '  <recv request="BYE" timeout="60000"/>',
        scenarios.OK_TO_REQUEST,
        '  <label id="end"/>',
        "</scenario>",
    ]
    return "\n".join(parts)


def route_auth(username: str = PBX_USER, secret: str = PBX_SECRET, realm: str = "") -> str:
    lines = f'ring_username = "{username}"\nring_password = "{secret}"\n'
    return lines + (f'ring_realm = "{realm}"\n' if realm else "")


async def call_pbx(
    b2bua: Start,
    tmp_path: Path,
    notice: Path,
    pbx_xml: str,
    *,
    route_extra: str = "",
    caller_xml: str | None = None,
    extra: str = "",
    dialled: str = "0312345678",
    others: list[Sipp] | None = None,
) -> tuple[Call, Sipp]:
    """A customer calls ``dialled``; the route rings the SIPp PBX; the stored row and the PBX."""
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        box = Sipp(sipp, tmp_path, "pbx", pbx_xml)
        extra = extra.replace("{other_port}", str(others[0].port)) if others else extra
        svc = await b2bua([box.port], notice=notice, route_extra=route_extra, extra=extra)
        await box.start("-key", "rtpport", str(op.port), "-m", "1")
        for o in others or []:
            await o.start("-m", "1")
        callx = Sipp(sipp, tmp_path, "caller", caller_xml or scenarios.caller(talk_ms=2500))
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", dialled, "-key", "rtpport", str(cust.port), "-m", "1"
        )

        async def talk() -> None:  # the customer talks as soon as Akashi's media port is known
            while True:
                for c in list(svc.calls.values()):
                    if c.a_rtp is not None:
                        await cust.send_signal(tone(300, 2.0), ("127.0.0.1", c.a_rtp.port))
                        return
                await asyncio.sleep(0.01)

        sender = asyncio.create_task(talk())
        try:
            assert await callx.wait() == 0, callx.log() + box.log()
            for o in others or []:
                assert await o.wait() == 0, o.log()
            if not others:
                assert await box.wait() == 0, box.log()
            row = await _row(svc)
        finally:
            sender.cancel()
    return row, box


def authorization_sent(peer: Sipp) -> list[str]:
    """Every Authorization header value the peer received (from SIPp's message trace)."""
    out = []
    for f in sorted(peer.dir.glob(f"{peer.name}_*messages.log")):
        for line in f.read_text(errors="replace").splitlines():
            if line.lower().startswith("authorization:"):
                out.append(line.split(":", 1)[1].strip())
    return out


async def test_pbx_md5_challenge_answered(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """401 (MD5) from the PBX: Akashi retries with the route's credentials; the call bridges and records."""
    row, box = await call_pbx(
        b2bua, tmp_path, notice_wav, pbx(["MD5"], verify_md5=True), route_extra=route_auth()
    )
    assert row.status == "completed", row.extra
    assert row.bridged_at is not None and row.media_object_id
    assert row.agent_name == "佐藤 花子"
    assert "auth_refused" not in row.extra or not row.extra["auth_refused"]
    (sent,) = authorization_sent(box)
    assert f'username="{PBX_USER}"' in sent and "algorithm=MD5" in sent
    assert PBX_SECRET not in sent


async def test_pbx_sha256_preferred(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """SHA-256 and MD5 offered: the strongest (SHA-256) is answered, with a response the PBX can check."""
    row, box = await call_pbx(
        b2bua, tmp_path, notice_wav, pbx(["MD5", "SHA-256"]), route_extra=route_auth(realm=REALM)
    )
    assert row.status == "completed", row.extra
    assert row.bridged_at is not None and row.media_object_id
    (sent,) = authorization_sent(box)
    got = parse_challenge(sent)
    assert got["algorithm"] == "SHA-256" and got["username"] == PBX_USER
    ch = {"realm": REALM, "nonce": NONCE, "algorithm": "SHA-256", "qop": "auth"}
    want = digest_response(
        ch,
        method="INVITE",
        uri=got["uri"],
        username=PBX_USER,
        password=PBX_SECRET,
        nc=int(got["nc"], 16),
        cnonce=got["cnonce"],
    )
    assert got["response"] == want  # the PBX (the SIPp peer) would accept it


async def test_pbx_challenge_without_credentials_missed(
    b2bua: Start, tmp_path: Path, notice_wav: Path
) -> None:
    """No ring credentials: the call ends as before (missed, 480) with the leg's challenge noted."""
    row, box = await call_pbx(
        b2bua,
        tmp_path,
        notice_wav,
        pbx(["MD5"], answers=False),
        caller_xml=scenarios.caller(hangup="akashi", bye_reason="SIP;cause=480"),
    )
    assert row.status == "missed"
    assert row.extra["final_status"] == 480
    assert "no credentials" in row.extra["auth_refused"]
    assert authorization_sent(box) == []


async def test_realm_pin_refuses_other_realm(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """``ring_realm`` set to another realm: the challenge is not answered, nothing is sent."""
    row, box = await call_pbx(
        b2bua,
        tmp_path,
        notice_wav,
        pbx(["MD5"], answers=False),
        route_extra=route_auth(realm="other.example"),
        caller_xml=scenarios.caller(hangup="akashi", bye_reason="SIP;cause=480"),
    )
    assert row.status == "missed"
    assert "realm" in row.extra["auth_refused"]
    assert authorization_sent(box) == []


OTHER_ROUTE = """
[[sip.routes]]
match = "0312340000"
ring = ["sip:301@127.0.0.1:{other_port}"]
ring_timeout_s = 5
announcement = "default"
site = "tokyo"
"""


async def test_other_host_never_gets_the_credentials(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """A phone of another route (another host:port) that challenges gets no Authorization.

    The first route holds the PBX credentials; a call to the second route rings a second SIPp
    that challenges too: the leg fails with "no credentials" and no Authorization reaches it.
    """
    sipp = require_binary("sipp")
    other = Sipp(sipp, tmp_path, "other", pbx(["MD5", "SHA-256"], answers=False))
    row, _box = await call_pbx(
        b2bua,
        tmp_path,
        notice_wav,
        pbx(["MD5"], answers=False),  # never rung: the call is for the other route
        route_extra=route_auth(),
        extra=OTHER_ROUTE,
        dialled="0312340000",
        others=[other],
        caller_xml=scenarios.caller(hangup="akashi", bye_reason="SIP;cause=480"),
    )
    _box.kill()
    assert row.status == "missed"
    assert "no credentials" in row.extra["auth_refused"]
    assert authorization_sent(other) == []


# -- where the credentials may go (unit) -------------------------------------------------------


def _route(**kw: object) -> RouteSettings:
    base: dict[str, object] = {"match": "*", "ring": ["sip:201@pbx.example:5070", "sip:202@10.0.0.9"]}
    return RouteSettings.model_validate(base | kw)


def test_ring_credentials_bound_to_the_route_hosts() -> None:
    r = _route(ring_username="akashi", ring_password=PBX_SECRET, ring_realm=REALM)
    c = ring_credentials(r, "sip:201@pbx.example:5070")
    assert c is not None and c.host == "pbx.example:5070" and c.realm == REALM
    assert c.refusal("sip:201@pbx.example:5070") is None
    assert c.refusal("sip:201@pbx.example:5060") is not None
    assert ring_credentials(r, "sip:202@10.0.0.9:5060") is not None  # no port: 5060
    assert ring_credentials(r, "sip:201@pbx.example") is None  # another port
    assert ring_credentials(r, "sip:201@evil.example:5070") is None
    assert ring_credentials(_route(), "sip:201@pbx.example:5070") is None  # no ring_username
    assert PBX_SECRET not in repr(c)


def test_short_ring_password_refused_at_load() -> None:
    with pytest.raises(ValidationError, match="ring_password"):
        _route(ring_username="akashi", ring_password="short")
    assert _route(ring_username="akashi", ring_password="x" * 12).ring_password.get_secret_value()
