"""Fixtures shared across the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

GC_SERVICE = Path(__file__).parent / "probe" / "gc_service.py"


@dataclass(frozen=True)
class GcService:
    """A running gc_service.py: its probe URL, its token, and the cycles it holds."""

    url: str
    token: str
    cycles: int


@pytest.fixture
def gc_service(tmp_path: Path) -> Iterator[GcService]:
    """A real Python service with GC disabled and ``cycles`` reference cycles
    waiting to be collected, serving the probe on 127.0.0.1 with a token."""
    token = "shared-test-token-5d0c"
    cycles = 20000
    env = dict(os.environ, MEMDASH_PROBE_TOKEN=token, XDG_RUNTIME_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, str(GC_SERVICE), str(cycles)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env, text=True)
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), url
        yield GcService(url=url, token=token, cycles=cycles)
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
