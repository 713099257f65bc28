"""MemdashApp: the dashboard.

Data flows one way: a worker thread polls :class:`~memdash.collector.LocalCollector`
and an async worker runs :class:`~memdash.sources.remote.TargetPoller`; both hand
immutable samples to the app on its own thread, the app keeps them in a bounded
:class:`~memdash.history.History` and hands them down to widgets, which only
render. Intents (cleanup keys) come up as actions and go through the poller.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Iterable

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Input, Label, Static

from memdash.actions import DESCRIPTIONS
from memdash.collector import LocalCollector
from memdash.config import Config, TargetConfig
from memdash.history import History
from memdash.levels import Level, worst
from memdash.model import ProcessMemory, Snapshot, TargetSample, TorchDevice
from memdash.textsafe import NO_CONTROLS
from memdash.tui import safe
from memdash.tui.palette import LevelPalette
from memdash.tui.screens.confirm import ConfirmCleanup, describe_result
from memdash.tui.screens.help import HelpScreen
from memdash.tui.themes import level_defaults, load_themes
from memdash.tui.widgets.gpu_panel import GpuPanel, gpu_history_key
from memdash.tui.widgets.header import StatusHeader
from memdash.tui.widgets.memory import MemoryPanel
from memdash.tui.widgets.process_table import COLUMN_BY_KEY, SORTABLE, ProcessTable
from memdash.tui.widgets.targets_table import TargetsTable
from memdash.tui.widgets.text import set_text

if TYPE_CHECKING:
    from memdash.sources.remote import TargetPoller

INTERVALS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
THEME_CYCLE = ("memdash-dark", "memdash-light", "memdash-contrast", "textual-dark", "nord", "gruvbox")
CLEANUP_ACTIONS = ("gc", "caches", "cuda", "trim", "all")


def _is_target_screen(screen: object) -> bool:
    # The target view is imported when first opened, not at start-up.
    mod = sys.modules.get("memdash.tui.screens.target")
    return mod is not None and isinstance(screen, mod.TargetScreen)


class MemdashApp(App[int]):
    """The memdash dashboard."""

    CSS_PATH = "app.tcss"
    TITLE = "memdash"
    BINDINGS = [
        Binding("q", "quit", "Quit", id="quit"),
        Binding("question_mark", "help", "Help", key_display="?", id="help"),
        Binding("p", "toggle_pause", "Pause", id="pause"),
        Binding("plus,equals_sign", "interval(1)", "Slower", key_display="+", id="slower"),
        Binding("minus", "interval(-1)", "Faster", key_display="-", id="faster"),
        Binding("slash", "filter", "Filter", key_display="/", id="filter"),
        Binding("a", "toggle_all", "All/top", id="show_all"),
        Binding("s", "cycle_sort", "Sort", id="sort"),
        Binding("r", "reverse_sort", "Reverse sort", id="reverse_sort", show=False),
        Binding("T", "cycle_theme", "Theme", key_display="T", id="theme", show=False),
        Binding("g", "cleanup('gc')", "GC", id="force_gc"),
        Binding("c", "cleanup('caches')", "Purge caches", id="purge_caches"),
        Binding("e", "cleanup('cuda')", "CUDA cache", id="cuda_cache"),
        Binding("t", "cleanup('trim')", "malloc_trim", id="malloc_trim"),
        Binding("x", "cleanup('all')", "All cleanups", id="cleanup_all"),
        Binding("escape", "clear_filter", "Clear filter", id="clear_filter", show=False),
    ]

    def __init__(
        self,
        config: Config,
        *,
        collector: Any = None,
        gpu: bool = True,
        discover: bool = True,
        select_target: str | None = None,
        poll_targets: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.history = History()
        self.collector = (
            collector
            if collector is not None
            else LocalCollector(config, history=self.history, gpu=gpu, smaps_max_age=LocalCollector.SMAPS_MAX_AGE_SECONDS)
        )
        if collector is not None and hasattr(collector, "history"):
            self.history = collector.history
        self.discover = discover
        self.poll_targets = poll_targets
        self.select_target = select_target
        self.interval = config.interval
        self.paused = False
        self.show_all = False
        self.sort: tuple[str, bool] = ("rss", True)
        self.filter_text = ""
        self.palette = LevelPalette()
        self.snapshot: Snapshot | None = None
        self.targets: dict[str, TargetSample] = {}
        self.poller: TargetPoller | None = None
        self.last_result: str | None = None
        self._cleanup_keys_shown: tuple[object, ...] = ()
        self._configured = {t.name: t for t in config.targets}
        self._wake = threading.Event()
        self._stop = threading.Event()
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
            self.set_keymap(dict(config.keymap))

    # -- theme -----------------------------------------------------------

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return level_defaults(self.current_theme)

    def _on_theme_changed(self, _theme: object) -> None:
        self.palette.refresh_from(self)
        if self.snapshot is not None:
            self.query_one(ProcessTable).repaint(self.palette)
            self.query_one(TargetsTable).repaint(self.palette)
            self._render_targets()

    # -- layout ----------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader()
        with Vertical(id="main"):
            yield MemoryPanel()
            yield GpuPanel()
            yield Label("Targets", id="targets-title", classes="section")
            yield TargetsTable(id="targets")
            yield Label("Processes", id="procs-title", classes="section")
            yield ProcessTable(id="processes")
        yield Input(placeholder="filter: part of a command, user or pid (enter to apply, escape to clear)", id="filter",
                    restrict=NO_CONTROLS)  # a pasted escape would reach the terminal as it is drawn
        yield Static("", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.palette.refresh_from(self)
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        self.query_one("#filter", Input).display = False
        self._layout_for(self.size.width)
        has_targets = bool(self.config.targets)
        self.query_one("#targets-title").display = has_targets
        self.query_one(TargetsTable).display = has_targets
        self.query_one("#status").display = False
        self.query_one(ProcessTable).focus()
        for message in self._theme_errors:
            safe.notify(self, message, severity="error", timeout=8)
        # Poll after the first paint: the first scan of every process (and NVML
        # start-up) would otherwise hold up the first frame.
        self.call_after_refresh(self._poll_local)
        # httpx and the poller cost ~8 MB: start them only when there is a target,
        # configured now or discovered later.
        if self.poll_targets and self.config.targets:
            self._start_targets(self.config.targets)

    def on_resize(self, event: Any) -> None:
        self._layout_for(event.size.width)

    def _layout_for(self, width: int) -> None:
        narrow = width < 110
        self.set_class(narrow, "-narrow")
        self.query_one(MemoryPanel).set_class(narrow, "-narrow")
        self.query_one(ProcessTable).set_layout(narrow=narrow, width=width, sort=self.sort)
        if self.snapshot is not None:
            self._render_processes()

    # -- local polling (a thread: /proc and NVML reads block) ----------------

    @work(thread=True, exclusive=True, group="local", exit_on_error=False)
    def _poll_local(self) -> None:
        last_discovery = 0.0
        while not self._stop.is_set():
            if not self.paused:
                table = self.query_one(ProcessTable)
                visible = table.visible_pids()
                need_all = self.show_all or bool(self.filter_text) or self.sort[0] != "rss"
                first = self.snapshot is None
                snap = self.collector.poll(
                    # The first frame shows RSS at once; USS/PSS (smaps_rollup,
                    # milliseconds for a big process) come with the next poll.
                    detail_pids=() if first else visible,
                    detail_top=0 if (first or visible) else self.config.top,
                    limit=None if need_all else self.config.top,
                )
                if self._stop.is_set():
                    return
                self.call_from_thread(self.apply_snapshot, snap)
                if first:
                    continue
                if self.discover and time.monotonic() - last_discovery > 5:
                    last_discovery = time.monotonic()
                    found = self._discover()
                    if found:
                        self.call_from_thread(self._add_targets, found)
            self._wake.wait(self.interval)
            self._wake.clear()

    def _discover(self) -> list[TargetConfig]:
        try:
            from memdash.sources.discovery import discover_targets
        except ImportError:
            return []
        try:
            known = {t.url for t in self.config.targets} | {t.url for t in self.targets.values()}
            return [t for t in discover_targets() if t.url not in known]
        except OSError:
            return []

    def apply_snapshot(self, snap: Snapshot) -> None:
        """Take a new local snapshot and render it."""
        self.snapshot = snap
        self._render_all()

    def _render_all(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        with self.batch_update():
            self._render_header()
            self.query_one(MemoryPanel).show(snap.system, self.history.values("system.percent"), self.interval)
            self._render_gpus()
            self._render_processes()

    def _overall_level(self) -> Level:
        levels = [self.snapshot.level] if self.snapshot else []
        levels.extend(t.level for t in self.targets.values())
        return worst(levels)

    def _render_header(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        self.query_one(StatusHeader).show(
            host=snap.host,
            uptime_seconds=snap.uptime_seconds,
            interval=self.interval,
            paused=self.paused,
            level=self._overall_level(),
            processes=snap.process_count,
            targets=len(self.targets),
        )

    def _render_gpus(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        names = {p.pid: p.name for p in snap.processes}
        torch: dict[int, TorchDevice] = {}
        for t in self.targets.values():
            if t.pid is not None and t.gpu:
                torch[t.pid] = t.gpu[0]
        history = {key: self.history.values(key) for key in map(gpu_history_key, snap.gpus.devices)}
        self.query_one(GpuPanel).show(snap.gpus, history, names, torch)

    def _visible_rows(self) -> list[ProcessMemory]:
        snap = self.snapshot
        if snap is None:
            return []
        rows: Iterable[ProcessMemory] = snap.processes
        if self.filter_text:
            needle = self.filter_text.lower()
            rows = [p for p in rows if needle in p.cmdline.lower() or needle in (p.user or "").lower() or needle == str(p.pid)]
        key, reverse = self.sort
        column = COLUMN_BY_KEY[key]
        ordered = sorted(rows, key=lambda p: (column.sort_key(p), p.pid), reverse=reverse)
        if not self.show_all:
            ordered = ordered[: self.config.top]
        return ordered

    def _render_processes(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        rows = self._visible_rows()
        probed = frozenset(t.pid for t in self.targets.values() if t.pid is not None)
        self.query_one(ProcessTable).show_rows(rows, self.palette, probed)
        scope = "all" if self.show_all else f"top {self.config.top}"
        filt = f", filter {self.filter_text!r}" if self.filter_text else ""
        key, reverse = self.sort
        title = (
            f"Processes: {len(rows)} shown ({scope}{filt}) of {snap.process_count},"
            f" sorted by {COLUMN_BY_KEY[key].label} {'desc' if reverse else 'asc'}"
        )
        if probed:
            title += "   ◆ = Python probe attached"
        set_text(self.query_one("#procs-title", Label), title)

    # -- targets (async: httpx) ---------------------------------------------

    def _start_targets(self, targets: Iterable[TargetConfig]) -> None:
        import asyncio

        from memdash.sources.remote import TargetPoller

        self.poller = TargetPoller(tuple(targets), self.config.thresholds, read_only=self.config.read_only)
        self._targets_stop = asyncio.Event()
        self.run_worker(self._run_targets(self.poller), group="targets", exit_on_error=False)

    async def _run_targets(self, poller: TargetPoller) -> None:
        try:
            await poller.run(self.on_target_sample, self._targets_stop)
        finally:
            await poller.aclose()

    def _add_targets(self, found: list[TargetConfig]) -> None:
        if not found or not self.poll_targets:
            return
        if self.poller is None:
            self._start_targets(found)
        else:
            self.poller.add_targets(found)
        self.query_one("#targets-title").display = True
        self.query_one(TargetsTable).display = True

    def on_target_sample(self, sample: TargetSample) -> None:
        """A target was polled (called on the app's loop)."""
        self.targets[sample.name] = sample
        key = f"target.{sample.name}"
        value = sample.percent if sample.percent is not None else (
            sample.rss_bytes / 1048576 if sample.rss_bytes is not None else None
        )
        if sample.ok:
            self.history.record(key, sample.time or time.time(), value)
        self._render_targets()
        self._render_header()
        screen = self.screen
        if _is_target_screen(screen) and screen.target_name == sample.name:
            screen.show(sample, self.history.values(key), self.interval, self.palette)
        if self.select_target == sample.name:
            self.select_target = None
            self.query_one(TargetsTable).select_name(sample.name)
            self.open_target(sample.name)
        self._refresh_cleanup_keys()

    def _render_targets(self) -> None:
        if not self.targets:
            return
        table = self.query_one(TargetsTable)
        if not table.display:
            self.query_one("#targets-title").display = True
            table.display = True
        ordered = [self.targets[n] for n in sorted(self.targets)]
        table.show(ordered, self.palette)

    def _on_target_screen(self) -> bool:
        return _is_target_screen(self.screen)

    def open_target(self, name: str) -> None:
        """Push the target view for ``name``."""
        from memdash.tui.screens.target import TargetScreen

        sample = self.targets.get(name)
        if sample is None:
            return
        screen = TargetScreen(name)
        self.push_screen(screen)
        screen.call_after_refresh(
            screen.show, sample, self.history.values(f"target.{name}"), self.interval, self.palette
        )
        if self.last_result:
            screen.call_after_refresh(screen.show_result, self.last_result)

    @on(TargetsTable.Selected)
    def _target_selected(self, event: TargetsTable.Selected) -> None:
        self.open_target(event.name)

    @on(ProcessTable.Selected)
    def _process_selected(self, event: ProcessTable.Selected) -> None:
        pid = event.pid
        for t in self.targets.values():
            if t.pid == pid:
                self.open_target(t.name)
                return

    @on(TargetsTable.Highlighted)
    def _target_highlighted(self, event: TargetsTable.Highlighted) -> None:
        self._refresh_cleanup_keys()

    def _refresh_cleanup_keys(self) -> None:
        """Refresh the footer only when the cleanup keys on offer change.

        The footer rebuilds every key widget on each refresh_bindings(); doing
        that on every sample piled up widgets faster than Textual freed them.
        """
        target = self.selected_target()
        key = (id(self.screen), target.name if target else None, target.actions if target else ())
        if key != self._cleanup_keys_shown:
            self._cleanup_keys_shown = key
            self.refresh_bindings()

    @on(ProcessTable.SortRequested)
    def _sort_requested(self, event: ProcessTable.SortRequested) -> None:
        key, reverse = self.sort
        self.sort = (event.column, not reverse) if event.column == key else (event.column, event.column != "command")
        self._resort()

    # -- actions -----------------------------------------------------------

    def selected_target(self) -> TargetSample | None:
        """The target cleanup keys act on: the open target view, else the
        targets table's cursor, else the probe of the highlighted process."""
        screen = self.screen
        if _is_target_screen(screen):
            return self.targets.get(screen.target_name)
        try:
            name = self.query_one(TargetsTable).cursor_name
        except Exception:
            name = None
        if name and name in self.targets:
            return self.targets[name]
        pid = self.query_one(ProcessTable).cursor_pid
        return next((t for t in self.targets.values() if t.pid == pid and pid is not None), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("filter", "toggle_all", "cycle_sort", "reverse_sort", "clear_filter"):
            # Process-table keys mean nothing over the target view.
            return not self._on_target_screen()
        if action == "cleanup":
            if self.config.read_only:
                return False
            target = self.selected_target()
            if target is None:
                return False
            tc = self._configured.get(target.name)
            if tc is not None and tc.read_only:
                return False
            return parameters[0] in target.actions
        return True

    def action_help(self) -> None:
        # memdash's own keys first, in the order of BINDINGS (with any keymap
        # applied), then how to move around; not every inherited scroll binding.
        rows: list[tuple[str, str]] = []
        offered_cleanup = False
        active = {b.binding.id: b.binding for b in self.screen.active_bindings.values() if b.binding.id}
        for binding in self.BINDINGS:
            assert isinstance(binding, Binding)
            b = active.get(binding.id, binding)
            if binding.action.startswith("cleanup"):
                if not self.check_action("cleanup", (binding.action[9:-2],)):
                    continue
                offered_cleanup = True
            elif self.check_action(binding.action.split("(")[0], ()) is False:
                continue
            rows.append((self.get_key_display(b), b.description))
        if not offered_cleanup:
            rows.append(("g c e t x", "cleanups (GC, caches, CUDA, trim, all) on a selected target that offers them"))
        rows += [
            ("↑ ↓  j k", "move in a table"),
            ("pgup pgdn", "page; home/end: first/last row"),
            ("tab", "next table"),
            ("enter", "open the selected target (or the probed process)"),
            ("click header", "sort by that column"),
            ("escape", "back from a target view"),
            ("ctrl+p", "command palette (themes, screenshot, keys)"),
        ]
        self.push_screen(HelpScreen(rows, self.config.read_only))

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        self._render_header()
        if not self.paused:
            self._wake.set()

    def action_interval(self, step: int) -> None:
        idx = min(range(len(INTERVALS)), key=lambda i: abs(INTERVALS[i] - self.interval))
        self.interval = INTERVALS[max(0, min(len(INTERVALS) - 1, idx + step))]
        self._render_header()
        self._wake.set()

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
            self._render_processes()
            self._wake.set()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self._render_processes()

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.filter_text = event.value.strip()
        event.input.display = bool(self.filter_text)
        self.query_one(ProcessTable).focus()
        self._render_processes()
        self._wake.set()

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all
        self._render_processes()
        self._wake.set()

    def action_cycle_sort(self) -> None:
        key, reverse = self.sort
        nxt = SORTABLE[(SORTABLE.index(key) + 1) % len(SORTABLE)]
        self.sort = (nxt, nxt not in ("command", "user", "pid"))
        self._resort()

    def action_reverse_sort(self) -> None:
        key, reverse = self.sort
        self.sort = (key, not reverse)
        self._resort()

    def _resort(self) -> None:
        self.query_one(ProcessTable).set_layout(narrow=self.has_class("-narrow"), width=self.size.width, sort=self.sort)
        self._render_processes()
        self._wake.set()

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

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._do_cleanup(target.name, action), group="actions", exit_on_error=False)

        self.push_screen(ConfirmCleanup(target.name, action, description), confirmed)

    async def _do_cleanup(self, name: str, action: str) -> None:
        if self.poller is None:
            return
        self._show_status(f"running {action} on {name}…")
        result = await self.poller.cleanup(name, action)
        text = describe_result(result)
        self.last_result = text
        self._show_status(text)
        screen = self.screen
        if _is_target_screen(screen):
            screen.show_result(text)
        safe.notify(self, text, severity="information" if result.ok else "error", timeout=8)

    def _show_status(self, text: str) -> None:
        status = self.query_one("#status", Static)
        status.update(safe.lines(*text.split("\n")))  # names, errors, notes from targets: data
        status.display = True

    async def action_quit(self) -> None:
        self._stop.set()
        self._wake.set()
        if getattr(self, "_targets_stop", None) is not None:
            self._targets_stop.set()
        self.exit(0)

    def on_unmount(self) -> None:
        self._stop.set()
        self._wake.set()
        close = getattr(self.collector, "close", None)
        if close is not None:
            close()
