"""The README's screenshots (docs/screenshots/*.svg) are what the demo scene
draws now: each is rendered again and compared, so a change to the screen that
was not regenerated with ``docs/screenshots.py`` fails here. And at 80x24 the
footer keeps every key a user needs, or help lists it."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.binding import Binding

from memdash.tui.scene import SHOTS, SceneEngine, scene_config, shoot

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.mark.parametrize("name", sorted(SHOTS))
async def test_readme_screenshot_is_current(name):
    view, size = SHOTS[name]
    svg = await shoot(view, size)
    committed = (DOCS / name).read_text(encoding="utf-8")
    assert svg == committed, (f"docs/screenshots/{name} is stale: run .venv/bin/python docs/screenshots.py"
                              " and look at the result")


async def test_the_scene_draws_the_same_screen_twice():
    """Nothing of the machine or the clock leaks in (the comparison above would be flaky)."""
    first = await shoot("target", (100, 30))
    assert await shoot("target", (100, 30)) == first


async def test_at_80x24_every_key_is_in_the_footer_or_the_help():
    from memdash.tui.app import MemdashApp
    from memdash.tui.screens.help import HelpScreen
    from memdash.tui.widgets.footer import KeysFooter
    from memdash.tui.widgets.process_table import ProcessTable

    app = MemdashApp(scene_config(), engine=SceneEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(400):  # bounded
            if app.frame is not None and app.frame.targets and app.query_one(ProcessTable).row_count:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        assert app.selected_target() is not None  # the ◆ celery row: cleanup keys on offer
        footer = app.screen._compositor.render_strips()[-1].text
        # What a user needs first, whole: quit, help, each cleanup on offer, filter, sort, the palette.
        for key, word in (("q", "Quit"), ("?", "Help"), ("g", "GC"), ("c", "Caches"), ("t", "Trim"),
                          ("x", "All"), ("/", "Filter"), ("s", "Sort")):
            assert f"{key} {word}" in footer, footer
        assert "^p palette" in footer
        left_out = app.query_one(KeysFooter).left_out
        assert left_out, "at 80 columns something must give"
        for shown in [w for w in footer.replace("▏", " ").split()]:
            assert shown in {"q", "Quit", "?", "Help", "g", "GC", "c", "Caches", "t", "Trim", "x", "All", "cleanups",
                             "/", "Filter", "s", "Sort", "a", "All/top", "p", "Pause", "+", "Slower", "-", "Faster",
                             "^p", "palette"}, shown  # nothing half drawn
        await pilot.press("question_mark")
        for _ in range(100):  # bounded
            if isinstance(app.screen, HelpScreen):
                break
            await pilot.pause(0.05)
        help_keys = [line.split()[0] for line in str(app.screen.query_one("#help-keys").content).splitlines()]
        shown_bindings = [b for b in app.BINDINGS if isinstance(b, Binding) and b.show]
        for b in shown_bindings:
            display = app.get_key_display(b)
            assert display in help_keys or display in left_out or f"{display} " in footer, display
        for display in left_out:
            assert display in help_keys, display  # what the footer leaves out, help lists
