"""Redis's memory, from ``INFO`` (a ``redis://`` target) or from redis_exporter's page.

==============================  ==============================  =====================
INFO field                      redis_exporter series           memdash
==============================  ==============================  =====================
``used_memory``                 ``redis_memory_used_bytes``     ``rss_bytes`` (what
                                                                ``maxmemory`` counts)
``maxmemory`` (0: none)         ``redis_memory_max_bytes``      ``limit_bytes``
``used_memory_rss``             ``redis_memory_used_rss_bytes`` ``runtime.rss_bytes``
``mem_fragmentation_ratio``     ``redis_mem_fragmentation_      ``runtime.fragmentation_
                                ratio``                         ratio``
``maxmemory_policy``            ``redis_config_maxmemory_       ``runtime.maxmemory_
                                policy`` label, where exported  policy``
``keyspace_hits``/``_misses``   ``redis_keyspace_hits_total``   the ``keyspace`` cache
``evicted_keys``                ``redis_evicted_keys_total``    its ``evictions``
``expired_keys``                ``redis_expired_keys_total``    ``runtime.expired_keys``
``db0:keys=...``                ``redis_db_keys{db}``           the cache's ``size``
==============================  ==============================  =====================

``used_memory`` is the figure Redis compares with ``maxmemory`` before it
evicts, so it is the one set against the limit; RSS (what the OS sees,
fragmentation included) is shown beside it. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from memdash.model import CacheStats, Runtime
from memdash.sources.numbers import count, limit as limit_bytes, number, size


@dataclass(frozen=True, slots=True)
class RedisFigures:
    """What a Redis sample carries besides its name and time."""

    used_bytes: int | None
    limit_bytes: int | None
    runtime: Runtime
    cache: CacheStats | None


def _num(value: Any) -> float | None:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    return number(value)


def keyspace_keys(info: Mapping[str, Any]) -> int | None:
    """Keys over every ``dbN`` entry (``{"keys": 12, "expires": 0}`` or ``"keys=12,expires=0"``)."""
    total, seen = 0, False
    for key, value in info.items():
        if not (isinstance(key, str) and key.startswith("db") and key[2:].isdigit()):
            continue
        if isinstance(value, str):
            value = dict(p.split("=", 1) for p in value.split(",") if "=" in p)
        if isinstance(value, Mapping):
            n = count(_num(value.get("keys")))
            if n is not None:
                total += n
                seen = True
    return total if seen else None


def figures_from_info(info: Mapping[str, Any]) -> RedisFigures:
    """Redis's figures from ``INFO`` fields (``redis-py``'s parsed dict, or the
    same names mapped from redis_exporter)."""
    used = size(_num(info.get("used_memory")))
    limit = limit_bytes(_num(info.get("maxmemory")))  # 0: no maxmemory
    f: dict[str, float] = {}
    for key, field in (("rss_bytes", "used_memory_rss"), ("peak_bytes", "used_memory_peak"),
                       ("dataset_bytes", "used_memory_dataset"), ("lua_bytes", "used_memory_lua")):
        b = size(_num(info.get(field)))
        if b is not None:
            f[key] = b
    if used is not None:
        f["used_bytes"] = used
    frag = _num(info.get("mem_fragmentation_ratio"))
    if frag is not None and frag >= 0:
        f["fragmentation_ratio"] = frag
    for key in ("evicted_keys", "expired_keys", "connected_clients", "keyspace_hits", "keyspace_misses"):
        c = count(_num(info.get(key)))
        if c is not None:
            f[key] = c
    labels = {}
    for key in ("maxmemory_policy", "redis_version", "mem_allocator"):
        value = info.get(key)
        if isinstance(value, (str, bytes)) and value:
            labels[key] = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    hits, misses = f.get("keyspace_hits"), f.get("keyspace_misses")
    cache = None
    if hits is not None or misses is not None:
        lookups = (hits or 0) + (misses or 0)
        cache = CacheStats(
            name="keyspace", hits=count(hits), misses=count(misses),
            hit_rate=(hits or 0) / lookups if lookups else None,
            size=keyspace_keys(info), maxsize=None, size_bytes=used,
            evictions=count(f.get("evicted_keys")),
        )
    return RedisFigures(used, limit, Runtime(kind="redis", figures=f, labels=labels), cache)


#: redis_exporter series -> INFO field.
EXPORTER_NAMES = {
    "redis_memory_used_bytes": "used_memory",
    "redis_memory_used_rss_bytes": "used_memory_rss",
    "redis_memory_used_peak_bytes": "used_memory_peak",
    "redis_memory_used_dataset_bytes": "used_memory_dataset",
    "redis_memory_used_lua_bytes": "used_memory_lua",
    "redis_memory_max_bytes": "maxmemory",
    "redis_config_maxmemory": "maxmemory",
    "redis_mem_fragmentation_ratio": "mem_fragmentation_ratio",
    "redis_keyspace_hits_total": "keyspace_hits",
    "redis_keyspace_misses_total": "keyspace_misses",
    "redis_evicted_keys_total": "evicted_keys",
    "redis_expired_keys_total": "expired_keys",
    "redis_connected_clients": "connected_clients",
}
