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
TimerKind = Literal[
    "ack_timeout",
    "prack_timeout",
    "session_expired",
    "rtp_timeout",
    "ring_timeout",
    "long_call_alert",
    "long_call_warn",
    "long_call_end",
]
#: what the media plane reports (``final_done``: the final message of a protected call ended)
MediaKind = Literal["notice_done", "late_answer_refused", "final_done"]
#: the messages of live protection: the warning, the final message, the long call's time limit
MessageKind = Literal["warning", "final", "time_limit"]


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
    """Send a request: a BYE to a leg (``reason``: the SIP status for its Reason header), the request
    being handled forwarded to the other leg, or a CANCEL to every leg still ringing."""

    what: Literal["bye_caller", "bye_leg", "forward", "cancel_legs"]
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


@dataclass(frozen=True)
class Mark:
    """Put a step of live protection on the call's timeline (and tell the board)."""

    kind: str
    by: str
    detail: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Play:
    """Play a live-protection message to the caller, the operator hearing it too (``final_done`` follows
    the final message)."""

    kind: MessageKind


@dataclass(frozen=True)
class Transfer:
    """Ring the route's supervisor and, once answered, hand the caller over to them."""


@dataclass(frozen=True)
class Arm:
    """Start a timer of the call: ``on_timer(kind)`` after ``after_s`` seconds."""

    kind: TimerKind
    after_s: float


Effect = (
    Respond | Send | Delegate | StartNotice | Ring | Bridge | Hangup | Finish | Mark | Play | Transfer | Arm
)


@dataclass(frozen=True)
class Protection:
    """A route's live-protection policy as the machine applies it (times in seconds, 0: off)."""

    window_s: float = 10.0
    second: Literal["end", "transfer"] = "end"
    long_alert_s: float = 0.0
    long_warn_s: float = 0.0
    long_end_after_s: float = 0.0


@dataclass(frozen=True)
class Protect:
    """The operator pressed the protection key (``key``), a board user asked to ``warn`` or ``end``,
    or the automatic policy asked to warn (``auto``); ``at``: UTC seconds."""

    action: Literal["key", "warn", "end", "auto"]
    at: float
    by: str


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


class CallMachine:
    """One call's state and decisions."""

    def __init__(self, direction: Direction = INBOUND, protection: Protection | None = None) -> None:
        self.direction = direction
        self.protection = protection or Protection()
        #: when the last warning was asked for (a second key press within the window ends the call)
        self.warned_at: float | None = None
        #: the final message plays (who asked for it ends the call), or the supervisor rings
        self.closing_by = ""
        self.transferring = False
        self.state = CallState.OFFERED
        #: who ended the call (the first to do so), "" while it is live
        self.hangup_side: str = ""
        #: the call was bridged (its answered leg needs a BYE when the caller hangs up, even while ending)
        self.bridged = False
        #: what ringing ended with, for the Reason of the BYE after the "nobody can answer" message
        self.final_status = 480
        #: the call plays a notice (set when its offer is accepted)
        self.notice = False
        #: a 2xx has been sent to the caller (it may still wait for a PRACK: ``answer_held``)
        self.caller_answered = False

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
    def answer_sent(self) -> None:
        """Akashi sent its 2xx to the caller (for the notice, or as it bridges)."""
        self._done_check("answer")
        self.caller_answered = True

    def answer_withdrawn(self) -> None:
        """A 2xx held back for its PRACK was replaced by an error: the caller was never answered."""
        self.caller_answered = False

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
            if src == "caller" and (not self.caller_answered or ev.answer_held):
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
            return [Bridge(), *self._long_call_arms()]
        if self.caller_answered:
            self.final_status = ev.final
            return [StartNotice("unavailable")]  # answered for the notice: told, then hung up
        return [Respond(ev.final, to_invite=True), *self.hang_up("akashi", missed=True)]

    # -- timers -----------------------------------------------------------------------------
    def on_timer(self, kind: TimerKind) -> list[Effect]:
        """A timer of the call fired: the 2xx never ACKed, no PRACK, a session not refreshed, media
        stopped (``rtp_timeout``, bridged calls only), the phones rang too long (``ring_timeout``,
        ringing calls only: the legs still ringing are cancelled and count as 408 in the
        :class:`LegsFailed` that ends ringing), or a step of the long-call guard."""
        self._done_check(f"timer {kind}")
        if not self.live:
            return []  # the call is already ending: its timers are being cancelled
        if kind == "ack_timeout":
            return [Send("bye_caller"), Send("bye_leg"), *self.hang_up("timeout", failure="ack_timeout")]
        if kind == "prack_timeout":
            return [Respond(504, to_invite=True), *self.hang_up("akashi", missed=True)]
        if kind.startswith("long_call_"):
            return self._long_call(kind)
        if kind == "ring_timeout":
            if self.state is not CallState.RINGING:
                raise IllegalEvent(self.state, f"timer {kind}")
            return [Send("cancel_legs")]
        if kind == "rtp_timeout" and self.state is not CallState.BRIDGED:
            raise IllegalEvent(self.state, f"timer {kind}")
        # session_expired, rtp_timeout: a caller never answered has no dialog to end
        bye_caller: list[Effect] = [Send("bye_caller")] if self.caller_answered else []
        return [*bye_caller, Send("bye_leg"), *self.hang_up("timeout")]

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
                return [Bridge(), *self._long_call_arms()]
            if self.state is CallState.RINGING:  # the "nobody can answer" message ended
                return [Send("bye_caller", reason=self.final_status), *self.hang_up("akashi")]
            raise IllegalEvent(self.state, f"media {kind}")
        if kind == "final_done":
            return [Send("bye_caller"), Send("bye_leg"), *self.hang_up(self.closing_by or "akashi")]
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

    # -- live protection (issue 14) ------------------------------------------------------------
    def on_protect(self, ev: Protect) -> list[Effect]:
        """The protection key, a board action or the automatic policy; [] when the call cannot take it
        (not bridged, or already closing)."""
        self._done_check(f"protect {ev.action}")
        if self.state is not CallState.BRIDGED or self.closing_by:
            return []
        if ev.action == "end":
            return self._final(ev.by, "end")
        if ev.action in ("warn", "auto"):
            self.warned_at = ev.at
            return [
                Mark("warning", ev.by, (("source", "board" if ev.action == "warn" else "auto"),)),
                Play("warning"),
            ]
        p = self.protection
        if self.warned_at is None or ev.at - self.warned_at > p.window_s:
            self.warned_at = ev.at
            return [
                Mark("key", ev.by, (("press", "1"),)),
                Mark("warning", ev.by, (("source", "key"),)),
                Play("warning"),
            ]
        if p.second == "transfer":
            if self.transferring:
                return []
            self.transferring = True
            return [Mark("key", ev.by, (("press", "2"),)), Mark("transfer", ev.by), Transfer()]
        return [Mark("key", ev.by, (("press", "2"),)), *self._final(ev.by, "key")]

    def on_transfer_failed(self, why: str) -> list[Effect]:
        """The supervisor did not answer: the call goes on with the operator."""
        self._done_check("transfer failed")
        self.transferring = False
        return [Mark("transfer_failed", "akashi", (("reason", why),))] if self.live else []

    def _final(self, by: str, source: str) -> list[Effect]:
        self.closing_by = "operator" if source == "key" else "akashi"
        return [Mark("final", by, (("source", source),)), Play("final")]

    def _long_call_arms(self) -> list[Effect]:
        p = self.protection
        out: list[Effect] = []
        if p.long_alert_s > 0:
            out.append(Arm("long_call_alert", p.long_alert_s))
        if p.long_warn_s > 0:
            out.append(Arm("long_call_warn", p.long_warn_s))
        return out

    def _long_call(self, kind: TimerKind) -> list[Effect]:
        if self.state is not CallState.BRIDGED or self.closing_by:
            return []
        p = self.protection
        if kind == "long_call_alert":
            return [Mark("long_call", "akashi", (("step", "alert"), ("minutes", _minutes(p.long_alert_s))))]
        if kind == "long_call_warn":
            out: list[Effect] = [
                Mark("long_call", "akashi", (("step", "warn"), ("minutes", _minutes(p.long_warn_s)))),
                Play("time_limit"),
            ]
            if p.long_end_after_s > 0:
                out.append(Arm("long_call_end", p.long_end_after_s))
            return out
        total = p.long_warn_s + p.long_end_after_s
        return [
            Mark("long_call", "akashi", (("step", "end"), ("minutes", _minutes(total)))),
            *self._final("akashi", "long_call"),
        ]


def _minutes(seconds: float) -> str:
    """Minutes as written on the timeline: ``30``, or ``0.05`` for a test's short guard."""
    m = seconds / 60
    return str(int(m)) if m == int(m) else f"{m:g}"
