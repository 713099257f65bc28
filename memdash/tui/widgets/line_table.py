"""A table that repaints only the rows that changed.

Textual's DataTable drops its render caches on any cell update and refills
them with new entries, which at one refresh a second costs CPU and, until its
caches are full, memory. This table uses the Line API instead: it renders only
the lines on screen, keeps one rendered strip per row (and only for rows in the
table), and rebuilds a strip only when that row's text, level or cursor state
changed. The process and target tables are built on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.color import Color
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from memdash.levels import Level
from memdash.textsafe import printable
from memdash.tui.palette import LevelPalette

#: One cell: its text, and the level that colours it (UNKNOWN: plain). The
#: text may come from anyone (a command line, a remote error): it is escaped
#: and cut to the column when the row is drawn, never written raw. A third
#: item, true, draws the cell dim (a figure older than the rest of its row).
Cell = tuple[str, Level] | tuple[str, Level, bool]
_GAP = 1
_CRITICAL_MARK = Style(bold=True, underline=True)
_DIM = Style(dim=True)
#: Cell segments a table keeps for its next repaints (cleared whole past this).
_MADE_MAX = 4096


@dataclass(frozen=True)
class ColumnSpec:
    """How a column is laid out: ``width`` 0 takes the rest of the line (at
    least ``min_width``). ``priority`` 0 is always shown; as the table narrows,
    the column with the highest priority number goes first."""

    key: str
    label: str
    width: int
    left: bool = False
    priority: int = 0
    min_width: int = 10


def fit_columns(specs: Sequence[ColumnSpec], width: int) -> tuple[int, ...]:
    """Indices of the columns of ``specs`` that fit in ``width`` cells, dropping
    by priority (highest number first; 0 never)."""
    shown = list(range(len(specs)))

    def need() -> int:
        return sum((specs[i].width or specs[i].min_width) + _GAP for i in shown)

    droppable = sorted((i for i, c in enumerate(specs) if c.priority), key=lambda i: -specs[i].priority)
    for i in droppable:
        if width <= 0 or need() <= width:
            break
        shown.remove(i)
    return tuple(shown)


class LineTable(ScrollView, can_focus=True):
    """Rows of cells under a fixed header line, with a cursor."""

    DEFAULT_CSS = """
    LineTable { height: 1fr; overflow-x: hidden; }  /* rows are cut to the width: never a horizontal bar */
    LineTable > .line-table--header { text-style: bold; background: $panel; }
    LineTable > .line-table--cursor { background: $block-cursor-blurred-background; }
    LineTable:focus > .line-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    """
    COMPONENT_CLASSES = {"line-table--header", "line-table--cursor"}
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Open", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._all_specs: tuple[ColumnSpec, ...] = ()
        self._all_labels: tuple[str, ...] = ()
        self._shown_columns: tuple[int, ...] = ()  # indices into the cells of a row
        self._specs: tuple[ColumnSpec, ...] = ()
        self._header_labels: tuple[str, ...] = ()
        self._widths: tuple[int, ...] = ()
        self._order: list[Hashable] = []
        self._cells: dict[Hashable, tuple[Cell, ...]] = {}
        self._strips: dict[Hashable, tuple[object, Strip]] = {}
        self._header: Strip | None = None
        self._palette = LevelPalette()
        self._palette_gen = 0
        self.cursor_row = 0
        self._pass: tuple[int, Style] | None = None  # (width, row style) during a repaint
        # (cell, width, left, base style, coloured) -> (segment, its length; -1: not all ASCII)
        self._made: dict[tuple[object, ...], tuple[Segment, int]] = {}

    # -- hooks for subclasses -------------------------------------------------

    def row_selected(self, key: Hashable) -> None:
        """Enter or a double click on the row ``key``."""

    def row_highlighted(self, key: Hashable | None) -> None:
        """The cursor moved to ``key``."""

    def header_clicked(self, column: str) -> None:
        """A click on column ``column``'s header."""

    # -- columns ---------------------------------------------------------------

    def set_columns(self, specs: Sequence[ColumnSpec], labels: Sequence[str] | None = None) -> None:
        """Lay out ``specs`` (with ``labels`` shown in the header, default the specs')."""
        specs = tuple(specs)
        labels = tuple(labels) if labels is not None else tuple(s.label for s in specs)
        if specs == self._all_specs and labels == self._all_labels:
            return
        self._all_specs = specs
        self._all_labels = labels
        self._fit()
        self.refresh()

    def _fit(self) -> None:
        """Choose the columns that fit the width now (see :func:`fit_columns`)."""
        self._shown_columns = fit_columns(self._all_specs, self.size.width)
        self._specs = tuple(self._all_specs[i] for i in self._shown_columns)
        self._header_labels = tuple(self._all_labels[i] for i in self._shown_columns)
        self._widths = ()
        self._header = None
        self._strips.clear()

    @property
    def columns(self) -> tuple[ColumnSpec, ...]:
        """The columns shown now."""
        return self._specs

    def _widths_now(self) -> tuple[int, ...]:
        if not self._widths:
            fixed = sum(c.width + _GAP for c in self._specs if c.width)
            self._widths = tuple(c.width if c.width else max(c.min_width, self.size.width - fixed - 1) for c in self._specs)
        return self._widths

    def on_resize(self, event: events.Resize) -> None:
        self._fit()
        self._update_virtual_size()

    def _update_virtual_size(self) -> None:
        size = Size(self.size.width, len(self._order) + 1)
        if size == self.virtual_size:
            return
        styles = self.styles
        if styles.overflow_y == "hidden" and not styles.is_auto_height and size.width == self.virtual_size.width:
            # No scrollbar to show or hide, and the table's own size does not
            # depend on its rows (the process table in "top" mode): nothing else
            # on screen moves, so no layout of the whole screen, which setting
            # virtual_size asks for (~8 ms a time). set_rows repaints the lines.
            self.set_reactive(Widget.virtual_size, size)
            self._scroll_update(size)
            if self.scroll_y > self.max_scroll_y:
                self.scroll_to(y=self.max_scroll_y, animate=False)
            return
        self.virtual_size = size

    # -- rows -------------------------------------------------------------------

    def set_rows(self, rows: Sequence[tuple[Hashable, tuple[Cell, ...]]], palette: LevelPalette) -> None:
        """Show ``rows`` (key, cells) in this order; repaint only rows on screen that changed."""
        if palette is not self._palette:
            self._made.clear()
        self._palette = palette
        cursor_key = self.cursor_key
        order = [key for key, _ in rows]
        reordered = order != self._order
        first = int(self.scroll_y)
        last = first + max(1, self.size.height - 1)
        cells: dict[Hashable, tuple[Cell, ...]] = {}
        changed: list[int] = []
        old = self._cells
        for i, (key, row) in enumerate(rows):
            cells[key] = row
            if not reordered and first <= i < last and old.get(key) != row:
                changed.append(i)
        self._cells = cells
        # Strips of rows that left go too: the cache holds only rows in the table.
        for key in self._strips.keys() - cells.keys():
            del self._strips[key]
        if reordered:
            old_order, old_cursor = self._order, self.cursor_row
            self._order = order
            if cursor_key in cells:
                self.cursor_row = order.index(cursor_key)
            else:
                self.cursor_row = min(self.cursor_row, max(0, len(order) - 1))
            if len(order) != len(old_order):
                self._update_virtual_size()
            # Two rows swapping places (RSS moves by a page) repaints those two
            # lines, not the whole table: a full refresh re-composites every line.
            for i in range(first, min(last, max(len(order), len(old_order)))):
                key = order[i] if i < len(order) else None
                old_key = old_order[i] if i < len(old_order) else None
                if key != old_key or old.get(key) != cells.get(key) or (
                    self.cursor_row != old_cursor and i in (self.cursor_row, old_cursor)
                ):
                    self.refresh_line(i + 1)  # line 0 is the header
        else:
            for i in changed:
                self.refresh_line(i + 1)  # line 0 is the header

    def repaint(self, palette: LevelPalette) -> None:
        """Re-render every row with ``palette`` (after a theme change)."""
        self._palette = palette
        self._palette_gen += 1
        self._strips.clear()
        self._made.clear()  # their styles came from the old palette
        self._header = None
        self.refresh()

    @property
    def row_count(self) -> int:
        """Rows in the table (not only those on screen)."""
        return len(self._order)

    @property
    def cursor_key(self) -> Hashable | None:
        """The key of the highlighted row."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def select_key(self, key: Hashable) -> None:
        """Move the cursor to the row ``key``."""
        if key in self._cells:
            self._move_to(self._order.index(key))

    def visible_keys(self) -> list[Hashable]:
        """Keys of the rows on screen now."""
        first = int(self.scroll_y)
        return self._order[first : first + max(1, self.size.height - 1)]

    def row_text(self, index: int) -> list[str]:
        """The cells of row ``index`` as shown, before the cut to the column
        width (for tests and screen readers)."""
        return [printable(cell[0]) for cell in self._cells[self._order[index]]]

    # -- rendering ----------------------------------------------------------------

    def _line(self, cells: Sequence[Cell], base: Style, coloured: bool, line_width: int | None = None) -> Strip:
        segments: list[Segment] = []
        styles = self._palette.styles
        gap = Segment(" " * _GAP, base)
        ascii_only = True  # then a character is a cell, and the line's length is known
        length = 0
        if len(cells) == len(self._all_specs) and len(self._shown_columns) != len(cells):
            cells = [cells[i] for i in self._shown_columns]
        made = self._made
        if len(made) > _MADE_MAX:
            made.clear()
        for spec, width, cell in zip(self._specs, self._widths_now(), cells):
            # A row repaints when any of its cells changes (a USS age ticks every
            # second): its other cells' segments are the ones made last time.
            key = (cell, width, spec.left, base, coloured)
            found = made.get(key)
            if found is None:
                text, level = cell[0], cell[1]
                text = printable(text, width)  # control bytes shown escaped, cut with "…"
                padded = text.ljust(width) if spec.left else text.rjust(width)
                if coloured:
                    style = base + styles[level] if level is not Level.UNKNOWN else base
                else:
                    # Under the cursor (and without colour) a critical cell is still marked.
                    style = base + _CRITICAL_MARK if level is Level.CRITICAL else base
                if len(cell) > 2 and cell[2]:
                    style += _DIM
                found = made[key] = (Segment(padded, style), len(padded) if padded.isascii() else -1)
            segment, cells_long = found
            if ascii_only:
                ascii_only = cells_long >= 0
                length += cells_long + _GAP
            segments.append(segment)
            segments.append(gap)
        width = self.size.width if line_width is None else line_width
        if ascii_only and length <= width:
            # What adjust_cell_length does (pad with ``base``), without measuring
            # every segment and building the strip twice.
            if length < width:
                segments.append(Segment(" " * (width - length), base))
            return Strip(segments, width)
        return Strip(segments).adjust_cell_length(width, base)

    def _bare(self) -> bool:
        """Whether Textual's per-line styling would leave our lines as they are:
        no scrollbar, padding, border, outline, tint, hatch or transparency."""
        styles = self.styles
        return not (
            self.show_vertical_scrollbar or self.show_horizontal_scrollbar or any(styles.gutter)
            or any(edge for edge, _ in styles.outline) or styles.tint.a or self.opacity != 1.0
            or styles.text_opacity != 1.0 or (styles.has_rule("hatch") and styles.hatch != "none")
            or self._border_title is not None or self._border_subtitle is not None
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        # One look-up of the width and the row style per repaint, not several per
        # line: ``self.size`` finds the widget on its screen each time.
        width = self.size.width
        self._pass = (width, self.rich_style)
        try:
            if not self.is_attached or not self._bare():
                # Removed while the compositor still holds it (shutdown): the
                # lines Textual cached, not new ones from a widget whose styles
                # are gone.
                return super().render_lines(crop)
            # Textual's styles cache would re-style each of our lines (our strips
            # are already the width, in the row's colours) and build a new strip
            # for it: ~50 us a line, and every shown row repaints every second
            # while its USS/PSS age ticks. The app's line filters still apply
            # (NO_COLOR, ANSI colours), each kept with the strip it made.
            filters = self.get_line_filters()
            background = self.background_colors[1] if filters else Color(0, 0, 0)
            render_line = self.render_line
            strips = []
            for y in crop.line_range:
                strip = render_line(y)
                for line_filter in filters:
                    strip = strip.apply_filter(line_filter, background)
                strips.append(strip)
            x1, x2 = crop.column_span
            if (x1, x2) != (0, width):
                strips = [strip.crop(x1, x2) for strip in strips]
            return strips
        finally:
            self._pass = None

    def render_line(self, y: int) -> Strip:
        if self._pass is not None:
            width, row_style = self._pass
        else:
            width, row_style = self.size.width, self.rich_style
        if y == 0:
            if self._header is None:
                style = self.get_component_rich_style("line-table--header")
                self._header = self._line([(label, Level.UNKNOWN) for label in self._header_labels], style, False,
                                          width)
            return self._header
        index = int(self.scroll_y) + y - 1
        if not 0 <= index < len(self._order):
            return Strip.blank(width, row_style)
        key = self._order[index]
        cells = self._cells[key]
        cursor = index == self.cursor_row
        cache_key = (cells, cursor, self.has_focus, self._palette_gen, width)
        cached = self._strips.get(key)
        if cached is not None and cached[0] == cache_key:
            return cached[1]
        base = row_style
        if cursor:
            try:
                base = self.get_component_rich_style("line-table--cursor")
            except KeyError:  # removed (shutdown): its component styles are gone
                pass
        # The cursor row keeps the cursor colours: level colours on it would be unreadable.
        strip = self._line(cells, base, not cursor, width)
        self._strips[key] = (cache_key, strip)
        return strip

    # -- input ------------------------------------------------------------------------

    def _move_to(self, row: int) -> None:
        if not self._order:
            return
        before = self.cursor_row
        self.cursor_row = max(0, min(len(self._order) - 1, row))
        body = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + body:
            self.scroll_to(y=self.cursor_row - body + 1, animate=False)
        self.refresh()
        if self.cursor_row != before:
            self.row_highlighted(self.cursor_key)

    def action_cursor(self, step: int) -> None:
        self._move_to(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self._move_to(self.cursor_row + step * max(1, self.size.height - 2))

    def action_jump(self, row: int) -> None:
        self._move_to(row if row >= 0 else len(self._order) - 1)

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.row_selected(key)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = event.x
            for spec, width in zip(self._specs, self._widths_now()):
                if x < width + _GAP:
                    self.header_clicked(spec.key)
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
