"""Recording-notice compliance: operator mode (from the transcript) and automatic mode (timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from akashi.analysis.compliance import check_automatic_notice, check_operator_notice
from akashi.analysis.detect import Segment

NOTICE = "この通話は、サービス向上のため録音させていただきます。"


@pytest.mark.parametrize(
    ("said", "ok"),
    [
        ("お電話ありがとうございます。この通話はサービス向上のため録音させていただきます。", True),
        ("お電話ありがとうございます。品質向上のため通話を録音しております。", True),  # a variant
        (
            "お店はありがとうございますこの通話はサービス工場のために録音させていただきます",
            True,
        ),  # ASR errors
        ("お電話ありがとうございます。担当の山田です。", False),
        ("この通話は録音されます", False),  # no purpose given
    ],
)
def test_operator_notice(said: str, ok: bool) -> None:
    res = check_operator_notice([Segment("operator", 0.5, 6.0, said)], NOTICE, 30.0)
    assert res.ok is ok, res.detail


def test_operator_notice_must_be_early_and_on_the_operator_channel() -> None:
    late = [Segment("operator", 45.0, 50.0, NOTICE)]
    assert not check_operator_notice(late, NOTICE, 30.0).ok
    customer = [Segment("customer", 1.0, 5.0, NOTICE)]
    assert not check_operator_notice(customer, NOTICE, 30.0).ok
    mono = [Segment("mixed", 1.0, 5.0, NOTICE)]
    assert check_operator_notice(mono, NOTICE, 30.0).ok


T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def test_automatic_notice() -> None:
    s = timedelta(seconds=1)
    assert check_automatic_notice(T0, T0 + 6 * s, T0 + 7 * s, 6.0).ok
    assert check_automatic_notice(T0, T0 + 6 * s, T0 + 7 * s, None).ok
    cut = check_automatic_notice(T0, T0 + 3 * s, T0 + 4 * s, 6.0)
    assert not cut.ok
    assert "cut short" in cut.detail["reason"]
    early = check_automatic_notice(T0, T0 + 6 * s, T0 + 5 * s, 6.0)
    assert not early.ok
    assert "bridged before" in early.detail["reason"]
    assert not check_automatic_notice(None, None, T0, 6.0).ok
    assert not check_automatic_notice(T0, T0 + 6 * s, None, 6.0).ok


def test_audio_coverage() -> None:
    import numpy as np

    from akashi.analysis.compliance import audio_coverage

    rate = 8000
    heard = np.zeros(rate * 10, dtype=np.float32)
    t = np.arange(rate * 4) / rate
    heard[rate : rate * 5] = 0.2 * np.sin(2 * np.pi * 400 * t)  # the notice: 1 s to 5 s
    assert audio_coverage(heard, rate, 1.0, 5.0) == 1.0
    assert audio_coverage(heard, rate, 1.0, 9.0) == 0.5
    assert audio_coverage(heard, rate, 12.0, 14.0) == 0.0  # after the recording ends
    assert audio_coverage(heard, rate, -1.0, 2.0) == 0.0
    s = timedelta(seconds=1)
    res = check_automatic_notice(T0, T0 + 6 * s, T0 + 7 * s, 6.0, coverage=0.2)
    assert not res.ok
    assert res.detail["audible_share"] == 0.2
