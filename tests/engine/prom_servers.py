"""Real pre-fork servers (gunicorn, uvicorn) serving ``prom_app`` on loopback."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def vmrss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


@contextlib.contextmanager
def serve(kind: str, workers: int, tmp_path: Path, *, multiproc: bool = False, mb: int = 0) -> Iterator[tuple[str, int]]:
    """Run ``prom_app`` under gunicorn or uvicorn with ``workers`` workers;
    yields (metrics URL, master pid) once every worker is up."""
    port = free_port()
    env = dict(os.environ, PROM_APP_MB=str(mb), PYTHONPATH=HERE)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if multiproc:
        d = tmp_path / "prom-multiproc"
        d.mkdir()
        env["PROMETHEUS_MULTIPROC_DIR"] = str(d)
    if kind == "gunicorn":
        argv = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
                "--chdir", HERE, "--graceful-timeout", "3", "prom_app:app"]
    else:
        argv = [sys.executable, "-m", "uvicorn", "--workers", str(workers), "--host", "127.0.0.1", "--port", str(port),
                "--app-dir", HERE, "--log-level", "warning", "prom_app:asgi"]
    log = open(tmp_path / f"{kind}.log", "w")
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    try:
        wait_for(lambda: _listening(port), 30, f"{kind} to listen")

        def all_workers() -> bool:
            if kind == "gunicorn":
                return len(children(proc.pid)) == workers
            # uvicorn's workers are multiprocessing spawn children (plus a resource tracker)
            return sum("multiprocessing" in _cmdline(c) for c in children(proc.pid)) >= workers
        wait_for(all_workers, 30, f"{workers} {kind} workers")
        time.sleep(1.0)  # workers import the app after they start
        yield f"http://127.0.0.1:{port}/metrics", proc.pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
