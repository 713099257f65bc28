"""The process table: renders rows it is given, touching only cells that changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from memdash.levels import Level
from memdash.model import ProcessMemory
from memdash.tui.palette import LevelPalette
from memdash.units import human_bytes, human_percent, human_rate


@dataclass(frozen=True)
class Column:
    """A process-table column: its key, header, how to sort by it and to show it."""

    key: str
    label: str
    sort_key: Callable[[ProcessMemory], object]
    text: Callable[[ProcessMemory], str]
    levelled: bool = False  # coloured by the row's level
    wide_only: bool = False
    left: bool = False


def _none_last(value: float | int | None) -> float:
    return float("-inf") if value is None else float(value)


def _level_word(p: ProcessMemory) -> str:
    return {Level.WARNING: "warn", Level.CRITICAL: "CRIT"}.get(p.level, "")


COLUMNS: tuple[Column, ...] = (
    Column("pid", "PID", lambda p: p.pid, lambda p: str(p.pid)),
    Column("user", "USER", lambda p: p.user or "", lambda p: (p.user or "?")[:8], wide_only=True, left=True),
    Column("rss", "RSS", lambda p: p.rss_bytes, lambda p: human_bytes(p.rss_bytes), levelled=True),
    Column("uss", "USS", lambda p: _none_last(p.uss_bytes), lambda p: human_bytes(p.uss_bytes)),
    Column("pss", "PSS", lambda p: _none_last(p.pss_bytes), lambda p: human_bytes(p.pss_bytes), wide_only=True),
    Column("swap", "SWAP", lambda p: _none_last(p.swap_bytes), lambda p: human_bytes(p.swap_bytes), wide_only=True),
    Column("gpu", "GPU", lambda p: _none_last(p.gpu_bytes), lambda p: human_bytes(p.gpu_bytes), wide_only=True),
    Column("percent", "%LIM", lambda p: p.percent, lambda p: human_percent(p.percent), levelled=True),
    Column("growth", "GROW", lambda p: _none_last(p.growth_bytes_per_min), lambda p: human_rate(p.growth_bytes_per_min)),
    Column("level", "LVL", lambda p: p.level, _level_word, levelled=True, left=True),
    Column("command", "COMMAND", lambda p: p.cmdline.lower(), lambda p: p.cmdline, left=True),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
SORTABLE = tuple(c.key for c in COLUMNS if c.key != "level")


class ProcessTable(DataTable):
    """Processes, one row each. Widths are fixed so an update never re-measures."""

    DEFAULT_CSS = """
    ProcessTable { height: 1fr; }
    """

    class SortRequested(Message):
        """The user clicked a column header."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self._columns: tuple[Column, ...] = ()
        self._order: list[int] = []
        self._cells: dict[int, tuple[tuple[str, Level], ...]] = {}
        self._narrow: bool | None = None
        self._sort: tuple[str, bool] = ("rss", True)
        self._probed: frozenset[int] = frozenset()

    # -- layout ----------------------------------------------------------

    def set_layout(self, *, narrow: bool, width: int, sort: tuple[str, bool]) -> None:
        """Choose the columns for the terminal width; rebuilds only on change."""
        if narrow == self._narrow and sort == self._sort and self._columns:
            return
        self._narrow = narrow
        self._sort = sort
        self._columns = tuple(c for c in COLUMNS if not (narrow and c.wide_only))
        self.clear(columns=True)
        self._order = []
        self._cells = {}
        fixed = {"pid": 7, "user": 8, "rss": 6, "uss": 6, "pss": 6, "swap": 6, "gpu": 6, "percent": 6, "growth": 8, "level": 4}
        used = sum(fixed[c.key] + 2 for c in self._columns if c.key in fixed)
        cmd_width = max(12, width - used - 4)
        key, reverse = sort
        for c in self._columns:
            label = c.label + ((" ▼" if reverse else " ▲") if c.key == key else "")
            w = fixed.get(c.key, cmd_width)
            self.add_column(Text(label, justify="left" if c.left else "right"), key=c.key, width=max(w, len(label)))

    # -- data --------------------------------------------------------------

    def _row(self, p: ProcessMemory) -> tuple[tuple[str, Level], ...]:
        out = []
        for c in self._columns:
            text = c.text(p)
            if c.key == "command" and p.pid in self._probed:
                text = "◆ " + text
            out.append((text, p.level if c.levelled else Level.UNKNOWN))
        return tuple(out)

    def _cell(self, column: Column, value: tuple[str, Level], palette: LevelPalette) -> Text:
        text, level = value
        if column.levelled and level in (Level.WARNING, Level.CRITICAL, Level.GOOD, Level.EXCELLENT):
            return palette.text(text, level, justify="left" if column.left else "right")
        return Text(text, justify="left" if column.left else "right", no_wrap=True, overflow="ellipsis")

    def show_rows(self, rows: Sequence[ProcessMemory], palette: LevelPalette, probed: frozenset[int] = frozenset()) -> None:
        """Render ``rows`` in the given order; only changed cells are rewritten."""
        self._probed = probed
        order = [p.pid for p in rows]
        if order != self._order:
            self._rebuild(rows, palette)
            return
        for p in rows:
            new = self._row(p)
            old = self._cells.get(p.pid)
            if new == old:
                continue
            for i, c in enumerate(self._columns):
                if old is None or old[i] != new[i]:
                    self.update_cell(str(p.pid), c.key, self._cell(c, new[i], palette))
            self._cells[p.pid] = new

    def repaint(self, rows: Sequence[ProcessMemory], palette: LevelPalette) -> None:
        """Re-render every cell (after a theme change)."""
        self._order = []
        self.show_rows(rows, palette, self._probed)

    def _rebuild(self, rows: Sequence[ProcessMemory], palette: LevelPalette) -> None:
        cursor_pid = self.cursor_pid
        scroll_y = self.scroll_y
        self.clear()
        self._cells = {}
        for p in rows:
            cells = self._row(p)
            self._cells[p.pid] = cells
            self.add_row(*(self._cell(c, v, palette) for c, v in zip(self._columns, cells)), key=str(p.pid))
        self._order = [p.pid for p in rows]
        if cursor_pid is not None and cursor_pid in self._cells:
            self.move_cursor(row=self._order.index(cursor_pid), scroll=False)
        self.scroll_to(y=scroll_y, animate=False, immediate=True)

    @property
    def cursor_pid(self) -> int | None:
        """The pid of the highlighted row."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def visible_pids(self) -> list[int]:
        """Pids of the rows on screen now (for reading USS/PSS only where seen)."""
        first = int(self.scroll_y)
        height = max(1, self.size.height - 1)
        return self._order[first : first + height]

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = event.column_key.value
        if key in SORTABLE:
            self.post_message(self.SortRequested(key))
