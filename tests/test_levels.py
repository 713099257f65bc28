"""Levels: the thresholds that decide excellent / good / warning / critical."""

from __future__ import annotations

import math

import pytest

from memdash.levels import (
    DEFAULT_THRESHOLDS,
    Level,
    Thresholds,
    classify,
    hit_rate_level,
    worst,
)


# -- defaults (seed 001: <70 excellent, 70-75 good, 75-85 warning, >=85 critical) --


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        (0.0, Level.EXCELLENT),
        (50.0, Level.EXCELLENT),
        (69.99, Level.EXCELLENT),
        (70.0, Level.GOOD),
        (70.01, Level.GOOD),
        (74.99, Level.GOOD),
        (75.0, Level.WARNING),
        (80.0, Level.WARNING),
        (84.99, Level.WARNING),
        (85.0, Level.CRITICAL),
        (85.01, Level.CRITICAL),
        (100.0, Level.CRITICAL),
        # over the limit (a cgroup can be briefly over its high mark): still critical
        (130.0, Level.CRITICAL),
    ],
)
def test_default_thresholds_at_and_around_each_boundary(percent: float, expected: Level) -> None:
    assert Thresholds().classify(percent) is expected
    assert DEFAULT_THRESHOLDS.classify(percent) is expected
    assert classify(percent) is expected


def test_default_threshold_values_are_seed_001() -> None:
    t = Thresholds()
    assert (t.good, t.warning, t.critical) == (70.0, 75.0, 85.0)


def test_unknown_percent_is_unknown_level() -> None:
    assert classify(None) is Level.UNKNOWN
    assert Thresholds(10, 20, 30).classify(None) is Level.UNKNOWN


def test_labels_and_css_classes() -> None:
    assert [lv.label for lv in Level] == ["unknown", "excellent", "good", "warning", "critical"]
    assert Level.CRITICAL.css_class == "-critical"
    assert Level.EXCELLENT.css_class == "-excellent"


# -- custom thresholds -------------------------------------------------------


@pytest.mark.parametrize(
    ("percent", "expected"),
    [
        (39.9, Level.EXCELLENT),
        (40, Level.GOOD),
        (59.9, Level.GOOD),
        (60, Level.WARNING),
        (94.9, Level.WARNING),
        (95, Level.CRITICAL),
    ],
)
def test_custom_thresholds(percent: float, expected: Level) -> None:
    t = Thresholds(good=40, warning=60, critical=95)
    assert t.classify(percent) is expected
    assert classify(percent, t) is expected


def test_equal_thresholds_skip_levels() -> None:
    # good == warning: nothing is ever "good"; the higher level wins at the boundary.
    t = Thresholds(good=50, warning=50, critical=90)
    assert t.classify(49.9) is Level.EXCELLENT
    assert t.classify(50) is Level.WARNING
    everything_critical = Thresholds(0, 0, 0)
    assert everything_critical.classify(0) is Level.CRITICAL
    assert everything_critical.classify(0.001) is Level.CRITICAL


def test_extreme_but_valid_thresholds() -> None:
    t = Thresholds(good=0, warning=0.5, critical=100)
    assert t.classify(0) is Level.GOOD
    assert t.classify(99.99) is Level.WARNING
    assert t.classify(100) is Level.CRITICAL


def test_thresholds_are_immutable() -> None:
    t = Thresholds()
    with pytest.raises(AttributeError):
        t.good = 10  # type: ignore[misc]


# -- invalid thresholds --------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"good": 80, "warning": 75, "critical": 85}, "rise"),
        ({"good": 70, "warning": 90, "critical": 85}, "rise"),
        ({"good": 90, "warning": 80, "critical": 70}, "rise"),
        ({"good": -1}, "between 0 and 100"),
        ({"critical": 100.5}, "between 0 and 100"),
        ({"warning": 1000}, "between 0 and 100"),
        ({"good": math.nan}, "good"),
        ({"critical": math.inf}, "critical"),
        ({"good": True}, "number"),
        ({"critical": False}, "number"),
        ({"warning": "75"}, "number"),
        ({"good": None}, "number"),
    ],
)
def test_invalid_thresholds_raise_value_error(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        Thresholds(**kwargs)


def test_error_names_the_bad_threshold() -> None:
    with pytest.raises(ValueError, match="warning"):
        Thresholds(warning="high")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="critical"):
        Thresholds(critical=101)


# -- worst ------------------------------------------------------------------------


def test_worst_of_nothing_is_unknown() -> None:
    assert worst([]) is Level.UNKNOWN
    assert worst(iter(())) is Level.UNKNOWN


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([Level.EXCELLENT], Level.EXCELLENT),
        ([Level.EXCELLENT, Level.GOOD], Level.GOOD),
        ([Level.GOOD, Level.CRITICAL, Level.WARNING], Level.CRITICAL),
        ([Level.WARNING, Level.EXCELLENT], Level.WARNING),
        # an unreadable figure does not make things look worse
        ([Level.UNKNOWN, Level.EXCELLENT], Level.EXCELLENT),
        ([Level.UNKNOWN, Level.UNKNOWN], Level.UNKNOWN),
    ],
)
def test_worst(levels: list[Level], expected: Level) -> None:
    assert worst(levels) is expected
    assert worst(reversed(levels)) is expected  # order does not matter; generators work


# -- cache hit rates ------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        (1.0, Level.EXCELLENT),
        (0.9, Level.EXCELLENT),
        (0.8999, Level.GOOD),
        (0.7, Level.GOOD),
        (0.6999, Level.WARNING),
        (0.4, Level.WARNING),
        (0.3999, Level.CRITICAL),
        (0.0, Level.CRITICAL),
    ],
)
def test_hit_rate_levels_run_the_other_way(rate: float, expected: Level) -> None:
    assert hit_rate_level(rate, 1000) is expected


def test_hit_rate_needs_enough_lookups() -> None:
    assert hit_rate_level(0.1, 99) is Level.UNKNOWN
    assert hit_rate_level(0.1, 100) is Level.CRITICAL
    assert hit_rate_level(0.95, 0) is Level.UNKNOWN
    assert hit_rate_level(0.1, 9, min_lookups=10) is Level.UNKNOWN
    assert hit_rate_level(0.1, 10, min_lookups=10) is Level.CRITICAL
    assert hit_rate_level(0.95, 1, min_lookups=1) is Level.EXCELLENT


def test_hit_rate_unknown_when_missing() -> None:
    assert hit_rate_level(None, 10_000) is Level.UNKNOWN


# -- time to OOM ---------------------------------------------------------------

def test_eta_levels_default_to_one_hour_and_ten_minutes():
    t = Thresholds()
    assert t.classify_eta(None) is Level.EXCELLENT
    assert t.classify_eta(3601) is Level.EXCELLENT
    assert t.classify_eta(3600) is Level.WARNING
    assert t.classify_eta(601) is Level.WARNING
    assert t.classify_eta(600) is Level.CRITICAL
    assert t.classify_eta(0) is Level.CRITICAL


def test_eta_escalates_a_low_percent_but_never_softens_a_high_one():
    t = Thresholds()
    assert t.classify_with_eta(10, 300) is Level.CRITICAL
    assert t.classify_with_eta(10, 1800) is Level.WARNING
    assert t.classify_with_eta(90, None) is Level.CRITICAL
    assert t.classify_with_eta(90, 86400) is Level.CRITICAL
    assert t.classify_with_eta(10, None) is Level.EXCELLENT


def test_no_limit_stays_unknown_unless_the_eta_alone_warns():
    t = Thresholds()
    assert t.classify_with_eta(None, None) is Level.UNKNOWN
    assert t.classify_with_eta(None, 7200) is Level.UNKNOWN
    assert t.classify_with_eta(None, 1800) is Level.WARNING


@pytest.mark.parametrize(
    "kwargs",
    [
        {"oom_eta_critical": 7200},  # longer than the warning
        {"eta_min_span": -1},
        {"oom_eta_warning": float("nan")},
    ],
)
def test_eta_thresholds_that_make_no_sense_are_refused(kwargs):
    with pytest.raises(ValueError):
        Thresholds(**kwargs)
