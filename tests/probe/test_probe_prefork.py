"""Pre-fork mode with a real gunicorn: 3 workers, one answer for the group."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from typing import Iterator

import httpx
import pytest

from memdash.probe import procfs
from memdash.probe.discovery import find_sockets
from probe_helpers import AUTH, PYTHON, TOKEN, child_env, stop_child

HERE = os.path.dirname(os.path.abspath(__file__))
WORKERS = 3


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def gunicorn(runtime_dir: str, tmp_path) -> Iterator[tuple[str, int]]:
    """A gunicorn master with 3 sync workers; yields (base URL, master pid)."""
    log = tmp_path / "gunicorn.log"
    env = child_env(runtime_dir, MEMDASH_PROBE_TOKEN=TOKEN, MEMDASH_PROBE_MIN_INTERVAL="0")
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "--workers", str(WORKERS), "--bind", "127.0.0.1:0",
             "--chdir", HERE, "--log-level", "info", "--graceful-timeout", "5", "gunicorn_app:app"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    try:
        def listening():
            m = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read_text())
            return m.group(1) if m else None
        url = _wait_for(listening, 120, "gunicorn to listen")  # generous: a loaded box is slow to fork
        _wait_for(lambda: len(worker_pids(proc.pid)) == WORKERS, 120, f"{WORKERS} worker sockets")
        yield url, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        stop_child(proc)


def worker_pids(master: int) -> set[int]:
    return {pid for pid, _ in find_sockets() if procfs.read_ppid(pid) == master}


def test_snapshot_reports_every_worker_and_pss_total(gunicorn):
    url, master = gunicorn
    expected = worker_pids(master)
    answered_by = set()
    for _ in range(6):  # whichever worker answers, it reports the whole group
        snap = httpx.get(url + "/memdash/", headers=AUTH, timeout=10).json()
        answered_by.add(snap["pid"])
        assert snap["prefork"] is True
        pids = [w["pid"] for w in snap["workers"]]
        assert len(pids) == WORKERS and set(pids) == expected
        assert all(w["ppid"] == master for w in snap["workers"])
        group = snap["group"]
        assert group["workers"] == WORKERS and group["parent_pid"] == master
        assert isinstance(group["pss_bytes"], int) and group["pss_bytes"] > 0
        # Shared pages counted once: the group's PSS is below its summed RSS.
        assert group["pss_bytes"] < group["rss_bytes"]
        assert group["rss_bytes"] == sum(w["memory"]["rss_bytes"] for w in snap["workers"])
    assert answered_by <= expected


def test_worker_query_reads_one_worker(gunicorn):
    url, master = gunicorn
    target = sorted(worker_pids(master))[1]
    snap = httpx.get(url + f"/memdash/?worker={target}", headers=AUTH, timeout=10).json()
    assert snap["pid"] == target and "workers" not in snap
    r = httpx.get(url + "/memdash/?worker=1", headers=AUTH, timeout=10)
    assert r.status_code == 404 and set(r.json()["workers"]) == worker_pids(master)


def store_sizes(url: str) -> dict[int, int]:
    snap = httpx.get(url + "/memdash/", headers=AUTH, timeout=10).json()
    return {w["pid"]: next(c["size"] for c in w["caches"] if c["name"] == "store") for w in snap["workers"]}


def test_cleanup_with_worker_runs_only_there(gunicorn):
    url, master = gunicorn
    pids = sorted(worker_pids(master))
    assert store_sizes(url) == {pid: 1 for pid in pids}
    target = pids[0]
    r = httpx.post(url + f"/memdash/cleanup/caches?worker={target}", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["pid"] == target and r.json()["caches_cleared"] == ["store"]
    assert store_sizes(url) == {pid: (0 if pid == target else 1) for pid in pids}


def test_cleanup_without_worker_runs_in_each(gunicorn):
    url, master = gunicorn
    pids = worker_pids(master)
    r = httpx.post(url + "/memdash/cleanup/caches", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    group = r.json()
    assert group["ok"] is True and group["action"] == "caches"
    assert {w["pid"] for w in group["workers"]} == pids
    assert all(w["caches_cleared"] == ["store"] for w in group["workers"])
    assert store_sizes(url) == {pid: 0 for pid in pids}
    r = httpx.post(url + "/memdash/cleanup/gc", headers=AUTH, timeout=30)
    group = r.json()
    assert len(group["workers"]) == WORKERS
    assert group["collected"] == sum(w["collected"] for w in group["workers"])
    assert group["rss_before_bytes"] == sum(w["rss_before_bytes"] for w in group["workers"])


def test_group_cleanup_needs_the_token(gunicorn):
    url, master = gunicorn
    r = httpx.post(url + "/memdash/cleanup/caches", timeout=10)
    assert r.status_code == 401
    assert set(store_sizes(url).values()) == {1}


def test_metrics_label_each_worker(gunicorn):
    url, master = gunicorn
    text = httpx.get(url + "/memdash/metrics", headers=AUTH, timeout=10).text
    pids = set(re.findall(r'process_resident_memory_bytes\{pid="(\d+)"\}', text))
    assert {int(p) for p in pids} == worker_pids(master)
    assert re.search(r"^memdash_group_pss_bytes \d", text, re.M)


def test_worker_sockets_removed_when_gunicorn_stops(runtime_dir, gunicorn):
    url, master = gunicorn
    os.kill(master, signal.SIGTERM)
    _wait_for(lambda: not os.listdir(os.path.join(runtime_dir, "memdash")), 60, "worker sockets to go")
    assert os.listdir(os.path.join(runtime_dir, "memdash")) == []
