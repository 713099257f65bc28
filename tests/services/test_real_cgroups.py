"""Services against real memory cgroups: a pre-fork tree under a 256 MB limit,
and a leaking worker under 128 MB that the kernel kills."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memdash.levels import Level, Thresholds
from memdash.service_watch import ServiceCollector
from memdash.sources.processes import ProcessScanner
from memdash.sources.system import read_system_memory

from .conftest import join_cgroup

HERE = Path(__file__).parent
MiB = 1024 * 1024


def vmrss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def stat_value(path: Path, key: str) -> int:
    for line in (path / "memory.stat").read_text().splitlines():
        k, v = line.split()
        if k == key:
            return int(v)
    raise AssertionError(f"{key} not in memory.stat")


def collector(thresholds: Thresholds = Thresholds()) -> tuple[ServiceCollector, ProcessScanner]:
    total = read_system_memory(thresholds).total_bytes
    return (ServiceCollector(thresholds, total_bytes=total),
            ProcessScanner(total_bytes=total, thresholds=thresholds))


def start(args: list[str], cgroup: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            preexec_fn=join_cgroup(cgroup))


def test_prefork_tree_in_a_256mb_cgroup_is_one_service(make_cgroup):
    cg = make_cgroup(256 * MiB)
    proc = start([str(HERE / "prefork_tree.py"), "3", "40"], cg)
    try:
        assert proc.stdout.readline().strip() == "ready"
        col, scanner = collector()
        services = col.collect(scanner.scan_raw(), scanner, time.time())
        # read independently, right after
        usage = int((cg / "memory.usage_in_bytes").read_text())
        inactive = stat_value(cg, "total_inactive_file")
        pids = [int(p) for p in (cg / "cgroup.procs").read_text().split()]
        rss_sum = sum(vmrss(p) for p in pids)

        mine = [s for s in services if s.cgroup_path == f"/{cg.name}"]
        assert len(mine) == 1, [s.name for s in services]
        svc = mine[0]
        # no second service for the same processes
        assert not any(s.kind == "prefork" and s.master_pid == proc.pid for s in services)
        assert svc.name == cg.name
        assert svc.process_count == 4 and len(svc.workers) == 4
        assert svc.worker_count == 3
        assert svc.master_pid == proc.pid
        assert [w.role for w in svc.workers] == ["master", "worker", "worker", "worker"]
        assert svc.program == "prefork_tree"
        assert svc.limit_bytes == 256 * MiB and svc.limit_source == "cgroup"
        assert svc.cgroup_version == 1
        assert svc.working_set_bytes == pytest.approx(usage - inactive, rel=0.05)
        assert svc.rss_bytes == pytest.approx(rss_sum, rel=0.05)
        assert svc.rss_bytes > 3 * 40 * MiB
        assert svc.pss_bytes is not None and svc.uss_bytes is not None
        assert svc.uss_bytes <= svc.pss_bytes <= svc.rss_bytes
        assert svc.percent == pytest.approx(100 * svc.working_set_bytes / (256 * MiB))
        assert svc.breakdown is not None and svc.breakdown.anon_bytes >= 3 * 40 * MiB
        assert svc.oom_kills.count == 0 and svc.oom_kills.rose_at is None
        assert svc.growth_bytes_per_min is None and svc.oom_eta_seconds is None  # one read: no trend
        assert svc.level == Thresholds().classify(svc.percent)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.mark.slow
def test_leaking_worker_eta_then_kill(make_cgroup):
    cg = make_cgroup(128 * MiB)
    thresholds = Thresholds(eta_min_span=5.0)
    proc = start([str(HERE / "grower.py"), "8"], cg)
    try:
        child = int(proc.stdout.readline())
        assert proc.stdout.readline().strip() == "start"
        col, scanner = collector(thresholds)
        key = f"cgroup:/{cg.name}"
        etas: list[tuple[float, float]] = []
        first_sample = None
        killed_at = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = time.time()
            svc = next((s for s in col.collect(scanner.scan_raw(), scanner, now) if s.key == key), None)
            assert svc is not None
            first_sample = first_sample or now
            if not os.path.exists(f"/proc/{child}") or svc.oom_kills.count:
                killed_at = now
                break
            if svc.oom_eta_seconds is not None:
                assert now - first_sample >= 5.0  # no figure before eta_min_span
                etas.append((now, svc.oom_eta_seconds))
            time.sleep(0.25)
        assert killed_at is not None, "the kernel never killed the growing worker"
        assert len(etas) >= 3, etas
        # the ETA falls as the limit nears
        assert etas[-1][1] < etas[0][1]
        # and after 5 s of samples it is within +/-50 % of when the kill really came
        t, eta = etas[0]
        truth = killed_at - t
        assert 0.5 * truth <= eta <= 1.5 * truth, (eta, truth)

        # the next read: the kill is counted, dated, and makes the service critical
        time.sleep(0.3)
        now = time.time()
        svc = next(s for s in col.collect(scanner.scan_raw(), scanner, now) if s.key == key)
        assert svc.oom_kills.count >= 1
        assert svc.oom_kills.recent and svc.oom_kills.rose_at is not None
        assert now - svc.oom_kills.rose_at < 30
        assert svc.level is Level.CRITICAL
        assert any(r.startswith("OOM kill") for r in svc.reasons), svc.reasons
        assert svc.process_count == 1  # the parent stays; the leaking worker is gone

        # a one-shot read of the same cgroup reports the count and never invents when
        fresh, scanner2 = collector(thresholds)
        fresh.kernel_log = None  # the kernel log would date it; a plain one-shot cannot
        once = next(s for s in fresh.collect(scanner2.scan_raw(), scanner2, time.time()) if s.key == key)
        assert once.oom_kills.count >= 1 and once.oom_kills.rose_at is None
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()


def test_membership_follows_processes_coming_and_going(make_cgroup):
    cg = make_cgroup(256 * MiB)
    proc = start([str(HERE / "prefork_tree.py"), "2", "10"], cg)
    extra = None
    outside = None
    try:
        assert proc.stdout.readline().strip() == "ready"
        col, scanner = collector()
        key = f"cgroup:/{cg.name}"

        def mine():
            return next(s for s in col.collect(scanner.scan_raw(), scanner, time.time(), smaps_max_age=60) if s.key == key)

        assert mine().process_count == 3
        # a process elsewhere comes and goes: the service is unchanged
        outside = subprocess.Popen(["sleep", "60"])
        time.sleep(0.2)
        assert mine().process_count == 3
        outside.kill()
        outside.wait()
        # one more process joins the cgroup: it is counted, with its own row (and its USS/PSS)
        extra = subprocess.Popen(["sleep", "60"], preexec_fn=join_cgroup(cg))
        time.sleep(0.2)
        svc = mine()
        assert svc.process_count == 4
        row = next(w for w in svc.workers if w.pid == extra.pid)
        assert row.role == "process" and row.rss_bytes > 0 and row.pss_bytes is not None
        extra.kill()
        extra.wait()
        extra = None
        time.sleep(0.2)
        assert mine().process_count == 3
    finally:
        for p in (outside, extra):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        proc.stdin.close()
        proc.wait(timeout=10)
        proc.stdout.close()
