"""A horizontal gauge coloured by level."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from memdash.levels import Level


class LevelBar(Widget):
    """A bar filled to ``percent``; its colour comes from the ``-<level>`` class."""

    DEFAULT_CSS = """
    LevelBar { height: 1; width: 1fr; }
    """

    percent: reactive[float | None] = reactive(None)
    """How full, 0-100; ``None`` draws an empty, unknown bar."""

    def set_value(self, percent: float | None, level: Level) -> None:
        """Show ``percent`` at ``level``."""
        self.percent = percent
        for other in Level:
            self.set_class(other is level, other.css_class)

    def render(self) -> Text:
        width = max(1, self.size.width)
        if self.percent is None:
            return Text("?" + "·" * (width - 1), style="dim")
        filled = round(width * min(100.0, max(0.0, self.percent)) / 100)
        bar = Text("█" * filled)
        bar.append("░" * (width - filled), style="dim")
        return bar
