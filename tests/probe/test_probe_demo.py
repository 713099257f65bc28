"""The demo service: spawned as a child, it serves a probe with real figures."""

from __future__ import annotations

import time

import httpx

from memdash.demo import spawn_demo
from probe_helpers import AUTH, TOKEN, stop_child


def test_spawn_demo_serves_caches_leak_and_cleanup(runtime_dir):
    proc, url = spawn_demo(TOKEN)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert httpx.get(url).status_code == 401  # the token guards it
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            caches = {c["name"]: c for c in httpx.get(url, headers=AUTH).json()["caches"]}
            if caches["lookup_user"]["hits"] and caches["sessions"]["size"]:
                break
            time.sleep(0.2)
        assert caches["lookup_user"]["hits"] > 0 and caches["lookup_user"]["misses"] > 0
        assert caches["sessions"]["size"] > 0
        receipt = httpx.post(url + "cleanup/caches", headers=AUTH).json()
        assert sorted(receipt["caches_cleared"]) == ["lookup_user", "sessions"]
    finally:
        stop_child(proc)
    assert proc.returncode == 0  # SIGTERM stops it cleanly
