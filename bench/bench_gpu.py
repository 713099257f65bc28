"""What a GpuSource.poll() adds to a refresh, against the fake libnvidia-ml.so.1.

Builds tests/nvml/fake_nvml.c with gcc (or reuses a build with the same source),
loads it by absolute path before pynvml does (glibc then matches pynvml's
``dlopen("libnvidia-ml.so.1")`` by SONAME), scripts 8 GPUs with 64 processes
each, and prints mean/p50/p99/max milliseconds per poll. Then the cost of a poll
when NVML is unavailable: the library missing (a child process with no fake), the
driver refusing to start (remembered), and a start retried on every poll.

    /work/venv/bin/python bench/bench_gpu.py [--polls 1000] [--devices 8] [--procs 64]

The target is < 5 ms per poll for 8 GPUs x 64 processes.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "nvml" / "fake_nvml.c"
GCC_FLAGS = ["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Wl,-soname,libnvidia-ml.so.1"]


def build_fake() -> Path:
    """The fake library, built once per source version under the temp dir."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    out_dir = Path(tempfile.gettempdir()) / f"memdash-fake-nvml-{digest}"
    lib = out_dir / "libnvidia-ml.so.1"
    if lib.exists():
        return lib
    gcc = shutil.which("gcc")
    if gcc is None:
        sys.exit("bench_gpu: gcc not found; cannot build the fake libnvidia-ml.so.1")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".build-{os.getpid()}.so"
    subprocess.run([gcc, *GCC_FLAGS, "-o", str(tmp), str(SOURCE)], check=True)
    tmp.replace(lib)  # atomic: a concurrent run never loads half a file
    return lib


def script(devices: int, procs: int) -> dict[str, str]:
    """FAKE_NVML_* for ``devices`` GPUs with ``procs`` processes each: 7/8 compute,
    1/8 graphics, a few pids in both lists (the merge path)."""
    graphics_n = max(1, procs // 8)
    compute_n = procs - graphics_n + 2  # 2 pids are in both lists
    compute, graphics = [], []
    for d in range(devices):
        base = 10_000 + d * 1000
        compute.append(",".join(f"{base + i}:{64 + i}" for i in range(compute_n)))
        # two of the graphics pids are also compute pids
        graphics.append(
            ",".join(f"{base + (i if i < 2 else compute_n + i - 2)}:{32 + i}" for i in range(graphics_n))
        )
    return {
        "FAKE_NVML_COUNT": str(devices),
        "FAKE_NVML_NAME": "NVIDIA H100 80GB HBM3 (fake)",
        "FAKE_NVML_TOTAL_MIB": "81559",
        "FAKE_NVML_PROCS": ";".join(compute),
        "FAKE_NVML_GRAPHICS_PROCS": ";".join(graphics),
        "FAKE_NVML_UTIL": "37:12",
        "FAKE_NVML_TEMP": "45",
    }


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Milliseconds for each of ``n`` calls."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def report(label: str, ms: list[float]) -> None:
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(
        f"{label:<44} n={len(ms):<5} mean {statistics.fmean(ms):7.3f} ms  "
        f"p50 {statistics.median(ms):7.3f}  p99 {p99:7.3f}  max {ms[-1]:7.3f}"
    )


def bench_missing(polls: int) -> None:
    """Runs in a child with no libnvidia-ml anywhere: the real 'no driver' path."""
    from memdash.sources.gpu import GpuSource

    t0 = time.perf_counter_ns()
    source = GpuSource()
    status = source.poll()
    first = (time.perf_counter_ns() - t0) / 1e6
    assert not status.available, status
    print(f"{'unavailable: first poll (import pynvml+init)':<44} {first:7.3f} ms  reason: {status.reason}")
    report("unavailable: library missing, remembered", timed(source.poll, polls))
    retrying = GpuSource(retry_seconds=0.0)
    retrying.poll()
    report("unavailable: library missing, retry each poll", timed(retrying.poll, polls))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=1000)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--procs", type=int, default=64, help="processes per device")
    parser.add_argument("--missing", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.missing:
        bench_missing(args.polls)
        return

    lib = build_fake()
    ctypes.CDLL(str(lib))  # before pynvml: its dlopen by SONAME finds this one
    os.environ.update(script(args.devices, args.procs))
    os.environ.pop("FAKE_NVML_INIT_RESULT", None)

    from memdash.sources.gpu import GpuSource, gpu_bytes_by_pid

    t0 = time.perf_counter_ns()
    source = GpuSource()
    status = source.poll()
    first = (time.perf_counter_ns() - t0) / 1e6
    n_procs = sum(len(d.processes) for d in status.devices)
    print(f"python {sys.version.split()[0]}, fake NVML {lib}")
    print(
        f"scripted: {len(status.devices)} GPUs, {n_procs} GPU processes"
        f" ({len(gpu_bytes_by_pid(status))} pids), driver {status.driver}"
    )
    print(f"{'first poll (import pynvml + nvmlInit + read)':<44} {first:7.3f} ms")
    timed(source.poll, 50)  # warm caches before measuring
    report(f"poll, {args.devices} GPUs x {args.procs} procs", timed(source.poll, args.polls))
    report(
        "gpu_bytes_by_pid(status)", timed(lambda: gpu_bytes_by_pid(status), args.polls)
    )
    source.close()

    os.environ["FAKE_NVML_INIT_RESULT"] = "9"  # NVML_ERROR_DRIVER_NOT_LOADED
    refused = GpuSource()
    print(f"{'unavailable: driver not loaded':<44} reason: {refused.poll().reason}")
    report("unavailable: driver not loaded, remembered", timed(refused.poll, args.polls))
    retrying = GpuSource(retry_seconds=0.0)
    report("unavailable: driver not loaded, retry each poll", timed(retrying.poll, args.polls))
    del os.environ["FAKE_NVML_INIT_RESULT"]

    # The library missing altogether: a child process that never sees the fake.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_NVML_")}
    env["LD_LIBRARY_PATH"] = ""
    sys.stdout.flush()
    subprocess.run(
        [sys.executable, __file__, "--missing", "--polls", str(args.polls)], env=env, check=True
    )


if __name__ == "__main__":
    main()
