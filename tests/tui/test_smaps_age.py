"""USS/PSS read earlier than the row's RSS are shown dim, with their age.

smaps_rollup costs milliseconds for a big process, so the dashboard re-reads it
every few seconds while RSS is read every refresh: "RSS 92M USS 113M" from two
moments must not read as one."""

from __future__ import annotations

import dataclasses

from memdash.tui.widgets.process_table import ProcessTable

from tui_fixtures import T0, FixedCollector, sample_snapshot


def collector(stale_pid: int, fresh_pid: int, age: float) -> FixedCollector:
    snap = sample_snapshot()
    rows = tuple(
        dataclasses.replace(p, smaps_time=T0 - age) if p.pid == stale_pid
        else dataclasses.replace(p, smaps_time=T0) if p.pid == fresh_pid else p
        for p in snap.processes
    )
    return FixedCollector(dataclasses.replace(snap, processes=rows))


def cell_styles(table: ProcessTable, row: int, key: str) -> tuple[str, bool]:
    """The text and dimness of column ``key`` in row ``row`` as drawn."""
    x = 0
    for spec, width in zip(table.columns, table._widths_now()):
        if spec.key == key:
            break
        x += width + 1
    strip = table.render_line(row + 1 - int(table.scroll_y))
    text, dim, pos = "", [], 0
    for seg in strip:
        if pos + len(seg.text) > x and pos < x + width:
            text += seg.text
            dim.append(bool(seg.style and seg.style.dim))
        pos += len(seg.text)
    return text.strip(), any(dim)


async def test_an_older_uss_pss_is_dim_with_its_age():
    from memdash.config import Config
    from memdash.tui.app import MemdashApp

    # 4101 (the largest, row 0) has USS/PSS read 7 s before its RSS; 4102 (row 1) with it.
    app = MemdashApp(Config(), collector=collector(4101, 4102, 7.0), discover=False, poll_targets=False)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(ProcessTable)
        for _ in range(200):  # bounded
            if table.row_count:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        assert table._order[:2] == [4101, 4102]
        table.blur()  # the cursor row has its own colours: read both rows plain
        await pilot.pause(0.1)
        assert {"uss", "pss"} <= {c.key for c in table.columns}
        assert cell_styles(table, 0, "uss") == ("120M 7s", True)
        assert cell_styles(table, 0, "pss") == ("131M 7s", True)
        assert cell_styles(table, 0, "rss")[1] is False  # RSS itself is fresh
        assert cell_styles(table, 1, "uss") == ("104M", False)  # read with its RSS: plain
        assert cell_styles(table, 1, "pss") == ("115M", False)


async def test_the_process_view_says_how_much_older_its_uss_pss_are():
    from memdash.config import Config
    from memdash.tui.app import MemdashApp
    from memdash.tui.screens.process import ProcessScreen

    app = MemdashApp(Config(), collector=collector(4101, 4102, 7.0), discover=False, poll_targets=False)
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(200):  # bounded
            if app.frame is not None:
                break
            await pilot.pause(0.05)
        for pid, want, dim in ((4101, "USS 120M  PSS 131M  swap 0B   read 7s before RSS", True),
                               (4102, "USS 104M  PSS 115M  swap 0B   (USS", False)):
            app.open_process(pid)
            for _ in range(100):  # bounded
                if (isinstance(app.screen, ProcessScreen) and app.screen.query("#p-smaps")
                        and str(app.screen.query_one("#p-smaps").content)):
                    break
                await pilot.pause(0.05)
            content = app.screen.query_one("#p-smaps").content
            assert str(content).startswith(want), str(content)
            assert any("dim" in str(span.style) for span in content.spans) is dim
            await pilot.press("escape")
            for _ in range(100):  # bounded
                if not isinstance(app.screen, ProcessScreen):
                    break
                await pilot.pause(0.05)
