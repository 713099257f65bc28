"""JSON pages read with a configured unit, and what the reader says about paths
that give no number: tables of documents with the figures a user expects."""

from __future__ import annotations

import pytest

from memdash.config import FieldSpec
from memdash.sources.jsonmap import sample_from_json


def _read(doc: dict, **fields: object):
    return sample_from_json(doc, name="t", url="http://127.0.0.1:1/stats", now=1.0, fields=fields or None)


@pytest.mark.parametrize("value,unit,expected", [
    (1.5, "GB", 1_500_000_000),
    (1.5, "GiB", 1_610_612_736),
    (250, "MB", 250_000_000),
    (250, "MiB", 262_144_000),
    (4, "KiB", 4096),
    (4, "KB", 4000),
    (123, "B", 123),
    ("2.5", "GB", 2_500_000_000),  # a number written as a string
])
def test_a_size_in_a_configured_unit_is_read_as_bytes(value: object, unit: str, expected: int) -> None:
    s = _read({"mem": {"resident": value, "max": 8}}, rss=FieldSpec("mem.resident", unit),
              limit=FieldSpec("mem.max", "GB"))
    assert s.rss_bytes == expected
    assert s.limit_bytes == 8_000_000_000
    assert s.warnings == ()


@pytest.mark.parametrize("value,unit,expected", [(0.873, "ratio", 87.3), (87.3, "%", 87.3), (1, "ratio", 100.0)])
def test_a_percent_given_as_a_ratio_or_percent(value: float, unit: str, expected: float) -> None:
    s = _read({"m": {"used": value}}, percent=FieldSpec("m.used", unit))
    assert s.percent == pytest.approx(expected)


def test_paths_that_give_no_number_are_named_in_words() -> None:
    doc = {"workers": [{"rss": "lots"}, {"rss": "many"}], "mixed": [{"rss": 10}, {"rss": "n/a"}], "ok": 5}
    all_bad = _read(doc, rss="workers.*.rss")
    assert all_bad.warnings == ("fields.rss: workers.0.rss is a string ('lots'), not a number",)
    some_bad = _read(doc, rss="mixed.*.rss")
    assert some_bad.warnings == ("fields.rss: 1 of 2 matches of mixed.*.rss are not numbers (first: mixed.1.rss)",)
    assert some_bad.rss_bytes == 10
    missing = _read(doc, rss="nope.rss")
    assert missing.warnings == ("fields.rss: nope.rss resolves to nothing",)
    assert _read(doc, rss="ok").warnings == ()


@pytest.mark.parametrize("name,unit,expected", [
    ("jvm.memory.used", "bytes", 250_000_000),
    ("process.memory.rss", "", 250_000_000),
    ("http.server.requests", "seconds", None),  # a metric page, but not a memory one
    ("jvm.threads.live", "threads", None),
    ("jvm.memory.used", "seconds", None),  # memory in name, but not in bytes
])
def test_spring_actuator_memory_metrics_only(name: str, unit: str, expected: int | None) -> None:
    s = _read({"name": name, "baseUnit": unit, "measurements": [{"statistic": "VALUE", "value": 250000000}]})
    assert s.rss_bytes == expected
    assert any("Spring Actuator" in r for r in s.recognised) is (expected is not None)


def test_a_gc_generation_number_out_of_reason_is_replaced_by_its_position() -> None:
    s = _read({"gc": [{"generation": 999, "count": 5}, {"generation": 1000, "count": 6}]},
              gc_generation_stats="gc")
    assert s.gc is not None
    assert [(g.generation, g.count) for g in s.gc.generations] == [(999, 5), (1, 6)]


@pytest.mark.parametrize("series,value,spec,figure,expected", [
    ("app_memory_used_ratio", "0.873", FieldSpec("app_memory_used_ratio", "ratio"), "percent", 87.3),
    ("app_memory_used_percent", "87.3", FieldSpec("app_memory_used_percent", "%"), "percent", 87.3),
    ("app_rss_gb", "1.5", FieldSpec("app_rss_gb", "GB"), "rss_bytes", 1_500_000_000),
    ("app_limit_gib", "2", FieldSpec("app_limit_gib", "GiB"), "limit_bytes", 2 * 1024 ** 3),
])
def test_the_same_units_on_a_prometheus_page(series: str, value: str, spec: FieldSpec, figure: str,
                                             expected: float) -> None:
    from memdash.sources.prom import sample_from_prometheus

    key = {"percent": "percent", "rss_bytes": "rss", "limit_bytes": "limit"}[figure]
    s = sample_from_prometheus(f"process_resident_memory_bytes 1000\n{series} {value}\n", "text/plain",
                               name="p", url="http://127.0.0.1:1/metrics", now=1.0, fields={key: spec})
    assert getattr(s, figure) == pytest.approx(expected)
    assert s.warnings == ()
