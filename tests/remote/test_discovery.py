"""Local probes found through their discovery sockets become pollable targets."""

from __future__ import annotations

import os
import sys

import pytest

from memdash.levels import Thresholds
from memdash.sources.discovery import discover_targets
from memdash.sources.remote import TargetPoller, split_url


async def test_discovered_probe_is_polled(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    probe = pytest.importorskip("memdash.probe")
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    server = probe.serve(port=None, unix_socket=True)
    try:
        targets = discover_targets(interval=1.0)
        mine = [t for t in targets if t.name == f"pid {os.getpid()}"]
        assert len(mine) == 1
        (t,) = mine
        assert t.kind == "probe" and t.url == f"unix:{runtime}/memdash/{os.getpid()}.sock"
        assert discover_targets(exclude_pids=[os.getpid()]) == ()
        async with TargetPoller((), Thresholds()) as poller:
            assert poller.add_targets(targets) == (t.name,)
            assert poller.add_targets(targets) == ()  # already there
            (s,) = await poller.poll_once()
        assert s.ok and s.pid == os.getpid()
    finally:
        server.stop()


def test_without_the_probe_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "memdash.probe.discovery", None)  # import fails
    assert discover_targets() == ()


def test_split_url() -> None:
    assert split_url("unix:/run/a.sock") == ("/run/a.sock", "http://localhost/")
    assert split_url("unix:/run/a.sock:/memdash") == ("/run/a.sock", "http://localhost/memdash")
    assert split_url("http://h:1/x") == (None, "http://h:1/x")
