"""Requests passed through a bridged call: re-INVITE, UPDATE and INFO go to the other side, answers come back."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from akashi.errors import ProtocolError
from akashi.telephony.dialog import rewrite_sdp
from akashi.telephony.legmedia import rekey
from akashi.telephony.sdp import parse_sdp, sdp_warning
from akashi.telephony.sip.build import response_to
from akashi.telephony.sip.message import Request, Response
from akashi.telephony.srtp import rewrite_crypto

if TYPE_CHECKING:
    from akashi.telephony.call.view import CallView

#: the Warning of a 488 for a re-INVITE whose media moves to the other IP version
IPV6_WARNING = (
    '399 akashi "IP のバージョンは通話中に変えられません (media cannot change IP version mid-call)"'
)


def forward(call: CallView, req: Request, from_caller: bool) -> None:
    """Pass a re-INVITE / UPDATE / INFO to the other side, and its answer back."""
    assert call.leg is not None and call.a_rtp is not None and call.b_rtp is not None
    src_rtp, dst_rtp = (call.a_rtp, call.b_rtp) if from_caller else (call.b_rtp, call.a_rtp)
    dst_dialog = call.leg.dialog if from_caller else call.a
    # SRTP keys are per leg: what one leg sends in a=crypto never reaches the other
    src_keys, dst_keys = (call.a_crypto, call.b_crypto) if from_caller else (call.b_crypto, call.a_crypto)
    body = req.body
    ctype = req.get("Content-Type")
    if body and ctype and "sdp" in ctype:
        try:
            sdp = parse_sdp(body)
        except ProtocolError as exc:
            call.host.sip.respond(req, response_to(req, 488, extra=[("Warning", sdp_warning(exc.en))]))
            return
        if not src_rtp.reaches(sdp.address):
            # an IPv4 leg moving to IPv6 (or back): its port cannot follow
            call.host.sip.respond(req, response_to(req, 488, extra=[("Warning", IPV6_WARNING)]))
            return
        refused = rekey(src_rtp, src_keys, sdp)
        if refused is not None:
            call.host.sip.respond(req, response_to(req, 488, extra=[("Warning", refused)]))
            return
        # a new SDP: media from its address, and a new SSRC is welcome (RFC 3550 8.2)
        src_rtp.set_remote((sdp.address, sdp.port), sdp.codecs)
        call.on_hold = sdp.direction != "sendrecv"
        body = rewrite_sdp(body, call.media_address(dst_rtp), dst_rtp.port)
        body = rewrite_crypto(body, dst_keys.local if dst_keys is not None else None)
    # the request refreshes the other leg's session timer too (each leg keeps its own)
    timer_hdrs = call.timers.sessions.forwarding(not from_caller, body) if req.method != "INFO" else []
    out = dst_dialog.new_request(
        req.method, body=body, content_type=ctype if body else None, extra=timer_hdrs
    )

    def on_resp(resp: Response) -> None:
        rbody = resp.body
        rtype = resp.get("Content-Type")
        if rbody and rtype and "sdp" in rtype and 200 <= resp.status < 300:
            with contextlib.suppress(ProtocolError):
                ans = parse_sdp(rbody)
                if dst_rtp.reaches(ans.address) and rekey(dst_rtp, dst_keys, ans) is None:
                    dst_rtp.set_remote((ans.address, ans.port), ans.codecs)
            call.sdp_version += 1
            origin = ("akashi", call.sdp_session, call.sdp_version) if from_caller else None
            rbody = rewrite_sdp(rbody, call.media_address(src_rtp), src_rtp.port, origin)
            rbody = rewrite_crypto(rbody, src_keys.local if src_keys is not None else None)
        if resp.status < 200:
            return
        if req.method == "INVITE" and 200 <= resp.status < 300:
            ack = dst_dialog.new_request("ACK", cseq=out.cseq[0])
            call.host.sip.send(ack, dst_dialog.dest)
        extra = None
        if req.method != "INFO" and 200 <= resp.status < 300:
            call.timers.sessions.forwarded(not from_caller, resp)
            extra = call.timers.sessions.answering(
                req, from_caller, None, rbody if rbody and rtype and "sdp" in rtype else b""
            )
        call.host.sip.respond(
            req,
            response_to(
                req,
                resp.status,
                resp.reason,
                contact=call.host.contact if req.method == "INVITE" else None,
                body=rbody,
                content_type=rtype if rbody else None,
                extra=extra,
            ),
        )

    call.host.sip.request(out, dst_dialog.dest, on_resp)
