"""Bench: the target poller alone, two builds taking turns over the same 200 targets.

What it prints: CPU of a process running ``TargetPoller.run`` over ``--targets``
recorded probe targets at 1 s (``bench_targets.py``'s servers and poll loop),
as % of one core after a 4 s warm-up, for each source tree in turn, round
after round; then the median per tree. The trees take turns so that the box's
changing load hits them alike; the servers are shared and not counted.

    python bench/bench_poller_ab.py /tmp/main-src .          # main's tree, then this one
    python bench/bench_poller_ab.py A B --rounds 5 --seconds 20

A tree is a directory holding ``memdash/`` (``git archive main | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

_POLL = (
    "import sys, json, asyncio; sys.path[:0] = [sys.argv[2], sys.argv[1]]; import bench_targets as b, memdash;"
    "assert memdash.__file__.startswith(sys.argv[2]), memdash.__file__;"
    "print(json.dumps(asyncio.run(b._poll(json.loads(sys.argv[3]), None, 4.0, float(sys.argv[4])))))"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("trees", nargs="+", help="source trees (each holds memdash/)")
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=15.0, help="measured seconds per run")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    trees = [os.path.abspath(t) for t in a.trees]
    per = -(-a.targets // 4)
    hosts = [subprocess.Popen([sys.executable, os.path.join(HERE, "bench_targets.py"), "--role", "host",
                               "--server", "recorded", "--count", str(min(per, a.targets - i * per))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for i in range(4) if a.targets - i * per > 0]
    cpu: dict[str, list[float]] = {t: [] for t in trees}
    try:
        ports = [p for h in hosts for p in json.loads(h.stdout.readline())]  # type: ignore[union-attr]
        print(f"{len(ports)} recorded probe targets on 127.0.0.1, interval 1 s; {a.rounds} rounds of"
              f" {a.seconds:g} s per tree", flush=True)
        for r in range(a.rounds):
            for tree in trees:
                out = subprocess.run([sys.executable, "-c", _POLL, HERE, tree, json.dumps(ports), str(a.seconds)],
                                     env=dict(os.environ, PYTHONPATH=tree), capture_output=True, text=True)
                if out.returncode:
                    print(out.stderr, file=sys.stderr)
                    return 1
                d = json.loads(out.stdout.strip().splitlines()[-1])
                cpu[tree].append(d["cpu_percent"])
                print(f"round {r + 1} {tree}: CPU {d['cpu_percent']:.2f} % of one core, refreshed each second"
                      f" {100 * d['refreshed_mean']:.1f} %, failed polls {d['failures']}", flush=True)
    finally:
        for h in hosts:
            if h.stdin:
                h.stdin.close()
        for h in hosts:
            h.wait(10)
    for tree in trees:
        print(f"{tree}: median {statistics.median(cpu[tree]):.2f} % ({', '.join(f'{x:.2f}' for x in cpu[tree])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
