"""Bench: ``memdash fleet`` against a Prometheus holding 2,000 series of each family.

A generated exposition (``honor_labels: true``, so each series keeps its own
``job``/``instance``) gives Prometheus 2,000 containers (working set, limit,
OOM events), 2,000 services (RSS, the probe's working set, limit, OOM kills,
GC) and 2,000 hosts (MemAvailable, MemTotal, oom_kill, PSI), every value
moving a little from scrape to scrape. Then:

1. **first ranking**: ``memdash fleet --json`` from process start to its
   document (process start-up included), and the Fleet screen headless from
   ``App.run`` to its first ranked frame;
2. **queries per refresh**: counted by memdash's client, and checked on
   Prometheus's own ``prometheus_http_requests_total`` over the TUI run;
3. **CPU at a 5 s refresh**: the real TUI in a detached tmux pane for
   ``--seconds`` (utime+stime of its process from ``/proc/PID/stat`` after a
   10 s warm-up), as % of one core; beside it, in the same run, the queries'
   own time inside Prometheus (``stats.timings.execTotalTime`` per refresh)
   and Prometheus's CPU over the same window.

Targets (issue 13): <= 5 % of one core, <= 8 queries per refresh, first ranking <= 2 s.

Run::

    python bench/bench_fleet.py                 # 2,000 series per family, 60 s TUI run
    python bench/bench_fleet.py --series 500 --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TICK = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Exposition:
    """Serves the generated page; values drift with time so slopes exist."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.started = time.time()
        bench = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = bench.page().encode()
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

    def page(self) -> str:
        t = time.time() - self.started
        n = self.n
        out: list[str] = []

        def fam(name: str, kind: str, rows: list[str]) -> None:
            out.append(f"# TYPE {name} {kind}")
            out.extend(rows)

        kube = [f'namespace="ns{i % 40}",pod="app-{i}",container="c{i % 3}",image="img:{i % 7}",id="/kubepods/p{i}",'
                f'name="k8s_c_{i}",job="kubelet",instance="node{i % 100}:10250"' for i in range(n)]
        fam("container_memory_working_set_bytes", "gauge",
            [f"container_memory_working_set_bytes{{{lab}}} {(100 + i % 400) * MIB + int(t * (i % 50) * 1000)}"
             for i, lab in enumerate(kube)])
        fam("container_spec_memory_limit_bytes", "gauge",
            [f"container_spec_memory_limit_bytes{{{lab}}} {1024 * MIB if i % 5 else 0}" for i, lab in enumerate(kube)])
        fam("container_oom_events_total", "counter",
            [f"container_oom_events_total{{{lab}}} {1 if i % 97 == 0 and t > 20 else 0}" for i, lab in enumerate(kube)])
        svc = [f'job="svc{i % 50}",instance="10.{i // 250}.{i % 250}.1:8000"' for i in range(n)]
        fam("process_resident_memory_bytes", "gauge",
            [f"process_resident_memory_bytes{{{lab}}} {(50 + i % 300) * MIB + int(t * (i % 30) * 1000)}"
             for i, lab in enumerate(svc)])
        fam("memdash_memory_working_set_bytes", "gauge",
            [f"memdash_memory_working_set_bytes{{{lab}}} {(60 + i % 300) * MIB + int(t * (i % 30) * 1000)}"
             for i, lab in enumerate(svc)])
        fam("memdash_memory_limit_bytes", "gauge", [f"memdash_memory_limit_bytes{{{lab}}} {512 * MIB}" for lab in svc])
        fam("memdash_memory_oom_kills_total", "counter", [f"memdash_memory_oom_kills_total{{{lab}}} 0" for lab in svc])
        fam("memdash_gc_garbage_objects", "gauge", [f"memdash_gc_garbage_objects{{{lab}}} 0" for lab in svc])
        hosts = [f'job="node",instance="10.200.{i // 250}.{i % 250}:9100"' for i in range(n)]
        fam("node_memory_MemTotal_bytes", "gauge", [f"node_memory_MemTotal_bytes{{{lab}}} {16 * 1024 * MIB}" for lab in hosts])
        fam("node_memory_MemAvailable_bytes", "gauge",
            [f"node_memory_MemAvailable_bytes{{{lab}}} {(8 * 1024 + i % 4096) * MIB - int(t * (i % 20) * 1000)}"
             for i, lab in enumerate(hosts)])
        fam("node_vmstat_oom_kill", "untyped", [f"node_vmstat_oom_kill{{{lab}}} 0" for lab in hosts])
        # Memory pressure stalls only the hosts short of memory (1 in 50 here); the rest read 0, as healthy hosts do.
        fam("node_pressure_memory_waiting_seconds_total", "counter",
            [f"node_pressure_memory_waiting_seconds_total{{{lab}}} {t * 0.001 if i % 50 == 0 else 0:.4f}"
             for i, lab in enumerate(hosts)])
        return "\n".join(out) + "\n"


def start_prometheus(tmp: Path, target: str, scrape: int) -> tuple[subprocess.Popen, str]:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: {scrape}s
  scrape_timeout: {scrape}s
scrape_configs:
  - job_name: fleet
    honor_labels: true
    static_configs:
      - targets: ['{target}']
""")
    proc = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            if httpx.get(url + "/-/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("Prometheus did not start")


def prom_requests(url: str) -> float:
    """API requests Prometheus itself counted (its own /metrics), query endpoints only."""
    import httpx

    total = 0.0
    for line in httpx.get(url + "/metrics", timeout=5).text.splitlines():
        if line.startswith("prometheus_http_requests_total{") and any(
                f'handler="/api/v1/{h}"' in line for h in ("query", "query_range", "series", "label/:name/values")):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def first_frame_headless(url: str) -> float:
    from memdash.fleet.source import open_source
    from memdash.tui.screens.fleet import FleetApp

    source = open_source(url, timeout=10)
    app = FleetApp(source, interval=5)
    started = time.perf_counter()
    async with app.run_test(size=(200, 50)) as pilot:
        while app.frames == 0:
            await pilot.pause(0.01)
        elapsed = time.perf_counter() - started
    source.close()
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=2000, help="series per family (default 2000)")
    ap.add_argument("--seconds", type=int, default=60, help="length of the TUI run (default 60)")
    ap.add_argument("--scrape", type=int, default=5, help="Prometheus scrape interval, seconds (default 5)")
    ap.add_argument("--warmup", type=int, default=75,
                    help="seconds of data before measuring (default 75: past the 60 s eta_min_span, so slopes exist)")
    args = ap.parse_args()
    for binary in ("prometheus", "tmux"):
        if shutil.which(binary) is None:
            raise SystemExit(f"{binary} is not installed")
    from memdash.fleet.source import open_source

    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmpdir:
        tmp = Path(tmpdir)
        expo = Exposition(args.series)
        t0 = time.perf_counter()
        page_bytes = len(expo.page())
        print(f"exposition: {args.series} series per family, {page_bytes / 1e6:.1f} MB a page "
              f"(built in {time.perf_counter() - t0:.2f} s), scraped every {args.scrape} s with honor_labels")
        prom, url = start_prometheus(tmp, expo.address, args.scrape)
        try:
            time.sleep(args.warmup)
            # 1. first ranking
            t0 = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "memdash", "fleet", "--prometheus", url, "--json",
                                   "--timeout", "10"], capture_output=True, text=True, env=dict(os.environ, MEMDASH_CONFIG="/dev/null"))
            cli_wall = time.perf_counter() - t0
            doc = json.loads(done.stdout)
            kinds = {k: sum(1 for u in doc["units"] if u["kind"] == k) for k in ("container", "service", "host")}
            print(f"first ranking, `memdash fleet --json` (process start to document): {cli_wall:.2f} s; "
                  f"{len(doc['units'])} units {kinds}; {doc['queries']} requests (discovery included); errors {doc['errors']}")
            headless = asyncio.run(first_frame_headless(url))
            print(f"first ranking, Fleet screen headless (App start to first ranked frame): {headless:.2f} s")

            # 2. queries per refresh, memdash's own count and Prometheus's time for them
            source = open_source(url, timeout=10)
            frames, walls, cpus = [], [], []
            for _ in range(4):
                w, c = time.perf_counter(), time.process_time()
                frames.append(source.refresh())
                walls.append(1000 * (time.perf_counter() - w))
                cpus.append(1000 * (time.process_time() - c))
            source.close()
            per = [f.queries for f in frames]
            server_ms = [1000 * (f.server_seconds or 0) for f in frames[1:]]
            print(f"queries per refresh (memdash's client): {per} (first includes discovery)")
            print(f"per steady refresh: the queries' time inside Prometheus {min(server_ms):.0f}-{max(server_ms):.0f} ms "
                  f"(stats.timings.execTotalTime, summed over the 3 parallel queries); the refresh takes "
                  f"{min(walls[1:]):.0f}-{max(walls[1:]):.0f} ms wall, memdash's CPU for it "
                  f"{min(cpus[1:]):.0f}-{max(cpus[1:]):.0f} ms (source only, no screen)")

            # 3. the real TUI at a 5 s refresh, in tmux
            session = f"bench-fleet-{os.getpid()}"
            cmd = f"exec env MEMDASH_CONFIG=/dev/null {sys.executable} -m memdash fleet --prometheus {url} -i 5 --timeout 10"
            subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50", cmd], check=True)
            try:
                pid = int(subprocess.run(["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"],
                                         capture_output=True, text=True, check=True).stdout.split()[0])
                time.sleep(10)
                c0, p0, q0, w0 = cpu_seconds(pid), cpu_seconds(prom.pid), prom_requests(url), time.monotonic()
                time.sleep(args.seconds)
                c1, p1, q1, w1 = cpu_seconds(pid), cpu_seconds(prom.pid), prom_requests(url), time.monotonic()
                screen = subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
            finally:
                subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
            span = w1 - w0
            refreshes = span / 5
            asked = q1 - q0
            print(f"TUI at a 5 s refresh for {span:.0f} s: memdash {100 * (c1 - c0) / span:.2f} % of one core "
                  f"({(c1 - c0) / refreshes * 1000:.0f} ms CPU per refresh); Prometheus {100 * (p1 - p0) / span:.2f} % "
                  f"of one core over the same window (scraping {args.series * 14} series every {args.scrape} s, and answering)")
            print(f"Prometheus counted {asked:.0f} API requests in that window: {asked / refreshes:.1f} per refresh")
            print("screen at the end of the run (first lines):")
            print("\n".join(line.rstrip() for line in screen.splitlines()[:8]))
        finally:
            prom.terminate()
            prom.wait(timeout=30)
            expo.server.shutdown()


if __name__ == "__main__":
    main()
