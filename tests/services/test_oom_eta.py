"""The time-to-OOM estimator, the OOM-kill watch and the leak flag: table tests with exact expectations."""

from __future__ import annotations

import random

import pytest

from memdash.oom_eta import (
    MAX_POINTS,
    OomKillWatch,
    WorkingSetTrend,
    growing_after_gc,
    is_recent,
    project,
    slope_per_second,
)

MiB = 1024 * 1024
LIMIT = 1024 * MiB


def series(f, seconds: int = 600, step: float = 1.0) -> list[tuple[float, float]]:
    return [(t * step, f(t * step)) for t in range(int(seconds / step) + 1)]


def trend_of(points, *, min_span: float = 60.0, limit: float | None = LIMIT):
    tr = WorkingSetTrend(window=600.0, min_span=min_span)
    for t, v in points:
        tr.add(1_000_000.0 + t, v)
    return tr.trend(limit)


def linear_with_drop(t: float) -> float:
    # 1 MiB/s leak; a GC hands back 100 MiB for good at t=300
    return 100 * MiB + t * MiB - (100 * MiB if t >= 300 else 0)


def linear_with_dip(t: float) -> float:
    # 1 MiB/s; one sample taken mid-collection reads 200 MiB low
    return 100 * MiB + t * MiB - (200 * MiB if t == 250 else 0)


NOISE = random.Random(7)
NOISY = {t: NOISE.uniform(-4, 4) * MiB for t in range(601)}


@pytest.mark.parametrize(
    "label, f, growth_per_min, eta",
    [
        ("steady", lambda t: 300 * MiB, 0.0, None),
        ("linear 1 MiB/s", lambda t: 100 * MiB + t * MiB, 60 * MiB, (LIMIT - 700 * MiB) / MiB),
        ("shrinking", lambda t: 700 * MiB - t * MiB / 4, -15 * MiB, None),
        # one step up long ago (a cache filled once), flat since: no trend
        ("old step", lambda t: 300 * MiB + (200 * MiB if t >= 100 else 0), 0.0, None),
        # a single lasting drop does not hide the leak that goes on around it
        ("linear + single GC drop", linear_with_drop, 60 * MiB, (LIMIT - 600 * MiB) / MiB),
        # a single low sample does not move the slope at all
        ("linear + one dip", linear_with_dip, 60 * MiB, (LIMIT - 700 * MiB) / MiB),
    ],
)
def test_trend_table(label, f, growth_per_min, eta):
    got = trend_of(series(f))
    assert got.growth_bytes_per_min == pytest.approx(growth_per_min, abs=1.0), label
    if eta is None:
        assert got.oom_eta_seconds is None, label
    else:
        assert got.oom_eta_seconds == pytest.approx(eta, rel=1e-9), label


def test_noisy_linear_within_three_percent():
    # +/- 4 MiB of noise on a 1 MiB/s leak: slope within 3 %, ETA within 5 %
    got = trend_of(series(lambda t: 100 * MiB + t * MiB + NOISY[int(t)]))
    assert got.growth_bytes_per_min == pytest.approx(60 * MiB, rel=0.03)
    assert got.oom_eta_seconds == pytest.approx((LIMIT - 700 * MiB) / MiB, rel=0.05)


def test_steady_sawtooth_is_not_growing():
    # a GC every 100 s takes back what grew since: no trend, however many teeth
    # (50 MiB teeth): the slope left is bucket phase, under 1 MiB/min, and the
    # projection, if any, is many hours away: never a warning
    got = trend_of(series(lambda t: 300 * MiB + (t % 100) * MiB / 2))
    assert abs(got.growth_bytes_per_min) < MiB
    assert got.oom_eta_seconds is None or got.oom_eta_seconds > 10 * 3600


def test_no_figure_before_min_span():
    pts = series(lambda t: 100 * MiB + t * MiB, seconds=59)
    assert trend_of(pts, min_span=60.0).growth_bytes_per_min is None
    assert trend_of(pts, min_span=60.0).oom_eta_seconds is None
    pts = series(lambda t: 100 * MiB + t * MiB, seconds=60)
    assert trend_of(pts, min_span=60.0).growth_bytes_per_min == pytest.approx(60 * MiB)


def test_no_limit_gives_growth_but_no_eta():
    got = trend_of(series(lambda t: 100 * MiB + t * MiB), limit=None)
    assert got.growth_bytes_per_min == pytest.approx(60 * MiB)
    assert got.oom_eta_seconds is None


def test_past_the_limit_is_zero():
    assert project(LIMIT + 1, LIMIT, 5.0) == 0.0
    assert project(LIMIT - 10 * MiB, LIMIT, MiB) == pytest.approx(10.0)
    assert project(LIMIT - 10 * MiB, LIMIT, 0.0) is None


def test_window_and_memory_are_bounded():
    tr = WorkingSetTrend(window=600.0, min_span=5.0)
    for i in range(10_000):
        tr.add(i * 0.1, 100 * MiB + i * 1024)
    assert len(tr.points) <= MAX_POINTS
    assert tr.span <= 600.0
    # 10 KiB/s held over the kept window
    assert tr.trend(LIMIT).growth_bytes_per_min == pytest.approx(10 * 1024 * 60, rel=1e-6)


def test_old_samples_leave_the_window():
    tr = WorkingSetTrend(window=60.0, min_span=5.0)
    for t in range(0, 120):
        tr.add(float(t), (t if t < 60 else 60 + (t - 60) * 4) * MiB)  # rate x4 after a minute
    assert tr.points[0][0] >= 59
    assert tr.trend(LIMIT).growth_bytes_per_min == pytest.approx(240 * MiB, rel=1e-6)


def test_clock_going_back_resets():
    tr = WorkingSetTrend(window=600.0, min_span=5.0)
    for t in range(20):
        tr.add(1000.0 + t, t * MiB)
    tr.add(10.0, 5 * MiB)
    assert len(tr.points) == 1
    assert tr.trend(LIMIT).growth_bytes_per_min is None


def test_fit_is_cheap_on_a_full_window():
    # 1000 points are cut to 32 buckets: the estimate is the same slope
    pts = series(lambda t: t * MiB, seconds=999)
    assert slope_per_second(pts) == pytest.approx(MiB, rel=1e-3)


# -- OOM kills ---------------------------------------------------------------------


def test_first_reading_is_a_baseline_with_no_time():
    w = OomKillWatch()
    w.update(3, now=100.0)
    assert (w.count, w.rose_at) == (3, None)  # one-shot: counts, never an invented time
    w.update(3, now=110.0)
    assert w.rose_at is None
    w.update(4, now=120.0)
    assert (w.count, w.rose_at) == (4, 120.0)
    assert is_recent(w.rose_at, 120.0 + 899)
    assert not is_recent(w.rose_at, 120.0 + 901)


def test_counter_reset_is_a_new_baseline():
    w = OomKillWatch()
    w.update(5, now=1.0)
    w.update(0, now=2.0)  # the cgroup was recreated
    assert (w.count, w.rose_at) == (0, None)
    w.update(1, now=3.0)
    assert w.rose_at == 3.0


def test_logged_kill_keeps_latest():
    w = OomKillWatch()
    w.note_logged(50.0)
    w.note_logged(40.0)
    assert w.rose_at == 50.0


# -- growing after GC ----------------------------------------------------------------


@pytest.mark.parametrize(
    "label, samples, expected",
    [
        ("no collections", [(0, 100 * MiB), (0, 150 * MiB), (0, 200 * MiB)], False),
        ("one collection only", [(0, 100 * MiB), (1, 120 * MiB), (1, 200 * MiB)], False),
        ("baseline rises across two", [(0, 90 * MiB), (1, 100 * MiB), (1, 130 * MiB), (2, 110 * MiB),
                                       (2, 150 * MiB), (3, 125 * MiB)], True),
        ("sawtooth back to the same floor", [(0, 90 * MiB), (1, 100 * MiB), (1, 130 * MiB), (2, 100 * MiB),
                                             (2, 150 * MiB), (3, 100 * MiB)], False),
        ("rises then falls", [(1, 100 * MiB), (2, 110 * MiB), (3, 120 * MiB), (4, 100 * MiB)], False),
        ("noise below the floor", [(1, 100 * MiB), (2, 100 * MiB + 4096), (3, 100 * MiB + 8192)], False),
        ("restart starts over", [(5, 100 * MiB), (6, 110 * MiB), (7, 120 * MiB), (0, 50 * MiB), (1, 60 * MiB)],
         False),
        ("unknown readings skipped", [(1, 100 * MiB), (None, None), (2, 110 * MiB), (3, 120 * MiB),
                                      (4, 130 * MiB)], True),
    ],
)
def test_growing_after_gc(label, samples, expected):
    assert growing_after_gc(samples) is expected, label
