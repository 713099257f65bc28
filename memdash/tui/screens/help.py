"""The help screen: every binding, with what it does."""

from __future__ import annotations

from typing import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from memdash import __version__
from memdash.levels import Thresholds
from memdash.tui import safe
from memdash.tui.screens import RepaintBelowOnClose

def levels_text(t: Thresholds) -> str:
    """The thresholds in force, as a person reads them."""
    return (
        "Levels, in percent of the limit that applies (the cgroup limit where one is set, else RAM):\n"
        f"  ok (excellent) below {t.good:g}%  ·  good from {t.good:g}%  ·  warn from {t.warning:g}%"
        f"  ·  CRIT from {t.critical:g}%\n"
        f"  a projected OOM sooner than {t.oom_eta_warning / 60:g} min is warn, sooner than {t.oom_eta_critical / 60:g} min CRIT;\n"
        "  growth (GROW) needs a minute of samples: ~ until then.\n"
        "  USS/PSS are re-read every few seconds, RSS every refresh: an older one is dim, with its age (113M 4s).\n"
        "  set them in [thresholds] of the config."
    )


class HelpScreen(RepaintBelowOnClose, ModalScreen[None]):
    """Lists bindings; any of escape, q or ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 76; max-width: 95%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1; }
    HelpScreen #help-title { text-style: bold; color: $primary; }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close help", id="close_help"),
    ]

    def __init__(self, bindings: Iterable[tuple[str, str]], read_only: bool, thresholds: Thresholds = Thresholds()) -> None:
        super().__init__()
        self._rows = list(bindings)
        self._read_only = read_only
        self._thresholds = thresholds

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label(safe.text(f"memdash {__version__} — keys"), id="help-title")
            # Keys and descriptions may come from a keymap in the config: data, not markup.
            yield Static(safe.lines(*(f"  {key:<14} {desc}" for key, desc in self._rows)), id="help-keys")
            if self._read_only:
                yield Static("Read-only: cleanup keys are disabled.")
            yield Static(safe.lines(*levels_text(self._thresholds).split("\n")))
            yield Static("Press escape, q or ? to close.")
