"""Properties of the readers: any answer gives a sample or an error in words, never an exception.

Hypothesis feeds each reader documents shaped like what it expects (the keys it
looks for) but holding anything: huge integers, NaN, Inf, negative sizes,
strings, nesting; and raw bytes.
"""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memdash.model import CleanupResult, TargetSample
from memdash.sources.jsonmap import ALIASES, cleanup_figures, sample_from_json
from memdash.sources.numbers import MAX_BYTES
from memdash.sources.probe_wire import result_from_receipt, sample_from_probe
from memdash.sources.prom import PrometheusParseError, sample_from_prometheus
from memdash.sources.remote import TargetError, loads

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**420), max_value=10**420),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e303, -1e303, 2**63, 2**64 - 1, float("nan"), float("inf"), 0.5, 150]),
)
leaves = st.one_of(numbers, st.booleans(), st.none(), st.text(max_size=20))
keys = st.one_of(
    st.sampled_from(sorted({name for names in ALIASES.values() for name in names} | set(ALIASES))),
    st.sampled_from(["memory", "gc", "caches", "generations", "workers", "group", "torch", "devices",
                     "schema", "probe", "actions", "name", "before", "after", "freed_mb", "ram_before_mb"]),
    st.text(max_size=8),
)
documents = st.recursive(
    leaves,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(keys, children, max_size=6)),
    max_leaves=40,
)


def check_sample(sample: TargetSample) -> None:
    """What every sample promises whatever it was read from."""
    assert sample.ok and sample.error is None
    for size in (sample.rss_bytes, sample.limit_bytes):
        assert size is None or 0 <= size <= MAX_BYTES
    assert sample.limit_bytes is None or sample.limit_bytes > 0
    assert sample.percent is None or (math.isfinite(sample.percent) and sample.percent >= 0)
    assert all(math.isfinite(v) for v in sample.metrics.values())
    for cache in sample.caches:
        assert cache.hit_rate is None or 0 <= cache.hit_rate <= 1
        assert all(v is None or v >= 0 for v in (cache.hits, cache.misses, cache.size, cache.size_bytes))
    if sample.gc is not None:
        for g in sample.gc.generations:
            assert all(v is None or v >= 0 for v in (g.count, g.collections, g.collected, g.uncollectable))


@SETTINGS
@given(documents, st.dictionaries(st.sampled_from(sorted(ALIASES)), st.text(max_size=12), max_size=3))
def test_json_reader_reads_any_document(doc: object, fields: dict[str, str]) -> None:
    check_sample(sample_from_json(doc, name="t", url="u", now=0.0, fields=fields, actions={"gc": "POST /gc"}))
    assert all(math.isfinite(v) for v in cleanup_figures(doc).values())


probe_docs = st.fixed_dictionaries(
    {"schema": st.just(1), "probe": st.just("memdash.probe")},
    optional={
        "pid": numbers,
        "memory": st.one_of(documents, st.fixed_dictionaries({}, optional={
            k: leaves for k in ("rss_bytes", "uss_bytes", "vms_bytes", "percent", "limit_bytes")})),
        "group": documents,
        "gc": st.one_of(documents, st.fixed_dictionaries({}, optional={
            "generations": st.lists(st.dictionaries(
                st.sampled_from(["generation", "count", "threshold", "collections", "collected",
                                 "uncollectable", "pause_total_seconds"]), leaves), max_size=4),
            "enabled": leaves, "pause_total_seconds": leaves, "garbage": leaves})),
        "caches": st.one_of(documents, st.lists(st.dictionaries(
            st.sampled_from(["name", "hits", "misses", "hit_rate", "size", "maxsize", "size_bytes", "evictions"]),
            leaves), max_size=3)),
        "torch": documents,
        "actions": documents,
        "uptime_seconds": leaves,
        "workers": documents,
    },
)


@SETTINGS
@given(probe_docs)
def test_probe_reader_reads_any_snapshot(doc: dict) -> None:  # type: ignore[type-arg]
    check_sample(sample_from_probe(doc, name="t", url="u", now=0.0))
    receipt = result_from_receipt(doc, target="t", action="gc", status=200)
    assert isinstance(receipt, CleanupResult)


metric_names = st.sampled_from([
    "process_resident_memory_bytes", "memdash_process_memory_limit_bytes", "memdash_group_pss_bytes",
    "python_gc_collections_total", "python_gc_objects_collected_total", "memdash_cache_hits_total",
    "memdash_cache_misses_total", "memdash_cache_hit_ratio", "memdash_cache_size", "process_open_fds", "x_created",
])
label_values = st.one_of(st.sampled_from(["0", "1", "2", "²", "12345678901234567890", "users", ""]),
                         st.text(alphabet=st.characters(blacklist_characters='"\\\n'), max_size=8))
values = st.one_of(
    st.sampled_from(["NaN", "+Inf", "-Inf", "1e303", "-1", "0", "9" * 401, "1.5", "abc", ""]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)
lines = st.one_of(
    st.builds(lambda n, lbl, gen, v: f'{n}{{{lbl}="{gen}"}} {v}', metric_names,
              st.sampled_from(["generation", "pid", "cache", "name"]), label_values, values),
    st.builds(lambda n, v: f"{n} {v}", metric_names, values),
    st.builds(lambda n, t: f"# TYPE {n} {t}", metric_names, st.sampled_from(["gauge", "counter", "bogus"])),
    st.text(max_size=30),
)


@SETTINGS
@given(st.lists(lines, max_size=12), st.sampled_from([None, "text/plain; version=0.0.4",
                                                      "application/openmetrics-text; version=1.0.0"]))
def test_prometheus_reader_reads_any_page_or_says_why(page: list[str], content_type: str | None) -> None:
    text = "\n".join(page) + "\n"
    try:
        sample = sample_from_prometheus(text, content_type, name="t", url="u", now=0.0)
    except PrometheusParseError as exc:
        assert str(exc).startswith("invalid Prometheus text")
        return
    check_sample(sample)


@SETTINGS
@given(st.binary(max_size=200) | documents.map(lambda d: repr(d).encode()))
def test_any_body_is_json_or_invalid_json(body: bytes) -> None:
    try:
        doc = loads(body)
    except (ValueError, RecursionError):
        return  # Response.json() turns these into TargetError("invalid JSON")
    check_sample(sample_from_json(doc, name="t", url="u", now=0.0))
    assert TargetError  # the error type callers see


paths = st.one_of(
    st.lists(st.one_of(keys, st.sampled_from(["*", "0", "1", "~1", "~0", ""])), min_size=1, max_size=4).map(".".join),
    st.lists(st.one_of(keys, st.sampled_from(["*", "0", "1", "~1", "~0", "", "a.b"])), min_size=1, max_size=4)
    .map(lambda parts: "/" + "/".join(parts)),
)
field_names = st.sampled_from(["rss", "rss_mb", "used", "limit", "percent", "pid", "hit_rate", "cache_hits",
                               "gc_counts", "device_name", "anything"])
units = st.sampled_from([None, "B", "KiB", "KB", "MiB", "MB", "GiB", "GB", "%", "ratio"])


@SETTINGS
@given(documents, st.dictionaries(field_names, st.tuples(paths, units), max_size=4))
def test_json_mapping_with_any_paths_and_units_reads_or_warns(doc: object, mapped: dict) -> None:
    """Issue 11: any mapping, on any document, gives a sample; every path that finds
    no number is a warning, in words, naming its field."""
    from memdash.config import FieldSpec

    fields = {k: FieldSpec(p, u) for k, (p, u) in mapped.items()}
    sample = sample_from_json(doc, name="t", url="u", now=0.0, fields=fields)
    check_sample(sample)
    for w in sample.warnings:
        assert isinstance(w, str) and w.startswith("fields.") and w.split(":")[0][7:] in fields
