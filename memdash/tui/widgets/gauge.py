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

    # repaint=False: watch_percent repaints only when the bar drawn would differ
    # (memory moves a little every refresh; the bar moves a cell now and then,
    # and rendering it costs about a millisecond).
    percent: reactive[float | None] = reactive(None, repaint=False)
    """How full, 0-100; ``None`` draws an empty, unknown bar."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._drawn: tuple[int, int | None] | None = None  # (width, filled cells) last rendered

    def _cells(self, percent: float | None) -> tuple[int, int | None]:
        width = max(1, self.size.width)
        if percent is None:
            return width, None
        return width, round(width * min(100.0, max(0.0, percent)) / 100)

    def set_value(self, percent: float | None, level: Level) -> None:
        """Show ``percent`` at ``level``."""
        self.percent = percent
        for other in Level:
            self.set_class(other is level, other.css_class)

    def watch_percent(self) -> None:
        if self._cells(self.percent) != self._drawn:
            self.refresh()

    def render(self) -> Text:
        self._drawn = (width, filled) = self._cells(self.percent)
        if filled is None:
            return Text("?" + "·" * (width - 1), style="dim")
        bar = Text("█" * filled)
        bar.append("░" * (width - filled), style="dim")
        return bar
