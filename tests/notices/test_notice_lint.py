"""The recording-notice lint: purpose, the word 録音, length, and being played first."""

from __future__ import annotations

import pytest

from akashi.notices.lint import MAX_SECONDS, estimate_duration, lint_notice

GOOD = "この通話は、サービス向上のため録音させていただきます。"
OPERATOR = (
    "お電話ありがとうございます。担当の〇〇です。この通話は、お客様との応対内容の確認とサービス向上のため、"
    "録音させていただきます。"
)


def codes(text: str, duration: float | None = None, first: bool = True) -> list[str]:
    return [m.code for m in lint_notice(text, duration, first)]


@pytest.mark.parametrize("text", [GOOD, OPERATOR, "品質向上のため、この通話を録音しております。"])
def test_good_notices_pass(text: str) -> None:
    assert codes(text, 6.0) == []


def test_missing_purpose() -> None:
    assert codes("この通話は録音させていただきます。", 3.0) == ["no-purpose"]


def test_missing_recording_word() -> None:
    assert codes("サービス向上のため、ご協力をお願いします。", 3.0) == ["no-recording-word"]


def test_too_long_by_audio_and_by_estimate() -> None:
    assert codes(GOOD, MAX_SECONDS + 0.5) == ["too-long"]
    assert codes(GOOD, MAX_SECONDS - 0.5) == []
    long_text = GOOD + "なお、" + "お問い合わせの内容によっては、担当部署におつなぎすることがございます。" * 3
    assert "too-long" in codes(long_text, None)


def test_not_first_and_empty() -> None:
    assert codes(GOOD, 4.0, first=False) == ["not-first"]
    assert codes("   ", None) == ["empty"]


def test_messages_are_japanese_then_english() -> None:
    (msg,) = lint_notice("この通話は録音させていただきます。", 3.0)
    assert "目的" in msg.ja and "purpose" in msg.en
    assert str(msg) == f"{msg.ja} / {msg.en}"


def test_estimate_grows_with_text() -> None:
    short, longer = estimate_duration(GOOD), estimate_duration(OPERATOR)
    assert 2.5 < short < 7.0
    assert longer > 2 * short - 1
    assert estimate_duration("") == 0.0
