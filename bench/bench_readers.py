"""What reading a page as it is costs (issue 11): the Prometheus reader (runtimes,
exporters, instances, every series up to 2,000) next to prometheus_client's bare
parse of the same page, its peer and floor, in one run.

Pages: the recorded etcd page (Go, 138 lines), the recorded JVM page, a
node_exporter-sized page (~1,600 series), and a 1 MB page cut at the cap.

    python bench/bench_readers.py            # median of 15 runs per page
    python bench/bench_readers.py --runs 5

Prints, per page: series, bare parse ms, memdash read ms, the ratio, extras kept.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from memdash.sources.prom import parse_samples, sample_from_prometheus

DATA = Path(__file__).resolve().parents[1] / "tests" / "remote" / "data"


def node_exporter_like() -> str:
    """~1,600 series shaped like node_exporter's: meminfo, vmstat, per-CPU and per-device labels."""
    lines = []
    for k in ("MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached", "SwapTotal", "SwapFree", "Shmem"):
        lines += [f"# TYPE node_memory_{k}_bytes gauge", f"node_memory_{k}_bytes {1e9:.6e}"]
    for cpu in range(64):
        for mode in ("idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"):
            lines.append(f'node_cpu_seconds_total{{cpu="{cpu}",mode="{mode}"}} {cpu * 1000 + 0.5}')
    for dev in range(60):
        for m in ("reads_completed_total", "writes_completed_total", "read_bytes_total", "written_bytes_total"):
            lines.append(f'node_disk_{m}{{device="sd{dev}"}} {dev * 12345}')
    for i in range(400):
        lines.append(f"node_vmstat_field_{i} {i}")
    lines += ["# TYPE process_resident_memory_bytes gauge", "process_resident_memory_bytes 2.2e+07"]
    return "\n".join(lines) + "\n"


def big_page() -> tuple[str, int]:
    head = (DATA / "go_etcd.prom").read_text()
    body = head + "".join(f'app_requests_total{{route="/r{i}",code="200"}} {i}\n' for i in range(40_000))
    cap = 1024 * 1024
    return body.encode()[:cap].decode(errors="ignore"), cap


def median_ms(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    big, cap = big_page()
    pages = [
        ("etcd (Go)", (DATA / "go_etcd.prom").read_text(), None),
        ("Micrometer (JVM)", (DATA / "jvm_micrometer.prom").read_text(), None),
        ("node_exporter-like", node_exporter_like(), None),
        ("1 MB page, cut at cap", big, cap),
    ]
    print(f"{'page':<24} {'series':>7} {'parse ms':>9} {'read ms':>8} {'ratio':>6} {'extras':>7}")
    for name, text, truncated in pages:
        n = len(parse_samples(text.rsplit("\n", 1)[0] + "\n", "text/plain"))
        bare = median_ms(lambda: parse_samples(text.rsplit("\n", 1)[0] + "\n", "text/plain"), args.runs)
        read = median_ms(lambda: sample_from_prometheus(text, "text/plain", name="b", url="u", now=0.0,
                                                        truncated_at=truncated), args.runs)
        s = sample_from_prometheus(text, "text/plain", name="b", url="u", now=0.0, truncated_at=truncated)
        print(f"{name:<24} {n:>7,} {bare:>9.2f} {read:>8.2f} {read / bare:>6.2f} {len(s.metrics):>7,}")


if __name__ == "__main__":
    main()
