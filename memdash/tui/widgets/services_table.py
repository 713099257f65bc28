"""Services: one row per container, unit or worker pool, nearest its end first."""

from __future__ import annotations

from typing import Hashable, Sequence

from textual.message import Message

from memdash.levels import DEFAULT_THRESHOLDS, Level, Thresholds
from memdash.model import ServiceMemory
from memdash.tui.palette import LevelPalette
from memdash.tui.widgets.line_table import Cell, ColumnSpec, LineTable
from memdash.units import human_bytes, human_duration, human_percent, human_rate

_COLUMNS = (
    ("name", "SERVICE", 22, True), ("workers", "WRK", 4, False), ("wset", "WSET/LIMIT", 11, False),
    ("bar", "", 10, True), ("percent", "%LIM", 6, False), ("growth", "GROW", 8, False), ("eta", "ETA", 7, False),
    ("oom", "OOM", 5, False), ("psi", "PSI", 5, False), ("why", "", 0, True),
)

#: Sort orders the table cycles through, and what each puts first.
SORTS: tuple[tuple[str, str], ...] = (
    ("percent", "%LIM"), ("working_set", "working set"), ("eta", "ETA"), ("growth", "growth"),
)


def sort_services(services: Sequence[ServiceMemory], by: str, *, reverse: bool = False) -> list[ServiceMemory]:
    """``services`` with the most worrying first for ``by``.

    ``percent``, ``working_set`` and ``growth`` put the largest first; ``eta``
    the soonest OOM first. Unknown figures go last whatever the direction;
    ties go by name. ``reverse`` flips the known ones.
    """
    # Figures are compared as shown (percent to 0.1, sizes to the MiB, ETA to
    # the second): rows do not swap places over a difference nobody can see,
    # and a table that keeps its order repaints only the rows that changed.
    def figure(s: ServiceMemory) -> float | None:
        if by == "percent":
            return None if s.percent is None else round(s.percent, 1)
        if by == "working_set":
            return None if s.working_set_bytes is None else float(s.working_set_bytes >> 20)
        if by == "growth":
            return None if s.growth_bytes_per_min is None else float(round(s.growth_bytes_per_min) >> 20)
        if by == "eta":
            return None if s.oom_eta_seconds is None else -float(round(s.oom_eta_seconds))
        raise ValueError(f"unknown sort {by!r}")

    known = [s for s in services if figure(s) is not None]
    unknown = sorted((s for s in services if figure(s) is None), key=lambda s: s.name)
    known.sort(key=lambda s: s.name)
    known.sort(key=lambda s: figure(s) or 0.0, reverse=not reverse)
    return known + unknown


def bar(percent: float | None, width: int = 10) -> str:
    """``'██████····'``: ``percent`` of ``width`` cells, in eighths; full past 100."""
    if percent is None:
        return ""
    eighths = max(0, min(width * 8, round(percent / 100 * width * 8)))
    full, part = divmod(eighths, 8)
    text = "█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")
    return text + "·" * (width - len(text))


def oom_cell(s: ServiceMemory) -> Cell:
    """Kill count; ``'2!'`` and critical while a kill is recent."""
    o = s.oom_kills
    if o.count is None:
        return ("-", Level.UNKNOWN)
    if o.recent:
        return (f"{o.count}!", Level.CRITICAL)
    return (str(o.count), Level.UNKNOWN)


class ServicesTable(LineTable):
    """Services with working set against limit, growth, time to OOM, kills and pressure."""

    DEFAULT_CSS = """
    ServicesTable { height: auto; max-height: 10; }
    """

    class Selected(Message):
        """Enter (or a double click) on a service."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class Highlighted(Message):
        """The cursor moved to another service (what the cleanup keys act on changed)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.sort_index = 0
        self.sort_reverse = False
        self._services: tuple[ServiceMemory, ...] = ()
        self._palette_ref: LevelPalette | None = None
        #: colours the ETA column (the app sets the configured ones)
        self.thresholds: Thresholds = DEFAULT_THRESHOLDS

    def on_mount(self) -> None:
        self.set_columns([ColumnSpec(key, label, width, left) for key, label, width, left in _COLUMNS])

    @property
    def sort_by(self) -> str:
        """The figure rows are sorted by (see :data:`SORTS`)."""
        return SORTS[self.sort_index][0]

    def cycle_sort(self) -> str:
        """Sort by the next figure; returns its name in words."""
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self._rerender()
        return SORTS[self.sort_index][1]

    def reverse_sort(self) -> None:
        """Flip the order."""
        self.sort_reverse = not self.sort_reverse
        self._rerender()

    @property
    def cursor_service(self) -> str | None:
        """The key of the highlighted service."""
        key = self.cursor_key
        return key if isinstance(key, str) else None

    def row_selected(self, key: Hashable) -> None:
        if isinstance(key, str):
            self.post_message(self.Selected(key))

    def row_highlighted(self, key: Hashable | None) -> None:
        self.post_message(self.Highlighted())

    def _rerender(self) -> None:
        if self._palette_ref is not None:
            self.show(self._services, self._palette_ref)

    def show(self, services: Sequence[ServiceMemory], palette: LevelPalette) -> None:
        """Render ``services`` in the current sort order."""
        self._services = tuple(services)
        self._palette_ref = palette
        rows = []
        for s in sort_services(services, self.sort_by, reverse=self.sort_reverse):
            limit = human_bytes(s.limit_bytes) if s.limit_source == "cgroup" else "host"
            eta = s.oom_eta_seconds
            eta_level = Level.UNKNOWN if eta is None else self.thresholds.classify_eta(eta)
            psi = s.pressure.some_avg10 if s.pressure is not None else None
            cells: tuple[Cell, ...] = (
                (s.name, Level.UNKNOWN),
                (str(s.worker_count), Level.UNKNOWN),
                (f"{human_bytes(s.working_set_bytes)}/{limit}", Level.UNKNOWN),
                (bar(s.percent), s.level),
                (human_percent(s.percent), s.level),
                (human_rate(s.growth_bytes_per_min), Level.UNKNOWN),
                ("-" if eta is None else human_duration(eta), eta_level),
                oom_cell(s),
                ("-" if psi is None else f"{psi:.1f}", Level.UNKNOWN),
                ("; ".join(s.reasons), s.level if s.reasons else Level.UNKNOWN),
            )
            rows.append((s.key, cells))
        self.set_rows(rows, palette)

