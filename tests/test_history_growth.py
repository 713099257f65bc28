"""Growth over long runs: hours of points, so the window is full and the oldest
points fall off at every refresh.

The expected growth is the least-squares slope of exactly the points still in
the window, computed here from its definition (no running sums), so a fault in
the ring buffer's bookkeeping (eviction, resync, ordering) shows as a number a
user would see in the GROWTH column: a steady process growing, a growing one
flat.
"""

from __future__ import annotations

import random

import pytest

from memdash.history import History, Series

MIB = 1024 * 1024
STEP = 5.0  # seconds between two process points, as the collector records them
T0 = 1_764_000_000.0  # an epoch-sized clock: large times are where float sums go wrong


def _slope_per_minute(times: list[float], values: list[float]) -> float:
    n = len(times)
    tm = sum(times) / n
    vm = sum(values) / n
    num = sum((t - tm) * (v - vm) for t, v in zip(times, values))
    den = sum((t - tm) ** 2 for t in times)
    return num / den * 60.0


def _feed(history: History, pid: int, fn, seconds: float) -> tuple[list[float], list[float]]:
    times, values = [], []
    k = 0
    while k * STEP <= seconds:
        t = T0 + k * STEP
        v = fn(k * STEP)
        history.record_processes(t, {pid: int(v)})
        times.append(t)
        values.append(float(int(v)))
        k += 1
    return times, values


def _noise(seed: int):
    rng = random.Random(seed)
    cache: dict[float, float] = {}

    def f(s: float) -> float:
        if s not in cache:
            cache[s] = rng.uniform(-20, 20) * MIB
        return cache[s]
    return f


SHAPES = {
    "steady": (lambda s: 500 * MIB, 0.0),
    "linear": (lambda s: 100 * MIB + s / 60.0 * 3 * MIB, 3 * MIB),        # +3 MiB/min
    "shrinking": (lambda s: 4000 * MIB - s / 60.0 * 2 * MIB, -2 * MIB),   # -2 MiB/min
    "step_long_ago": (lambda s: 500 * MIB if s < 600 else 700 * MIB, 0.0),  # the step left the window
}


@pytest.mark.parametrize("hours", [0.5, 2, 10])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_growth_after_hours_is_the_true_rate(shape: str, hours: float) -> None:
    fn, rate = SHAPES[shape]
    seconds = hours * 3600
    history = History(process_points=60)
    _feed(history, 42, fn, seconds)
    assert history.growth(42) == pytest.approx(rate, abs=1.0)  # within a byte per minute


@pytest.mark.parametrize("minutes_after", [0.5, 1, 2.5, 4, 4.9, 5, 6, 20])
def test_a_step_is_seen_while_it_is_in_the_window_then_forgotten(minutes_after: float) -> None:
    """500 MiB for an hour, then 600 MiB: growth is the slope of the last 60
    points (5 minutes) and 0 once the step has left them."""
    history = History(process_points=60)
    step_at = 3600.0
    times, values = _feed(history, 7, lambda s: 500 * MIB if s < step_at else 600 * MIB,
                          step_at + minutes_after * 60)
    expected = _slope_per_minute(times[-60:], values[-60:])
    assert history.growth(7) == pytest.approx(expected, rel=1e-9, abs=1.0)
    if minutes_after >= 5:
        assert history.growth(7) == pytest.approx(0.0, abs=1.0)
    else:
        assert history.growth(7) > 1 * MIB  # a jump of 100 MiB within 5 minutes shows as growth


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("hours", [1, 6])
def test_noisy_growth_is_the_least_squares_slope_of_the_window(seed: int, hours: float) -> None:
    noise = _noise(seed)
    history = History(process_points=60)
    times, values = _feed(history, 9, lambda s: 800 * MIB + s / 60.0 * MIB + noise(s), hours * 3600)
    expected = _slope_per_minute(times[-60:], values[-60:])
    assert history.growth(9) == pytest.approx(expected, rel=1e-9, abs=1.0)


def test_window_keeps_exactly_the_newest_points_in_order() -> None:
    s = Series(60)
    for k in range(1000):
        s.append(T0 + k, float(k))
    assert len(s) == 60
    assert s.values == [float(k) for k in range(940, 1000)]
    assert s.times == [T0 + k for k in range(940, 1000)]
    assert s.last() == 999.0


@pytest.mark.parametrize("n", [1, 2, 59, 60, 61, 119, 120, 121, 239, 240, 241, 1000])
def test_series_of_any_length_gives_the_window_slope(n: int) -> None:
    """Around each wrap of the ring and each resync (every 4 windows)."""
    s = Series(60)
    times, values = [], []
    rng = random.Random(n)
    for k in range(n):
        t, v = T0 + 5.0 * k, 1e9 + 1e6 * k + rng.uniform(-1e6, 1e6)
        s.append(t, v)
        times.append(t)
        values.append(v)
    assert s.values == values[-60:]
    if n < 2:
        assert s.rate_per_minute() is None
    else:
        assert s.rate_per_minute() == pytest.approx(_slope_per_minute(times[-60:], values[-60:]), rel=1e-9)


def test_growth_needs_the_minimum_span() -> None:
    s = Series(60)
    s.append(T0, 100.0)
    assert s.rate_per_minute() is None              # one point
    s.append(T0 + 4.0, 200.0)
    assert s.rate_per_minute() is None              # 4 s < the 5 s default span
    assert s.rate_per_minute(min_span_seconds=4.0) == pytest.approx(1500.0)
    s.append(T0 + 5.0, 225.0)
    assert s.rate_per_minute() == pytest.approx(_slope_per_minute([T0, T0 + 4, T0 + 5], [100, 200, 225]))
    assert s.rate_per_minute(min_span_seconds=5.01) is None


def test_points_at_one_instant_have_no_slope() -> None:
    s = Series(10)
    for v in (1.0, 2.0, 3.0):
        s.append(T0, v)
    assert s.rate_per_minute(min_span_seconds=0.0) is None


def test_process_series_follow_the_live_pids() -> None:
    history = History(process_points=60)
    for k in range(200):
        live = {pid: 1000 * pid + k for pid in range(1, 6) if not (pid == 3 and k == 100)}
        history.record_processes(T0 + STEP * k, live)
        if k == 100:
            assert history.growth(3) is None  # gone: its history with it
    assert history.growth(12345) is None
    for pid in (1, 2, 4, 5):
        assert history.growth(pid) == pytest.approx(12.0)  # +1 per 5 s
    # pid 3 left at k=100 and came back: its series restarted at k=101, so 99
    # points, +12 per minute too but from a fresh window
    assert history.growth(3) == pytest.approx(12.0)
    history.record_processes(T0 + STEP * 200, {})
    assert all(history.growth(pid) is None for pid in range(1, 6))


def test_a_pid_that_disappears_loses_its_history() -> None:
    history = History(process_points=60)
    for k in range(30):
        history.record_processes(T0 + STEP * k, {1: k * 1000, 2: 5})
    assert history.growth(1) == pytest.approx(12000.0)
    history.record_processes(T0 + STEP * 30, {2: 5})
    assert history.growth(1) is None
    history.record_processes(T0 + STEP * 31, {1: 10**9, 2: 5})
    assert history.growth(1) is None  # a new process with that pid: one point, no rate yet


def test_named_series_are_bounded_and_skip_missing_values() -> None:
    history = History(points=100)
    for k in range(1000):
        history.record("system.percent", T0 + k, None if k % 10 == 0 else float(k))
    values = history.peek("system.percent").values
    assert len(values) == 100
    assert values[-1] == 999.0 and values[0] == 889.0
    assert 890.0 not in values  # every tenth was missing
    assert history.peek("nope") is None
