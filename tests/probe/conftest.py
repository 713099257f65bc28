"""Fixtures for the probe's tests: a private runtime dir per test (so no test
touches the real ``$XDG_RUNTIME_DIR``) and a clean cache registry and rate limit."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Iterator

import pytest


@pytest.fixture(autouse=True)
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # Short path under /tmp: a Unix socket path must fit in 108 bytes.
    path = tempfile.mkdtemp(prefix="mdp-", dir="/tmp")
    os.chmod(path, 0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", path)
    for name in ("MEMDASH_PROBE_TOKEN", "MEMDASH_PROBE_MIN_INTERVAL"):
        monkeypatch.delenv(name, raising=False)
    # The test runner is no gunicorn worker; say so rather than rely on detection.
    monkeypatch.setenv("MEMDASH_PROBE_PREFORK", "0")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def clean_probe_state() -> Iterator[None]:
    from memdash.probe.caches import REGISTRY
    from memdash.probe.cleanup import CLEANER

    REGISTRY.untrack_all()
    CLEANER.reset()
    yield
    REGISTRY.untrack_all()
    CLEANER.reset()

