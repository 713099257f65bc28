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
Runtimes (Go, Node, Python, JVM) and exporters (node_exporter: the host;
redis_exporter: Redis) are recognised by :mod:`memdash.sources.runtimes`;
several instances on one page (``/federate``) are kept apart.

Parsing is prometheus_client's, chosen by ``Content-Type``: the 0.0.4 parser
yields duplicate families for an OpenMetrics body, and the OpenMetrics parser
rejects a 0.0.4 body (tech notes section 6), so memdash sends no OpenMetrics
``Accept`` header and parses what the server says it sent. Family names drop
``_total``; sample names keep it, so matching is on ``sample.name``. No cleanup actions: /metrics is read-only.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from prometheus_client.samples import Sample

from memdash.config import FieldSpec, field_spec
from memdash.model import CacheStats, GcGeneration, GcStats, Instance, Runtime, TargetSample
from memdash.sources.jsonmap import convert
from memdash.sources.numbers import count, limit as limit_bytes, number, percent as percent_value, size
from memdash.sources.redisinfo import EXPORTER_NAMES, figures_from_info
from memdash.sources.runtimes import Page, host, identity, runtime as runtime_of, runtime_kinds

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


#: Extra series kept per Prometheus sample (memory families first).
MAX_PROM_METRICS = 2000
#: Words in a series name that make it memory-related: kept (and shown) first.
_MEMORY_WORDS = ("memory", "heap", "rss", "_gc", "gc_", "cache", "mem_", "_mem", "alloc", "swap", "oom", "pss")
_MEMORY_RE = re.compile("|".join(re.escape(w) for w in _MEMORY_WORDS))
_REDIS_SERIES = "redis_memory_used_bytes"


def _series_key(s: Sample) -> str:
    """``name{a="b"}``: the series with its labels, as a key no other series shares."""
    if not s.labels:
        return s.name
    inner = ",".join(f'{k}="{v}"' for k, v in s.labels.items())
    return f"{s.name}{{{inner}}}"


def _extras(samples: list[Sample], skip: set[str]) -> dict[str, float]:
    """Every numeric series, memory-related families first, histogram buckets last,
    at most :data:`MAX_PROM_METRICS`. Series with only a ``pid`` label (a pre-fork
    group's workers) are added up under their name."""
    ranked: list[tuple[int, int, Sample]] = []
    ranks: dict[str, int] = {}  # per series name: a page repeats each name for every label set
    for i, s in enumerate(samples):
        rank = ranks.get(s.name)
        if rank is None:
            name = s.name
            rank = ranks[name] = (3 if name in skip or name.endswith("_created") else 2 if name.endswith("_bucket")
                                  else 0 if _MEMORY_RE.search(name.lower()) else 1)
        if rank < 3:
            ranked.append((rank, i, s))
    ranked.sort(key=lambda r: (r[0], r[1]))
    metrics: dict[str, float] = {}
    for _, _, s in ranked:
        value = number(s.value)
        if value is None:
            continue
        key = s.name if set(s.labels) == {"pid"} else _series_key(s)
        if key in metrics:
            total = number(metrics[key] + value)
            if total is not None:
                metrics[key] = total
        elif len(metrics) < MAX_PROM_METRICS:
            metrics[key] = value
    return metrics


def _size_words(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n % (1024 * 1024) == 0 else f"{n // 1024} KB" if n % 1024 == 0 else f"{n} bytes"


def _cut_page(text: str) -> str:
    """A page cut at the body cap, up to its last whole line."""
    end = text.rfind("\n")
    return text[: end + 1] if end >= 0 else ""


def sample_from_prometheus(
    text: str, content_type: str | None, *, name: str, url: str, now: float,
    fields: Mapping[str, "str | FieldSpec"] | None = None, truncated_at: int | None = None,
) -> TargetSample:
    """Parse ``text`` into a sample (``ok=True``, level not yet set, no actions).

    What is recognised (:mod:`memdash.sources.runtimes`): a runtime (Go, Node,
    Python, JVM) fills ``runtime``; a node_exporter page is the host (its used
    memory against its total; the exporter's own RSS in ``exporter_rss_bytes``);
    a redis_exporter page is Redis (:mod:`memdash.sources.redisinfo`). A page
    carrying several instances (``instance``/``job`` labels, as ``/federate``
    serves) lists each in ``instances`` and its RSS is their total, said in
    ``warnings``. ``fields`` map memdash's figures to series
    (``rss_bytes = 'my_rss{job="api"}'``); one that matches nothing is a warning.
    Extras: every numeric series (:func:`_extras`). ``truncated_at``: the body
    stopped at that many bytes; the page is read up to its last whole line.

    Raises:
        PrometheusParseError: the text did not parse.
    """
    warnings: list[str] = []
    if truncated_at is not None:
        text = _cut_page(text)
    samples = parse_samples(text, content_type)
    if truncated_at is not None:
        warnings.append(f"page larger than {_size_words(truncated_at)}: read {len(samples):,} series up to the cap "
                        "(raise max_body to read it whole)")
    page = Page(samples)
    rss_by_pid: dict[str, int] = {}
    rss_by_instance: dict[str, int] = {}
    limit = group = None
    for s in samples:
        # One unreadable figure (NaN: a value the exporter could not read; +Inf;
        # 1e303 bytes) drops that figure, not the page.
        if s.name == "process_resident_memory_bytes":
            rss = size(s.value)
            if rss is not None:
                ident = identity(s.labels)
                if ident:
                    rss_by_instance[ident] = rss_by_instance.get(ident, 0) + rss
                rss_by_pid[(ident + "/" if ident else "") + (s.labels.get("pid") or "")] = rss
        elif s.name in _LIMITS:
            # -1, 0, NaN and +Inf all say "no limit".
            limit = limit_bytes(s.value)
        elif s.name == "memdash_group_pss_bytes":
            group = size(s.value)
    # A pre-fork group (memdash.probe) exports one series per worker: its PSS
    # total counts shared pages once; failing that, the workers' RSS add up.
    rss = group if group is not None else size(sum(rss_by_pid.values())) if rss_by_pid else None
    pids = [n for n in (_small_int(p.rsplit("/", 1)[-1]) for p in rss_by_pid) if n is not None]
    pid = pids[0] if len(pids) == 1 else None
    recognised: list[str] = []
    runtime = None
    exporter_rss = None
    caches = list(_caches(samples))
    instances: tuple[Instance, ...] = ()
    gc = _gc(samples)
    idents = page.identities()
    if len(idents) > 1:
        gc = None  # generations of different processes do not add up
        names_by: dict[str, set[str]] = {}
        for s in samples:
            names_by.setdefault(identity(s.labels), set()).add(s.name)
        instances = tuple(Instance(labels=i, rss_bytes=rss_by_instance.get(i), runtime=runtime_kinds(names_by.get(i, ())))
                          for i in idents)
        recognised.append(f"{len(idents)} instances on one page")
        warnings.append(f"{len(idents)} instances on this page: RSS is their total; each has its own row "
                        "(point a target at each instance for its own figures)")
    elif (host_rt := host(page)) is not None:
        runtime = host_rt
        exporter_rss, rss = rss, size(host_rt.figures.get("used_bytes"))
        limit = size(host_rt.figures.get("total_bytes"))
        pid = None
        recognised.append("node_exporter: the host's memory (the exporter's own RSS apart)")
    elif page.has(_REDIS_SERIES):
        info: dict[str, object] = {field: page.value(series) for series, field in EXPORTER_NAMES.items()
                                   if page.has(series)}
        policy = page.label("redis_instance_info", "maxmemory_policy") or \
            page.label("redis_config_maxmemory_policy", "policy")
        info.update({k: v for k, v in (("maxmemory_policy", policy),
                                       ("redis_version", page.label("redis_instance_info", "redis_version"))) if v})
        for db, keys in page.by_label("redis_db_keys", "db").items():
            info[db] = {"keys": keys}
        red = figures_from_info(info)
        runtime = red.runtime
        exporter_rss, rss, limit, pid = rss, red.used_bytes, red.limit_bytes, None
        if red.cache is not None:
            caches.append(red.cache)
        recognised.append("redis_exporter: Redis's memory (the exporter's own RSS apart)")
    else:
        runtime = runtime_of(page)
        if runtime is not None:
            recognised.append(f"{runtime.kind} runtime")
            if rss is None:  # no process_resident_memory_bytes: the runtime's own figure stands in
                rss, stand_in = _runtime_memory(runtime)
                if rss is not None:
                    recognised.append(f"memory: {stand_in} (no process_resident_memory_bytes on the page)")
                    if runtime.kind == "jvm" and limit is None:
                        limit = size(runtime.figures.get("heap_max_bytes"))
    percent = None
    if fields:
        mapped = _mapped_fields(page, fields, warnings)
        if "rss_bytes" in mapped:
            rss = size(mapped["rss_bytes"])
        if "limit_bytes" in mapped:
            limit = limit_bytes(mapped["limit_bytes"])
        if "percent" in mapped:
            percent = percent_value(mapped["percent"])
        if "pid" in mapped:
            pid = count(mapped["pid"])
        if mapped:
            recognised.append("fields: " + ", ".join(sorted(mapped)))
    skip = {"process_resident_memory_bytes", "memdash_group_pss_bytes", *_LIMITS}
    return TargetSample(
        name=name, url=url, kind="prometheus", ok=True, time=now, last_ok=now, pid=pid,
        rss_bytes=rss, percent=percent, limit_bytes=limit, gc=gc, caches=tuple(caches),
        metrics=_extras(samples, skip), actions=(), runtime=runtime, recognised=tuple(recognised),
        exporter_rss_bytes=exporter_rss, instances=instances, warnings=tuple(warnings),
    )


def _runtime_memory(rt: Runtime) -> tuple[int | None, str]:
    """The runtime's own memory figure, for a page without the process's RSS."""
    f = rt.figures
    for key, words in (("heap_used_bytes", "the JVM heap used, against its max (-Xmx)" if rt.kind == "jvm"
                        else "the V8 heap used"),
                       ("sys_bytes", "what the Go runtime took from the OS (go_memstats_sys_bytes)")):
        if key in f:
            return size(f[key]), words
    return None, ""


_SELECTOR = re.compile(r'\s*([A-Za-z_:][A-Za-z0-9_:]*)\s*(?:\{(.*)\})?\s*')
_MATCHER = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')


def parse_selector(text: str) -> tuple[str, dict[str, str]] | None:
    """``name`` or ``name{label="v",...}``; ``None`` when it is neither."""
    m = _SELECTOR.fullmatch(text)
    if not m:
        return None
    labels: dict[str, str] = {}
    inner = m.group(2) or ""
    pos = 0
    while pos < len(inner):
        lm = _MATCHER.match(inner, pos)
        if not lm or lm.end() == pos:
            return None
        labels[lm.group(1)] = lm.group(2).replace('\\"', '"').replace("\\\\", "\\")
        pos = lm.end()
    return m.group(1), labels


def _mapped_fields(page: Page, fields: Mapping[str, "str | FieldSpec"], warnings: list[str]) -> dict[str, float]:
    """``fields`` read from the page: canonical figure -> value in memdash's units."""
    out: dict[str, float] = {}
    for key, raw in fields.items():
        spec = field_spec(raw)
        sel = parse_selector(spec.path)
        if sel is None:
            warnings.append(f"fields.{key}: {spec.path!r} is not a series name or name{{label=\"value\"}}")
            continue
        series, labels = sel
        value = page.value(series, **labels)
        if value is None:
            warnings.append(f"fields.{key}: no series {spec.path} on the page")
            continue
        figure, converted, problem = convert(key, value, spec.unit)
        if problem:
            warnings.append(f"fields.{key}: {problem}")
        if figure is not None and converted is not None:
            out[figure] = converted
    return out
