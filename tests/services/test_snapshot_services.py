"""``memdash snapshot --json`` carries services: a real pre-fork tree in a real 256 MB cgroup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import join_cgroup

HERE = Path(__file__).parent
MiB = 1024 * 1024


def _strict(text: str) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_snapshot_json_has_the_service(make_cgroup, tmp_path):
    cg = make_cgroup(256 * MiB)
    tree = subprocess.Popen([sys.executable, str(HERE / "prefork_tree.py"), "3", "40"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, preexec_fn=join_cgroup(cg))
    try:
        assert tree.stdout.readline().strip() == "ready"
        env = {k: v for k, v in os.environ.items() if k not in ("MEMDASH_CONFIG", "MEMDASH_TOKEN")}
        env["XDG_CONFIG_HOME"] = str(tmp_path)
        proc = subprocess.run([sys.executable, "-m", "memdash", "snapshot", "--json", "--no-gpu", "--no-discover"],
                              capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        assert "Traceback" not in proc.stderr, proc.stderr
        doc = _strict(proc.stdout)
        mine = [s for s in doc["services"] if s["cgroup"] == f"/{cg.name}"]
        assert len(mine) == 1
        s = mine[0]
        assert (s["name"], s["kind"], s["program"], s["master_pid"]) == (cg.name, "cgroup", "prefork_tree", tree.pid)
        assert (s["worker_count"], s["process_count"], len(s["workers"])) == (3, 4, 4)
        assert s["limit_bytes"] == 256 * MiB and s["limit_source"] == "cgroup" and s["cgroup_version"] == 1
        assert s["working_set_bytes"] > 3 * 40 * MiB
        assert 0 < s["percent"] < 100
        assert s["pss_bytes"] <= s["rss_bytes"]
        assert s["breakdown"]["anon_bytes"] >= 3 * 40 * MiB
        assert s["oom_kills"] == {"count": 0, "rose_at": None, "recent": False}
        assert s["growth_bytes_per_min"] is None and s["oom_eta_seconds"] is None  # one poll: no trend
        assert s["level"] in ("excellent", "good", "warning", "critical")
        assert {w["role"] for w in s["workers"]} == {"master", "worker"}
        assert doc["host_oom_kills"]["rose_at"] is None  # a one-shot never invents when
    finally:
        tree.stdin.close()
        tree.wait(timeout=10)
        tree.stdout.close()
