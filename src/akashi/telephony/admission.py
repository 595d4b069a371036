"""Admission control by load: new calls are refused while the SIP/media process is overloaded.

One Python process relays every call's RTP; past its capacity the event loop falls behind and every
call degrades at once. :class:`LoadMonitor` (sans-I/O) is fed samples of the loop's lag (how late a
periodic sleep woke) and of the process's CPU time; it is *overloaded* while the p95 of the lag over
the last :data:`WINDOW_S`, or the CPU per wall second over that window, passes its threshold. It
clears only when both have stayed below a lower mark (:data:`CLEAR_RATIO` of the threshold) for
:data:`HOLD_S`, so that admitting a few calls cannot flap it back and forth. While overloaded, a new
INVITE gets 503 with Retry-After (kind ``overload``), summarised in the log and audit like the other
refusals of the edge; calls already up are untouched.

:func:`run_monitor` is the I/O shell: the telephony service runs it as one task (its loop-lag stats
ride on the same 20 ms timer) and cancels it.
"""

from __future__ import annotations

import asyncio
import collections
import math
import time
from collections.abc import Callable

from akashi.telephony.limits import Refusal

#: how often the monitor's sleep wakes (its overshoot is the loop lag)
PERIOD_S = 0.02
#: the lag's p95 and the CPU are taken over this many seconds
WINDOW_S = 2.0
#: a window needs this many lag samples (and half its span) before it can say "overloaded"
MIN_SAMPLES = 3
#: overload clears when lag and CPU stay below this fraction of their thresholds ...
CLEAR_RATIO = 0.7
#: ... for this many seconds
HOLD_S = 3.0
#: Retry-After of an overload refusal
RETRY_AFTER_S = 5


class LagRecord:
    """The event loop's lag over the last minute (the last 3,000 samples of the 20 ms timer), for stats."""

    def __init__(self, samples: int = 3000) -> None:
        self._lags: collections.deque[float] = collections.deque(maxlen=samples)

    def note(self, _t: float, lag: float) -> None:
        """One sample of :func:`run_monitor`'s timer: started at ``_t``, ``lag`` seconds late."""
        self._lags.append(max(0.0, lag))

    def stats(self) -> dict[str, int]:
        """p50, p99 and max lag (µs): how late a 20 ms timer fired; RTP waits as long."""
        lags = sorted(self._lags)
        if not lags:
            return {}
        return {
            "loop_lag_p50_us": int(lags[len(lags) // 2] * 1e6),
            "loop_lag_p99_us": int(lags[int(0.99 * (len(lags) - 1))] * 1e6),
            "loop_lag_max_us": int(lags[-1] * 1e6),
        }


class LoadMonitor:
    """Loop lag and CPU of this process over a short window, and whether new calls are admitted.

    ``max_lag_s``: p95 loop lag above which new calls are refused (0: lag not checked).
    ``max_cpu``: CPU seconds per wall second (1.0 = one core) above which they are (0: not checked).
    """

    def __init__(
        self,
        max_lag_s: float,
        max_cpu: float,
        window_s: float = WINDOW_S,
        hold_s: float = HOLD_S,
        clear_ratio: float = CLEAR_RATIO,
    ) -> None:
        self.max_lag_s = max_lag_s
        self.max_cpu = max_cpu
        self.window_s = window_s
        self.hold_s = hold_s
        self.clear_ratio = clear_ratio
        #: (wall time, lag) of the samples in the window
        self._lags: collections.deque[tuple[float, float]] = collections.deque()
        #: (wall time, process CPU time) of the samples in the window (the first is the window's start)
        self._cpu: collections.deque[tuple[float, float]] = collections.deque()
        self.overloaded = False
        #: when the load last was above the lower mark (clearing waits ``hold_s`` from there)
        self._last_high = -math.inf
        #: why the last overload began ("lag" or "cpu"), for the log
        self.cause = ""
        #: times overload began, and new calls refused because of it, since start
        self.episodes = 0
        self.refused = 0
        self.lag_p95_s = 0.0
        self.cpu = 0.0

    @property
    def enabled(self) -> bool:
        """Whether any threshold is set."""
        return self.max_lag_s > 0 or self.max_cpu > 0

    def sample(self, now: float, lag_s: float, cpu_s: float) -> bool | None:
        """Add one sample (wall time, loop lag, process CPU time); True/False when the state changed."""
        self._lags.append((now, max(0.0, lag_s)))
        self._cpu.append((now, cpu_s))
        while self._lags and self._lags[0][0] < now - self.window_s:
            self._lags.popleft()
        while len(self._cpu) > 2 and self._cpu[1][0] <= now - self.window_s:
            self._cpu.popleft()
        lags = sorted(lag for _t, lag in self._lags)
        self.lag_p95_s = lags[min(len(lags) - 1, math.ceil(0.95 * len(lags)) - 1)]
        (t0, c0), (t1, c1) = self._cpu[0], self._cpu[-1]
        self.cpu = (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0
        full = len(lags) >= MIN_SAMPLES and t1 - t0 >= self.window_s / 2
        lag_over = self.max_lag_s > 0 and self.lag_p95_s > self.max_lag_s
        cpu_over = self.max_cpu > 0 and self.cpu > self.max_cpu
        high = (self.max_lag_s > 0 and self.lag_p95_s > self.max_lag_s * self.clear_ratio) or (
            self.max_cpu > 0 and self.cpu > self.max_cpu * self.clear_ratio
        )
        if high:
            self._last_high = now
        if not self.overloaded and full and (lag_over or cpu_over):
            self.overloaded = True
            self.episodes += 1
            self.cause = "lag" if lag_over else "cpu"
            return True
        if self.overloaded and now - self._last_high >= self.hold_s:
            self.overloaded = False
            return False
        return None

    def admit(self) -> Refusal | None:
        """None when a new call may start now, else the 503 refusal (counted)."""
        if not self.overloaded:
            return None
        self.refused += 1
        return Refusal(503, RETRY_AFTER_S, "overload", "server overloaded")

    def stats(self) -> dict[str, int]:
        """The state for the SIP stats: overloaded (0/1), p95 lag (µs), CPU (per mille of a core)."""
        return {
            "admission_overloaded": int(self.overloaded),
            "admission_loop_lag_p95_us": int(self.lag_p95_s * 1e6),
            "admission_cpu_permille": int(self.cpu * 1000),
            "admission_episodes": self.episodes,
            "refused_overload": self.refused,
        }

    def describe(self) -> str:
        """A log line for the current state, Japanese first."""
        lag_ms, cpu = self.lag_p95_s * 1000, self.cpu
        if self.overloaded:
            return (
                f"過負荷のため新しい通話を 503 で断ります (遅延 p95 {lag_ms:.0f} ms, CPU {cpu:.2f}) / "
                f"overloaded ({self.cause}): new calls get 503 (loop lag p95 {lag_ms:.0f} ms, CPU {cpu:.2f})"
            )
        return (
            f"負荷が下がりました。新しい通話を受け付けます / load cleared, new calls admitted again "
            f"(loop lag p95 {lag_ms:.0f} ms, CPU {cpu:.2f})"
        )


async def run_monitor(
    monitor: LoadMonitor,
    on_change: Callable[[LoadMonitor], None],
    period_s: float = PERIOD_S,
    cpu_clock: Callable[[], float] = time.process_time,
    on_lag: Callable[[float, float], None] | None = None,
) -> None:
    """Sample the running loop's lag every ``period_s`` until cancelled.

    ``on_lag(start, lag)`` gets every sample (the service's loop-lag stats use the same timer, so the
    process wakes once per period, not twice); the monitor gets lag and process CPU only while it is
    :attr:`~LoadMonitor.enabled` (with both thresholds 0 it is never fed and its stats stay 0).
    """
    loop = asyncio.get_running_loop()
    enabled = monitor.enabled  # its thresholds are read at start (a change needs a restart)
    if not enabled and on_lag is None:
        return
    sample = monitor.sample
    while True:
        t = loop.time()
        await asyncio.sleep(period_s)
        now = loop.time()
        lag = now - t - period_s
        if on_lag is not None:
            on_lag(t, lag)
        if enabled and sample(now, lag, cpu_clock()) is not None:
            on_change(monitor)
