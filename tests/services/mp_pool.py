"""A multiprocessing pool (start method from argv) whose workers wait; prints ``ready``
once they have all started, exits when stdin closes."""

import multiprocessing as mp
import sys
import time


def hold(_):
    time.sleep(0.2)
    return 1


if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    with ctx.Pool(int(sys.argv[2])) as pool:
        pool.map(hold, range(int(sys.argv[2])))
        print("ready", flush=True)
        sys.stdin.read()
