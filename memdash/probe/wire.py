"""The probe's wire schema, in one place: what ``memdash.probe`` writes and
``memdash.sources.probe_wire`` reads (docs/probe-wire.md is the prose).

The probe, the reader, ``memdash cleanup``, the dashboard's keys and
``memdash.actions`` all take the action list, the schema number, the probe's
name and the routes from here. Standard library only, and nothing imported at
all: the probe imports this module into other people's services.

Readers ignore keys they do not know; the key tuples below are what schema 1
defines (a contract test holds the probe's real documents to them).
"""

from __future__ import annotations

#: The document format's version, ``"schema"`` in every snapshot and receipt.
SCHEMA = 1
#: ``"probe"`` in every snapshot and receipt: how a reader tells a probe from other JSON.
PROBE_NAME = "memdash.probe"

#: The cleanup actions, in the order keys and menus show them.
#: ``tracemalloc`` is off unless the host enables it (memdash.probe.tracing); ``all`` never runs it.
ACTIONS: tuple[str, ...] = ("gc", "caches", "cuda", "trim", "all", "tracemalloc")
#: The query options each action accepts (``?generation=2``, ``?name=lookup_user``).
OPTIONS: dict[str, tuple[str, ...]] = {
    "gc": ("generation",), "caches": ("name",), "cuda": (), "trim": (), "all": (),
    "tracemalloc": ("seconds", "frames"),
}
#: Pre-fork servers take ``?worker=PID`` on every action too.
WORKER_OPTION = "worker"

#: ``GET {base}/``: a snapshot. ``POST {base}/cleanup/{action}``: a receipt.
SNAPSHOT_PATH = "/"
CLEANUP_PATH = "/cleanup/{action}"
METRICS_PATH = "/metrics"

# -- schema 1 keys -------------------------------------------------------------

SNAPSHOT_KEYS = (
    "schema", "probe", "version", "pid", "ppid", "time", "started_at", "uptime_seconds", "python",
    "implementation", "executable", "memory", "gc", "caches", "torch", "malloc", "actions",
    "prefork", "workers", "group", "python_memory",
)
#: ``python_memory`` (memdash.probe.pymem, docs/python-memory.md): where RSS is.
PYTHON_MEMORY_KEYS = ("allocated_blocks", "tracked_objects", "tracked_method", "gc_stats_extra", "allocator",
                      "allocator_source", "pythonmalloc", "gc_flavour", "pymalloc", "pymalloc_error", "malloc",
                      "breakdown", "predict")
PYMALLOC_KEYS = ("arenas", "arenas_highwater", "arenas_reclaimed", "arena_bytes", "pool_bytes", "allocated_bytes",
                 "available_bytes", "unused_pool_bytes", "free_bytes", "overhead_bytes", "method", "age_seconds",
                 "parse_seconds")
MALLINFO_KEYS = ("allocator", "known", "method", "age_seconds", "arena_bytes", "in_use_bytes", "free_bytes",
                 "free_fastbin_bytes", "free_chunks", "releasable_bytes", "mmapped_bytes", "mmapped_chunks",
                 "arenas", "arena_max", "arena_max_source")
BREAKDOWN_KEYS = ("rss_bytes", "live_python_bytes", "pymalloc_free_bytes", "malloc_free_bytes", "trimmable_bytes",
                  "native_other_bytes", "methods")
PREDICT_KEYS = ("gc_collectable_objects", "gc_tracked_objects", "trim_bytes")
MEMORY_KEYS = ("rss_bytes", "uss_bytes", "vms_bytes", "pss_bytes", "physical_bytes", "limit_bytes",
               "limit_source", "percent")
GC_KEYS = ("enabled", "garbage", "generations", "pause_total_seconds", "pause_last_seconds",
           "pause_max_seconds", "pauses_since")
GENERATION_KEYS = ("generation", "count", "threshold", "collections", "collected", "uncollectable",
                   "pauses", "pause_total_seconds", "pause_last_seconds", "pause_max_seconds")
CACHE_KEYS = ("name", "kind", "hits", "misses", "hit_rate", "size", "maxsize", "size_bytes", "evictions",
              "error")
TORCH_KEYS = ("version", "cuda_available", "cuda_initialized", "devices")
TORCH_DEVICE_KEYS = ("device", "name", "allocated_bytes", "reserved_bytes", "max_allocated_bytes")
GROUP_KEYS = ("workers", "unreachable", "rss_bytes", "pss_bytes", "parent_pid")
RECEIPT_KEYS = (
    "schema", "probe", "action", "ok", "error", "pid", "time", "duration_seconds", "steps",
    "rss_before_bytes", "rss_after_bytes", "rss_freed_bytes", "gpu_reserved_before_bytes",
    "gpu_reserved_after_bytes", "collected", "caches_cleared", "tracked_objects_before",
    "tracked_objects_after", "note", "suggest", "workers", "unreachable",
    "prediction", "malloc_free_before_bytes", "malloc_free_after_bytes", "tracemalloc",
)
#: ``prediction`` in a receipt: what the probe expected just before it ran the action.
PREDICTION_KEYS = ("gc_collectable_objects", "gc_tracked_objects", "trim_bytes")
TRACEMALLOC_KEYS = ("seconds", "frames", "was_running", "left_running", "traced_bytes", "traced_peak_bytes",
                    "top_by_size", "top_by_growth", "overhead")


def cleanup_path(action: str) -> str:
    """``/cleanup/gc``: where ``action`` is posted, under the probe's base path."""
    return CLEANUP_PATH.format(action=action)


def is_probe_document(doc: object) -> bool:
    """True for a probe snapshot or receipt: ``{"schema": ..., "probe": "memdash.probe"}``."""
    return isinstance(doc, dict) and "schema" in doc and doc.get("probe") == PROBE_NAME
