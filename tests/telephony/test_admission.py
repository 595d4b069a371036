"""Admission control by load (akashi.telephony.admission): the monitor driven by an injected clock."""

from __future__ import annotations

import asyncio

import pytest

from akashi.telephony.admission import LagRecord, LoadMonitor, run_monitor
from akashi.telephony.edgeaudit import MESSAGES
from akashi.telephony.limits import Refusal, RefusalLog


def _feed(m: LoadMonitor, t0: float, t1: float, lag: float, cpu_rate: float, cpu0: float = 0.0) -> list[bool]:
    """Samples every 20 ms from ``t0`` to ``t1`` with ``lag`` and CPU growing at ``cpu_rate``; the changes."""
    changes = []
    n = round((t1 - t0) / 0.02)
    for i in range(1, n + 1):
        t = t0 + i * 0.02
        c = m.sample(t, lag, cpu0 + (t - t0) * cpu_rate)
        if c is not None:
            changes.append(c)
    return changes


def test_quiet_process_admits() -> None:
    m = LoadMonitor(0.05, 0.85)
    assert _feed(m, 0, 10, 0.002, 0.3) == []
    assert m.admit() is None
    assert m.stats()["admission_overloaded"] == 0
    assert m.stats()["admission_cpu_permille"] == pytest.approx(300, abs=2)
    assert m.refused == 0


def test_lag_over_threshold_refuses_then_clears_with_hysteresis() -> None:
    m = LoadMonitor(0.05, 0.85)
    assert _feed(m, 0, 5, 0.001, 0.2) == []
    assert _feed(m, 5, 7, 0.08, 0.2) == [True]  # p95 of the lag passes 50 ms
    assert m.cause == "lag"
    r = m.admit()
    assert isinstance(r, Refusal)
    assert (r.status, r.kind) == (503, "overload")
    assert ("Retry-After", "5") in r.headers
    assert m.refused == 1
    # lag just under the threshold but above 70% of it: stays overloaded (no flapping)
    assert _feed(m, 7, 17, 0.045, 0.2) == []
    assert m.overloaded
    # lag falls low: the window must drain (2 s) and then stay low for the hold (3 s)
    assert _feed(m, 17, 21, 0.001, 0.2) == []
    assert m.overloaded
    assert _feed(m, 21, 23, 0.001, 0.2) == [False]
    assert m.admit() is None
    assert m.stats()["admission_episodes"] == 1
    assert m.stats()["refused_overload"] == 1


def test_one_stall_is_not_overload() -> None:
    """A single 300 ms stall in a 2 s window of quiet samples is below the p95: nothing is refused."""
    m = LoadMonitor(0.05, 0.85)
    _feed(m, 0, 3, 0.001, 0.1)
    assert m.sample(3.3, 0.3, 0.33) is None
    assert _feed(m, 3.3, 5, 0.001, 0.1, 0.33) == []
    assert m.admit() is None


def test_cpu_over_threshold_refuses() -> None:
    m = LoadMonitor(0.05, 0.85)
    assert _feed(m, 0, 3, 0.001, 0.95) == [True]
    assert m.cause == "cpu"
    assert m.admit() is not None
    assert _feed(m, 3, 5, 0.001, 0.7, 2.85) == []  # 0.7 > 0.85 * 0.7: still high
    assert m.overloaded
    assert _feed(m, 5, 12, 0.001, 0.3, 4.25) == [False]


def test_not_before_the_window_has_samples() -> None:
    """Startup: the first few samples cannot say overloaded, however bad they look."""
    m = LoadMonitor(0.05, 0.85)
    assert m.sample(0.0, 0.5, 0.0) is None
    assert m.sample(0.5, 0.5, 0.5) is None
    assert not m.overloaded


def test_zero_thresholds_disable() -> None:
    m = LoadMonitor(0, 0)
    assert not m.enabled
    assert _feed(m, 0, 5, 2.0, 4.0) == []
    assert m.admit() is None


def test_overload_refusal_is_logged_and_audited_like_the_others() -> None:
    log = RefusalLog()
    r = Refusal(503, 5, "overload", "server overloaded")
    line = log.note(r, "127.0.0.2", 0.0)
    assert line is not None and "過負荷" in line and "overload" in line
    assert log.note(r, "127.0.0.3", 1.0) is None  # summarised, not a line per INVITE
    assert "overloaded" in MESSAGES["overload"]


async def test_run_monitor_measures_a_blocked_loop() -> None:
    """The I/O shell: a loop blocked by a CPU burner is seen as lag and reported once."""
    m = LoadMonitor(0.05, 0, window_s=1.0, hold_s=0.2)
    changes: list[bool] = []
    task = asyncio.create_task(run_monitor(m, lambda mon: changes.append(mon.overloaded)))
    loop = asyncio.get_running_loop()
    stop = loop.time() + 4
    while loop.time() < stop and not m.overloaded:
        end = loop.time() + 0.1
        while loop.time() < end:  # burn the loop: nothing else runs meanwhile
            pass
        await asyncio.sleep(0)
    try:
        assert m.overloaded and changes == [True]
        assert m.lag_p95_s > 0.05
        deadline = loop.time() + 5
        while m.overloaded and loop.time() < deadline:
            await asyncio.sleep(0.02)
        assert changes == [True, False]
    finally:
        task.cancel()


async def test_run_monitor_off_feeds_only_the_lag_stats() -> None:
    """Thresholds 0: the one timer still gives the service its lag samples, the monitor is never fed."""
    fed: list[float] = []

    class Counting(LoadMonitor):
        def sample(self, now: float, lag_s: float, cpu_s: float) -> bool | None:
            fed.append(now)
            return super().sample(now, lag_s, cpu_s)

    m = Counting(0, 0)
    got = asyncio.Event()
    lags: list[tuple[float, float]] = []

    def on_lag(t: float, lag: float) -> None:
        lags.append((t, lag))
        if len(lags) >= 3:
            got.set()

    task = asyncio.create_task(run_monitor(m, lambda _m: None, period_s=0.01, on_lag=on_lag))
    try:
        await asyncio.wait_for(got.wait(), timeout=30)
        assert fed == [] and m.stats()["admission_loop_lag_p95_us"] == 0
    finally:
        task.cancel()
    # with neither thresholds nor a lag listener there is nothing to do: it returns at once
    await asyncio.wait_for(run_monitor(m, lambda _m: None), timeout=30)


def test_lag_record_keeps_the_last_samples_and_reports_percentiles() -> None:
    rec = LagRecord(samples=100)
    assert rec.stats() == {}
    for i in range(200):  # only the last 100 stay
        rec.note(float(i), i / 1000)
    rec.note(200.0, -0.001)  # a timer early is no lag: the window is 0, 0.101 .. 0.199 s
    got = rec.stats()
    assert abs(got["loop_lag_max_us"] - 199_000) <= 1
    assert abs(got["loop_lag_p50_us"] - 150_000) <= 1
    assert 190_000 <= got["loop_lag_p99_us"] <= 199_000
