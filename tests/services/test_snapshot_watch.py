"""``memdash snapshot --watch``: JSON Lines from the dashboard's engine, watched while
a real worker in a real 128 MB cgroup leaks 8 MB/s until the kernel kills it."""

from __future__ import annotations

import json
from datetime import datetime
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import join_cgroup

HERE = Path(__file__).parent
MiB = 1024 * 1024


def _env(tmp_path: Path, config: str = "") -> dict[str, str]:
    cfg = tmp_path / "memdash.toml"
    cfg.write_text(config)
    env = {k: v for k, v in os.environ.items() if k not in ("MEMDASH_TOKEN", "MEMDASH_DEBUG")}
    env["MEMDASH_CONFIG"] = str(cfg)
    return env


def test_watch_count_prints_json_lines(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "memdash", "snapshot", "--json", "--watch", "0.3", "--count", "3",
                           "--no-gpu", "--no-discover"], capture_output=True, text=True, timeout=60,
                          env=_env(tmp_path), stdin=subprocess.DEVNULL)
    assert proc.returncode in (0, 1, 2), proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3
    docs = [json.loads(line) for line in lines]
    assert [d["seq"] for d in docs] == sorted(d["seq"] for d in docs) and len({d["seq"] for d in docs}) == 3
    assert all("services" in d and d["interval"] == 0.3 for d in docs)


@pytest.mark.parametrize("args, message", [
    (["--count", "2"], "--count needs --watch"),
    (["--watch", "0"], "--watch needs a number of seconds above 0"),
    (["--watch", "nan"], "--watch needs a number of seconds above 0"),
    (["--watch", "1", "--count", "0"], "--count must be at least 1"),
])
def test_watch_usage_errors(tmp_path, args, message):
    proc = subprocess.run([sys.executable, "-m", "memdash", "snapshot", *args], capture_output=True, text=True,
                          timeout=60, env=_env(tmp_path), stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_watch_sees_eta_fall_then_the_kill(make_cgroup, tmp_path):
    cg = make_cgroup(128 * MiB)
    key = f"cgroup:/{cg.name}"
    watch = subprocess.Popen(
        [sys.executable, "-m", "memdash", "snapshot", "--json", "--watch", "0.5", "--count", "200", "--no-gpu",
         "--no-discover"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
        env=_env(tmp_path, '[thresholds]\neta_min_span = "5s"\n'))
    grower = None
    try:
        # the service exists before it starts to leak: a parent that waits, then forks the leaking worker
        grower = subprocess.Popen([sys.executable, str(HERE / "grower.py"), "8"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, preexec_fn=join_cgroup(cg))
        child = int(grower.stdout.readline())
        etas: list[tuple[float, float]] = []
        killed_at = None
        after_kill = None
        first_seen = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = watch.stdout.readline()
            assert line, watch.stderr.read()
            doc = json.loads(line)
            svc = next((s for s in doc["services"] if s["key"] == key), None)
            # When memdash took the sample, not when this loop read it: on a loaded
            # box the reader falls behind and reads several documents at once.
            now = datetime.fromisoformat(doc["time"]).timestamp()
            if svc is None:
                continue
            first_seen = first_seen or now
            if killed_at is None and not os.path.exists(f"/proc/{child}"):
                killed_at = time.time()  # seen gone now: at or after the kill
            if killed_at is not None and svc["oom_kills"]["count"]:
                after_kill = (doc, svc)
                break
            if svc["oom_eta_seconds"] is not None:
                etas.append((now, svc["oom_eta_seconds"]))
        assert after_kill is not None, "no document showed the kill"
        assert len(etas) >= 3, etas
        # no ETA before eta_min_span (5 s) of samples, less one refresh and the 1 s resolution of "time"
        assert etas[0][0] - first_seen >= 4.0
        assert etas[-1][1] < etas[0][1]  # the ETA falls
        t, eta = etas[0]
        truth = killed_at - t
        assert 0.5 * truth <= eta <= 1.5 * truth, (eta, truth)
        doc, svc = after_kill
        assert svc["oom_kills"]["count"] >= 1 and svc["oom_kills"]["recent"]
        assert svc["oom_kills"]["rose_at"] is not None
        assert svc["level"] == "critical" and doc["level"] == "critical"
        assert any(r.startswith("OOM kill") for r in svc["reasons"])
    finally:
        watch.send_signal(signal.SIGINT)
        try:
            watch.wait(timeout=15)
        except subprocess.TimeoutExpired:
            watch.kill()
            watch.wait()
        watch.stdout.close()
        watch.stderr.close()
        if grower is not None:
            grower.stdin.close()
            grower.wait(timeout=10)
            grower.stdout.close()
