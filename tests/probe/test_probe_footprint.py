"""What the embedded probe adds to a host that had loaded nothing: its RSS
budget (+2 MB, ``bench/bench_probe.py --only rss`` measures it) holds only
while it loads no standard-library module beyond the few it cannot do without.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys

from probe_helpers import PYTHON, child_env

#: Run in a fresh interpreter: import the probe, take a snapshot, serve, and
#: (once the test has sent GET / and GET /metrics) print what got loaded.
HOST = r"""
import sys
before = set(sys.modules)
import memdash.probe as probe
probe.collect()
handle = probe.serve()
print(handle.port, flush=True)
sys.stdin.readline()
print(sorted(m for m in set(sys.modules) - before if m.split(".")[0] != "memdash"), flush=True)
"""

#: What the probe cannot do without: a thread that is a threading.Thread (see
#: memdash/probe/server.py), the C modules under socket, select and json,
#: _ctypes for glibc's figures (not the ctypes package), gc (built in), and
#: __future__ (its modules' ``from __future__ import annotations`` loads it).
FLOOR = r"""
import sys
before = set(sys.modules)
import threading, _socket, select, _json, _ctypes, atexit, gc, __future__
print(sorted(set(sys.modules) - before), flush=True)
"""


def _loaded(code: str, runtime_dir: str, serve: bool) -> list[str]:
    proc = subprocess.Popen([PYTHON, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env(runtime_dir))
    try:
        if serve:
            port = int(proc.stdout.readline())
            for path in ("/", "/metrics"):
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                conn.close()
                assert resp.status == 200, path
        out, err = proc.communicate("go\n", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out.strip().splitlines()[-1].replace("'", '"'))


def test_serving_loads_nothing_beyond_the_modules_it_cannot_do_without(runtime_dir: str) -> None:
    loaded = _loaded(HOST, runtime_dir, serve=True)
    floor = _loaded(FLOOR, runtime_dir, serve=False)
    assert "_ctypes" in loaded and "threading" in loaded  # the check sees what the probe loads
    assert sorted(set(loaded) - set(floor)) == []
    # By name, what the budget was cut by: the ctypes package (and struct),
    # namedtuple's collections where threading does not need it (3.13+), json.
    for heavy in ("ctypes", "struct", "json", "socket", "typing"):
        assert heavy not in loaded
    if sys.version_info >= (3, 13):
        assert "collections" not in loaded
