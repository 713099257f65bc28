"""engine/join.py: which targets are local, and remote workers remembered (bounded, forgotten)."""

from __future__ import annotations

import pytest

from memdash.engine.join import FORGET_POLLS, MAX_WORKERS, SeenWorkers, local_address, worker_key
from memdash.levels import Level, Thresholds
from memdash.model import TargetSample

MiB = 1 << 20


def sample(start: float | None = None, rss: int = 100 * MiB, pid: int | None = None, **kw) -> TargetSample:
    metrics = {} if start is None else {"process_start_time_seconds": start}
    return TargetSample(name="api", url="http://10.0.0.5:8000/metrics", kind="prometheus", ok=True, pid=pid,
                        rss_bytes=rss, metrics=metrics, **kw)


@pytest.mark.parametrize("url,where", [
    ("http://127.0.0.1:8000/metrics", ("tcp", 8000)),
    ("http://localhost/metrics", ("tcp", 80)),
    ("https://[::1]/m", ("tcp", 443)),
    ("http://127.8.9.10:9/", ("tcp", 9)),
    ("unix:/run/app.sock:/metrics", ("unix", "/run/app.sock")),
    ("http://10.0.0.5:8000/metrics", None),
    ("http://example.com:8000/", None),
    ("http://[::ffff:7f00:1", None),  # not a URL: not local
])
def test_local_address(url, where):
    assert local_address(url) == where


def test_workers_seen_add_up_with_the_answering_worker_known_by_start_time():
    seen = SeenWorkers()
    th = Thresholds()
    first = seen.add(sample(1000.25, 100 * MiB, limit_bytes=1000 * MiB, percent=10.0), th)
    assert first.rss_bytes == 100 * MiB and first.workers is None  # one worker: the figure as it is
    second = seen.add(sample(1000.75, 140 * MiB, limit_bytes=1000 * MiB, percent=14.0), th)
    assert second.rss_bytes == 240 * MiB and second.workers == 2 and second.workers_seen
    assert second.workers_text == "2 workers seen"
    assert second.percent == pytest.approx(24.0) and second.level is th.classify(24.0)
    again = seen.add(sample(1000.25, 110 * MiB, limit_bytes=1000 * MiB), th)  # the first worker again, grown
    assert again.rss_bytes == 250 * MiB and again.workers == 2


def test_a_worker_not_seen_for_a_while_is_forgotten_and_memory_is_bounded():
    seen = SeenWorkers()
    th = Thresholds()
    seen.add(sample(1.0), th)  # a worker that was recycled
    for _ in range(FORGET_POLLS + 1):
        out = seen.add(sample(2.0), th)
    assert out.workers is None and out.rss_bytes == 100 * MiB  # only the new one is left
    for i in range(MAX_WORKERS * 2):  # a stream of distinct pids: bounded
        out = seen.add(sample(pid=10_000 + i, rss=MiB), th)
    assert len(seen) <= MAX_WORKERS


def test_no_worker_identity_or_a_group_total_is_left_as_it_is():
    assert worker_key(sample()) is None
    assert worker_key(sample(pid=42)) == ("pid", 42.0)
    group = TargetSample(name="p", url="unix:/x", kind="probe", ok=True, pid=42, rss_bytes=MiB,
                         metrics={"group.workers": 3.0})
    assert worker_key(group) is None
    failed = TargetSample(name="api", url="u", kind="prometheus", ok=False, level=Level.UNKNOWN)
    assert SeenWorkers().add(failed, Thresholds()) is failed


LISTENER = ("import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); "
            "print(s.getsockname()[1],flush=True); time.sleep(60)")


def test_many_local_targets_in_one_refresh_each_join_their_own_service():
    """Targets on different local ports, looked up in the same refresh (the tables
    and descriptors read once for all of them), each get their own listener's
    service; a target whose listener is in no service keeps its own figure."""
    import subprocess
    import sys

    from memdash.engine.join import LocalJoin
    from memdash.model import ServiceMemory, ServiceWorker

    kids = [subprocess.Popen([sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    try:
        ports = [int(k.stdout.readline()) for k in kids]
        services = [
            ServiceMemory(key=f"prefork:{k.pid}", name=f"svc{i}", kind="prefork", worker_count=1, process_count=1,
                          workers=(ServiceWorker(pid=k.pid, ppid=1, name="py", cmdline="py", role="master",
                                                 rss_bytes=(i + 1) * 10 * MiB),),
                          rss_bytes=(i + 1) * 10 * MiB)
            for i, k in enumerate(kids[:2])  # the third listener is in no service
        ]
        join = LocalJoin()
        join.begin(services, 1000.0)
        th = Thresholds()
        out = [join.join(TargetSample(name=f"t{i}", url=f"http://127.0.0.1:{port}/", kind="probe", ok=True,
                                      rss_bytes=MiB), th) for i, port in enumerate(ports)]
        assert [t.service for t in out] == ["svc0", "svc1", None]
        assert [t.rss_bytes for t in out] == [10 * MiB, 20 * MiB, MiB]
        # The next refresh answers from what was found (no look); the one in no service stays itself.
        join.begin(services, 1001.0)
        again = [join.join(TargetSample(name=f"t{i}", url=f"http://127.0.0.1:{port}/", kind="probe", ok=True,
                                        rss_bytes=2 * MiB), th) for i, port in enumerate(ports)]
        assert [t.rss_bytes for t in again] == [10 * MiB, 20 * MiB, 2 * MiB]
    finally:
        for k in kids:
            k.kill()
            k.wait()
            k.stdout.close()
