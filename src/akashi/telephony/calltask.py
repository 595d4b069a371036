"""The task of one call: the steps it takes where its machine is, from the offer to the store.

:class:`CallTask` runs a :class:`~akashi.telephony.calls.Call` (the call's state, its answers and
hang-ups, what requests reach): the offer is checked and the media ports and spool opened, then
each step is taken where the call's :class:`~akashi.telephony.call.machine.CallMachine` is
(Noticing, Ringing, Bridged), never from a flag of its own, and the call is finished and handed to
the service's ``call_finished`` whatever state it reached. The direction policy decides who hears
the notice and when: inbound, the caller is answered for it before the phones ring; outbound, the
customer hears it once the trunk answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from typing import Any

from akashi.codecs.encode import encodable_names
from akashi.errors import ProtocolError
from akashi.telephony.call.facts import CodecFacts
from akashi.telephony.call.host import ALLOW
from akashi.telephony.call.machine import LegAnswered
from akashi.telephony.call.state import CallState
from akashi.telephony.calls import Call
from akashi.telephony.guard import start_live
from akashi.telephony.identity import answered_by
from akashi.telephony.legmedia import IPV6_WARNING, caller_srtp, refuse_offer, take_leg_answer
from akashi.telephony.legs import LegState, OutLeg
from akashi.telephony.media import NoticePlayer, RtpEndpoint
from akashi.telephony.outbound import answered_codec, relay_early
from akashi.telephony.recorder import now
from akashi.telephony.ringing import ring
from akashi.telephony.sdp import Codec, is_g711, late_offer, parse_sdp, sdp_warning
from akashi.telephony.sip.message import Response
from akashi.telephony.trunks import credentials

log = logging.getLogger(__name__)


class CallTask:
    """Runs one call from its INVITE to the store (one task per call, owned by the service)."""

    def __init__(self, call: Call) -> None:
        self.call = call

    async def _until_end(self, aw: Awaitable[Any]) -> bool:
        """Run ``aw`` unless the call ends first; True when it completed."""
        call = self.call
        task = asyncio.ensure_future(aw)
        waiter = asyncio.ensure_future(call.ended.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if task.done():
            task.result()
            return True
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False

    async def run(self) -> None:
        """The whole life of the call."""
        call = self.call
        try:
            await self._run()
        except Exception as exc:
            # whatever broke, no leg is left hanging: both are hung up and the call is stored as failed
            log.exception("call %s failed", call.invite.call_id)
            call.fail("error", error=f"{type(exc).__name__}: {exc}"[:300])
            call.end("akashi")
            with contextlib.suppress(Exception):
                if call.answered:
                    call.bye_caller(reason=500)
                else:
                    call.respond(500)
            for leg in call.legs:
                if leg.state is LegState.ANSWERED:
                    with contextlib.suppress(Exception):
                        leg.bye()
        finally:
            await self._cleanup()

    async def _prepare(self) -> bool:
        """Check the offer, open both media ports and the spool; False when the call was refused."""
        call = self.call
        host = call.host
        try:
            offer = parse_sdp(call.invite.body) if call.invite.body else late_offer()
        except ProtocolError as exc:
            return self._refuse_offer(sdp_warning(exc.en), "Bad SDP")
        ipv6 = ":" in offer.address
        if ipv6 and not host.ports.has_ipv6:
            # refused before answering: a port that cannot reach the phone would leave it in silence
            return self._refuse_offer(IPV6_WARNING)
        refused = refuse_offer(offer)  # a transport or SRTP suite Akashi does not speak
        if refused is not None:
            return self._refuse_offer(refused)
        call.ann = host.notices.settings(call.route.announcement)
        call.notice_codec = call.needs_notice(call.ann)
        codecs = call.answer_codecs(offer)
        if not codecs:
            warning = '399 akashi "G.711 (PCMU/PCMA) is required"'
            if call.notice_codec:
                need = ", ".join(encodable_names())
                warning = f'399 akashi "録音の案内には {need} のいずれかが必要です (the notice needs one of {need})"'
            return self._refuse_offer(warning)
        call.offer = offer
        call.codec = codecs[0]
        call.meta.codec = call.codec.name
        call.meta.payload_type = call.codec.pt
        if not is_g711(call.codec):
            c = call.codec
            call.meta.extra.codec = CodecFacts(name=c.name, rate=c.rate, fmtp=c.fmtp, channels=c.channels)
        call.a_rtp = await host.ports.open(ipv6=ipv6)
        call.b_rtp = await host.ports.open(near=call.a_rtp)  # one process relays between the two
        call.a_rtp.label = f"{call.invite.call_id} {call.a_side}"
        call.b_rtp.label = f"{call.invite.call_id} {call.b_side}"
        call.a_rtp.signal_ip = call.invite.source[0] if call.invite.source else None
        call.a_rtp.set_remote((offer.address, offer.port) if offer.port else None, codecs)
        caller_srtp(call, offer)
        call.a_rtp.forward = False
        call.spool = host.open_spool(call.meta)
        customer = call.customer_rtp
        assert customer is not None
        customer.record_in = call.spool.caller
        customer.record_out = call.spool.heard
        return True

    def _refuse_offer(self, warning: str, reason: str | None = None) -> bool:
        """488 to an offer Akashi cannot take (with the Warning saying why): the call ends."""
        call = self.call
        call.respond(488, reason, extra=[("Warning", warning)])
        call.runner.execute(call.machine.on_offer(acceptable=False, notice=False))
        return False

    async def _play_notice(self, to: RtpEndpoint, codec: Codec) -> bool:
        """Play the notice to the customer in ``codec``; False when the call ended."""
        call = self.call
        audio = await call.host.notices.audio(call.route.announcement, codec)
        # analysis checks the notice played for all of it
        call.meta.extra.notice_duration_s = audio.duration_s
        call.meta.notice_started_at = now()
        played = await self._until_end(NoticePlayer(to, audio.payloads, codec.pt, audio.step).play())
        call.meta.notice_ended_at = now()
        call.save()
        return played

    async def _run(self) -> None:
        """The call's steps, each taken where its machine is: Noticing, Ringing, Bridged (or over)."""
        call = self.call
        if not await self._prepare():
            return
        assert call.a_rtp is not None and call.b_rtp is not None
        notice = call.notice_codec
        if call.out is None:
            call.meta.notice_mode = call.ann.mode if call.ann is not None else ""
            call.meta.extra.announcement = call.route.announcement
        else:
            call.meta.notice_mode = "automatic" if notice else ""
        call.runner.execute(call.machine.on_offer(acceptable=True, notice=notice))  # Noticing, or Ringing
        codec = call.codec  # the customer's codec as its side answered it (outbound: the trunk's pt)
        leg: OutLeg | None = None
        try:
            while True:
                if call.at(CallState.NOTICING):
                    if not await self._notice(codec):
                        return
                    call.runner.execute(call.machine.on_media_event("notice_done"))  # Ringing, or Bridged
                elif call.at(CallState.RINGING) and leg is None:
                    leg = await self._ring()
                    if leg is None or call.over:
                        return  # nobody answered (the caller was told), or the call ended meanwhile
                    codec = self._leg_answered(leg)
                    call.runner.execute(call.machine.on_response(LegAnswered()))  # Bridged, or Noticing
                elif call.at(CallState.BRIDGED) and leg is not None:
                    self._bridge(leg)
                    leg = None  # bridged: the hang-up of either side is the machine's now
                    await self._watch_media()
                    return
                else:
                    return  # hung up (or cancelled) while the media was prepared or the notice played
        finally:
            if leg is not None and leg.state is LegState.ANSWERED:
                leg.bye()  # answered as the call ended (a caller that never ACKed...): never bridged

    async def _notice(self, codec: Codec) -> bool:
        """The notice to the customer: inbound, the caller is answered for it first (and a late offer's
        answer awaited); outbound, the customer hears it once the trunk answered. False: the call ended."""
        call = self.call
        assert call.a_rtp is not None and call.b_rtp is not None
        if call.direction.notice_before_ringing:
            self._answer_caller(call.answer_sdp())
            if call.late_answer is not None and not await self._until_end(call.late_answer.wait()):
                return False
        customer = call.customer_rtp
        assert customer is not None
        return await self._play_notice(customer, codec)

    async def _ring(self) -> OutLeg | None:
        """Ring the phones (or the trunk); the answered leg, or None (the caller has been told why)."""
        call = self.call
        assert call.a_rtp is not None
        route = call.route
        if call.out is None and not call.answered:
            call.respond(180)  # outbound: the trunk's own 18x reach the agent's phone (relay_early)
        ringback = None
        if call.answered and call.host.settings.ringback_after_notice:
            # the caller was answered for the notice: let them hear that phones are ringing
            tone = await call.host.notices.ringback(call.codec)
            player = NoticePlayer(call.a_rtp, tone.payloads, call.codec.pt, tone.step, repeat=True)
            ringback = asyncio.create_task(player.play())
        out = call.out
        # the trunk's credentials are sent only to the trunk's host (and realm)
        auth = credentials(out.trunk) if out is not None else None
        on_early = self._early if out is not None else None
        try:
            leg = await ring(
                call, list(route.ring), route.strategy, float(route.ring_timeout_s), auth, on_early, route
            )
        finally:
            if ringback is not None:
                ringback.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ringback
        if leg is None and call.message_due == "unavailable":  # the machine's answer to ringing that failed
            await self._say_unavailable()
        return leg

    def _early(self, leg: OutLeg, resp: Response) -> None:
        """A trunk's 18x: relayed to the agent's phone, with its early media (outbound calls)."""
        call = self.call
        assert call.out is not None
        relay_early(call, call.out, resp)

    def _leg_answered(self, leg: OutLeg) -> Codec:
        """A rung leg answered: its media taken (SRTP keys, address: :class:`SrtpRefused` fails the
        call before the caller is answered); the customer's codec as its side answered it."""
        call = self.call
        assert call.b_rtp is not None and leg.answer is not None
        if call.out is None:
            return call.codec  # the operator's answer is taken as the call bridges
        call.b_rtp.peer = None  # early media ends with the answer: the bridge (after any notice) relays
        call.meta.answered_at = now()  # the customer answered: the recording starts here
        ans = take_leg_answer(call, leg)  # its address, codecs and SRTP keys (SrtpRefused: the call fails)
        call.save()
        return answered_codec(ans, call.codec) if ans is not None else call.codec

    async def _say_unavailable(self) -> None:
        """Nobody answered after the notice: tell the caller, then hang up with the reason (RFC 3326).

        The caller was answered to hear the notice, so no final error response can reach it any more;
        the message it hears takes that place, and the BYE's ``Reason`` carries the status the phones gave.
        """
        call = self.call
        assert call.a_rtp is not None
        name = call.route.unavailable_announcement
        if name:
            audio = await call.host.notices.audio(name, call.codec)
            call.meta.extra.unavailable_started_at = now()
            await self._until_end(NoticePlayer(call.a_rtp, audio.payloads, call.codec.pt, audio.step).play())
        # BYE with ringing's status as its Reason, unless the call ended meanwhile
        call.runner.execute(call.machine.on_media_event("notice_done"))

    def _answer_caller(self, sdp: bytes) -> None:
        """The 2xx to the caller; its answer time is the customer's (already set outbound)."""
        call = self.call
        call.respond(
            200,
            contact=call.host.contact,
            body=sdp,
            content_type="application/sdp",
            extra=[("Allow", ALLOW)],
        )
        call.machine.answer_sent()
        if call.meta.answered_at is None:
            call.meta.answered_at = now()
        call.save()

    def _bridge(self, leg: OutLeg) -> None:
        call = self.call
        assert call.a_rtp is not None and call.b_rtp is not None and leg.answer is not None
        call.leg = leg
        if call.out is None:
            take_leg_answer(call, leg)  # its address, codecs and SRTP keys (SrtpRefused: the call fails)
        if not call.answered:
            self._answer_caller(call.answer_sdp())
        if call.out is None:
            # a ring group's number is answered on one phone: the PBX names it in the 200's PAI
            user, pbx_name = answered_by(leg.user, leg.answer)
            agent = call.host.agent_for(user)
            call.meta.agent_sip_user = agent.sip_user if agent is not None else user
            call.meta.agent = agent.name if agent is not None else pbx_name
            if agent is not None:
                call.meta.site = agent.site or call.meta.site
        call.meta.call_ids.append(leg.dialog.call_id)
        call.a_rtp.peer = call.b_rtp
        call.b_rtp.peer = call.a_rtp
        call.a_rtp.forward = True
        call.meta.bridged_at = now()
        call.meta.status = "completed"
        call.save()
        call.bridged.set()
        start_live(call.guard, call.b_rtp if call.b_side == "operator" else call.a_rtp, call.customer_rtp)

    async def _watch_media(self) -> None:
        """Wait for a hang-up; end a call whose media stopped (RTP timeout)."""
        call = self.call
        limit = call.host.settings.rtp_timeout_s
        while not call.ended.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.ended.wait(), timeout=min(1.0, limit))
            if call.ended.is_set() or call.on_hold:
                continue
            assert call.a_rtp is not None and call.b_rtp is not None
            quiet = time.time() - min(call.a_rtp.last_rx, call.b_rtp.last_rx)
            if quiet > limit:
                call.meta.extra.rtp_timeout_s = limit
                call.on_timer("rtp_timeout")

    async def _cleanup(self) -> None:
        call = self.call
        call.runner.execute(call.machine.on_closed())  # Done, whatever it reached
        call.timers.close()
        call.guard.close()
        for leg in call.legs:
            if leg.state in (LegState.CALLING, LegState.RINGING):
                leg.cancel()
        if call.a_rtp is not None:
            call.a_rtp.close()
        if call.b_rtp is not None:
            call.b_rtp.close()
        call.meta.ended_at = now()
        for ep in (call.a_rtp, call.b_rtp):
            if ep is not None:  # a media worker sends the last counters (refusals) as it lets the port go
                await ep.closed_fully()
        # RTP refused on each side (stranger's address, bad header, other SSRC...), by reason
        refused = {
            side: dict(ep.refused)
            for side, ep in ((call.a_side, call.a_rtp), (call.b_side, call.b_rtp))
            if ep is not None and ep.refused
        }
        if refused:
            call.meta.extra.rtp_refused = refused
            call.meta.extra.rtp_refused_from = {
                side: ep.refused_sources
                for side, ep in ((call.a_side, call.a_rtp), (call.b_side, call.b_rtp))
                if ep is not None and ep.refused
            }
        call.meta.hangup_side = call.hangup_side  # the first to end it; "akashi" when nobody did
        if call.meta.status == "interrupted":
            call.meta.status = "missed"
        if call.failure:
            call.meta.status = "failed"  # whatever the call reached before, it did not end well
        call.meta.finished = True
        call.host.call_finished(call)
