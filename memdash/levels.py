"""Levels: the one place that decides excellent / good / warning / critical.

A level is derived from a percentage of the limit that really applies (a
cgroup limit where one is set, else physical memory). Thresholds give the
percent at which each level *begins*; below ``good`` is ``excellent``. The
defaults follow what our users already run (seed 001): below 70 % excellent,
70-75 good, 75-85 warning, 85 and above critical.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable


class Level(enum.IntEnum):
    """How worrying a figure is. Ordered, so ``max()`` gives the worst.

    ``UNKNOWN`` sorts lowest: a figure that could not be read does not make
    things look worse, but it is reported (snapshot exits 3 for it).
    """

    UNKNOWN = -1
    EXCELLENT = 0
    GOOD = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        """The lower-case name used in JSON, CSS classes and config."""
        return self.name.lower()

    @property
    def css_class(self) -> str:
        """The CSS class widgets set so TCSS can colour by ``$level-*``."""
        return f"-{self.label}"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Where each level begins.

    ``good``, ``warning`` and ``critical`` are percentages (0-100) of the limit.
    ``oom_eta_warning`` and ``oom_eta_critical`` are times to OOM in seconds: a
    projected OOM sooner than these escalates the level whatever the percent.
    ``eta_min_span`` is how many seconds of samples a slope needs before any
    time to OOM is given (less is noise).
    """

    good: float = 70.0
    warning: float = 75.0
    critical: float = 85.0
    oom_eta_warning: float = 3600.0
    oom_eta_critical: float = 600.0
    eta_min_span: float = 60.0

    def __post_init__(self) -> None:
        for name in ("good", "warning", "critical", "oom_eta_warning", "oom_eta_critical", "eta_min_span"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, not {type(value).__name__}")
            if value != value:
                raise ValueError(f"{name} must be a number, not NaN")
        for name in ("good", "warning", "critical"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise ValueError(f"{name} must be between 0 and 100, got {value}")
        if not self.good <= self.warning <= self.critical:
            raise ValueError(
                f"thresholds must rise: good ({self.good}) <= warning ({self.warning})"
                f" <= critical ({self.critical})"
            )
        for name in ("oom_eta_warning", "oom_eta_critical", "eta_min_span"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.oom_eta_critical > self.oom_eta_warning:
            raise ValueError(
                f"oom_eta_critical ({self.oom_eta_critical:g} s) must not be longer than"
                f" oom_eta_warning ({self.oom_eta_warning:g} s)"
            )

    def classify_eta(self, seconds: float | None) -> Level:
        """The level a projected time to OOM alone gives.

        ``None`` (not growing, or not enough samples) gives ``Level.EXCELLENT``:
        no projection is no reason to worry; the percent still decides.
        """
        if seconds is None or seconds != seconds:
            return Level.EXCELLENT
        if seconds <= self.oom_eta_critical:
            return Level.CRITICAL
        if seconds <= self.oom_eta_warning:
            return Level.WARNING
        return Level.EXCELLENT

    def classify_with_eta(self, percent: float | None, eta_seconds: float | None) -> Level:
        """The worse of the percent's level and the time-to-OOM's level.

        With no percent (no limit known) the level is unknown unless the ETA
        alone says warning or critical.
        """
        by_eta = self.classify_eta(eta_seconds)
        by_percent = self.classify(percent)
        if by_percent is Level.UNKNOWN:
            return by_eta if by_eta >= Level.WARNING else Level.UNKNOWN
        return max(by_percent, by_eta)

    def classify(self, percent: float | None) -> Level:
        """The level of ``percent`` (0-100); ``None`` is ``Level.UNKNOWN``."""
        if percent is None:
            return Level.UNKNOWN
        if percent >= self.critical:
            return Level.CRITICAL
        if percent >= self.warning:
            return Level.WARNING
        if percent >= self.good:
            return Level.GOOD
        return Level.EXCELLENT


DEFAULT_THRESHOLDS = Thresholds()


def classify(percent: float | None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> Level:
    """Module-level shortcut for :meth:`Thresholds.classify`."""
    return thresholds.classify(percent)


def worst(levels: Iterable[Level]) -> Level:
    """The worst of ``levels``; ``Level.UNKNOWN`` when there are none."""
    return max(levels, default=Level.UNKNOWN)


def hit_rate_level(hit_rate: float | None, lookups: int, *, min_lookups: int = 100) -> Level:
    """Level of a cache hit rate (0..1), once there are enough lookups to mean something.

    High is good here, so the scale runs the other way from memory: 90 % or more
    is excellent, 70 % good, 40 % warning, below that critical.
    """
    if hit_rate is None or lookups < min_lookups:
        return Level.UNKNOWN
    if hit_rate >= 0.9:
        return Level.EXCELLENT
    if hit_rate >= 0.7:
        return Level.GOOD
    if hit_rate >= 0.4:
        return Level.WARNING
    return Level.CRITICAL
