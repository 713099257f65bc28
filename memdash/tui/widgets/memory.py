"""System (or container) memory: a gauge, the figures, and a history chart."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

from rich.style import Style

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label
from textual_plotext import PlotextPlot

from memdash.levels import Level
from memdash.engine.frame import SeriesView
from memdash.model import SystemMemory
from memdash.tui.palette import LevelPalette
from memdash.tui.widgets.chart import time_label, time_ticks, value_label, value_range, value_ticks, window_label
from memdash.tui.widgets.gauge import LevelBar
from memdash.tui.widgets.text import set_text
from memdash.units import human_bytes, human_percent


def downsample(values: Sequence[float], buckets: int) -> list[float]:
    """At most ``buckets`` points, each the largest value of its stretch: a peak
    stays visible however long the history is."""
    n = len(values)
    if n <= buckets or buckets < 1:
        return list(values)
    out = []
    for b in range(buckets):
        lo = b * n // buckets
        hi = max(lo + 1, (b + 1) * n // buckets)
        out.append(max(values[lo:hi]))
    return out


RGB = tuple[int, int, int]


def rgb(style: Style | None) -> RGB | None:
    """A Rich style's colour as plotext wants it (``None``: the default)."""
    if style is None or style.color is None:
        return None
    t = style.color.get_truecolor()
    return (t.red, t.green, t.blue)


@dataclass(frozen=True)
class ChartLine:
    """A horizontal line on a chart: the limit, a threshold."""

    value: float
    label: str
    colour: RGB | None = None


@dataclass(frozen=True)
class ChartSeries:
    """One more line on a chart, beside its main one: ``values`` at ``times``
    (epoch seconds, oldest first), named ``label`` (the legend's word)."""

    label: str
    times: Sequence[float]
    values: Sequence[float]
    colour: RGB | None = None


class HistoryChart(PlotextPlot):
    """A line over real time: x is seconds before ``now`` from each point's own
    timestamp (so a new refresh interval never bends the axis), y auto-scaled
    around the data with units on both axes, and lines (limit, warning
    threshold) drawn when they fall in range.

    plotext rebuilds its whole canvas on every draw (~10-25 ms here, the
    dearest thing on screen), so the chart plots at most one point per column
    and redraws at most every :attr:`MIN_REDRAW_SECONDS` while only the data
    moves (at once when the window, size or lines change).
    """

    MIN_REDRAW_SECONDS = 5.0

    DEFAULT_CSS = """
    HistoryChart { height: 100%; min-height: 5; }
    """

    def __init__(self, title: str = "", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._title = title
        self._last: tuple[object, ...] = ()
        self._drawn_at = 0.0
        self._args: tuple[tuple[object, ...], dict[str, object]] | None = None
        #: What the last draw plotted: (seconds before now, values); for tests.
        self.plotted: tuple[list[float], list[float]] = ([], [])
        #: The other lines the last draw plotted, by label: (seconds before now, values).
        self.plotted_more: dict[str, tuple[list[float], list[float]]] = {}
        #: The last draw's axes: xlim, xlabels, ylim, ylabels, lines shown, mark; for tests.
        self.axis: dict[str, object] = {}
        #: A moment to mark with a vertical line (epoch seconds), where it falls
        #: in the window: a replay's cursor on a chart of the whole recording.
        self.mark: float | None = None

    def on_resize(self) -> None:
        self._last = ()  # redraw for the new size, now rather than at the next sample
        if self._args is not None:
            self.plot(*self._args[0], **self._args[1])  # type: ignore[arg-type]

    def plot(
        self,
        times: Sequence[float],
        values: Sequence[float],
        *,
        now: float,
        window: float,
        unit: str = "bytes",
        lines: Sequence[ChartLine] = (),
        colour: RGB | None = None,
        title: str | None = None,
        more: Sequence[ChartSeries] = (),
    ) -> None:
        """Plot ``values`` taken at ``times`` (epoch seconds, oldest first) over
        the last ``window`` seconds before ``now``, and the lines of ``more``
        beside them on the same axes (each only where it has points)."""
        self._args = ((times, values), dict(now=now, window=window, unit=unit, lines=lines, colour=colour, title=title,
                                            more=more))
        if not self.size.width:
            return  # not laid out yet: on_resize draws it
        columns = max(10, self.size.width - 9)  # less the y axis
        xs, ys = self._columns(times, values, now, window, columns)
        others = [(s, *self._columns(s.times, s.values, now, window, columns)) for s in more]
        title = self._title if title is None else title
        mark = None if self.mark is None or not -window <= self.mark - now <= 1.0 else self.mark - now
        # Samples appearing or all leaving the window change what is drawn, not only where: at once.
        structure = (window, unit, tuple(lines), colour, title, self.size, mark,
                     tuple((s.label, s.colour) for s in more), bool(ys))
        top = max([*ys, *(v for _, _, oys in others for v in oys)], default=0)
        scale = max(1e-9, (top or 1) / 200)

        def rounded(px: list[float], py: list[float]) -> tuple[tuple[int, ...], tuple[int, ...]]:
            return tuple(round(x) for x in px), tuple(round(v / scale) for v in py)

        key = (structure, rounded(xs, ys), tuple(rounded(ox, oy) for _, ox, oy in others))
        if key == self._last:
            return
        t = time.monotonic()
        if self._last and self._last[0] == structure and t - self._drawn_at < self.MIN_REDRAW_SECONDS:
            return
        self._drawn_at = t
        self._last = key
        self._draw(xs, ys, window, unit, lines, colour, title, mark, others)

    @staticmethod
    def _columns(times: Sequence[float], values: Sequence[float], now: float, window: float,
                 columns: int) -> tuple[list[float], list[float]]:
        """The points in the window as (seconds before now, value), at most one
        per column: the largest of its stretch, so peaks stay."""
        pts = [(t - now, v) for t, v in zip(times, values) if -window <= t - now <= 1.0]
        if len(pts) > columns:
            buckets: dict[int, tuple[float, float]] = {}
            for x, v in pts:
                b = int((x + window) / window * (columns - 1))
                if b not in buckets or v > buckets[b][1]:
                    buckets[b] = (x, v)
            pts = [buckets[b] for b in sorted(buckets)]
        return [x for x, _ in pts], [v for _, v in pts]

    def _draw(self, xs: list[float], ys: list[float], window: float, unit: str, lines: Sequence[ChartLine],
              colour: RGB | None, title: str, mark: float | None = None,
              others: Sequence[tuple[ChartSeries, list[float], list[float]]] = ()) -> None:
        plt = self.plt
        # clear_figure, not clear_data: plotext keeps tick state across figures,
        # so every draw sets everything it shows.
        plt.clear_figure()
        self.plotted = (xs, ys)
        self.plotted_more = {s.label: (ox, oy) for s, ox, oy in others if oy}
        every = [*ys, *(v for _, _, oy in others for v in oy)]
        # As many time labels as the width holds (about six columns each): plotext
        # drops one of two labels that collide, and which one depends on the
        # process's string hashing, so a narrow chart would draw differently per run.
        xt = time_ticks(window, most=max(2, min(6, (self.size.width - 9) // 6 + 1)))
        plt.xlim(-window, 0)
        plt.xticks(xt, [time_label(x) for x in xt])
        if not every:
            plt.title(f"{title} · no samples in the last {window_label(window)} yet")
            plt.yticks([], [])
            self.axis = {"xlim": (-window, 0), "xlabels": [time_label(x) for x in xt], "ylim": None, "ylabels": [], "lines": ()}
            self.refresh()
            return
        # plotext drops a title wider than the chart: cut it instead.
        room = max(4, self.size.width - 4)
        plt.title(title if len(title) <= room else title[: room - 1] + "…")
        lo, hi, shown = value_range(every, unit, [line.value for line in lines])
        rows = max(3, self.size.height - 3)
        yt = value_ticks(lo, hi, unit, most=3 if rows < 8 else 4)
        fmt = value_label(unit)
        plt.ylim(lo, hi)
        plt.yticks(yt, [fmt(v) for v in yt])
        drawn = []
        for line in lines:
            if line.value in shown:
                plt.hline(line.value, line.colour or "gray")
                plt.text(f"{line.label} {fmt(line.value)}", -window, line.value, color=line.colour or "gray", alignment="left")
                drawn.append(line.label)
        if mark is not None:
            plt.vline(mark, "gray")
        for s, ox, oy in reversed(others):  # under the main line, the first of them on top
            if oy:
                plt.plot(ox, oy, marker="braille", color=s.colour) if s.colour else plt.plot(ox, oy, marker="braille")
        if ys:
            plt.plot(xs, ys, marker="braille", color=colour) if colour else plt.plot(xs, ys, marker="braille")
        self.axis = {"xlim": (-window, 0), "xlabels": [time_label(x) for x in xt], "ylim": (lo, hi),
                     "ylabels": [fmt(v) for v in yt], "lines": tuple(drawn), "mark": mark}
        self.refresh()


class MemoryPanel(Vertical):
    """The box's memory against the limit that applies."""

    DEFAULT_CSS = """
    MemoryPanel { height: auto; }
    MemoryPanel #mem-row { height: 8; }
    MemoryPanel #mem-left { width: 46; padding: 0 1; }
    MemoryPanel.-narrow #mem-left { width: 34; }
    MemoryPanel #mem-title { text-style: bold; }
    MemoryPanel Label { width: 100%; }
    MemoryPanel HistoryChart { width: 1fr; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal(id="mem-row"):
            with Vertical(id="mem-left"):
                yield Label("Memory", id="mem-title")
                yield LevelBar(id="mem-bar")
                yield Label("", id="mem-used")
                yield Label("", id="mem-limit")
                yield Label("", id="mem-avail")
                yield Label("", id="mem-swap")
            yield HistoryChart(id="mem-chart")

    def show(self, system: SystemMemory | None, history: SeriesView, *, now: float, window: float,
             palette: LevelPalette, warning_percent: float | None = None) -> None:
        """Render ``system`` and its history of bytes used over the
        last ``window`` seconds (``history``), with the limit and the warning threshold."""
        bar = self.query_one("#mem-bar", LevelBar)
        title = self.query_one("#mem-title", Label)
        if system is None:
            bar.set_value(None, Level.UNKNOWN)
            set_text(title, "Memory: unreadable")
            return
        bar.set_value(system.percent, system.level)
        word = system.level.label.upper()
        if system.limit_bytes is not None and system.cgroup is not None:
            set_text(title, f"Container memory {human_percent(system.percent)}  {word}")
            used = system.cgroup.usage_bytes
            set_text(self.query_one("#mem-used", Label), f"used   {human_bytes(used)} of {human_bytes(system.limit_bytes)}")
            set_text(self.query_one("#mem-limit", Label), f"limit  cgroup v{system.cgroup.version} {system.cgroup.path}"[:60])
        else:
            set_text(title, f"Memory {human_percent(system.percent)}  {word}")
            set_text(self.query_one("#mem-used", Label), 
                f"used   {human_bytes(system.used_bytes)} of {human_bytes(system.total_bytes)}"
            )
            set_text(self.query_one("#mem-limit", Label), "limit  RAM (no cgroup limit)")
        set_text(self.query_one("#mem-avail", Label), f"avail  {human_bytes(system.available_bytes)}")
        swap = (
            f"swap   {human_bytes(system.swap_used_bytes)} of {human_bytes(system.swap_total_bytes)}"
            if system.swap_total_bytes
            else "swap   none"
        )
        set_text(self.query_one("#mem-swap", Label), swap)
        for other in Level:
            title.set_class(other is system.level, other.css_class)
        limit = system.limit_bytes or system.total_bytes
        lines = []
        if limit:
            lines.append(ChartLine(float(limit), "limit", rgb(palette.styles[Level.CRITICAL])))
            if warning_percent is not None:
                lines.append(ChartLine(limit * warning_percent / 100, "warn", rgb(palette.styles[Level.WARNING])))
        self.query_one("#mem-chart", HistoryChart).plot(
            history.times, history.values, now=now, window=window, unit="bytes", lines=lines,
            colour=rgb(palette.styles[system.level]), title=f"memory used · last {window_label(window)}",
        )

