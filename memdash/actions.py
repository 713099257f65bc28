"""Cleanup actions: what each one means, and how a result is reported.

Every cleanup, from a key in the dashboard or ``memdash cleanup``, goes through
:meth:`memdash.sources.remote.TargetPoller.cleanup` and comes back as a
:class:`~memdash.model.CleanupResult`; this module describes and renders them.
"""

from __future__ import annotations

from typing import Any

from memdash.model import CleanupResult
from memdash.probe.wire import ACTIONS

__all__ = ["ACTIONS", "DESCRIPTIONS", "result_json"]

#: action -> (key in the dashboard, what a person is told it does), for every
#: action in :data:`~memdash.probe.wire.ACTIONS` (the one list), in its order.
DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "gc": ("g", "run Python's garbage collector (gc.collect)"),
    "caches": ("c", "clear the service's tracked caches"),
    "cuda": ("e", "release PyTorch's cached CUDA memory (torch.cuda.empty_cache)"),
    "trim": ("t", "return free heap memory to the OS (glibc malloc_trim)"),
    "all": ("x", "all of the above"),
    "tracemalloc": ("", "trace allocations for a few seconds and list the top sites (tracemalloc; off unless "
                        "the service enables it)"),
}
if tuple(DESCRIPTIONS) != ACTIONS:  # pragma: no cover - a new action needs its key and words here
    raise ImportError("memdash.actions.DESCRIPTIONS does not describe memdash.probe.wire.ACTIONS")


def result_json(r: CleanupResult) -> dict[str, Any]:
    """A cleanup result as a JSON object (``memdash cleanup --json``)."""
    return {
        "target": r.target,
        "action": r.action,
        "ok": r.ok,
        "error": r.error,
        "status": r.status,
        "rss_before_bytes": r.rss_before_bytes,
        "rss_after_bytes": r.rss_after_bytes,
        "rss_freed_bytes": r.rss_freed_bytes,
        "gpu_reserved_before_bytes": r.gpu_reserved_before_bytes,
        "gpu_reserved_after_bytes": r.gpu_reserved_after_bytes,
        "collected": r.collected,
        "note": r.note,
        "retry_after_seconds": r.retry_after_seconds,
        "receipt": dict(r.raw),
    }
