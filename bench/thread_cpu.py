"""CPU of each thread of a running process, from ``/proc/PID/task/TID/stat``.

    python bench/thread_cpu.py PID [SECONDS]

Prints user and system time of every thread over SECONDS (default 30) as % of
one core, and the total. For memdash: the thread whose id is the process id is
the UI (Textual) thread; Python does not give its threads OS names, so name the
others with ``py-spy dump --pid PID`` (memdash-targets: the target poller's
loop; memdash-local: local polls, History and frames; textual-input/-output).
Used to say where the dashboard's CPU goes (bench/README.md).
"""

from __future__ import annotations

import os
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def threads(pid: int) -> dict[int, tuple[int, int]]:
    """``{tid: (utime, stime)}`` in clock ticks; threads that exit meanwhile are left out."""
    out = {}
    for name in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(b")") + 2 :].split()
        out[int(name)] = (int(rest[11]), int(rest[12]))
    return out


def main(argv: list[str]) -> int:
    if not argv or not argv[0].isdigit():
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    pid = int(argv[0])
    seconds = float(argv[1]) if len(argv) > 1 else 30.0
    before, t0 = threads(pid), time.monotonic()
    time.sleep(seconds)
    after, elapsed = threads(pid), time.monotonic() - t0
    scale = 100.0 / CLK_TCK / elapsed
    total_u = total_s = 0.0
    print(f"{'tid':>8} {'user %':>7} {'sys %':>7}")
    for tid in sorted(after):
        u0, s0 = before.get(tid, (0, 0))
        u, s = (after[tid][0] - u0) * scale, (after[tid][1] - s0) * scale
        total_u += u
        total_s += s
        print(f"{tid:>8} {u:7.2f} {s:7.2f}{'  (main thread)' if tid == pid else ''}")
    print(f"{'total':>8} {total_u:7.2f} {total_s:7.2f}  = {total_u + total_s:.2f} % of one core over {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
