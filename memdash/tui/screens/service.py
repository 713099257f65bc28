"""The service view: what a service's memory is made of, its working set against
its limit over time, and each of its processes."""

from __future__ import annotations

import time
from typing import Hashable, Sequence

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Label, Static

from memdash.levels import DEFAULT_THRESHOLDS, Level, Thresholds
from memdash.model import MemoryBreakdown, ServiceMemory
from memdash.oom_eta import ago
from memdash.tui import safe
from memdash.tui.palette import LevelPalette
from memdash.tui.screens import RepaintBelowOnClose
from memdash.tui.widgets.line_table import Cell, ColumnSpec, LineTable
from memdash.engine import SeriesView
from memdash.tui.widgets.chart import window_label
from memdash.tui.widgets.memory import ChartLine, HistoryChart, rgb
from memdash.tui.widgets.text import set_text
from memdash.tui.widgets.footer import KeysFooter
from memdash.units import human_bytes, human_duration, human_percent, human_rate

#: The stacked bar's parts, in order, and the theme variable that colours each.
PARTS: tuple[tuple[str, str, str], ...] = (
    ("anon", "anon", "primary"), ("file", "page cache", "secondary"), ("shmem", "shmem/tmpfs", "accent"),
    ("kernel", "kernel", "warning"), ("sock", "sockets", "success"),
)


def breakdown_parts(b: MemoryBreakdown) -> list[tuple[str, int]]:
    """``(part, bytes)`` for the parts that do not overlap; ``sock`` is inside
    ``kernel`` on v2, so ``kernel`` is shown without it."""
    kernel = b.kernel_bytes
    if kernel is not None and b.sock_bytes is not None and b.sock_bytes <= kernel:
        kernel -= b.sock_bytes
    values = {"anon": b.anon_bytes, "file": b.file_bytes, "shmem": b.shmem_bytes, "kernel": kernel, "sock": b.sock_bytes}
    return [(key, values[key] or 0) for key, _, _ in PARTS]


def stacked_bar(parts: Sequence[tuple[str, int]], total: int, width: int) -> list[tuple[str, int]]:
    """Cells per part for a bar of ``width`` cells standing for ``total`` bytes
    (largest remainders, so the cells add up); a part too small for a cell gets none."""
    if total <= 0 or width <= 0:
        return [(k, 0) for k, _ in parts]
    exact = [(k, v * width / total) for k, v in parts]
    cells = {k: int(x) for k, x in exact}
    room = min(width, round(sum(v for _, v in parts) * width / total)) - sum(cells.values())
    for k, x in sorted(exact, key=lambda kx: kx[1] - int(kx[1]), reverse=True):
        if room <= 0:
            break
        cells[k] += 1
        room -= 1
    return [(k, cells[k]) for k, _ in parts]


class WorkersTable(LineTable):
    """A service's processes: master first, then workers and the rest."""

    DEFAULT_CSS = """
    WorkersTable { height: 1fr; }
    """

    def on_mount(self) -> None:
        self.set_columns([
            ColumnSpec("pid", "PID", 7), ColumnSpec("role", "ROLE", 7, True), ColumnSpec("rss", "RSS", 6),
            ColumnSpec("pss", "PSS", 6), ColumnSpec("uss", "USS", 6), ColumnSpec("swap", "SWAP", 6),
            ColumnSpec("growth", "GROW", 8), ColumnSpec("cmd", "COMMAND", 0, True),
        ])

    def show(self, s: ServiceMemory, palette: LevelPalette) -> None:
        rows: list[tuple[Hashable, tuple[Cell, ...]]] = []
        for w in s.workers:
            u = Level.UNKNOWN
            rows.append((w.pid, (
                (str(w.pid), u), (w.role, u), (human_bytes(w.rss_bytes), u), (human_bytes(w.pss_bytes), u),
                (human_bytes(w.uss_bytes), u), (human_bytes(w.swap_bytes), u), (human_rate(w.growth_bytes_per_min), u),
                (w.cmdline, u),
            )))
        self.set_rows(rows, palette)


class ServiceScreen(RepaintBelowOnClose, Screen[None]):
    """Details of the service with key ``key``; the app feeds it frames."""

    DEFAULT_CSS = """
    ServiceScreen #s-title { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    ServiceScreen #s-status { height: 7; padding: 0 1; }  /* fixed: 3 lines and up to 4 reasons, no layout pass per refresh */
    ServiceScreen #s-breakdown { height: 2; padding: 0 1; }
    ServiceScreen #s-chart { height: 2fr; min-height: 8; }  /* the workers keep rows at 80x24 */
    ServiceScreen #s-workers { height: 1fr; min-height: 3; }
    ServiceScreen .section { text-style: bold; color: $primary; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,backspace", "app.pop_screen", "Back", id="back")]

    def __init__(self, key: str) -> None:
        super().__init__()
        self.service_key = key

    def compose(self) -> ComposeResult:
        yield Label(safe.text("Service ", self.service_key), id="s-title")
        yield Static("", id="s-status")
        yield Static("", id="s-breakdown")
        yield HistoryChart("working set, % of limit", id="s-chart")
        yield Label("Processes", classes="section")
        yield WorkersTable(id="s-workers")
        yield KeysFooter()

    def show(self, s: ServiceMemory | None, history: SeriesView, palette: LevelPalette,
             thresholds: Thresholds = DEFAULT_THRESHOLDS, now: float | None = None, *,
             chart_now: float | None = None, window: float = 300.0) -> None:
        """Render service ``s`` (``None``: it is gone) and its working-set history
        (percent of its limit, at the times it was read), charted over the last
        ``window`` seconds before ``chart_now`` (default ``now``); ``now``: the
        frame's clock, for ages (default: the wall clock)."""
        if not self.query("#s-title"):
            return  # pushed but not composed yet: a frame got here first; the view's own first show follows
        if s is None:
            set_text(self.query_one("#s-status", Static),
                     safe.text(("this service has no processes any more", palette.styles[Level.UNKNOWN])))
            return
        # name, cgroup path and program come from outside: data, escaped (safe.text)
        title = safe.text(
            "Service ", s.name, f"  {s.kind}",
            *(("  cgroup v", str(s.cgroup_version), " ", s.cgroup_path) if s.cgroup_path is not None else ()),
            *(("  ", s.program) if s.program is not None else ()),
            f" master {s.master_pid}" if s.program is not None and s.master_pid is not None else None,
        )
        set_text(self.query_one("#s-title", Label), title)
        now = time.time() if now is None else now
        set_text(self.query_one("#s-status", Static), self._status(s, palette, now))
        set_text(self.query_one("#s-breakdown", Static), self._breakdown(s))
        # Percent of the limit over real time (each point at its own read time,
        # like every other chart), the limit and the warning threshold as lines.
        lines = [ChartLine(100.0, "limit", rgb(palette.styles[Level.CRITICAL])),
                 ChartLine(thresholds.warning, "warn", rgb(palette.styles[Level.WARNING]))]
        self.query_one("#s-chart", HistoryChart).plot(
            history.times, history.values, now=now if chart_now is None else chart_now, window=window,
            unit="percent", lines=lines, colour=rgb(palette.styles[s.level]),
            title=f"working set, % of limit · last {window_label(window)}")
        self.query_one("#s-workers", WorkersTable).show(s, palette)

    @staticmethod
    def _status(s: ServiceMemory, palette: LevelPalette, now: float) -> Text:
        t = Text()
        t.append(f"{s.level.label.upper() if s.level is not Level.UNKNOWN else 'UNKNOWN'}  ", style=palette.styles[s.level])
        limit = f"{human_bytes(s.limit_bytes)} {'limit' if s.limit_source == 'cgroup' else 'host memory'}"
        t.append(f"working set {human_bytes(s.working_set_bytes)} of {limit}  {human_percent(s.percent)}")
        if s.usage_bytes is not None:
            t.append(f"  usage {human_bytes(s.usage_bytes)}")
        if s.high_bytes is not None:
            t.append(f"  high {human_bytes(s.high_bytes)}")
        t.append(f"\n{s.worker_count} workers, {s.process_count} processes  RSS {human_bytes(s.rss_bytes)}"
                 f"  PSS {human_bytes(s.pss_bytes)}  USS {human_bytes(s.uss_bytes)}  swap {human_bytes(s.swap_bytes)}")
        t.append(f"\ngrowth {human_rate(s.growth_bytes_per_min)}  OOM in {human_duration(s.oom_eta_seconds)}")
        o = s.oom_kills
        kills = "-" if o.count is None else str(o.count)
        if o.rose_at is not None:
            kills += f" (last {ago(now - o.rose_at)})"
        t.append(f"  OOM kills {kills}", style=palette.styles[Level.CRITICAL] if o.recent else Style())
        if s.pressure is not None:
            t.append(f"  pressure some {human_percent(s.pressure.some_avg10)} full {human_percent(s.pressure.full_avg10)}")
        if s.growing_after_gc:
            t.append("  growing after GC", style=palette.styles[Level.WARNING])
        for reason in s.reasons:
            t.append("\n")
            t.append_text(safe.text((reason, palette.styles[s.level])))
        return t

    def _breakdown(self, s: ServiceMemory) -> Text:
        b = s.breakdown
        if b is None:
            return safe.text("no cgroup breakdown (a pool outside any service cgroup)")
        width = max(20, self.size.width - 4 if self.size.width else 60)
        total = s.limit_bytes or s.usage_bytes or 0
        parts = breakdown_parts(b)
        variables = self.app.get_css_variables()
        styles = {key: Style(color=variables.get(var)) for key, _, var in PARTS}
        t = Text()
        used = 0
        for key, cells in stacked_bar(parts, total, width):
            t.append("█" * cells, style=styles[key])
            used += cells
        t.append("·" * max(0, width - used))
        t.append("\n")
        labels = {key: label for key, label, _ in PARTS}
        for key, value in parts:
            t.append("■ ", style=styles[key])
            t.append(f"{labels[key]} {human_bytes(value)}  ")
        if b.inactive_file_bytes is not None:
            t.append(f"(inactive cache {human_bytes(b.inactive_file_bytes)}, not in the working set)")
        return t
