"""Time-axis helpers for the history charts: real timestamps, units on both axes.

Pure functions (no Textual): the chart widget in :mod:`memdash.tui.widgets.memory`
plots what these return, and tests check them directly.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from memdash.units import human_bytes

#: Chart windows `[` and `]` step through, in seconds (bounded by what History keeps).
WINDOWS = (60.0, 300.0, 900.0, 3600.0)
_TIME_STEPS = (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400, 172800)
_KIB = 1024
_BYTE_STEPS = tuple(k * u for u in (1, _KIB, _KIB**2, _KIB**3, _KIB**4) for k in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512))


def time_label(seconds_ago: float) -> str:
    """``0 -> 'now'``, ``30 -> '-30s'``, ``300 -> '-5m'``, ``5400 -> '-1.5h'``."""
    s = abs(seconds_ago)
    if s < 0.5:
        return "now"
    if s < 60:
        return f"-{s:.0f}s"
    if s < 3600:
        m = s / 60
        return f"-{m:.0f}m" if m.is_integer() or m >= 10 else f"-{m:.1f}m"
    h = s / 3600
    return f"-{h:.0f}h" if h.is_integer() else f"-{h:.1f}h"


def window_label(seconds: float) -> str:
    """``300 -> '5m'``."""
    return time_label(seconds).lstrip("-")


def time_ticks(window: float, most: int = 6) -> list[float]:
    """Tick positions (seconds, <= 0) over ``[-window, 0]``: at most ``most``, on round steps."""
    step = next((s for s in _TIME_STEPS if window / s <= most - 1), _TIME_STEPS[-1])
    return [-k * step for k in range(int(window // step), -1, -1)]


def value_ticks(lo: float, hi: float, unit: str, most: int = 4) -> list[float]:
    """Round tick values over ``[lo, hi]`` for ``unit`` (``bytes``: powers of two)."""
    span = max(hi - lo, 1e-9)
    if unit == "bytes":
        step = float(next((s for s in _BYTE_STEPS if span / s <= most), _BYTE_STEPS[-1]))
    else:
        raw = span / most
        mag = 10 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out: list[float] = []
    v = first
    while v <= hi + 1e-9 and len(out) < 2 * most + 2:
        out.append(v)
        v += step
    return out


def value_label(unit: str) -> Callable[[float], str]:
    """How a value reads on the y axis: ``512M``, ``85%``, ``12/m``, ``40ms``."""
    if unit == "bytes":
        return human_bytes
    if unit == "percent":
        return lambda v: f"{v:.0f}%"
    if unit == "seconds":
        return lambda v: f"{v * 1000:.0f}ms" if v < 1 else f"{v:.1f}s"
    if unit == "per_min":
        return lambda v: f"{v:g}/m"
    return lambda v: f"{v:g}"


def value_range(values: Sequence[float], unit: str, lines: Sequence[float] = ()) -> tuple[float, float, tuple[float, ...]]:
    """The y range around ``values``, and which of ``lines`` (limit, warning
    threshold) fall in it: a line within a third of the data's span above the
    data (or below it) widens the range to show it; one far away is left out,
    so a 23 MB service is not drawn flat under a 24 GB limit."""
    lo, hi = min(values), max(values)
    span = hi - lo
    pad = max(span * 0.15, abs(hi) * 0.05, 1.0 if unit != "bytes" else 1024.0)
    if unit == "percent":
        pad = max(pad, 2.0)
    lo, hi = lo - pad, hi + pad
    shown = []
    for line in lines:
        reach = max(hi - lo, abs(hi) * 0.25)
        if lo - reach <= line <= hi + reach:
            shown.append(line)
            lo, hi = min(lo, line - pad / 2), max(hi, line + pad / 2)
    if unit in ("bytes", "percent", "per_min", "seconds") or min(values) >= 0:
        lo = max(0.0, lo)
    return lo, hi, tuple(shown)


def rates_per_minute(times: Sequence[float], totals: Sequence[float]) -> tuple[list[float], list[float]]:
    """Per-minute rates from a cumulative counter (GC collections): one point per
    interval, at its end; a counter that went back (a restart) gives no point."""
    xs, ys = [], []
    for i in range(1, len(times)):
        dt = times[i] - times[i - 1]
        dv = totals[i] - totals[i - 1]
        if dt > 0 and dv >= 0:
            xs.append(times[i])
            ys.append(dv / dt * 60.0)
    return xs, ys
