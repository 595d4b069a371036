"""The media side of a call's two legs: what Akashi offers the phones, what it takes from their answers.

Kept out of :mod:`akashi.telephony.calls` (call control): the SDP of each leg, its address rules
(:class:`~akashi.telephony.media.RtpEndpoint`) and its SRTP keys (:mod:`akashi.telephony.srtp`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from akashi.errors import ProtocolError
from akashi.telephony.sdp import AudioSession, Crypto, answer_direction, parse_sdp, sdp_warning
from akashi.telephony.sip.build import response_to
from akashi.telephony.srtp import (
    NO_SUITE_WARNING,
    PLAIN_ANSWER,
    LegCrypto,
    SrtpRefused,
    answer_crypto,
    new_crypto,
    sessions,
    take_answer,
)

if TYPE_CHECKING:
    from akashi.telephony.call.view import CallView
    from akashi.telephony.legs import OutLeg
    from akashi.telephony.media import RtpEndpoint
    from akashi.telephony.sip.message import Request

#: the Warning of a 488 for an IPv6 offer when Akashi has no IPv6 address (sip.ipv6_address)
IPV6_WARNING = '399 akashi "IPv6 の音声には対応していません (IPv6 media is not supported here)"'

#: the m= transports Akashi answers (DTLS-SRTP, AVPF and the like get 488)
PROFILES = ("RTP/AVP", "RTP/SAVP")
#: the Warning of a 488 for a transport Akashi does not speak
PROFILE_WARNING = '399 akashi "RTP/AVP か RTP/SAVP (SDES) が必要です (need RTP/AVP or RTP/SAVP with SDES)"'


def refuse_offer(offer: AudioSession) -> str | None:
    """The Warning of a 488 for an offer whose transport or SRTP Akashi cannot answer, else None."""
    if offer.profile not in PROFILES:
        return PROFILE_WARNING
    if offer.srtp and not offer.crypto:
        return NO_SUITE_WARNING
    return None


def caller_srtp(call: CallView, offer: AudioSession) -> None:
    """SRTP toward the caller when it offered it: its key to unprotect, a fresh one of ours to protect."""
    assert call.a_rtp is not None
    keys = answer_crypto(offer) if offer.srtp else None
    call.a_crypto = keys
    if keys is not None:
        call.a_rtp.srtp_tx, call.a_rtp.srtp_rx = sessions(keys)


def our_crypto(call: CallView) -> tuple[str, list[Crypto]]:
    """The m= transport and ``a=crypto`` of Akashi's SDP toward the caller."""
    keys = call.a_crypto
    return ("RTP/SAVP", [keys.local]) if keys is not None else ("RTP/AVP", [])


def rekey(ep: RtpEndpoint, keys: LegCrypto | None, sdp: AudioSession) -> str | None:
    """A new SDP from a leg (re-INVITE, UPDATE): take its new SRTP key; a Warning when it drops SRTP."""
    if keys is None:
        return None if not sdp.srtp else NO_SUITE_WARNING  # SRTP cannot start mid-call
    if not sdp.srtp or not sdp.crypto:
        return NO_SUITE_WARNING  # nor stop: the media would go out in the clear
    theirs = sdp.crypto[0]
    if keys.remote is None or theirs.key != keys.remote.key:
        keys.remote = theirs
        _tx, ep.srtp_rx = sessions(keys)
    return None


def leg_offer(call: CallView) -> bytes:
    """Akashi's offer to the phones (or the trunk): the call's codecs; SRTP when the route or trunk asks."""
    assert call.b_rtp is not None
    if call.b_srtp and call.b_crypto is None:
        call.b_crypto = LegCrypto(new_crypto())
    keys = call.b_crypto
    return AudioSession(
        call.host.media_address,
        call.b_rtp.port,
        call.answer_codecs(call.offer),
        "sendrecv",
        20,
        call.offer.origin_user,
        call.offer.session_id,
        call.offer.version,
        "RTP/SAVP" if keys is not None else "RTP/AVP",
        [keys.local] if keys is not None else [],
    ).to_bytes()


def take_leg_answer(call: CallView, leg: OutLeg) -> AudioSession | None:
    """The answered leg's SDP: where its media comes from, its codecs and SRTP keys.

    Raises :class:`~akashi.telephony.srtp.SrtpRefused` (the call then fails and both legs are hung
    up) when SRTP was asked of the leg and its answer has none; None for an answer without usable SDP.
    """
    b = call.b_rtp
    assert b is not None and leg.answer is not None
    if leg.answer.source is not None:
        b.signal_ip = leg.answer.source[0]
    try:
        ans: AudioSession | None = parse_sdp(leg.answer.body)
    except ProtocolError:
        ans = None
    if call.b_crypto is not None and b.srtp_tx is None:
        try:
            if ans is None:
                raise SrtpRefused(call.b_side)
            take_answer(call.b_crypto, ans, call.b_side)
        except SrtpRefused:
            call.fail(PLAIN_ANSWER, leg=leg.target)
            raise
        b.srtp_tx, b.srtp_rx = sessions(call.b_crypto)
    elif (
        call.b_crypto is not None
        and ans is not None
        and call.b_side == "caller"  # keys taken from the trunk's 183 (early media): its 200 may
        and rekey(b, call.b_crypto, ans) is not None  # change the key, never drop SRTP
    ):
        call.fail(PLAIN_ANSWER, leg=leg.target)
        raise SrtpRefused(call.b_side)
    if ans is None:
        b.set_remote(None)
    else:
        b.set_remote((ans.address, ans.port) if b.reaches(ans.address) else None, ans.codecs)
    return ans


def answer_before_bridge(call: CallView, req: Request, leg: OutLeg | None) -> None:
    """A re-INVITE or UPDATE of the caller before it is bridged (hold, refresh): answered by Akashi.

    A new SDP moves the caller's media (its address, codecs, SRTP key); one Akashi cannot use gets
    488 with a Warning and changes nothing.
    """
    sip = call.host.sip
    a = call.a_rtp
    assert a is not None
    try:
        o = parse_sdp(req.body) if req.body else call.offer
    except ProtocolError as exc:
        sip.respond(req, response_to(req, 488, extra=[("Warning", sdp_warning(exc.en))]))
        return
    if req.body:
        refused = IPV6_WARNING if not a.reaches(o.address) else rekey(a, call.a_crypto, o)
        if refused is not None:
            sip.respond(req, response_to(req, 488, extra=[("Warning", refused)]))
            return
        a.set_remote((o.address, o.port), call.answer_codecs(o))
    sdp = call.our_sdp(a.port, o, answer_direction(o.direction))
    hdrs = call.timers.sessions.answering(req, True, leg, sdp)
    contact = call.host.contact
    sip.respond(
        req, response_to(req, 200, contact=contact, body=sdp, content_type="application/sdp", extra=hdrs)
    )
