"""Probes on different addresses, as on real hosts: each service in its own
network namespace (``ip netns``), reached by Prometheus over a veth pair."""

from __future__ import annotations

import contextlib
import json
import random
import subprocess
import time
import uuid
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from cgroups import memory_cgroup, need_memory_cgroup
from memdash.fleet.source import open_source
from tests.fleet.fleet_helpers import (MIB, free_port, need_binaries, run_memdash,
                                       start_node_exporter, start_prometheus, start_service, stop, wait_until)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

TOKEN = "fleet-netns-token-77a0"


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


@pytest.fixture
def namespaces() -> Iterator[list[tuple[str, str]]]:
    """Three namespaces, each with a veth to the host: ``[(netns, its address)]``."""
    tag = uuid.uuid4().hex[:5]
    octet = random.randint(100, 250)
    made: list[str] = []
    out: list[tuple[str, str]] = []
    try:
        for i in range(3):
            ns, host_if, ns_if = f"mdfleet-{tag}-{i}", f"mdf{tag}h{i}", f"mdf{tag}n{i}"
            done = _ip("netns", "add", ns)
            if done.returncode != 0:
                pytest.skip(f"cannot create network namespaces here: {done.stderr.strip()}")
            made.append(ns)
            host_addr, ns_addr = f"10.{octet}.{i}.1", f"10.{octet}.{i}.2"
            for cmd in (["link", "add", host_if, "type", "veth", "peer", "name", ns_if],
                        ["link", "set", ns_if, "netns", ns],
                        ["addr", "add", f"{host_addr}/30", "dev", host_if], ["link", "set", host_if, "up"],
                        ["-n", ns, "addr", "add", f"{ns_addr}/30", "dev", ns_if], ["-n", ns, "link", "set", ns_if, "up"],
                        ["-n", ns, "link", "set", "lo", "up"]):
                done = _ip(*cmd)
                if done.returncode != 0:
                    pytest.skip(f"cannot set up a veth pair here (ip {' '.join(cmd)}): {done.stderr.strip()}")
            out.append((ns, ns_addr))
        yield out
    finally:
        for ns in made:
            _ip("netns", "del", ns)  # removes the veth pair with it


def test_probes_in_network_namespaces(namespaces: list[tuple[str, str]], tmp_path: Path) -> None:
    need_binaries("prometheus", "prometheus-node-exporter")
    need_memory_cgroup()  # the services get a limit
    config = tmp_path / "memdash.toml"
    config.write_text('[thresholds]\neta_min_span = "5s"\n')
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    cleanup = contextlib.ExitStack()
    procs: list[subprocess.Popen] = []
    try:
        groups = [cleanup.enter_context(memory_cgroup(256 * MIB, f"fleetns-{i}")) for i in range(3)]
        # GIVEN three probes, each on its own address (one growing 2 MiB/s), and Prometheus on the host
        services = [start_service(addr, 2 * MIB if i == 1 else 0, 200 * MIB, TOKEN, cgroup=groups[i], netns=ns)
                    for i, (ns, addr) in enumerate(namespaces)]
        procs += [s.proc for s in services]
        node = free_port()
        procs.append(start_node_exporter(node))
        prom = start_prometheus(tmp_path, [
            {"name": "api", "targets": [s.address for s in services], "token_file": token_file},
            {"name": "node", "targets": [f"127.0.0.1:{node}"]}])
        procs.append(prom.proc)
        wait_until(lambda: len(prom.query('up{job="api"} == 1')) == 3, 30, "three probes scraped across namespaces")
        time.sleep(20)

        # WHEN memdash ranks the fleet
        done = run_memdash("fleet", "--prometheus", prom.url, "--json", "--config", str(config))
        doc = json.loads(done.stdout)

        # THEN each probe is its own row at its own address, and the growing one comes first
        api = [u for u in doc["units"] if u["kind"] == "service" and u["labels"]["job"] == "api"]
        assert sorted(u["labels"]["instance"] for u in api) == sorted(s.address for s in services)
        assert len({u["labels"]["instance"].rsplit(":", 1)[0] for u in api}) == 3
        first = doc["units"][0]
        assert first["labels"]["instance"] == services[1].address, [u["name"] for u in doc["units"][:3]]
        assert first["oom_eta_seconds"] is not None and first["limit_source"] == "cgroup"

        # and the attach key's URL comes from Prometheus's own target list, reachable with the token
        source = open_source(prom.url)
        frame = source.refresh()
        unit = next(u for u in frame.units if u.labels.get("instance") == services[1].address)
        url = source.probe_url(unit)
        source.close()
        assert url == services[1].url.rstrip("/")
        assert httpx.get(url + "/", timeout=5).status_code == 401  # no token, no answer
        snap = httpx.get(url + "/", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
        assert snap["pid"] == services[1].proc.pid
    finally:
        for p in reversed(procs):
            stop(p)
        cleanup.close()  # the cgroups, and anything left in them
