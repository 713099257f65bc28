"""Formatting helpers. Internally memdash counts bytes, 0..100 percents and seconds."""

from __future__ import annotations

import re

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


_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}


def parse_duration(text: str | int | float) -> float:
    """Seconds from ``"90s"``, ``"10m"``, ``"1h"``, ``"1h30m"``, ``"7d"`` or a bare number of seconds.

    Raises ``ValueError`` with a sentence a user can act on.
    """
    if isinstance(text, bool):
        raise ValueError("must be a duration such as \"90s\", \"10m\" or \"1h\"")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        s = text.strip().lower()
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|min|s|m|h|d|w)?", s)
        if not s or not parts or re.sub(r"(\d+(?:\.\d+)?)\s*(ms|min|s|m|h|d|w)?", "", s).strip():
            raise ValueError(f"must be a duration such as \"90s\", \"10m\" or \"1h\", not {text!r}")
        value = sum(float(n) * _DURATION_UNITS[u or "s"] for n, u in parts)
    if value != value or value in (float("inf"), float("-inf")) or value < 0:
        raise ValueError(f"must be a finite, non-negative duration, not {text!r}")
    return value
