"""The store: frames round-trip, seek, shard rollover, retention, locking, damage."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from memdash.record.store import (
    KEYFRAME_EVERY,
    Event,
    Store,
    StoreError,
    StoreLocked,
    StoreWriter,
    list_shards,
    shard_bytes,
)

DAY = 86400.0
T0 = 1_764_000_000.0  # 2025-11-24T16:00:00Z


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _doc(i: int, t: float) -> dict:
    return {
        "schema": 1, "host": "box", "time": f"t{i}", "level": "critical" if i % 7 == 0 else "good",
        "process_count": 500 + i,
        "processes": [{"pid": 1000 + j, "name": f"worker-{j}", "cmdline": f"python -m app --worker {j}",
                       "rss_bytes": (j + 1) * 1_000_000 + i * 4096} for j in range(30)],
        "targets": [], "errors": [],
    }


def _fill(w: StoreWriter, clock: Clock, n: int, step: float = 5.0, start: int = 0) -> list[float]:
    times = []
    for i in range(start, start + n):
        w.append(clock.t, _doc(i, clock.t), {"cgroups": [], "i": i})
        times.append(clock.t)
        clock.t += step
    return times


def test_frames_round_trip_through_keyframes_and_deltas(tmp_path: Path) -> None:
    clock = Clock(T0)
    with StoreWriter(tmp_path, clock=clock) as w:
        times = _fill(w, clock, 2 * KEYFRAME_EVERY + 5)
        w.add_events([Event(t=times[3], kind="cleanup", subject="api", data={"ok": True})])
    with Store(tmp_path) as s:
        assert s.times() == times
        for i in (0, 1, KEYFRAME_EVERY - 1, KEYFRAME_EVERY, KEYFRAME_EVERY + 1, len(times) - 1):
            f = s.frame(i)
            assert f is not None and f.snapshot == _doc(i, times[i]) and f.extra["i"] == i
        # nearest: a time between two frames gives the closer one
        assert s.frame_at(times[10] + 2.0).extra["i"] == 10
        assert s.frame_at(times[10] + 3.0).extra["i"] == 11
        assert s.frame_at(T0 - 1e6).extra["i"] == 0 and s.frame_at(T0 + 1e9).extra["i"] == len(times) - 1
        (e,) = s.events()
        assert (e.kind, e.subject, e.data) == ("cleanup", "api", {"ok": True})
    with sqlite3.connect(list_shards(tmp_path)[0]) as db:
        refs = [r[0] for r in db.execute("SELECT ref FROM frames ORDER BY id")]
        assert refs.count(None) == 3  # one keyframe per KEYFRAME_EVERY frames
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_deltas_are_smaller_than_frames_compressed_alone(tmp_path: Path) -> None:
    clock = Clock(T0)
    with StoreWriter(tmp_path, clock=clock) as w:
        _fill(w, clock, KEYFRAME_EVERY)
    with sqlite3.connect(list_shards(tmp_path)[0]) as db:
        rows = db.execute("SELECT ref, length(data) FROM frames ORDER BY id").fetchall()
    key = rows[0][1]
    deltas = [n for ref, n in rows[1:]]
    assert rows[0][0] is None and max(deltas) < key / 2


def test_restart_appends_to_the_same_shard(tmp_path: Path) -> None:
    clock = Clock(T0)
    with StoreWriter(tmp_path, clock=clock) as w:
        first = _fill(w, clock, 5)
    with StoreWriter(tmp_path, clock=clock) as w:
        second = _fill(w, clock, 5, start=5)
    assert len(list_shards(tmp_path)) == 1
    with Store(tmp_path) as s:
        assert s.times() == first + second
        assert [s.frame(i).extra["i"] for i in range(10)] == list(range(10))


def test_two_writers_refused(tmp_path: Path) -> None:
    w = StoreWriter(tmp_path)
    try:
        with pytest.raises(StoreLocked, match=rf"another recorder \(pid {os.getpid()}\) is already writing to"):
            StoreWriter(tmp_path)
    finally:
        w.close()
    StoreWriter(tmp_path).close()  # free again once the first is closed


def test_a_new_shard_each_utc_day(tmp_path: Path) -> None:
    clock = Clock(T0)
    with StoreWriter(tmp_path, clock=clock) as w:
        _fill(w, clock, 3, step=DAY / 2)
    names = [p.name for p in list_shards(tmp_path)]
    assert len(names) == 2 and names[0].startswith("frames-20251124T16") and names[1].startswith("frames-20251125T")


def test_retention_by_size_deletes_whole_oldest_shards_never_the_newest(tmp_path: Path) -> None:
    clock = Clock(T0)
    max_size = 1 << 20
    with StoreWriter(tmp_path, clock=clock, max_size=max_size) as w:
        for i in range(300):  # ~4 KiB of incompressible bytes a frame
            w.append(clock.t, {"level": "good", "noise": os.urandom(2048).hex()}, {"i": i})
            clock.t += 1.0
        shards = list_shards(tmp_path)
        total = sum(shard_bytes(p) for p in shards)
        newest = w.current_shard
    assert len(shards) >= 2
    assert total <= max_size + w.shard_limit  # at most one shard's worth over, between checks
    assert shards[-1] == newest
    with Store(tmp_path) as s:
        # what is left is a contiguous tail of the recording, ending at the last frame
        idx = [s.frame(i).extra["i"] for i in range(len(s))]
        assert idx == list(range(idx[0], 300)) and idx[0] > 0
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(("-wal", "-shm"))]
    assert all(n.split("-wal")[0].split("-shm")[0] in {p.name for p in shards} for n in leftovers)


def test_retention_by_age_keeps_the_newest_shard_however_old(tmp_path: Path) -> None:
    clock = Clock(T0)
    with StoreWriter(tmp_path, clock=clock, retain=2 * DAY) as w:
        for _ in range(5):
            _fill(w, clock, 2, step=60)
            clock.t += DAY
        assert len(list_shards(tmp_path)) <= 3
        clock.t += 30 * DAY  # the recorder was stopped for a month
        w.enforce_retention()
    shards = list_shards(tmp_path)
    assert len(shards) == 1
    with Store(tmp_path) as s:
        assert len(s) == 2  # the newest shard's frames survive


def test_a_damaged_shard_is_skipped_and_the_rest_reads(tmp_path: Path) -> None:
    clock = Clock(T0)
    with StoreWriter(tmp_path, clock=clock) as w:
        _fill(w, clock, 3, step=DAY)
    victim = list_shards(tmp_path)[0]
    victim.write_bytes(b"this is not a database" * 100)
    with Store(tmp_path) as s:
        assert len(s) == 2 and len(s.errors) == 1 and victim.name in s.errors[0]
    # and a recorder starts on a store whose newest shard is damaged
    list_shards(tmp_path)[-1].write_bytes(b"\0" * 10)
    with StoreWriter(tmp_path, clock=clock) as w:
        _fill(w, clock, 1)
    with Store(tmp_path) as s:
        assert len(s) == 2


def test_strict_json_even_from_a_nan(tmp_path: Path) -> None:
    clock = Clock(T0)
    with StoreWriter(tmp_path, clock=clock) as w:
        w.append(T0, {"level": "good", "x": float("nan"), "y": [float("inf"), 1.5]})
    with Store(tmp_path) as s:
        assert s.frame(0).snapshot == {"level": "good", "x": None, "y": [None, 1.5]}


def test_charted_figures_read_from_their_column(tmp_path: Path) -> None:
    clock = Clock(T0)
    with StoreWriter(tmp_path, clock=clock) as w:
        for i in range(10):
            w.append(T0 + i, {"level": "good", "system": {"percent": 10.0 + i},
                              "gpus": {"devices": [{"index": 0, "uuid": "GPU-1", "percent": 50.5}]},
                              "targets": [{"name": "api", "rss_bytes": 1000 * i, "percent": None}]})
    with Store(tmp_path) as s:
        got = s.figures(2, 4)
    # the box's figures only: a target's are read from the frames, while its view is open
    assert got == {i: {"system.percent": 10.0 + i, "gpu.GPU-1.percent": 50.5} for i in (2, 3, 4)}


def test_a_shard_from_a_newer_memdash_is_named_and_not_written(tmp_path: Path) -> None:
    """A store schema this memdash does not know: readers skip that shard and
    say why; a recorder refuses to append to it (exit 2, one line)."""
    clock = Clock(T0)
    with StoreWriter(tmp_path, clock=clock) as w:
        _fill(w, clock, 2, step=DAY)
    newer = list_shards(tmp_path)[-1]
    db = sqlite3.connect(newer)
    with db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.close()
    with Store(tmp_path) as s:
        assert len(s) == 1 and len(s.errors) == 1
        assert newer.name in s.errors[0] and "newer memdash (store schema 99" in s.errors[0]
    with pytest.raises(StoreError, match="newer memdash"):
        StoreWriter(tmp_path, clock=clock)
    with pytest.raises(StoreError, match="newer memdash"):  # the refusal released the lock
        StoreWriter(tmp_path, clock=clock)
