"""Services over refreshes: levels from percent, ETA and kills; the host-wide counter; sums."""

from __future__ import annotations

from dataclasses import replace

import pytest

from memdash.levels import Level, Thresholds
from memdash.model import ProcessMemory
from memdash.service_watch import ServiceWatch
from memdash.sources.cgroup_stats import CgroupStats, HostOomStats, KernelKill
from memdash.sources.services import ServiceGroup

MiB = 1024 * 1024
T0 = 1_800_000_000.0


def row(pid, rss, pss=None, uss=None, swap=None, ppid=1):
    return ProcessMemory(pid=pid, ppid=ppid, name="python3", cmdline="python3 app.py", user="root",
                         rss_bytes=rss, pss_bytes=pss, uss_bytes=uss, swap_bytes=swap, limit_bytes=1, percent=0.0)


def stats(ws, *, limit=256 * MiB, kills=0, path="/app"):
    return CgroupStats(path=path, version=1, usage_bytes=ws, limit_bytes=limit, own_limit_bytes=limit, high_bytes=None,
                       working_set_bytes=ws, breakdown=None, pressure=None, oom_kills=kills)


def group(cg, pids=(10, 11)):
    return ServiceGroup(key=f"cgroup:{cg.path}" if cg else "prefork:10", name="app", kind="cgroup" if cg else "prefork",
                        pids=pids, roles={10: "master", 11: "worker"}, worker_count=1, master_pid=10, cgroup=cg)


ROWS = {10: row(10, 30 * MiB, 20 * MiB, 15 * MiB, 0), 11: row(11, 50 * MiB, 40 * MiB, 35 * MiB, 0, ppid=10)}


def test_sums_and_partial_pss():
    w = ServiceWatch(Thresholds())
    (s,) = w.update([group(stats(100 * MiB))], ROWS, T0)
    assert (s.rss_bytes, s.pss_bytes, s.uss_bytes, s.swap_bytes) == (80 * MiB, 60 * MiB, 50 * MiB, 0)
    assert [x.role for x in s.workers] == ["master", "worker"]
    rows = {**ROWS, 11: replace(ROWS[11], pss_bytes=None)}
    (s,) = ServiceWatch(Thresholds()).update([group(stats(100 * MiB))], rows, T0)
    assert s.pss_bytes is None  # a partial sum would under-count


def test_level_from_percent_of_limit():
    (s,) = ServiceWatch(Thresholds()).update([group(stats(230 * MiB))], ROWS, T0)
    assert s.percent == pytest.approx(100 * 230 / 256)
    assert s.level is Level.CRITICAL and "90% of its limit" in s.reasons


def test_eta_escalates_a_low_percent():
    th = Thresholds(eta_min_span=5.0)
    w = ServiceWatch(th)
    for i in range(11):  # 40 MiB -> 140 MiB in 10 s: 10 MiB/s, 11.6 s left to 256 MiB
        (s,) = w.update([group(stats((40 + 10 * i) * MiB))], ROWS, T0 + i)
    assert s.percent < 70
    assert s.growth_bytes_per_min == pytest.approx(600 * MiB)
    assert s.oom_eta_seconds == pytest.approx(11.6)
    assert s.level is Level.CRITICAL
    assert any(r.startswith("OOM in 11s") for r in s.reasons), s.reasons


def test_kill_seen_rising_is_critical_for_15_minutes():
    w = ServiceWatch(Thresholds())
    (s,) = w.update([group(stats(50 * MiB, kills=2))], ROWS, T0)
    assert s.oom_kills.count == 2 and s.oom_kills.rose_at is None and s.level is Level.EXCELLENT
    (s,) = w.update([group(stats(50 * MiB, kills=3))], ROWS, T0 + 10)
    assert s.oom_kills.rose_at == T0 + 10 and s.oom_kills.recent
    assert s.level is Level.CRITICAL and s.reasons[0] == "OOM kill just now"
    (s,) = w.update([group(stats(50 * MiB, kills=3))], ROWS, T0 + 10 + 899)
    assert s.level is Level.CRITICAL and s.reasons[0] == "OOM kill 15 min ago"
    (s,) = w.update([group(stats(50 * MiB, kills=3))], ROWS, T0 + 10 + 901)
    assert s.level is Level.EXCELLENT and not s.oom_kills.recent and s.oom_kills.count == 3


def test_kill_dated_by_kernel_log():
    w = ServiceWatch(Thresholds())
    kill = KernelKill(time=T0 - 120, pid=12, name="python3", memcg="/app")
    other = KernelKill(time=T0 - 60, pid=13, name="python3", memcg="/elsewhere")
    (s,) = w.update([group(stats(50 * MiB, kills=1))], ROWS, T0, kills=[kill, other])
    assert s.oom_kills.rose_at == T0 - 120 and s.level is Level.CRITICAL
    assert s.reasons[0] == "OOM kill 2 min ago"
    old = KernelKill(time=T0 - 3600, pid=12, name="python3", memcg="/app")
    (s,) = ServiceWatch(Thresholds()).update([group(stats(50 * MiB, kills=1))], ROWS, T0, kills=[old])
    assert s.oom_kills.rose_at is None and s.level is Level.EXCELLENT


def test_pool_without_cgroup_uses_host_limit_and_kernel_log_by_pid():
    w = ServiceWatch(Thresholds(), host_limit_bytes=1000 * MiB)
    (s,) = w.update([group(None)], ROWS, T0)
    assert s.limit_bytes == 1000 * MiB and s.limit_source == "host" and s.working_set_bytes == 80 * MiB
    assert s.percent == pytest.approx(8.0) and s.cgroup_path is None
    # a worker the pool had last refresh was killed (the log names no cgroup on some kernels)
    (s,) = w.update([group(None, pids=(10,))], {10: ROWS[10]}, T0 + 5,
                    kills=[KernelKill(time=T0 + 4, pid=11, name="python3", memcg=None)])
    assert s.level is Level.CRITICAL and s.process_count == 1


def test_host_counter_rise_is_a_host_warning():
    w = ServiceWatch(Thresholds())
    h = w.host_oom(HostOomStats(oom_kills=5, pressure=None), T0)
    assert (h.count, h.rose_at, h.recent) == (5, None, False) and w.host_level(T0) is Level.EXCELLENT
    h = w.host_oom(HostOomStats(oom_kills=6, pressure=None), T0 + 1)
    assert h.rose_at == T0 + 1 and w.host_level(T0 + 1) is Level.WARNING
    assert w.host_level(T0 + 1 + 901) is Level.EXCELLENT


def test_leak_flag_and_state_is_forgotten():
    w = ServiceWatch(Thresholds())
    (s,) = w.update([group(stats(50 * MiB))], ROWS, T0, growing_after_gc={"cgroup:/app": True})
    assert s.growing_after_gc and "growing after GC" in s.reasons
    assert w.update([], {}, T0 + 1) == ()
    assert not w._states  # bounded: services gone are dropped


def test_a_kill_restarts_the_slope():
    th = Thresholds(eta_min_span=5.0)
    w = ServiceWatch(th)
    for i in range(11):
        (s,) = w.update([group(stats((40 + 10 * i) * MiB, kills=0))], ROWS, T0 + i)
    assert s.oom_eta_seconds is not None
    # the leaking worker is killed: the working set drops and stays
    (s,) = w.update([group(stats(40 * MiB, kills=1))], ROWS, T0 + 11)
    assert s.level is Level.CRITICAL and s.growth_bytes_per_min is None and s.oom_eta_seconds is None
    for i in range(12, 20):
        (s,) = w.update([group(stats(40 * MiB, kills=1))], ROWS, T0 + i)
    assert s.growth_bytes_per_min == 0.0 and s.oom_eta_seconds is None  # flat since: no ETA from the dead worker
