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
