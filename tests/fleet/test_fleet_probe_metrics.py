"""The probe's /metrics carries its cgroup's figures, which the fleet view ranks by."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cgroups import MemoryCgroup, memory_cgroup, need_memory_cgroup
from tests.fleet.fleet_helpers import MIB, start_service, stop, wait_until

TOKEN = "fleet-metrics-token-3b9d"
HOG = "import os; os.write(1, b'go'); x = [b'y' * (1 << 20) for _ in range(200)]"


def scrape(url: str) -> dict[str, float]:
    text = httpx.get(url.rstrip("/") + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).text
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name.startswith("memdash_memory_") and not s.labels:
                out[s.name] = s.value
    return out


def _holds_its_cap(group: MemoryCgroup) -> bool:
    """The service has grown to its 24 MiB and stays there (two readings a second apart)."""
    before = group.working_set()
    time.sleep(1.0)
    after = group.working_set()
    return after >= 24 * MIB and abs(after - before) <= 0.01 * after


def test_limit_working_set_and_oom_kills_of_the_cgroup() -> None:
    with memory_cgroup(96 * MIB, "fleet-metrics") as group:
        service = start_service("127.0.0.1", 8 * MIB, 24 * MIB, TOKEN, cgroup=group)
        try:
            wait_until(lambda: _holds_its_cap(group), 120, "the service to hold its 24 MiB")
            m = scrape(service.url)
            truth = group.working_set()
            assert m["memdash_memory_limit_bytes"] == 96 * MIB
            assert abs(m["memdash_memory_working_set_bytes"] - truth) <= 0.05 * truth
            assert m["memdash_memory_usage_bytes"] >= m["memdash_memory_working_set_bytes"]
            assert m["memdash_memory_oom_kills_total"] == 0

            # a process in the same cgroup asks for 200 MiB: the kernel kills it, and the probe counts it
            hog = subprocess.Popen([sys.executable, "-c", HOG], stdout=subprocess.PIPE, preexec_fn=group.join)
            hog.wait(timeout=60)
            hog.stdout.close()  # type: ignore[union-attr]
            assert hog.returncode == -9
            assert service.proc.poll() is None  # the service itself lives on
            assert scrape(service.url)["memdash_memory_oom_kills_total"] >= 1
        finally:
            stop(service.proc)


def test_no_cgroup_figures_from_the_root_cgroup() -> None:
    # The root cgroup's usage is the whole host's: a process there reports no cgroup figures.
    code = ("import os\nwith open('/sys/fs/cgroup/memory/cgroup.procs', 'w') as f: f.write('0')\n"
            "from memdash.probe import metrics\nprint(metrics.cgroup_memory())")
    need_memory_cgroup()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{}"
