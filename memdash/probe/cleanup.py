"""Cleanup actions and their receipts.

Every action measures what it really did in the OS's terms (RSS from
``/proc/self/statm`` before and after), not Python's: a ``gc.collect()`` that
frees 100 000 small objects usually leaves RSS where it was, because pymalloc
keeps its arenas; the receipt then says so and suggests ``trim``.

Cleanups in one process are serialised by a lock and rate-limited per action:
the same action at most once every ``min_interval`` seconds (5 by default,
``MEMDASH_PROBE_MIN_INTERVAL``). Every ``gc``, whatever its generation, counts
as ``gc``: a young collection is not cheap where it matters, since the receipt
counts the tracked objects before and after (two walks of the heap: 0.2-0.4 s
on a 6 M-object heap).

The code of the actions is :mod:`memdash.probe.cleaner`, loaded by the first
cleanup (``CLEANER`` and the other names there are reachable from here too);
this module, which the package imports for :func:`cleanup`, holds only what a
server needs before any cleanup runs.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any

# Every action the probe knows (whether or not this process can run it) and the
# options each accepts: the wire schema's.
from memdash.probe.wire import ACTIONS, OPTIONS  # noqa: F401

DEFAULT_MIN_INTERVAL = 5.0


def default_min_interval() -> float:
    """``MEMDASH_PROBE_MIN_INTERVAL`` (seconds) or 5."""
    raw = os.environ.get("MEMDASH_PROBE_MIN_INTERVAL")
    if raw:
        try:
            value = float(raw)
            if value >= 0:
                return value
        except ValueError:
            pass
    return DEFAULT_MIN_INTERVAL


def cleanup(action: str, **options: Any) -> dict[str, Any]:
    """Run one cleanup action in this process and return its receipt.

    ``action``: ``gc`` (option ``generation``: 0..2, default the oldest),
    ``caches`` (option ``name``: one tracked cache, default all), ``cuda``
    (``torch.cuda.empty_cache()``), ``trim`` (glibc ``malloc_trim(0)``) or
    ``all`` (caches, full gc, cuda and trim where available).

    The receipt gives bytes (``rss_before_bytes``, ``rss_after_bytes``,
    ``rss_freed_bytes``, ``gpu_reserved_*_bytes``), object counts and
    ``duration_seconds``. Serialised with the HTTP front ends' cleanups but not
    rate-limited: the caller decided. Raises ``ProbeError`` subclasses
    (``NotFound``, ``Unavailable``, ``BadRequest``) for refusals.
    """
    from memdash.probe.cleaner import CLEANER

    return CLEANER.run(action, options, min_interval=0.0, client="in-process")


def __getattr__(name: str) -> Any:
    """``CLEANER``, ``Cleaner``, ``validate``, ``run_action``...: from
    :mod:`memdash.probe.cleaner`, loaded on first use (PEP 562)."""
    if name.startswith("__"):
        raise AttributeError(name)
    from memdash.probe import cleaner

    try:
        return getattr(cleaner, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
