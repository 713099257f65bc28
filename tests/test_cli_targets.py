"""`memdash snapshot` and `memdash cleanup` against real services on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time

import httpx
import isolated
import pytest


@pytest.fixture
def hung_server():
    """Accepts connections and never answers; closes them all when the test ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        t.join(2)
        for c in held:
            c.close()
        sock.close()


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def memdash(*args: str, env: dict | None = None, stdin=subprocess.DEVNULL, timeout: float = 30):
    return subprocess.run([sys.executable, "-m", "memdash", *args], capture_output=True, text=True,
                          env=env or dict(os.environ), stdin=stdin, timeout=timeout)


def gc_state(svc) -> tuple[int, int]:
    doc = httpx.get(svc.url, headers={"Authorization": f"Bearer {svc.token}"}, timeout=5).json()
    gens = doc["gc"]["generations"]
    return gens[-1]["collections"], sum(g["collected"] for g in gens)


def test_snapshot_dead_and_hung_targets_do_not_hold_up_a_good_one(gc_service, hung_server, tmp_path):
    timeout = 2.0
    config = tmp_path / "memdash.toml"
    config.write_text(f"""
[thresholds]
good = 99.0
warning = 99.5
critical = 100.0

[[targets]]
name = "good"
url = "{gc_service.url}"
kind = "probe"
token_env = "CLI_TEST_TOKEN"
timeout = {timeout}

[[targets]]
name = "dead"
url = "http://127.0.0.1:{free_port()}/"
timeout = {timeout}

[[targets]]
name = "hung"
url = "{hung_server}/"
timeout = {timeout}
""")
    env = dict(os.environ, CLI_TEST_TOKEN=gc_service.token)
    started = time.monotonic()
    # alone in a pid namespace where possible: a process near its own cgroup limit
    # elsewhere on a shared box would make the level critical (exit 2, not 3)
    r = subprocess.run([*isolated.ns_prefix(), sys.executable, "-m", "memdash", "snapshot", "--json", "--no-gpu",
                        "--no-discover", "--top", "3", "--config", str(config)],
                       capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=30)
    elapsed = time.monotonic() - started
    print(f"snapshot with a dead and a hung target: {elapsed:.2f} s (timeout {timeout} s)")
    # the hung target never answers: without its timeout the snapshot would run
    # into memdash()'s 30 s kill; the margin is for a loaded machine's start-up
    assert elapsed < timeout + 15.0, f"snapshot took {elapsed:.2f} s"
    doc = json.loads(r.stdout)
    targets = {t["name"]: t for t in doc["targets"]}
    good, dead, hung = targets["good"], targets["dead"], targets["hung"]
    assert good["ok"] and good["kind"] == "probe" and good["error"] is None
    assert good["rss_bytes"] > 5 * 2**20 and len(good["gc"]["generations"]) >= 3
    assert not dead["ok"] and "refused" in dead["error"]
    assert not hung["ok"] and "timed out" in hung["error"]
    assert gc_service.token not in r.stdout + r.stderr
    # Unreadable targets make the exit status 3 (nothing is critical here).
    assert r.returncode == 3, r.stderr


def test_cleanup_runs_and_reports_before_after(gc_service):
    before = gc_state(gc_service)
    env = dict(os.environ, MEMDASH_TOKEN=gc_service.token)
    r = memdash("cleanup", gc_service.url, "gc", "--yes", "--json", "--no-discover", env=env)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["ok"] and result["action"] == "gc"
    assert result["rss_before_bytes"] > 0 and result["rss_after_bytes"] > 0
    assert result["collected"] >= 2 * gc_service.cycles
    after = gc_state(gc_service)
    assert after[0] > before[0] and after[1] - before[1] >= 2 * gc_service.cycles
    assert gc_service.token not in r.stdout + r.stderr


def test_cleanup_text_output_says_what_was_freed(gc_service):
    env = dict(os.environ, MEMDASH_TOKEN=gc_service.token)
    r = memdash("cleanup", gc_service.url, "trim", "--yes", "--no-discover", env=env)
    assert r.returncode == 0, r.stderr
    assert "trim done, RSS " in r.stdout and "->" in r.stdout


def test_cleanup_without_yes_refuses_when_stdin_is_not_a_terminal(gc_service):
    before = gc_state(gc_service)
    env = dict(os.environ, MEMDASH_TOKEN=gc_service.token)
    r = memdash("cleanup", gc_service.url, "gc", "--no-discover", env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 2
    assert r.stderr.startswith("memdash: error:") and "--yes" in r.stderr
    assert "Traceback" not in r.stderr
    assert gc_state(gc_service) == before


def test_cleanup_with_a_wrong_token_is_refused_in_words(gc_service):
    before = gc_state(gc_service)
    env = dict(os.environ, MEMDASH_TOKEN="not-the-token")
    r = memdash("cleanup", gc_service.url, "gc", "--yes", "--no-discover", env=env)
    assert r.returncode == 1
    assert "token" in r.stderr and "Traceback" not in r.stderr
    assert "not-the-token" not in r.stderr + r.stdout
    assert gc_state(gc_service)[0] == before[0]


def test_cleanup_unknown_target_and_read_only(tmp_path):
    r = memdash("cleanup", "nosuch", "gc", "--yes", "--no-discover")
    assert r.returncode == 2 and "unknown target 'nosuch'" in r.stderr
    config = tmp_path / "ro.toml"
    config.write_text('read_only = true\n[[targets]]\nname = "api"\nurl = "http://127.0.0.1:9/"\n')
    r = memdash("cleanup", "api", "gc", "--yes", "--config", str(config), "--no-discover")
    assert r.returncode == 2 and "read-only" in r.stderr


def test_watch_first_document_waits_for_a_slow_target(tmp_path):
    """`snapshot --watch`: a target whose first answer takes 1.5 s is in the
    first document (answered), never missing from it."""
    from json_server import json_server

    with json_server({"memory": {"rss_bytes": 123 * 1024 * 1024}}, delay=1.5) as slow:
        config = tmp_path / "memdash.toml"
        config.write_text(f'[[targets]]\nname = "slow"\nurl = "{slow.url}"\nkind = "json"\ntimeout = 4\n')
        proc = memdash("snapshot", "--json", "--config", str(config), "--no-discover", "--no-gpu",
                       "--watch", "0.2", "--count", "2", timeout=60)
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(docs) == 2, proc.stderr
    (t,) = docs[0]["targets"]
    assert t["name"] == "slow" and t["ok"] is True and t["rss_bytes"] == 123 * 1024 * 1024
