"""Cleanups go through one engine function: the receipt comes back (and as an
event in the next frame), and the target is polled again at once; History is
written by the engine's local thread alone."""

from __future__ import annotations

import asyncio
import threading

import pytest

from memdash.config import Config, TargetConfig
from memdash.engine import Engine
from memdash.history import History

from engine_helpers import Frames


class WriterLog(History):
    """A real History that notes which thread writes to it."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: set[str] = set()

    def record(self, key, t, value):  # type: ignore[no-untyped-def]
        self.writers.add(threading.current_thread().name)
        super().record(key, t, value)

    def record_processes(self, t, rss_by_pid):  # type: ignore[no-untyped-def]
        self.writers.add(threading.current_thread().name)
        super().record_processes(t, rss_by_pid)


def gc_target(svc, monkeypatch: pytest.MonkeyPatch, interval: float) -> TargetConfig:
    monkeypatch.setenv("MEMDASH_ENGINE_TEST_TOKEN", svc.token)
    return TargetConfig(name="api", url=svc.url, kind="probe", token_env="MEMDASH_ENGINE_TEST_TOKEN", interval=interval)


async def test_cleanup_returns_the_receipt_and_repolls_that_target(gc_service, monkeypatch) -> None:
    # Polled once a minute: any sample after the first comes from the re-poll.
    config = Config(interval=0.3, targets=(gc_target(gc_service, monkeypatch, 60.0),))
    engine = Engine(config, gpu=False, discover=False)
    frames = Frames(engine)
    engine.start()
    try:
        before = await asyncio.to_thread(frames.wait, lambda f: f.target("api") is not None)
        sample = before.target("api")
        assert sample.ok and "gc" in sample.actions
        gen2_before = sample.gc.generations[-1].collections
        result = await engine.cleanup("api", "gc")
        assert result.ok and result.collected >= 2 * gc_service.cycles
        after = await asyncio.to_thread(
            frames.wait, lambda f: f.seq > before.seq and any(e.kind == "cleanup" for e in f.events)
        )
    finally:
        await asyncio.to_thread(engine.close)
    repolled = after.target("api")
    assert repolled.time > sample.time
    # The re-poll shows what the collection did: one more full collection.
    assert repolled.gc.generations[-1].collections > gen2_before
    # The frame that brought the re-polled sample marks the target changed; it
    # is the event's frame or one before it (a local tick can publish between
    # the re-poll's answer and the receipt).
    first_new = next(f for f in frames.all if f.seq > before.seq and f.target("api").time > sample.time)
    assert "api" in first_new.changed_targets and first_new.seq <= after.seq
    (event,) = [e for e in after.events if e.kind == "cleanup"]
    assert event.subject == "api" and event.data["ok"] is True and event.data["collected"] == result.collected


async def test_refused_cleanups_say_why() -> None:
    read_only = Engine(Config(read_only=True), gpu=False, discover=False, running=False)
    result = await read_only.cleanup("api", "gc")
    assert not result.ok and "read-only" in result.error
    read_only.close()
    engine = Engine(Config(), gpu=False, discover=False, running=False)
    assert "no target named 'api'" in (await engine.cleanup("api", "gc")).error
    assert "unknown action" in (await engine.cleanup("api", "reboot")).error
    engine.close()


async def test_history_has_one_writer(gc_service, monkeypatch) -> None:
    history = WriterLog()
    config = Config(interval=0.2, targets=(gc_target(gc_service, monkeypatch, 0.1),))
    engine = Engine(config, gpu=False, discover=False, history=history)
    frames = Frames(engine)
    engine.start()
    try:
        await asyncio.to_thread(frames.wait, lambda f: f.target("api") is not None and f.seq >= 4)
        await engine.cleanup("api", "gc")
        await asyncio.to_thread(frames.wait, lambda f: any(e.kind == "cleanup" for e in f.events))
    finally:
        await asyncio.to_thread(engine.close)
    # Local polls, target samples (scheduled, and the re-poll after the cleanup)
    # were all recorded by the engine's local thread.
    assert history.writers == {"memdash-local"}
    assert len(history.peek("target.api.rss")) >= 3
