"""The process table: renders the rows it is given (see LineTable for how
little it repaints)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable, Sequence

from textual import events
from textual.message import Message

from memdash.levels import Level
from memdash.model import ProcessMemory
from memdash.program import program_name
from memdash.textsafe import command_line
from memdash.tui.palette import LevelPalette
from memdash.tui.widgets.line_table import Cell, ColumnSpec, LineTable
from memdash.units import human_bytes, human_duration, human_percent, human_rate


def tree_order(rows: Sequence[ProcessMemory]) -> list[tuple[ProcessMemory, int]]:
    """``rows`` as a tree: each process right under its parent (when the parent
    is among ``rows``), siblings and roots in the order given; with each row its
    depth (0 for a root). A pre-fork master's workers come under it."""
    shown = {p.pid for p in rows}
    children: dict[int, list[ProcessMemory]] = {}
    roots = []
    for p in rows:
        if p.ppid is not None and p.ppid in shown and p.ppid != p.pid:
            children.setdefault(p.ppid, []).append(p)
        else:
            roots.append(p)
    out: list[tuple[ProcessMemory, int]] = []
    placed: set[int] = set()
    stack = [(p, 0) for p in reversed(roots)]
    while stack:
        p, depth = stack.pop()
        if p.pid in placed:
            continue
        placed.add(p.pid)
        out.append((p, depth))
        stack.extend((c, depth + 1) for c in reversed(children.get(p.pid, ())))
    # A cycle of ppids (a pid reused under us) has no root: shown flat, never lost.
    out.extend((p, 0) for p in rows if p.pid not in placed)
    return out


@dataclass(frozen=True)
class Column:
    """A process-table column: its key, header, width, how to sort by it and to show it."""

    key: str
    label: str
    width: int  # 0: takes the rest of the line
    sort_key: Callable[[ProcessMemory], object]
    text: Callable[[ProcessMemory], str]
    levelled: bool = False  # coloured by the row's level
    priority: int = 0  # 0: always shown; higher numbers go first as the table narrows
    left: bool = False


def _none_last(value: float | int | None) -> float:
    return float("-inf") if value is None else float(value)


#: Each level spelled, so levels survive NO_COLOR and colour-blind eyes.
LEVEL_WORDS = {Level.EXCELLENT: "ok", Level.GOOD: "good", Level.WARNING: "warn", Level.CRITICAL: "CRIT"}


def _level_word(p: ProcessMemory) -> str:
    return LEVEL_WORDS.get(p.level, "?")


def _growth(p: ProcessMemory) -> str:
    # "~": not yet a minute of samples, so no rate that could mislead.
    return "~" if p.growth_bytes_per_min is None else human_rate(p.growth_bytes_per_min)


#: A USS/PSS/swap reading at least this much older than the row's RSS is shown
#: dim, with its age: smaps_rollup is re-read every few seconds, RSS every refresh,
#: and "RSS 92M USS 113M" from two moments must not read as one.
STALE_SECONDS = 1.0
#: The columns read from smaps_rollup.
SMAPS_COLUMNS = frozenset({"uss", "pss", "swap"})


def smaps_age(p: ProcessMemory, now: float | None) -> float | None:
    """Seconds by which ``p``'s USS/PSS/swap are older than its RSS (read at
    ``now``); ``None`` when not read, or read with it (under :data:`STALE_SECONDS`)."""
    if now is None or p.smaps_time is None:
        return None
    age = now - p.smaps_time
    return age if age >= STALE_SECONDS else None


def aged(value: int | None, age: float | None) -> str:
    """``113M``, or ``113M 4s`` for a figure ``age`` seconds older than the row's RSS."""
    text = human_bytes(value)
    return text if age is None or value is None else f"{text} {human_duration(age)}"


COLUMNS: tuple[Column, ...] = (
    Column("pid", "PID", 7, lambda p: p.pid, lambda p: str(p.pid)),
    Column("user", "USER", 8, lambda p: p.user or "", lambda p: (p.user or "?")[:8], priority=6, left=True),
    Column("rss", "RSS", 6, lambda p: p.rss_bytes, lambda p: human_bytes(p.rss_bytes), levelled=True),
    Column("uss", "USS", 8, lambda p: _none_last(p.uss_bytes), lambda p: human_bytes(p.uss_bytes), priority=3),
    Column("pss", "PSS", 8, lambda p: _none_last(p.pss_bytes), lambda p: human_bytes(p.pss_bytes), priority=5),
    Column("swap", "SWAP", 6, lambda p: _none_last(p.swap_bytes), lambda p: human_bytes(p.swap_bytes), priority=7),
    Column("gpu", "GPU", 6, lambda p: _none_last(p.gpu_bytes), lambda p: human_bytes(p.gpu_bytes), priority=8),
    Column("percent", "%LIM", 6, lambda p: p.percent, lambda p: human_percent(p.percent), levelled=True, priority=2),
    Column("growth", "GROW", 8, lambda p: _none_last(p.growth_bytes_per_min), lambda p: _growth(p), priority=4),
    Column("level", "LVL", 4, lambda p: p.level, _level_word, levelled=True, left=True),
    # What a person calls the process (python3 app.py): the full command is in the detail view.
    Column("command", "PROGRAM", 0, lambda p: program_name(p.cmdline).lower(), lambda p: program_name(p.cmdline), left=True),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
SORTABLE = tuple(c.key for c in COLUMNS if c.key != "level")


class ProcessTable(LineTable):
    """Processes, one row each."""

    DEFAULT_CSS = """
    ProcessTable { height: 1fr; }
    """

    class SortRequested(Message):
        """The user clicked a column header."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    class Selected(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, pid: int) -> None:
            super().__init__()
            self.pid = pid

    class Highlighted(Message):
        """The cursor moved to another row."""

    class Resized(Message):
        """The table's height changed (another table above it grew or shrank):
        "top" now fits a different number of rows."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._height = 0
        self._process_columns: tuple[Column, ...] = COLUMNS
        self._sort: tuple[str, bool] = ("rss", True)
        self._probed: frozenset[int] = frozenset()
        # pid -> (cmdline, as shown): escaping a 64 KB command line once, not every refresh.
        self._commands: dict[int, tuple[str, str]] = {}
        self._depth: dict[int, int] = {}  # tree view: pid -> depth under its shown parent
        self._now: float | None = None  # when the rows' RSS was read

    @property
    def _columns(self) -> tuple[Column, ...]:
        """The columns shown at the width now."""
        return tuple(COLUMN_BY_KEY[spec.key] for spec in self.columns)

    def set_layout(self, *, narrow: bool = False, width: int = 0, sort: tuple[str, bool]) -> None:
        """Mark the sort column; the columns that fit the width are chosen on
        each resize, by priority (``narrow`` and ``width`` are no longer needed)."""
        if sort == self._sort and self.columns:
            return
        self._sort = sort
        key, reverse = sort
        labels = [c.label + ((" ▼" if reverse else " ▲") if c.key == key else "") for c in COLUMNS]
        self.set_columns(
            [ColumnSpec(c.key, c.label, max(c.width, len(label)) if c.width else 0, c.left, c.priority, 30)
             for c, label in zip(COLUMNS, labels)],
            labels,
        )
        self._cells = {pid: () for pid in self._cells}  # every row re-renders in the new layout

    def _row_cells(self, p: ProcessMemory) -> tuple[Cell, ...]:
        out: list[Cell] = []
        age = smaps_age(p, self._now)
        for c in self._process_columns:
            if c.key == "command":
                text = self._program_text(p)
                if p.pid in self._probed:
                    text = "◆ " + text
                depth = self._depth.get(p.pid, 0)
                if depth:
                    text = "  " * min(depth - 1, 8) + "└ " + text
            elif c.key in SMAPS_COLUMNS and age is not None:
                # Older than RSS: dim, and USS/PSS say by how much.
                value = p.swap_bytes if c.key == "swap" else p.uss_bytes if c.key == "uss" else p.pss_bytes
                out.append((human_bytes(value) if c.key == "swap" else aged(value, age), Level.UNKNOWN, True))
                continue
            else:
                text = c.text(p)
            out.append((text, p.level if c.levelled and p.level is not Level.UNKNOWN else Level.UNKNOWN))
        return tuple(out)

    #: The longest command line kept for a row (the column is cut to the screen anyway).
    COMMAND_MAX = 1024

    def _program_text(self, p: ProcessMemory) -> str:
        """The program as one row: escaped, long arguments cut (see textsafe.command_line)."""
        cached = self._commands.get(p.pid)
        if cached is not None and cached[0] == p.cmdline:
            return cached[1]
        shown = command_line(program_name(p.cmdline[: 4 * self.COMMAND_MAX]), self.COMMAND_MAX)
        self._commands[p.pid] = (p.cmdline, shown)
        return shown

    def on_resize(self, event: events.Resize) -> None:
        # LineTable.on_resize refits the columns too (Textual calls both).
        if event.size.height != self._height:
            self._height = event.size.height
            self.post_message(self.Resized())

    def show_rows(self, rows: Sequence[ProcessMemory], palette: LevelPalette, probed: frozenset[int] = frozenset(),
                  *, tree: bool = False, now: float | None = None) -> None:
        """Show ``rows`` in this order (``tree``: each process under its parent, see :func:`tree_order`);
        ``now``: when their RSS was read (USS/PSS read earlier are shown dim, with their age)."""
        self._probed = probed
        self._now = now
        depth: dict[int, int] = {}
        if tree:
            ordered = tree_order(rows)
            rows = [p for p, _ in ordered]
            depth = {p.pid: d for p, d in ordered if d}
        self._depth = depth
        if len(self._commands) > 2 * len(rows) + 64:  # only rows shown keep their text
            shown = {p.pid for p in rows}
            self._commands = {pid: v for pid, v in self._commands.items() if pid in shown}
        self.set_rows([(p.pid, self._row_cells(p)) for p in rows], palette)

    @property
    def cursor_pid(self) -> int | None:
        """The pid of the highlighted row."""
        key = self.cursor_key
        return key if isinstance(key, int) else None

    def visible_pids(self) -> list[int]:
        """Pids of the rows on screen now (for reading USS/PSS only where seen)."""
        return [k for k in self.visible_keys() if isinstance(k, int)]

    def row_selected(self, key: Hashable) -> None:
        if isinstance(key, int):
            self.post_message(self.Selected(key))

    def row_highlighted(self, key: Hashable | None) -> None:
        self.post_message(self.Highlighted())

    def header_clicked(self, column: str) -> None:
        if column in SORTABLE:
            self.post_message(self.SortRequested(column))
