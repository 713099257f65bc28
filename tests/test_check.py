"""``memdash check``, run as a user runs it, against real loopback servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from flask import Flask, Response, jsonify

from tests.remote.servers import free_port, wsgi_server

DATA = Path(__file__).parent / "remote" / "data"


def memdash(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "memdash", *args], capture_output=True, text=True, timeout=60)


def app() -> Flask:
    a = Flask("check")
    a.add_url_rule("/metrics", "metrics",
                   lambda: Response((DATA / "go_etcd.prom").read_text(), content_type="text/plain; version=0.0.4"))
    a.add_url_rule("/api/workers", "workers", lambda: jsonify(
        {"celery@w1.example.com": {"rusage": {"maxrss": 59664}, "pool": {"processes": [1, 2]}}}))
    a.add_url_rule("/status", "status", lambda: jsonify({"uptime": 12, "name": "svc"}))
    return a


def test_check_says_what_was_recognised_found_and_missing(tmp_path: Path) -> None:
    with wsgi_server(app()) as base:
        config = tmp_path / "config.toml"
        config.write_text(f"""
[[targets]]
name = "flower"
url = "{base}/api/workers"
kind = "json"
limit_mb = 512
[targets.fields]
rss = {{ path = "/celery@w1.example.com/rusage/maxrss", unit = "KiB" }}
cache_hits = "stats.hits"
""")
        r = memdash("check", "--config", str(config), f"{base}/metrics")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    assert "flower  http://127.0.0.1:" in out
    assert "  kind: json (as configured)" in out
    assert "  recognised: RSS at /celery@w1.example.com/rusage/maxrss (KiB)" in out
    assert "  memory: 58M of 512M limit (11.4%)" in out
    assert "  warning: fields.cache_hits: stats.hits resolves to nothing" in out
    assert "  kind: prometheus (detected)" in out
    assert "  recognised: go runtime" in out
    assert "  runtime: go: heap_alloc 40M" in out
    assert "2 of 2 targets gave a memory figure" in out
    assert r.stderr == ""


def test_check_exits_1_when_a_target_gives_no_memory_figure() -> None:
    with wsgi_server(app()) as base:
        r = memdash("check", f"{base}/status", f"http://127.0.0.1:{free_port()}/")
    assert r.returncode == 1
    assert "  missing: a memory figure (map one: fields.rss" in r.stdout
    assert "  error: connection refused" in r.stdout
    assert "0 of 2 targets gave a memory figure" in r.stdout


def test_check_bad_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[[targets]]\nname = "a"\nurl = "http://127.0.0.1:1/"\n[targets.fields]\nrss = { path = "x", unit = "parsec" }\n')
    r = memdash("check", "--config", str(config))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "unit" in r.stderr and "parsec" in r.stderr
