"""The long-call guard's settings are checked at load: a time-limit message never says "0分"."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from akashi.config.telephony import RouteSettings


def test_warning_without_an_end_cannot_promise_minutes() -> None:
    with pytest.raises(ValidationError) as exc:
        RouteSettings(match="*", ring=["sip:op@127.0.0.1"], long_call_warn_min=30, long_call_end_after_min=0)
    assert "long_call_end_after_min" in str(exc.value)
    assert "0分" in str(exc.value)


def test_warning_without_an_end_is_fine_with_words_or_audio_of_its_own() -> None:
    plain = RouteSettings(
        match="*",
        ring=["sip:op@127.0.0.1"],
        long_call_warn_min=30,
        long_call_text="お話の時間が長くなっております。",
    )
    assert plain.long_call_end_after_min == 0
    recorded = RouteSettings(
        match="*", ring=["sip:op@127.0.0.1"], long_call_warn_min=30, long_call_audio="limit.wav"
    )
    assert recorded.long_call_audio == "limit.wav"


def test_warning_with_an_end_and_a_guard_left_off_load() -> None:
    on = RouteSettings(match="*", ring=["sip:op@127.0.0.1"], long_call_warn_min=30, long_call_end_after_min=5)
    assert on.long_call_end_after_min == 5
    assert RouteSettings(match="*", ring=["sip:op@127.0.0.1"]).long_call_warn_min == 0
