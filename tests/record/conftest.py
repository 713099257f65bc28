"""Running ``memdash record`` as a real subprocess, and the other commands."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.private_dirs import short_private_dir


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """No user config, no token, no probes of other processes to discover: a
    discovery directory of this test's own (a missing one would fall back to the
    shared ``/tmp/memdash-<uid>``)."""
    runtime = short_private_dir()
    e = {k: v for k, v in os.environ.items() if k not in ("MEMDASH_CONFIG", "MEMDASH_DEBUG", "MEMDASH_TOKEN")}
    e["XDG_CONFIG_HOME"] = str(tmp_path / "xdg-config")
    e["XDG_RUNTIME_DIR"] = runtime
    e["XDG_STATE_HOME"] = str(tmp_path / "xdg-state")
    e["COLUMNS"] = "200"
    yield e
    shutil.rmtree(runtime, ignore_errors=True)


def memdash_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "memdash", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


class RecorderProcess:
    """``memdash record --verbose`` in a subprocess; :attr:`stored` counts the frames
    it has said are stored (each line is printed after its commit)."""

    def __init__(self, env: dict[str, str], store: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "memdash", "record", "--out", str(store), "--verbose", "--no-gpu",
             "--no-discover", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, stdin=subprocess.DEVNULL,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self._stored = 0
        self.times: list[float] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _drain(self) -> None:
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return
            if line.startswith("frame "):
                self._stored += 1
                self.times.append(float(line.split()[-1]))

    @property
    def stored(self) -> int:
        """Frames the recorder has said are stored, so far."""
        self._drain()
        return self._stored

    def wait_frames(self, n: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._drain()
            if self.stored >= n:
                return
            if self.proc.poll() is not None:
                time.sleep(0.2)
                self._drain()
                raise AssertionError(f"recorder exited {self.proc.returncode}: {self.proc.stderr.read()}")  # type: ignore[union-attr]
            time.sleep(0.05)
        raise AssertionError(f"only {self.stored} frames in {timeout}s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=timeout)
        time.sleep(0.1)
        self._drain()
        return rc

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()


@pytest.fixture
def recorder(env: dict[str, str]) -> Iterator:
    started: list[RecorderProcess] = []

    def start(store: Path, *args: str) -> RecorderProcess:
        r = RecorderProcess(env, store, *args)
        started.append(r)
        return r

    yield start
    for r in started:
        r.close()
