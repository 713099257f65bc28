"""The fleet view against a real Prometheus scraping real services.

Prometheus (Debian's package), node_exporter, three services embedding the
probe (each in its own memory cgroup; one grows 2 MiB/s) and a cAdvisor-shaped
exporter for five pods (one OOM-killed during the test) run on loopback; after
about 45 s of 1 s scrapes memdash's ranking is checked against what the test
reads itself (cgroup files, /proc/meminfo).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from cgroups import memory_cgroup, need_memory_cgroup
from tests.fleet.fleet_helpers import (MIB, PODS, CadvisorExporter, Prometheus, free_port,
                                       meminfo, need_binaries, run_memdash, start_node_exporter, start_prometheus,
                                       start_service, stop, wait_until)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

TOKEN = "fleet-test-token-8d1e"
GROW = 2 * MIB  # bytes a second
LIMIT = 256 * MIB


@pytest.fixture
def fleet(tmp_path: Path):
    need_binaries("prometheus", "promtool", "prometheus-node-exporter")
    need_memory_cgroup()  # the services get a limit
    config = tmp_path / "memdash.toml"
    config.write_text('[thresholds]\neta_min_span = "10s"\n')
    rules = tmp_path / "rules.yml"
    made = run_memdash("rules", "--config", str(config), "--hold", "0s")
    assert made.returncode == 0, made.stderr
    rules.write_text(made.stdout)
    token_file = tmp_path / "probe.token"
    token_file.write_text(TOKEN)
    cleanup = contextlib.ExitStack()
    started: list[subprocess.Popen] = []
    exporter = CadvisorExporter()
    try:
        groups = [cleanup.enter_context(memory_cgroup(LIMIT, f"fleet-{i}")) for i in range(3)]
        services = [start_service("127.0.0.1", GROW if i == 0 else 0, 200 * MIB, TOKEN, cgroup=g)
                    for i, g in enumerate(groups)]
        started += [s.proc for s in services]
        node_port = free_port()
        started.append(start_node_exporter(node_port))
        prom = start_prometheus(tmp_path, [
            {"name": "shop-probes", "targets": [s.address for s in services], "token_file": token_file},
            {"name": "node", "targets": [f"127.0.0.1:{node_port}"]},
            {"name": "kubelet", "targets": [exporter.address]},
        ], rule_file=rules)
        started.append(prom.proc)
        yield {"prom": prom, "services": services, "exporter": exporter, "config": config, "rules": rules,
               "node": f"127.0.0.1:{node_port}"}
    finally:
        for p in reversed(started):
            stop(p)
        exporter.close()
        cleanup.close()  # the cgroups, and anything left in them


def _fleet_json(prom: Prometheus, config: Path) -> tuple[int, dict]:
    done = run_memdash("fleet", "--prometheus", prom.url, "--json", "--config", str(config))
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_ranking_eta_oom_hosts_and_rules(fleet: dict) -> None:
    # GIVEN a Prometheus that has scraped everything for a while
    prom: Prometheus = fleet["prom"]
    growing = fleet["services"][0]
    t0 = time.monotonic()
    wait_until(lambda: len(prom.query('up == 1')) == 5, 30, "all five targets up")
    time.sleep(8)
    fleet["exporter"].oom()  # the kernel OOM-killed redis-0's container
    ws_a, t_a = growing.cgroup.working_set(), time.monotonic()
    # about 45 s of samples in all
    time.sleep(max(0.0, 45 - (time.monotonic() - t0)))

    # WHEN memdash ranks the fleet
    status, doc = _fleet_json(prom, fleet["config"])
    ws_b, t_b = growing.cgroup.working_set(), time.monotonic()

    # THEN the growing service is first, with a time to OOM near the truth
    units = doc["units"]
    assert doc["errors"] == [] and doc["queries"] <= 8
    first = units[0]
    assert (first["kind"], first["labels"]["instance"]) == ("service", growing.address), [u["name"] for u in units[:4]]
    assert first["used_kind"] == "working set" and first["limit_bytes"] == LIMIT and first["limit_source"] == "cgroup"
    rate = (ws_b - ws_a) / (t_b - t_a)  # bytes a second, from the cgroup files
    truth = (LIMIT - ws_b) / rate
    assert first["oom_eta_seconds"] is not None
    assert 0.5 * truth <= first["oom_eta_seconds"] <= 1.5 * truth, (first["oom_eta_seconds"], truth)
    assert abs(first["growth_bytes_per_min"] - rate * 60) <= 0.5 * rate * 60
    assert first["level"] == "critical" and first["memdash_probe"] is True
    assert status == 2
    # the two steady services are there too, judged against the same limit
    steady = [u for u in units if u["kind"] == "service" and u["labels"]["job"] == "shop-probes"][1:]
    assert len(steady) == 2 and all(u["level"] == "excellent" for u in steady)

    # the container with the OOM event shows it; pod cgroups and pause containers are not rows
    containers = {u["name"]: u for u in units if u["kind"] == "container"}
    assert set(containers) == {f"{ns}/{pod}/{c}" for ns, pod, c, _, _ in PODS}
    redis = containers["data/redis-0/redis"]
    assert redis["oom_kills_1h"] >= 1 and redis["level"] == "critical"
    assert all(u["oom_kills_1h"] == 0 for n, u in containers.items() if n != "data/redis-0/redis")
    api = containers["shop/api-7d9f8c6b5-x2k4q/api"]
    assert api["limit_bytes"] == 512 * MIB and abs(api["percent"] - 100 * 310 / 512) < 0.1
    etl = containers["data/etl-6b7c9d8f5-mm2lk/etl"]
    assert etl["limit_source"] == "kube-state-metrics" and etl["limit_bytes"] == 1536 * MIB
    assert "container_oom_events_total" in doc["families"] and "oom" in doc["columns"]
    assert abs(sum(u["share_percent"] for u in containers.values()) - 100) < 0.01

    # limits come once a minute and from memdash's cache between: the same on the next refreshes
    from memdash.fleet.source import open_source

    source = open_source(prom.url)
    first_limits = {u.id: u.limit_bytes for u in source.refresh().units}
    again = source.refresh()
    source.close()
    assert again.queries == 3 and {u.id: u.limit_bytes for u in again.units} == first_limits

    # the host shows node_exporter's figures, equal to /proc/meminfo within 2 %
    host = next(u for u in units if u["kind"] == "host")
    mi = meminfo()
    assert abs(host["limit_bytes"] - mi["MemTotal"]) <= 0.02 * mi["MemTotal"]
    assert abs(host["extra"]["available"] - mi["MemAvailable"]) <= 0.02 * mi["MemTotal"]
    assert abs(host["used_bytes"] - (mi["MemTotal"] - mi["MemAvailable"])) <= 0.02 * mi["MemTotal"]

    # `memdash rules` passes promtool, and its alerts fire for the growing service
    checked = subprocess.run(["promtool", "check", "rules", str(fleet["rules"])], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    def firing() -> set[str]:
        alerts = httpx.get(prom.url + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return {a["labels"]["alertname"] for a in alerts
                if a["state"] == "firing" and a["labels"].get("instance") == growing.address}

    names = wait_until(firing, 30, "memdash alerts firing for the growing service")
    assert {"MemdashOomWithinWarning", "MemdashOomWithinCritical"} <= names, names
    others = {a["labels"].get("instance") for a in httpx.get(prom.url + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
              if a["labels"]["alertname"].startswith("MemdashOomWithin")}
    assert others == {growing.address}, others  # the steady services do not page anyone


def test_error_row_when_prometheus_is_down_or_slow(tmp_path: Path) -> None:
    port = free_port()
    done = run_memdash("fleet", "--prometheus", f"http://127.0.0.1:{port}", "--json")
    doc = json.loads(done.stdout)
    assert done.returncode == 3
    assert doc["units"] == [] and "cannot reach Prometheus" in doc["errors"][0]

    import socket

    with socket.socket() as hung:  # accepts, never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        started = time.monotonic()
        done = run_memdash("fleet", "--prometheus", f"http://127.0.0.1:{hung.getsockname()[1]}", "--json",
                           "--timeout", "1")
        elapsed = time.monotonic() - started
    doc = json.loads(done.stdout)
    assert done.returncode == 3 and "did not answer" in doc["errors"][0] and elapsed < 20
