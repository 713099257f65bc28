"""A child process for the tests: the GC is disabled, N reference cycles wait
to be collected, and glibc holds freed memory that only a trim returns.

Run as ``python gc_service.py N`` with ``MEMDASH_PROBE_TOKEN`` set; prints the
probe's URL, then serves until stdin closes.
"""

import gc
import sys

gc.disable()  # only an explicit collection (the probe's cleanup) may run

import memdash.probe as probe  # noqa: E402


class Node:
    pass


def make_cycles(n: int) -> None:
    for _ in range(n):
        a, b = Node(), Node()
        a.other, b.other = b, a


def make_trimmable_heap() -> list:
    # 2 KiB bytes objects come from glibc (pymalloc takes <= 512 B); keeping
    # one in 200 scatters survivors so free() alone cannot shrink the heap.
    size = 2048  # a variable, so the compiler cannot fold one shared constant
    data = [b"x" * size for _ in range(20000)]
    keep = data[::200]
    del data
    return keep


if __name__ == "__main__":
    make_cycles(int(sys.argv[1]))
    kept = make_trimmable_heap()
    handle = probe.serve(min_interval=0)
    print(handle.url, flush=True)
    sys.stdin.read()
    handle.stop()
