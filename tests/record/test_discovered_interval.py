"""A probe the recorder finds on its Unix socket is polled once per frame, at
the recorder's interval, not at discovery's 2 s default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from memdash.record.store import Store

# A service with the probe on its socket and one tracked "cache" whose stats()
# counts the polls: reads more than 1.5 s apart (one poll may read the caches
# more than once, and on a loaded box its reads were seen over half a second
# apart: 3 "polls" in one 4 s frame), so its hits are the polls. Polls at
# discovery's 2 s default would still each count.
SERVICE = r"""
import sys, time
import memdash.probe as probe

class Polls:
    def __init__(self):
        self.n = 0
        self.last = float("-inf")
    def stats(self):
        now = time.monotonic()
        if now - self.last > 1.5:
            self.n += 1
        self.last = now
        return {"hits": self.n, "misses": 0, "size": 0, "maxsize": 1}
    def clear(self):
        pass

polls = Polls()
probe.track_cache(polls, name="polls")
handle = probe.serve(port=None, unix_socket=True)
print(handle.socket_path, flush=True)
sys.stdin.read()
"""


def _polls(doc: dict) -> int | None:
    for t in doc.get("targets") or []:
        for c in t.get("caches") or []:
            if c.get("name") == "polls":
                return c.get("hits")
    return None


def test_a_discovered_probe_follows_the_recorder_interval(env: dict[str, str], tmp_path: Path) -> None:
    service = subprocess.Popen([sys.executable, "-c", SERVICE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env=env)
    store = tmp_path / "store"
    try:
        assert service.stdout is not None
        assert service.stdout.readline().endswith(".sock\n")
        # Discovery on: the probe is found on its socket, not named on the command line.
        rec = subprocess.run([sys.executable, "-m", "memdash", "record", "--out", str(store), "--interval", "4",
                              "--no-gpu", "--quiet", "--count", "7"], env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=120)
        assert rec.returncode == 0, rec.stderr
    finally:
        service.stdin.close()  # type: ignore[union-attr]
        service.wait(30)
        service.stdout.close()  # type: ignore[union-attr]
    with Store(store) as s:
        docs = [(s.frame(i).t, s.frame(i).snapshot) for i in range(len(s))]
    seen = [(t, _polls(doc)) for t, doc in docs if _polls(doc) is not None]
    # The probe was found and recorded in several frames.
    assert len(seen) >= 4, [d.get("targets") for _, d in docs]
    (t0, first), (t1, last) = seen[0], seen[-1]
    frames_between = len(seen) - 1
    # Polled once per 4 s frame: about one poll per frame between the two (at
    # discovery's 2 s it would be two per frame).
    assert 1 <= last - first <= frames_between + 1, (seen, t1 - t0)
