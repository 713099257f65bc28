"""Targets: one row per service memdash polls."""

from __future__ import annotations

import time
from typing import Sequence

from rich.text import Text
from textual.widgets import DataTable

from memdash.levels import Level, hit_rate_level
from memdash.model import TargetSample
from memdash.tui.palette import LevelPalette
from memdash.units import human_bytes, human_duration, human_percent

_COLUMNS = (("name", "TARGET", 16), ("kind", "KIND", 10), ("level", "LEVEL", 9), ("rss", "RSS", 7),
            ("percent", "%LIM", 6), ("gc", "GC gen0/1/2", 16), ("hit", "HIT%", 6), ("age", "AGE", 6), ("error", "ERROR", 30))


def gc_counts(t: TargetSample) -> str:
    """``'312/700 3/10 1/10'``: each generation's count against its threshold."""
    if t.gc is None:
        return "-"
    return " ".join(f"{g.count if g.count is not None else '?'}/{g.threshold if g.threshold is not None else '?'}" for g in t.gc.generations)


def overall_hit_rate(t: TargetSample) -> tuple[float | None, int]:
    """Hit rate over all of a target's caches, and the lookups behind it."""
    hits = sum(c.hits or 0 for c in t.caches)
    lookups = sum(c.lookups for c in t.caches)
    if lookups:
        return hits / lookups, lookups
    rates = [c.hit_rate for c in t.caches if c.hit_rate is not None]
    return (sum(rates) / len(rates), 0) if rates else (None, 0)


class TargetsTable(DataTable):
    """Targets with their level, memory, GC, cache hit rate, age and error."""

    DEFAULT_CSS = """
    TargetsTable { height: auto; max-height: 8; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self._names: list[str] = []

    def on_mount(self) -> None:
        for key, label, width in _COLUMNS:
            self.add_column(label, key=key, width=width)

    @property
    def cursor_name(self) -> str | None:
        """The name of the highlighted target."""
        if not self._names or not 0 <= self.cursor_row < len(self._names):
            return None
        return self._names[self.cursor_row]

    def select_name(self, name: str) -> None:
        """Move the cursor to target ``name``."""
        if name in self._names:
            self.move_cursor(row=self._names.index(name))

    def show(self, targets: Sequence[TargetSample], palette: LevelPalette, now: float | None = None) -> None:
        """Render ``targets`` (in the order given)."""
        now = time.time() if now is None else now
        names = [t.name for t in targets]
        rebuild = names != self._names
        if rebuild:
            cursor = self.cursor_name
            self.clear()
        for t in targets:
            rate, lookups = overall_hit_rate(t)
            age = human_duration(now - t.last_ok) if t.last_ok else "never"
            cells = (
                Text(t.name, no_wrap=True, overflow="ellipsis"),
                t.kind,
                palette.text(t.level.label if t.level is not Level.UNKNOWN else "-", t.level, justify="left"),
                Text(human_bytes(t.rss_bytes), justify="right"),
                palette.text(human_percent(t.percent), t.level),
                gc_counts(t),
                palette.text(human_percent(None if rate is None else 100 * rate), hit_rate_level(rate, lookups)),
                Text(age, justify="right"),
                palette.text(t.error or "", Level.CRITICAL if not t.ok else Level.UNKNOWN, justify="left"),
            )
            if rebuild:
                self.add_row(*cells, key=t.name)
            else:
                for (key, _, _), value in zip(_COLUMNS, cells):
                    self.update_cell(t.name, key, value)
        if rebuild:
            self._names = names
            if cursor in names:
                self.move_cursor(row=names.index(cursor))
