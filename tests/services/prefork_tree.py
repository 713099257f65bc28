"""A pre-fork tree for tests: a master forks N workers that each touch M MiB.

Prints ``ready`` once every worker has touched its memory; exits (killing its
workers) when stdin closes.
"""

import os
import sys
import time

workers, mib = int(sys.argv[1]), int(sys.argv[2])
r, w = os.pipe()
kids = []
for _ in range(workers):
    pid = os.fork()
    if pid == 0:
        os.close(r)
        held = b"\x01" * (mib << 20)  # every page written
        os.write(w, b"k")
        while True:
            time.sleep(3600)
    kids.append(pid)
os.close(w)
got = 0
while got < workers:
    got += len(os.read(r, workers))
print("ready", flush=True)
sys.stdin.read()
for k in kids:
    os.kill(k, 9)
