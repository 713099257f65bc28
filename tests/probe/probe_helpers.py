"""Helpers shared by the probe's tests: real child processes, bounded waits.

Imported as ``probe_helpers`` (pytest puts this directory on ``sys.path``);
named so it cannot clash with another directory's conftest or helpers.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = sys.executable
TOKEN = "tok-7f3a9c1e-memdash-test-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def child_env(runtime_dir: str, **extra: str) -> dict[str, str]:
    """The environment for a child process: this one, our runtime dir, extras."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMDASH_PROBE_")}
    env["XDG_RUNTIME_DIR"] = runtime_dir
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def read_line(proc: subprocess.Popen, timeout: float = 20.0) -> str:
    """The child's next stdout line, waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=0.1):
                line = proc.stdout.readline()
                if line:
                    return line.strip()
                break
            if proc.poll() is not None:
                break
    err = proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
    raise AssertionError(f"child printed no line within {timeout} s (rc={proc.poll()}): {err[-2000:]}")


def stop_child(proc: subprocess.Popen) -> None:
    """Terminate a child we started, bounded; kill it if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream:
            stream.close()
