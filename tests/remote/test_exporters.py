"""Issue 11: real exporters on loopback, read as what they export.

- Debian's ``prometheus-node-exporter``: the host (MemTotal equal to
  /proc/meminfo), the exporter's own RSS apart.
- A Node.js app with prom-client (``npm install --prefix tests/node prom-client``,
  done by ``.ci/run``): the V8 heap by space and GC by kind after forced work.

Each is skipped, with the reason, where its binary or package is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from memdash.config import TargetConfig
from memdash.levels import Thresholds
from memdash.report import target_json
from memdash.sources.remote import TargetPoller

from .servers import free_port

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            pytest.fail(f"{what} exited with {proc.returncode}: {out[-500:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on 127.0.0.1:{port} within 60 s")


@pytest.fixture
def node_exporter() -> Iterator[str]:
    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if binary is None:
        pytest.skip("prometheus-node-exporter is not installed (apt-get install prometheus-node-exporter)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
         "--collector.meminfo", "--collector.vmstat", "--collector.pressure"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        _wait_listening(port, proc, "node_exporter")
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


def _meminfo_kib(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == key:
            return int(rest.split()[0])
    raise KeyError(key)


async def test_node_exporter_is_the_host_and_its_own_rss_is_apart(node_exporter: str) -> None:
    async with TargetPoller([TargetConfig(name="host", url=node_exporter, timeout=5)], Thresholds()) as poller:
        (s,) = await poller.poll_once()
    assert s.ok, s.error
    rt = s.runtime
    assert rt is not None and rt.kind == "host"
    assert rt.figures["total_bytes"] == _meminfo_kib("MemTotal") * 1024
    assert s.limit_bytes == rt.figures["total_bytes"]
    # used = total - available, within what moved between the two reads
    assert abs(s.rss_bytes - (rt.figures["total_bytes"] - _meminfo_kib("MemAvailable") * 1024)) < 256 * 1024 * 1024
    for key in ("buffers_bytes", "cached_bytes", "swap_total_bytes"):
        assert key in rt.figures
    assert "oom_kills" in rt.figures
    # the exporter's 10-60 MB are not the host's memory
    assert s.exporter_rss_bytes is not None and 1024 * 1024 < s.exporter_rss_bytes < 512 * 1024 * 1024
    assert s.exporter_rss_bytes != s.rss_bytes
    assert s.recognised == ("node_exporter: the host's memory (the exporter's own RSS apart)",)
    assert s.percent is not None and 0 < s.percent < 100
    assert "node_memory_MemAvailable_bytes" in s.metrics  # no longer cut at 50
    assert target_json(s)["runtime"]["kind"] == "host"


NODE_APP = r"""
const http = require('http');
const client = require('prom-client');
client.collectDefaultMetrics();
// Work that makes V8 collect: objects kept long enough to be promoted, then
// dropped, so scavenges (minor) and mark-compacts (major) both run. prom-client
// records only the first GC of each batch its observer gets, so the app works
// until prom-client itself has counted a major GC (bounded: 500 rounds), then listens.
async function majorsRecorded() {
  const m = await client.register.getSingleMetric('nodejs_gc_duration_seconds').get();
  return m.values.some(v => v.labels.kind === 'major' && v.metricName.endsWith('_count') && v.value > 0);
}
let old = [];
let round = 0;
let done = false;
const tick = setInterval(async () => {
  if (done) return;
  for (let i = 0; i < 400000; i++) old.push({i, s: 'x' + i});
  if (++round % 3 === 0) old = [];
  if (!done && ((round >= 6 && await majorsRecorded()) || round >= 500)) {
    if (done) return;
    done = true;
    clearInterval(tick);
    old = [];
    http.createServer(async (req, res) => {
      res.setHeader('Content-Type', client.register.contentType);
      res.end(await client.register.metrics());
    }).listen(Number(process.env.PORT), '127.0.0.1');
  }
}, 20);
"""


@pytest.fixture
def node_app(tmp_path: Path) -> Iterator[str]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    if not (NODE_DIR / "node_modules" / "prom-client").is_dir():
        pytest.skip("prom-client is not installed: npm install --prefix tests/node prom-client (.ci/run does)")
    script = tmp_path / "app.js"
    script.write_text(NODE_APP)
    port = free_port()
    env = dict(os.environ, PORT=str(port), NODE_PATH=str(NODE_DIR / "node_modules"))
    proc = subprocess.Popen([node, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, proc, "the Node app")
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout:
            proc.stdout.close()


async def test_node_prom_client_runtime(node_app: str) -> None:
    async with TargetPoller([TargetConfig(name="web", url=node_app, timeout=5)], Thresholds()) as poller:
        (s,) = await poller.poll_once()
    assert s.ok, s.error
    rt = s.runtime
    assert rt is not None and rt.kind == "node" and s.recognised == ("node runtime",)
    f = rt.figures
    assert 0 < f["heap_used_bytes"] <= f["heap_total_bytes"]
    assert f["external_bytes"] > 0
    spaces = rt.groups["spaces"]
    assert spaces["old"]["used_bytes"] > 0 and spaces["new"]["total_bytes"] > 0
    kinds = rt.groups["gc_kinds"]
    assert kinds["major"]["count"] >= 1 and kinds["minor"]["count"] >= 1
    assert f["gc_count"] == sum(k["count"] for k in kinds.values())
    assert "eventloop_lag_p99_seconds" in f
    assert rt.labels["version"].startswith("v")
    assert s.rss_bytes is not None and s.rss_bytes > f["heap_used_bytes"]
