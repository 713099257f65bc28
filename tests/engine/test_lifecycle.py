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


def test_a_dashboards_targets_start_after_its_first_frame() -> None:
    """Built with ``targets_after_first_frame`` (the dashboard), the engine polls no
    target before its first frame is out, then polls them as usual; a script's
    engine starts them at once."""
    from memdash.config import TargetConfig

    from engine_helpers import CountingProbe, Frames

    probe = CountingProbe()
    try:
        config = Config(interval=0.5, targets=(TargetConfig(name="api", url=probe.url, kind="probe", interval=0.5),))
        engine = Engine(config, gpu=False, discover=False, targets_after_first_frame=True)
        requests_at_first_frame: list[int] = []

        def first(frame) -> None:  # type: ignore[no-untyped-def]
            if frame.seq == 1:
                requests_at_first_frame.append(probe.count())

        engine.subscribe(first)
        frames = Frames(engine)
        engine.start()
        try:
            later = frames.wait(lambda f: f.target("api") is not None and f.target("api").ok)
        finally:
            engine.close()
        assert requests_at_first_frame == [0]
        assert frames.all[0].targets == ()
        assert later.seq > 1 and later.target("api").rss_bytes

        script = Engine(config, gpu=False, discover=False)
        script_frames = Frames(script)
        script.start()
        try:
            assert script._schedule is not None  # the target schedule runs from start() on
            script_frames.wait(lambda f: f.target("api") is not None)
        finally:
            script.close()
    finally:
        probe.close()
