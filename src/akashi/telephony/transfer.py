"""The second protection-key press on a ``protection_second = "transfer"`` route: the caller goes to a supervisor.

The supervisor's phone is rung like an operator's (a new leg from the operator's media port); once it
answers, the relay carries the caller to it and the operator's leg is hung up. When it does not answer
the call goes on with the operator, and the timeline says so (the machine's ``transfer_failed``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from akashi.telephony.call.view import CallView
from akashi.telephony.legmedia import leg_offer, take_leg_answer
from akashi.telephony.legs import LegState, OutLeg
from akashi.telephony.ringing import wait_legs
from akashi.telephony.sip.uri import parse_uri
from akashi.telephony.trunks import connect, credentials_for

if TYPE_CHECKING:
    from akashi.config.telephony import RouteSettings
    from akashi.telephony.call.machine import CallMachine
    from akashi.telephony.call.runner import CallRunner

log = logging.getLogger(__name__)


class Marker(Protocol):
    """Where a step goes on the call's timeline (:class:`akashi.telephony.guard.CallGuard`)."""

    def mark(self, kind: str, by: str, detail: dict[str, str]) -> None:
        """Put a step on the timeline."""


class TransferCall(CallView, Protocol):
    """The call as a transfer drives it: its machine, and which leg is bridged."""

    machine: CallMachine
    runner: CallRunner
    leg: OutLeg | None


def supervisor_uri(route: RouteSettings) -> str:
    """The supervisor as a SIP URI: as configured, or a number on the host of the route's first phone."""
    target = route.supervisor.strip()
    if target.startswith(("sip:", "sips:")):
        return target
    first = parse_uri(route.ring[0])
    port = f":{first.port}" if first.port else ""
    return f"sip:{target}@{first.host}{port}"


async def transfer(call: TransferCall, guard: Marker, route: RouteSettings) -> None:
    """Ring the supervisor; hand the caller over when answered, else tell the machine it failed."""
    target = supervisor_uri(route)
    why = ""
    leg: OutLeg | None = None
    try:
        dest = await call.host.resolve(target)
        if dest is None:
            why = "404"
        else:
            transport = await connect(call.host, target, dest)
            cred = credentials_for(call.host.settings.trunks, target)
            leg = OutLeg(call, target, dest, leg_offer(call), cred, transport)
            call.legs.append(leg)
            leg.start()
            answered = await wait_legs(call, [leg], float(route.ring_timeout_s))
            if answered is None:
                if leg.state in (LegState.CALLING, LegState.RINGING):
                    leg.cancel()
                why = str(leg.status or 408)
    except OSError as exc:
        why = f"503 {exc}"[:100]
    if call.ended.is_set():
        if leg is not None and leg.state is LegState.ANSWERED:
            leg.bye()  # answered as the call ended: never bridged
        return
    if why or leg is None:
        log.info("call %s: supervisor %s did not answer (%s)", call.call_id, target, why)
        call.runner.execute(call.machine.on_transfer_failed(why or "error"))
        return
    old = call.leg
    take_leg_answer(call, leg)  # the relay now sends the caller's audio to the supervisor
    call.leg = leg
    call.meta.call_ids.append(leg.dialog.call_id)
    if old is not None and old.state is LegState.ANSWERED:
        old.bye()
    guard.mark("transferred", "akashi", {"to": target, "leg": leg.user})
