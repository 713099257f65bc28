"""The look of the main screen, over fixed sample data."""

from __future__ import annotations

from tui_fixtures import sample_app


async def _ready(pilot) -> None:
    from memdash.tui.widgets.memory import HistoryChart
    from memdash.tui.widgets.process_table import ProcessTable

    app = pilot.app
    for _ in range(200):  # bounded: 10 s, for a loaded CI machine
        if app.frame is not None and app.query_one(ProcessTable).row_count and app.query_one(HistoryChart)._last:
            break
        await pilot.pause(0.05)
    await pilot.wait_for_scheduled_animations()
    await pilot.pause(0.3)


def test_main_screen_80x24(snap_compare):
    assert snap_compare(sample_app(), terminal_size=(80, 24), run_before=_ready)


def test_main_screen_160x50(snap_compare):
    assert snap_compare(sample_app(), terminal_size=(160, 50), run_before=_ready)


def test_main_screen_light_theme_120x40(snap_compare):
    from memdash.config import Config

    assert snap_compare(sample_app(config=Config(theme="memdash-light")), terminal_size=(120, 40), run_before=_ready)


def test_help_screen_80x24(snap_compare):
    async def run_before(pilot) -> None:
        await _ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.2)

    assert snap_compare(sample_app(), terminal_size=(80, 24), run_before=run_before)
