"""An 8-hour store with a known shape, made from frames a real ``memdash record``
wrote: the box's memory steps up 3 hours before the end, and so does the RSS
of a target ``api``. Written by the recorder's own :class:`StoreWriter` (so
keyframes, deltas and the figures column are what a recording has), 5,760
frames 5 s apart, without fsync to keep the test quick."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

from memdash.record.store import Store, StoreWriter

STEP = 5.0
HOURS = 8
FRAMES = HOURS * 3600 // int(STEP)
STEP_BEFORE_END = 3 * 3600.0  # the step, this long before the last frame
GIB = 1 << 30
LOW, HIGH = 1 * GIB, 4 * GIB
API_LOW, API_HIGH = 100 << 20, 700 << 20


def recorded_frames(work: Path) -> list:
    """Three frames from a real ``memdash record`` run."""
    env = {k: v for k, v in os.environ.items() if k not in ("MEMDASH_CONFIG", "MEMDASH_TOKEN")}
    env.update(XDG_CONFIG_HOME=str(work / "cfg"), XDG_RUNTIME_DIR=str(work / "run"), XDG_STATE_HOME=str(work / "st"))
    store = work / "real"
    subprocess.run([sys.executable, "-m", "memdash", "record", "--out", str(store), "--interval", "0.2", "--count", "3",
                    "--no-gpu", "--no-discover", "--quiet"], check=True, env=env, timeout=120,
                   stdin=subprocess.DEVNULL, capture_output=True)
    with Store(store) as s:
        return [s.frame(i) for i in range(len(s))]


def write_long_store(path: Path, work: Path, t_end: float) -> tuple[float, float]:
    """Write the store; returns (time of the first frame, time of the step)."""
    frames = recorded_frames(work)
    t0 = t_end - (FRAMES - 1) * STEP
    t_step = t_end - STEP_BEFORE_END
    clock = [t0]
    w = StoreWriter(path, clock=lambda: clock[0])
    try:
        for i in range(FRAMES):
            t = t0 + i * STEP
            clock[0] = t
            f = frames[i % len(frames)]
            snap = copy.deepcopy(f.snapshot)
            high = t >= t_step
            system = snap["system"]
            system["limit_bytes"] = None  # system.used is used_bytes
            system["cgroup"] = None
            system["total_bytes"] = 8 * GIB
            system["used_bytes"] = HIGH if high else LOW
            system["percent"] = 100.0 * system["used_bytes"] / system["total_bytes"]
            snap["targets"] = [{"name": "api", "url": "http://127.0.0.1:1/", "kind": "probe", "ok": True,
                                "rss_bytes": API_HIGH if high else API_LOW, "percent": 1.0, "level": "good"}]
            w.append(t, json.loads(json.dumps(snap)), f.extra)
            if w._db is not None:
                w._db.execute("PRAGMA synchronous=OFF")  # a test store: no fsync per frame
    finally:
        w.close()
    return t0, t_step
