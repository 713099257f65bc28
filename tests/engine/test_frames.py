"""Frames: at most one per refresh however many target samples arrive, each
holding the newest sample of every target; by callback or async iterator;
serialised as strict JSON."""

from __future__ import annotations

import asyncio
import json

from memdash.config import Config, TargetConfig
from memdash.engine import Engine, frame_json

from engine_helpers import Frames


def fast_targets(probe_url: str, n: int) -> tuple[TargetConfig, ...]:
    # Each target polled every 50 ms: twenty samples per target per frame.
    return tuple(TargetConfig(name=f"t{i:02d}", url=probe_url, kind="probe", interval=0.05) for i in range(n))


def test_many_target_samples_make_at_most_one_frame_per_refresh(counting_probe) -> None:
    interval = 0.5
    engine = Engine(Config(interval=interval, targets=fast_targets(counting_probe.url, 5)), gpu=False, discover=False)
    frames = Frames(engine)
    engine.start()
    try:
        frames.wait(lambda f: f.seq >= 8 and len(f.targets) == 5)
    finally:
        engine.close()
    published = frames.all
    samples = counting_probe.count()
    # Dozens of samples arrived between two frames, and were folded into one.
    assert samples > 4 * len(published), (samples, len(published))
    # After the first two (the second poll, for USS/PSS, follows the first at
    # once), frames come no faster than the refresh interval.
    gaps = [b.published - a.published for a, b in zip(published[1:], published[2:])]
    assert gaps and min(gaps) >= 0.9 * interval, gaps
    # Every frame holds each target once, by name, and says which ones changed.
    last = published[-1]
    assert [t.name for t in last.targets] == [f"t{i:02d}" for i in range(5)]
    assert all(t.ok for t in last.targets)
    assert last.changed_targets == {f"t{i:02d}" for i in range(5)}
    assert [f.seq for f in published] == list(range(1, len(published) + 1))
    # Frames are published from the engine's local thread only.
    assert frames.threads == {"memdash-local"}


def test_a_frame_is_strict_json_in_the_snapshot_schema(counting_probe) -> None:
    engine = Engine(Config(targets=fast_targets(counting_probe.url, 1)), gpu=False, discover=False, running=False)
    try:
        frame = engine.poll_once(limit=5)
    finally:
        engine.close()
    doc = json.loads(json.dumps(frame_json(frame, series=True), allow_nan=False))
    assert doc["schema"] == 1 and doc["seq"] == 1
    assert doc["targets"][0]["name"] == "t00" and doc["targets"][0]["ok"] is True
    assert len(doc["processes"]) == 5 and doc["process_count"] >= 5
    assert "system.percent" in doc["series"]
    # The level folds in the target's, as the snapshot's exit status does.
    assert frame.level == max(frame.as_snapshot().level, *(t.level for t in frame.targets))


async def test_frames_by_async_iterator_end_when_the_engine_closes() -> None:
    engine = Engine(Config(interval=0.25), gpu=False, discover=False)
    stream = engine.frames()
    engine.start()
    seqs: list[int] = []

    async def read_three() -> None:
        async for frame in stream:
            seqs.append(frame.seq)
            if len(seqs) == 3:
                return

    try:
        await asyncio.wait_for(read_three(), 30)
    finally:
        await asyncio.to_thread(engine.close)
    assert seqs == [1, 2, 3]

    # A stream whose engine closes ends instead of waiting for ever.
    late = Engine(Config(), gpu=False, discover=False)
    stream = late.frames()
    late.close()

    async def read_all() -> list[object]:
        return [f async for f in stream]

    assert await asyncio.wait_for(read_all(), 10) == []
