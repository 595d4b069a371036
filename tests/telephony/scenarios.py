"""SIPp scenarios used by the telephony tests (written to files by the fixtures)."""

from __future__ import annotations

SDP = """v=0
o=sipp 53655765 2353687637 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [rtpport] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
"""

CALLER_INVITE = (
    """
  <send retrans="500">
    <![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch];rport
From: "Customer" <sip:0901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:0901234567@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

"""
    + SDP
    + """
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
"""
)

ACK = """
  <send>
    <![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch];rport
From: "Customer" <sip:0901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
"""

CALLER_REQ = """
  <send retrans="500">
    <![CDATA[
{method} [next_url] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch];rport
From: "Customer" <sip:0901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} {method}
Contact: <sip:0901234567@[local_ip]:[local_port]>
Max-Forwards: 70
{body_headers}
{body}
    ]]>
  </send>
"""

OK_TO_REQUEST = """
  <send>
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

    ]]>
  </send>
"""


def hold_sdp(direction: str) -> str:
    """The caller's SDP with a direction attribute."""
    return SDP + f"a={direction}\n"


def caller(
    *,
    talk_ms: int = 3000,
    hangup: str = "caller",
    answered: bool = True,
    final: int = 200,
    reinvite: bool = False,
    bye_reason: str = "",
    bye_timeout_ms: int = 60000,
) -> str:
    """The customer: INVITE, then hang up after ``talk_ms`` (``hangup="caller"``) or wait for BYE
    (at most ``bye_timeout_ms``).

    ``bye_reason``: a regular expression the BYE's ``Reason`` header must match (the call fails if not).
    """
    parts = ['<?xml version="1.0" encoding="UTF-8"?>', '<scenario name="caller">', CALLER_INVITE]
    if final != 200:
        parts.append(f'  <recv response="{final}"/>')
        parts.append(ACK.replace("CSeq: 1 ACK", "CSeq: 1 ACK").replace("[branch]", "[branch-1]"))
        # the ACK of a non-2xx uses the INVITE's branch; SIPp's [branch-1] would be wrong here
        parts[-1] = parts[-1].replace("[branch-1]", "[branch]")
        parts.append("</scenario>")
        return "\n".join(parts)
    parts.append('  <recv response="200" rtd="true" rrs="true"/>')
    parts.append(ACK)
    if reinvite:
        for i, d in enumerate(("sendonly", "sendrecv")):
            parts.append(f'  <pause milliseconds="{talk_ms // 3}"/>')
            body = hold_sdp(d)
            parts.append(
                CALLER_REQ.format(
                    method="INVITE",
                    cseq=2 + i,
                    body_headers="Content-Type: application/sdp\nContent-Length: [len]\n",
                    body=body,
                )
            )
            parts.append('  <recv response="100" optional="true"/>')
            parts.append('  <recv response="200"/>')
            parts.append(ACK.replace("CSeq: 1 ACK", f"CSeq: {2 + i} ACK"))
        talk_ms = talk_ms // 3
    if hangup == "caller":
        parts.append(f'  <pause milliseconds="{talk_ms}"/>')
        parts.append(CALLER_REQ.format(method="BYE", cseq=10, body_headers="Content-Length: 0\n", body=""))
        parts.append('  <recv response="200"/>')
    elif bye_reason:
        parts.append(
            f'  <recv request="BYE" timeout="{bye_timeout_ms}"><action>'
            f'<ereg regexp="{bye_reason}" search_in="hdr" header="Reason:" check_it="true" assign_to="reason"/>'
            '<log message="reason [$reason]"/></action></recv>'
        )
        parts.append(OK_TO_REQUEST)
    else:
        parts.append(f'  <recv request="BYE" timeout="{bye_timeout_ms}"/>')
        parts.append(OK_TO_REQUEST)
    parts.append("</scenario>")
    return "\n".join(parts)


def caller_cancel(cancel_after_ms: int) -> str:
    """The customer gives up before anybody answers: CANCEL, then 487."""
    cancel = """
  <send>
    <![CDATA[
CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch-4];rport
From: "Customer" <sip:0901234567@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
"""
    # SIPp's [branch] changes per message; [branch-N] is the branch of the message N elements
    # before: CANCEL and the ACK of the 487 must carry the INVITE's (element 0)
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="cancel">',
            CALLER_INVITE.replace('<recv response="180" optional="true"/>', '<recv response="180"/>'),
            f'  <pause milliseconds="{cancel_after_ms}"/>',
            cancel,
            '  <recv response="200"/>',
            '  <recv response="487"/>',
            ACK.replace("[branch]", "[branch-7]"),
            "</scenario>",
        ]
    )


OP_RINGING = """
  <send>
    <![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Content-Length: 0

    ]]>
  </send>
"""

OP_OK = (
    """
  <send retrans="500">
    <![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

"""
    + SDP
    + """
    ]]>
  </send>
"""
)


def operator(
    *,
    answer: str = "answer",
    hangup: str = "caller",
    talk_ms: int = 3000,
    reinvites: int = 0,
    ring_ms: int = 300,
    bye_timeout_ms: int = 60000,
) -> str:
    """The operator phone: ``answer`` ("answer", "busy", "noanswer"); who hangs up (the caller's BYE is
    awaited at most ``bye_timeout_ms``)."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<scenario name="operator">',
        """  <recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="rfrom"/>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="lto"/>
    </action>
  </recv>"""
        if hangup == "operator"
        else '  <recv request="INVITE" crlf="true" rrs="true"/>',
    ]
    if answer == "busy":
        parts.append(OP_RINGING.replace("180 Ringing", "486 Busy Here"))
        parts.append('  <recv request="ACK"/>')
        parts.append("</scenario>")
        return "\n".join(parts)
    parts.append(OP_RINGING)
    if answer == "noanswer":
        parts.append('  <recv request="CANCEL" timeout="60000"/>')
        parts.append(OK_TO_REQUEST)
        parts.append(
            OP_RINGING.replace("180 Ringing", "487 Request Terminated").replace(
                "[last_CSeq:]", "CSeq: 1 INVITE"
            )
        )
        parts.append('  <recv request="ACK"/>')
        parts.append("</scenario>")
        return "\n".join(parts)
    parts.append(f'  <pause milliseconds="{ring_ms}"/>')
    parts.append(OP_OK)
    parts.append('  <recv request="ACK" crlf="true"/>')
    for i in range(reinvites):
        answer_dir = "recvonly" if i % 2 == 0 else "sendrecv"
        parts.append('  <recv request="INVITE"/>')
        parts.append(
            OP_OK.replace(";tag=[pid]SIPpTag01[call_number]", "").replace(
                "a=ptime:20", f"a=ptime:20\na={answer_dir}"
            )
        )
        parts.append('  <recv request="ACK"/>')
    if hangup == "operator":
        parts.append(f'  <pause milliseconds="{talk_ms}"/>')
        parts.append(
            """  <send retrans="500">
    <![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/UDP [local_ip]:[local_port];branch=[branch];rport
From: [$lto];tag=[pid]SIPpTag01[call_number]
To: [$rfrom]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>"""
        )
    else:
        parts.append(f'  <recv request="BYE" timeout="{bye_timeout_ms}"/>')
        parts.append(OK_TO_REQUEST)
    parts.append("</scenario>")
    return "\n".join(parts)
