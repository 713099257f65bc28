"""Prometheus pages with exact expected figures: worker series adding up, a bad
figure dropping only itself, the JVM heap standing in for a missing RSS."""

from __future__ import annotations

from pathlib import Path

import pytest

from memdash.sources.prom import sample_from_prometheus

TEXT = "text/plain; version=0.0.4"
DATA = Path(__file__).parent / "data"


def _read(text: str, **kw: object):
    return sample_from_prometheus(text, TEXT, name="p", url="http://127.0.0.1:1/metrics", now=1.0, **kw)


def test_the_same_series_from_each_worker_adds_up() -> None:
    s = _read('process_resident_memory_bytes{pid="11"} 100\nprocess_resident_memory_bytes{pid="12"} 50\n'
              'app_jobs_total{pid="11"} 5\napp_jobs_total{pid="12"} 7\n'
              'app_queue_depth{queue="a"} 3\napp_queue_depth{queue="b"} 4\n')
    assert s.rss_bytes == 150
    assert s.metrics["app_jobs_total"] == 12  # one figure for the service: its workers' sum
    assert s.metrics['app_queue_depth{queue="a"}'] == 3 and s.metrics['app_queue_depth{queue="b"}'] == 4


@pytest.mark.parametrize("bad", ["-5", "NaN", "+Inf"])
def test_a_bad_cache_count_drops_that_field_only(bad: str) -> None:
    (c,) = _read(f'memdash_cache_hits_total{{cache="users"}} {bad}\n'
                 'memdash_cache_misses_total{cache="users"} 10\n'
                 'memdash_cache_hit_ratio{cache="users"} 0.25\n').caches
    assert (c.name, c.hits, c.misses) == ("users", None, 10)
    assert c.hit_rate == pytest.approx(0.25)


def test_the_jvm_heap_stands_in_for_a_missing_rss() -> None:
    page = "\n".join(line for line in (DATA / "jvm_micrometer.prom").read_text().splitlines()
                     if not line.startswith("process_resident_memory_bytes"))
    s = _read(page)
    assert s.runtime is not None and s.runtime.kind == "jvm"
    heap = s.runtime.figures["heap_used_bytes"]
    assert s.rss_bytes == int(heap) and heap > 0
    assert s.limit_bytes == int(s.runtime.figures["heap_max_bytes"])
    assert "memory: the JVM heap used, against its max (-Xmx) (no process_resident_memory_bytes on the page)" \
        in s.recognised


def test_the_go_runtime_sys_bytes_stand_in_for_a_missing_rss() -> None:
    s = _read("go_memstats_sys_bytes 7.2e+07\ngo_memstats_heap_alloc_bytes 3e+07\ngo_goroutines 12\n")
    assert s.runtime is not None and s.runtime.kind == "go"
    assert s.rss_bytes == 72_000_000 and s.limit_bytes is None
    assert s.recognised == ("go runtime", "memory: what the Go runtime took from the OS (go_memstats_sys_bytes) "
                                          "(no process_resident_memory_bytes on the page)")


def test_one_instance_with_labels_is_one_process_not_a_federation() -> None:
    s = _read('process_resident_memory_bytes{instance="api-1:8000",job="api"} 1.2e+08\n'
              'python_gc_collections_total{generation="0",instance="api-1:8000",job="api"} 812\n'
              'python_gc_collections_total{generation="1",instance="api-1:8000",job="api"} 73\n')
    assert s.rss_bytes == 120_000_000
    assert s.instances == () and s.warnings == ()
    assert s.gc is not None and [g.collections for g in s.gc.generations] == [812, 73]


def test_mapped_fields_are_named_in_what_was_recognised() -> None:
    from memdash.config import FieldSpec

    s = _read('app_rss_mib{kind="rss"} 300\napp_mem_used_ratio 0.5\n',
              fields={"rss": FieldSpec('app_rss_mib{kind="rss"}', "MiB"), "percent": FieldSpec("app_mem_used_ratio", "ratio")})
    assert (s.rss_bytes, s.percent) == (300 * 1024 * 1024, 50.0)
    assert "fields: percent, rss_bytes" in s.recognised
    assert "fields" not in " ".join(_read("process_resident_memory_bytes 5\n").recognised)
