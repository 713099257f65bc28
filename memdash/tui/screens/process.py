"""The process view: one process's memory, what it is made of (smaps_rollup),
its cgroup and the limit that applies, its history, its children and its command."""

from __future__ import annotations

from typing import Mapping, Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Label, Static

from rich.color import Color
from rich.style import Style

from memdash.engine import SeriesView, process_smaps_keys
from memdash.levels import Level
from memdash.model import ProcessDetail, ProcessMemory
from memdash.program import program_name
from memdash.textsafe import command_line
from memdash.tui import safe
from memdash.tui.palette import LevelPalette
from memdash.tui.screens import RepaintBelowOnClose
from memdash.tui.widgets.chart import window_label
from memdash.tui.widgets.memory import ChartLine, ChartSeries, HistoryChart, rgb
from memdash.tui.widgets.process_table import smaps_age
from memdash.tui.widgets.footer import KeysFooter
from memdash.units import human_bytes, human_duration, human_percent, human_rate

#: The longest command line the view shows (the rest is cut with "…").
COMMAND_MAX = 4000


#: Seconds a live process series spans (History keeps 60 points, one every 5 s);
#: a longer window is a recording's, drawn from fewer, downsampled points.
LIVE_SPAN = 300.0


#: The chart's lines beside RSS, in the order of :func:`memdash.engine.process_smaps_keys`.
SMAPS_LINES = ("PSS", "USS", "swap")


def process_series_key(pid: int) -> str:
    """The History key of a process's RSS series."""
    return f"process.{pid}.rss"


class ProcessScreen(RepaintBelowOnClose, Screen[None]):
    """Details of process ``pid``; the app feeds it each frame's row."""

    DEFAULT_CSS = """
    ProcessScreen #p-title { height: 1; background: $panel; text-style: bold; padding: 0 1; }
    ProcessScreen #p-figures { height: auto; padding: 0 1; }
    ProcessScreen #p-breakdown, ProcessScreen #p-smaps { height: auto; padding: 0 1; }
    ProcessScreen #p-legend { height: 1; padding: 0 1; }
    ProcessScreen #p-chart { height: 1fr; min-height: 8; }
    ProcessScreen #p-bottom { height: auto; max-height: 50%; }
    ProcessScreen #p-children { width: 1fr; height: auto; padding: 0 1; }
    ProcessScreen #p-command { width: 2fr; height: auto; padding: 0 1; }
    ProcessScreen .section { text-style: bold; color: $primary; }
    """
    BINDINGS = [Binding("escape,backspace", "app.pop_screen", "Back", id="process_back")]

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid
        self.detail: ProcessDetail | None = None
        """The last breakdown read (see :meth:`show_detail`)."""
        self._row: ProcessMemory | None = None
        self._now: float | None = None
        self._colour_theme: str | None = None
        self._colour_cache: dict[str, tuple[int, int, int] | None] = {}

    def _render_smaps(self) -> None:
        """USS, PSS and swap from the freshest reading: this view's own (read
        each frame), else the row's; the row's comes from a cache re-read every
        few seconds, so when it is older than the row's RSS it is dim, with its age."""
        p, d = self._row, self.detail
        if p is None or not self.query("#p-smaps"):
            return
        uss: int | None
        pss: int | None
        if d is not None and d.pss_bytes is not None and (p.smaps_time is None or d.time >= p.smaps_time):
            uss, pss, swap, note, style = d.uss_bytes, d.pss_bytes, d.swap_bytes, "", ""
        else:
            age = smaps_age(p, self._now)
            uss, pss, swap = p.uss_bytes, p.pss_bytes, p.swap_bytes
            note = f"   read {human_duration(age)} before RSS" if age is not None and uss is not None else ""
            style = "dim" if note else ""
        line = (f"USS {human_bytes(uss)}  PSS {human_bytes(pss)}  swap {human_bytes(swap)}"
                + (note or "   (USS: its own pages; PSS: shared ones split)"))
        self.query_one("#p-smaps", Static).update(safe.text((line, style)))

    def compose(self) -> ComposeResult:
        yield Label(safe.text(f"Process {self.pid}"), id="p-title")
        yield Static("", id="p-figures")
        yield Static("", id="p-smaps")
        yield Static("", id="p-breakdown")
        yield Static("", id="p-legend")
        yield HistoryChart("memory", id="p-chart")
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
        self._row, self._now = p, now
        figures = [
            [(f"{word}  ", palette.styles[p.level]), f"RSS {human_bytes(p.rss_bytes)} of {human_bytes(p.limit_bytes)} limit"
             f" ({human_percent(p.percent)})   growth {human_rate(p.growth_bytes_per_min, none='~ (under a minute of samples)')}"
             + (f"   GPU {human_bytes(p.gpu_bytes)}" if p.gpu_bytes is not None else "")],
        ]
        self.query_one("#p-figures", Static).update(safe.lines(*figures))  # type: ignore[arg-type]
        self._render_smaps()
        self._show_chart(p, series, palette, now, window, warning_percent)
        self.query_one("#p-cmdline", Static).update(safe.text(command_line(p.cmdline, COMMAND_MAX)))
        kids = [f"{c.pid:>7} {human_bytes(c.rss_bytes):>6}  {command_line(program_name(c.cmdline), 60)}"
                for c in sorted(children, key=lambda c: -c.rss_bytes)[:20]]
        self.query_one("#p-kids", Static).update(safe.lines(*(kids or ["none"])))

    def _show_chart(self, p: ProcessMemory, series: Mapping[str, SeriesView], palette: LevelPalette, now: float,
                    window: float, warning_percent: float | None) -> None:
        """RSS, PSS, USS and swap in bytes on one chart, with a legend line.

        RSS has a point every 5 s; PSS/USS/swap one each time ``smaps_rollup``
        was really read (the engine keeps them while this view is open), so a
        cached reading is never drawn as a fresh point."""
        rss = series.get(process_series_key(p.pid), SeriesView())
        colours = self._colours()
        more = [ChartSeries(label, kept.times, kept.values, colours[label])
                for label, key in zip(SMAPS_LINES, process_smaps_keys(p.pid))
                for kept in (series.get(key, SeriesView()),)]
        lines = [ChartLine(float(p.limit_bytes), "limit", rgb(palette.styles[Level.CRITICAL]))]
        if warning_percent is not None:
            lines.append(ChartLine(p.limit_bytes * warning_percent / 100, "warn", rgb(palette.styles[Level.WARNING])))
        rss_style = palette.styles[p.level]
        chart = self.query_one("#p-chart", HistoryChart)
        chart.plot(rss.times, rss.values, now=now, window=window, unit="bytes", lines=lines,
                   colour=rgb(rss_style), title=f"memory · last {window_label(window)}", more=more)
        # The legend: each line's colour and name; a line with no point in the
        # window says so (smaps denied, or not read yet).
        parts: list[object] = [("━ RSS", rss_style), "  "]
        for s in more:
            drawn = any(now - window <= t <= now + 1 for t in s.times)
            colour = Style(color=Color.from_rgb(*s.colour)) if s.colour else Style()
            parts += [(f"━ {s.label}", colour), "" if drawn else " (no reading yet)", "  "]
        note = "RSS every 5 s, the rest at each smaps read" if window <= LIVE_SPAN else ""
        parts.append((note, "dim"))
        self.query_one("#p-legend", Static).update(safe.text(*parts))  # type: ignore[arg-type]

    def _colours(self) -> dict[str, tuple[int, int, int] | None]:
        """The smaps lines' colours, from the theme (primary, secondary, foreground):
        none of them a level's colour, so RSS keeps its level's."""
        theme = self.app.theme
        if self._colour_theme != theme:
            variables = self.app.get_css_variables()
            self._colour_cache = {
                label: rgb(Style.parse(variables[name])) if variables.get(name) else None
                for label, name in zip(SMAPS_LINES, ("primary", "secondary", "foreground"))
            }
            self._colour_theme = theme
        return self._colour_cache

    def show_detail(self, d: ProcessDetail | None) -> None:
        """Render what the process's memory is made of (``None``: it has exited)."""
        self.detail = d if d is None or d.pid == self.pid else None
        if not self.query("#p-breakdown"):
            return
        self._render_smaps()
        if d is None:
            self.query_one("#p-breakdown", Static).update(safe.text("the process has exited"))
            return
        b = human_bytes
        rows: list[object] = [
            [("RAM     ", "bold"), f"anon {b(d.rss_anon_bytes)}  file {b(d.rss_file_bytes)}  shmem {b(d.rss_shmem_bytes)}"
             f" · peak RSS {b(d.peak_rss_bytes)}"],
        ]
        if d.pss_bytes is not None:
            rows.append([("private ", "bold"), f"{b(d.uss_bytes)}: dirty {b(d.private_dirty_bytes)} clean"
                         f" {b(d.private_clean_bytes)} · shared {b(_add(d.shared_clean_bytes, d.shared_dirty_bytes))}"
                         f" · locked {b(d.locked_bytes)} · THP {b(d.anon_huge_bytes)}"])
            rows.append([("PSS     ", "bold"), f"anon {b(d.pss_anon_bytes)}  file {b(d.pss_file_bytes)}"
                         f"  shmem {b(d.pss_shmem_bytes)} · swap PSS {b(d.swap_pss_bytes)}"])
        cg = d.cgroup
        if cg is None:
            where = "no memory cgroup readable"
        else:
            where = f"{cg.path} (v{cg.version}) usage {b(cg.usage_bytes)}"
        if cg is not None and cg.limit_bytes is not None and cg.limit_bytes == d.limit_bytes:
            applies = f"limit {b(cg.limit_bytes)} applies"
        elif d.limit_bytes is not None:
            applies = f"no limit: the box's {b(d.limit_bytes)} applies"
        else:
            applies = "no limit known"
        rows.append([("cgroup  ", "bold"), where, " · ", applies])
        if d.error:
            rows.append([("not read: ", "bold"), d.error])  # reasons from the OS: data
        self.query_one("#p-breakdown", Static).update(safe.lines(*rows))  # type: ignore[arg-type]


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b
