"""The process table: renders rows it is given, repainting only rows that changed.

Textual's DataTable drops its whole render cache on any cell update, which at
one refresh a second over hundreds of rows costs more than the rest of the
dashboard together. This table uses the Line API instead: it renders only the
lines on screen, keeps one rendered strip per row, and rebuilds a strip only
when that row's text, level or cursor state changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from memdash.levels import Level
from memdash.model import ProcessMemory
from memdash.tui.palette import LevelPalette
from memdash.units import human_bytes, human_percent, human_rate


@dataclass(frozen=True)
class Column:
    """A process-table column: its key, header, width, how to sort by it and to show it."""

    key: str
    label: str
    width: int  # 0: takes the rest of the line
    sort_key: Callable[[ProcessMemory], object]
    text: Callable[[ProcessMemory], str]
    levelled: bool = False  # coloured by the row's level
    wide_only: bool = False
    left: bool = False


def _none_last(value: float | int | None) -> float:
    return float("-inf") if value is None else float(value)


def _level_word(p: ProcessMemory) -> str:
    # Spelled out so levels survive NO_COLOR and colour-blind eyes.
    return {Level.WARNING: "warn", Level.CRITICAL: "CRIT"}.get(p.level, "")


COLUMNS: tuple[Column, ...] = (
    Column("pid", "PID", 7, lambda p: p.pid, lambda p: str(p.pid)),
    Column("user", "USER", 8, lambda p: p.user or "", lambda p: (p.user or "?")[:8], wide_only=True, left=True),
    Column("rss", "RSS", 6, lambda p: p.rss_bytes, lambda p: human_bytes(p.rss_bytes), levelled=True),
    Column("uss", "USS", 6, lambda p: _none_last(p.uss_bytes), lambda p: human_bytes(p.uss_bytes)),
    Column("pss", "PSS", 6, lambda p: _none_last(p.pss_bytes), lambda p: human_bytes(p.pss_bytes), wide_only=True),
    Column("swap", "SWAP", 6, lambda p: _none_last(p.swap_bytes), lambda p: human_bytes(p.swap_bytes), wide_only=True),
    Column("gpu", "GPU", 6, lambda p: _none_last(p.gpu_bytes), lambda p: human_bytes(p.gpu_bytes), wide_only=True),
    Column("percent", "%LIM", 6, lambda p: p.percent, lambda p: human_percent(p.percent), levelled=True),
    Column("growth", "GROW", 8, lambda p: _none_last(p.growth_bytes_per_min), lambda p: human_rate(p.growth_bytes_per_min)),
    Column("level", "LVL", 4, lambda p: p.level, _level_word, levelled=True, left=True),
    Column("command", "COMMAND", 0, lambda p: p.cmdline.lower(), lambda p: p.cmdline, left=True),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
SORTABLE = tuple(c.key for c in COLUMNS if c.key != "level")
_GAP = 1


class ProcessTable(ScrollView, can_focus=True):
    """Processes, one row each, under a fixed header line."""

    DEFAULT_CSS = """
    ProcessTable { height: 1fr; }
    ProcessTable > .process-table--header { text-style: bold; background: $panel; }
    ProcessTable > .process-table--cursor { background: $block-cursor-blurred-background; }
    ProcessTable:focus > .process-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    """
    COMPONENT_CLASSES = {"process-table--header", "process-table--cursor"}
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Open probe", show=False),
    ]

    class SortRequested(Message):
        """The user clicked a column header."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    class Selected(Message):
        """Enter (or a click) on a row."""

        def __init__(self, pid: int) -> None:
            super().__init__()
            self.pid = pid

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._columns: tuple[Column, ...] = tuple(c for c in COLUMNS if not c.wide_only)
        self._widths: tuple[int, ...] = ()
        self._narrow: bool | None = None
        self._sort: tuple[str, bool] = ("rss", True)
        self._rows: list[ProcessMemory] = []
        self._order: list[int] = []
        self._cells: dict[int, tuple[tuple[str, Level], ...]] = {}
        self._strips: dict[int, tuple[object, Strip]] = {}
        self._header: Strip | None = None
        self._probed: frozenset[int] = frozenset()
        self._palette = LevelPalette()
        self._palette_gen = 0
        self.cursor_row = 0

    # -- layout ----------------------------------------------------------

    def set_layout(self, *, narrow: bool, width: int, sort: tuple[str, bool]) -> None:
        """Choose the columns for the terminal width and mark the sort column."""
        if narrow == self._narrow and sort == self._sort and self._widths:
            return
        self._narrow = narrow
        self._sort = sort
        self._columns = tuple(c for c in COLUMNS if not (narrow and c.wide_only))
        self._cells = {pid: () for pid in self._cells}  # force every row to re-render
        self._strips.clear()
        self._header = None
        self._widths = ()
        self.refresh()

    def _compute_widths(self, width: int) -> tuple[int, ...]:
        fixed = sum(c.width + _GAP for c in self._columns if c.width)
        return tuple(c.width if c.width else max(10, width - fixed - 1) for c in self._columns)

    def on_resize(self, event: events.Resize) -> None:
        self._widths = ()
        self._strips.clear()
        self._header = None
        self._update_virtual_size()

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._order) + 1)

    # -- data --------------------------------------------------------------

    def _row_cells(self, p: ProcessMemory) -> tuple[tuple[str, Level], ...]:
        out = []
        for c in self._columns:
            text = c.text(p)
            if c.key == "command" and p.pid in self._probed:
                text = "◆ " + text
            out.append((text, p.level if c.levelled else Level.UNKNOWN))
        return tuple(out)

    def show_rows(self, rows: Sequence[ProcessMemory], palette: LevelPalette, probed: frozenset[int] = frozenset()) -> None:
        """Show ``rows`` in this order. Only rows whose text changed are re-rendered,
        and the widget repaints only if a row on screen changed."""
        self._palette = palette
        self._probed = probed
        cursor_pid = self.cursor_pid
        order = [p.pid for p in rows]
        reordered = order != self._order
        first = int(self.scroll_y)
        last = first + max(1, self.size.height - 1)
        cells: dict[int, tuple[tuple[str, Level], ...]] = {}
        changed: list[int] = []
        for i, p in enumerate(rows):
            new = self._row_cells(p)
            cells[p.pid] = new
            if not reordered and first <= i < last and self._cells.get(p.pid) != new:
                changed.append(i)
        self._rows = list(rows)
        self._cells = cells
        # Strips of pids that left the table go too: the cache stays bounded by the rows shown.
        for pid in self._strips.keys() - cells.keys():
            del self._strips[pid]
        if reordered:
            self._order = order
            if cursor_pid in cells:
                self.cursor_row = order.index(cursor_pid)
            else:
                self.cursor_row = min(self.cursor_row, max(0, len(order) - 1))
            self._update_virtual_size()
            self.refresh()
        else:
            # Repaint just the rows on screen whose text changed (line 0 is the header).
            for i in changed:
                self.refresh_line(i + 1)

    def repaint(self, rows: Sequence[ProcessMemory], palette: LevelPalette) -> None:
        """Re-render every row (after a theme change)."""
        self._palette_gen += 1
        self._strips.clear()
        self._header = None
        self.show_rows(rows, palette, self._probed)
        self.refresh()

    @property
    def row_count(self) -> int:
        """Rows in the table (not only those on screen)."""
        return len(self._order)

    @property
    def cursor_pid(self) -> int | None:
        """The pid of the highlighted row."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def visible_pids(self) -> list[int]:
        """Pids of the rows on screen now (for reading USS/PSS only where seen)."""
        first = int(self.scroll_y)
        return self._order[first : first + max(1, self.size.height - 1)]

    def row_text(self, index: int) -> list[str]:
        """The cells of row ``index`` as shown (for tests and screen readers)."""
        pid = self._order[index]
        return [text for text, _ in self._cells[pid]]

    # -- rendering ---------------------------------------------------------

    def _widths_now(self) -> tuple[int, ...]:
        if not self._widths:
            self._widths = self._compute_widths(self.size.width)
        return self._widths

    def _line(self, cells: Sequence[tuple[str, Level]] | Sequence[str], base: Style, styled: bool) -> Strip:
        widths = self._widths_now()
        segments: list[Segment] = []
        for column, width, cell in zip(self._columns, widths, cells):
            text, level = cell if isinstance(cell, tuple) else (cell, Level.UNKNOWN)
            if len(text) > width:
                text = text[: max(0, width - 1)] + "…"
            padded = text.ljust(width) if column.left else text.rjust(width)
            style = base
            if styled and column.levelled and level is not Level.UNKNOWN:
                style = base + self._palette.styles[level]
            segments.append(Segment(padded, style))
            segments.append(Segment(" " * _GAP, base))
        return Strip(segments).adjust_cell_length(self.size.width, base)

    def _header_strip(self) -> Strip:
        if self._header is None:
            key, reverse = self._sort
            labels = [c.label + ((" ▼" if reverse else " ▲") if c.key == key else "") for c in self._columns]
            style = self.get_component_rich_style("process-table--header")
            self._header = self._line(labels, style, False)
        return self._header

    def render_line(self, y: int) -> Strip:
        if y == 0:
            return self._header_strip()
        index = int(self.scroll_y) + y - 1
        if not 0 <= index < len(self._order):
            return Strip.blank(self.size.width, self.rich_style)
        pid = self._order[index]
        cells = self._cells[pid]
        cursor = index == self.cursor_row
        key = (cells, cursor, self.has_focus, self._palette_gen, self.size.width)
        cached = self._strips.get(pid)
        if cached is not None and cached[0] == key:
            return cached[1]
        base = self.get_component_rich_style("process-table--cursor") if cursor else self.rich_style
        # The cursor row keeps the cursor colours: level colours on it would be unreadable.
        strip = self._line(cells, base, not cursor)
        self._strips[pid] = (key, strip)
        return strip

    # -- input -------------------------------------------------------------

    def _move_to(self, row: int) -> None:
        if not self._order:
            return
        self.cursor_row = max(0, min(len(self._order) - 1, row))
        body = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + body:
            self.scroll_to(y=self.cursor_row - body + 1, animate=False)
        self.refresh()

    def action_cursor(self, step: int) -> None:
        self._move_to(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self._move_to(self.cursor_row + step * max(1, self.size.height - 2))

    def action_jump(self, row: int) -> None:
        self._move_to(row if row >= 0 else len(self._order) - 1)

    def action_select(self) -> None:
        pid = self.cursor_pid
        if pid is not None:
            self.post_message(self.Selected(pid))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = event.x
            for column, width in zip(self._columns, self._widths_now()):
                if x < width + _GAP:
                    if column.key in SORTABLE:
                        self.post_message(self.SortRequested(column.key))
                    return
                x -= width + _GAP
            return
        row = int(self.scroll_y) + event.y - 1
        if 0 <= row < len(self._order):
            if row == self.cursor_row and event.chain > 1:
                self.action_select()
            self._move_to(row)

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()
