"""The local poll carries services, records their working-set series, and forgets both when they go."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from memdash.collector import LocalCollector, service_series_key
from memdash.config import Config
from memdash.history import History

from cgroups import wait_until_empty

from .conftest import join_cgroup

HERE = Path(__file__).parent
MiB = 1024 * 1024


def test_poll_services_series_and_forgetting(make_cgroup):
    cg = make_cgroup(256 * MiB)
    tree = subprocess.Popen([sys.executable, str(HERE / "prefork_tree.py"), "2", "20"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, preexec_fn=join_cgroup(cg))
    history = History()
    col = LocalCollector(Config(), history=history, gpu=False)
    key = f"cgroup:/{cg.name}"
    try:
        assert tree.stdout.readline().strip() == "ready"
        snap = None
        for _ in range(3):
            snap = col.poll(detail_top=10)
        assert snap is not None
        svc = next(s for s in snap.services if s.key == key)
        assert svc.worker_count == 2 and svc.process_count == 3
        assert snap.level >= svc.level  # the service's level counts in the snapshot's
        assert snap.host_oom is not None and snap.host_oom.count is not None
        series = history.series(service_series_key(key))
        assert len(series) == 3 and abs(series.values[-1] - svc.percent) < 1e-9
    finally:
        tree.stdin.close()
        tree.wait(timeout=10)
        tree.stdout.close()
    wait_until_empty(cg)  # the master is gone; the workers it killed may still be exiting, their pages charged
    snap = col.poll()
    assert all(s.key != key for s in snap.services)
    assert history.peek(service_series_key(key)) is None  # bounded: gone services leave nothing behind
    col.close()


def test_services_off(make_cgroup):
    col = LocalCollector(Config(), gpu=False, services=False)
    snap = col.poll()
    assert snap.services == () and snap.host_oom is None and col.services is None
    col.close()
