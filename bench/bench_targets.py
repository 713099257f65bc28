"""Bench: 200 probe targets on loopback at a 1 s interval, then one hung target more.

What it prints:

- CPU of the poller process (utime+stime from ``/proc/PID/stat``) as % of one
  core, measured after a warm-up (target: under 15 %);
- the fraction of targets refreshed in each whole second (target: all of them);
- p50/max of the interval between two good samples of a target, without and
  with a hung target beside them (a hung target must not change the others').

Servers: ``--server recorded`` (default) is a tiny asyncio HTTP/1.1 server
returning one probe JSON document, recorded from ``memdash.probe.collect()``
where the probe is importable, so the servers cost little CPU next to the
poller on a small box; ``--server probe`` runs memdash.probe's own standalone
server (``serve()``) instead: it answers HTTP/1.1 over kept-alive connections,
so polls reuse one connection per target as with the recorded servers.
The poller reaches ``http://`` targets through :mod:`memdash.sources.http11`. Servers live in ``--hosts``
child processes; the poller runs in its own child process.

Run::

    python bench/bench_targets.py                  # 200 targets, 20 s per phase
    python bench/bench_targets.py --targets 50 --seconds 10 --server probe
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict

HERE = os.path.abspath(__file__)


# --------------------------------------------------------------------------- servers


def recorded_document() -> tuple[bytes, str]:
    """A probe snapshot to serve, and where it came from."""
    try:
        from memdash.probe import collect

        return json.dumps(collect()).encode(), "recorded from memdash.probe.collect()"
    except Exception:  # the probe is missing: a hand-written schema-1 document
        doc = {
            "schema": 1, "probe": "memdash.probe", "version": "0.1.0", "pid": 4242, "time": time.time(),
            "memory": {"rss_bytes": 73400320, "vms_bytes": 412000000, "limit_bytes": 536870912, "percent": 13.7},
            "gc": {"enabled": True, "generations": [
                {"generation": g, "count": 10, "threshold": 700, "collections": 5, "collected": 9,
                 "uncollectable": 0} for g in range(3)]},
            "caches": [{"name": "lookup_user", "hits": 900, "misses": 100, "hit_rate": 0.9, "size": 100,
                        "maxsize": 128}],
            "torch": None, "actions": ["gc", "caches", "trim", "all"],
        }
        return json.dumps(doc).encode(), "hand-written schema-1 document (memdash.probe not importable)"


async def _serve_recorded(count: int, hung: bool) -> None:
    body, _ = recorded_document()
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                writer.write(response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the client hung up, or this host is shutting down
        finally:
            writer.close()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.Event().wait()  # accept, read nothing, answer never
        except asyncio.CancelledError:
            writer.close()  # shutting down

    servers = [await asyncio.start_server(hang if hung else handle, "127.0.0.1", 0) for _ in range(count)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps(ports), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


def run_host(count: int, kind: str, hung: bool) -> None:
    """A child process hosting ``count`` servers; prints their ports, lives until stdin closes."""
    if kind == "probe" and not hung:
        from memdash.probe import serve

        servers = [serve(min_interval=0) for _ in range(count)]
        print(json.dumps([s.port for s in servers]), flush=True)
        sys.stdin.read()
        for s in servers:
            s.stop()
        return
    asyncio.run(_serve_recorded(count, hung))


# --------------------------------------------------------------------------- poller


def cpu_seconds(pid: int | str = "self") -> float:
    """utime+stime of ``pid`` from /proc/PID/stat, seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _poll(ports: list[int], hung_port: int | None, warmup: float, seconds: float) -> dict[str, object]:
    from memdash.config import TargetConfig
    from memdash.levels import Thresholds
    from memdash.sources.remote import TargetPoller

    targets = [TargetConfig(name=f"t{p}", url=f"http://127.0.0.1:{p}/", kind="probe", interval=1.0, timeout=2.0)
               for p in ports]
    if hung_port is not None:
        targets.append(TargetConfig(name="hung", url=f"http://127.0.0.1:{hung_port}/", kind="probe",
                                    interval=1.0, timeout=2.0))
    times: dict[str, list[float]] = defaultdict(list)
    failures = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    t0 = start + warmup
    t1 = t0 + seconds

    def on_sample(sample) -> None:  # type: ignore[no-untyped-def]
        nonlocal failures
        now = loop.time()
        if t0 <= now < t1 and sample.name != "hung":
            if sample.ok:
                times[sample.name].append(now)
            else:
                failures += 1

    stop = asyncio.Event()
    poller = TargetPoller(targets, Thresholds(), max_concurrency=64)
    task = loop.create_task(poller.run(on_sample, stop))
    await asyncio.sleep(t0 - loop.time())
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(t1 - loop.time())
    cpu1, wall1 = cpu_seconds(), time.monotonic()
    stop.set()
    await task
    await poller.aclose()

    gaps = sorted(b - a for ts in times.values() for a, b in zip(ts, ts[1:]))
    per_second = []
    for i in range(int(seconds)):
        lo, hi = t0 + i, t0 + i + 1
        per_second.append(sum(1 for ts in times.values() if any(lo <= t < hi for t in ts)) / len(ports))
    return {
        "cpu_percent": 100 * (cpu1 - cpu0) / (wall1 - wall0),
        "refreshed_mean": statistics.fmean(per_second),
        "refreshed_min": min(per_second),
        "gap_p50": gaps[len(gaps) // 2] if gaps else None,
        "gap_p99": gaps[int(len(gaps) * 0.99)] if gaps else None,
        "gap_max": gaps[-1] if gaps else None,
        "failures": failures,
        "rss_mb": _rss_mb(),
    }


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_poller(ports: list[int], hung_port: int | None, warmup: float, seconds: float) -> None:
    import logging

    logging.getLogger("memdash").setLevel(logging.ERROR)  # the hung target's warning is expected
    print(json.dumps(asyncio.run(_poll(ports, hung_port, warmup, seconds))), flush=True)


# --------------------------------------------------------------------------- driver


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, HERE, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--hosts", type=int, default=4, help="server processes")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per phase")
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--server", choices=("recorded", "probe"), default="recorded")
    ap.add_argument("--role", choices=("driver", "host", "hung", "poller"), default="driver", help=argparse.SUPPRESS)
    ap.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--ports", default="", help=argparse.SUPPRESS)
    ap.add_argument("--hung-port", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.role == "host":
        return run_host(a.count, a.server, hung=False)
    if a.role == "hung":
        return run_host(1, "recorded", hung=True)
    if a.role == "poller":
        return run_poller(json.loads(a.ports), a.hung_port or None, a.warmup, a.seconds)

    per_host = -(-a.targets // a.hosts)
    hosts = [_child("--role", "host", "--server", a.server, "--count", str(min(per_host, a.targets - i * per_host)))
             for i in range(a.hosts) if a.targets - i * per_host > 0]
    hung = _child("--role", "hung")
    try:
        ports = [p for h in hosts for p in json.loads(h.stdout.readline())]  # type: ignore[union-attr]
        hung_port = json.loads(hung.stdout.readline())[0]  # type: ignore[union-attr]
        source = recorded_document()[1] if a.server == "recorded" else "memdash.probe.serve() (its standalone server)"
        print(f"servers: {len(ports)} on 127.0.0.1 in {len(hosts)} processes; {a.server}: {source}")
        print(f"poller: TargetPoller.run, interval 1 s, timeout 2 s, {a.seconds:g} s measured after {a.warmup:g} s warm-up;"
              f" {os.cpu_count()} CPUs")
        results = {}
        for label, hp in (("without hung target", None), ("with 1 hung target ", hung_port)):
            args = ["--role", "poller", "--ports", json.dumps(ports), "--warmup", str(a.warmup), "--seconds", str(a.seconds)]
            if hp:
                args += ["--hung-port", str(hp)]
            poller = _child(*args)
            out, _ = poller.communicate()
            r = json.loads(out.strip().splitlines()[-1])
            results[label] = r
            print(f"{label}: CPU {r['cpu_percent']:.1f} % of one core, RSS {r['rss_mb']:.0f} MB;"
                  f" refreshed each second: mean {100 * r['refreshed_mean']:.1f} %, min {100 * r['refreshed_min']:.1f} %;"
                  f" interval between samples p50 {r['gap_p50']:.3f} s, p99 {r['gap_p99']:.3f} s, max {r['gap_max']:.3f} s;"
                  f" failed polls {r['failures']}")
    finally:
        for p in (*hosts, hung):
            if p.stdin:
                p.stdin.close()
        for p in (*hosts, hung):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout:
                p.stdout.close()


if __name__ == "__main__":
    main()
