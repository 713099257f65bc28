"""Formatting helpers. Internally memdash counts bytes, 0..100 percents and seconds."""

from __future__ import annotations

_UNITS = ("B", "K", "M", "G", "T", "P")


def human_bytes(n: int | float | None, *, none: str = "-") -> str:
    """``1536 -> '1.5K'``; binary units, at most 4 significant characters."""
    if n is None:
        return none
    value = float(n)
    sign = "-" if value < 0 else ""
    value = abs(value)
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{sign}{int(value)}B"
            if value < 10:
                return f"{sign}{value:.1f}{unit}"
            return f"{sign}{value:.0f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_rate(bytes_per_min: float | None, *, none: str = "-") -> str:
    """Growth per minute: ``'+1.2M/m'``, ``'-300K/m'``, ``'0/m'``."""
    if bytes_per_min is None:
        return none
    if abs(bytes_per_min) < 1024:
        return "0/m"
    sign = "+" if bytes_per_min > 0 else "-"
    return f"{sign}{human_bytes(abs(bytes_per_min))}/m"


def human_percent(p: float | None, *, none: str = "-") -> str:
    """``73.456 -> '73.5%'``."""
    if p is None:
        return none
    return f"{p:.1f}%"


def human_duration(seconds: float | None, *, none: str = "-") -> str:
    """``3725 -> '1h02m'``, ``42 -> '42s'``, ``0.0031 -> '3.1ms'``."""
    if seconds is None:
        return none
    if seconds < 1:
        ms = seconds * 1000
        return f"{ms:.1f}ms" if ms < 100 else f"{ms:.0f}ms"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


MIB = 1024 * 1024
