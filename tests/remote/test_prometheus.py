"""``prometheus`` targets: a real prometheus_client exporter in a child process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Iterator

import pytest

from memdash.config import TargetConfig
from memdash.levels import Thresholds
from memdash.sources.prom import PrometheusParseError, looks_like_prometheus, sample_from_prometheus
from memdash.sources.remote import TargetPoller, supported_actions

EXPORTER = textwrap.dedent(
    """
    import sys, time
    from prometheus_client import Counter, Gauge, start_http_server
    hold = bytearray(150 * 1024 * 1024)
    for i in range(0, len(hold), 4096):  # touch every page so it is resident
        hold[i] = 1
    hits = Counter("memdash_cache_hits", "hits", ["cache"])
    misses = Counter("memdash_cache_misses", "misses", ["cache"])
    size = Gauge("memdash_cache_size", "entries", ["cache"])
    hits.labels("lookup_user").inc(90)
    misses.labels("lookup_user").inc(10)
    size.labels("lookup_user").set(64)
    server, _ = start_http_server(0, addr="127.0.0.1")
    print(server.server_port, flush=True)
    sys.stdin.read()  # live until the test closes our stdin
    """
)


@pytest.fixture
def exporter() -> Iterator[tuple[int, int]]:
    """``(pid, port)`` of an exporter holding 150 MB."""
    proc = subprocess.Popen(
        [sys.executable, "-c", EXPORTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield proc.pid, port
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()  # type: ignore[union-attr]


def vm_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def test_exporter_rss_gc_and_caches(exporter: tuple[int, int]) -> None:
    pid, port = exporter
    t = TargetConfig(name="exporter", url=f"http://127.0.0.1:{port}/metrics", limit_mb=1024)
    async with TargetPoller([t], Thresholds()) as poller:
        (s,) = await poller.poll_once()
        expected = vm_rss(pid)
    assert s.ok, s.error
    assert s.kind == "prometheus" and poller.kind("exporter") == "prometheus"
    assert s.rss_bytes is not None and abs(s.rss_bytes - expected) <= 0.05 * expected
    assert s.rss_bytes > 150 * 1024 * 1024
    assert s.percent == pytest.approx(100 * s.rss_bytes / (1024 * 1024 * 1024))
    assert s.gc is not None and [g.generation for g in s.gc.generations] == [0, 1, 2]
    assert all(g.collections is not None for g in s.gc.generations)
    (cache,) = s.caches
    assert (cache.name, cache.hits, cache.misses, cache.size) == ("lookup_user", 90, 10, 64)
    assert cache.hit_rate == pytest.approx(0.9)
    assert "process_virtual_memory_bytes" in s.metrics
    assert not any(k.endswith("_created") for k in s.metrics)
    assert supported_actions(s) == ()
    async with TargetPoller([t], Thresholds()) as poller:
        result = await poller.cleanup("exporter", "gc")
    assert result.error == "this target does not support gc"


def test_openmetrics_body_uses_openmetrics_parser() -> None:
    body = (
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1024\n"
        "# TYPE memdash_cache_hits counter\nmemdash_cache_hits_total{cache=\"a\"} 3\n# EOF\n"
    )
    s = sample_from_prometheus(body, "application/openmetrics-text; version=1.0.0; charset=utf-8",
                               name="n", url="u", now=1.0)
    assert s.rss_bytes == 1024 and s.caches[0].hits == 3


def test_garbage_is_a_parse_error() -> None:
    with pytest.raises(PrometheusParseError):
        sample_from_prometheus("process_resident_memory_bytes not-a-number\n", "text/plain", name="n", url="u", now=1)


def test_auto_detection() -> None:
    assert looks_like_prometheus("text/plain; version=0.0.4", b"# HELP x y\n# TYPE x gauge\nx 1\n")
    assert looks_like_prometheus("text/plain", b"process_resident_memory_bytes 1\n")
    assert not looks_like_prometheus("application/json", b'{"a": 1}')
    assert not looks_like_prometheus("text/plain", b"hello")
