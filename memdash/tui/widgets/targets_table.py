"""Targets: one row per service memdash polls."""

from __future__ import annotations

import time
from typing import Hashable, Sequence

from textual.message import Message

from memdash.levels import Level, hit_rate_level
from memdash.model import TargetSample
from memdash.tui.palette import LevelPalette
from memdash.tui.widgets.line_table import Cell, ColumnSpec, LineTable
from memdash.units import human_bytes, human_percent

#: key, header, width, left-aligned, priority (0: always shown; the highest number
#: goes first as the table narrows: at 80 columns the name, level, age and
#: error stay).
_COLUMNS = (
    ("name", "TARGET", 16, True, 0), ("kind", "KIND", 10, True, 6), ("level", "LEVEL", 9, True, 0),
    ("rss", "RSS", 7, False, 3), ("percent", "%LIM", 6, False, 4), ("gc", "GC gen0/1/2", 20, True, 7),
    ("hit", "HIT%", 6, False, 5), ("age", "AGE", 6, False, 1), ("error", "ERROR", 0, True, 0),
)


def gc_counts(t: TargetSample) -> str:
    """``'312/700 3/10 1/10'``: each generation's count against its threshold; where
    those are not exported (Prometheus), collections per generation
    (``'coll 812/73/6'``); for Go, Node and the JVM their collections (``'3,817 GCs'``)."""
    if t.gc is None:
        f = t.runtime.figures if t.runtime is not None else {}
        return f"{int(f['gc_count']):,} GCs" if "gc_count" in f else "-"
    gens = t.gc.generations
    if all(g.count is not None and g.threshold is not None for g in gens):
        return " ".join(f"{g.count}/{g.threshold}" for g in gens)
    if any(g.collections is not None for g in gens):
        return "coll " + "/".join("-" if g.collections is None else f"{g.collections}" for g in gens)
    return " ".join(f"{'-' if g.count is None else g.count}/{'-' if g.threshold is None else g.threshold}" for g in gens)


_SHORT_KIND = {"prometheus": "prom", "python": "py"}


def kind_label(t: TargetSample) -> str:
    """The KIND cell: the kind, and what was recognised on it (``prom:go``, ``prom:host``)."""
    if t.runtime is None or t.runtime.kind == t.kind:
        return t.kind
    return f"{_SHORT_KIND.get(t.kind, t.kind)}:{_SHORT_KIND.get(t.runtime.kind, t.runtime.kind)}"


def overall_hit_rate(t: TargetSample) -> tuple[float | None, int]:
    """Hit rate over all of a target's caches, and the lookups behind it."""
    hits = sum(c.hits or 0 for c in t.caches)
    lookups = sum(c.lookups for c in t.caches)
    if lookups:
        return hits / lookups, lookups
    rates = [c.hit_rate for c in t.caches if c.hit_rate is not None]
    return (sum(rates) / len(rates), 0) if rates else (None, 0)


def _note(t: TargetSample) -> Cell:
    """The last cell: the error; else the first warning (a mapped path that found nothing);
    else where a pre-fork figure comes from."""
    if not t.ok:
        return (t.error or "", Level.CRITICAL)
    if t.warnings:
        more = f" (+{len(t.warnings) - 1} more)" if len(t.warnings) > 1 else ""
        return (f"warning: {t.warnings[0]}{more}", Level.WARNING)
    return (t.workers_text, Level.UNKNOWN)  # "3 workers seen", or its local service


class TargetsTable(LineTable):
    """Targets with their level, memory, GC, cache hit rate, age and error."""

    DEFAULT_CSS = """
    TargetsTable { height: auto; max-height: 8; }
    """

    class Selected(Message):
        """Enter (or a double click) on a target."""

        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    class Highlighted(Message):
        """The cursor moved to another target."""

    def on_mount(self) -> None:
        self.set_columns([ColumnSpec(key, label, width, left, priority, 16) for key, label, width, left, priority in _COLUMNS])

    @property
    def cursor_name(self) -> str | None:
        """The name of the highlighted target."""
        key = self.cursor_key
        return key if isinstance(key, str) else None

    def select_name(self, name: str) -> None:
        """Move the cursor to target ``name``."""
        self.select_key(name)

    def row_selected(self, key: Hashable) -> None:
        if isinstance(key, str):
            self.post_message(self.Selected(key))

    def row_highlighted(self, key: Hashable | None) -> None:
        self.post_message(self.Highlighted())

    def show(self, targets: Sequence[TargetSample], palette: LevelPalette, now: float | None = None) -> None:
        """Render ``targets`` (in the order given)."""
        now = time.time() if now is None else now
        rows = []
        for t in targets:
            rate, lookups = overall_hit_rate(t)
            # Whole seconds: a figure that changes on every poll repaints for nothing.
            age = f"{int(now - t.last_ok)}s" if t.last_ok else "never"
            cells: tuple[Cell, ...] = (
                (t.name, Level.UNKNOWN),
                (kind_label(t), Level.UNKNOWN),
                (t.level.label if t.level is not Level.UNKNOWN else "-", t.level),
                (human_bytes(t.rss_bytes), Level.UNKNOWN),
                (human_percent(t.percent), t.level),
                (gc_counts(t), Level.UNKNOWN),
                (human_percent(None if rate is None else 100 * rate), hit_rate_level(rate, lookups)),
                (age, Level.UNKNOWN),
                _note(t),
            )
            rows.append((t.name, cells))
        self.set_rows(rows, palette)
