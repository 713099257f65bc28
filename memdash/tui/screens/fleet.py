"""The Fleet screen: a fleet's containers, services and hosts, worst first, from Prometheus.

A thread worker asks :class:`~memdash.fleet.source.FleetSource` for a frame
every ``interval`` seconds and hands it to the screen; widgets only render.
Everything from outside (labels, error texts) is shown as plain text: the table
paints segments (through :mod:`memdash.textsafe`), the other widgets get text built by
:mod:`memdash.tui.safe`, never markup.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Hashable, Mapping

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual_plotext import PlotextPlot

from memdash.config import Config
from memdash.fleet.model import FleetFrame, FleetUnit, printable
from memdash.fleet.source import RANGES, FleetSource, HistoryView
from memdash.levels import Level
from memdash.tui import safe
from memdash.tui.palette import LevelPalette
from memdash.tui.themes import level_defaults, load_themes
from memdash.tui.widgets.line_table import Cell, ColumnSpec, LineTable
from memdash.units import human_bytes, human_duration, human_percent, human_rate

#: Column key -> (header, width, left-aligned). ``used`` and ``level`` always show.
COLUMN_SPECS: dict[str, tuple[str, int, bool]] = {
    "kind": ("KIND", 9, True),
    "name": ("NAME", 0, True),
    "used": ("USED", 7, False),
    "limit": ("LIMIT", 7, False),
    "percent": ("%LIM", 6, False),
    "growth": ("GROWTH", 9, False),
    "eta": ("OOM IN", 7, False),
    "oom": ("OOM 1h", 6, False),
    "level": ("LEVEL", 9, True),
    "share": ("SHARE", 6, False),
}


@dataclass(frozen=True)
class AttachRequest:
    """The fleet app's result when the user asked to attach to a probe."""

    name: str
    url: str
    unit_id: str


SHORT_KINDS = {"container": "ctr", "service": "svc", "host": "host"}
#: Below this width the table drops LIMIT and SHARE and shortens KIND, so names keep some room.
NARROW = 110


def unit_cells(u: FleetUnit, columns: tuple[str, ...], *, short: bool = False) -> tuple[Cell, ...]:
    """One table row: the cells of ``columns`` (plus kind and name) for ``u``."""
    kind = SHORT_KINDS.get(u.kind, u.kind) if short else u.kind
    values: dict[str, Cell] = {
        "kind": (kind + ("*" if u.probe else ""), Level.UNKNOWN),
        "name": (u.name, Level.UNKNOWN),
        "used": (human_bytes(u.used_bytes), Level.UNKNOWN),
        "limit": (human_bytes(u.limit_bytes), Level.UNKNOWN),
        "percent": (human_percent(u.percent), u.level if u.percent is not None else Level.UNKNOWN),
        "growth": (human_rate(u.growth_bytes_per_min), Level.UNKNOWN),
        "eta": (human_duration(u.oom_eta_seconds), u.level if u.oom_eta_seconds is not None else Level.UNKNOWN),
        "oom": ("-" if u.oom_kills_1h is None else str(u.oom_kills_1h),
                Level.CRITICAL if u.oom_kills_1h else Level.UNKNOWN),
        "level": (u.level.label if u.level is not Level.UNKNOWN else "-", u.level),
        "share": (human_percent(u.share), Level.UNKNOWN),
    }
    return tuple(values[c] for c in ("kind", "name", *columns) if c in values)


#: Rows the table shows: the worst first, so the rest can wait (``--json`` has them
#: all, and a selector narrows the fleet). Formatting 6,000 rows every refresh
#: would cost more than everything else the screen does.
MAX_ROWS = 500


class FleetTable(LineTable):
    """The ranked units (the worst :data:`MAX_ROWS`); Enter opens one."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units: dict[str, FleetUnit] = {}
        self._shown: tuple[FleetFrame, LevelPalette] | None = None

    def on_resize(self, event: Any) -> None:
        super().on_resize(event)
        if self._shown is not None:
            self.show(*self._shown)  # the name column takes the new width

    def show(self, frame: FleetFrame, palette: LevelPalette) -> None:
        self._shown = (frame, palette)
        short = 0 < self.size.width < NARROW
        cols = tuple(c for c in frame.columns if c in COLUMN_SPECS and not (short and c in ("limit", "share")))
        specs = [ColumnSpec(k, *COLUMN_SPECS[k]) for k in ("kind", "name", *cols)]
        if short:
            specs[0] = ColumnSpec("kind", "KIND", 4, True)
        fixed = sum(spec.width + 1 for spec in specs if spec.key != "name")
        # The name takes what is left, less the vertical scrollbar's two cells.
        specs[1] = ColumnSpec("name", "NAME", max(12, self.size.width - fixed - 3), True)
        self.set_columns(specs)
        shown = frame.units[:MAX_ROWS]
        self.units = {u.id: u for u in shown}
        self.set_rows([(u.id, unit_cells(u, cols, short=short)) for u in shown], palette)

    @property
    def cursor_unit(self) -> FleetUnit | None:
        key = self.cursor_key
        return self.units.get(key) if isinstance(key, str) else None

    def row_selected(self, key: Hashable) -> None:
        unit = self.units.get(key) if isinstance(key, str) else None
        if unit is not None:
            self.app.push_screen(FleetDetail(unit))


def header_rows(frame: FleetFrame | None, interval: float, palette: LevelPalette) -> list[list[Any]]:
    """The lines above the table, as parts for :func:`safe.lines`: where, how many,
    the worst level, what the refresh cost, and which families the fleet exports."""
    if frame is None:
        return [["memdash fleet: asking Prometheus..."]]
    worst = max((u.level for u in frame.units), default=Level.UNKNOWN)
    counts = {k: sum(1 for u in frame.units if u.kind == k) for k in ("container", "service", "host")}
    first: list[Any] = [("memdash fleet  ", "bold"), frame.prometheus,
                        f"  {counts['container']} containers, {counts['service']} services, {counts['host']} hosts  "]
    if len(frame.units) > MAX_ROWS:
        first.append(f"(the worst {MAX_ROWS} shown)  ")
    first.append((worst.label.upper() if worst is not Level.UNKNOWN else "UNKNOWN", palette.styles[worst]))
    fams = ", ".join(frame.families) if frame.families else "none of the memory families"
    cost = f"{time.strftime('%H:%M:%S', time.localtime(frame.at))} every {interval:g}s, {frame.queries} queries"
    if frame.server_seconds:
        cost += f" ({frame.server_seconds * 1000:.1f} ms in Prometheus)"
    # The families wrap over several lines on narrow screens: one part, no line breaks of our own.
    return [first, [(f"{cost}; families found: {fams}", "dim")]]


def error_parts(frame: FleetFrame | None, palette: LevelPalette) -> list[Any] | None:
    """The error row's parts, or ``None`` when the refresh went well."""
    if frame is None or not frame.errors:
        return None
    style = palette.styles[Level.CRITICAL]
    lead = "showing the last good ranking; " if frame.stale else ""
    return [("Prometheus: " + lead, style), ("  |  ".join(frame.errors), style)]


class FleetScreen(Screen[None]):
    """The ranked fleet."""

    DEFAULT_CSS = """
    FleetScreen #f-header { height: auto; max-height: 8; padding: 0 1; background: $panel; }
    FleetScreen #f-errors { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    FleetScreen FleetTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("r", "app.refresh_now", "Refresh", id="fleet_refresh"),
        Binding("a", "attach", "Attach probe", id="fleet_attach"),
        Binding("q", "app.quit", "Quit", id="quit"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(safe.text("memdash fleet: asking Prometheus..."), id="f-header")
        yield Static(safe.text(""), id="f-errors")
        yield FleetTable(id="fleet-table")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#f-errors").display = False
        self.query_one(FleetTable).focus()
        app = self.app
        if app.frame is not None:  # type: ignore[attr-defined]  # a frame that came before the mount
            self.show(app.frame, app.interval, app.palette)  # type: ignore[attr-defined]

    def show(self, frame: FleetFrame, interval: float, palette: LevelPalette) -> None:
        self.query_one("#f-header", Static).update(safe.lines(*header_rows(frame, interval, palette)))
        err = error_parts(frame, palette)
        box = self.query_one("#f-errors", Static)
        box.display = err is not None
        if err is not None:
            box.update(safe.text(*err))
        self.query_one(FleetTable).show(frame, palette)

    def action_attach(self) -> None:
        unit = self.query_one(FleetTable).cursor_unit
        if unit is not None:
            self.app.attach(unit)  # type: ignore[attr-defined]


class HistoryPlot(PlotextPlot):
    """A unit's history with its limit line and siblings."""

    def draw(self, view: HistoryView) -> None:
        plt = self.plt
        plt.clear_figure()
        now = time.time()
        scale = 1024 * 1024
        plt.title(f"{printable(view.unit.name, 80)}: {view.unit.used_kind}, MiB, last {human_duration(view.seconds)}")
        for name, points in view.siblings:
            if points:
                plt.plot([(t - now) / 60 for t, _ in points], [v / scale for _, v in points], marker="braille",
                         label=name[:30])
        if view.points:
            plt.plot([(t - now) / 60 for t, _ in view.points], [v / scale for _, v in view.points],
                     marker="braille", label="this", color="red+")
        if view.unit.limit_bytes:
            plt.horizontal_line(view.unit.limit_bytes / scale, color="orange")
        plt.xlabel("minutes")
        self.refresh()


class FleetDetail(Screen[None]):
    """One unit: history over 1 h / 6 h / 24 h with the limit line, siblings, attach."""

    DEFAULT_CSS = """
    FleetDetail #d-title { height: auto; padding: 0 1; background: $panel; }
    FleetDetail HistoryPlot { height: 1fr; }
    FleetDetail #d-siblings { height: auto; max-height: 10; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape,backspace", "app.pop_screen", "Back", id="back"),
        Binding("1", "range(0)", "1h", id="fleet_range_1h"),
        Binding("2", "range(1)", "6h", id="fleet_range_6h"),
        Binding("3", "range(2)", "24h", id="fleet_range_24h"),
        Binding("a", "attach", "Attach probe", id="fleet_attach"),
    ]

    def __init__(self, unit: FleetUnit) -> None:
        super().__init__()
        self.unit = unit
        self.range_index = 0
        self.view: HistoryView | None = None

    def compose(self) -> ComposeResult:
        yield Static(safe.lines(*self._title_rows()), id="d-title")
        yield HistoryPlot(id="d-plot")
        yield Static(safe.text("siblings: loading"), id="d-siblings")
        yield Footer()

    def _title_rows(self) -> list[list[Any]]:
        u = self.unit
        rows: list[list[Any]] = [
            [(f"{u.kind} {u.name}", "bold"), "  " + "  ".join(f"{k}={v}" for k, v in u.labels.items())],
            [f"{u.used_kind} {human_bytes(u.used_bytes)} of {human_bytes(u.limit_bytes)}"
             f" ({u.limit_source or 'no limit'})  {human_percent(u.percent)}  growth {human_rate(u.growth_bytes_per_min)}"
             f"  OOM in {human_duration(u.oom_eta_seconds)}"
             f"  OOM kills 1h {u.oom_kills_1h if u.oom_kills_1h is not None else '-'}  level {u.level.label}"],
        ]
        extras = {"gc_uncollectable": "GC uncollectable +10m", "hit_ratio": "cache hit rate", "psi_some": "PSI some",
                  "psi_full": "PSI full", "rss": "RSS"}
        shown = [f"{label} {u.extra[k]:.3g}" if k != "rss" else f"RSS {human_bytes(u.extra[k])}"
                 for k, label in extras.items() if k in u.extra]
        if shown:
            rows.append(["  ".join(shown)])
        if u.probe:
            rows.append(["memdash probe: press a to attach"])
        return rows

    def on_mount(self) -> None:
        self.load()

    def action_range(self, index: int) -> None:
        self.range_index = index
        self.load()

    def action_attach(self) -> None:
        self.app.attach(self.unit)  # type: ignore[attr-defined]

    @work(thread=True, exclusive=True, group="fleet-history", exit_on_error=False)
    def load(self) -> None:
        width = max(20, self.size.width - 10)
        view = self.app.source.history(self.unit, RANGES[self.range_index], width)  # type: ignore[attr-defined]
        self.app.call_from_thread(self.show, view)

    def show(self, view: HistoryView) -> None:
        self.view = view
        self.query_one(HistoryPlot).draw(view)
        box = self.query_one("#d-siblings", Static)
        if view.error:
            style = self.app.palette.styles[Level.CRITICAL]  # type: ignore[attr-defined]
            box.update(safe.text((f"history: {view.error}", style)))
        else:
            last = {name: pts[-1][1] for name, pts in view.siblings if pts}
            n = len(view.points)
            box.update(safe.text(f"{n} point{'' if n == 1 else 's'} every {human_duration(view.step)}; siblings: ",
                                 ", ".join(f"{n} {human_bytes(v)}" for n, v in last.items()) or "none"))


class FleetApp(App[object]):
    """``memdash fleet``: the Fleet screen over one Prometheus."""

    TITLE = "memdash fleet"

    def __init__(self, source: FleetSource, *, config: Config | None = None, interval: float = 5.0,
                 probes: Mapping[str, str] | None = None, select: str | None = None) -> None:
        super().__init__()
        self.source = source
        self.interval = interval
        self.probes = dict(probes or {})
        self.select = select
        self.palette = LevelPalette()
        self.frame: FleetFrame | None = None
        self.frames = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        loaded = load_themes()
        for theme in loaded.loaded:
            self.register_theme(theme)
        wanted = config.theme if config is not None else "memdash-dark"
        try:
            self.theme = wanted
        except Exception:
            self.theme = "memdash-dark"
        if config is not None and config.keymap:
            self.set_keymap(dict(config.keymap))

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return level_defaults(self.current_theme)

    def on_mount(self) -> None:
        self.palette.refresh_from(self)
        self.push_screen(FleetScreen())
        self._poll()

    def on_unmount(self) -> None:
        self._stop.set()
        self._wake.set()

    @work(thread=True, exclusive=True, group="fleet", exit_on_error=False)
    def _poll(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            frame = self.source.refresh()
            if self._stop.is_set():
                return
            self.call_from_thread(self.apply_frame, frame)
            # A refresh every `interval` from start to start, and a pause of at
            # least a second even when Prometheus is slower than that.
            self._wake.wait(max(1.0, self.interval - (time.monotonic() - started)))
            self._wake.clear()

    def apply_frame(self, frame: FleetFrame) -> None:
        """Take a new frame and render it."""
        self.frame = frame
        self.frames += 1
        for screen in self.screen_stack:
            if isinstance(screen, FleetScreen):
                screen.show(frame, self.interval, self.palette)
                if self.select:
                    screen.query_one(FleetTable).select_key(self.select)
                    self.select = None

    def action_refresh_now(self) -> None:
        self._wake.set()

    def attach(self, unit: FleetUnit) -> None:
        """Find ``unit``'s probe URL (a request to Prometheus: a thread), then leave to attach."""
        if not unit.probe:
            safe.notify(self, f"{unit.name} is not a memdash probe: nothing to attach to", severity="warning")
            return
        self._find_probe(unit)

    @work(thread=True, exclusive=True, group="fleet-attach", exit_on_error=False)
    def _find_probe(self, unit: FleetUnit) -> None:
        url = self.source.probe_url(unit, self.probes)
        self.call_from_thread(self._attach_to, unit, url)

    def _attach_to(self, unit: FleetUnit, url: str | None) -> None:
        if url is None:
            safe.notify(self, f"no URL for {unit.name}'s probe: Prometheus does not list its target; "
                        "map its instance in [fleet] probes", severity="warning")
            return
        self.exit(AttachRequest(name=unit.name[:40], url=url, unit_id=unit.id))
