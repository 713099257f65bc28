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


class HistoryChart(PlotextPlot):
    """A line chart over time: percent of the limit (y from 0 to 100), or any value (``percent=False``)."""

    MIN_REDRAW_SECONDS = 3.0

    DEFAULT_CSS = """
    HistoryChart { height: 100%; min-height: 5; }
    """

    def __init__(self, title: str = "", *, percent: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._title = title
        self._percent = percent
        self._last: tuple[float, ...] = ()
        self._drawn_at = 0.0

    def on_mount(self) -> None:
        self.plt.title(self._title)
        if self._percent:
            self.plt.ylim(0, 100)

    def show(self, values: Sequence[float], interval: float) -> None:
        """Plot ``values`` (oldest first), one every ``interval`` seconds."""
        data = tuple(values)
        if data == self._last:
            return
        # plotext rebuilds the whole canvas on every draw, the costliest thing on
        # screen; a history chart loses nothing by moving every few seconds.
        now = time.monotonic()
        if self._last and now - self._drawn_at < self.MIN_REDRAW_SECONDS:
            return
        self._drawn_at = now
        self._last = data
        plt = self.plt
        plt.clear_data()
        if data:
            n = len(data)
            xs = [-(n - 1 - i) * interval for i in range(n)]
            plt.plot(xs, list(data), marker="braille")
            plt.xlim(min(xs[0], -10 * interval), 0)
        if self._percent:
            plt.ylim(0, 100)
            plt.yticks([0, 25, 50, 75, 100])
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
            set_text(self.query_one("#mem-limit", Label), "limit  physical RAM (no cgroup limit)")
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

