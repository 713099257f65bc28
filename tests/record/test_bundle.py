"""The post-mortem bundle from a stored recording: GC and cache history of a probe
attached to the killed service, top growers, hostile names kept inert."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from memdash.record.bundle import write_bundle
from memdash.record.incidents import incidents_from_events
from memdash.record.store import Event, Store, StoreWriter

T = 1_764_000_000.0
CG = "/svc</svg><script>x</script>"
LIMIT = 256 << 20


def _frame(i: int) -> tuple[dict, dict]:
    rss = (100 + 5 * i) << 20
    target = {
        "name": "api", "url": "http://127.0.0.1:1/", "kind": "probe", "ok": True, "error": None, "level": "good",
        "pid": 4242, "rss_bytes": rss, "percent": 10.0, "limit_bytes": LIMIT,
        "gc": {"enabled": True, "generations": [
            {"generation": g, "count": 1, "threshold": 700, "collections": 10 * i * (3 - g), "collected": 5 * i,
             "uncollectable": 0, "pause_total_seconds": None, "pause_max_seconds": None} for g in range(3)],
            "pause_total_seconds": None, "pause_last_seconds": None, "pause_max_seconds": None, "garbage": 3},
        "caches": [{"name": "sessions`**", "hits": 10, "misses": 1, "hit_rate": 0.9, "size": 100 * i,
                    "maxsize": None, "size_bytes": 1000 * i, "evictions": 0}],
        "gpu": None, "metrics": {}, "actions": ["gc"], "last_ok": None,
    }
    snap = {"schema": 1, "host": "box", "time": "x", "level": "good", "system": None, "process_count": 3,
            "processes": [{"pid": 4242, "name": "api`<b>", "cmdline": "api", "rss_bytes": rss, "limit_bytes": LIMIT},
                          {"pid": 7, "name": "steady", "cmdline": "steady", "rss_bytes": 50 << 20, "limit_bytes": 1}],
            "gpus": {"available": False}, "targets": [target], "errors": []}
    extra = {"cgroups": [{"path": CG, "version": 1, "usage_bytes": rss + (8 << 20), "working_set_bytes": rss,
                          "limit_bytes": LIMIT, "oom_kills": 0, "pids": [4242]}]}
    return snap, extra


def test_bundle_with_gc_and_cache_history(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with StoreWriter(store, clock=lambda: T + 3600) as w:
        for i in range(30):
            snap, extra = _frame(i)
            w.append(T + 10 * i, snap, extra)
        w.add_events([Event(t=T + 285, kind="oom_kill", subject=CG, level="critical",
                            data={"source": "cgroup", "cgroup": CG, "count": 1, "delta": 1, "pid": 4242,
                                  "name": "api`<b>", "last_rss_bytes": 245 << 20, "limit_bytes": LIMIT})])
    with Store(store) as s:
        (inc,) = incidents_from_events(s.events())
        files = write_bundle(s, inc, tmp_path / "b", window=200)
    names = sorted(f.name for f in files)
    assert names == ["events.json", "frames.jsonl", "summary.md", "target-api.svg", "working-set.svg"]
    frames = (tmp_path / "b" / "frames.jsonl").read_text().splitlines()
    assert len(frames) == 20 + 1  # 200 s before at 10 s, and the first frame after
    summary = (tmp_path / "b" / "summary.md").read_text()
    # GC over the window: generation 0 went from 10*9*3 to 10*29*3 collections
    assert "GC generation 0: 600 collections in the window" in summary
    assert "cache `sessions'**`: size 900 -> 2900" in summary
    assert "| 4242 | `api'<b>` | 145M | 240M | +95M |" in summary
    assert "steady" not in summary.split("## Top growers")[1].split("##")[0]
    for svg in ("working-set.svg", "target-api.svg"):
        root = ET.parse(tmp_path / "b" / svg).getroot()  # well-formed despite the cgroup's name
        assert not list(root.iter("{http://www.w3.org/2000/svg}script"))
    title = ET.parse(tmp_path / "b" / "working-set.svg").getroot().find("{http://www.w3.org/2000/svg}text")
    assert title is not None and title.text.startswith(CG)
    json.loads((tmp_path / "b" / "events.json").read_text())
