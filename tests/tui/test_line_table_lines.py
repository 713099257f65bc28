"""LineTable's drawn lines: exactly the table's width, each cell in its column and
colour, whatever the text (ASCII, wide characters, control bytes, too long)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from memdash.levels import Level
from memdash.tui.palette import LevelPalette
from memdash.tui.widgets.line_table import ColumnSpec, LineTable

WIDTH = 60
SPECS = [ColumnSpec("pid", "PID", 7), ColumnSpec("lvl", "LVL", 5, left=True), ColumnSpec("name", "NAME", 0, left=True)]
ROWS = [
    (1, (("1234", Level.UNKNOWN), ("ok", Level.EXCELLENT), ("python worker.py", Level.UNKNOWN))),
    (2, (("77", Level.UNKNOWN), ("crit", Level.CRITICAL), ("日本語のサービス", Level.UNKNOWN))),  # two cells a character
    (3, (("5", Level.UNKNOWN), ("warn", Level.WARNING, True), ("bad\x1b[31mred\tname" * 6, Level.UNKNOWN))),
]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LineTable(id="t")

    def on_mount(self) -> None:
        table = self.query_one(LineTable)
        table.set_columns(SPECS)
        table.set_rows(ROWS, LevelPalette())


async def sized_table(app, pilot) -> LineTable:
    """The app's table, once it has its width."""
    table = app.query_one(LineTable)
    for _ in range(100):  # bounded
        if table.size.width == WIDTH:
            break
        await pilot.pause(0.02)
    return table


def cells_of(strip) -> list[tuple[str, object]]:
    """One (character, style) per character drawn."""
    return [(ch, seg.style) for seg in strip for ch in seg.text]


async def test_lines_are_the_tables_width_with_each_cell_in_place() -> None:
    app = TableApp()
    async with app.run_test(size=(WIDTH, 10)) as pilot:
        table = await sized_table(app, pilot)
        table.cursor_row = 2  # the cursor away from the rows checked for colour
        lines = [table.render_line(y) for y in range(4)]
        for strip in lines:
            assert strip.cell_length == WIDTH
        texts = ["".join(seg.text for seg in strip) for strip in lines]
        assert texts[0].startswith("    PID LVL   NAME")
        assert texts[1].startswith("   1234 ok    python worker.py ")
        assert texts[1] == texts[1].rstrip().ljust(WIDTH)
        assert texts[2].startswith("     77 crit  日本語のサービス")  # 16 cells of wide text, then padding
        assert "\x1b" not in texts[3] and "\t" not in texts[3] and texts[3].rstrip().endswith("…")
        palette = LevelPalette()
        row1 = cells_of(lines[1])
        assert row1[7 + 1][1] == table.rich_style + palette.styles[Level.EXCELLENT]  # "ok" in its level colour
        assert row1[0][1] == table.rich_style  # a plain cell in the row style
        row2 = cells_of(lines[2])
        assert row2[8][1] == table.rich_style + palette.styles[Level.CRITICAL]


def screen_text(app: App[None]) -> list[str]:
    return ["".join(seg.text for seg in strip).rstrip() for strip in app.screen._compositor.render_strips()]


async def test_a_fitted_table_shows_each_new_set_of_rows_and_its_cells() -> None:
    """A table sized by its container, without a scrollbar (the process table's
    "top" mode) takes a new row count without laying out the screen: the lines
    drawn are still exactly the rows given, changed cells and all."""
    app = TableApp()
    async with app.run_test(size=(WIDTH, 10)) as pilot:
        table = app.query_one(LineTable)
        table.styles.overflow_y = "hidden"
        palette = LevelPalette()

        def rows(n: int, tag: str) -> list:
            return [(i, ((str(i), Level.UNKNOWN), ("ok", Level.EXCELLENT), (f"{tag}-{i}", Level.UNKNOWN)))
                    for i in range(1, n + 1)]

        for n, tag in ((9, "a"), (4, "b"), (7, "c"), (7, "d"), (2, "e"), (9, "f")):
            table.set_rows(rows(n, tag), palette)
            await pilot.pause()
            lines = screen_text(app)
            assert lines[0].startswith("    PID LVL   NAME")
            shown = [line.split() for line in lines[1:] if line]
            assert shown == [[str(i), "ok", f"{tag}-{i}"] for i in range(1, n + 1)], (n, tag)
            assert table.virtual_size.height == n + 1 and table.scroll_y == 0


async def test_lines_drawn_are_what_textuals_styles_cache_draws(monkeypatch) -> None:
    """The table hands the compositor its own strips (with the app's line
    filters) instead of re-styling each line through Textual's styles cache:
    the same segments come out, in colour and under NO_COLOR, with and without
    focus, cropped or not."""
    from textual.geometry import Region
    from textual.scroll_view import ScrollView

    for no_color in (False, True):
        if no_color:
            monkeypatch.setenv("NO_COLOR", "1")
        app = TableApp()
        async with app.run_test(size=(WIDTH, 10)) as pilot:
            table = await sized_table(app, pilot)
            table.styles.overflow_y = "hidden"
            await pilot.pause()
            assert table._bare()
            for focused in (True, False):
                table.focus() if focused else table.blur()
                await pilot.pause()
                for crop in (Region(0, 0, WIDTH, 6), Region(3, 1, 20, 3)):
                    ours = table.render_lines(crop)
                    textuals = ScrollView.render_lines(table, crop)
                    assert [list(s) for s in ours] == [list(s) for s in textuals], (no_color, focused, crop)
            table.styles.padding = (0, 1)  # Textual's own styling again where it adds something
            await pilot.pause()
            assert not table._bare()
