"""Benchmarks for memdash.probe. Prints figures; asserts nothing.

    /work/venv/bin/python bench/bench_probe.py [--seconds 10] [--rate 200]

1. ``collect()`` with 10 tracked caches: mean / p50 / p99 (target < 200 µs).
2. ``GET /`` on the standalone server, paced at ``--rate`` requests/s for
   ``--seconds`` (target p99 < 5 ms). The server runs in a child process (the
   "service"); the paced client runs here, one connection per request.
3. RSS and threads added by the probe, each in a fresh interpreter: bare
   python (nothing imported beyond what the interpreter loads at startup; the
   measuring code itself uses only os and sys until it has read RSS) vs probe
   imported + collect() + serve() + one ``GET /`` and one ``GET /metrics``
   answered (target: under 2 MB = 1.91 MiB, as issue 16 puts it), and the
   same against a baseline that already imported the standard-library modules
   a web service loads anyway (typing, dataclasses, pathlib, json, logging,
   socket, threading...).
   Threads are the kernel's count (``/proc/self/status``). memdash is imported
   from a byte-compiled temporary copy, as an installed package would be
   (with ``PYTHONDONTWRITEBYTECODE`` set, the working tree has no .pyc and
   the compiler's memory would be counted as the probe's).

4. Parsing one request head (``memdash.probe.httphead``), with h11 on the same
   bytes as the peer.

5. The ``python_memory`` block (docs/python-memory.md): its share of a
   ``collect()`` (the block alone, cached figures) and, each measured directly,
   the refreshes it does at most every 5 s (``mallinfo2``) and 30 s
   (``_debugmallocstats`` through a memory stream, its parse, the fd-2 capture
   fallback as the peer, ``malloc_info`` and the tracked-object counts), on
   this interpreter's small heap and after 1.3M small tuples (~200 MB).

6. What the on-demand ``tracemalloc`` action costs the host while it runs.

``--only rss`` (or ``collect``, ``parse``, ``http``, ``pymem``, ``tracemalloc``) runs one part.
"""

from __future__ import annotations

import argparse
import functools
import gc
import http.client
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _track_ten_caches() -> list:
    import memdash.probe as probe

    funcs = []
    for i in range(10):
        @functools.lru_cache(maxsize=128)
        def f(n, i=i):
            return n * i
        for n in range(200):
            f(n % 150)
        funcs.append(probe.track_cache(f, name=f"cache{i}"))
    return funcs


def bench_collect(calls: int = 20000) -> None:
    import memdash.probe as probe

    keep = _track_ten_caches()
    assert len(probe.collect()["caches"]) == 10
    for _ in range(500):  # warm up: limit cache, gc timer, branch caches
        probe.collect()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(calls):
        t0 = clock()
        probe.collect()
        samples.append((clock() - t0) / 1000)
    print(f"collect() x{calls}, 10 tracked caches: mean {statistics.fmean(samples):.1f} µs, "
          f"p50 {_pct(samples, 50):.1f} µs, p99 {_pct(samples, 99):.1f} µs, max {max(samples):.1f} µs "
          f"(target < 200 µs)")
    del keep


def _median_us(fn, n: int) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return statistics.median(samples)


def bench_pymem() -> None:
    from memdash.probe import fd2capture, procfs, pymem

    rss = procfs.read_rss()
    for label, heap in (("small heap", None), ("1.3M small tuples (~200 MB)", 1_300_000)):
        data = [(i, str(i)) for i in range(heap)] if heap else None
        pymem.refresh_now()
        pymem.python_memory(rss)
        cached = _median_us(lambda: pymem.python_memory(rss), 5000)
        text, method = pymem.debugmallocstats_text()
        stream = _median_us(lambda: pymem.debugmallocstats_text(), 20)
        parse = _median_us(lambda: pymem.parse_debugmallocstats(text), 200)
        fd2 = _median_us(fd2capture.capture_debugmallocstats, 20)
        mallinfo = _median_us(pymem.mallinfo, 200)
        arenas = _median_us(pymem.malloc_arenas, 50)
        tracked = _median_us(lambda: [len(gc.get_objects(g)) for g in range(3)], 5)
        print(f"python_memory, {label} ({sys.getallocatedblocks():,} blocks): block with cached figures "
              f"{cached:.1f} µs a snapshot; refreshes: _debugmallocstats via memory stream {stream:.0f} µs "
              f"+ parse {parse:.0f} µs ({len(text):,} B) [peer: fd-2 capture + parse {fd2:.0f} µs], "
              f"malloc_info {arenas:.0f} µs, tracked objects {tracked:.0f} µs (every 30 s); "
              f"mallinfo2 {mallinfo:.1f} µs (every 5 s)")
        del data


def bench_tracemalloc() -> None:
    """What the tracemalloc action costs the host while it runs: an allocation-only loop, traced and not."""
    import tracemalloc

    def work() -> float:
        t0 = time.perf_counter()
        x = [(i, str(i)) for i in range(300_000)]
        del x
        return time.perf_counter() - t0

    base = min(work() for _ in range(5))
    figures = []
    for frames in (1, 10):
        tracemalloc.start(frames)
        traced = min(work() for _ in range(5))
        tracemalloc.stop()
        figures.append(f"{frames} frame(s) {traced * 1e3:.0f} ms (x{traced / base:.1f})")
    print(f"tracemalloc overhead, 300 000 small tuples built: untraced {base * 1e3:.0f} ms, traced "
          + ", ".join(figures))


SERVICE = textwrap.dedent("""
    import functools, sys
    sys.path.insert(0, {root!r})
    import memdash.probe as probe
    caches = []
    for i in range(10):
        @functools.lru_cache(maxsize=128)
        def f(n, i=i):
            return n * i
        for n in range(200):
            f(n % 150)
        caches.append(probe.track_cache(f, name=f"cache{{i}}"))
    handle = probe.serve(min_interval=0)
    print(handle.port, flush=True)
    sys.stdin.read()
""")


def bench_http(seconds: float, rate: float) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SERVICE.format(root=ROOT)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        latencies: list[float] = []
        errors = 0
        interval = 1.0 / rate
        total = int(seconds * rate)
        start = time.perf_counter()
        for i in range(total):
            due = start + i * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            t0 = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/")
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                if resp.status != 200 or not body.startswith(b"{"):
                    errors += 1
            except OSError:
                errors += 1
            latencies.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - start
        print(f"GET / paced at {rate:g}/s for {elapsed:.1f} s ({total} requests, {total / elapsed:.0f}/s achieved, "
              f"{errors} errors): p50 {_pct(latencies, 50):.2f} ms, p99 {_pct(latencies, 99):.2f} ms, "
              f"max {max(latencies):.2f} ms (target p99 < 5 ms)")
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


MEASURE = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    {baseline}
    def rss_kib():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    def threads():  # the kernel's count, so threads started without threading count too
        with open("/proc/self/status") as f:
            return int([l for l in f if l.startswith("Threads:")][0].split()[1])
    out = {{"rss_before": rss_kib(), "threads_before": threads()}}
    port = 0
    if {with_probe}:
        import memdash.probe as probe
        out["threads_after_import"] = threads()
        probe.collect()
        handle = probe.serve()
        port = handle.port
    print(port, flush=True)
    sys.stdin.readline()  # the bench has now sent GET / and GET /metrics to the server
    if {with_probe}:
        out["threads_after_serve"] = threads()
    out["rss_after"] = rss_kib()
    import json  # after the measurement: not counted
    print(json.dumps(out), flush=True)
""")

#: Imported by the "web service" baseline before measuring: what a typical
#: service (any framework) has loaded anyway. The bare baseline imports nothing
#: beyond what the interpreter loads at startup (os, sys, site...).
WEB_BASELINE = ("import typing, dataclasses, pathlib, json, logging, re, socket, selectors, socketserver, "
                "threading, urllib.parse, enum, weakref, inspect, ipaddress")


def _get(port: int, path: str) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, (path, resp.status)
    finally:
        conn.close()


def _compiled_copy() -> str:
    """A byte-compiled copy of the memdash package, as pip installs it, in a
    temporary directory: measured from the working tree with
    PYTHONDONTWRITEBYTECODE set, every start would compile the probe from
    source, and the compiler's memory would be counted as the probe's."""
    import atexit
    import compileall
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="memdash-bench-")
    atexit.register(shutil.rmtree, tmp, True)
    shutil.copytree(os.path.join(ROOT, "memdash"), os.path.join(tmp, "memdash"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    if not compileall.compile_dir(os.path.join(tmp, "memdash"), quiet=1):
        raise RuntimeError("could not byte-compile the memdash copy")
    return tmp


_COMPILED: list[str] = []


def _measure(baseline: str, with_probe: bool, runs: int = 5) -> dict:
    if not _COMPILED:
        _COMPILED.append(_compiled_copy())
    results = []
    for _ in range(runs):
        code = MEASURE.format(root=_COMPILED[0], baseline=baseline, with_probe=with_probe)
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        try:
            port = int(proc.stdout.readline())
            if port:
                _get(port, "/")  # serving is part of what the probe costs: json, the request path
                _get(port, "/metrics")
            out, _ = proc.communicate("go\n", timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0
        results.append(json.loads(out))
    result = dict(results[0])
    result["rss_before_median"] = statistics.median(r["rss_before"] for r in results)
    result["rss_after_median"] = statistics.median(r["rss_after"] for r in results)
    return result


def bench_rss() -> None:
    print("RSS: each figure is the median of 5 fresh interpreters; 'with probe' means import memdash.probe, "
          "collect(), serve() on 127.0.0.1, then GET / and GET /metrics answered, RSS read from "
          "/proc/self/statm; memdash is imported from a byte-compiled copy (.pyc, as installed), so the "
          "compiler's memory is not counted")
    for label, baseline in (("bare python (only what the interpreter loads at startup)", ""),
                            ("python + web-service stdlib (" + WEB_BASELINE[len("import "):] + ")",
                             WEB_BASELINE)):
        without = _measure(baseline, False)
        with_probe = _measure(baseline, True)
        added = with_probe["rss_after_median"] - without["rss_after_median"]
        print(f"RSS, {label}: {without['rss_after_median'] / 1024:.1f} MiB -> with probe: "
              f"{with_probe['rss_after_median'] / 1024:.1f} MiB, added {added / 1024:.2f} MiB "
              f"({added * 1024 / 1e6:.2f} MB; target < 2 MB)")
    t = _measure("", True, runs=1)
    print(f"threads (kernel count, /proc/self/status): before import {t['threads_before']}, after import "
          f"{t['threads_after_import']}, after serve() and two requests {t['threads_after_serve']} "
          f"(target: only the server's thread is added)")


#: Request heads as the probe sees them: the dashboard's poll, curl, a cleanup with a token.
HEADS = [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8123\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
    b"Connection: keep-alive\r\nUser-Agent: memdash/0.1\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: localhost:8123\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
    b"POST /cleanup/gc HTTP/1.1\r\nHost: 127.0.0.1:8123\r\nAuthorization: Bearer 0123456789abcdef0123456789\r\n"
    b"Content-Type: application/json\r\nContent-Length: 16\r\n\r\n{\"generation\":0}",
]


def bench_parse(rounds: int = 20000) -> None:
    """The standalone server's head parser per request, with h11 (the oracle of
    its tests, and the dashboard client's parser) as the peer on the same bytes."""
    import h11

    from memdash.probe.httphead import head_end, parse_head

    def probe_parse(data: bytes) -> None:
        parse_head(data, head_end(data))

    def h11_parse(data: bytes) -> None:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(data)
        conn.next_event()

    for name, fn in (("memdash.probe.httphead", probe_parse), ("h11 (peer)", h11_parse)):
        per_head = []
        for data in HEADS:
            for _ in range(500):
                fn(data)
            t0 = time.perf_counter()
            for _ in range(rounds):
                fn(data)
            per_head.append((time.perf_counter() - t0) / rounds * 1e6)
        print(f"parse a request head, {name}: " + ", ".join(f"{v:.2f} µs" for v in per_head)
              + " (dashboard GET, curl GET, POST with token and body)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--only", choices=("collect", "parse", "http", "rss", "pymem", "tracemalloc"))
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.uname().sysname} {os.uname().release}, "
          f"{os.cpu_count()} CPUs, gc thresholds {gc.get_threshold()}")
    if args.only in (None, "collect"):
        bench_collect()
    if args.only in (None, "parse"):
        bench_parse()
    if args.only in (None, "pymem"):
        bench_pymem()
    if args.only in (None, "tracemalloc"):
        bench_tracemalloc()
    if args.only in (None, "http"):
        bench_http(args.seconds, args.rate)
    if args.only in (None, "rss"):
        bench_rss()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
