"""``web/cache.py``: the one bounded cache type, owned by each app's state."""

from __future__ import annotations

import threading

import pytest

from akashi.web.cache import BoundedCache, WebCaches


def test_least_recently_used_goes_first_past_the_entry_bound() -> None:
    c: BoundedCache[str, int] = BoundedCache(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1  # "b" is now the oldest
    c.put("c", 3)
    assert (c.get("a"), c.get("b"), c.get("c")) == (1, None, 3)
    assert len(c) == 2


def test_size_bound_counts_bytes_and_an_oversized_value_is_not_kept() -> None:
    c: BoundedCache[str, bytes] = BoundedCache(10, 10, len)
    c.put("a", b"x" * 6)
    c.put("b", b"y" * 6)  # 12 bytes: "a" goes
    assert c.get("a") is None and c.get("b") == b"y" * 6
    c.put("b", b"z" * 2)  # a replaced value's size is given back
    c.put("c", b"w" * 8)
    assert c.get("b") == b"z" * 2 and c.get("c") == b"w" * 8
    assert c.get_or_make("big", lambda: b"q" * 11) == b"q" * 11
    assert c.get("big") is None
    c.clear()
    assert len(c) == 0
    with pytest.raises(ValueError):
        BoundedCache(1, 10)


def test_concurrent_askers_share_one_computation() -> None:
    c: BoundedCache[str, str] = BoundedCache(4)
    started, release = threading.Event(), threading.Event()
    calls: list[int] = []

    def make() -> str:
        calls.append(1)
        started.set()
        release.wait(10)
        return "wav"

    got: list[str] = []
    first = threading.Thread(target=lambda: got.append(c.get_or_make("k", make)))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=lambda: got.append(c.get_or_make("k", make)))
    second.start()
    release.set()
    first.join(10)
    second.join(10)
    assert got == ["wav", "wav"] and calls == [1]


def test_each_app_state_has_its_own_caches() -> None:
    one, two = WebCaches(), WebCaches()
    one.derived.put("obj", b"RIFF")
    assert two.derived.get("obj") is None
