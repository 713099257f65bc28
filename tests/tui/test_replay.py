"""``memdash replay``: the dashboard over a recording, driven by Pilot: the time
cursor (frames, minutes, events, go to), the timeline and events, no cleanups."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from memdash.config import Config, load_config
from memdash.record.replay import ReplayEngine
from memdash.record.store import Event, Store, StoreWriter

T0 = time.time() - 3600
STEP = 5.0
N = 40
KILL = 25  # the OOM kill happens just before frame 25


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """40 frames, 5 s apart, made from one real poll with the RSS of a 'leaker' row
    growing; an OOM kill and two level changes between them."""
    from memdash.engine import Engine
    from memdash.report import snapshot_json

    engine = Engine(dataclasses.replace(load_config(None), targets=()), gpu=False, discover=False, running=False)
    try:
        doc = snapshot_json(engine.poll_once(limit=10).as_snapshot())
    finally:
        engine.close()
    path = tmp_path_factory.mktemp("replay") / "store"
    with StoreWriter(path, clock=lambda: T0) as w:
        for i in range(N):
            d = dict(doc)
            leaker = dict(d["processes"][0], pid=424242, name="leaker", cmdline="leaker --grow",
                          rss_bytes=(10 + 2 * i) << 20)
            d["processes"] = [leaker, *d["processes"][1:]] if i < KILL else d["processes"][1:]
            d["level"] = "critical" if 20 <= i < KILL else "good"
            w.append(T0 + i * STEP, d, {"cgroups": []})
        w.add_events([
            Event(t=T0 + 20 * STEP, kind="level_change", subject="host", level="critical",
                  data={"from": "good", "to": "critical"}),
            Event(t=T0 + (KILL - 0.5) * STEP, kind="oom_kill", subject="/leak", level="critical",
                  data={"source": "kmsg", "pid": 424242, "name": "leaker", "cgroup": "/leak"}),
            Event(t=T0 + KILL * STEP, kind="level_change", subject="host", level="good",
                  data={"from": "critical", "to": "good"}),
        ])
    return path


def _app(store: Path, at: float | None = None):
    from memdash.tui.replay import ReplayApp

    return ReplayApp(Config(), ReplayEngine(Store(store), at))


def _text(app) -> str:
    return "\n".join(s.text for s in app.screen._compositor.render_strips())


async def _settle(pilot) -> None:
    await pilot.pause(0.2)


async def test_cursor_keys_move_through_the_recording(store: Path) -> None:
    app = _app(store)
    async with app.run_test(size=(150, 50)) as pilot:
        await _settle(pilot)
        r = app.replay
        assert r.index == N - 1 and app.frame is not None and app.frame.time == pytest.approx(T0 + (N - 1) * STEP)
        await pilot.press("left")
        await _settle(pilot)
        assert r.index == N - 2 and app.frame.seq == N - 1
        await pilot.press("shift+left")
        await _settle(pilot)
        assert r.index == N - 2 - 12  # a minute at 5 s a frame
        await pilot.press("shift+right", "right")
        await _settle(pilot)
        assert r.index == N - 1
        # N: back to the previous event (the level going back to good at frame 25),
        # N again: the OOM kill (first frame after it is 25 as well), then the critical start.
        await pilot.press("N")
        await _settle(pilot)
        assert r.index == KILL
        await pilot.press("N")
        await _settle(pilot)
        assert r.index == KILL and "OOM kill: pid 424242 (leaker) in /leak" in _text(app)
        await pilot.press("N")
        await _settle(pilot)
        assert r.index == 20 and app.frame.level.label == "critical"
        await pilot.press("n")
        await _settle(pilot)
        assert r.index == KILL
        # before the kill the leaker is a row, growing; after it, gone
        await pilot.press("left")
        await _settle(pilot)
        rows = {p.pid: p.rss_bytes for p in app.frame.processes}
        assert rows[424242] == (10 + 2 * (KILL - 1)) << 20
        await pilot.press("right")
        await _settle(pilot)
        assert 424242 not in {p.pid for p in app.frame.processes}


async def test_go_to_a_time_and_the_timeline(store: Path) -> None:
    app = _app(store, at=T0)
    async with app.run_test(size=(150, 50)) as pilot:
        await _settle(pilot)
        assert app.replay.index == 0
        await pilot.press("g")
        await _settle(pilot)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(T0 + 10 * STEP + 1))
        await pilot.press(*stamp, "enter")
        await _settle(pilot)
        assert app.replay.index == 10
        text = _text(app)
        assert "REPLAY" in text and f"frame 11/{N}" in text
        timeline = app.query_one("#replay-timeline").content
        top, bar = str(timeline).split("\n")
        assert "▼" in top and "▲" in top and "█" in bar  # the kill, the cursor, the levels
        assert top.index("▲") < top.index("▼")  # the cursor (frame 10) is before the kill (24.5)
        # a bad time is a notification, and the cursor stays
        await pilot.press("g", *"soon", "enter")
        await _settle(pilot)
        assert app.replay.index == 10


async def test_no_cleanup_keys_and_help_lists_the_cursor(store: Path) -> None:
    app = _app(store)
    async with app.run_test(size=(150, 50)) as pilot:
        await _settle(pilot)
        keys = {b.binding.key for b in app.active_bindings.values()}
        assert {"left", "right", "shift+left", "shift+right", "n", "N", "g"} <= keys
        actions = {b.binding.action for b in app.active_bindings.values()}
        assert not any(a.startswith(("cleanup", "toggle_pause", "interval")) for a in actions)
        before = app.replay.index
        await pilot.press("x", "c", "t", "e", "p")
        await _settle(pilot)
        assert app.replay.index == before and app.engine.read_only
        result = await app.engine.cleanup("api", "gc")
        assert not result.ok and "read-only" in result.error
        await pilot.press("question_mark")
        await _settle(pilot)
        assert "next / previous event" in _text(app)


@pytest.fixture(scope="module")
def long_store(tmp_path_factory) -> tuple[Path, float, float]:
    from tests.record.long_store import write_long_store

    work = tmp_path_factory.mktemp("long")
    t_end = time.time() - 60
    t0, t_step = write_long_store(work / "store", work, t_end)
    return work / "store", t0, t_step


async def test_z_charts_the_whole_recording_with_the_cursor_marked(long_store) -> None:
    from tests.record.long_store import HIGH, LOW

    path, t0, t_step = long_store
    app = _app(path)
    async with app.run_test(size=(150, 50)) as pilot:
        await _settle(pilot)
        chart = app.query_one("#mem-chart")
        end = app.replay.times[-1]
        # Before the cursor (the last frame): minutes, all after the step.
        xs, ys = chart.plotted
        assert xs and min(xs) >= -app.chart_window() and set(ys) == {float(HIGH)}
        await pilot.press("z")
        await _settle(pilot)
        assert "charts: whole recording" in _text(app)
        xs, ys = chart.plotted
        # 8 hours back from the recording's end, one point a column at most
        assert min(xs) == pytest.approx(t0 - end, abs=60) and len(xs) <= chart.size.width
        assert chart.axis["xlim"][0] <= t0 - end
        # the step, 3 hours before the end, is in what the chart drew
        first_high = ys.index(float(HIGH))
        assert set(ys[:first_high]) == {float(LOW)} and set(ys[first_high:]) == {float(HIGH)}
        assert xs[first_high] == pytest.approx(t_step - end, abs=8 * 3600 / chart.size.width + 60)
        assert chart.axis["mark"] == pytest.approx(0.0)  # the cursor, at the end
        # go 5 hours back: the mark moves, the chart still spans the recording
        await pilot.press("g")
        await _settle(pilot)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(end - 5 * 3600))
        await pilot.press(*stamp, "enter")
        await _settle(pilot)
        assert chart.axis["mark"] == pytest.approx(-5 * 3600, abs=5)
        assert chart.plotted == (xs, ys)
        # z again: the minutes before the cursor, before the step
        await pilot.press("z")
        await _settle(pilot)
        xs2, ys2 = chart.plotted
        assert min(xs2) >= -app.chart_window() and set(ys2) == {float(LOW)}
        assert chart.axis["mark"] is None
