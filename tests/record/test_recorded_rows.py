"""Which process rows a recorded frame keeps, now that the engine builds rows
only for them (not one for each process on the box): the top by RSS, every
process at or above the size floor, every process in a memory cgroup with its
own limit, with real children."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

from memdash.config import load_config
from memdash.engine import Engine
from memdash.record.live import EngineSource
from memdash.record.source import FrameShaper

from .test_oom_kill import cgroup  # noqa: F401  (the fixture: a v1 memory cgroup with a 64 MB limit)

# Holds N MiB (every page touched), joins the cgroup named on argv if any, says so.
HOLDER = r"""
import os, sys
if len(sys.argv) > 2:
    with open(sys.argv[2], "w") as f:
        f.write(str(os.getpid()))
b = bytearray(int(sys.argv[1]) << 20)
b[::4096] = b"\x01" * len(range(0, len(b), 4096))
print("ready", flush=True)
sys.stdin.read()
"""


def _holder(mib: int, cgroup_procs: Path | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", HOLDER, str(mib)] + ([str(cgroup_procs)] if cgroup_procs else [])
    p = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stdout.readline() == "ready\n"
    return p


def test_a_frame_keeps_the_big_and_the_services_without_a_row_for_everyone(cgroup: Path) -> None:  # noqa: F811
    big = _holder(96)  # above a 80 MiB floor
    small = _holder(4)  # neither big nor in a service
    service = _holder(4, cgroup / "cgroup.procs")  # small, but in a cgroup with its own limit
    engine = Engine(dataclasses.replace(load_config(None), targets=()), gpu=False, discover=False)
    source = EngineSource(engine, 0.2, top=0, owns_engine=True)
    source.shaper = FrameShaper(0, floor_bytes=80 << 20)
    engine.set_view(keep_rss_bytes=80 << 20)
    try:
        engine.start()
        polled = source.poll()
        polled = source.poll()  # the second poll has USS/PSS and services
    finally:
        source.stop()
        source.close()
        for p in (big, small, service):
            p.stdin.close()  # type: ignore[union-attr]
            p.wait(30)
            p.stdout.close()  # type: ignore[union-attr]
    rows = {p["pid"]: p for p in polled.snapshot["processes"]}
    assert big.pid in rows and service.pid in rows and small.pid not in rows
    # no row but the big and the services': the engine built no others
    box = polled.snapshot["system"]["limit_bytes"] or polled.snapshot["system"]["total_bytes"]
    assert all(p["rss_bytes"] >= 80 << 20 or p["limit_bytes"] < box for p in rows.values())
    assert polled.snapshot["process_count"] > len(rows)
    # the service's cgroup was read for the frame
    assert any(c.path == "/" + cgroup.name for c in polled.cgroups)
