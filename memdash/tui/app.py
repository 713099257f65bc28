"""MemdashApp: the dashboard, a screen over :class:`memdash.engine.Engine`.

The engine polls, keeps History, discovers probes and runs cleanups on its own
threads, and publishes one immutable :class:`~memdash.engine.Frame` per
refresh; the app posts each to itself as a :class:`FrameReady` message and
hands the frame's parts down to widgets, which only render. The app keeps
screen concerns only (layout, keys, selection, filter and sort, modals) and
tells the engine what it needs through :meth:`Engine.set_view
<memdash.engine.Engine.set_view>`; no widget is read from another thread.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from textual import on, work
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.worker import get_current_worker
from textual.widgets import Input, Label, Static

from memdash.actions import DESCRIPTIONS
from memdash.cli import TOKEN_ENV_DEFAULT
from memdash.prediction import prediction_text
from memdash.history import service_series_key
from memdash.config import Config, TargetConfig
from memdash.engine import Engine, Frame, SeriesView, target_runtime_keys, target_series_keys
from memdash.model import ProcessMemory, TargetSample, TorchDevice
from memdash.program import program_name
from memdash.textsafe import NO_CONTROLS, printable
from memdash.tui import safe
from memdash.tui.palette import LevelPalette
from memdash.tui.screens.confirm import ConfirmCleanup, describe_result
from memdash.tui.screens.help import HelpScreen
from memdash.tui.themes import level_defaults, load_themes
from memdash.tui.widgets.footer import KeysFooter
from memdash.tui.widgets.gpu_panel import GpuPanel, gpu_history_key
from memdash.tui.widgets.chart import WINDOWS, window_label
from memdash.tui.widgets.header import StatusHeader
from memdash.tui.widgets.memory import MemoryPanel
from memdash.tui.widgets.process_table import COLUMN_BY_KEY, SORTABLE, ProcessTable
from memdash.tui.widgets.services_table import SORTS as SERVICE_SORTS
from memdash.tui.widgets.services_table import ServicesTable
from memdash.tui.widgets.targets_table import TargetsTable
from memdash.tui.widgets.text import set_text

INTERVALS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
THEME_CYCLE = ("memdash-dark", "memdash-light", "memdash-contrast", "textual-dark", "nord", "gruvbox")
MIB = 1024 * 1024
SHORT_BELOW = 32  # lines: below this the other tables shrink for the process table
BASE_SERIES = ("system.used",)  # what the main screen charts, beyond what every frame carries
#: Frames after which everything start-up made is frozen out of the cyclic GC
#: (gc.freeze): modules, the screen's widgets, the first scans, the target
#: thread's imports and connections. A full collection then walks only what came
#: since: 50-60 ms every ~30 s with 200 targets before, ~5 ms after.
FREEZE_AFTER_FRAMES = 3


def _service_screen(screen: object) -> Any:
    """``screen`` if it is the service view, else ``None`` (imported when first opened)."""
    mod = sys.modules.get("memdash.tui.screens.service")
    return screen if mod is not None and isinstance(screen, mod.ServiceScreen) else None


def _target_screen(screen: object) -> Any:
    """``screen`` if it is the target view, else ``None``.

    The target view is imported when first opened, not at start-up.
    """
    mod = sys.modules.get("memdash.tui.screens.target")
    return screen if mod is not None and isinstance(screen, mod.TargetScreen) else None


def screenshot_dir() -> Path:
    """Where screenshots go: ``$XDG_DOWNLOAD_DIR`` when it names a folder, else
    the current directory (a server has no ~/Downloads)."""
    xdg = os.environ.get("XDG_DOWNLOAD_DIR")
    if xdg and Path(xdg).expanduser().is_dir():
        return Path(xdg).expanduser()
    return Path.cwd()


def _process_screen(screen: object) -> Any:
    """``screen`` if it is the process view, else ``None`` (imported when first opened)."""
    mod = sys.modules.get("memdash.tui.screens.process")
    return screen if mod is not None and isinstance(screen, mod.ProcessScreen) else None


class FrameReady(Message):
    """The engine published a frame (posted from the engine's thread)."""

    def __init__(self, frame: Frame) -> None:
        super().__init__()
        self.frame = frame


class MemdashApp(App[int]):
    """The memdash dashboard."""

    CSS_PATH = "app.tcss"
    TITLE = "memdash"
    # The order is the footer's: what a user needs first (quit, help, the
    # cleanups the selection offers, filter, sort); keys that do not fit at the
    # width are left out of the footer whole and listed by help (?).
    # Descriptions are short for the footer; tooltips say more (help shows them).
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="help",
                tooltip="every key, and the thresholds"),
        Binding("g", "cleanup('gc')", "GC", id="force_gc", tooltip="gc.collect() in the service"),
        Binding("c", "cleanup('caches')", "Caches", id="purge_caches", tooltip="clear its tracked caches"),
        Binding("e", "cleanup('cuda')", "CUDA", id="cuda_cache", tooltip="torch.cuda.empty_cache()"),
        Binding("t", "cleanup('trim')", "Trim", id="malloc_trim", tooltip="glibc malloc_trim(0)"),
        Binding("x", "cleanup('all')", "All cleanups", id="cleanup_all", tooltip="each of the above"),
        Binding("slash", "filter", "Filter", key_display="/", id="filter"),
        Binding("s", "cycle_sort", "Sort", id="sort"),
        Binding("a", "toggle_all", "All/top", id="show_all", tooltip="every process, or as many as fit"),
        Binding("p", "toggle_pause", "Pause", id="pause", tooltip="stop or restart every poll"),
        Binding("plus,equals_sign", "interval(1)", "Slower", key_display="+", id="slower",
                tooltip="refresh less often"),
        Binding("minus", "interval(-1)", "Faster", key_display="-", id="faster", tooltip="refresh more often"),
        Binding("r", "reverse_sort", "Reverse sort", id="reverse_sort", show=False),
        Binding("w", "toggle_tree", "Tree: workers under their master", id="tree", show=False),
        Binding("T", "cycle_theme", "Theme", key_display="T", id="theme", show=False),
        Binding("escape", "clear_filter", "Clear filter", id="clear_filter", show=False),
        Binding("left_square_bracket", "window(-1)", "Shorter chart window", key_display="[", id="window_shorter", show=False),
        Binding("right_square_bracket", "window(1)", "Longer chart window", key_display="]", id="window_longer", show=False),
    ]

    def __init__(
        self,
        config: Config,
        *,
        engine: Engine | None = None,
        collector: Any = None,
        gpu: bool = True,
        discover: bool = True,
        select_target: str | None = None,
        poll_targets: bool = True,
        services: bool = True,
    ) -> None:
        """``engine`` drives the screen (default: one built from ``config``,
        ``collector``, ``gpu``, ``discover``, ``poll_targets`` and ``services``); the
        app starts it after the first paint and closes it on exit."""
        super().__init__()
        self.config = config
        self.engine = engine if engine is not None else Engine(
            config, collector=collector, gpu=gpu, discover=discover, poll_targets=poll_targets, services=services,
            targets_after_first_frame=True,  # the target thread's start-up off the first paint
        )
        self.select_target = select_target
        self.show_all = False
        self.process_tree = False  # processes under their parents (a pre-fork master's workers under it)
        self.sort: tuple[str, bool] = ("rss", True)
        self.filter_text = ""
        self.palette = LevelPalette()
        self.frame: Frame | None = None
        self.last_result: str | None = None
        self._cleanup_keys_shown: tuple[object, ...] = ()
        self._last_table: ProcessTable | TargetsTable | ServicesTable | None = None
        self._frames_seen = 0
        self._froze = False  # gc.freeze() done: undone on exit
        self.window_index = 1  # WINDOWS[1]: the last 5 minutes
        self._theme_errors: list[str] = []
        loaded = load_themes()
        for theme in loaded.loaded:
            self.register_theme(theme)
        self._theme_errors = loaded.failed
        try:
            self.theme = config.theme
        except Exception:
            self._theme_errors.append(f"unknown theme {config.theme!r}; using memdash-dark")
            self.theme = "memdash-dark"
        if config.keymap:
            from memdash.tui.keys import check_keymap
            from memdash.tui.screens.process import ProcessScreen
            from memdash.tui.screens.service import ServiceScreen
            from memdash.tui.screens.target import TargetScreen

            # Unknown ids and keys taken twice are config errors (exit 2), not silently lost keys.
            check_keymap(config.keymap, [self.BINDINGS, ConfirmCleanup.BINDINGS, HelpScreen.BINDINGS,
                                         TargetScreen.BINDINGS, ProcessScreen.BINDINGS, ServiceScreen.BINDINGS],
                         config.path)
            self.set_keymap(dict(config.keymap))

    # -- theme -----------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return level_defaults(self.current_theme)

    def _on_theme_changed(self, _theme: object) -> None:
        self.palette.refresh_from(self)
        if self.frame is not None:
            self.query_one(ProcessTable).repaint(self.palette)
            self.query_one(TargetsTable).repaint(self.palette)
            self.query_one(ServicesTable).repaint(self.palette)
            self._render_targets(self.frame)

    # -- layout ----------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with Vertical(id="main"):
            yield MemoryPanel()
            yield GpuPanel()
            yield Label("Targets", id="targets-title", classes="section")
            yield TargetsTable(id="targets")
            yield Label("Services", id="services-title", classes="section")
            yield ServicesTable(id="services")
            yield Label("Processes", id="procs-title", classes="section")
            yield ProcessTable(id="processes")
        yield Input(placeholder="filter: part of a command, user or pid (enter to apply, escape to clear)", id="filter",
                    restrict=NO_CONTROLS)  # a pasted escape would reach the terminal as it is drawn
        yield Static("", id="status")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.palette.refresh_from(self)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self.query_one("#filter", Input).display = False
        self._layout_for(self.size.width, self.size.height)
        has_targets = bool(self.config.targets)
        self.query_one("#targets-title").display = has_targets
        self.query_one(TargetsTable).display = has_targets
        self.query_one("#services-title").display = False
        services = self.query_one(ServicesTable)
        services.display = False
        services.thresholds = self.config.thresholds
        self.query_one("#status").display = False
        self.query_one(ProcessTable).focus()
        for message in self._theme_errors:
            safe.notify(self, message, severity="error", timeout=8)
        self.engine.set_view(series=BASE_SERIES)
        self.engine.subscribe(self._frame_published)
        # Start after the first paint: the first scan of every process (and NVML
        # start-up) would otherwise hold up the first frame.
        self.call_after_refresh(self.engine.start)

    def on_resize(self, event: Any) -> None:
        self._layout_for(event.size.width, event.size.height)
        # The table's height is known after this layout: fill it then.
        self.call_after_refresh(self._rerender, refresh=True)

    def _layout_for(self, width: int, height: int = 40) -> None:
        narrow = width < 110
        self.set_class(narrow, "-narrow")
        # Short terminals (24 lines): the targets and services tables give up
        # rows so the process table keeps some (app.tcss).
        self.set_class(height < SHORT_BELOW, "-short")
        self.query_one(MemoryPanel).set_class(narrow, "-narrow")
        self.query_one(ProcessTable).set_layout(narrow=narrow, width=width, sort=self.sort)
        if self.frame is not None:
            self._render_processes(self.frame)

    # -- frames ------------------------------------------------------------

    def _frame_published(self, frame: Frame) -> None:
        # On the engine's thread: post_message is thread-safe; nothing else here is touched.
        self.post_message(FrameReady(frame))

    def _widgets_alive(self) -> bool:
        """Whether the dashboard's widgets are all there to render into.

        Shutting down prunes every widget at once, each removing its children
        in its own task, and under Pilot the shutdown runs beside the message
        loop: a frame can arrive when the header is there but its labels are
        gone. Pruning marks every widget first, and a marked widget reports
        ``display`` False (the header is never hidden otherwise). A view on
        top (the process view) is pruned first, before the header is marked:
        the screen a frame would render into must not be marked either."""
        # The header found last time, while it is still in the DOM: a query walks
        # every widget, once a frame (it was ~9 % of the UI thread's time).
        header = getattr(self, "_alive_header", None)
        if header is None or not header.is_attached:
            found = self.query(StatusHeader)
            if not found:
                return False
            header = self._alive_header = found.first()
        if not header.display:
            return False
        try:
            return bool(self.screen.display)
        except ScreenStackError:  # every screen is gone
            return False

    def on_frame_ready(self, message: FrameReady) -> None:
        """Render a new frame: one message per frame, whatever number of samples it holds."""
        if not self._widgets_alive():
            return  # a frame that arrived while the app shuts down: its widgets are gone
        frame = self.frame = message.frame
        with self.batch_update():
            self._render_header()
            self._render_memory(frame)
            self._render_gpus(frame)
            self._render_processes(frame)
            self._render_targets(frame)
            self._render_services(frame)
            screen = _target_screen(self.screen)
            service_screen = _service_screen(self.screen)
            process_screen = _process_screen(self.screen)
            if screen is not None:
                self._show_target(screen, frame)
            elif service_screen is not None:
                self._show_service(service_screen, frame)
            elif process_screen is not None:
                self._show_process(process_screen, frame)
            elif self.engine.view.series != BASE_SERIES:
                self.engine.set_view(series=BASE_SERIES)  # a view closed: stop copying its history
        if self.select_target is not None and frame.target(self.select_target) is not None:
            name, self.select_target = self.select_target, None
            self.query_one(TargetsTable).select_name(name)
            self.open_target(name)
        self._refresh_cleanup_keys()
        self._frames_seen += 1
        if self._frames_seen == FREEZE_AFTER_FRAMES:
            gc.freeze()
            self._froze = True

    def _render_memory(self, frame: Frame) -> None:
        self.query_one(MemoryPanel).show(
            frame.system, frame.series.get("system.used", SeriesView()), now=self.chart_now(frame.time),
            window=self.chart_window(),
            palette=self.palette, warning_percent=self.config.thresholds.warning,
        )

    def chart_now(self, now: float) -> float:
        """The moment charts end at, given the frame's ``now`` (a replay of the
        whole recording ends them at the recording's end)."""
        return now

    def chart_window(self) -> float:
        """Seconds the charts show: the chosen window, within what History keeps
        at the interval in force (600 points at 1 s is 10 minutes)."""
        kept = self.engine.history.points * self.engine.interval
        fitting = [w for w in WINDOWS if w <= kept] or [WINDOWS[0]]
        return fitting[min(self.window_index, len(fitting) - 1)]

    def action_window(self, step: int) -> None:
        kept = self.engine.history.points * self.engine.interval
        most = max(0, len([w for w in WINDOWS if w <= kept]) - 1)
        self.window_index = max(0, min(most, min(self.window_index, most) + step))
        safe.notify(self, f"charts: last {window_label(self.chart_window())}", timeout=2)
        if self.frame is not None:
            self._render_memory(self.frame)
            screen = _target_screen(self.screen)
            if screen is not None:
                self._show_target(screen, self.frame)
            elif _service_screen(self.screen) is not None:
                self._show_service(self.screen, self.frame)
            elif _process_screen(self.screen) is not None:
                self._show_process(self.screen, self.frame)

    @staticmethod
    def _series(frame: Frame, key: str) -> tuple[float, ...]:
        return frame.series.get(key, SeriesView()).values

    def _render_header(self) -> None:
        frame = self.frame
        if frame is None:
            return
        self.query_one(StatusHeader).show(
            host=frame.host,
            uptime_seconds=frame.uptime_seconds,
            interval=self.engine.interval,
            paused=self.engine.paused,
            level=frame.level,
            processes=frame.process_count,
            targets=len(frame.targets),
            failing=sum(1 for t in frame.targets if not t.ok),
            unreadable=len(frame.errors) + (frame.system is None),
        )

    def _render_gpus(self, frame: Frame) -> None:
        names = {p.pid: p.name for p in frame.processes}
        torch: dict[int, TorchDevice] = {}
        for t in frame.targets:
            if t.pid is not None and t.gpu:
                torch[t.pid] = t.gpu[0]
        history = {key: self._series(frame, key) for key in map(gpu_history_key, frame.gpus.devices)}
        self.query_one(GpuPanel).show(frame.gpus, history, names, torch)

    def _visible_rows(self, frame: Frame) -> list[ProcessMemory]:
        rows: Iterable[ProcessMemory] = frame.processes
        if self.filter_text:
            needle = self.filter_text.lower()
            rows = [p for p in rows if needle in p.cmdline.lower() or needle in (p.user or "").lower() or needle == str(p.pid)]
        key, reverse = self.sort
        column = COLUMN_BY_KEY[key]
        ordered = sorted(rows, key=lambda p: (column.sort_key(p), p.pid), reverse=reverse)
        if not self.show_all:
            ordered = ordered[: self.row_limit()]
        return ordered

    def row_limit(self) -> int:
        """How many process rows "top" shows: as many as the table has lines for
        (no blank lines, nothing hidden that would fit), at most ``top`` where
        the config or ``--top`` sets it (``top = 25`` too: a cap is a cap)."""
        try:
            fit = self.query_one(ProcessTable).size.height - 1  # the header line
        except Exception:
            fit = 0
        if fit <= 0:
            return self.config.top
        return min(self.config.top, fit) if self.config.top_set else fit

    def _render_processes(self, frame: Frame) -> None:
        rows = self._visible_rows(frame)
        probed = frozenset(t.pid for t in frame.targets if t.pid is not None)
        table = self.query_one(ProcessTable)
        # Top mode fits the rows to the table: a scrollbar there is only ever a
        # moment's (the table resized, the rows not yet refitted), and showing
        # then hiding it lays out and repaints the whole screen twice.
        overflow = "auto" if self.show_all else "hidden"
        if table.styles.overflow_y != overflow:
            table.styles.overflow_y = overflow
        table.show_rows(rows, self.palette, probed, tree=self.process_tree, now=frame.time)
        scope = "all" if self.show_all else f"top {self.row_limit()}"
        filt = f", filter {self.filter_text!r}" if self.filter_text else ""
        key, reverse = self.sort
        title = (
            f"Processes: {len(rows)} shown ({scope}{filt}) of {frame.process_count},"
            f" sorted by {COLUMN_BY_KEY[key].label} {'desc' if reverse else 'asc'}"
            f"{', as a tree (w)' if self.process_tree else ''}"
        )
        if probed:
            title += "   ◆ = Python probe attached"
        set_text(self.query_one("#procs-title", Label), title)
        # The next polls read USS/PSS for the rows on screen (and keep every row
        # when a filter or sort may show any of them).
        self._update_view(table)

    def _update_view(self, table: ProcessTable | None = None, *, refresh: bool = False) -> None:
        table = table or self.query_one(ProcessTable)
        # Any order but largest RSS first (r, another column) may show any process.
        need_all = (self.show_all or bool(self.filter_text) or self.sort != ("rss", True)
                    or _process_screen(self.screen) is not None)  # its children may be any process
        self.engine.set_view(detail_pids=tuple(table.visible_pids()), need_all=need_all, top=self.row_limit(),
                             refresh=refresh)

    def _render_targets(self, frame: Frame) -> None:
        if not frame.targets:
            return
        table = self.query_one(TargetsTable)
        if not table.display:
            self.query_one("#targets-title").display = True
            table.display = True
        table.show(frame.targets, self.palette, now=frame.published)  # ages against the frame's clock

    # -- services ---------------------------------------------------------------

    def _render_services(self, frame: Frame) -> None:
        table = self.query_one(ServicesTable)
        shown = bool(frame.services)
        if shown != table.display:
            self.query_one("#services-title").display = shown
            table.display = shown
        if not shown:
            return
        table.show(frame.services, self.palette)
        label = next(words for key, words in SERVICE_SORTS if key == table.sort_by)
        title = (f"Services: {len(frame.services)}, sorted by {label}"
                 f"{' (reversed)' if table.sort_reverse else ''}   enter: details")
        set_text(self.query_one("#services-title", Label), title)

    def _show_service(self, screen: Any, frame: Frame) -> None:
        service = next((s for s in frame.services if s.key == screen.service_key), None)
        history = frame.series.get(service_series_key(screen.service_key), SeriesView())
        screen.show(service, history, self.palette, self.config.thresholds, now=frame.published,
                    chart_now=self.chart_now(frame.time), window=self.chart_window())

    def open_service(self, key: str) -> None:
        """Push the service view for the service with ``key``."""
        from memdash.tui.screens.service import ServiceScreen

        frame = self.frame
        if frame is None or not any(s.key == key for s in frame.services):
            return
        screen = ServiceScreen(key)
        self.push_screen(screen)
        self.engine.set_view(series=(*BASE_SERIES, service_series_key(key)), refresh=True)
        screen.call_after_refresh(self._show_newest, self._show_service, screen)

    @on(ServicesTable.Selected)
    def _service_selected(self, event: ServicesTable.Selected) -> None:
        self.open_service(event.key)

    # -- the target view ------------------------------------------------------

    def _show_target(self, screen: Any, frame: Frame) -> None:
        sample = frame.target(screen.target_name)
        if sample is None:
            return
        # Target samples are stamped by the clock when they came: the frame's publish time is "now" for them.
        screen.show(sample, frame.series, self.palette, now=self.chart_now(frame.published), window=self.chart_window(),
                    warning_percent=self.config.thresholds.warning, blocker=self.cleanup_blocker(sample))

    def open_target(self, name: str) -> None:
        """Push the target view for ``name``."""
        from memdash.tui.screens.target import TargetScreen

        frame = self.frame
        if frame is None or frame.target(name) is None:
            return
        screen = TargetScreen(name)
        self.push_screen(screen)
        self.engine.set_view(series=(*BASE_SERIES, *target_series_keys(name), *target_runtime_keys(name)))
        screen.call_after_refresh(self._show_newest, self._show_target, screen)
        if self.last_result:
            screen.call_after_refresh(screen.show_result, self.last_result)

    @on(TargetsTable.Selected)
    def _target_selected(self, event: TargetsTable.Selected) -> None:
        self.open_target(event.name)

    @on(ProcessTable.Selected)
    def _process_selected(self, event: ProcessTable.Selected) -> None:
        """Enter on a row: a ◆ process opens its target view (the probe's panels), any other its process view."""
        if self.frame is None:
            return
        for t in self.frame.targets:
            if t.pid == event.pid:
                self.open_target(t.name)
                return
        self.open_process(event.pid)

    def open_process(self, pid: int) -> None:
        """Push the process view for ``pid``."""
        from memdash.tui.screens.process import ProcessScreen, process_series_key

        screen = ProcessScreen(pid)
        self.push_screen(screen)
        # Its children may be any process: keep every row while it is open.
        # Its RSS series, and PSS/USS/swap kept by the engine while the view is open.
        from memdash.engine import process_smaps_keys

        self.engine.set_view(series=(*BASE_SERIES, process_series_key(pid), *process_smaps_keys(pid)),
                             need_all=True, refresh=True)
        screen.call_after_refresh(self._show_newest, self._show_process, screen)

    def _show_newest(self, show: Callable[[Any, Frame], None], screen: Any) -> None:
        """``show(screen, frame)`` with the newest frame, for a view just opened.

        It runs after the view's first refresh, by when newer frames may have
        drawn it already: the frame from when it was opened would draw an older
        state over theirs (a chart with no samples yet over one with samples)."""
        if self.frame is not None:
            show(screen, self.frame)

    def _show_process(self, screen: Any, frame: Frame) -> None:
        row = next((p for p in frame.processes if p.pid == screen.pid), None)
        children = [p for p in frame.processes if p.ppid == screen.pid]
        screen.show(row, children, frame.series, self.palette, now=self.chart_now(frame.time), window=self.chart_window(),
                    warning_percent=self.config.thresholds.warning)
        # Only over this box's own processes: a recording's or a scene's pids are
        # not this box's (another process may hold the pid here).
        from memdash.collector import LocalCollector  # loaded by now: frames come from it (not before the first paint)

        if isinstance(getattr(self.engine, "collector", None), LocalCollector):
            system = frame.system
            box = (system.limit_bytes or system.total_bytes) if system is not None else None
            self._read_process_detail(screen, box)

    @work(thread=True, exclusive=True, group="process-detail", exit_on_error=False)
    def _read_process_detail(self, screen: Any, box_limit_bytes: int | None) -> None:
        """Read the open process's breakdown off the UI thread (smaps_rollup
        costs milliseconds for a big process), once a frame; the view renders it."""
        from memdash.sources.process_detail import read_process_detail

        detail = read_process_detail(screen.pid, box_limit_bytes=box_limit_bytes)
        if not get_current_worker().is_cancelled:
            self.call_from_thread(screen.show_detail, detail)

    @on(ProcessTable.Resized)
    def _process_table_resized(self) -> None:
        # Its height is the "top" row count: show as many rows as now fit and
        # say so in the title (not only on the next frame).
        if not self.show_all:
            self._rerender()

    @on(TargetsTable.Highlighted)
    @on(ProcessTable.Highlighted)
    @on(ServicesTable.Highlighted)
    def _row_highlighted(self, event: object) -> None:
        self._refresh_cleanup_keys()

    def on_descendant_focus(self, event: object) -> None:
        self._table_in_use()  # remember the table: the keys now act on its row
        self._refresh_cleanup_keys()

    def _refresh_cleanup_keys(self) -> None:
        """Refresh the footer only when the cleanup keys on offer change.

        The footer rebuilds every key widget on each refresh_bindings(); doing
        that on every sample piled up widgets faster than Textual freed them.
        """
        target = self.selected_target()
        key = (id(self.screen), target.name if target else None, target.actions if target else (),
               self.cleanup_blocker(target) if target else None)
        if key != self._cleanup_keys_shown:
            self._cleanup_keys_shown = key
            self.refresh_bindings()

    @on(ProcessTable.SortRequested)
    def _sort_requested(self, event: ProcessTable.SortRequested) -> None:
        key, reverse = self.sort
        self.sort = (event.column, not reverse) if event.column == key else (event.column, event.column != "command")
        self._resort()

    # -- actions -----------------------------------------------------------

    def _table_in_use(self) -> ProcessTable | TargetsTable | ServicesTable:
        """The table the user looks at: the focused one, else the last one focused
        (the filter box or a closed dialog leaves it as it was)."""
        focused = self.focused
        if isinstance(focused, (ProcessTable, TargetsTable, ServicesTable)):
            self._last_table = focused
        return self._last_table or self.query_one(ProcessTable)

    def selected_target(self) -> TargetSample | None:
        """The target cleanup keys act on: the open target view's, else the
        highlighted row's in the table in use (a target row, or the probe of a
        ◆ process); never a row of a table the user is not in."""
        frame = self.frame
        if frame is None:
            return None
        screen = _target_screen(self.screen)
        if screen is not None:
            return frame.target(screen.target_name)
        table = self._table_in_use()
        if isinstance(table, TargetsTable):
            name = table.cursor_name
            return frame.target(name) if name else None
        if isinstance(table, ServicesTable):  # a service: the probe in one of its processes
            service = next((sv for sv in frame.services if sv.key == table.cursor_service), None)
            if service is None:
                return None
            pids = {service.master_pid, *(w.pid for w in service.workers)} - {None}
            return next((t for t in frame.targets if t.pid in pids), None)
        pid = table.cursor_pid
        return next((t for t in frame.targets if t.pid == pid and pid is not None), None)

    def target_config(self, name: str) -> TargetConfig | None:
        """The config of target ``name`` (``None`` for a probe found on its socket)."""
        return next((t for t in self.config.targets if t.name == name), None)

    def cleanup_blocker(self, target: TargetSample) -> str | None:
        """Why ``target`` would refuse every cleanup, in words with the fix; ``None`` if it would not.

        A URL target needs a bearer token (a probe on its own 0600 Unix socket
        does not); a read-only config or target offers none."""
        if self.config.read_only:
            return "read-only: cleanups are disabled by the config (read_only = true) or --read-only"
        tc = self.target_config(target.name)
        if tc is None:
            return None
        if tc.read_only:
            return f"read-only: cleanups are disabled for this target (targets.{tc.name}.read_only)"
        if target.kind != "probe" or not tc.url.startswith(("http://", "https://")):
            return None  # a JSON target's own endpoints (its [actions]) may need no token
        try:
            token = tc.token()
        except Exception:  # an unreadable token file: the poll error says which
            token = None
        if token:
            return None
        if tc.token_file:
            where = f"the file {tc.token_file} (token_file)"
        elif tc.token_env:
            where = f"${tc.token_env}" + ("" if tc.token_env == TOKEN_ENV_DEFAULT else " (token_env)")
        else:
            where = f"an environment variable named by token_env = ... under [targets.{tc.name}]"
        return ("no token: cleanups need the service's probe token (MEMDASH_PROBE_TOKEN on the service)"
                f" and the same token in {where}")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("filter", "toggle_all", "toggle_tree", "cycle_sort", "reverse_sort", "clear_filter"):
            # Process-table keys mean nothing over the target, service or process view.
            return (_target_screen(self.screen) is None and _service_screen(self.screen) is None
                    and _process_screen(self.screen) is None)
        if action == "cleanup":
            if self.config.read_only:
                return False
            target = self.selected_target()
            # A read-only target's samples offer no actions; a key the target
            # would refuse (no token) is not offered either.
            return target is not None and parameters[0] in target.actions and self.cleanup_blocker(target) is None
        return True

    def action_help(self) -> None:
        # memdash's own keys first, in the order of BINDINGS (with any keymap
        # applied), then how to move around; not every inherited scroll binding.
        # Every key once: a cleanup the selection does not offer is listed, marked so.
        rows: list[tuple[str, str]] = []
        active = {b.binding.id: b.binding for b in self.screen.active_bindings.values() if b.binding.id}
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            b = active.get(binding.id, binding) if binding.id else binding
            desc = f"{b.description} — {b.tooltip}" if b.tooltip else b.description
            if binding.action.startswith("cleanup"):
                if self.config.read_only:
                    continue
                if not self.check_action("cleanup", (binding.action[9:-2],)):
                    desc += " (on a ◆/target row)"
            elif binding.id == "clear_filter":
                desc = "clear the filter; back, in a target view"
            rows.append((self.get_key_display(b), desc))
        seen = {key for key, _ in rows}
        rows += [row for row in (
            ("↑ ↓  j k", "move in a table"),
            ("pgup pgdn", "page; home/end: first/last row"),
            ("tab", "next table"),
            ("enter", "open the selected service, target or process (a ◆ one: its target)"),
            ("in Services", "s and r sort services by %LIM, working set, ETA, growth"),
            ("click header", "sort by that column"),
            ("ctrl+p", "command palette (memdash's commands, themes, screenshot, keys)"),
        ) if row[0] not in seen]
        self.push_screen(HelpScreen(rows, self.config.read_only, self.config.thresholds))

    # -- the command palette --------------------------------------------------

    def get_system_commands(self, screen: Any) -> Iterable[SystemCommand]:
        """memdash's own commands first (the cleanups the selection offers, sort
        by each column, filter, pause, theme, chart window, screenshot), then
        Textual's (less its screenshot, which assumes ~/Downloads)."""
        target = self.selected_target()
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            if binding.action.startswith("cleanup") and target is not None:
                action = binding.action[9:-2]
                if self.check_action("cleanup", (action,)):
                    yield SystemCommand(f"{binding.description} on {printable(target.name)}",
                                        f"{DESCRIPTIONS[action][1]} ({printable(self.describe_target(target))})",
                                        lambda a=action: self.action_cleanup(a))
        if _target_screen(self.screen) is None:
            for key in SORTABLE:
                label = COLUMN_BY_KEY[key].label
                yield SystemCommand(f"Sort by {label}", f"order the processes by {label} (again: reverse)",
                                    lambda k=key: self.post_message(ProcessTable.SortRequested(k)))
            yield SystemCommand("Filter processes", "show only processes whose command, user or pid matches",
                                self.action_filter)
            yield SystemCommand("Show all processes" if not self.show_all else "Show top processes",
                                "every process, or only as many as fit", self.action_toggle_all)
        yield SystemCommand("Resume" if self.engine.paused else "Pause",
                            "stop or restart every poll: processes and targets", self.action_toggle_pause)
        yield SystemCommand("Next memdash theme", "memdash-dark, memdash-light, memdash-contrast, ...",
                            self.action_cycle_theme)
        yield SystemCommand("Longer chart window", "1 min, 5 min, 15 min, 1 h (as History keeps)",
                            lambda: self.action_window(1))
        yield SystemCommand("Shorter chart window", "1 h, 15 min, 5 min, 1 min", lambda: self.action_window(-1))
        yield SystemCommand("Save screenshot", f"an SVG of the screen in {screenshot_dir()}",
                            lambda: self.set_timer(0.1, self.save_screenshot_here))
        for command in super().get_system_commands(screen):
            if command.title != "Screenshot":
                yield command

    def save_screenshot_here(self) -> str | None:
        """Save an SVG of the screen to $XDG_DOWNLOAD_DIR, else the current
        directory, and say where (or why not)."""
        folder = screenshot_dir()
        try:
            path = self.save_screenshot(path=str(folder))
        except OSError as exc:
            safe.notify(self, f"screenshot not saved in {folder}: {exc.strerror or exc}", severity="error", timeout=8)
            return None
        safe.notify(self, f"screenshot saved: {path}", timeout=8)
        return path

    def action_toggle_pause(self) -> None:
        self.engine.set_paused(not self.engine.paused)
        self._render_header()

    def action_interval(self, step: int) -> None:
        current = self.engine.interval
        idx = min(range(len(INTERVALS)), key=lambda i: abs(INTERVALS[i] - current))
        self.engine.set_interval(INTERVALS[max(0, min(len(INTERVALS) - 1, idx + step))])
        self._render_header()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display or self.filter_text:
            self.filter_text = ""
            box.value = ""
            box.display = False
            self.query_one(ProcessTable).focus()
            self._rerender(refresh=True)

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._rerender()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.filter_text = event.value.strip()
        event.input.display = bool(self.filter_text)
        self.query_one(ProcessTable).focus()
        self._rerender(refresh=True)

    def action_toggle_tree(self) -> None:
        self.process_tree = not self.process_tree
        self._rerender(refresh=False)

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._rerender(refresh=True)

    def action_cycle_sort(self) -> None:
        services = self.query_one(ServicesTable)
        if services.has_focus:
            # s over the services table sorts services: %LIM, working set, ETA, growth
            services.cycle_sort()
            if self.frame is not None:
                self._render_services(self.frame)
            return
        key, reverse = self.sort
        nxt = SORTABLE[(SORTABLE.index(key) + 1) % len(SORTABLE)]
        self.sort = (nxt, nxt not in ("command", "user", "pid"))
        self._resort()

    def action_reverse_sort(self) -> None:
        services = self.query_one(ServicesTable)
        if services.has_focus:
            services.reverse_sort()
            if self.frame is not None:
                self._render_services(self.frame)
            return
        key, reverse = self.sort
        self.sort = (key, not reverse)
        self._resort()

    def _resort(self) -> None:
        self.query_one(ProcessTable).set_layout(narrow=self.has_class("-narrow"), width=self.size.width, sort=self.sort)
        self._rerender(refresh=True)

    def _rerender(self, *, refresh: bool = False) -> None:
        """Show the current frame's rows again (filter, sort or scope changed);
        ``refresh`` polls at once for rows the frame may lack."""
        # Also reached from the table's own Resized message, which can be
        # delivered after shutdown has begun removing the table.
        if not self._widgets_alive() or not self.query(ProcessTable):
            return
        if self.frame is not None:
            self._render_processes(self.frame)
        self._update_view(refresh=refresh)

    def action_cycle_theme(self) -> None:
        names = [n for n in THEME_CYCLE if n in self.available_themes]
        current = names.index(self.theme) if self.theme in names else -1
        self.theme = names[(current + 1) % len(names)]
        safe.notify(self, f"theme: {self.theme}", timeout=2)

    def action_cleanup(self, action: str) -> None:
        target = self.selected_target()
        if target is None or not self.check_action("cleanup", (action,)):
            return
        _, description = DESCRIPTIONS[action]
        if target.kind == "redis" and action == "trim":
            description = "ask Redis to return free memory to the OS (MEMORY PURGE)"

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._do_cleanup(target.name, action), group="actions", exit_on_error=False)

        prediction = prediction_text(action, target.python_memory)
        self.push_screen(ConfirmCleanup(target.name, action, description, self.describe_target(target), prediction),
                         confirmed)

    def describe_target(self, target: TargetSample) -> str:
        """``python3 app.py · pid 4101 · http://127.0.0.1:8765/``: what a cleanup
        would reach, by program, pid and URL (raw text: show it through safe.*)."""
        parts = []
        proc = None
        if target.pid is not None and self.frame is not None:
            proc = next((p for p in self.frame.processes if p.pid == target.pid), None)
        if proc is not None:
            parts.append(program_name(proc.cmdline))
        if target.pid is not None:
            parts.append(f"pid {target.pid}")
        parts.append(target.url)
        return " · ".join(parts)

    async def _do_cleanup(self, name: str, action: str) -> None:
        self._show_status(f"running {action} on {name}…")
        result = await self.engine.cleanup(name, action)
        text = describe_result(result)
        self.last_result = text
        self._show_status(text)
        screen = _target_screen(self.screen)
        if screen is not None:
            screen.show_result(text)
        safe.notify(self, text, severity="information" if result.ok else "error", timeout=8)

    def _show_status(self, text: str) -> None:
        status = self.query_one("#status", Static)
        status.update(safe.lines(*text.split("\n")))  # names, errors, notes from targets: data
        status.display = True

    def on_unmount(self) -> None:
        # Waits for a scan in progress: nothing is released under the poll thread.
        self.engine.close()
        if self._froze:  # what start-up made is the GC's again (an app run inside a longer process)
            gc.unfreeze()
            self._froze = False
