"""Numbers from other people's answers, made safe to compute with.

A service, an exporter or a cgroup file may say anything: ``NaN``, ``+Inf``,
``1e303``, a 401-digit integer, ``-1``. Each reader takes every figure through
one of these functions, so one bad number drops *that field* (``None``) and the
rest of the answer is still read. Nothing here raises for any input.

Limits are the special case: ``-1``, ``0``, ``NaN`` and ``Inf`` are the common
spellings of "unlimited", and cgroup v1 writes its "no limit" as a number near
``2**63``; all of them mean *no limit* (``None``), never a percent against them.

Standard library only; no I/O.
"""

from __future__ import annotations

import math
from typing import Any

#: Largest size taken as real, in bytes: 2**60 (1 EiB). Larger sizes are
#: sentinels (cgroup v1's "no limit" is ~2**63) or garbage.
MAX_BYTES = 1 << 60
#: Largest counter taken as real (GC collections, cache hits): past it, garbage.
MAX_COUNT = 1 << 63
#: Integers up to this convert to float and back unchanged: below it a plain
#: ``int`` skips the float round trip (a probe answer holds ~50 figures; 200
#: targets a second make the round trip a measurable part of a poll).
_EXACT_INT = 1 << 53


def number(value: Any) -> float | None:
    """``value`` as a finite float; ``None`` for booleans, strings, NaN, ±Inf and
    integers too large for a float."""
    if value is None:  # the commonest "no figure" on the wire
        return None
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int and -_EXACT_INT <= value <= _EXACT_INT:
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        value = float(value)
    except OverflowError:  # an int past 1.8e308
        return None
    return value if math.isfinite(value) else None


def integer(value: Any) -> int | None:
    """``value`` as an int (floats truncated toward zero); ``None`` where it is not a finite number."""
    v = number(value)
    return None if v is None else int(v)


def size(value: Any, scale: float = 1) -> int | None:
    """A size in bytes: ``value * scale`` when that is 0 .. :data:`MAX_BYTES`; else ``None``
    (a negative size, NaN, Inf, ``1e303`` MB)."""
    if scale == 1 and type(value) is int and 0 <= value <= _EXACT_INT:
        return value  # what the float round trip below gives, without it
    v = number(value)
    if v is None or v < 0:
        return None
    v *= scale
    return int(v) if v <= MAX_BYTES else None


def count(value: Any) -> int | None:
    """A counter (collections, hits, objects): a whole number 0 .. :data:`MAX_COUNT`; else ``None``."""
    if type(value) is int and 0 <= value <= _EXACT_INT:
        return value  # what the float round trip below gives, without it
    v = number(value)
    if v is None or v < 0 or v > MAX_COUNT:
        return None
    return int(v)


def limit(value: Any, scale: float = 1) -> int | None:
    """A memory limit in bytes, or ``None`` for *no limit*: ``-1``, ``0``, NaN,
    ±Inf, sentinels past :data:`MAX_BYTES` and anything that is not a number."""
    b = size(value, scale)
    return b if b else None


def percent(value: Any) -> float | None:
    """A percent as given: finite and not negative, else ``None`` (``-390000`` is no figure)."""
    v = number(value)
    return v if v is not None and v >= 0 else None


#: Longest duration taken as real, in seconds (~30 years): past it, garbage that
#: would overflow a ``timedelta``.
MAX_SECONDS = 1e9


def seconds(value: Any) -> float | None:
    """A duration in seconds: 0 .. :data:`MAX_SECONDS`, else ``None``."""
    if type(value) is float and 0.0 <= value <= MAX_SECONDS:  # NaN fails both: the checks below
        return value
    v = number(value)
    return v if v is not None and 0 <= v <= MAX_SECONDS else None
