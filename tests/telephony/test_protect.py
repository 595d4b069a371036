"""Live protection's policies and the call machine's protection events, without sockets."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from akashi.telephony.call.machine import (
    Arm,
    Bridge,
    CallMachine,
    Hangup,
    IllegalEvent,
    LegAnswered,
    Mark,
    Play,
    Protect,
    Protection,
    Send,
    Transfer,
)
from akashi.telephony.call.state import CallState
from akashi.telephony.protect import AutoWarning, KeySequence


def test_key_sequence() -> None:
    seq = KeySequence("*9")
    assert [seq.feed(k) for k in "1*9"] == [False, False, True]
    assert [seq.feed(k) for k in "9*"] == [False, False]
    assert seq.feed("9")
    assert [seq.feed(k) for k in "**9"] == [False, False, True]
    assert KeySequence("#").feed("#")
    with pytest.raises(ValueError):
        KeySequence("")


def test_auto_warning_counts_severe_flags_in_the_window() -> None:
    auto = AutoWarning(2, 60)
    assert not auto.feed("severe", 0)
    assert not auto.feed("severe", 61)  # the first fell out of the window
    assert auto.feed("severe", 100)
    assert not auto.feed("severe", 101)  # counting starts again after a warning


def test_auto_warning_never_on_polite_complaints() -> None:
    auto = AutoWarning(2, 60)
    assert not any(auto.feed(sev, t) for t, sev in enumerate(["mild", "polite", "info", "mild"] * 10))
    assert not auto.feed("severe", 50)


def bridged(protection: Protection | None = None) -> CallMachine:
    m = CallMachine(protection=protection)
    m.on_offer(acceptable=True, notice=False)
    m.on_response(LegAnswered())
    assert m.state is CallState.BRIDGED
    return m


def marks(effects: Sequence[object]) -> list[str]:
    return [e.kind for e in effects if isinstance(e, Mark)]


def test_first_press_warns_second_within_window_ends() -> None:
    m = bridged(Protection(window_s=10))
    first = m.on_protect(Protect("key", 100.0, "operator"))
    assert marks(first) == ["key", "warning"] and Play("warning") in first
    second = m.on_protect(Protect("key", 105.0, "operator"))
    assert marks(second) == ["key", "final"] and Play("final") in second
    assert m.on_protect(Protect("key", 106.0, "operator")) == []  # already closing
    end = m.on_media_event("final_done")
    assert Send("bye_caller") in end and Send("bye_leg") in end and Hangup("operator") in end
    assert m.state is CallState.ENDING and m.hangup_side == "operator"


def test_second_press_after_the_window_warns_again() -> None:
    m = bridged(Protection(window_s=10))
    m.on_protect(Protect("key", 100.0, "operator"))
    again = m.on_protect(Protect("key", 111.0, "operator"))
    assert Play("warning") in again and Mark("key", "operator", (("press", "1"),)) in again


def test_transfer_variant_and_its_failure() -> None:
    m = bridged(Protection(second="transfer"))
    m.on_protect(Protect("key", 1.0, "operator"))
    second = m.on_protect(Protect("key", 2.0, "operator"))
    assert Transfer() in second and "transfer" in marks(second)
    assert m.on_protect(Protect("key", 3.0, "operator"))[-1:] != [Transfer()]  # one at a time
    assert marks(m.on_transfer_failed("480")) == ["transfer_failed"]
    assert m.state is CallState.BRIDGED  # the call goes on


def test_board_actions_name_who() -> None:
    m = bridged()
    warn = m.on_protect(Protect("warn", 1.0, "kanri"))
    assert Mark("warning", "kanri", (("source", "board"),)) in warn and Play("warning") in warn
    end = m.on_protect(Protect("end", 2.0, "kanri"))
    assert Mark("final", "kanri", (("source", "end"),)) in end
    assert Hangup("akashi") in m.on_media_event("final_done")


def test_protection_before_bridging_is_not_taken() -> None:
    m = CallMachine()
    m.on_offer(acceptable=True, notice=True)
    assert m.on_protect(Protect("key", 1.0, "operator")) == []
    assert m.on_protect(Protect("end", 1.0, "kanri")) == []
    m.on_closed()
    with pytest.raises(IllegalEvent):
        m.on_protect(Protect("warn", 1.0, "kanri"))


def test_long_call_guard_steps() -> None:
    m = CallMachine(protection=Protection(long_alert_s=60, long_warn_s=120, long_end_after_s=30))
    m.on_offer(acceptable=True, notice=False)
    start = m.on_response(LegAnswered())
    assert start == [Bridge(), Arm("long_call_alert", 60), Arm("long_call_warn", 120)]
    alert = m.on_timer("long_call_alert")
    assert alert == [Mark("long_call", "akashi", (("step", "alert"), ("minutes", "1")))]
    warn = m.on_timer("long_call_warn")
    assert Play("time_limit") in warn and Arm("long_call_end", 30) in warn
    end = m.on_timer("long_call_end")
    assert marks(end) == ["long_call", "final"] and Play("final") in end
    assert Hangup("akashi") in m.on_media_event("final_done")


def test_no_long_call_timers_when_off() -> None:
    m = CallMachine()
    m.on_offer(acceptable=True, notice=False)
    assert m.on_response(LegAnswered()) == [Bridge()]
