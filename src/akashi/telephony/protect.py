"""Live protection's small policies, sans-I/O: the operator's key sequence and the automatic warning.

:class:`KeySequence` recognises the route's protection key (``*9`` by default) in the keys an
operator presses; :class:`AutoWarning` decides when severe live flags warrant a warning by
themselves (route ``warning = "auto"``): only ``severe`` flags count, so a polite complaint, which
live detection never rates severe, never plays one.
"""

from __future__ import annotations

from collections import deque


class KeySequence:
    """Completes when the last keys pressed spell ``sequence`` (any other keys before are fine)."""

    def __init__(self, sequence: str) -> None:
        if not sequence:
            raise ValueError("protection key sequence is empty")
        self.sequence = sequence.upper()
        self._typed = ""

    def feed(self, key: str) -> bool:
        """Whether ``key`` completes the sequence (it then starts again from nothing)."""
        self._typed = (self._typed + key.upper())[-len(self.sequence) :]
        if self._typed == self.sequence:
            self._typed = ""
            return True
        return False


class AutoWarning:
    """``flags`` severe flags within ``window_s`` seconds ask for a warning; counting then starts again."""

    def __init__(self, flags: int = 2, window_s: float = 60.0) -> None:
        if flags < 1 or window_s <= 0:
            raise ValueError("auto warning needs at least one flag and a positive window")
        self.flags = flags
        self.window_s = window_s
        self._times: deque[float] = deque()

    def feed(self, severity: str, at: float) -> bool:
        """A live flag of ``severity`` at ``at`` (seconds); True when the warning should play now."""
        if severity != "severe":
            return False  # a polite complaint or a mild flag never warns by itself
        times = self._times
        times.append(at)
        while times and at - times[0] > self.window_s:
            times.popleft()
        if len(times) >= self.flags:
            times.clear()
            return True
        return False
