"""What joining a local target to its service costs per refresh (engine/join.py).

Measures, against a real listening child on loopback:

- the socket look over every process on the box (the worst case: the engine
  only looks through the services' processes), and over a 4-process pool;
- a refresh when the answer is cached (what most refreshes cost);
- peer: ``ss -ltnpH`` for the same port, which reads the same tables and every
  process's descriptors (run in the same process, same moment).

Usage: .venv/bin/python bench/bench_join.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

from memdash.engine.join import LocalJoin
from memdash.levels import Thresholds
from memdash.model import ServiceMemory, ServiceWorker, TargetSample
from memdash.sources import sockets

CHILD = "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); print(s.getsockname()[1],flush=True); time.sleep(600)"


def timed(fn, runs: int) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    runs = ap.parse_args().runs
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        every = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        pool = [child.pid, os.getpid(), os.getppid(), 1]

        def look(pids):
            return lambda: sockets.owners(sockets.tcp_listening_inodes(port), pids)

        assert look(every)() == [child.pid]
        worker = ServiceWorker(pid=child.pid, ppid=1, name="py", cmdline="py", role="master", rss_bytes=1 << 20)
        sv = ServiceMemory(key="prefork:x", name="py [x]", kind="prefork", worker_count=1, process_count=1,
                           workers=(worker,), rss_bytes=1 << 20)
        t = TargetSample(name="t", url=f"http://127.0.0.1:{port}/metrics", kind="prometheus", ok=True, rss_bytes=1)
        join = LocalJoin()
        join.begin([sv], time.time())
        th = Thresholds()
        assert join.join(t, th).service == "py [x]"

        def cached():
            join.begin([sv], time.time())
            join.join(t, th)

        tcp_lines = sum(1 for name in ("tcp", "tcp6") for _ in open(f"/proc/net/{name}"))
        print(f"processes on the box: {len(every)}; listening port {port}; median of {runs} runs")
        print(f"  TCP table read ({tcp_lines} lines)    {timed(lambda: sockets.tcp_listening_inodes(port), runs):6.2f} ms")
        print(f"  look over every process        {timed(look(every), runs):8.2f} ms")
        print(f"  look over a 4-process pool     {timed(look(pool), runs):8.2f} ms")
        print(f"  refresh, answer cached (join)  {timed(cached, runs) * 1000:8.1f} us")
        ss = shutil.which("ss")
        if ss:
            argv = [ss, "-ltnpH", f"sport = :{port}"]
            print(f"  peer: ss -ltnpH (subprocess)   {timed(lambda: subprocess.run(argv, capture_output=True), runs):8.2f} ms")
    finally:
        child.kill()
        child.wait()
        child.stdout.close()


if __name__ == "__main__":
    main()
