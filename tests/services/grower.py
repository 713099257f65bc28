"""A service whose worker leaks: the parent forks one child that grows by
RATE MiB a second until the kernel kills it; the parent stays, as a service's
master would. Prints the child's pid, then ``start`` when growth begins."""

import os
import sys
import time

rate = float(sys.argv[1])
child = os.fork()
if child == 0:
    held = []
    step = 1 << 20
    t0 = time.monotonic()
    n = 0
    while True:
        due = int((time.monotonic() - t0) * rate)
        while n < due:
            held.append(b"\x01" * step)
            n += 1
        time.sleep(0.02)
print(child, flush=True)
print("start", flush=True)
try:
    os.waitpid(child, 0)
except ChildProcessError:
    pass
sys.stdin.read()
