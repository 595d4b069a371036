"""The thin asyncio layer under the call's state machine: it carries out the effects the machine returns.

Decisions live in :class:`~akashi.telephony.call.machine.CallMachine`; this module only sends,
answers, hands over and wakes up. Nothing here chooses a status or a state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from akashi.telephony.call.host import ALLOW
from akashi.telephony.call.machine import (
    Arm,
    Bridge,
    Delegate,
    Effect,
    Finish,
    Hangup,
    Mark,
    Play,
    Respond,
    Ring,
    Send,
    StartNotice,
    Transfer,
)
from akashi.telephony.call.view import CallView
from akashi.telephony.forward import forward
from akashi.telephony.legmedia import answer_before_bridge
from akashi.telephony.sip.build import response_to

if TYPE_CHECKING:
    from akashi.telephony.legs import OutLeg
    from akashi.telephony.sip.message import Request


class Effector(Protocol):
    """Live protection's I/O (:class:`akashi.telephony.guard.CallGuard`)."""

    def execute(self, e: Mark | Play | Transfer | Arm) -> None:
        """Carry out one live-protection effect."""


class RunnerCall(CallView, Protocol):
    """What the runner needs of the call besides its view: the asynchronous steps it wakes up."""

    #: the To tag of Akashi's answers to the caller's INVITE (a CANCEL's 200 carries it too, RFC 3261 9.2)
    local_tag: str

    def on_ack(self, req: Request, from_caller: bool) -> None:
        """An ACK in one of the call's dialogs."""

    def bye_caller(self, reason: int = 0) -> None:
        """Hang up the caller's leg (``reason``: the status for its Reason header)."""

    def want_message(self, kind: str) -> None:
        """A message is due (the notice, or "nobody can answer"): the call's task plays it."""

    @property
    def guard(self) -> Effector:
        """Live protection's I/O: timeline marks, messages, timers, the transfer."""


class CallRunner:
    """Executes a call's effects against its dialogs, legs and media."""

    def __init__(self, call: RunnerCall) -> None:
        self.call = call

    def execute(  # noqa: PLR0912 - one branch per effect type: the call machine's dispatch
        self,
        effects: Iterable[Effect],
        req: Request | None = None,
        *,
        from_caller: bool = True,
        leg: OutLeg | None = None,
    ) -> None:
        """Carry out ``effects`` in order; ``req`` is the request they answer (in-dialog events)."""
        call = self.call
        for e in effects:
            if isinstance(e, Respond):
                if e.to_invite:
                    call.respond(e.status)
                else:
                    assert req is not None
                    extra = [("Allow", ALLOW)] if e.allow else None
                    tag = call.local_tag if req.method == "CANCEL" else None
                    call.host.sip.respond(req, response_to(req, e.status, to_tag=tag, extra=extra))
            elif isinstance(e, Send):
                if e.what == "bye_caller":
                    call.bye_caller(reason=e.reason)
                elif e.what == "bye_leg":
                    if call.leg is not None:
                        call.leg.bye()
                elif e.what == "cancel_legs":
                    for rung in call.legs:
                        rung.cancel()  # only legs still calling or ringing send a CANCEL
                else:
                    assert req is not None
                    forward(call, req, from_caller)
            elif isinstance(e, Delegate):
                assert req is not None
                if e.to == "ack":
                    call.on_ack(req, from_caller)
                elif e.to == "prack":
                    call.timers.on_prack(req, from_caller)
                else:
                    answer_before_bridge(call, req, leg)
            elif isinstance(e, Hangup):
                if e.missed:
                    call.meta.status = "missed"
                if e.failure:
                    call.fail(e.failure)
                call.ended.set()  # the machine has moved to Ending: wake whatever waits
            elif isinstance(e, StartNotice):
                call.want_message(e.kind)
            elif isinstance(e, Mark | Play | Transfer | Arm):
                call.guard.execute(e)
            elif isinstance(e, Ring | Bridge | Finish):
                pass  # steps of the call's own task, which follows the machine's state
