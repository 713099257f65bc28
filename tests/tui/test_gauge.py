"""The level bar: filled to its percent at any width, whatever the order of
updates (it repaints only when the bar drawn changes)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from memdash.levels import Level
from memdash.tui.widgets.gauge import LevelBar


class BarApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LevelBar()


def drawn(app: App[None]) -> str:
    return "".join(seg.text for seg in app.screen._compositor.render_strips()[0])


async def test_the_bar_shows_each_value_at_each_width() -> None:
    app = BarApp()
    async with app.run_test(size=(20, 3)) as pilot:
        bar = app.query_one(LevelBar)
        assert drawn(app) == "?" + "·" * 19  # nothing yet: unknown
        for percent, filled in ((50.0, 10), (51.0, 10), (52.4, 10), (53.0, 11), (0.0, 0), (100.0, 20), (250.0, 20)):
            bar.set_value(percent, Level.GOOD)
            await pilot.pause()
            assert drawn(app) == "█" * filled + "░" * (20 - filled), percent
        bar.set_value(None, Level.UNKNOWN)
        await pilot.pause()
        assert drawn(app) == "?" + "·" * 19
        bar.set_value(80.0, Level.WARNING)
        await pilot.pause()
        assert drawn(app) == "█" * 16 + "░" * 4
        await pilot.resize_terminal(40, 3)  # wider, same value: redrawn at the new width
        await pilot.pause()
        assert drawn(app) == "█" * 32 + "░" * 8
        bar.set_value(81.0, Level.WARNING)  # 32.4 cells: the same 32
        await pilot.pause()
        assert drawn(app) == "█" * 32 + "░" * 8
        await pilot.resize_terminal(10, 3)
        await pilot.pause()
        bar.set_value(46.0, Level.GOOD)  # 4.6 cells at 10 (14.7 at the old width)
        await pilot.pause()
        assert drawn(app) == "█" * 5 + "░" * 5
        assert bar.has_class(Level.GOOD.css_class) and not bar.has_class(Level.WARNING.css_class)
