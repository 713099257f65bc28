"""Several dashboards side by side: CPU of each thread, measured over the same seconds.

    python bench/thread_ab.py NAME=COMMAND [NAME=COMMAND ...] [--seconds 60] [--settle 12]

Each COMMAND runs in its own detached 200x50 pane of a private tmux server, all
at once, so every one sees the same load at the same moments (on a busy 2-core
box a figure from another minute says little). After ``--settle`` seconds the
user and system time of every thread of each command's process is read from
``/proc/PID/task/TID/stat`` and again ``--seconds`` later, and printed as % of
one core, with the load average. Threads are named by ``py-spy dump`` when
py-spy is installed (memdash-local: local polls and frames; MainThread: the UI).
Start bench/load.py first for the standard load. Used for bench/README.md's
per-thread figures, e.g.::

    python bench/thread_ab.py "base=/tmp/main-venv/bin/memdash -i 1" "mine=memdash -i 1" "htop=htop -d 10"
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

from thread_cpu import CLK_TCK, threads


def _pid_in_pane(socket: str, session: str) -> int:
    pane = int(subprocess.run(["tmux", "-L", socket, "display", "-p", "-t", session, "#{pane_pid}"],
                              capture_output=True, text=True, check=True).stdout)
    kids = subprocess.run(["pgrep", "-P", str(pane)], capture_output=True, text=True).stdout.split()
    return int(kids[0]) if kids else pane  # the pane's shell execs a single command


def _names(pid: int) -> dict[int, str]:
    spy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    if not os.path.exists(spy):
        return {}
    dump = subprocess.run([spy, "dump", "--pid", str(pid)], capture_output=True, text=True).stdout
    return {int(m.group(1)): m.group(2) for m in re.finditer(r'Thread (\d+) \(\w+\): "([^"]+)"', dump)}


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("commands", nargs="+", metavar="NAME=COMMAND")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--settle", type=float, default=12.0, help="seconds after start before measuring")
    args = ap.parse_args(argv)
    pairs = [c.split("=", 1) for c in args.commands]
    if any(len(p) != 2 or not p[0] for p in pairs):
        ap.error("each command is NAME=COMMAND")
    socket = f"thread-ab-{os.getpid()}"
    try:
        for name, command in pairs:
            subprocess.run(["tmux", "-L", socket, "new", "-d", "-s", name, "-x", "200", "-y", "50", command], check=True)
        time.sleep(3)
        pids = {name: _pid_in_pane(socket, name) for name, _ in pairs}
        time.sleep(max(0.0, args.settle - 3))
        names = {name: _names(pid) for name, pid in pids.items()}
        load0 = os.getloadavg()[0]
        before, t0 = {n: threads(p) for n, p in pids.items()}, time.monotonic()
        time.sleep(args.seconds)
        after, elapsed = {n: threads(p) for n, p in pids.items()}, time.monotonic() - t0
        load1 = os.getloadavg()[0]
        procs = sum(1 for d in os.listdir("/proc") if d.isdigit())
        print(f"{elapsed:.0f} s, load average {load0:.2f} -> {load1:.2f}, {procs} processes on the box")
        scale = 100.0 / CLK_TCK / elapsed
        for name in pids:
            parts, total_u, total_s = [], 0.0, 0.0
            for tid, (u, s) in sorted(after[name].items()):
                u0, s0 = before[name].get(tid, (0, 0))
                du, ds = (u - u0) * scale, (s - s0) * scale
                total_u += du
                total_s += ds
                if du + ds >= 0.01:
                    parts.append(f"{names[name].get(tid, tid)} {du:.2f}+{ds:.2f}")
            print(f"{name:10s} {total_u + total_s:5.2f} % (user {total_u:.2f}, sys {total_s:.2f})  " + " | ".join(parts))
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
