"""The snapshot's level and exit status when one part *alone* is bad.

Each test sets the thresholds between what that part shows and what every
other part shows, so dropping that part from the worst level (or taking the
best process instead of the worst) changes the exit status a monitoring
system sees. The GPU case is in ``tests/gpu/test_gpu_level.py``; the system
(a container near its limit) and a process under its own cgroup limit in
``tests/test_cgroup_limit_real.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

import isolated
from remote.servers import wsgi_server


def snapshot(tmp_path: Path, *args: str, thresholds: float | None = None) -> tuple[int, dict]:
    if thresholds is not None:
        t = thresholds
        (tmp_path / "memdash.toml").write_text(f"[thresholds]\ngood = {t}\nwarning = {t}\ncritical = {t}\n")
        args = ("--config", str(tmp_path / "memdash.toml"), *args)
    # in a pid namespace where possible: no other process on the box decides the level
    return isolated.snapshot(tmp_path, "--no-gpu", *args)


def top_process_percent(doc: dict) -> float:
    return max(p["percent"] for p in doc["processes"])


def _json_target(rss: int, limit: int) -> Flask:
    app = Flask("target")

    @app.get("/stats")
    def stats():  # a service's own JSON stats page
        return {"rss_bytes": rss, "limit_bytes": limit}

    return app


@pytest.mark.parametrize("percent,level,code", [(99.5, "critical", 2), (None, "warning", 1)])
def test_a_target_alone_decides(tmp_path: Path, percent: float | None, level: str, code: int) -> None:
    _, doc = snapshot(tmp_path)
    local = max(doc["system"]["percent"], top_process_percent(doc))
    if local > 95:
        pytest.skip(f"this machine is at {local:.1f} %: no room for a threshold below the target")
    t = round((local + 99.5) / 2, 2)
    if percent is None:  # warning: a threshold file with critical above the target
        limit = 10**9
        rss = int(limit * (t + (100 - t) / 4) / 100)
        conf = tmp_path / "memdash.toml"
        conf.write_text(f"[thresholds]\ngood = {t}\nwarning = {t}\ncritical = 100\n")
        extra: tuple[str, ...] = ("--config", str(conf))
        thresholds = None
    else:
        limit = 10**9
        rss = int(limit * percent / 100)
        extra = ()
        thresholds = t
    with wsgi_server(_json_target(rss, limit)) as base:
        url = f"{base}/stats"
        got_code, doc = snapshot(tmp_path, *extra, url, thresholds=thresholds)
    (target,) = doc["targets"]
    assert target["ok"] is True, target
    assert target["rss_bytes"] == rss and target["limit_bytes"] == limit
    assert target["level"] == level
    assert doc["system"]["level"] == "excellent"
    assert {p["level"] for p in doc["processes"]} == {"excellent"}
    assert (doc["level"], got_code) == (level, code)


def test_a_failing_target_gives_3_unless_something_is_critical(tmp_path: Path) -> None:
    _, doc = snapshot(tmp_path)
    local = max(doc["system"]["percent"], top_process_percent(doc))
    if local > 95:
        pytest.skip(f"this machine is at {local:.1f} %")
    # a warning locally and an unreachable target: unknown (3) outranks warning (1)
    conf = tmp_path / "w.toml"
    conf.write_text("[thresholds]\ngood = 0\nwarning = 0\ncritical = 100\n")
    with wsgi_server(Flask("empty")) as base:
        pass  # the server is gone: its port refuses connections now
    code, doc = snapshot(tmp_path, "--config", str(conf), f"{base}/stats")
    assert doc["targets"][0]["ok"] is False
    assert (doc["level"], code) == ("warning", 3)
