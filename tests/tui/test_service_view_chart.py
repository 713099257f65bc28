"""The service view charts its working set against real time (``-5m`` ... ``now``
from each point's own timestamp), like every other chart, and follows ``[``/``]``."""

from __future__ import annotations

from memdash.history import service_series_key
from memdash.tui.app import MemdashApp
from memdash.tui.scene import NOW, SceneEngine, scene_config, scene_series
from memdash.tui.widgets.memory import HistoryChart
from memdash.tui.widgets.process_table import ProcessTable

CELERY = "cgroup:/system.slice/celery.service"


async def _until(pilot, ready, what: str) -> None:
    for _ in range(1200):  # bounded: 60 s on a loaded box
        if ready():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"no {what}")


async def test_the_service_chart_has_a_time_axis_from_real_timestamps():
    app = MemdashApp(scene_config(), engine=SceneEngine())
    async with app.run_test(size=(120, 40)) as pilot:
        await _until(pilot, lambda: app.frame is not None and app.query_one(ProcessTable).row_count > 0, "frame")
        app.open_service(CELERY)
        await _until(pilot, lambda: app.screen.query("#s-chart") and app.screen.query_one("#s-chart", HistoryChart)
                     .axis.get("ylim") is not None, "service chart")
        chart = app.screen.query_one("#s-chart", HistoryChart)
        assert chart.axis["xlabels"] == ["-5m", "-4m", "-3m", "-2m", "-1m", "now"]
        assert chart.axis["lines"] == ("limit", "warn")  # 100 % and the warning threshold, in range at 79 %
        assert chart.axis["ylabels"][-1].endswith("%")
        # Each point sits at its own time before the frame's clock: the scene's
        # series is a point a second over five minutes, drawn one per column.
        series = scene_series()[service_series_key(CELERY)]
        xs, ys = chart.plotted
        assert -301 <= xs[0] <= -290 and xs[-1] == 0.0
        assert set(xs) <= {t - NOW for t in series.times}
        assert 78 < ys[-1] < 80  # 1.2 G of 1.5 G
        # A shorter window: the axis says so, and only the last minute is drawn.
        await pilot.press("left_square_bracket")
        await _until(pilot, lambda: chart.axis["xlabels"][0] == "-1m", "one-minute axis")
        assert chart.axis["xlabels"][-1] == "now"
        assert min(chart.plotted[0]) >= -60
