"""A figure as a person reads it, the unit told by its name (Prometheus' naming rules).

=======================================  ===============================
name (labels ignored)                    shown as
=======================================  ===============================
``*timestamp*``, ``*_time_seconds``,     a time: ``2026-11-27 21:07:27 UTC``
``*_time``, ``*_start_time_seconds``
``*_bytes``, ``*_bytes_total``           a size: ``72.3M``
``*_seconds``, ``*_seconds_total``       a duration: ``79µs``, ``3.8ms``, ``1h02m``
``*_ratio``                              ``1.23``
``*_percent``                            ``42.0%``
``*_total``, ``*_count``, whole numbers  a count: ``75,789``
anything else                            4 significant digits
=======================================  ===============================

Standard library only; used by the target view and ``memdash check``.
"""

from __future__ import annotations

import time

from memdash.units import human_bytes, human_duration


def base_name(key: str) -> str:
    """``'name{a="b"}'`` -> ``'name'`` (lower case)."""
    return key.split("{", 1)[0].lower()


def is_time(name: str) -> bool:
    """Whether a series named ``name`` holds a point in time (Unix seconds)."""
    return "timestamp" in name or name.endswith(("_time_seconds", "_time")) and "duration" not in name


def short_duration(seconds: float) -> str:
    """Durations down to microseconds: GC pauses are often below a millisecond."""
    if 0 < seconds < 0.001:
        return f"{seconds * 1e6:.0f}µs"
    return human_duration(seconds)


def format_figure(key: str, value: float) -> str:
    """``value`` in the unit ``key``'s name says (see the module docstring)."""
    name = base_name(key)
    if is_time(name):
        if not 0 < value < 1e11:
            return f"{value:,.0f}"
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))
    if name.endswith(("_bytes", "_bytes_total")):
        return human_bytes(value)
    if name.endswith(("_seconds", "_seconds_total", "_seconds_sum")):
        return short_duration(value) if value >= 0 else f"{value:.4g}"
    if name.endswith("_ratio"):
        return f"{value:.2f}"
    if name.endswith("_percent"):
        return f"{value:.1f}%"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.4g}"
