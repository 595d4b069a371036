"""The trunk dial plan (sans-I/O) and the agent/source lockout."""

from __future__ import annotations

import pytest

from akashi.config.telephony import TrunkSettings
from akashi.telephony.authguard import AuthGuard
from akashi.telephony.dialplan import check_number, classify


@pytest.mark.parametrize(
    ("number", "cls"),
    [
        ("0312345678", "ordinary"),
        ("0667891234", "ordinary"),
        ("09012345678", "ordinary"),
        ("08012345678", "ordinary"),
        ("07012345678", "ordinary"),
        ("05012345678", "ordinary"),
        ("0120123456", "ordinary"),
        ("08001234567", "ordinary"),
        ("+81312345678", "ordinary"),
        ("+819012345678", "ordinary"),
        ("110", "emergency"),
        ("119", "emergency"),
        ("118", "emergency"),
        ("0101212555123", "international"),
        ("01044201234567", "international"),
        ("0033010441234567", "international"),
        ("+12125551234", "international"),
        ("+442012345678", "international"),
        ("0990123456", "premium"),
        ("0570123456", "premium"),
        ("0180123456", "premium"),
        ("104", "other"),
        ("177", "other"),
        ("*67", "other"),
        ("0312345678#", "other"),
        ("+810312345678", "other"),
        ("031234567", "other"),  # one digit short
        ("031234567890", "other"),  # too long
        ("201", "other"),
        ("", "other"),
        ("abc", "other"),
        ("03-1234-5678", "other"),
    ],
)
def test_classes(number: str, cls: str) -> None:
    """Each number falls in the class the module describes."""
    assert classify(number) == cls


def test_defaults_refuse_international_premium_and_other() -> None:
    """A trunk with the defaults: ordinary and emergency numbers only, each refusal says why."""
    trunk = TrunkSettings(name="main", host="127.0.0.1")
    assert check_number("0312345678", trunk) is None
    assert check_number("119", trunk) is None
    for number, reason in [
        ("0101212555123", "international"),
        ("+12125551234", "international"),
        ("0990123456", "premium"),
        ("0570123456", "premium"),
        ("104", "other"),
    ]:
        refusal = check_number(number, trunk)
        assert refusal is not None and refusal.reason == reason
        assert refusal.warning().startswith('399 akashi "') and refusal.warning().endswith('"')
        assert refusal.ja in refusal.warning() and refusal.en in refusal.warning()


def test_toggles_and_allow_patterns() -> None:
    """allow_* open a class; dial_allow opens exactly the numbers it matches."""
    trunk = TrunkSettings(
        name="main",
        host="127.0.0.1",
        allow_premium=True,
        allow_emergency=False,
        dial_allow=[r"\+1212555[0-9]{4}"],
    )
    assert check_number("0570123456", trunk) is None
    refusal = check_number("110", trunk)
    assert refusal is not None and refusal.reason == "emergency"
    assert check_number("+12125551234", trunk) is None
    refusal = check_number("+12125551234567", trunk)  # the pattern matches whole numbers only
    assert refusal is not None and refusal.reason == "international"
    assert check_number("0101212555123", TrunkSettings(name="x", host="h", allow_international=True)) is None


def test_bad_allow_pattern_is_refused_at_load() -> None:
    """A dial_allow entry that is not a regular expression is a configuration error naming it."""
    with pytest.raises(ValueError, match="dial_allow pattern"):
        TrunkSettings(name="main", host="127.0.0.1", dial_allow=["0570("])


def test_lockout_after_failures_in_window() -> None:
    """N failures within the window lock the pair once; other pairs and later times are free."""
    g = AuthGuard(max_failures=3, window_s=60, lock_s=100)
    assert not g.failure("201", "10.0.0.9", 0)
    assert not g.failure("201", "10.0.0.9", 1)
    assert g.locked("201", "10.0.0.9", 1) == 0
    assert g.failure("201", "10.0.0.9", 2)  # the third: locked, reported once
    assert g.locked("201", "10.0.0.9", 3) == pytest.approx(99)
    assert not g.failure("201", "10.0.0.9", 4)  # while locked: not reported again
    assert g.locked("201", "10.0.0.10", 4) == 0  # another address
    assert g.locked("202", "10.0.0.9", 4) == 0  # another agent
    assert g.locked("201", "10.0.0.9", 103) == 0  # the lock ran out
    # failures further apart than the window never lock
    assert not any(g.failure("203", "10.0.0.9", t) for t in (0, 61, 122, 183))


def test_success_clears_and_table_is_bounded() -> None:
    """A right answer forgets the failures; past ``limit`` pairs the oldest go."""
    g = AuthGuard(max_failures=2, window_s=60, lock_s=100, limit=5)
    g.failure("201", "a", 0)
    g.success("201", "a")
    assert not g.failure("201", "a", 1)
    for i in range(20):
        g.failure(str(i), "b", 2)
    assert len(g) <= 5
    assert g.should_log("x", "201", "a", 0) and not g.should_log("x", "201", "a", 30)
    assert g.should_log("x", "201", "a", 61)
    with pytest.raises(ValueError):
        AuthGuard(max_failures=0)
