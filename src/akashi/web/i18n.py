"""Japanese (default) and English labels for the pages, and times shown in JST.

Templates call ``t("key")``; a missing key shows the key itself so that a gap is visible, never blank.
The labels themselves are in :mod:`akashi.web.messages`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from akashi.web.messages import MESSAGES

JST = timezone(timedelta(hours=9), "JST")
LANGS = ("ja", "en")


def translate(key: str, lang: str) -> str:
    """The label for ``key`` in ``lang`` (``ja`` or ``en``); the key itself when unknown."""
    pair = MESSAGES.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def label(prefix: str, code: str | None, lang: str) -> str:
    """The label of a stored code (an audit action, a camera state…); the code itself when none is known."""
    if not code:
        return ""
    pair = MESSAGES.get(prefix + code)
    if pair is None:
        return code
    return pair[1] if lang == "en" else pair[0]


def pick_language(cookie: str | None, accept: str | None) -> str:
    """The page language: the cookie if set, else Japanese (the product's default)."""
    if cookie in LANGS:
        return str(cookie)
    del accept  # Japanese workplaces: default stays Japanese whatever the browser says
    return "ja"


def jst(value: datetime | None, *, with_zone: bool = True, seconds: bool = True) -> str:
    """A UTC time as JST text, e.g. ``2026-11-29 19:01:02 JST``; empty for ``None``."""
    if value is None:
        return ""
    text = value.astimezone(JST).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} JST" if with_zone else text


def jst_iso(value: str | None) -> str:
    """An ISO-8601 UTC time stored as text (e.g. the last verification) as JST text with the zone."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return jst(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def duration(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``."""
    s = max(0, round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"
