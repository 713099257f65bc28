"""The dashboard driven by keys, as a person would, over fixed sample data."""

from __future__ import annotations

import asyncio
import dataclasses

from textual.color import Color

from memdash.config import Config
from memdash.levels import Level
from memdash.tui.screens.help import HelpScreen
from memdash.tui.widgets.header import StatusHeader
from memdash.tui.widgets.process_table import ProcessTable

from tui_fixtures import sample_app


async def wait_for_rows(pilot, n: int | None = None) -> ProcessTable:
    table = pilot.app.query_one(ProcessTable)
    for _ in range(100):  # bounded: 5 s at most
        if pilot.app.frame is not None and table.row_count and (n is None or table.row_count == n):
            break
        await pilot.pause(0.05)
    return table


def pids(table: ProcessTable) -> list[int]:
    return [int(table.row_text(i)[0]) for i in range(table.row_count)]


async def test_first_frame_lists_processes_by_rss():
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = await wait_for_rows(pilot)
        assert pids(table)[:3] == [4101, 4102, 4103]
        assert table.row_text(0)[table._columns.index(next(c for c in table._columns if c.key == "rss"))] == "148M"
        header = app.query_one(StatusHeader)
        assert "web-1" in str(header.query_one("#info").content)
        # 431 MiB of a 512 MiB container limit is 84 %: warning, and the header says so.
        assert "WARNING" in str(header.query_one("#level").content)
        assert header.query_one("#level").has_class("-warning")


async def test_sort_keys_and_header_click():
    app = sample_app()
    async with app.run_test(size=(160, 40)) as pilot:
        table = await wait_for_rows(pilot)
        for _ in range(12):  # cycle until sorted by PID
            if app.sort[0] == "pid":
                break
            await pilot.press("s")
        assert app.sort[0] == "pid"
        await pilot.pause(0.1)
        assert pids(table) == sorted(pids(table))
        await pilot.press("r")
        await pilot.pause(0.1)
        assert pids(table) == sorted(pids(table), reverse=True)
        # Clicking the GROW header sorts by growth, fastest growing first.
        col = next(i for i, c in enumerate(table._columns) if c.key == "growth")
        x = sum(w + 1 for w in table._widths_now()[:col]) + 2
        await pilot.click(ProcessTable, offset=(x, 0))
        await pilot.pause(0.1)
        assert app.sort == ("growth", True)
        assert pids(table)[0] == 4101


async def test_filter_then_clear():
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = await wait_for_rows(pilot)
        await pilot.press("slash", *"celery", "enter")
        await pilot.pause(0.1)
        assert pids(table) == [5200]
        assert "celery" in str(app.query_one("#procs-title").content)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert len(pids(table)) == 8


async def test_top_n_and_show_all():
    app = sample_app(config=Config(top=3, top_set=True))
    async with app.run_test(size=(120, 40)) as pilot:
        table = await wait_for_rows(pilot)
        assert table.row_count == 3
        await pilot.press("a")
        await pilot.pause(0.1)
        assert table.row_count == 8


async def test_pause_stops_polling_and_resume_restarts_it():
    app = sample_app(config=Config(interval=0.25))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("p")
        assert app.query_one(StatusHeader).has_class("-paused")
        await asyncio.sleep(0.3)
        before = app.engine.collector.polls
        await asyncio.sleep(0.8)
        assert app.engine.collector.polls == before
        await pilot.press("p")
        await asyncio.sleep(0.8)
        assert app.engine.collector.polls > before
        assert not app.query_one(StatusHeader).has_class("-paused")


async def test_interval_keys():
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("plus")
        assert app.engine.interval == 2.0
        await pilot.press("minus", "minus")
        assert app.engine.interval == 0.5
        assert "every 0.5s" in str(app.query_one(StatusHeader).query_one("#info").content)


async def test_help_lists_every_binding_and_closes():
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-keys").content)
        for description in ("Quit", "Help", "Pause", "Slower", "Faster", "Filter", "All/top", "Sort", "Reverse sort", "Theme"):
            assert description in text, description
        # Every key once: with no target selected, the cleanup keys say where they work.
        gc_line = next(line for line in text.splitlines() if line.split()[:2] == ["g", "GC"])
        assert "on a ◆/target row" in gc_line
        keys = [line.split()[0] for line in text.splitlines() if line.strip()]
        assert len(keys) == len(set(keys)), keys
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, HelpScreen)


async def test_quit():
    app = sample_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_rows(pilot)
        await pilot.press("q")
        await pilot.pause(0.1)
    assert app.return_code == 0


async def test_level_colours_come_from_the_theme():
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        table = await wait_for_rows(pilot)
        warning = app.get_css_variables()["level-warning"]
        assert table._palette.styles[Level.WARNING].color.triplet.hex.lower() == Color.parse(warning).hex.lower()
        await pilot.press("T")  # next theme
        await pilot.pause(0.2)
        assert app.theme == "memdash-light"
        new_warning = app.get_css_variables()["level-warning"]
        assert new_warning.lower() != warning.lower()
        assert table._palette.styles[Level.WARNING].color.triplet.hex.lower() == Color.parse(new_warning).hex.lower()


async def test_narrow_terminal_drops_wide_columns():
    app = sample_app()
    async with app.run_test(size=(80, 24)) as pilot:
        table = await wait_for_rows(pilot)
        keys = [c.key for c in table._columns]
        assert "pss" not in keys and "user" not in keys
        assert keys[:2] == ["pid", "rss"] and keys[-1] == "command"
    app = sample_app()
    async with app.run_test(size=(200, 50)) as pilot:
        table = await wait_for_rows(pilot)
        assert {"user", "pss", "swap", "gpu"} <= {c.key for c in table._columns}


async def test_tree_key_puts_workers_under_their_master_and_back():
    app = sample_app()
    async with app.run_test(size=(160, 40)) as pilot:
        table = await wait_for_rows(pilot)
        flat = pids(table)
        await pilot.press("w")
        await pilot.pause(0.1)
        # tini is the root; under it its children by RSS; the gunicorn master's workers under the master.
        assert pids(table) == [1, 5200, 4100, 4101, 4102, 4103, 310, 77]
        command = next(i for i, c in enumerate(table._columns) if c.key == "command")
        texts = {pid: table.row_text(i)[command] for i, pid in enumerate(pids(table))}
        assert "tini" in texts[1] and not texts[1].startswith(("└", " "))
        assert texts[4100].startswith("└ ") and "gunicorn" in texts[4100]
        assert texts[4101].startswith("  └ ") and "gunicorn" in texts[4101]
        await pilot.press("w")
        await pilot.pause(0.1)
        assert pids(table) == flat
        assert not table.row_text(0)[command].startswith(("└", " "))
