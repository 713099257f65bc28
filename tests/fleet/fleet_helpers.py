"""Real Prometheus, node_exporter, probe services and a cAdvisor-shaped exporter, for the fleet tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import httpx
import pytest
from cgroups import MemoryCgroup

HERE = Path(__file__).parent
SERVICE = HERE / "fleet_service.py"
MIB = 1024 * 1024


def need_binaries(*names: str) -> None:
    """Skip, saying why, unless every binary is on PATH (.ci/run installs them with apt-get)."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian: apt-get install prometheus prometheus-node-exporter)")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_until(check: Callable[[], object], timeout: float, what: str, every: float = 0.5) -> object:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last: {last!r}")


# -- processes -------------------------------------------------------------------


@dataclass
class Service:
    proc: subprocess.Popen
    url: str
    cgroup: MemoryCgroup | None = None

    @property
    def address(self) -> str:
        return self.url.split("//", 1)[1].rstrip("/")


def start_service(host: str, rate: int, cap: int, token: str, cgroup: MemoryCgroup | None = None,
                  netns: str | None = None) -> Service:
    env = dict(os.environ, MEMDASH_PROBE_TOKEN=token, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(SERVICE), host, str(rate), str(cap)]
    if netns:
        # nsenter, not `ip netns exec`: that also mounts a fresh /sys, which hides
        # /sys/fs/cgroup from the probe (and so its limit).
        cmd = ["nsenter", f"--net=/var/run/netns/{netns}", *cmd]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True,
                            preexec_fn=cgroup.join if cgroup else None)
    url = proc.stdout.readline().strip()  # type: ignore[union-attr]
    assert url.startswith("http://"), f"service did not start: {url!r}"
    return Service(proc, url, cgroup)


def stop(proc: subprocess.Popen) -> None:
    try:
        if proc.stdin:
            proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=5)
    except (subprocess.TimeoutExpired, OSError):
        proc.kill()
        proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


def start_node_exporter(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}",
                             "--collector.disable-defaults", "--collector.meminfo", "--collector.vmstat",
                             "--collector.pressure"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).status_code == 200, 15,
               "node_exporter")
    return proc


@dataclass
class Prometheus:
    proc: subprocess.Popen
    url: str
    log: Path

    def query(self, expr: str) -> list:
        r = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=5)
        return r.json()["data"]["result"]


def start_prometheus(tmp: Path, jobs: list[dict], rule_file: Path | None = None) -> Prometheus:
    """A real Prometheus on loopback: 1 s scrapes and rule evaluation, data in ``tmp``."""
    port = free_port()
    lines = ["global:", "  scrape_interval: 1s", "  scrape_timeout: 1s", "  evaluation_interval: 1s"]
    if rule_file:
        lines += ["rule_files:", f"  - {rule_file}"]
    lines.append("scrape_configs:")
    for job in jobs:
        lines.append(f"  - job_name: {job['name']}")
        if job.get("honor_labels"):
            lines.append("    honor_labels: true")
        if job.get("token_file"):
            lines += ["    authorization:", "      type: Bearer", f"      credentials_file: {job['token_file']}"]
        lines += ["    static_configs:", "      - targets: [" + ", ".join(f"'{t}'" for t in job["targets"]) + "]"]
    config = tmp / "prometheus.yml"
    config.write_text("\n".join(lines) + "\n")
    log = tmp / "prometheus.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1d"],
                                stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(url + "/-/ready", timeout=1).status_code == 200, 30, "Prometheus ready")
    return Prometheus(proc, url, log)


# -- a cAdvisor-shaped exporter -------------------------------------------------------

#: Pods as the kubelet's /metrics/cadvisor labels them (namespace, pod, container,
#: id, image, name), plus the pod-level cgroup (container="") and the pause
#: container that memdash must leave out. Working set, limit (0 = none).
PODS = [
    ("shop", "api-7d9f8c6b5-x2k4q", "api", 310 * MIB, 512 * MIB),
    ("shop", "api-7d9f8c6b5-h8w2n", "api", 290 * MIB, 512 * MIB),
    ("shop", "worker-5c8d7f9b4-pq7zt", "worker", 600 * MIB, 1024 * MIB),
    ("data", "redis-0", "redis", 40 * MIB, 64 * MIB),
    ("data", "etl-6b7c9d8f5-mm2lk", "etl", 700 * MIB, 0),
]
OOM_POD = ("data", "redis-0", "redis")


class CadvisorExporter:
    """Serves container_* series for :data:`PODS`; :meth:`oom` raises redis-0's OOM counter."""

    def __init__(self, pods: list | None = None) -> None:
        self.pods = PODS if pods is None else pods
        self.oom_events = 0
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = exporter.page().encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def oom(self) -> None:
        self.oom_events += 1

    def page(self) -> str:
        fams = {
            "container_memory_working_set_bytes": ("gauge", "Current working set in bytes."),
            "container_memory_usage_bytes": ("gauge", "Current memory usage in bytes, including all memory regardless of when it was accessed"),
            "container_spec_memory_limit_bytes": ("gauge", "Memory limit for the container."),
            "container_oom_events_total": ("counter", "Count of out of memory events observed for the container"),
        }
        out: list[str] = []
        for fam, (kind, text) in fams.items():
            out += [f"# HELP {fam} {text}", f"# TYPE {fam} {kind}"]
            for i, (ns, pod, container, ws, limit) in enumerate(self.pods):
                uid = f"pod{i:04d}-1a2b-4c3d-9e8f-0123456789ab"
                pod_id = f"/kubepods/burstable/{uid}"
                cid = f"{i:02d}" + "c3f1e2d4b5a6978" * 4
                rows = [
                    (f'container="",id="{pod_id}",image="",name="",namespace="{ns}",pod="{pod}"', ws + 2 * MIB, 0, 0),
                    (f'container="POD",id="{pod_id}/{cid[::-1]}",image="registry.k8s.io/pause:3.9",name="k8s_POD_{pod}",namespace="{ns}",pod="{pod}"',
                     400 * 1024, 0, 0),
                    (f'container="{container}",id="{pod_id}/{cid}",image="example/{container}:1.4",name="k8s_{container}_{pod}",namespace="{ns}",pod="{pod}"',
                     ws, limit, self.oom_events if (ns, pod, container) == OOM_POD else 0),
                ]
                for labels, w, lim, oom in rows:
                    value = {"container_memory_working_set_bytes": w, "container_memory_usage_bytes": w + 30 * MIB,
                             "container_spec_memory_limit_bytes": lim, "container_oom_events_total": oom}[fam]
                    out.append(f"{fam}{{{labels}}} {value}")
        out += ["# HELP kube_pod_container_resource_limits The number of requested limit resource by a container.",
                "# TYPE kube_pod_container_resource_limits gauge",
                'kube_pod_container_resource_limits{namespace="data",pod="etl-6b7c9d8f5-mm2lk",container="etl",'
                f'node="node-1",resource="memory",unit="byte"}} {1536 * MIB}']
        return "\n".join(out) + "\n"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        out[key] = int(rest.split()[0]) * 1024
    return out


def run_memdash(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memdash", *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))
