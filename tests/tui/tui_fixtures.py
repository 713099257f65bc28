"""Fixed sample data for the dashboard's Pilot and snapshot tests.

The dashboard renders whatever its collector hands it; these tests hand it a
fixed snapshot (a 512 MiB container on a 2 GiB box running a Flask/Celery
stack), so screenshots do not change from run to run.
"""

from __future__ import annotations

from memdash.config import Config
from memdash.history import History
from memdash.levels import Thresholds
from memdash.model import CgroupMemory, GpuStatus, ProcessMemory, Snapshot, SystemMemory

MIB = 1024 * 1024
LIMIT = 512 * MIB
T0 = 1_763_856_000.0
THRESHOLDS = Thresholds()

ROWS = [
    # pid, ppid, name, cmdline, user, rss MiB, uss, pss, swap, growth MiB/min
    (4101, 4100, "gunicorn", "gunicorn app:app --workers 3 --bind 0.0.0.0:8000", "www", 148, 120, 131, 0, 2.5),
    (4102, 4100, "gunicorn", "gunicorn app:app --workers 3 --bind 0.0.0.0:8000", "www", 131, 104, 115, 0, 0.0),
    (4103, 4100, "gunicorn", "gunicorn app:app --workers 3 --bind 0.0.0.0:8000", "www", 96, 71, 82, 0, -0.4),
    (5200, 1, "celery", "celery -A tasks worker --concurrency 2", "www", 71, 60, 63, 4, 0.1),
    (4100, 1, "gunicorn", "gunicorn app:app --workers 3 --bind 0.0.0.0:8000", "www", 42, 20, 28, 0, 0.0),
    (310, 1, "redis-server", "redis-server 127.0.0.1:6379", "redis", 12, 9, 10, 0, 0.0),
    (1, 0, "tini", "/sbin/tini -- start.sh", "root", 1, None, None, None, None),
    (77, 1, "bash", "bash start.sh", "root", 3, 1, 2, 0, 0.0),
]


def sample_processes(thresholds: Thresholds = THRESHOLDS) -> tuple[ProcessMemory, ...]:
    out = []
    for pid, ppid, name, cmd, user, rss, uss, pss, swap, growth in ROWS:
        percent = 100.0 * rss * MIB / LIMIT
        out.append(
            ProcessMemory(
                pid=pid, ppid=ppid, name=name, cmdline=cmd, user=user,
                rss_bytes=rss * MIB,
                uss_bytes=None if uss is None else uss * MIB,
                pss_bytes=None if pss is None else pss * MIB,
                swap_bytes=None if swap is None else swap * MIB,
                limit_bytes=LIMIT, percent=percent,
                growth_bytes_per_min=None if growth is None else growth * MIB,
                level=thresholds.classify(percent),
            )
        )
    return tuple(out)


def sample_snapshot(thresholds: Thresholds = THRESHOLDS) -> Snapshot:
    usage = 431 * MIB
    percent = 100.0 * usage / LIMIT
    system = SystemMemory(
        total_bytes=2048 * MIB, available_bytes=1400 * MIB, used_bytes=648 * MIB, percent=percent,
        swap_total_bytes=0, swap_used_bytes=0, limit_bytes=LIMIT,
        cgroup=CgroupMemory(path="/docker/3f2a", version=2, usage_bytes=usage, limit_bytes=LIMIT),
        level=thresholds.classify(percent),
    )
    procs = sample_processes(thresholds)
    levels = [system.level, *(p.level for p in procs)]
    return Snapshot(
        host="web-1", time=T0, uptime_seconds=3 * 86400 + 7200, system=system, processes=procs,
        process_count=len(procs), gpus=GpuStatus(available=False, reason="no NVIDIA driver found"),
        level=max(levels),
    )


class FixedCollector:
    """Hands the dashboard the same sample snapshot on every poll, and counts polls."""

    def __init__(self, snapshot: Snapshot | None = None) -> None:
        self.snapshot = snapshot or sample_snapshot()
        self.history = History()
        for i, v in enumerate([61, 63, 66, 70, 72, 74, 77, 79, 80, 82, 83, 84]):
            self.history.record("system.percent", T0 - 12 + i, float(v))
            self.history.record("system.used", T0 - 12 + i, v / 100 * LIMIT)
        self.polls = 0

    def poll(self, **_: object) -> Snapshot:
        self.polls += 1
        return self.snapshot

    def close(self) -> None:
        pass


def sample_app(**kwargs: object):
    from memdash.tui.app import MemdashApp

    config = kwargs.pop("config", None) or Config()
    kwargs.setdefault("poll_targets", False)
    return MemdashApp(config, collector=FixedCollector(), discover=False, **kwargs)  # type: ignore[arg-type]
