"""The GPU check that needs a real NVIDIA GPU, torch and CUDA (docs/gpu.md).

This process plays the service: it allocates 2 GiB with torch, embeds the probe
(``memdash.probe.serve(unix_socket=True)``) and then asks memdash, as a user
would, from the command line:

1. ``memdash snapshot --json unix:<socket>``: the GPU, this process's NVML bytes
   (``processes[].gpu_bytes``) and torch's allocated/reserved (``targets[].gpu``);
2. ``del`` the tensor: allocated drops, reserved stays (the caching allocator
   keeps the block);
3. ``memdash cleanup unix:<socket> cuda --yes --json``: ``torch.cuda.empty_cache()``
   in this process; reserved drops, and so does NVML's figure for this pid.

    python bench/gpu_real_check.py [--gib 2]

Exits 0 with "skipped: no CUDA ..." where torch or CUDA is missing, 1 when a
check fails, 0 when all pass.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

GIB = 1 << 30


def human(n: int | None) -> str:
    return "n/a" if n is None else f"{n / GIB:.2f} GiB"


def memdash(*args: str) -> dict[str, Any]:
    """Run ``memdash ARGS --json`` in a child and parse its output."""
    cmd = [sys.executable, "-m", "memdash", *args, "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if not out.stdout.strip():
        sys.exit(f"FAIL: {' '.join(cmd)} printed nothing (exit {out.returncode}): {out.stderr}")
    return json.loads(out.stdout)


def look(url: str, label: str) -> dict[str, int | None]:
    """One snapshot, reduced to the figures this check compares; printed."""
    doc = memdash("snapshot", "--all", "--no-discover", url)
    gpus = doc["gpus"]
    if not gpus["available"]:
        sys.exit(f"FAIL: memdash sees no GPU: {gpus['reason']}")
    row = next((p for p in doc["processes"] if p["pid"] == os.getpid()), None)
    target = next((t for t in doc["targets"] if t["pid"] == os.getpid()), None)
    torch_dev = (target or {}).get("gpu") or [{}]
    dev = gpus["devices"][0]
    figures = {
        "nvml_process": row.get("gpu_bytes") if row else None,
        "allocated": torch_dev[0].get("allocated_bytes"),
        "reserved": torch_dev[0].get("reserved_bytes"),
    }
    print(
        f"{label:<18} GPU {dev['index']} {dev['name']}: {human(dev['used_bytes'])} used"
        f" of {human(dev['total_bytes'])} | this pid (NVML) {human(figures['nvml_process'])}"
        f" | torch allocated {human(figures['allocated'])}, reserved {human(figures['reserved'])}"
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description="memdash on a real GPU: NVML + probe + cleanup")
    parser.add_argument("--gib", type=float, default=2.0, help="GiB to allocate (default 2)")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        print("skipped: no CUDA (torch is not installed)")
        return 0
    if not torch.cuda.is_available():
        print("skipped: no CUDA (torch.cuda.is_available() is False)")
        return 0

    from memdash.probe import serve

    size = int(args.gib * GIB)
    x = torch.empty(size, dtype=torch.uint8, device="cuda")
    torch.cuda.synchronize()
    server = serve(port=None, unix_socket=True)
    url = f"unix:{server.socket_path}"
    print(f"pid {os.getpid()}, probe {url}, allocated {human(size)} on {torch.cuda.get_device_name(0)}")
    failures: list[str] = []
    try:
        before = look(url, "after allocation")
        if (before["allocated"] or 0) < size:
            failures.append("torch allocated bytes below the allocation")
        if (before["nvml_process"] or 0) < size:
            failures.append("NVML bytes for this pid below the allocation")

        del x  # allocated drops; the caching allocator keeps the block reserved
        kept = look(url, "after del")
        if (kept["reserved"] or 0) < size:
            failures.append("reserved dropped before empty_cache (unexpected)")

        result = memdash("cleanup", url, "cuda", "--yes")
        print(
            f"{'cleanup cuda':<18} ok={result['ok']} reserved"
            f" {human(result['gpu_reserved_before_bytes'])} -> {human(result['gpu_reserved_after_bytes'])}"
        )
        after = look(url, "after cleanup")
        if not result["ok"]:
            failures.append(f"cleanup failed: {result['error']}")
        if (after["reserved"] or 0) > (kept["reserved"] or 0) - size:
            failures.append("reserved did not drop by the freed tensor after cleanup cuda")
        if after["nvml_process"] is not None and before["nvml_process"] is not None:
            if after["nvml_process"] > before["nvml_process"] - size // 2:
                failures.append("NVML bytes for this pid did not drop after cleanup cuda")
    finally:
        server.stop()
    for failure in failures:
        print(f"FAIL: {failure}")
    print("ok" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
