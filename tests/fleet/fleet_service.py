"""A real service embedding the memdash probe, for the fleet tests.

    python fleet_service.py HOST GROW_BYTES_PER_SECOND CAP_BYTES

Serves the probe on HOST (a free port; MEMDASH_PROBE_TOKEN from the
environment), prints its URL, then, if asked, grows by GROW bytes a second
(pages really touched) until it holds CAP bytes. Exits when stdin closes.
"""

import sys
import threading

from memdash.probe import serve

host, rate, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
server = serve(host=host, port=0)
print(server.url, flush=True)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
held = []
total = 0
step = 0.1
while not done.wait(step):
    if rate and total < cap:
        chunk = b"x" * int(rate * step)  # b"x" * n writes every byte: the pages are really used
        held.append(chunk)
        total += len(chunk)
server.stop()
