"""What the local poll leaves in the history the dashboard draws from, with
real processes in real memory cgroups: each service's chart holds its own
figures, the system's charts are fed, a process's RSS is sampled every 5 s
however fast the screen refreshes, and growth is the exact slope of what the
rows showed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memdash.collector import LocalCollector, service_series_key
from memdash.config import Config
from memdash.history import History

from cgroups import wait_until_empty

from .conftest import join_cgroup

HERE = Path(__file__).parent
MiB = 1024 * 1024


def _tree(cg: Path, workers: int, mib: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, str(HERE / "prefork_tree.py"), str(workers), str(mib)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=join_cgroup(cg))
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _end(proc: subprocess.Popen) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    proc.wait(timeout=30)
    proc.stdout.close()


def test_each_service_chart_holds_its_own_percent_and_a_gone_one_is_dropped(make_cgroup) -> None:
    small, big = make_cgroup(256 * MiB), make_cgroup(256 * MiB)
    a, b = _tree(small, 1, 20), _tree(big, 2, 40)
    history = History()
    col = LocalCollector(Config(), history=history, gpu=False)
    keys = {f"cgroup:/{small.name}": "small", f"cgroup:/{big.name}": "big"}
    try:
        seen: dict[str, list[float]] = {k: [] for k in keys}
        for _ in range(3):
            snap = col.poll()
            for s in snap.services:
                if s.key in seen:
                    seen[s.key].append(s.percent)
        assert all(len(v) == 3 for v in seen.values()), seen
        for key, percents in seen.items():
            series = history.peek(service_series_key(key))
            assert series is not None and series.values == pytest.approx(percents)
        small_key, big_key = list(keys)
        assert seen[big_key][-1] > seen[small_key][-1] + 10  # 80 MiB against 20 MiB of 256: two different charts
        _end(a)
        wait_until_empty(small)  # the workers the master killed may still be exiting
        snap = col.poll()
        assert small_key not in {s.key for s in snap.services}
        assert history.peek(service_series_key(small_key)) is None
        kept = history.peek(service_series_key(big_key))
        assert kept is not None and len(kept) == 4
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                _end(proc)
        col.close()


def test_the_system_charts_are_fed_from_what_the_snapshot_says() -> None:
    history = History()
    col = LocalCollector(Config(), history=history, gpu=False, services=False)
    try:
        snaps = [col.poll(limit=5) for _ in range(3)]
    finally:
        col.close()
    system = [s.system for s in snaps]
    assert all(s is not None for s in system)
    percent, used = history.peek("system.percent"), history.peek("system.used")
    assert percent is not None and used is not None
    assert percent.times == [s.time for s in snaps]
    assert percent.values == pytest.approx([s.percent for s in system])  # type: ignore[union-attr]
    expected_used = [s.cgroup.usage_bytes if s.limit_bytes and s.cgroup else s.used_bytes  # type: ignore[union-attr]
                     for s in system]
    assert used.values == pytest.approx(expected_used)
    assert all(v > 0 for v in used.values)


GROWER = r"""
import sys
held = []
print("ready", flush=True)
for line in sys.stdin:
    held.append(bytearray(int(line) * 1024 * 1024))
    held[-1][::4096] = b"x" * len(range(0, len(held[-1]), 4096))
    print("done", flush=True)
"""


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_process_rss_is_sampled_every_5_s_and_growth_is_the_exact_slope() -> None:
    """The RSS chart and growth rate cover the last 5 minutes because a point is
    kept every 5 s, not one per refresh; growth is the slope of what the rows showed."""
    child = subprocess.Popen([sys.executable, "-c", GROWER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    history = History()
    col = LocalCollector(Config(), history=history, gpu=False, services=False)
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "ready"
        first = [col.poll(detail_pids=[child.pid], limit=1) for _ in range(8)]  # a fast refresh
        rows0 = [next(p for p in s.processes if p.pid == child.pid) for s in first]
        assert all(r.growth_bytes_per_min is None for r in rows0)  # one point is no slope
        series = history.peek(f"process.{child.pid}.rss")
        assert series is not None and len(series) == 1 and series.times == [first[0].time]
        before = _rss(child.pid)
        child.stdin.write("48\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "done"
        assert _rss(child.pid) >= before + 40 * MiB
        time.sleep(max(0.0, first[0].time + LocalCollector.PROCESS_SAMPLE_SECONDS + 0.2 - time.time()))
        snap = col.poll(detail_pids=[child.pid], limit=1)
        row = next(p for p in snap.processes if p.pid == child.pid)  # kept past the limit: asked for by pid
        assert len(series) == 2 and series.times[-1] == snap.time
        expected = (row.rss_bytes - rows0[0].rss_bytes) / (snap.time - first[0].time) * 60
        assert expected > 40 * MiB * 60 / 10  # ~48 MiB in under 10 s
        assert row.growth_bytes_per_min == pytest.approx(expected, rel=1e-9)
    finally:
        col.close()
        child.stdin.close()
        child.wait(timeout=30)
        child.stdout.close()


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_closing_a_collector_releases_every_descriptor(make_cgroup) -> None:
    """Closing a collector gives back the scanner's and the services' files at
    once, not when the object happens to be collected."""
    cg = make_cgroup(256 * MiB)
    tree = _tree(cg, 2, 10)
    try:
        col = LocalCollector(Config(), gpu=False)
        col.poll(detail_top=20)
        col.close()  # warm-up: lazy imports
        before = _open_fds()
        kept = []  # still referenced (the engine holds its collector until it exits): close() alone must free them
        for _ in range(5):
            col = LocalCollector(Config(), gpu=False)
            kept.append(col)
            for _ in range(2):
                snap = col.poll(detail_top=20)
            assert any(s.key == f"cgroup:/{cg.name}" for s in snap.services)
            assert len(_open_fds() - before) > 0  # it did hold files open
            col.close()
        leaked = _open_fds() - before
        assert not leaked, {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in leaked
                            if os.path.exists(f"/proc/self/fd/{fd}")}
    finally:
        _end(tree)


BOXED_DASHBOARD = r"""
import json, sys
from memdash.collector import LocalCollector
from memdash.config import Config

col = LocalCollector(Config(), gpu=False, services=False)
target = int(sys.argv[1])
print("ready", flush=True)
for _ in sys.stdin:
    snap = col.poll(detail_pids=[target], limit=0)
    row = next(p for p in snap.processes if p.pid == target)
    print(json.dumps([snap.system.limit_bytes, row.limit_bytes, row.percent, row.rss_bytes]), flush=True)
col.close()
"""


def test_a_container_limit_changed_while_polling_applies_from_the_next_poll(make_cgroup) -> None:
    """memdash in a container (a limited cgroup) measures processes without a
    limit of their own against the container's; when that limit is changed
    (``docker update --memory``), the next refresh uses the new one."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # outside the group
    group = make_cgroup(512 * MiB)
    dash = subprocess.Popen([sys.executable, "-c", BOXED_DASHBOARD, str(sleeper.pid)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, preexec_fn=join_cgroup(group))
    assert dash.stdin is not None and dash.stdout is not None
    try:
        assert dash.stdout.readline().strip() == "ready"

        def poll() -> list:
            dash.stdin.write("poll\n")  # type: ignore[union-attr]
            dash.stdin.flush()  # type: ignore[union-attr]
            line = dash.stdout.readline()  # type: ignore[union-attr]
            assert line, "the dashboard process died"
            return json.loads(line)

        system, limit, percent, rss = poll()
        if limit != 512 * MiB:
            pytest.skip(f"the test's own cgroup has a limit ({limit} bytes): no process without one to measure")
        assert system == 512 * MiB
        assert percent == pytest.approx(100.0 * rss / (512 * MiB))
        (group / "memory.limit_in_bytes").write_text(str(384 * MiB))
        system, limit, percent, rss = poll()
        assert (system, limit) == (384 * MiB, 384 * MiB)
        assert percent == pytest.approx(100.0 * rss / (384 * MiB))
    finally:
        dash.stdin.close()
        dash.wait(timeout=30)
        dash.stdout.close()
        sleeper.kill()
        sleeper.wait()
