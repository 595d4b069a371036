"""The call as a sans-I/O state machine: events in, effects out.

:class:`CallMachine` owns the call's :class:`~akashi.telephony.call.state.CallState` and decides
what each event means in each state; it never touches a socket, a timer or a port. The runner
(:mod:`akashi.telephony.call.runner`) executes the effects it returns. Inbound and outbound calls
differ only by their :class:`Direction`: who is on each leg and when the notice plays.

An event the current state cannot take raises :class:`IllegalEvent` (a bug in call control, never
something a peer can cause: requests of a finished call no longer reach it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from akashi.errors import AkashiError
from akashi.telephony.call.state import LIVE, CallState, advance

#: who is on a leg of the call, or ended it (``hangup_side``): caller, operator, akashi or timeout
Side = str
#: where an in-dialog request came from: the caller's leg, the bridged leg, or another rung leg
Source = Literal["caller", "bridged_leg", "other_leg"]
#: timers of the call that end it
TimerKind = Literal["ack_timeout", "prack_timeout", "session_expired"]
#: what the media plane reports
MediaKind = Literal["notice_done", "media_quiet", "late_answer_refused"]


@dataclass(frozen=True)
class Direction:
    """The direction policy of a call: who is on the A and B legs, and when the notice plays."""

    name: Literal["in", "out"]
    #: who sent the INVITE Akashi answers (the A leg)
    a_side: Side
    #: who Akashi rings (the B leg)
    b_side: Side
    #: inbound: the caller hears the notice before the phones ring; outbound: the customer, once answered
    notice_before_ringing: bool


INBOUND = Direction("in", "caller", "operator", notice_before_ringing=True)
OUTBOUND = Direction("out", "operator", "caller", notice_before_ringing=False)


# -- effects ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Respond:
    """Answer the request being handled (or, with ``to_invite``, the caller's INVITE) with ``status``."""

    status: int
    to_invite: bool = False
    #: add Akashi's ``Allow`` header (OPTIONS)
    allow: bool = False


@dataclass(frozen=True)
class Send:
    """Send a request: a BYE to a leg (``reason``: the SIP status for its Reason header), or the
    request being handled forwarded to the other leg."""

    what: Literal["bye_caller", "bye_leg", "forward"]
    reason: int = 0


@dataclass(frozen=True)
class Delegate:
    """Hand the request to the part of call control that owns it: the ACK of an answer, a PRACK,
    a session refresh, or a re-INVITE/UPDATE answered from Akashi's own media before bridging."""

    to: Literal["ack", "prack", "answer_before_bridge"]


@dataclass(frozen=True)
class StartNotice:
    """Play a message: the notice (to the caller inbound, the customer outbound) or the
    "nobody can answer" message to an answered caller."""

    kind: Literal["notice", "unavailable"]


@dataclass(frozen=True)
class Ring:
    """Ring the phones (or the trunk)."""


@dataclass(frozen=True)
class Bridge:
    """Connect the answered leg to the caller."""


@dataclass(frozen=True)
class Hangup:
    """The call ends; ``side`` ended it (kept when it is the first), ``missed`` when nobody answered."""

    side: Side
    missed: bool = False
    #: why the call failed ("" when it did not): stored with status ``failed``
    failure: str = ""


@dataclass(frozen=True)
class Finish:
    """Close the ports and legs and hand the call to the store."""


Effect = Respond | Send | Delegate | StartNotice | Ring | Bridge | Hangup | Finish


class IllegalEvent(AkashiError):
    """An event reached a call in a state that cannot take it."""

    def __init__(self, state: CallState, event: str) -> None:
        super().__init__(
            f"通話の状態 {state.value} では {event} を受け付けません",
            f"a call in state {state.value} cannot take {event}",
        )
        self.state = state
        self.event = event


@dataclass(frozen=True)
class InDialog:
    """A request in one of the call's dialogs, with the facts of the call that its answer depends on."""

    method: str
    source: Source
    #: a 2xx has answered the caller (and is not waiting for a PRACK)
    caller_answered: bool = False
    #: a 2xx to the caller waits for the PRACK of a reliable 1xx
    answer_held: bool = False
    #: the session timers already answered it (a 422, or a body-less UPDATE refresh)
    refreshed: bool = False


@dataclass(frozen=True)
class LegAnswered:
    """A rung leg (an operator's phone, or the trunk) answered with a 2xx."""


@dataclass(frozen=True)
class LegsFailed:
    """Every rung leg failed or timed out: ``statuses`` are their final answers; ``final``: what the
    caller is told (see :func:`akashi.telephony.ringing.final_status`)."""

    statuses: tuple[int, ...]
    final: int
    caller_answered: bool = False


class CallMachine:
    """One call's state and decisions."""

    def __init__(self, direction: Direction = INBOUND) -> None:
        self.direction = direction
        self.state = CallState.OFFERED
        #: who ended the call (the first to do so), "" while it is live
        self.hangup_side: str = ""
        #: the call was bridged (its answered leg needs a BYE when the caller hangs up, even while ending)
        self.bridged = False
        #: what ringing ended with, for the Reason of the BYE after the "nobody can answer" message
        self.final_status = 480
        #: the call plays a notice (set when its offer is accepted)
        self.notice = False

    @property
    def live(self) -> bool:
        """Whether the call is neither ending nor done."""
        return self.state in LIVE

    def move(self, state: CallState) -> None:
        """Move to ``state``; :class:`~akashi.telephony.call.state.IllegalTransition` when it cannot."""
        self.state = advance(self.state, state)
        if state is CallState.BRIDGED:
            self.bridged = True

    def _done_check(self, event: str) -> None:
        if self.state is CallState.DONE:
            raise IllegalEvent(self.state, event)

    def hang_up(self, side: Side, *, missed: bool = False, failure: str = "") -> list[Effect]:
        """End the call: it moves to Ending; ``side`` is kept when it is the first to end it."""
        if self.live:
            self.move(CallState.ENDING)
            self.hangup_side = side
        return [Hangup(side, missed, failure)]

    # -- the call's own steps -----------------------------------------------------------
    def on_offer(self, *, acceptable: bool, notice: bool) -> list[Effect]:
        """The INVITE's offer was checked: refused (488 already chosen), or what comes first."""
        if self.state is CallState.ENDING:
            return []  # cancelled before its offer was checked
        if self.state is not CallState.OFFERED:
            raise IllegalEvent(self.state, "offer")
        if not acceptable:
            return self.hang_up("akashi")
        self.notice = notice
        if notice and self.direction.notice_before_ringing:
            self.move(CallState.NOTICING)
            return [StartNotice("notice")]
        self.move(CallState.RINGING)
        return [Ring()]

    # -- requests -------------------------------------------------------------------------
    def on_request(self, ev: InDialog) -> list[Effect]:
        """A request in one of the call's dialogs: how it is answered and what it does to the call."""
        self._done_check(f"request {ev.method}")
        m, src = ev.method, ev.source
        a_side, b_side = self.direction.a_side, self.direction.b_side
        if m == "ACK":
            return [Delegate("ack")]
        if m == "CANCEL":
            out: list[Effect] = [Respond(200)]
            if src == "caller" and (not ev.caller_answered or ev.answer_held):
                out += [Respond(487, to_invite=True), *self.hang_up(a_side, missed=True)]
            return out
        if m == "BYE":
            out = [Respond(200)]
            if src == "caller":
                if self.bridged:
                    out.append(Send("bye_leg"))
                out += self.hang_up(a_side)
            elif src == "bridged_leg":
                out += [Send("bye_caller"), *self.hang_up(b_side)]
            return out
        if m == "PRACK":
            return [Delegate("prack")]
        if m in ("INVITE", "UPDATE") and ev.refreshed:
            return []  # a 422, or a pure refresh the session timers answered on its own leg
        if m in ("INVITE", "UPDATE", "INFO") and self.state is CallState.BRIDGED:
            return [Send("forward")]
        if m == "OPTIONS":
            return [Respond(200, allow=True)]
        if m in ("INVITE", "UPDATE") and src == "caller":
            return [Delegate("answer_before_bridge")]  # hold or refresh: from Akashi's own media state
        return [Respond(501 if m not in ("INVITE", "UPDATE", "INFO") else 491)]

    # -- responses of the rung legs -----------------------------------------------------
    def on_response(self, ev: LegAnswered | LegsFailed) -> list[Effect]:
        """The outcome of ringing: a leg answered, or none did."""
        self._done_check(type(ev).__name__)
        if self.state is CallState.ENDING:
            return [Send("bye_leg")] if isinstance(ev, LegAnswered) else []
        if self.state is not CallState.RINGING:
            raise IllegalEvent(self.state, type(ev).__name__)
        if isinstance(ev, LegAnswered):
            if self.notice and not self.direction.notice_before_ringing:
                self.move(CallState.NOTICING)  # outbound: the customer hears the notice first
                return [StartNotice("notice")]
            self.move(CallState.BRIDGED)
            return [Bridge()]
        if ev.caller_answered:
            self.final_status = ev.final
            return [StartNotice("unavailable")]  # answered for the notice: told, then hung up
        return [Respond(ev.final, to_invite=True), *self.hang_up("akashi", missed=True)]

    # -- timers -----------------------------------------------------------------------------
    def on_timer(self, kind: TimerKind) -> list[Effect]:
        """A timer of the call fired (the 2xx never ACKed, no PRACK, a session not refreshed)."""
        self._done_check(f"timer {kind}")
        if not self.live:
            return []  # the call is already ending: its timers are being cancelled
        if kind == "ack_timeout":
            return [Send("bye_caller"), Send("bye_leg"), *self.hang_up("timeout", failure="ack_timeout")]
        if kind == "prack_timeout":
            return [Respond(504, to_invite=True), *self.hang_up("akashi", missed=True)]
        return [Send("bye_caller"), Send("bye_leg"), *self.hang_up("timeout")]

    # -- media ------------------------------------------------------------------------------
    def on_media_event(self, kind: MediaKind) -> list[Effect]:
        """The media plane reports: a message finished playing, media stopped, a late answer was unusable."""
        self._done_check(f"media {kind}")
        if not self.live:
            return []
        if kind == "notice_done":
            if self.state is CallState.NOTICING:
                if self.direction.notice_before_ringing:
                    self.move(CallState.RINGING)
                    return [Ring()]
                self.move(CallState.BRIDGED)
                return [Bridge()]
            if self.state is CallState.RINGING:  # the "nobody can answer" message ended
                return [Send("bye_caller", reason=self.final_status), *self.hang_up("akashi")]
            raise IllegalEvent(self.state, f"media {kind}")
        if kind == "media_quiet":
            if self.state is not CallState.BRIDGED:
                raise IllegalEvent(self.state, f"media {kind}")
            return [Send("bye_caller"), Send("bye_leg"), *self.hang_up("timeout")]
        # late_answer_refused: the ACK of a late offer carried no usable answer
        return [Send("bye_caller"), Send("bye_leg"), *self.hang_up("akashi")]

    # -- the end ----------------------------------------------------------------------------
    def on_closed(self) -> list[Effect]:
        """The call's task is over: whatever state it reached, it is finished and stored."""
        self._done_check("close")
        if self.live:
            self.move(CallState.ENDING)  # its last step returned without a hang-up: Akashi ends it
            self.hangup_side = self.hangup_side or "akashi"
        self.move(CallState.DONE)
        return [Finish()]
