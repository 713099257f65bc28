"""Prometheus text exposition -> :class:`~memdash.model.TargetSample`.

Any service exporting the standard ``process_*`` metrics works, in any language:

========================================  ======================================
``process_resident_memory_bytes``         ``rss_bytes``
``process_virtual_memory_bytes``          metric ``process_virtual_memory_bytes``
``python_gc_collections_total``           GC generations' ``collections``
``python_gc_objects_collected_total``     ... ``collected``
``python_gc_objects_uncollectable_total`` ... ``uncollectable``
``memdash_cache_*{cache="..."}``          one :class:`CacheStats` per ``cache``
``memdash_process_memory_limit_bytes``    ``limit_bytes`` (memdash.probe's)
``memdash_group_pss_bytes``               ``rss_bytes`` of a pre-fork group
========================================  ======================================

Series with a ``pid`` label (memdash.probe's pre-fork groups) are added up.

Parsing is prometheus_client's, chosen by ``Content-Type``: the 0.0.4 parser
yields duplicate families for an OpenMetrics body, and the OpenMetrics parser
rejects a 0.0.4 body (tech notes section 6), so memdash sends no OpenMetrics
``Accept`` header and parses what the server says it sent. Family names drop
``_total``; sample names keep it, so matching is on ``sample.name``. No cleanup actions: /metrics is read-only.
"""

from __future__ import annotations

from typing import Iterable

from prometheus_client.samples import Sample

from memdash.model import CacheStats, GcGeneration, GcStats, TargetSample
from memdash.sources.jsonmap import MAX_METRICS
from memdash.sources.numbers import count, limit as limit_bytes, number, size

OPENMETRICS = "application/openmetrics-text"

_CACHE_PREFIX = "memdash_cache_"
#: memdash_cache_<suffix> sample name -> CacheStats field.
_CACHE_FIELDS = {
    "hits_total": "hits", "misses_total": "misses", "evictions_total": "evictions",
    "size": "size", "currsize": "size", "items": "size", "maxsize": "maxsize",
    "size_bytes": "size_bytes", "hit_ratio": "hit_rate", "hit_rate": "hit_rate",
}
_GC = {
    "python_gc_collections_total": "collections",
    "python_gc_objects_collected_total": "collected",
    "python_gc_objects_uncollectable_total": "uncollectable",
}


#: Memory limit gauges, bytes: memdash.probe's name first.
_LIMITS = ("memdash_process_memory_limit_bytes", "memdash_memory_limit_bytes")


class PrometheusParseError(ValueError):
    """The body is not Prometheus text; ``str()`` says why in a few words."""


def parse_samples(text: str, content_type: str | None) -> list[Sample]:
    """Every sample in ``text``, parsed by the parser ``content_type`` calls for.

    Raises:
        PrometheusParseError: the parser rejected the text.
    """
    if content_type and content_type.split(";", 1)[0].strip().lower() == OPENMETRICS:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    else:
        from prometheus_client.parser import text_string_to_metric_families
    try:
        # The parser is a generator: errors surface while iterating.
        return [s for family in text_string_to_metric_families(text) for s in family.samples]
    except (ValueError, TypeError, IndexError, KeyError, AttributeError, OverflowError, RecursionError) as exc:
        # Not cut to length here: the poller scrubs the target's token from the
        # error first, then cuts (a cut first could leave half a token).
        lines = str(exc).splitlines()
        first = lines[0] if lines else type(exc).__name__
        raise PrometheusParseError(f"invalid Prometheus text: {first}") from None


def looks_like_prometheus(content_type: str | None, body: bytes) -> bool:
    """What ``auto`` uses: a text/plain or OpenMetrics body with ``# TYPE``/``process_`` lines."""
    ct = (content_type or "").split(";", 1)[0].strip().lower()
    head = body[:4096].lstrip()
    if ct == OPENMETRICS:
        return True
    if ct not in ("text/plain", ""):
        return False
    return head.startswith((b"# HELP", b"# TYPE")) or b"\n# TYPE " in head or head.startswith(b"process_") \
        or b"\nprocess_" in head


def _small_int(text: str | None) -> int | None:
    """A label value such as ``generation="2"`` or ``pid="4242"`` as an int; ``None`` otherwise."""
    if text and text.isascii() and text.isdigit() and len(text) <= 10:
        return int(text)
    return None


def _gc(samples: Iterable[Sample]) -> GcStats | None:
    by_gen: dict[int, dict[str, int]] = {}
    for s in samples:
        field = _GC.get(s.name)
        gen = _small_int(s.labels.get("generation"))
        value = count(s.value)
        if field and gen is not None and gen < 100 and value is not None:  # NaN or +Inf: that counter only
            fields = by_gen.setdefault(gen, {})
            fields[field] = fields.get(field, 0) + value
    if not by_gen:
        return None
    return GcStats(generations=tuple(
        GcGeneration(
            generation=g, count=None, threshold=None,
            collections=by_gen[g].get("collections"),
            collected=by_gen[g].get("collected"),
            uncollectable=by_gen[g].get("uncollectable"),
        )
        for g in sorted(by_gen)
    ))


def _caches(samples: Iterable[Sample]) -> tuple[CacheStats, ...]:
    by_cache: dict[str, dict[str, float]] = {}
    for s in samples:
        if not s.name.startswith(_CACHE_PREFIX):
            continue
        field = _CACHE_FIELDS.get(s.name[len(_CACHE_PREFIX):])
        if field:
            fields = by_cache.setdefault(s.labels.get("cache") or s.labels.get("name") or "cache", {})
            value = number(s.value)
            if value is None or (field != "hit_rate" and value < 0):
                continue  # NaN, Inf, a negative count: that field only
            # One series per worker (a ``pid`` label) in a pre-fork group: add them up.
            fields[field] = value if field == "hit_rate" else fields.get(field, 0.0) + value
    out = []
    for name, f in by_cache.items():
        hits, misses = f.get("hits"), f.get("misses")
        rate = f.get("hit_rate")
        rate = rate if rate is not None and 0.0 <= rate <= 1.0 else None
        if rate is None and hits is not None and misses is not None and hits + misses:
            rate = hits / (hits + misses)
            rate = rate if 0.0 <= rate <= 1.0 else None

        def as_int(key: str) -> int | None:
            return count(f.get(key))

        out.append(CacheStats(
            name=name, hits=as_int("hits"), misses=as_int("misses"), hit_rate=rate,
            size=as_int("size"), maxsize=as_int("maxsize"), size_bytes=as_int("size_bytes"),
            evictions=as_int("evictions"),
        ))
    return tuple(out)


def sample_from_prometheus(
    text: str, content_type: str | None, *, name: str, url: str, now: float
) -> TargetSample:
    """Parse ``text`` into a sample (``ok=True``, level not yet set, no actions).

    Extra metrics are the samples without labels (or with only ``pid``, summed),
    e.g. ``process_open_fds``, at most
    :data:`~memdash.sources.jsonmap.MAX_METRICS`; ``*_created`` series are skipped.

    Raises:
        PrometheusParseError: the text did not parse.
    """
    samples = parse_samples(text, content_type)
    rss_by_pid: dict[str | None, int] = {}
    limit = group = None
    metrics: dict[str, float] = {}
    for s in samples:
        # One unreadable figure (NaN: a value the exporter could not read; +Inf;
        # 1e303 bytes) drops that figure, not the page.
        if s.name == "process_resident_memory_bytes":
            rss = size(s.value)
            if rss is not None:
                rss_by_pid[s.labels.get("pid")] = rss
        elif s.name in _LIMITS:
            # -1, 0, NaN and +Inf all say "no limit".
            limit = limit_bytes(s.value)
        elif s.name == "memdash_group_pss_bytes":
            group = size(s.value)
        elif not s.name.endswith("_created") and (not s.labels or set(s.labels) == {"pid"}):
            value = number(s.value)
            if value is not None and (s.name in metrics or len(metrics) < MAX_METRICS):
                total = value + metrics.get(s.name, 0.0)
                if number(total) is not None:
                    metrics[s.name] = total
    # A pre-fork group (memdash.probe) exports one series per worker: its PSS
    # total counts shared pages once; failing that, the workers' RSS add up.
    rss = group if group is not None else size(sum(rss_by_pid.values())) if rss_by_pid else None
    pids = [n for n in (_small_int(p) for p in rss_by_pid) if n is not None]
    pid = pids[0] if len(pids) == 1 else None
    return TargetSample(
        name=name, url=url, kind="prometheus", ok=True, time=now, last_ok=now, pid=pid,
        rss_bytes=rss, limit_bytes=limit, gc=_gc(samples), caches=_caches(samples),
        metrics=metrics, actions=(),
    )
