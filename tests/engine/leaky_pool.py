"""A pre-fork Python service with memdash.probe in its master that leaks: each
half second it keeps 4 MiB more, then runs a full collection, so its RSS grows
after every GC. Prints the probe's URL; exits when stdin closes."""

import gc
import multiprocessing as mp
import sys
import threading
import time

import memdash.probe as probe


def hold(_):
    time.sleep(0.1)
    return 1


def leak(kept: list) -> None:
    while True:
        block = bytearray(4 << 20)
        block[::4096] = b"x" * len(range(0, len(block), 4096))
        kept.append(block)
        gc.collect()
        time.sleep(0.5)


if __name__ == "__main__":
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        pool.map(hold, range(2))
        handle = probe.serve(min_interval=0)
        kept: list = []
        threading.Thread(target=leak, args=(kept,), daemon=True).start()
        print(handle.url, flush=True)
        sys.stdin.read()
