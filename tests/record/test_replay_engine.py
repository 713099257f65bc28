"""The replay engine's charts: the box's series from the figures column, a
target's (its view open) from the frames, ten minutes of frames before the cursor."""

from __future__ import annotations

from pathlib import Path

from memdash.record.replay import ReplayEngine
from memdash.record.store import Store, StoreWriter

T0 = 1_764_000_000.0


def test_series_before_the_cursor(tmp_path: Path) -> None:
    with StoreWriter(tmp_path, clock=lambda: T0) as w:
        for i in range(200):
            w.append(T0 + 5 * i, {"level": "good", "host": "h", "system": {"percent": float(i % 100)},
                                  "processes": [], "process_count": 0, "gpus": {"available": False},
                                  "targets": [{"name": "api", "url": "u", "kind": "probe", "ok": True,
                                               "rss_bytes": 1000 * i, "percent": 1.0}]})
    engine = ReplayEngine(Store(tmp_path), T0 + 5 * 150)
    frames = []
    engine.subscribe(frames.append)
    engine.start()
    assert engine.window == 120  # ten minutes at 5 s
    s = frames[-1].series["system.percent"]
    assert list(s.values) == [float(i % 100) for i in range(31, 151)]
    assert s.times[-1] == T0 + 5 * 150
    engine.set_view(series=("target.api.rss", "target.api.percent"))
    rss = frames[-1].series["target.api.rss"]
    assert list(rss.values) == [1000.0 * i for i in range(31, 151)]
    engine.step(1)
    assert frames[-1].series["target.api.rss"].values[-1] == 1000.0 * 151
    assert frames[-1].targets[0].rss_bytes == 1000 * 151
    engine.close()


# -- the whole recording ---------------------------------------------------------

import sqlite3  # noqa: E402
import time  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

from memdash.record.replay import WHOLE_POINTS  # noqa: E402
from tests.record.long_store import API_HIGH, API_LOW, FRAMES, HIGH, LOW, write_long_store  # noqa: E402


@pytest.fixture(scope="module")
def long_store(tmp_path_factory) -> tuple[Path, float, float]:
    work = tmp_path_factory.mktemp("long")
    t0, t_step = write_long_store(work / "store", work, time.time() - 60)
    return work / "store", t0, t_step


def _step_at(times: tuple[float, ...], values: tuple[float, ...], low: float, high: float) -> float:
    """Where the series goes from ``low`` to ``high`` (it must do it once)."""
    assert set(values) == {low, high}
    first_high = values.index(high)
    assert all(v == low for v in values[:first_high]) and all(v == high for v in values[first_high:])
    return times[first_high]


def test_whole_recording_shows_a_step_hours_before_the_end(long_store) -> None:
    path, t0, t_step = long_store
    engine = ReplayEngine(Store(path))  # the cursor on the last frame
    frames = []
    engine.subscribe(frames.append)
    engine.set_view(series=("system.used",))  # what the dashboard's memory chart asks for
    engine.start()
    # Before the cursor: ten minutes, all after the step.
    used = frames[-1].series["system.used"]
    assert len(used.values) == engine.window and set(used.values) == {float(HIGH)}
    engine.set_whole(True)
    used = frames[-1].series["system.used"]
    assert len(used.values) <= WHOLE_POINTS
    assert used.times[0] == pytest.approx(t0) and used.times[-1] == pytest.approx(engine.times[-1])
    # the step, 3 hours before the end, within one point's stretch (8 h / 1000)
    assert _step_at(used.times, used.values, LOW, HIGH) == pytest.approx(t_step, abs=8 * 3600 / WHOLE_POINTS + 5)
    # moving the cursor leaves the whole-recording series as they are
    engine.goto(t0 + 3600)
    assert frames[-1].series["system.used"] == used and frames[-1].time == pytest.approx(t0 + 3600, abs=5)
    # a target's RSS (from keyframes: one every 60 frames) shows its step too
    engine.set_view(series=("target.api.rss",))
    rss = frames[-1].series["target.api.rss"]
    assert FRAMES // 60 - 1 <= len(rss.values) <= WHOLE_POINTS
    assert _step_at(rss.times, rss.values, API_LOW, API_HIGH) == pytest.approx(t_step, abs=60 * 5 + 5)
    engine.set_whole(False)
    assert len(frames[-1].series["target.api.rss"].values) == engine.window
    engine.close()


_MEASURE = """
import json, sys, tracemalloc
from memdash.record.store import Store
with Store(sys.argv[1]) as s:
    # What one decoded frame holds (its size follows the box the frames were
    # recorded on: one row per process kept), measured like the peak below.
    tracemalloc.start()
    kept = [s.frame(i) for i in range(3)]
    one_frame = tracemalloc.get_traced_memory()[0] // len(kept)
    tracemalloc.stop()
    del kept
    s._raws.clear()
    tracemalloc.start()
    series = s.downsampled(["system.used", "system.percent", "target.api.rss"], 500)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"peak": peak, "one_frame": one_frame, "cache": s.CACHE_FRAMES, "raws": len(s._raws),
                      "series": {k: [list(ts), list(vs)] for k, (ts, vs) in series.items()}}))
"""


def test_whole_recording_reads_the_store_in_bounded_memory(long_store) -> None:
    path, _, t_step = long_store
    # In a fresh interpreter: tracemalloc counts every thread's allocations, and
    # threads other tests leave in this process would count against the store.
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    peak, one_frame = got["peak"], got["one_frame"]
    series = {k: tuple(v) for k, v in got["series"].items()}
    assert all(len(ts) <= 500 for ts, _ in series.values())
    assert got["raws"] <= got["cache"]  # decoded frames kept: bounded
    # Bounded by the decoded-frame cache, not by the recording: every frame
    # decoded at once would be FRAMES x one_frame (~60 MB here).
    bound = (got["cache"] + 20) * one_frame + (2 << 20)
    assert bound < FRAMES * one_frame / 4
    assert peak < bound, (peak, one_frame)
    assert _step_at(tuple(series["system.used"][0]), tuple(series["system.used"][1]), LOW, HIGH) == pytest.approx(
        t_step, abs=8 * 3600 / 500 + 5)


def test_a_store_from_before_the_column_had_system_used(long_store, tmp_path: Path) -> None:
    """Frames whose figures column lacks ``system.used`` (recorded before it was
    added) still chart it: from decoded frames, in both zooms."""
    import shutil

    path, _, t_step = long_store
    old = tmp_path / "old"
    shutil.copytree(path, old)
    for shard in old.glob("frames-*.db"):
        db = sqlite3.connect(shard)
        with db:
            db.execute("""UPDATE frames SET figures = json_remove(figures, '$."system.used"')""")
        db.close()
    with Store(old) as s:
        assert all("system.used" not in f for f in s.figures(0, 10).values())
    engine = ReplayEngine(Store(old))
    frames = []
    engine.subscribe(frames.append)
    engine.set_view(series=("system.used",))
    engine.start()
    assert set(frames[-1].series["system.used"].values) == {float(HIGH)}
    assert len(frames[-1].series["system.used"].values) == engine.window
    engine.set_whole(True)
    used = frames[-1].series["system.used"]
    assert _step_at(used.times, used.values, LOW, HIGH) == pytest.approx(t_step, abs=60 * 5 + 5)
    engine.close()
