"""A real OOM kill, recorded: a child in a 64 MB memory cgroup grows until the
kernel kills it while ``memdash record --interval 0.5`` runs; then ``incidents``,
``replay --json --at`` and ``report`` tell the story."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

import pytest

from cgroups import memory_cgroup
from memdash.record.store import Store

from .conftest import memdash_cli

LIMIT = 64 * 1024 * 1024

# Joins its cgroup first (so every page it touches is charged there), says so,
# then grows by 1 MiB every 50 ms, touching each page, until the kernel kills it.
GROWER = r"""
import os, sys, time
with open(sys.argv[1], "w") as f:
    f.write(str(os.getpid()))
print("in", flush=True)
sys.stdin.readline()
held = []
while True:
    b = bytearray(1024 * 1024)
    b[::4096] = b"\x01" * len(range(0, len(b), 4096))
    held.append(b)
    time.sleep(0.05)
"""


@pytest.fixture
def cgroup() -> Iterator[Path]:
    """A fresh v1 memory cgroup with a 64 MB limit (its tasks killed and it removed afterwards)."""
    with memory_cgroup(LIMIT, "record-test") as group:
        yield group.path


@pytest.mark.slow
def test_a_real_oom_kill_recorded_listed_replayed_and_reported(env, recorder, cgroup: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    name = "/" + cgroup.name
    rec = recorder(store, "--interval", "0.5")
    rec.wait_frames(2)

    child = subprocess.Popen([sys.executable, "-c", GROWER, str(cgroup / "cgroup.procs")],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "in"  # type: ignore[union-attr]
        # Two frames stored with the child in its cgroup: the recorder has read the
        # cgroup's OOM counter before the kill (a cgroup first seen after it has
        # no "before" to count from; on a loaded box one frame can take seconds).
        rec.wait_frames(0)  # read what it has said so far
        rec.wait_frames(rec.stored + 2)
        started = time.time()
        child.stdin.write("go\n")  # type: ignore[union-attr]
        child.stdin.flush()  # type: ignore[union-attr]
        rc = child.wait(timeout=120)
        killed_at = time.time()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for f in (child.stdin, child.stdout):
            try:
                f.close()  # type: ignore[union-attr]
            except BrokenPipeError:
                pass
    assert rc == -9, f"the child was not OOM-killed (exit {rc})"
    assert "oom_kill 1" in (cgroup / "memory.oom_control").read_text()
    frames_at_kill = rec.stored
    rec.wait_frames(frames_at_kill + 3)  # the recorder sees the counter and the kernel log
    assert rec.stop() == 0

    # incidents: exactly one OOM kill in our cgroup, naming the child's pid
    out = memdash_cli(env, "incidents", str(store), "--json")
    assert out.returncode == 0, out.stderr
    ours = [i for i in json.loads(out.stdout) if i["kind"] == "oom_kill" and i["cgroup"] == name]
    assert len(ours) == 1, ours
    inc = ours[0]
    assert inc["pid"] == child.pid
    assert "cgroup" in inc["sources"]
    assert inc["limit_bytes"] == LIMIT
    if os.access("/dev/kmsg", os.R_OK):
        assert "kmsg" in inc["sources"] and inc["name"].startswith("python")
        assert 32 * 1024 * 1024 < inc["rss_bytes"] <= LIMIT + 16 * 1024 * 1024
        assert f"Killed process {child.pid}" in inc["kernel_line"]
    assert started - 1 <= inc["t"] <= killed_at + 5
    table = memdash_cli(env, "incidents", str(store))
    assert inc["id"] in table.stdout and name in table.stdout

    # replay: frames before the kill show the child's RSS rising
    with Store(store) as s:
        before = [t for t in s.times() if started < t < inc["t"] - 0.01]
    assert len(before) >= 3, "too few frames while the child grew"
    seen = []
    for t in before:
        out = memdash_cli(env, "replay", str(store), "--json", "--at", f"{t:.6f}")
        doc = json.loads(out.stdout)
        rows = [p for p in doc["processes"] if p["pid"] == child.pid]
        if rows:
            assert rows[0]["limit_bytes"] == LIMIT
            seen.append(rows[0]["rss_bytes"])
    assert len(seen) >= 3 and seen[-1] > seen[0] + 8 * 1024 * 1024, seen
    assert seen == sorted(seen)

    # report: the bundle, with the working set charted against the 64 MB limit
    bundle = tmp_path / "bundle"
    out = memdash_cli(env, "report", inc["id"], "--store", str(store), "--out", str(bundle))
    assert out.returncode == 0, out.stderr
    summary = (bundle / "summary.md").read_text()
    assert f"pid {child.pid}" in summary and name in summary and "64M" in summary
    frames = [json.loads(line) for line in (bundle / "frames.jsonl").read_text().splitlines()]
    assert len(frames) >= len(before) and all(f["schema"] == 1 for f in frames)
    svg = ET.parse(bundle / "working-set.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    series = {p.get("data-label"): p.get("points").split() for p in svg.iter(ns + "polyline")}
    assert len(series["working set"]) >= 3 and len(series[f"pid {child.pid} RSS"]) >= 3
    (limit_line,) = [ln for ln in svg.iter(ns + "line") if ln.get("class") == "hline"]
    assert int(limit_line.get("data-value")) == LIMIT
    assert [ln for ln in svg.iter(ns + "line") if ln.get("class") == "vline"]
    # the working set climbs toward the limit line (SVG y grows downwards)
    ys = [float(p.split(",")[1]) for p in series["working set"]]
    assert min(ys) < ys[0] and min(ys) >= float(limit_line.get("y1")) - 1
