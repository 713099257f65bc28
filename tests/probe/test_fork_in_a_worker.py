"""A pre-fork worker whose app forks again (``multiprocessing`` with fork, a
subprocess helper): the child lets go of the worker's socket and opens its own,
and the worker's socket keeps answering for the worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from memdash.probe.prefork import unix_request

# The worker: a WSGI front end in pre-fork mode opens <dir>/<pid>.sock. Then it
# forks; the child reports which sockets it holds and whether it has its own
# socket, and waits to be told to exit.
WORKER = r"""
import json, os, sys, time
import memdash.probe as probe
from memdash.probe import discovery, prefork

app = probe.wsgi_app(prefork=True)
mine = discovery.socket_path()
for _ in range(200):  # bounded: the socket opens on the front end's creation
    if os.path.exists(mine):
        break
    time.sleep(0.05)
listener = prefork._worker_server._servers[0].socket.fileno()
inode = os.fstat(listener).st_ino
r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(r)
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            held.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    child_sock = discovery.socket_path()
    for _ in range(200):
        if os.path.exists(child_sock):
            break
        time.sleep(0.05)
    os.write(w, json.dumps({"holds_worker_listener": f"socket:[{inode}]" in held,
                            "own_socket": os.path.exists(child_sock), "child_sock": child_sock}).encode() + b"\n")
    os.close(w)
    sys.stdin.readline()
    os._exit(0)
os.close(w)
with os.fdopen(r) as f:
    report = json.loads(f.readline())
print(json.dumps({"worker": os.getpid(), "child": pid, "worker_sock": mine, **report}), flush=True)
sys.stdin.readline()  # "child may exit"
os.kill(pid, 0)
print("bye child", flush=True)
sys.stdin.readline()
"""


def test_a_fork_inside_a_worker_keeps_the_workers_socket_and_gets_its_own(runtime_dir: str) -> None:
    env = dict(os.environ, MEMDASH_PROBE_PREFORK="1")
    proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        report = json.loads(proc.stdout.readline())
        # The child closed its copy of the worker's listener and listens on its own.
        assert report["holds_worker_listener"] is False
        assert report["own_socket"] is True and report["child_sock"] != report["worker_sock"]
        # The worker's socket still answers, for the worker, while the child lives.
        status, doc = unix_request(report["worker_sock"], "GET", "/", timeout=10)
        assert status == 200 and doc["pid"] == report["worker"]
        status, doc = unix_request(report["child_sock"], "GET", "/", timeout=10)
        assert status == 200 and doc["pid"] == report["child"]
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
