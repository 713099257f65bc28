"""System (or container) memory: a gauge, the figures, and a history chart."""

from __future__ import annotations

import time
from typing import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label
from textual_plotext import PlotextPlot

from memdash.levels import Level
from memdash.model import SystemMemory
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


class HistoryChart(PlotextPlot):
    """A line chart over time: percent of the limit (y from 0 to 100), or any value (``percent=False``).

    plotext rebuilds its whole canvas on every draw (~10-25 ms here, the
    dearest thing on screen), so the chart plots at most one point per column,
    redraws only when what it would draw changed, and at most every
    :attr:`MIN_REDRAW_SECONDS`.
    """

    MIN_REDRAW_SECONDS = 5.0

    DEFAULT_CSS = """
    HistoryChart { height: 100%; min-height: 5; }
    """

    def __init__(self, title: str = "", *, percent: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._title = title
        self._percent = percent
        self._last: tuple[object, ...] = ()
        self._drawn_at = 0.0
        self._values: tuple[Sequence[float], float] | None = None

    def on_mount(self) -> None:
        self.plt.title(self._title)
        if self._percent:
            self.plt.ylim(0, 100)

    def on_resize(self) -> None:
        self._last = ()  # redraw for the new width, now rather than at the next sample
        if self._values is not None:
            self.show(*self._values)

    def show(self, values: Sequence[float], interval: float, *, percent: bool | None = None) -> None:
        """Plot ``values`` (oldest first), one every ``interval`` seconds;
        ``percent`` switches between a 0-100 axis and a free one."""
        if percent is not None and percent != self._percent:
            self._percent = percent
            self._last = ()
        self._values = (values, interval)
        if not self.size.width:
            return  # not laid out yet: on_resize draws it
        columns = max(10, self.size.width - 8)  # less the y axis
        data = downsample(values, columns)
        span = len(values) * interval
        # What a person would see: the shape at the chart's resolution, and the
        # time axis to the nearest 10 %.
        scale = 0.5 if self._percent else max(1e-9, (max(data, default=0) or 1) / 200)
        key = (tuple(round(v / scale) for v in data), round(span, -1) if span > 20 else span, columns)
        if key == self._last:
            return
        now = time.monotonic()
        if self._last and now - self._drawn_at < self.MIN_REDRAW_SECONDS:
            return
        self._drawn_at = now
        self._last = key
        plt = self.plt
        # clear_figure, not clear_data: plotext keeps tick state across figures,
        # so every draw sets everything it shows.
        plt.clear_figure()
        plt.title(self._title)
        if data:
            n = len(data)
            step = span / n if n else interval
            xs = [-(n - 1 - i) * step for i in range(n)]
            plt.plot(xs, data, marker="braille")
            plt.xlim(min(xs[0], -10 * interval), 0)
        if self._percent:
            plt.ylim(0, 100)
            # Few rows fit few labels; naming them keeps plotext from choosing.
            plt.yticks([0, 50, 100] if self.size.height < 9 else [0, 25, 50, 75, 100])
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

    def show(self, system: SystemMemory | None, history: Sequence[float], interval: float) -> None:
        """Render ``system`` and its percent history."""
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
        self.query_one("#mem-chart", HistoryChart).show(history, interval)

