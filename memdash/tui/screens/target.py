"""The target view: one service's memory history, GC, caches, metrics and GPU."""

from __future__ import annotations

from typing import Any, Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Label, Static

from memdash.levels import Level, hit_rate_level
from memdash.figures import format_figure, short_duration
from memdash.model import TargetSample
from memdash.textsafe import printable
from memdash.tui import safe
from memdash.tui.palette import LevelPalette
from memdash.tui.screens import RepaintBelowOnClose
from memdash.engine import SeriesView, target_runtime_keys, target_series_keys
from memdash.tui.widgets.chart import rates_per_minute, window_label
from memdash.tui.widgets.memory import ChartLine, HistoryChart, rgb
from memdash.tui.widgets.python_memory import PythonMemoryBar
from memdash.tui.widgets.footer import KeysFooter
from memdash.units import human_bytes, human_duration, human_percent


def _metric(key: str, value: float) -> str:
    """A metric as a person reads it, in the unit its name says (:mod:`memdash.figures`)."""
    return format_figure(key, value)


#: Runtime panel titles.
_RUNTIME_TITLES = {"go": "Go runtime", "node": "Node.js (V8)", "python": "Python", "jvm": "JVM",
                   "host": "Host (node_exporter)", "redis": "Redis"}


def runtime_rows(t: TargetSample) -> list[object]:
    """The runtime panel's lines: figures, then per-label rows (spaces, pools, GC kinds)."""
    rt = t.runtime
    rows: list[object] = []
    if rt is not None:
        head = _RUNTIME_TITLES.get(rt.kind, rt.kind)
        rows.append([head, " ", " ".join(f"{k} {v}" for k, v in rt.labels.items())])
        for key, value in rt.figures.items():
            rows.append([" ", key, " = ", format_figure(key, value)])
        for group, members in rt.groups.items():
            rows.append([f" {group}:"])
            for member, figures in list(members.items())[:30]:
                shown = "  ".join(f"{k} {format_figure(k, v)}" for k, v in figures.items())
                rows.append(["  ", safe.text(member, max_len=40), "  ", shown])
    if t.exporter_rss_bytes is not None:
        rows.append(["Exporter: its own RSS ", human_bytes(t.exporter_rss_bytes), " (not the memory shown)"])
    if t.instances:
        rows.append([f"Instances ({len(t.instances)})"])
        for i in t.instances[:50]:
            rows.append(["  ", safe.text(i.labels, max_len=60), "  ", human_bytes(i.rss_bytes),
                         f"  {i.runtime}" if i.runtime else None])
    return rows


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


class TargetScreen(RepaintBelowOnClose, Screen[None]):
    """Details of the target named ``name``; the app feeds it samples."""

    DEFAULT_CSS = """
    TargetScreen #t-title { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    TargetScreen #t-status { height: auto; padding: 0 1; }
    TargetScreen #t-charts { height: 2fr; min-height: 8; }
    TargetScreen #t-chart { width: 2fr; }
    TargetScreen #t-gc-chart, TargetScreen #t-hit-chart { width: 1fr; }
    TargetScreen #t-top { height: auto; max-height: 8; }
    TargetScreen #t-gc { width: 1fr; height: auto; }
    TargetScreen #gc-table { height: auto; max-height: 6; }
    TargetScreen #t-bottom { height: 1fr; }
    TargetScreen #t-caches { width: 2fr; height: 100%; }
    TargetScreen #t-side { width: 1fr; padding: 0 1; }
    TargetScreen #t-result { height: auto; padding: 0 1; background: $boost; }
    TargetScreen .section { text-style: bold; color: $primary; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,backspace", "app.pop_screen", "Back", id="back")]

    def __init__(self, name: str) -> None:
        super().__init__()
        self.target_name = name

    def compose(self) -> ComposeResult:
        yield Label(safe.text("Target ", self.target_name), id="t-title")
        yield Static("", id="t-status")
        yield PythonMemoryBar(id="t-pymem")
        with Horizontal(id="t-charts"):
            yield HistoryChart("RSS", id="t-chart")
            yield HistoryChart("GC collections/min", id="t-gc-chart")
            yield HistoryChart("cache hit rate", id="t-hit-chart")
        with Horizontal(id="t-top"):
            with Vertical(id="t-gc"):
                yield Label("Garbage collector", classes="section")
                yield DataTable(id="gc-table", cursor_type="none")
                yield Static("", id="gc-pauses")
        with Horizontal(id="t-bottom"):
            with Vertical(id="t-caches"):
                yield Label("Caches", classes="section")
                yield DataTable(id="cache-table", cursor_type="row")
            with VerticalScroll(id="t-side"):
                yield Static("", id="t-runtime")
                yield Static("", id="t-gpu")
                yield Static("", id="t-metrics")
        yield Static("", id="t-result")
        yield KeysFooter()

    def on_mount(self) -> None:
        gc_table = self.query_one("#gc-table", DataTable)
        for key, label in (("gen", "GEN"), ("count", "COUNT/THRESH"), ("collections", "COLLECTIONS"),
                           ("collected", "COLLECTED"), ("uncollectable", "UNCOLL."), ("pause", "PAUSE max")):
            gc_table.add_column(label, key=key)
        cache_table = self.query_one("#cache-table", DataTable)
        for key, label in (("name", "CACHE"), ("hits", "HITS"), ("misses", "MISSES"), ("rate", "HIT%"), ("size", "SIZE/MAX")):
            cache_table.add_column(label, key=key)
        self.query_one("#t-result", Static).display = False

    def show(self, t: TargetSample, series: Mapping[str, SeriesView], palette: LevelPalette, *, now: float,
             window: float, warning_percent: float | None = None, blocker: str | None = None) -> None:
        """Render sample ``t`` and its history (``series``: the frame's copies,
        charted over the last ``window`` seconds before ``now``); ``blocker``
        says why no cleanup is offered and how to enable them."""
        tables = self.query("#cache-table")
        if not tables or not self.query("#t-title") or not tables.first(DataTable).columns:
            return  # a sample before on_mount or while the view closes: the next one shows
        # Name, kind, URL, error and action names come from configs and remote
        # services: every one is data (safe.*), never markup or terminal bytes.
        self.query_one("#t-title", Label).update(
            safe.text("Target ", t.name, "  ", t.kind, "  ", t.url, f"  pid {t.pid}" if t.pid else None)
        )
        seen = f"last good sample {human_duration(now - t.last_ok)} ago" if t.last_ok else "no good sample yet"
        rows: list[object] = [
            [
                (f"{t.level.label.upper() if t.level is not Level.UNKNOWN else 'UNKNOWN'}  ", palette.styles[t.level]),
                f"RSS {human_bytes(t.rss_bytes)}",
                f" of {human_bytes(t.limit_bytes)} limit" if t.limit_bytes else None,
                f"  {human_percent(t.percent)}  {seen}",
            ]
        ]
        if not t.ok:
            rows.append([("error: ", palette.styles[Level.CRITICAL]), (t.error, palette.styles[Level.CRITICAL])])
        if t.actions and blocker:
            rows.append([("cleanup keys hidden: ", palette.styles[Level.WARNING]), blocker])
        elif t.actions:
            rows.append(["cleanup: ", ", ".join(t.actions)])
        if t.recognised:
            rows.append(["recognised: ", "; ".join(t.recognised)])
        for warning in t.warnings:  # a mapped path that found nothing, a page cut at the cap
            rows.append([("warning: ", palette.styles[Level.WARNING]), warning])
        self.query_one("#t-status", Static).update(safe.lines(*rows))  # type: ignore[arg-type]
        self.query_one("#t-pymem", PythonMemoryBar).show(t.python_memory)
        self._show_charts(t, series, palette, now, window, warning_percent)
        self._show_gc(t)
        self._show_caches(t, palette)
        self._show_side(t)

    def _show_charts(self, t: TargetSample, series: Mapping[str, SeriesView], palette: LevelPalette, now: float,
                     window: float, warning_percent: float | None) -> None:
        rss_key, _ = target_series_keys(t.name)
        gc_key, pause_key, hits_key, lookups_key = target_runtime_keys(t.name)
        rss = series.get(rss_key, SeriesView())
        lines = []
        if t.limit_bytes:
            lines.append(ChartLine(float(t.limit_bytes), "limit", rgb(palette.styles[Level.CRITICAL])))
            if warning_percent is not None:
                lines.append(ChartLine(t.limit_bytes * warning_percent / 100, "warn", rgb(palette.styles[Level.WARNING])))
        self.query_one("#t-chart", HistoryChart).plot(
            rss.times, rss.values, now=now, window=window, unit="bytes", lines=lines,
            colour=rgb(palette.styles[t.level]), title=f"RSS · last {window_label(window)}",
        )
        gc = series.get(gc_key, SeriesView())
        xs, per_min = rates_per_minute(gc.times, gc.values)
        pause = series.get(pause_key, SeriesView())
        _, pause_per_min = rates_per_minute(pause.times, pause.values)
        title = "GC/min"
        if pause_per_min:
            title += f" · pause {pause_per_min[-1] * 1000:.0f}ms/m"
        self.query_one("#t-gc-chart", HistoryChart).plot(xs, per_min, now=now, window=window, unit="per_min", title=title)
        hits, lookups = series.get(hits_key, SeriesView()), series.get(lookups_key, SeriesView())
        hx, hy = [], []
        for i in range(1, min(len(hits), len(lookups))):
            looked = lookups.values[i] - lookups.values[i - 1]
            if looked > 0:  # a hit rate needs lookups in that interval
                hx.append(hits.times[i])
                hy.append(100.0 * max(0.0, hits.values[i] - hits.values[i - 1]) / looked)
        self.query_one("#t-hit-chart", HistoryChart).plot(hx, hy, now=now, window=window, unit="percent",
                                                          title="cache hit rate" if t.caches else "no caches")

    def _show_gc(self, t: TargetSample) -> None:
        table = self.query_one("#gc-table", DataTable)
        table.clear()
        pauses = self.query_one("#gc-pauses", Static)
        if t.gc is None:
            f = t.runtime.figures if t.runtime is not None else {}
            if "gc_count" in f:  # Go, Node, JVM: their collectors are not generations
                parts = [f"{int(f['gc_count']):,} collections (see the runtime panel)"]
                for key, word in (("gc_pause_total_seconds", "total"), ("gc_pause_p50_seconds", "p50"),
                                  ("gc_pause_max_seconds", "max")):
                    if key in f:
                        parts.append(f"pause {word} {short_duration(f[key])}")
                pauses.update(safe.text("  ".join(parts)))
            else:
                pauses.update(safe.text("no GC figures from this target"))
            return
        for g in t.gc.generations:
            table.add_row(
                *(safe.text(cell) for cell in (
                    str(g.generation),
                    f"{_n(g.count)}/{_n(g.threshold)}",
                    _n(g.collections),
                    _n(g.collected),
                    _n(g.uncollectable),
                    human_duration(g.pause_max_seconds),
                ))
            )
        pauses.update(safe.text(
            f"pauses: total {human_duration(t.gc.pause_total_seconds)}  last {human_duration(t.gc.pause_last_seconds)}"
            f"  max {human_duration(t.gc.pause_max_seconds)}  garbage {_n(t.gc.garbage)}"
        ))

    def _show_caches(self, t: TargetSample, palette: LevelPalette) -> None:
        table = self.query_one("#cache-table", DataTable)
        table.clear()
        for c in t.caches:
            rate = None if c.hit_rate is None else 100 * c.hit_rate
            size = f"{_n(c.size)}/{_n(c.maxsize) if c.maxsize is not None else '∞'}"
            table.add_row(
                safe.text(c.name, max_len=80),  # a cache name is the service's text: data, not markup
                Text(_n(c.hits), justify="right"),
                Text(_n(c.misses), justify="right"),
                palette.text(human_percent(rate), hit_rate_level(c.hit_rate, c.lookups)),
                Text(size, justify="right"),
            )

    def _show_side(self, t: TargetSample) -> None:
        self.query_one("#t-runtime", Static).update(safe.lines(*runtime_rows(t)))  # type: ignore[arg-type]
        gpu = self.query_one("#t-gpu", Static)
        if t.gpu:
            lines: list[str] = ["GPU (PyTorch allocator)"]
            for d in t.gpu:
                lines.append(
                    f" cuda:{printable(d.device)} alloc {human_bytes(d.allocated_bytes)} reserved {human_bytes(d.reserved_bytes)}"
                    f" max {human_bytes(d.max_allocated_bytes)} releasable {human_bytes(d.releasable_bytes)}"
                )
            gpu.update(safe.lines(*lines))
        else:
            gpu.update(safe.text())
        metrics = self.query_one("#t-metrics", Static)
        if t.metrics:
            # Metric names are the service's keys and labels: data, cut to a line.
            rows: list[Any] = ["Other metrics"] + [[" ", safe.text(k, max_len=100), f" = {_metric(k, v)}"] for k, v in list(t.metrics.items())[:40]]
            metrics.update(safe.lines(*rows))
        else:
            metrics.update(safe.text())

    def show_result(self, text: str) -> None:
        """Show the last cleanup's outcome (plain text, maybe several lines) under the panels."""
        result = self.query_one("#t-result", Static)
        result.update(safe.lines(*text.split("\n")))
        result.display = True
