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
    """Percentages (0-100) at which ``good``, ``warning`` and ``critical`` begin."""

    good: float = 70.0
    warning: float = 75.0
    critical: float = 85.0

    def __post_init__(self) -> None:
        for name in ("good", "warning", "critical"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number, not {type(value).__name__}")
            if not 0 <= value <= 100:
                raise ValueError(f"{name} must be between 0 and 100, got {value}")
        if not self.good <= self.warning <= self.critical:
            raise ValueError(
                f"thresholds must rise: good ({self.good}) <= warning ({self.warning})"
                f" <= critical ({self.critical})"
            )

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
