"""A table that fits: rows fill the window, columns drop by priority, r reverses."""

from __future__ import annotations

import dataclasses
import socket

import pytest

from memdash.config import Config, TargetConfig
from memdash.levels import Level
from memdash.model import ProcessMemory
from memdash.tui.widgets.process_table import ProcessTable
from memdash.tui.widgets.targets_table import TargetsTable

from tui_fixtures import MIB, FixedCollector, sample_snapshot

N = 80


def many_processes() -> FixedCollector:
    snap = sample_snapshot()
    rows = tuple(
        ProcessMemory(pid=10_000 + i, ppid=1, name="worker", cmdline=f"/usr/bin/python3 /srv/worker.py --n {i}",
                      user="www", rss_bytes=(i + 1) * MIB, limit_bytes=512 * MIB, percent=(i + 1) / 5.12,
                      level=Level.EXCELLENT)
        for i in range(N)
    )
    return FixedCollector(dataclasses.replace(snap, processes=rows, process_count=N))


def app_with(collector: FixedCollector, **config):
    from memdash.tui.app import MemdashApp

    return MemdashApp(Config(**config), collector=collector, discover=False, poll_targets=bool(config.get("targets")))


async def rows_ready(pilot, table: ProcessTable, want: int | None = None) -> None:
    for _ in range(200):  # bounded
        if table.row_count and (want is None or table.row_count == want):
            return
        await pilot.pause(0.05)


async def test_rows_fill_the_window_at_every_size():
    for size in ((80, 24), (120, 40), (200, 50)):
        app = app_with(many_processes())
        async with app.run_test(size=size) as pilot:
            table = app.query_one(ProcessTable)
            await rows_ready(pilot, table, table.size.height - 1)
            assert table.size.height > 5
            assert table.row_count == table.size.height - 1, size  # no blank line, none hidden that would fit
            assert table.visible_keys() == table._order[: table.size.height - 1]
            await pilot.press("a")
            await rows_ready(pilot, table, N)
            assert table.row_count == N


@pytest.mark.parametrize("top", [5, 25])
async def test_top_in_the_config_file_is_a_maximum(tmp_path, top):
    """``top = 25`` (the old default, written out) caps the rows too; unset, rows fill the window."""
    from memdash.config import load_config
    from memdash.tui.app import MemdashApp

    path = tmp_path / "config.toml"
    path.write_text(f"top = {top}\n", encoding="utf-8")
    config = dataclasses.replace(load_config(str(path)), discover=False)
    app = MemdashApp(config, collector=many_processes(), discover=False, poll_targets=False)
    async with app.run_test(size=(200, 50)) as pilot:
        table = app.query_one(ProcessTable)
        await rows_ready(pilot, table)
        await pilot.pause(0.3)
        assert table.size.height - 1 > 25  # the window has room for more: the cap is what stops them
        assert table.row_count == top
        assert f"top {top}" in str(app.query_one("#procs-title").content)


async def test_r_in_top_mode_shows_the_smallest_in_ascending_order():
    app = app_with(many_processes())
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProcessTable)
        await rows_ready(pilot, table)
        shown = table.size.height - 1
        assert table._order[0] == 10_000 + N - 1  # the largest first
        await pilot.press("r")
        for _ in range(100):  # the next frame holds every process
            if table._order and table._order[0] == 10_000:
                break
            await pilot.pause(0.05)
        assert table._order == [10_000 + i for i in range(shown)]  # the smallest, ascending


async def test_80x24_keeps_each_tables_name_level_and_error():
    with socket.socket() as s:  # a loopback port nobody listens on: the target fails
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/memdash"
    target = TargetConfig(name="api", url=dead, kind="probe", interval=0.5, timeout=1.0)
    app = app_with(FixedCollector(), targets=(target,))
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(200):  # bounded
            if app.frame is not None and app.frame.target("api") is not None:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        targets = app.query_one(TargetsTable)
        keys = [c.key for c in targets.columns]
        assert {"name", "level", "age", "error"} <= set(keys), keys
        procs = [c.key for c in app.query_one(ProcessTable).columns]
        assert {"pid", "rss", "level", "command"} <= set(procs) and "gpu" not in procs, procs
        screen = "\n".join(s.text for s in app.screen._compositor.render_strips())
        error = app.frame.target("api").error
        assert error and error[:20] in screen, screen
        assert "1 of 1 target failing" in screen


async def test_top_mode_never_flashes_a_scrollbar_when_the_window_shrinks():
    """In top mode the rows fit the table, so it has no scrollbar, not even for the
    moment between a resize and the next refit (showing and hiding one re-lays
    out and repaints the whole screen twice); "all" mode scrolls as before."""
    app = app_with(many_processes())
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProcessTable)
        await rows_ready(pilot, table, table.size.height - 1)
        seen = []
        for size in ((120, 30), (120, 24), (120, 40)):
            await pilot.resize_terminal(*size)
            for _ in range(6):  # before and after the rows are refitted
                seen.append(table.show_vertical_scrollbar)
                await pilot.pause(0.02)
            await rows_ready(pilot, table, table.size.height - 1)
            seen.append(table.show_vertical_scrollbar)
        assert not any(seen)
        await pilot.press("a")
        await rows_ready(pilot, table, N)
        await pilot.pause(0.1)
        assert table.show_vertical_scrollbar  # 80 rows in ~20 lines
        await pilot.press("a")
        await rows_ready(pilot, table, table.size.height - 1)
        await pilot.pause(0.1)
        assert not table.show_vertical_scrollbar
