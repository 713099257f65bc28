"""``memdash replay``: the dashboard over a recording.

The same :class:`~memdash.tui.app.MemdashApp`, driven by a
:class:`~memdash.record.replay.ReplayEngine` instead of the live engine, with a
time cursor, a timeline of the whole recording (worst level per column, events
marked) and the events around the cursor. No cleanup keys: a recording is
read-only.

Keys: ``←``/``→`` one frame, ``shift+←``/``shift+→`` a minute, ``n``/``N`` the
next/previous event (an OOM kill, a level change, a cleanup), ``g`` go to a time,
``z`` charts over the whole recording (the cursor marked) or the ten minutes
before the cursor.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from memdash.config import Config
from memdash.levels import Level
from memdash.record.replay import STOP_KINDS, ReplayEngine, describe
from memdash.tui import safe
from memdash.tui.app import FrameReady, MemdashApp
from memdash.tui.screens.help import HelpScreen
from memdash.tui.widgets.chart import window_label
from memdash.tui.widgets.header import StatusHeader
from memdash.tui.widgets.memory import HistoryChart

_LEVELS = {"excellent": Level.EXCELLENT, "good": Level.GOOD, "warning": Level.WARNING, "critical": Level.CRITICAL}
#: The live dashboard's keys a replay keeps (no cleanups, no pause, no interval).
_KEPT = ("quit", "help", "filter", "toggle_all", "cycle_sort", "reverse_sort", "cycle_theme", "clear_filter")


def _clock(t: float) -> str:
    return _dt.datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d %H:%M:%S")


class GoToScreen(ModalScreen[str | None]):
    """Asks for a time; enter gives it, escape gives ``None``."""

    DEFAULT_CSS = """
    GoToScreen { align: center middle; }
    GoToScreen > Vertical { width: 70; height: auto; border: round $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Go to a time: 2026-11-29T03:11, 03:11, -2h, a Unix time")
            yield Input(placeholder="time", id="goto-input")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class ReplayApp(MemdashApp, inherit_bindings=False):
    """The dashboard over a recording (see the module docstring)."""

    TITLE = "memdash replay"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(b for b in MemdashApp.BINDINGS if isinstance(b, Binding) and b.action.split("(")[0] in _KEPT),
        Binding("left", "step(-1)", "-1 frame", key_display="←", priority=True, id="replay_prev"),
        Binding("right", "step(1)", "+1 frame", key_display="→", priority=True, id="replay_next"),
        Binding("shift+left", "shift(-60)", "-1 min", key_display="⇧←", priority=True, id="replay_back_minute"),
        Binding("shift+right", "shift(60)", "+1 min", key_display="⇧→", priority=True, id="replay_fwd_minute"),
        Binding("n", "event(1)", "Next event", id="replay_next_event"),
        Binding("N", "event(-1)", "Prev event", key_display="N", id="replay_prev_event"),
        Binding("g", "goto", "Go to", id="replay_goto"),
        Binding("z", "zoom", "Whole/cursor", id="replay_zoom"),
    ]

    def __init__(self, config: Config, replay: ReplayEngine) -> None:
        super().__init__(dataclasses.replace(config, read_only=True, targets=()), engine=replay,  # type: ignore[arg-type]
                         gpu=False, discover=False)
        self.replay = replay

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            yield widget
            if isinstance(widget, StatusHeader):
                yield Static(id="replay-bar")
                yield Static(id="replay-timeline")
                yield Static(id="replay-events")

    def on_frame_ready(self, message: FrameReady) -> None:
        self._mark_charts()
        super().on_frame_ready(message)
        has_targets = bool(message.frame.targets)
        for widget_id in ("#targets-title", "#targets"):
            self.query_one(widget_id).display = has_targets
        self._render_replay()

    def on_resize(self, event: Any) -> None:
        super().on_resize(event)
        if self.replay.frame is not None:
            self._render_replay()

    # -- charts

    def chart_window(self) -> float:
        """The whole recording when zoomed out, else the window before the cursor."""
        r = self.replay
        if r.whole:
            return max(60.0, r.times[-1] - r.times[0])
        return super().chart_window()

    def chart_now(self, now: float) -> float:
        return self.replay.times[-1] if self.replay.whole else now

    def _mark_charts(self) -> None:
        """Every chart marks the cursor when it shows the whole recording; a
        replay redraws at once (the cursor moves only when asked)."""
        mark = self.replay.time if self.replay.whole else None
        for screen in self.screen_stack:
            for chart in screen.query(HistoryChart):
                chart.mark = mark
                chart.MIN_REDRAW_SECONDS = 0.0

    # A view opened on a recording gets its series with the next frame, and a
    # replay has no next frame until the cursor moves: publish one once the
    # view is on screen.

    def open_process(self, pid: int) -> None:
        super().open_process(pid)
        self.call_after_refresh(self.replay.publish)

    def open_target(self, name: str) -> None:
        super().open_target(name)
        self.call_after_refresh(self.replay.publish)

    def open_service(self, key: str) -> None:
        super().open_service(key)
        self.call_after_refresh(self.replay.publish)

    # -- drawing

    def _render_replay(self) -> None:
        r = self.replay
        total = len(r.times)
        self.query_one("#replay-bar", Static).update(safe.text(
            ("REPLAY ", "bold reverse"), f" {_clock(r.time)}  frame {r.index + 1}/{total}",
            f"   {_clock(r.times[0])} .. {_clock(r.times[-1])}",
            "   charts: " + ("whole recording, │ cursor" if r.whole
                             else f"{window_label(self.chart_window())} before cursor"),
            ("   ←/→ ⇧←/⇧→ n/N g z", "dim")))
        width = max(20, self.size.width - 2)
        worst, marks, cursor = r.timeline(width)
        top = Text(end="")
        line = Text(end="")
        for i in range(width):
            kinds = {e.kind for e in marks[i]}
            mark = "▼" if "oom_kill" in kinds else ("◆" if kinds else " ")
            top.append("▲" if i == cursor else mark, style="bold" if i == cursor else "")
            level = _LEVELS.get(worst[i] or "")
            style = self.palette.styles.get(level) if level is not None else None
            line.append("█" if level is not None else "·", style=style or "dim")
        self.query_one("#replay-timeline", Static).update(safe.lines(top, line))
        # The events around the cursor: the two before it and the next one.
        near = [e for e in r.events if e.kind in STOP_KINDS or e.kind.startswith("service_")]
        before = [e for e in near if e.t <= r.time][-3:]
        after = [e for e in near if e.t > r.time][:1]
        rows = [safe.text(("  " if e.t <= r.time else "→ ", "bold"), _clock(e.t), "  ", describe(e), max_len=160)
                for e in before + after] or [safe.text(("no events in this recording", "dim"))]
        self.query_one("#replay-events", Static).update(safe.lines(*rows))

    # -- keys

    def action_step(self, frames: int) -> None:
        self.replay.step(frames)

    def action_shift(self, seconds: float) -> None:
        self.replay.shift(seconds)

    def action_event(self, direction: int) -> None:
        if self.replay.next_event(direction) is None:
            safe.notify(self, "no more events that way", timeout=2)

    def action_zoom(self) -> None:
        self.replay.set_whole(not self.replay.whole)

    def action_goto(self) -> None:
        from memdash.record.cli import parse_time

        def chosen(value: str | None) -> None:
            if not value:
                return
            try:
                self.replay.goto(parse_time(value))
            except ValueError as exc:
                safe.notify(self, exc, severity="error", timeout=5)

        self.push_screen(GoToScreen(), chosen)

    def action_help(self) -> None:
        rows = [
            ("← →", "one frame back / forward"),
            ("shift+← →", "a minute back / forward"),
            ("n N", "next / previous event (OOM kill, level change, cleanup)"),
            ("g", "go to a time (ISO 8601, 03:11, -2h, Unix time)"),
            ("z", "charts: the whole recording (cursor marked) / before the cursor"),
            ("/", "filter processes; escape clears"),
            ("a s r", "all/top processes, sort, reverse sort"),
            ("enter", "open the selected target"),
            ("q", "quit"),
        ]
        self.push_screen(HelpScreen(rows, True))
