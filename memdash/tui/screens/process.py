"""The process view: one process's memory, its history, its children and its command."""

from __future__ import annotations

from typing import Mapping, Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Label, Static

from memdash.engine import SeriesView
from memdash.levels import Level
from memdash.model import ProcessMemory
from memdash.program import program_name
from memdash.textsafe import command_line
from memdash.tui import safe
from memdash.tui.palette import LevelPalette
from memdash.tui.screens import RepaintBelowOnClose
from memdash.tui.widgets.chart import window_label
from memdash.tui.widgets.memory import ChartLine, HistoryChart, rgb
from memdash.tui.widgets.footer import KeysFooter
from memdash.units import human_bytes, human_percent, human_rate

#: The longest command line the view shows (the rest is cut with "…").
COMMAND_MAX = 4000


def process_series_key(pid: int) -> str:
    """The History key of a process's RSS series."""
    return f"process.{pid}.rss"


class ProcessScreen(RepaintBelowOnClose, Screen[None]):
    """Details of process ``pid``; the app feeds it each frame's row."""

    DEFAULT_CSS = """
    ProcessScreen #p-title { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    ProcessScreen #p-figures { height: auto; padding: 0 1; }
    ProcessScreen #p-chart { height: 1fr; min-height: 8; }
    ProcessScreen #p-bottom { height: auto; max-height: 50%; }
    ProcessScreen #p-children { width: 1fr; padding: 0 1; }
    ProcessScreen #p-command { width: 2fr; padding: 0 1; }
    ProcessScreen .section { text-style: bold; color: $primary; }
    """
    BINDINGS = [Binding("escape,backspace", "app.pop_screen", "Back", id="process_back")]

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid

    def compose(self) -> ComposeResult:
        yield Label(safe.text(f"Process {self.pid}"), id="p-title")
        yield Static("", id="p-figures")
        yield HistoryChart("RSS", id="p-chart")
        with Horizontal(id="p-bottom"):
            with Vertical(id="p-command"):
                yield Label("Command", classes="section")
                yield Static("", id="p-cmdline")
            with Vertical(id="p-children"):
                yield Label("Children", classes="section")
                yield Static("", id="p-kids")
        yield KeysFooter()

    def show(self, p: ProcessMemory | None, children: Sequence[ProcessMemory], series: Mapping[str, SeriesView],
             palette: LevelPalette, *, now: float, window: float, warning_percent: float | None) -> None:
        """Render row ``p`` (``None``: the process has exited), its children and its RSS history."""
        if not self.query("#p-kids"):
            return  # a frame before the view is composed: the next one shows
        if p is None:
            self.query_one("#p-figures", Static).update(safe.text("the process has exited"))
            return
        # Names and command lines are the process's own words: data, never markup.
        self.query_one("#p-title", Label).update(
            safe.text(program_name(p.cmdline)[:200], f"  pid {p.pid}", f"  ppid {p.ppid}" if p.ppid else None,
                      "  user ", p.user or "?")
        )
        word = {Level.EXCELLENT: "ok", Level.GOOD: "good", Level.WARNING: "warn", Level.CRITICAL: "CRIT"}.get(p.level, "?")
        figures = [
            [(f"{word}  ", palette.styles[p.level]), f"RSS {human_bytes(p.rss_bytes)} of {human_bytes(p.limit_bytes)} limit"
             f" ({human_percent(p.percent)})   growth {human_rate(p.growth_bytes_per_min, none='~ (under a minute of samples)')}"],
            [f"USS {human_bytes(p.uss_bytes)}  (only this process's pages)   PSS {human_bytes(p.pss_bytes)}"
             f"  (shared pages split among their users)   swap {human_bytes(p.swap_bytes)}"
             + (f"   GPU {human_bytes(p.gpu_bytes)}" if p.gpu_bytes is not None else "")],
        ]
        self.query_one("#p-figures", Static).update(safe.lines(*figures))  # type: ignore[arg-type]
        rss = series.get(process_series_key(p.pid), SeriesView())
        lines = [ChartLine(float(p.limit_bytes), "limit", rgb(palette.styles[Level.CRITICAL]))]
        if warning_percent is not None:
            lines.append(ChartLine(p.limit_bytes * warning_percent / 100, "warn", rgb(palette.styles[Level.WARNING])))
        self.query_one("#p-chart", HistoryChart).plot(
            rss.times, rss.values, now=now, window=window, unit="bytes", lines=lines,
            colour=rgb(palette.styles[p.level]), title=f"RSS · last {window_label(window)} (a point every 5 s)",
        )
        self.query_one("#p-cmdline", Static).update(safe.text(command_line(p.cmdline, COMMAND_MAX)))
        kids = [f"{c.pid:>7} {human_bytes(c.rss_bytes):>6}  {command_line(program_name(c.cmdline), 60)}"
                for c in sorted(children, key=lambda c: -c.rss_bytes)[:20]]
        self.query_one("#p-kids", Static).update(safe.lines(*(kids or ["none"])))
