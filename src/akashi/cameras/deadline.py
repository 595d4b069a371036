"""A per-packet read deadline for camera sessions that costs nothing while packets flow.

A camera (or anything posing as one) that trickles bytes must not hold a session: FFmpeg's socket
timeouts restart with every byte. PyAV's read timeout bounds each packet read, but its interrupt
callback takes the GIL on every network wait (FFmpeg calls it about twice per ``recv``, thousands of
times a second per 1080p camera): measured, 0.1-0.15% of a core per camera, a quarter of what
``ffmpeg -c copy`` spends on the whole camera.

Here a session opens its input with an open timeout only, so PyAV's callback stays installed but
returns at once, without the GIL, while reads have no timeout. One watchdog thread for all sessions
looks at each session's last packet twice a second; a session past its deadline gets the callback's
timeout set to zero, so FFmpeg's next check (within 0.1 s: it polls the socket in 100 ms steps)
ends the read with ``av.ExitError``, exactly as PyAV's own read timeout would.

The timeout field lives in PyAV's container object (``Container.interrupt_callback_info``, a C
struct): :func:`find_timeout_field` finds it next to the two timeout attributes it follows, and
proves it by their object identities and the values PyAV leaves there after an open. On a PyAV whose
layout does not match, the session uses PyAV's read timeout as before (and says so once).
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

#: How often the watchdog looks at the sessions (seconds): a deadline is enforced within this.
CHECK_EVERY_S = 0.5


def find_timeout_field(container: Any, opened_at: float) -> ctypes.c_double | None:
    """The ``timeout`` double of the container's interrupt callback, or None when not proven.

    PyAV keeps ``open_timeout``, ``read_timeout`` (two object pointers) and then ``{start_time,
    timeout}`` (two doubles). After an open with ``timeout=(t, None)``: the pointers are ``t`` and
    ``None``, ``start_time`` is the monotonic time the open (or its stream probe) began, ``timeout``
    is -1.0 (no read timeout).
    """
    base = id(container)
    words = type(container).__basicsize__ // 8
    if words < 4 or container.read_timeout is not None or container.open_timeout is None:
        return None
    view = (ctypes.c_uint64 * words).from_address(base)
    want = (id(container.open_timeout), id(None))
    now = time.monotonic()
    for i in range(words - 3):
        if (view[i], view[i + 1]) != want:
            continue
        start = ctypes.c_double.from_address(base + 8 * (i + 2)).value
        timeout = ctypes.c_double.from_address(base + 8 * (i + 3))
        if timeout.value == -1.0 and opened_at - 1.0 <= start <= now + 1.0:
            return timeout
    return None


class Deadline:
    """The deadline of one session: :meth:`alive` per packet, :meth:`cancel` when it ends."""

    def __init__(self, field: ctypes.c_double, container: Any, seconds: float) -> None:
        self._field = field
        self._container = container  # keeps the memory of ``field`` alive while it is watched
        self.seconds = seconds
        self.last = time.monotonic()
        self.tripped = False

    def alive(self, now: float) -> None:
        """A packet arrived at ``now`` (monotonic)."""
        self.last = now

    def trip(self) -> None:
        """End the read in progress (and any later one) with ``av.ExitError``."""
        self.tripped = True
        self._field.value = 0.0  # FFmpeg's next interrupt check: now > start + 0


class Watchdog:
    """One thread that trips sessions whose last packet is older than their deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: set[Deadline] = set()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: Deadline) -> None:
        """Start watching (the thread starts with the first session)."""
        with self._lock:
            self._sessions.add(deadline)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="akashi-camera-deadlines", daemon=True)
                self._thread.start()

    def cancel(self, deadline: Deadline) -> None:
        """Stop watching (before the session closes its container)."""
        with self._lock:
            self._sessions.discard(deadline)

    def _run(self) -> None:
        while True:
            time.sleep(CHECK_EVERY_S)
            now = time.monotonic()
            with self._lock:
                if not self._sessions:  # no camera records: the next session starts a new thread
                    self._thread = None
                    return
                for d in self._sessions:
                    if not d.tripped and now - d.last > d.seconds:
                        d.trip()


WATCHDOG = Watchdog()
