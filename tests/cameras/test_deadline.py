"""The read deadline: found in PyAV's container, it ends a read in progress; the watchdog trips stale sessions."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import av
import pytest

from akashi.cameras.deadline import Deadline, Watchdog, find_timeout_field


def test_the_timeout_field_is_found_and_ends_reads(h264_file: Path) -> None:
    opened_at = time.monotonic()
    with av.open(str(h264_file), timeout=(5.0, None)) as c:
        field = find_timeout_field(c, opened_at)
        assert field is not None and field.value == -1.0
        deadline = Deadline(field, c, 5.0)
        n = 0
        with pytest.raises(av.ExitError):
            for _ in c.demux(c.streams.video[0]):
                n += 1
                if n == 5:
                    deadline.trip()
        # FFmpeg checks at its next read from the file (its buffer holds a few packets): far before the end.
        assert 5 <= n < 100 and deadline.tripped


def test_no_field_without_the_layout_it_proves(h264_file: Path) -> None:
    with av.open(str(h264_file), timeout=(5.0, 5.0)) as c:  # a read timeout: not our kind of open
        assert find_timeout_field(c, time.monotonic()) is None
    with av.open(str(h264_file), timeout=(5.0, None)) as c:  # opened "long ago": start_time disagrees
        assert find_timeout_field(c, time.monotonic() + 3600) is None


class _Field:
    def __init__(self) -> None:
        self.value = -1.0
        self.set = threading.Event()

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)
        if name == "value" and value == 0.0:
            self.set.set()


def test_the_watchdog_trips_a_stale_session_only() -> None:
    dog = Watchdog()
    stale_field, live_field = _Field(), _Field()
    stale = Deadline(stale_field, None, 0.2)  # type: ignore[arg-type]
    live = Deadline(live_field, None, 3600.0)  # type: ignore[arg-type]
    dog.watch(stale)
    dog.watch(live)
    assert stale_field.set.wait(10)
    assert stale.tripped and not live.tripped and live_field.value == -1.0
    dog.cancel(stale)
    dog.cancel(live)
