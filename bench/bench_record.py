"""Bench: ``memdash record`` under the standard load, and replay of a day's store.

Part 1, live: the standard load (bench/load.py: ~580 processes), 10 probe
targets on loopback (``memdash.probe.serve()`` in one host process, GC and caches
included), and ``memdash record --interval 5`` recording all of it. After a
warm-up, over ``--seconds`` (default 600, the 10 minutes the spec asks for):

- the recorder's CPU (utime+stime from ``/proc/PID/stat``) as % of one core
  (target: at most 1 %) and its RSS at the end (target: at most 50 MB);
- the store's growth, projected to a day (target: at most 50 MB/day).

The peer, in the same run and for the same seconds: ``atop -w FILE 5`` (atop's
own raw-log recorder at the same interval; installed with apt where missing),
its CPU, RSS and log growth.

Part 2, replay: a day of frames (17,280 at 5 s) is synthesized from the frames
part 1 recorded (RSS values varied per frame, so deltas are realistic), then
``Store(path)`` is opened (target: under 1 s) and the cursor is moved: 200
random seeks and 200 one-frame steps, each one ``frame_at`` (target: under
50 ms); then the replay screen's engine: moves with ten minutes of chart, the
charts zoomed out to the whole day (``z``: the store downsamples; its time and
the most memory it allocates), and moves while zoomed out. The synthesis writes with ``synchronous=OFF`` to save minutes; the file
format is the recorder's own.

``--compare DIR`` runs a second recorder beside the first, from another
checkout of memdash (``PYTHONPATH=DIR``), on its own store, for the same
seconds under the same load: a change measured against the build before it in
one run. ``--sleepers N`` sets the load's idle processes (500 by default, ~580
processes in all; 1000 gives a box past 1,100).

Run::

    python bench/bench_record.py                 # 10 minutes live, then the replay part
    python bench/bench_record.py --seconds 120   # a shorter live part
    python bench/bench_record.py --seconds 300 --sleepers 1000 --compare /tmp/base --no-replay
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from load import Load  # noqa: E402

DAY = 86400


def stat(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MB) of ``pid``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = 0.0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    return cpu, rss


def du(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _dirs, files in os.walk(path):
        for n in files:
            if n.endswith("-shm") or n.endswith(".lock"):
                continue  # the WAL index and the lock file are not data
            try:
                total += os.path.getsize(os.path.join(root, n))
            except OSError:
                pass
    return total


def store_data_bytes(path: str) -> int:
    """Bytes of committed data in a store: each shard's pages after a passive
    checkpoint (the WAL's pages moved into the shard), so a WAL that has not been
    checkpointed yet does not count twice. This is what the store grows by."""
    import sqlite3

    from memdash.record.store import list_shards

    total = 0
    for shard in list_shards(__import__("pathlib").Path(path)):
        db = sqlite3.connect(str(shard), timeout=5)
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            total += (pages - free) * db.execute("PRAGMA page_size").fetchone()[0]
        finally:
            db.close()
    return total


def start_targets(n: int) -> tuple[subprocess.Popen[str], list[int]]:
    host = subprocess.Popen([sys.executable, os.path.join(HERE, "bench_targets.py"), "--role", "host",
                             "--server", "probe", "--count", str(n)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ports = json.loads(host.stdout.readline())  # type: ignore[union-attr]
    return host, ports


def ensure_atop() -> str | None:
    path = shutil.which("atop")
    if path:
        return path
    try:
        subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "atop"], check=False,
                       capture_output=True, timeout=300, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    except (OSError, subprocess.TimeoutExpired):
        return None
    return shutil.which("atop")


def live(seconds: float, warmup: float, targets: int, work: str, *, sleepers: int = 500,
         compare: str | None = None) -> dict:
    store = os.path.join(work, "store")
    out: dict = {}
    with Load(sleepers=sleepers) as load:
        host, ports = start_targets(targets)
        env = {k: v for k, v in os.environ.items() if k not in ("MEMDASH_CONFIG",)}
        env["XDG_CONFIG_HOME"] = os.path.join(work, "xdg")
        env["XDG_RUNTIME_DIR"] = os.path.join(work, "run")
        argv = ["record", "--interval", "5", "--no-gpu", "--no-discover", "--quiet",
                *[f"http://127.0.0.1:{p}/" for p in ports]]
        rec = subprocess.Popen([sys.executable, "-m", "memdash", *argv, "--out", store], env=env)
        base = None
        base_store = os.path.join(work, "base-store")
        if compare:
            base = subprocess.Popen([sys.executable, "-m", "memdash", *argv, "--out", base_store],
                                    env=dict(env, PYTHONPATH=os.path.abspath(compare)), cwd=work)
        atop_path = ensure_atop()
        atop = None
        atop_log = os.path.join(work, "atop.raw")
        if atop_path:
            atop = subprocess.Popen([atop_path, "-w", atop_log, "5"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        try:
            time.sleep(warmup)
            procs = len([p for p in os.listdir("/proc") if p.isdigit()])
            c0, _ = stat(rec.pid)
            s0 = store_data_bytes(store)
            b0 = stat(base.pid)[0] if base else None
            bs0 = store_data_bytes(base_store) if base else None
            a0 = stat(atop.pid)[0] if atop else None
            l0 = du(atop_log) if atop else None
            t0 = time.monotonic()
            time.sleep(seconds)
            span = time.monotonic() - t0
            c1, rss = stat(rec.pid)
            s1 = store_data_bytes(store)
            out["recorder"] = {"cpu_percent": 100 * (c1 - c0) / span, "rss_mb": rss,
                               "bytes_per_day": (s1 - s0) / span * DAY, "store_bytes": s1, "disk_bytes": du(store)}
            if base:
                b1, brss = stat(base.pid)
                bs1 = store_data_bytes(base_store)
                out["base"] = {"cpu_percent": 100 * (b1 - b0) / span, "rss_mb": brss,
                               "bytes_per_day": (bs1 - bs0) / span * DAY, "store_bytes": bs1}
            if atop:
                a1, arss = stat(atop.pid)
                l1 = du(atop_log)
                out["atop"] = {"cpu_percent": 100 * (a1 - a0) / span, "rss_mb": arss,
                               "bytes_per_day": (l1 - l0) / span * DAY, "store_bytes": l1}
            out["processes"] = procs
            out["span"] = span
            out["targets"] = len(ports)
        finally:
            rec.terminate()
            rec.wait(30)
            if base:
                base.terminate()
                base.wait(30)
            if atop:
                atop.terminate()
                atop.wait(30)
            host.stdin.close()  # type: ignore[union-attr]
            host.wait(30)
            host.stdout.close()  # type: ignore[union-attr]
    from memdash.record.store import Store

    with Store(store) as s:
        frames = [s.frame(i) for i in range(len(s))]
    out["frames"] = [f for f in frames if f is not None]
    ok = [t for t in out["frames"][-1].snapshot["targets"] if t["ok"]]
    out["targets_ok"] = len(ok)
    return out


def synthesize_day(templates: list, path: str) -> float:
    from memdash.record.store import StoreWriter

    t_start = time.time() - DAY
    clock = [t_start]
    rnd = random.Random(1)
    w = StoreWriter(__import__("pathlib").Path(path), clock=lambda: clock[0])
    began = time.monotonic()
    for i in range(DAY // 5):
        t = t_start + 5 * i
        clock[0] = t
        f = templates[i % len(templates)]
        snap = json.loads(json.dumps(f.snapshot))
        for p in snap.get("processes", []):
            p["rss_bytes"] = int(p["rss_bytes"] * (1 + rnd.uniform(-0.01, 0.01))) // 4096 * 4096
        w.append(t, snap, f.extra)
        if w._db is not None:  # the shard the next frame goes to: no fsync while synthesizing
            w._db.execute("PRAGMA synchronous=OFF")
    w.close()
    return time.monotonic() - began


def replay(path: str) -> dict:
    from memdash.record.store import Store

    began = time.perf_counter()
    s = Store(__import__("pathlib").Path(path))
    s.frame_at(s.last)  # the first frame shown
    open_s = time.perf_counter() - began
    times = s.times()
    rnd = random.Random(2)
    seeks = []
    for _ in range(200):
        t = rnd.uniform(times[0], times[-1])
        a = time.perf_counter()
        f = s.frame_at(t)
        seeks.append(time.perf_counter() - a)
        assert f is not None
    steps = []
    i = rnd.randrange(len(times) - 300)
    for k in range(200):
        a = time.perf_counter()
        f = s.frame_at(times[i + k])
        steps.append(time.perf_counter() - a)
        assert f is not None
    s.close()
    # The replay screen's engine: a frame with its chart series, as the screen gets it.
    from memdash.record.replay import ReplayEngine

    engine = ReplayEngine(Store(__import__("pathlib").Path(path)), times[len(times) // 2])
    engine.publish()
    moves: dict[str, list[float]] = {"step": [], "minute": [], "jump": []}
    for _ in range(50):
        for kind, move in (("step", lambda: engine.step(1)), ("minute", lambda: engine.shift(60)),
                           ("jump", lambda: engine.goto(rnd.uniform(times[0], times[-1])))):
            a = time.perf_counter()
            move()
            moves[kind].append(time.perf_counter() - a)
    # Zoomed out: every chart over the whole day, downsampled by the store; the
    # first draw reads the store, later moves reuse it (the cursor is a mark).
    import tracemalloc

    engine.set_view(series=("system.used",))
    tracemalloc.start()
    a = time.perf_counter()
    engine.set_whole(True)
    whole_first = time.perf_counter() - a
    whole_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    whole_moves = []
    for _ in range(50):
        a = time.perf_counter()
        engine.goto(rnd.uniform(times[0], times[-1]))
        whole_moves.append(time.perf_counter() - a)
    engine.close()
    cli = []
    for _ in range(3):
        a = time.perf_counter()
        subprocess.run([sys.executable, "-m", "memdash", "replay", path, "--json", "--at",
                        f"{times[len(times) // 2]:.3f}"], check=True, capture_output=True)
        cli.append(time.perf_counter() - a)
    return {"open_s": open_s, "frames": len(times), "size": du(path),
            "seek_p50": statistics.median(seeks), "seek_max": max(seeks),
            "step_p50": statistics.median(steps), "step_max": max(steps), "cli_s": statistics.median(cli),
            "moves": {k: (statistics.median(v), max(v)) for k, v in moves.items()},
            "whole_first": whole_first, "whole_peak": whole_peak,
            "whole_moves": (statistics.median(whole_moves), max(whole_moves))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=600, help="measured seconds of the live part (default 600)")
    ap.add_argument("--warmup", type=float, default=20)
    ap.add_argument("--targets", type=int, default=10)
    ap.add_argument("--sleepers", type=int, default=500, help="idle processes in the load (default 500: ~580 in all)")
    ap.add_argument("--compare", metavar="DIR", help="also run the recorder of the memdash checkout in DIR, same run")
    ap.add_argument("--no-replay", action="store_true", help="skip the replay part")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-record-")
    try:
        print(f"live: standard load, {a.targets} probe targets, memdash record --interval 5;"
              f" {a.seconds:g} s measured after {a.warmup:g} s; {os.cpu_count()} CPUs;"
              f" load average {' '.join(open('/proc/loadavg').read().split()[:3])}", flush=True)
        r = live(a.seconds, a.warmup, a.targets, work, sleepers=a.sleepers, compare=a.compare)
        print(f"load average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}")
        print(f"processes on the box: {r['processes']}; targets ok in the last frame: {r['targets_ok']}/{r['targets']};"
              f" frames recorded: {len(r['frames'])}")
        print()
        print(f"{'recorder':<26} {'CPU % core':>10} {'RSS MB':>8} {'growth MB/day':>14}   target")
        rows = [("memdash record", r["recorder"])]
        if "base" in r:
            rows.append(("--compare's record", r["base"]))
        if "atop" in r:
            rows.append(("atop -w FILE 5 (peer)", r["atop"]))
        for name, m in rows:
            print(f"{name:<26} {m['cpu_percent']:>10.2f} {m['rss_mb']:>8.1f} {m['bytes_per_day'] / 1e6:>14.1f}"
                  + ("   <= 1 %, <= 50 MB, <= 50 MB/day" if name == "memdash record" else ""))
        avg = r["recorder"]["store_bytes"] / max(1, len(r["frames"]))
        print(f"(memdash store: {r['recorder']['store_bytes'] / 1e6:.2f} MB of data for {len(r['frames'])} frames"
              f" ({r['recorder']['disk_bytes'] / 1e6:.2f} MB on disk with the WAL); {avg / 1024:.1f} KiB a frame"
              f" on average, the shard's fixed pages included, so high for a short run)")
        if "base" in r:
            print(f"(--compare {a.compare}: its recorder's CPU is {r['base']['cpu_percent'] / max(r['recorder']['cpu_percent'], 1e-9):.2f}x this one's)")
        if a.no_replay:
            return
        print()
        day = os.path.join(work, "day")
        took = synthesize_day(r["frames"], day)
        rp = replay(day)
        print(f"replay: a day's store synthesized from those frames ({rp['frames']} frames, {rp['size'] / 1e6:.1f} MB,"
              f" written in {took:.0f} s)")
        print(f"{'replay':<34} {'value':>10}   target")
        print(f"{'open the store + first frame':<34} {rp['open_s'] * 1000:>8.0f}ms   < 1 s")
        print(f"{'seek, random time (p50)':<34} {rp['seek_p50'] * 1000:>8.2f}ms   < 50 ms")
        print(f"{'seek, random time (max of 200)':<34} {rp['seek_max'] * 1000:>8.2f}ms   < 50 ms")
        print(f"{'step one frame (p50)':<34} {rp['step_p50'] * 1000:>8.2f}ms   < 50 ms")
        print(f"{'step one frame (max of 200)':<34} {rp['step_max'] * 1000:>8.2f}ms   < 50 ms")
        for kind, label in (("step", "screen: next frame"), ("minute", "screen: a minute on"),
                            ("jump", "screen: go to a random time")):
            p50, worst = rp["moves"][kind]
            print(f"{label + ' (p50/max)':<34} {p50 * 1000:>6.1f}/{worst * 1000:.1f}ms   < 50 ms (frame + 10 min of chart)")
        print(f"{'screen: z, charts of the whole day':<34} {rp['whole_first'] * 1000:>8.0f}ms   (reads the store;"
              f" {rp['whole_peak'] / 1e6:.1f} MB allocated at most)")
        p50, worst = rp["whole_moves"]
        print(f"{'zoomed out: go to a time (p50/max)':<34} {p50 * 1000:>6.1f}/{worst * 1000:.1f}ms   < 50 ms")
        print(f"{'memdash replay --json --at (CLI)':<34} {rp['cli_s'] * 1000:>8.0f}ms   (whole command)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
