"""The top line: host, uptime, refresh interval, pause state and the worst level."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label

from memdash.levels import Level
from memdash.tui.widgets.text import set_text
from memdash.units import human_duration


class StatusHeader(Horizontal):
    """One line of status; the level word is coloured by its ``-<level>`` class."""

    DEFAULT_CSS = """
    StatusHeader { height: 1; background: $panel; }
    StatusHeader Label { padding: 0 1; }
    StatusHeader #title { text-style: bold; color: $primary; }
    StatusHeader #info { width: 1fr; }
    StatusHeader #paused { display: none; text-style: bold reverse; }
    StatusHeader.-paused #paused { display: block; }
    StatusHeader #level { text-style: bold; }
    """

    def compose(self) -> ComposeResult:
        yield Label("memdash", id="title")
        yield Label("", id="info")
        yield Label("PAUSED", id="paused")
        yield Label("", id="level", classes="level")

    def show(
        self,
        *,
        host: str,
        uptime_seconds: float | None,
        interval: float,
        paused: bool,
        level: Level,
        processes: int,
        targets: int,
        failing: int = 0,
        unreadable: int = 0,
    ) -> None:
        """Render the given status: ``failing`` of ``targets`` did not answer their
        last poll, ``unreadable`` local sources could not be read. Both are
        counted beside the level: a box that is fine with its services down is
        not "excellent" without a word."""
        parts = [host, f"up {human_duration(uptime_seconds)}", f"every {interval:g}s", f"{processes} procs"]
        if targets:
            parts.append(f"{targets} targets")
        set_text(self.query_one("#info", Label), "  ".join(parts))
        self.set_class(paused, "-paused")
        lv = self.query_one("#level", Label)
        word = "UNKNOWN" if level is Level.UNKNOWN else level.label.upper()
        notes = []
        if failing:
            notes.append(f"{failing} of {targets} target{'s' if targets != 1 else ''} failing")
        if unreadable:
            notes.append(f"{unreadable} source{'s' if unreadable != 1 else ''} unreadable")
        set_text(lv, " · ".join([f"● {word}", *notes]), layout=True)
        # Failing figures are unknown, and unknown is worse than fine: coloured as such.
        shown = Level.UNKNOWN if notes and level < Level.WARNING else level
        for other in Level:
            lv.set_class(other is shown, other.css_class)
