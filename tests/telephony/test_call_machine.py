"""The call's state machine without sockets: every state × every event, inbound and outbound."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from akashi.telephony.call.machine import (
    INBOUND,
    OUTBOUND,
    Bridge,
    CallMachine,
    Delegate,
    Direction,
    Effect,
    Finish,
    Hangup,
    IllegalEvent,
    InDialog,
    LegAnswered,
    LegsFailed,
    Respond,
    Ring,
    Send,
    StartNotice,
)
from akashi.telephony.call.state import TRANSITIONS, CallState, IllegalTransition, advance

S = CallState
METHODS = ("ACK", "CANCEL", "BYE", "PRACK", "INVITE", "UPDATE", "INFO", "OPTIONS", "MESSAGE")
SOURCES = ("caller", "bridged_leg", "other_leg")
Event = Callable[[CallMachine], list[Effect]]


def _request(req: InDialog, m: CallMachine) -> list[Effect]:
    return m.on_request(req)


def _answered(m: CallMachine, event: Callable[[], list[Effect]]) -> list[Effect]:
    """``event`` after Akashi sent its 2xx to the caller (a fact the machine keeps)."""
    m.answer_sent()
    return event()


def answered_in(state: CallState, d: Direction) -> bool:
    """Whether :func:`machine_in` answered the caller on its way to ``state``, as a real call does:
    for an inbound notice, or as it bridges."""
    return state in (S.BRIDGED, S.ENDING, S.DONE) or (state is S.NOTICING and d.notice_before_ringing)


def _events() -> dict[str, Event]:
    ev: dict[str, Event] = {
        "offer_notice": lambda m: m.on_offer(acceptable=True, notice=True),
        "offer_plain": lambda m: m.on_offer(acceptable=True, notice=False),
        "offer_refused": lambda m: m.on_offer(acceptable=False, notice=False),
        "leg_answered": lambda m: m.on_response(LegAnswered()),
        "legs_failed": lambda m: m.on_response(LegsFailed((486,), 486)),
        "legs_failed_answered": lambda m: _answered(m, lambda: m.on_response(LegsFailed((486, 408), 480))),
        "timer_ack_timeout": lambda m: m.on_timer("ack_timeout"),
        "timer_prack_timeout": lambda m: m.on_timer("prack_timeout"),
        "timer_session_expired": lambda m: m.on_timer("session_expired"),
        "timer_rtp_timeout": lambda m: m.on_timer("rtp_timeout"),
        "timer_ring_timeout": lambda m: m.on_timer("ring_timeout"),
        "media_notice_done": lambda m: m.on_media_event("notice_done"),
        "media_late_answer_refused": lambda m: m.on_media_event("late_answer_refused"),
        "closed": lambda m: m.on_closed(),
        "cancel_answered": lambda m: _answered(m, lambda: m.on_request(InDialog("CANCEL", "caller"))),
        "cancel_held": lambda m: _answered(
            m, lambda: m.on_request(InDialog("CANCEL", "caller", answer_held=True))
        ),
        "invite_refreshed": lambda m: m.on_request(InDialog("INVITE", "caller", refreshed=True)),
        "update_refreshed_leg": lambda m: m.on_request(InDialog("UPDATE", "bridged_leg", refreshed=True)),
    }
    for method in METHODS:
        for source in SOURCES:
            ev[f"{method}_{source}"] = functools.partial(_request, InDialog(method, source))
    return ev


EVENTS = _events()


def machine_in(state: CallState, direction: Direction) -> CallMachine:
    """A machine brought to ``state`` through its own events (no state written by hand)."""
    m = CallMachine(direction)
    if state is S.OFFERED:
        return m
    if state is S.NOTICING:
        if direction.notice_before_ringing:
            m.on_offer(acceptable=True, notice=True)
            m.answer_sent()
        else:
            m.on_offer(acceptable=True, notice=True)
            m.on_response(LegAnswered())
    elif state is S.RINGING:
        m.on_offer(acceptable=True, notice=False)
    elif state in (S.BRIDGED, S.ENDING, S.DONE):
        m.on_offer(acceptable=True, notice=False)
        m.on_response(LegAnswered())
        if m.state is S.NOTICING:
            m.on_media_event("notice_done")
        m.answer_sent()
        if state is not S.BRIDGED:
            m.on_request(InDialog("BYE", "caller"))
        if state is S.DONE:
            m.on_closed()
    assert m.state is state
    return m


# -- what each event does in each state ------------------------------------------------------
Outcome = tuple[list[Effect], CallState] | type[Exception]


def _in_dialog(method: str, source: str, state: CallState, d: Direction) -> Outcome:
    """The answer to a plain request (no answer facts), state by state, written out."""
    if state is S.DONE:
        return IllegalEvent
    stay = state
    end_state = S.ENDING
    if method == "ACK":
        return [Delegate("ack")], stay
    if method == "PRACK":
        return [Delegate("prack")], stay
    if method == "CANCEL":
        if source == "caller" and not answered_in(state, d):  # the INVITE gets 487, the call is missed
            return [Respond(200), Respond(487, to_invite=True), Hangup(d.a_side, missed=True)], end_state
        return [Respond(200)], stay
    if method == "BYE":
        if source == "caller":
            bye_leg: list[Effect] = [Send("bye_leg")] if state in (S.BRIDGED, S.ENDING) else []
            return [Respond(200), *bye_leg, Hangup(d.a_side)], end_state
        if source == "bridged_leg":
            return [Respond(200), Send("bye_caller"), Hangup(d.b_side)], end_state
        return [Respond(200)], stay
    if method in ("INVITE", "UPDATE", "INFO") and state is S.BRIDGED:
        return [Send("forward")], stay
    if method == "OPTIONS":
        return [Respond(200, allow=True)], stay
    if method in ("INVITE", "UPDATE") and source == "caller":
        return [Delegate("answer_before_bridge")], stay
    if method in ("INVITE", "UPDATE", "INFO"):
        return [Respond(491)], stay
    return [Respond(501)], stay


def expected(event: str, state: CallState, d: Direction) -> Outcome:
    """The outcome of ``event`` in ``state``: effects and the state after, or the error raised."""
    inbound = d.notice_before_ringing
    head = event.split("_", 1)
    if head[0] in METHODS:
        return _in_dialog(head[0], head[1], state, d)
    if state is S.DONE:
        return IllegalEvent
    live = state is not S.ENDING
    if event.startswith("offer"):
        if state is S.ENDING:
            return [], S.ENDING  # cancelled before the offer was checked
        if state is not S.OFFERED:
            return IllegalEvent
        if event == "offer_refused":
            return [Hangup("akashi")], S.ENDING
        if event == "offer_notice" and inbound:
            return [StartNotice("notice")], S.NOTICING
        return [Ring()], S.RINGING
    if event == "leg_answered":
        if state is S.ENDING:
            return [Send("bye_leg")], S.ENDING
        if state is not S.RINGING:
            return IllegalEvent
        return [Bridge()], S.BRIDGED  # machine_in rings without a notice: see the outbound test below
    if event.startswith("legs_failed"):
        if state is S.ENDING:
            return [], S.ENDING
        if state is not S.RINGING:
            return IllegalEvent
        if event == "legs_failed_answered":
            return [StartNotice("unavailable")], S.RINGING
        return [Respond(486, to_invite=True), Hangup("akashi", missed=True)], S.ENDING
    if event.startswith("timer"):
        if not live:
            return [], S.ENDING
        if event == "timer_ack_timeout":
            return [Send("bye_caller"), Send("bye_leg"), Hangup("timeout", failure="ack_timeout")], S.ENDING
        if event == "timer_prack_timeout":
            return [Respond(504, to_invite=True), Hangup("akashi", missed=True)], S.ENDING
        if event == "timer_ring_timeout":  # the legs still ringing are cancelled; ringing goes on
            return ([Send("cancel_legs")], S.RINGING) if state is S.RINGING else IllegalEvent
        if event == "timer_rtp_timeout" and state is not S.BRIDGED:
            return IllegalEvent
        bye_caller: list[Effect] = [Send("bye_caller")] if answered_in(state, d) else []
        return [*bye_caller, Send("bye_leg"), Hangup("timeout")], S.ENDING
    if event == "media_notice_done":
        if not live:
            return [], S.ENDING
        if state is S.NOTICING:
            return ([Ring()], S.RINGING) if inbound else ([Bridge()], S.BRIDGED)
        if state is S.RINGING:
            return [Send("bye_caller", reason=480), Hangup("akashi")], S.ENDING
        return IllegalEvent
    if event == "media_late_answer_refused":
        if not live:
            return [], S.ENDING
        return [Send("bye_caller"), Send("bye_leg"), Hangup("akashi")], S.ENDING
    if event == "closed":
        return [Finish()], S.DONE
    if event in ("cancel_answered",):
        return [Respond(200)], state
    if event == "cancel_held":
        return [Respond(200), Respond(487, to_invite=True), Hangup(d.a_side, missed=True)], S.ENDING
    if event in ("invite_refreshed", "update_refreshed_leg"):
        return [], state
    raise AssertionError(event)


@pytest.mark.parametrize("direction", [INBOUND, OUTBOUND], ids=["in", "out"])
@pytest.mark.parametrize("state", list(CallState), ids=[s.value for s in CallState])
@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_state_and_event(event: str, state: CallState, direction: Direction) -> None:
    """Each event in each state gives exactly the effects and next state written above, or raises."""
    m = machine_in(state, direction)
    want = expected(event, state, direction)
    if isinstance(want, type):
        with pytest.raises(want):
            EVENTS[event](m)
        assert m.state is state  # a refused event changes nothing
        return
    effects, after = want
    assert EVENTS[event](m) == effects
    assert m.state is after


def test_the_first_to_end_the_call_is_kept() -> None:
    """A BYE from the phone after the caller's is answered, but the caller stays the one who hung up."""
    m = machine_in(S.BRIDGED, INBOUND)
    m.on_request(InDialog("BYE", "caller"))
    m.on_request(InDialog("BYE", "bridged_leg"))
    assert m.hangup_side == "caller" and m.state is S.ENDING
    m.on_closed()
    assert m.hangup_side == "caller" and m.state is S.DONE


def test_closed_while_live_is_ended_by_akashi() -> None:
    m = machine_in(S.RINGING, INBOUND)
    assert m.on_closed() == [Finish()]
    assert m.hangup_side == "akashi"


def test_unavailable_message_carries_the_phones_status() -> None:
    """Nobody answered after the notice: the message plays, then the BYE carries ringing's status."""
    m = machine_in(S.RINGING, INBOUND)
    m.answer_sent()  # for the notice
    assert m.on_response(LegsFailed((486,), 486)) == [StartNotice("unavailable")]
    assert m.on_media_event("notice_done") == [Send("bye_caller", reason=486), Hangup("akashi")]


@pytest.mark.parametrize("current", list(CallState))
@pytest.mark.parametrize("new", list(CallState))
def test_transitions_table(current: CallState, new: CallState) -> None:
    """Only the listed transitions are allowed; nothing leaves Done, nothing returns to Offered."""
    if new in TRANSITIONS[current]:
        assert advance(current, new) is new
    else:
        with pytest.raises(IllegalTransition):
            advance(current, new)
    assert S.OFFERED not in TRANSITIONS[current]
    assert not TRANSITIONS[S.DONE]


def test_outbound_notice_plays_once_the_customer_answers() -> None:
    """Outbound is a direction, not a subclass: ring first, the notice to the customer, then bridge."""
    m = CallMachine(OUTBOUND)
    assert m.on_offer(acceptable=True, notice=True) == [Ring()]
    assert m.state is S.RINGING
    assert m.on_response(LegAnswered()) == [StartNotice("notice")]
    assert m.state is S.NOTICING
    assert m.on_media_event("notice_done") == [Bridge()]
    assert m.state is S.BRIDGED
    assert m.on_request(InDialog("BYE", "caller")) == [Respond(200), Send("bye_leg"), Hangup("operator")]
    assert m.hangup_side == "operator"


def test_inbound_notice_plays_before_ringing() -> None:
    """Inbound: the caller hears the notice, then the phones ring, then the answered phone is bridged."""
    m = CallMachine(INBOUND)
    assert m.on_offer(acceptable=True, notice=True) == [StartNotice("notice")]
    assert m.on_media_event("notice_done") == [Ring()]
    assert m.on_response(LegAnswered()) == [Bridge()]
    assert m.on_request(InDialog("BYE", "bridged_leg")) == [
        Respond(200),
        Send("bye_caller"),
        Hangup("operator"),
    ]
    assert m.hangup_side == "operator"
