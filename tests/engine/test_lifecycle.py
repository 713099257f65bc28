"""Closing the engine while its thread scans /proc waits for the scan: nothing
is released under it, and nothing raises (the dashboard quitting mid-scan
used to raise "dictionary changed size during iteration")."""

from __future__ import annotations

import threading

import pytest

from memdash.collector import LocalCollector
from memdash.config import Config
from memdash.engine import Engine


class ScanWatcher(LocalCollector):
    """The real collector; says when a poll starts and whether one is in progress."""

    def __init__(self, config: Config) -> None:
        super().__init__(config, gpu=False)
        self.started = threading.Event()
        self.in_poll = False
        self.closed_during_poll = False

    def poll(self, **kwargs):  # type: ignore[no-untyped-def]
        self.in_poll = True
        self.started.set()
        try:
            return super().poll(**kwargs)
        finally:
            self.in_poll = False

    def close(self) -> None:
        self.closed_during_poll |= self.in_poll
        super().close()


def test_close_while_scanning_waits_and_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    errors: list[BaseException] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    for _ in range(30):
        collector = ScanWatcher(Config(interval=0.25))
        engine = Engine(Config(interval=0.25), collector=collector, discover=False)
        engine.start()
        assert collector.started.wait(20)
        engine.close()  # the first scan of every process is in progress now
        assert not collector.closed_during_poll
        assert not collector.in_poll
        # Everything it held is released: no file descriptor left open.
        assert collector._scanner is None or not collector._scanner._fds
    assert errors == []


def test_close_is_idempotent_and_a_closed_engine_does_not_start() -> None:
    engine = Engine(Config(), gpu=False, discover=False)
    engine.start()
    engine.close()
    engine.close()
    engine.start()
    assert engine._thread is None or not engine._thread.is_alive()
