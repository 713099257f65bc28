"""``memdash demo``: a small service with a probe, to see memdash at work.

The workload, light on CPU (a few hundred operations every 100 ms):

- ``lookup_user``: an ``lru_cache`` with real hits and misses (keys drawn from
  a skewed distribution, so a few hot users and a long tail);
- GC churn: reference cycles created and dropped steadily, so generation 0 and
  1 collect and the pause figures move;
- a slow leak: a tracked "session store" that grows about 1 MB per minute
  until a ``caches`` or ``all`` cleanup clears it.

``python -m memdash.demo --serve-only`` runs the service in the foreground and
prints ``memdash demo service: http://127.0.0.1:PORT/ (pid N)`` as its first
line. :func:`spawn_demo` starts it as a child process for the dashboard.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any

#: Bytes the session store leaks per second: ~1 MB per minute.
LEAK_BYTES_PER_SECOND = 1_000_000 // 60
TICK_SECONDS = 0.1
_URL_LINE = re.compile(r"memdash demo service: (\S+) \(pid (\d+)\)")


@functools.lru_cache(maxsize=256)
def lookup_user(user_id: int) -> dict[str, Any]:
    """A pretend database read; cached."""
    return {"id": user_id, "name": f"user-{user_id}", "roles": ["reader"] * (user_id % 4 + 1)}


class SessionStore:
    """A cache that is never bounded: the classic slow leak."""

    def __init__(self) -> None:
        self._sessions: list[bytes] = []
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def add(self, nbytes: int) -> None:
        with self._lock:
            # Chunks over 512 B come from glibc, so a clear plus a trim really
            # returns them to the OS.
            self._sessions.extend(os.urandom(1024) for _ in range(max(1, nbytes // 1024)))
            self.misses += 1

    def stats(self) -> dict[str, int | None]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "size": len(self._sessions), "maxsize": None,
                    "size_bytes": 1024 * len(self._sessions)}

    def clear(self) -> None:
        with self._lock:
            self._sessions = []


class _Node:
    __slots__ = ("other", "payload", "__weakref__")
    other: _Node
    payload: list[int]


def _churn(n: int) -> None:
    for _ in range(n):
        a, b = _Node(), _Node()
        a.other, b.other, a.payload = b, a, [0] * 8


def _workload(stop: threading.Event, store: SessionStore) -> None:
    rng = random.Random(42)
    leak_carry = 0.0
    while not stop.wait(TICK_SECONDS):
        for _ in range(200):
            lookup_user(int(rng.paretovariate(1.2)) % 2000)  # skewed: hot head, long tail
        store.hits += 1
        _churn(300)
        leak_carry += LEAK_BYTES_PER_SECOND * TICK_SECONDS
        if leak_carry >= 1024:
            store.add(int(leak_carry))
            leak_carry -= int(leak_carry) // 1024 * 1024


def serve_demo(token: str | None = None) -> int:
    """Run the demo service in the foreground until Ctrl-C or SIGTERM."""
    from memdash.probe import serve, track_cache

    store = SessionStore()
    track_cache(lookup_user, name="lookup_user")
    track_cache(store, name="sessions")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    handle = serve(host="127.0.0.1", port=0, token=token)
    print(f"memdash demo service: {handle.url} (pid {os.getpid()})", flush=True)
    # The workload runs on the main thread: the probe's server thread is the
    # only thread the demo adds, as in a real embedding.
    try:
        _workload(stop, store)
    except KeyboardInterrupt:
        pass
    finally:
        handle.stop()
    return 0


def _ready(url: str, token: str, deadline: float) -> bool:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(request, timeout=2) as resp:
                if resp.status == 200 and json.load(resp).get("probe") == "memdash.probe":
                    return True
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.1)
    return False


def spawn_demo(token: str, timeout: float = 15.0) -> tuple[subprocess.Popen, str]:
    """Start the demo service as a child process; returns ``(process, url)``
    once the probe answers. The token travels in ``MEMDASH_PROBE_TOKEN``,
    never on the command line. The caller stops the process (terminate())."""
    env = dict(os.environ, MEMDASH_PROBE_TOKEN=token)
    proc = subprocess.Popen([sys.executable, "-m", "memdash.demo", "--serve-only"], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    url = None
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while url is None and time.monotonic() < deadline and proc.poll() is None:
            if sel.select(timeout=0.1):
                match = _URL_LINE.search(proc.stdout.readline())
                if match:
                    url = match.group(1)
    try:
        if url is None or not _ready(url, token, deadline):
            raise RuntimeError(f"the demo service did not start within {timeout:g} s")
    except BaseException:  # Ctrl-C while it starts too: never leave the child behind
        stop_demo(proc)
        raise
    return proc, url


def stop_demo(proc: subprocess.Popen) -> None:
    """Stop the demo service: SIGTERM, then SIGKILL after 5 s."""
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    """``memdash demo``: ``--serve-only`` runs the service here; without it,
    start it as a child and print how to watch it."""
    parser = argparse.ArgumentParser(prog="memdash demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve-only", action="store_true",
                        help="run the demo service in the foreground (token from MEMDASH_PROBE_TOKEN)")
    args = parser.parse_args(argv)
    if args.serve_only:
        return serve_demo(os.environ.get("MEMDASH_PROBE_TOKEN") or None)
    token = secrets.token_urlsafe(24)
    token_file = write_token_file(token)
    try:
        proc, url = spawn_demo(token)
        # A Ctrl-C may come at any moment from here on (even between two prints):
        # whenever it does, the child is stopped and the token file removed.
        try:
            print(f"demo service running at {url} (pid {proc.pid}); Ctrl-C stops it", flush=True)
            # Where the token is, never the token: terminals are logged, shared and scrolled back.
            print(f"its token is in {token_file} (mode 0600, removed when the demo stops) and in the child's "
                  "MEMDASH_PROBE_TOKEN; to watch it:", flush=True)
            print(f"  MEMDASH_TOKEN=\"$(cat {token_file})\" memdash {url}", flush=True)
            proc.wait()
        finally:
            stop_demo(proc)
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(os.path.dirname(token_file), ignore_errors=True)
    return 0


def write_token_file(token: str) -> str:
    """Write ``token`` to a new file only this user can read (in a 0700
    directory of its own); returns its path. The caller removes the directory."""
    directory = tempfile.mkdtemp(prefix="memdash-demo-")  # 0700
    path = os.path.join(directory, "token")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return path


if __name__ == "__main__":
    raise SystemExit(main())
