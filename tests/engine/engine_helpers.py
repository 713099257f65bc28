"""Real loopback servers and helpers for the engine tests (no screen anywhere)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

from memdash.engine import Engine, Frame

from json_server import JsonServer


class CountingProbe(JsonServer):
    """A loopback HTTP/1.1 server answering every GET with one real probe document
    (``memdash.probe.collect()`` of this process), counting the requests."""

    def __init__(self) -> None:
        from memdash.probe import collect

        super().__init__(collect())

    def count(self) -> int:
        return self.hits


class HungServer:
    """A loopback listener that accepts connections and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.accepted = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self.sock.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self._conns.append(conn)  # held open, never read, never answered

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for c in self._conns:
            c.close()
        self.sock.close()


class Frames:
    """Every frame an engine publishes, collected from its thread."""

    def __init__(self, engine: Engine) -> None:
        self._lock = threading.Lock()
        self._frames: list[Frame] = []
        self.threads: set[str] = set()
        engine.subscribe(self._add)

    def _add(self, frame: Frame) -> None:
        with self._lock:
            self._frames.append(frame)
            self.threads.add(threading.current_thread().name)

    @property
    def all(self) -> list[Frame]:
        with self._lock:
            return list(self._frames)

    @property
    def last(self) -> Frame | None:
        with self._lock:
            return self._frames[-1] if self._frames else None

    def wait(self, predicate: Callable[[Frame], bool], seconds: float = 20.0) -> Frame:
        """The first frame from now on that satisfies ``predicate`` (bounded wait)."""
        deadline = time.monotonic() + seconds
        seen = 0
        while time.monotonic() < deadline:
            frames = self.all
            for f in frames[seen:]:
                if predicate(f):
                    return f
            seen = len(frames)
            time.sleep(0.02)
        raise AssertionError(f"no such frame within {seconds} s (last: {self.last!r})")


def wait_until(predicate: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
