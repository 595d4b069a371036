"""Ringing the operators (or the trunk): parallel or sequential groups with a ring timeout."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from akashi.telephony.legmedia import leg_offer
from akashi.telephony.legs import LegState, OutLeg
from akashi.telephony.sip.digest import Credentials
from akashi.telephony.trunks import connect, credentials_for, ring_credentials

if TYPE_CHECKING:
    from akashi.config.telephony import RouteSettings
    from akashi.telephony.call.view import CallView
    from akashi.telephony.sip.message import Response

log = logging.getLogger(__name__)


async def ring(
    call: CallView,
    targets: list[str],
    strategy: str,
    timeout: float,
    auth: Credentials | None = None,
    on_early: Callable[[OutLeg, Response], None] | None = None,
    route: RouteSettings | None = None,
) -> OutLeg | None:
    """Ring the phones (or the trunk); the answered leg, or None (the caller has been told why).

    ``on_early``: told of each leg's 180/183 (an outbound call relays them to the agent's phone).
    ``route``: its ``ring_username``/``ring_password`` answer a challenge of a phone (a PBX) on
    the host of one of its ``ring`` URIs, when no trunk's credentials apply there.
    """
    assert call.b_rtp is not None
    offer = leg_offer(call)  # the call's codecs, SRTP when the route or trunk asks for it
    groups = [targets] if strategy == "parallel" else [[t] for t in targets]
    statuses: list[int] = []
    for group in groups:
        legs = []
        for t in group:
            dest = await call.host.resolve(t)
            if dest is None:
                statuses.append(404)
                continue
            try:
                transport = await connect(call.host, t, dest)  # TCP or TLS: never falls back to UDP
            except OSError as exc:
                log.warning(
                    "%s に接続できません / call %s: cannot connect to %s: %s", t, call.call_id, t, exc
                )
                statuses.append(503)
                continue
            # a phone behind a configured trunk (a cloud PBX) is answered with that trunk's credentials
            cred = auth if auth is not None else credentials_for(call.host.settings.trunks, t)
            if cred is None and route is not None:
                cred = ring_credentials(route, t)  # a PBX that challenges Akashi's INVITEs
            leg = OutLeg(call, t, dest, offer, cred, transport)
            leg.on_early = on_early
            call.legs.append(leg)
            legs.append(leg)
            leg.start()
        if not legs:
            continue
        answered = await wait_legs(call, legs, timeout)
        if answered is None and not call.ended.is_set() and not all(leg.done.is_set() for leg in legs):
            call.on_timer("ring_timeout")  # the group rang too long: the machine cancels its legs
        for other in legs:
            if other is not answered:
                other.cancel()
        if answered is not None:
            return answered
        if call.ended.is_set():
            return None
        statuses += [leg.status or 408 for leg in legs]
    call.missed(statuses)
    return None


async def wait_legs(call: CallView, legs: list[OutLeg], timeout: float) -> OutLeg | None:
    """The first of ``legs`` to answer within ``timeout``; None when all failed, time ran out or the call ended."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for leg in legs:
            if leg.state is LegState.ANSWERED:
                return leg
        if all(leg.done.is_set() for leg in legs) or call.ended.is_set():
            return None
        left = deadline - loop.time()
        if left <= 0:
            return None
        waits = [asyncio.ensure_future(leg.done.wait()) for leg in legs if not leg.done.is_set()]
        waits.append(asyncio.ensure_future(call.ended.wait()))
        await asyncio.wait(waits, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()


def final_status(statuses: list[int]) -> int:
    """The final response for the caller when no phone answered, from the phones' own answers."""
    if len(statuses) == 1 and 400 <= statuses[0] < 700 and statuses[0] not in (401, 407, 408):
        return statuses[0]  # one phone (or the trunk): its answer, as it gave it
    if statuses and all(s in (486, 600) for s in statuses):
        return 486
    if statuses and all(s == 603 for s in statuses):
        return 603
    return 480
