"""SIPp scenarios for 100rel/PRACK (RFC 3262) and session timers (RFC 4028)."""

from __future__ import annotations

from tests.telephony.scenarios import ACK, CALLER_INVITE, CALLER_REQ, OK_TO_REQUEST, SDP

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<scenario name="{name}">'


#: SIPp refuses a variable set but never read: the checks all set ``chk``, read once at the end
END = '  <nop><action><log message="[$chk]"/></action></nop>\n</scenario>'


def _check(header: str, regexp: str, var: str = "chk") -> str:
    """An ereg that fails the scenario when ``header`` does not match ``regexp``."""
    del var
    return f'<ereg regexp="{regexp}" search_in="hdr" header="{header}:" check_it="true" assign_to="chk"/>'


def invite(headers: str, *, recv_180: bool = False) -> str:
    """The customer's INVITE with extra header lines (the optional 180 left out when asked)."""
    out = CALLER_INVITE.replace("Max-Forwards: 70\n", "Max-Forwards: 70\n" + headers, 1)
    if not recv_180:
        out = out.replace('  <recv response="180" optional="true"/>\n', "")
    return out


def _req(method: str, cseq: int, headers: str = "", body: str = "") -> str:
    body_headers = headers + (
        "Content-Type: application/sdp\nContent-Length: [len]\n" if body else "Content-Length: 0\n"
    )
    return CALLER_REQ.format(method=method, cseq=cseq, body_headers=body_headers, body=body)


def _bye(cseq: int = 10) -> str:
    return _req("BYE", cseq) + '  <recv response="200"/>'


def _final_ack() -> str:
    # the ACK of a non-2xx final (its branch does not matter to Akashi: the call is gone)
    return ACK


def caller_prack(*, prack: bool = True, talk_ms: int = 1500) -> str:
    """``Require: 100rel``: the 180 must come with RSeq; PRACK it, then the 200 of the INVITE.

    Without ``prack`` the caller never PRACKs: the 180 is retransmitted, then the INVITE gets 504.
    """
    parts = [
        _HEAD.format(name="caller-prack"),
        invite("Require: 100rel\nSupported: 100rel\n"),
        f"""  <recv response="180" rrs="true">
    <action>
      <ereg regexp="[0-9]+" search_in="hdr" header="RSeq:" assign_to="rseq"/>
      {_check("Require", "100rel", "r1")}
      {_check("Supported", "100rel", "r2")}
    </action>
  </recv>""",
    ]
    if not prack:
        parts[-1] = parts[-1].replace('assign_to="rseq"', 'assign_to="chk"')
        parts += ['  <recv response="504" timeout="30000"/>', _final_ack(), END]
        return "\n".join(parts)
    parts += [
        _req("PRACK", 2, "RAck: [$rseq] 1 INVITE\n"),
        f"""  <recv response="200"><action>{_check("CSeq", "PRACK", "c1")}</action></recv>""",
        f"""  <recv response="200" rtd="true" rrs="true"><action>{_check("CSeq", "INVITE", "c2")}</action></recv>""",
        ACK,
        f'  <pause milliseconds="{talk_ms}"/>',
        _bye(),
        END,
    ]
    return "\n".join(parts)


def operator_prack() -> str:
    """An operator phone whose 180 is reliable: it answers only once the PRACK came."""
    return "\n".join(
        [
            _HEAD.format(name="operator-prack"),
            f"""  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="Via:" assign_to="ivia"/>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="ifrom"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="ito"/>
      {_check("Supported", "100rel", "s1")}
      {_check("Session-Expires", "[0-9]+", "s2")}
    </action>
  </recv>
  <send>
    <![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Require: 100rel
RSeq: 7
Content-Length: 0

    ]]>
  </send>
  <recv request="PRACK"><action>{_check("RAck", "7 1 INVITE", "s3")}</action></recv>""",
            OK_TO_REQUEST,
            '  <pause milliseconds="300"/>',
            """  <send retrans="500">
    <![CDATA[
SIP/2.0 200 OK
Via: [$ivia]
From: [$ifrom]
To: [$ito];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: 1 INVITE
Contact: <sip:[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

"""
            + SDP
            + """
    ]]>
  </send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE" timeout="60000"/>""",
            OK_TO_REQUEST,
            END,
        ]
    )


def caller_timer(
    interval: int, *, refreshes: int = 0, every_ms: int = 0, refresher: str = "uac", allow_update: bool = True
) -> str:
    """A caller asking for a session timer.

    ``refresher="uac"``: it refreshes ``refreshes`` times with UPDATE every ``every_ms``, then hangs
    up; with no refreshes it waits for Akashi's BYE. ``refresher="uas"``: Akashi must refresh, by
    UPDATE (``allow_update``) or by a re-INVITE, ``refreshes`` times; then the caller hangs up.
    """
    allow = "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS" + (", UPDATE" if allow_update else "") + "\n"
    parts = [
        _HEAD.format(name="caller-timer"),
        invite(
            f"Supported: timer\nRequire: timer\nSession-Expires: {interval};refresher={refresher}\n{allow}"
        ),
        f"""  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true">
    <action>
      {_check("Session-Expires", f"^ *{interval};refresher={refresher}", "se0")}
      {_check("Require", "timer", "rq0")}
    </action>
  </recv>""",
        ACK,
    ]
    if refresher == "uac" and not refreshes:
        parts += ['  <recv request="BYE" timeout="30000"/>', OK_TO_REQUEST, END]
        return "\n".join(parts)
    for i in range(refreshes):
        if refresher == "uac":
            parts += [
                f'  <pause milliseconds="{every_ms}"/>',
                _req("UPDATE", 2 + i, f"Supported: timer\nSession-Expires: {interval};refresher=uac\n"),
                f"""  <recv response="200"><action>{_check("Session-Expires", f"^ *{interval}", f"se{i + 1}")}</action></recv>""",
            ]
        else:
            method = "UPDATE" if allow_update else "INVITE"
            ok = OK_TO_REQUEST.replace(
                "Content-Length: 0",
                f"Session-Expires: {interval};refresher=uac\nRequire: timer\nContent-Length: 0",
            )
            if method == "INVITE":
                ok = ok.replace(
                    "Content-Length: 0",
                    "Contact: <sip:0901234567@[local_ip]:[local_port]>\nContent-Type: application/sdp\n"
                    "Content-Length: [len]\n\n" + SDP.rstrip("\n"),
                )
            parts += [
                f"""  <recv request="{method}" timeout="{interval * 1000}">
    <action>
      {_check("Session-Expires", f"^ *{interval};refresher=uac", f"se{i + 1}")}
      {'<ereg regexp="o=akashi" search_in="body" check_it="true" assign_to="chk"/>' if method == "INVITE" else ""}
    </action>
  </recv>""",
                ok,
            ]
            if method == "INVITE":
                parts.append('  <recv request="ACK"/>')
    parts += ['  <pause milliseconds="300"/>', _bye(), END]
    return "\n".join(parts)


def caller_refresh_fails(interval: int, status: int) -> str:
    """A caller that makes Akashi the refresher, then answers Akashi's UPDATE refresh with ``status``.

    408 or 481 means the session is gone (RFC 4028 10): Akashi must hang up; any BYE it still sends
    to this caller is answered.
    """
    refuse = OK_TO_REQUEST.replace("SIP/2.0 200 OK", f"SIP/2.0 {status} Refused")
    return "\n".join(
        [
            _HEAD.format(name="caller-refresh-fails"),
            invite(
                f"Supported: timer\nSession-Expires: {interval};refresher=uas\n"
                "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE\n"
            ),
            '  <recv response="180" optional="true"/>\n  <recv response="200" rtd="true" rrs="true"/>',
            ACK,
            f'  <recv request="UPDATE" timeout="{interval * 1000}"/>',
            refuse,
            '  <recv request="BYE" timeout="5000"/>',
            OK_TO_REQUEST,
            '  <nop><action><assign assign_to="chk" value="1"/></action></nop>',
            END,
        ]
    )


def operator_timer(interval: int, refresher: str = "uac") -> str:
    """An operator phone that answers with ``Session-Expires: interval;refresher=...``.

    ``uac``: Akashi must refresh this leg (one UPDATE is expected). ``uas``: the phone says it will
    refresh but never does, so Akashi must end the call when the interval runs out.
    """
    from tests.telephony.scenarios import OP_OK, OP_RINGING

    ok = OP_OK.replace(
        "Content-Type: application/sdp",
        f"Session-Expires: {interval};refresher={refresher}\nRequire: timer\n"
        "Allow: INVITE, ACK, BYE, CANCEL, UPDATE\nContent-Type: application/sdp",
    )
    refresh = [
        f"""  <recv request="UPDATE" timeout="{interval * 1000}">
    <action>{_check("Session-Expires", f"^ *{interval};refresher=uac", "s3")}</action>
  </recv>""",
        OK_TO_REQUEST.replace(
            "Content-Length: 0",
            f"Session-Expires: {interval};refresher=uac\nRequire: timer\nContent-Length: 0",
        ),
    ]
    return "\n".join(
        [
            _HEAD.format(name="operator-timer"),
            f"""  <recv request="INVITE" crlf="true">
    <action>{_check("Session-Expires", "[0-9]+", "s1")}{_check("Supported", "timer", "s2")}</action>
  </recv>""",
            OP_RINGING,
            ok,
            '  <recv request="ACK" crlf="true"/>',
            *(refresh if refresher == "uac" else []),
            '  <recv request="BYE" timeout="60000"/>',
            OK_TO_REQUEST,
            END,
        ]
    )


def caller_refused(headers: str, status: int, check: str = "") -> str:
    """An INVITE refused at once with ``status`` (``check``: an ereg action on the response)."""
    action = f"<action>{check}</action>" if check else ""
    return "\n".join(
        [
            _HEAD.format(name="caller-refused"),
            invite(headers),
            f'  <recv response="{status}">{action}</recv>',
            _final_ack(),
            END,
        ]
    )


def operator_422(min_se: int) -> str:
    """An operator phone that first refuses Akashi's interval (422, Min-SE), then answers the retry."""
    from tests.telephony.scenarios import OP_RINGING, operator

    first = '  <recv request="INVITE" crlf="true" rrs="true"/>'
    rest = operator(hangup="caller").replace("</scenario>", END)
    assert first in rest
    refuse = OP_RINGING.replace("180 Ringing", "422 Session Interval Too Small").replace(
        "Content-Length: 0", f"Min-SE: {min_se}\nContent-Length: 0"
    )
    retry = f"""  <recv request="INVITE" crlf="true" rrs="true">
    <action>{_check("Session-Expires", f"^ *{min_se}", "s1")}{_check("CSeq", "^ *2 INVITE", "s2")}</action>
  </recv>"""
    return rest.replace(first, "\n".join([first, refuse, '  <recv request="ACK"/>', retry]), 1)
