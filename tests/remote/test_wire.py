"""Probe documents and receipts, parsed without a server (docs/probe-wire.md examples)."""

from __future__ import annotations

from memdash.sources.probe_wire import is_probe_document, result_from_receipt, sample_from_probe

SNAPSHOT = {
    "schema": 1, "probe": "memdash.probe", "pid": 4242,
    "memory": {"rss_bytes": 73400320, "uss_bytes": None, "vms_bytes": 412000000,
               "limit_bytes": 536870912, "percent": 13.7},
    "gc": {"enabled": True, "generations": [
        {"generation": g, "count": 1, "threshold": 700, "collections": 2, "collected": 3, "uncollectable": 0}
        for g in range(4)  # do not assume 3
    ]},
    "caches": [{"name": "lookup_user", "hits": 900, "misses": 100, "hit_rate": 0.9, "size": 100, "maxsize": 128}],
    "torch": {"cuda_available": True, "devices": [
        {"device": 0, "name": "A100", "allocated_bytes": 1 << 30, "reserved_bytes": 3 << 30,
         "max_allocated_bytes": 2 << 30}]},
    "actions": ["gc", "caches", "cuda", "all", "defrag"],
    "group": {"rss_bytes": 300000000, "pss_bytes": 200000000, "workers": 3},
    "workers": [],
}


def test_snapshot() -> None:
    assert is_probe_document(SNAPSHOT) and not is_probe_document({"probe": "memdash.probe"})
    s = sample_from_probe(SNAPSHOT, name="n", url="u", now=5.0)
    assert s.pid == 4242 and s.limit_bytes == 536870912
    assert s.rss_bytes == 200000000  # the group's PSS: shared pages once
    assert s.metrics["group.workers"] == 3 and "memory.uss_bytes" not in s.metrics
    assert s.gc is not None and len(s.gc.generations) == 4
    assert s.caches[0].hit_rate == 0.9
    assert s.gpu is not None and s.gpu[0].releasable_bytes == 2 << 30
    assert s.actions == ("gc", "caches", "cuda", "all")  # unknown actions dropped


def test_nulls_everywhere() -> None:
    s = sample_from_probe({"schema": 1, "probe": "memdash.probe", "memory": None, "gc": None,
                           "caches": None, "torch": None}, name="n", url="u", now=1.0)
    assert s.rss_bytes is None and s.gc is None and s.caches == () and s.gpu is None


def test_prefork_receipt_sums_workers() -> None:
    receipt = {
        "schema": 1, "action": "gc", "ok": True,
        "workers": [
            {"pid": 1, "rss_before_bytes": 100, "rss_after_bytes": 90, "collected": 5, "note": "a"},
            {"pid": 2, "rss_before_bytes": 200, "rss_after_bytes": 150, "collected": 7, "note": "a"},
        ],
    }
    r = result_from_receipt(receipt, target="t", action="gc", status=200)
    assert (r.rss_before_bytes, r.rss_after_bytes, r.collected) == (300, 240, 12)
    assert r.rss_freed_bytes == 60 and r.note == "a"
    totals = dict(receipt, rss_before_bytes=1000, rss_after_bytes=900, collected=1)
    r = result_from_receipt(totals, target="t", action="gc", status=200)
    assert (r.rss_before_bytes, r.rss_after_bytes, r.collected) == (1000, 900, 1)
