"""Charts answer "is it leaking?": bytes with units, real time, limit lines, a window."""

from __future__ import annotations

import time

import pytest
from textual.app import App, ComposeResult

from memdash.tui.widgets.chart import rates_per_minute, time_label, time_ticks, value_range, value_ticks
from memdash.tui.widgets.memory import HistoryChart
from memdash.units import human_bytes

from tui_fixtures import LIMIT, MIB, T0, sample_app


def test_time_labels_read_as_time_before_now() -> None:
    assert [time_label(s) for s in (0, -30, -60, -300, -90, -3600, -5400)] == ["now", "-30s", "-1m", "-5m", "-1.5m", "-1h", "-1.5h"]
    assert time_ticks(300) == [-300, -240, -180, -120, -60, 0]
    assert time_ticks(60)[0] == -60 and time_ticks(3600)[0] == -3600


def test_a_small_service_is_not_drawn_flat_under_a_huge_limit() -> None:
    # 23 MB leaking 1 MB a minute, against 24 GB of RAM: the range hugs the data.
    values = [23 * MIB + i * MIB / 60 for i in range(300)]
    lo, hi, lines = value_range(values, "bytes", [24 * 1024 * MIB])
    assert lines == ()
    assert lo >= 15 * MIB and hi <= 35 * MIB
    labels = [human_bytes(v) for v in value_ticks(lo, hi, "bytes")]
    assert len(labels) >= 2 and all(label.endswith("M") for label in labels), labels
    # Near the limit, the limit is drawn.
    lo, hi, lines = value_range([400 * MIB, 430 * MIB], "bytes", [512 * MIB, 384 * MIB])
    assert lines == (512 * MIB, 384 * MIB) and lo <= 384 * MIB and hi >= 512 * MIB


def test_rates_per_minute_from_a_counter() -> None:
    xs, ys = rates_per_minute([0, 10, 20, 30], [100, 110, 130, 5])  # a restart at the end
    assert xs == [10, 20] and ys == [60.0, 120.0]


async def _chart_ready(pilot) -> HistoryChart:
    chart = pilot.app.query_one("#mem-chart", HistoryChart)
    for _ in range(200):  # bounded
        if chart.plotted[0]:
            return chart
        await pilot.pause(0.05)
    return chart


async def test_the_memory_chart_is_in_bytes_with_the_limit_and_warning_lines() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        chart = await _chart_ready(pilot)
        xs, ys = chart.plotted
        assert xs == [float(-12 + i) for i in range(12)]  # each point's own time before now
        assert ys[-1] == pytest.approx(0.84 * LIMIT)
        assert chart.axis["lines"] == ("limit", "warn")
        assert "512M" in chart.axis["ylabels"] and chart.axis["xlabels"][-1] == "now"


async def test_a_new_interval_keeps_the_time_axis_true(monkeypatch) -> None:
    monkeypatch.setattr(HistoryChart, "MIN_REDRAW_SECONDS", 0.0)
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        chart = await _chart_ready(pilot)
        before = list(chart.plotted[0])
        seq = app.frame.seq
        await pilot.press("plus", "plus")  # 1 s -> 2 s -> 5 s
        assert app.engine.interval == 5.0
        app.engine.refresh_now()
        for _ in range(200):  # bounded: the next frame
            if app.frame.seq > seq:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        # The points are where they were taken: 12 s ago is still -12 s, not -60 s.
        assert chart.plotted[0] == before == [float(-12 + i) for i in range(12)]
        assert chart.axis["xlim"] == (-300.0, 0)


async def test_window_keys_step_within_what_history_keeps() -> None:
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        chart = await _chart_ready(pilot)
        assert chart.axis["xlim"] == (-300.0, 0)
        await pilot.press("left_square_bracket")
        await pilot.pause(0.2)
        assert app.chart_window() == 60.0 and chart.axis["xlim"] == (-60.0, 0) and "-30s" in chart.axis["xlabels"]
        await pilot.press("right_square_bracket", "right_square_bracket", "right_square_bracket")
        await pilot.pause(0.2)
        # 600 points at 1 s keep 10 minutes: 15 min and 1 h are not offered.
        assert app.chart_window() == 300.0
        await pilot.press("plus", "plus", "plus")  # 10 s: 100 minutes kept
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.pause(0.2)
        assert app.chart_window() == 3600.0 and chart.axis["xlabels"][0] == "-1h"


class _OneChart(App[None]):
    def compose(self) -> ComposeResult:
        yield HistoryChart("RSS", id="chart")


async def test_the_first_samples_are_drawn_at_once_not_after_the_redraw_pause() -> None:
    # A view opens with no samples yet; its first samples come a frame later,
    # well within MIN_REDRAW_SECONDS: they are drawn then, with their axis, not
    # seconds later ("no samples" stayed up for 5 s; the process view's test saw it).
    app = _OneChart()
    async with app.run_test(size=(80, 20)) as pilot:
        chart = app.query_one(HistoryChart)
        for _ in range(200):  # bounded: laid out
            if chart.size.width:
                break
            await pilot.pause(0.05)
        now = time.time()
        chart.plot([], [], now=now, window=60.0)
        assert chart.plotted == ([], []) and chart.axis["ylabels"] == []
        chart.plot([now - 1.0], [100 * MIB], now=now, window=60.0)
        assert chart.plotted == ([-1.0], [100 * MIB])
        assert chart.axis["ylabels"] and all(label.endswith("M") for label in chart.axis["ylabels"])
        chart.plot([], [], now=now + 120, window=60.0)  # every sample aged out of the window: said at once too
        assert chart.plotted == ([], [])
