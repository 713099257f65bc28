"""What grouping processes into services costs a refresh, next to the refresh itself and htop.

Method: the standard load (bench/load.py: 500 ``sleep`` + 4 x 208 MiB holders,
~580 processes on the box) is spread over ``--cgroups`` real v1 memory cgroups
(default 40, each with a 512 MiB limit, so each is a service). Then, in the same
process and interleaved in blocks, CPU time (``time.process_time``) per refresh of:

* ``refresh``: one :meth:`LocalCollector.poll` as the dashboard makes it
  (top 25 rows in detail, USS/PSS at most 10 s old), services off;
* ``services``: what turning services on adds to that refresh: cgroup reads,
  grouping, the members' USS/PSS (10 s old at most, as the dashboard reads
  them), trends and levels (:meth:`ServiceCollector.collect` on the same scan).

htop (``htop -d 10``, 1 s refresh, in a detached tmux pane) runs over the same
period; its CPU per second is read from ``/proc/PID/stat``. Needs root (cgroups);
everything started (load, cgroups, tmux server) is removed on exit.

    python bench/bench_services.py                  # 120 refreshes of each
    python bench/bench_services.py --refreshes 30 --cgroups 20
    python bench/bench_services.py --snapshot       # and `memdash snapshot --json --all`
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from load import Load  # noqa: E402

from memdash.collector import LocalCollector  # noqa: E402
from memdash.config import Config  # noqa: E402
from memdash.service_watch import ServiceCollector  # noqa: E402

V1 = Path("/sys/fs/cgroup/memory")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def make_cgroups(n: int, pids: list[int]) -> list[Path]:
    made = []
    for i in range(n):
        p = V1 / f"memdash-bench-{os.getpid()}-{i}"
        p.mkdir()
        (p / "memory.limit_in_bytes").write_text(str(512 << 20))
        made.append(p)
    for i, pid in enumerate(pids):
        try:
            (made[i % n] / "cgroup.procs").write_text(str(pid))
        except OSError:
            pass
    return made


def remove_cgroups(groups: list[Path]) -> None:
    for p in groups:
        for _ in range(100):
            try:
                p.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def start_htop() -> tuple[str, int] | None:
    if shutil.which("htop") is None or shutil.which("tmux") is None:
        return None
    sock = f"memdash-bench-{os.getpid()}"
    subprocess.run(["tmux", "-L", sock, "new-session", "-d", "-x", "200", "-y", "50", "htop -d 10"], check=True)
    time.sleep(1.0)
    out = subprocess.run(["tmux", "-L", sock, "list-panes", "-F", "#{pane_pid}"], capture_output=True, text=True)
    shell = int(out.stdout.split()[0])
    return sock, shell


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--refreshes", type=int, default=120, help="refreshes of each kind (default 120)")
    ap.add_argument("--cgroups", type=int, default=40, help="memory cgroups to spread the load over (default 40)")
    ap.add_argument("--blocks", type=int, default=6, help="interleaved blocks (default 6)")
    ap.add_argument("--snapshot", action="store_true",
                    help="also time `memdash snapshot --json --all` under the same load (median of 5)")
    args = ap.parse_args()
    if os.geteuid() != 0 or not (V1 / "memory.usage_in_bytes").exists():
        print("needs root and the cgroup v1 memory controller at /sys/fs/cgroup/memory", file=sys.stderr)
        return 2

    groups: list[Path] = []
    htop: tuple[str, int] | None = None
    with Load() as load:
        try:
            groups = make_cgroups(args.cgroups, load.pids)
            config = Config()
            col = LocalCollector(config, gpu=False, smaps_max_age=LocalCollector.SMAPS_MAX_AGE_SECONDS)
            first = col.poll(detail_top=25)
            total = first.system.total_bytes if first.system else None
            services = ServiceCollector(config.thresholds, total_bytes=total)
            scanner = col._scanner
            assert scanner is not None
            htop = start_htop()
            htop_pid = None
            if htop is not None:
                kids = Path(f"/proc/{htop[1]}/task/{htop[1]}/children").read_text().split()
                htop_pid = int(kids[0]) if kids else htop[1]
            t_refresh = t_services = 0.0
            n_services = 0
            per_block = max(1, args.refreshes // args.blocks)
            wall0 = time.monotonic()
            htop0 = cpu_seconds(htop_pid) if htop_pid else None
            for _ in range(args.blocks):
                for _ in range(per_block):
                    c0 = time.process_time()
                    col.poll(detail_top=25)
                    t_refresh += time.process_time() - c0
                for _ in range(per_block):
                    raw = scanner.scan_raw()
                    c0 = time.process_time()
                    found = services.collect(raw, scanner, time.time(), smaps_max_age=LocalCollector.SMAPS_MAX_AGE_SECONDS)
                    t_services += time.process_time() - c0
                    n_services = len(found)
            wall = time.monotonic() - wall0
            htop_cpu = (cpu_seconds(htop_pid) - htop0) / wall if htop_pid and htop0 is not None else None
            n = per_block * args.blocks
            result = {
                "processes": first.process_count,
                "cgroups": args.cgroups,
                "services": n_services,
                "refresh_ms": round(1000 * t_refresh / n, 2),
                "services_ms": round(1000 * t_services / n, 2),
                "services_over_refresh_percent": round(100 * t_services / t_refresh, 1),
                "htop_ms_per_refresh": round(1000 * htop_cpu, 2) if htop_cpu is not None else None,
            }
            print(f"{result['processes']} processes in {args.cgroups} cgroups, {n_services} services, {n} refreshes each")
            print(f"  refresh (services off)   {result['refresh_ms']:7.2f} ms CPU")
            print(f"  services added           {result['services_ms']:7.2f} ms CPU"
                  f"  = +{result['services_over_refresh_percent']}% of the refresh")
            if htop_cpu is not None:
                print(f"  htop -d 10, same period  {result['htop_ms_per_refresh']:7.2f} ms CPU per 1 s refresh")
            if args.snapshot:
                # with services and with --no-services, interleaved, median of 5 each
                walls: dict[str, list[float]] = {"services": [], "no-services": []}
                for _ in range(5):
                    for label, extra in (("services", []), ("no-services", ["--no-services"])):
                        w0 = time.monotonic()
                        subprocess.run([sys.executable, "-m", "memdash", "snapshot", "--json", "--all", "--no-gpu",
                                        "--no-discover", *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       check=False)
                        walls[label].append(time.monotonic() - w0)
                for label, values in walls.items():
                    values.sort()
                    result[f"snapshot_all_seconds_{label}"] = round(values[2], 3)
                    print(f"  snapshot --json --all {'--no-services' if label != 'services' else '':14}"
                          f" {values[2]:7.3f} s wall (median of 5)")
            out = Path(__file__).parent / "out"
            out.mkdir(exist_ok=True)
            (out / "services.json").write_text(json.dumps(result, indent=2) + "\n")
        finally:
            if htop is not None:
                subprocess.run(["tmux", "-L", htop[0], "kill-server"], check=False)
            load.stop()
            remove_cgroups(groups)
    return 0


if __name__ == "__main__":
    sys.exit(main())
