"""Level colours as Rich styles, taken from the active theme's ``$level-*`` variables.

Widgets that paint in Python (table cells) cannot use CSS classes per cell, so
they ask this module, which reads the theme; nothing here hard-codes a colour.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.app import App

from memdash.levels import Level


class LevelPalette:
    """Rich styles for each level, rebuilt when the theme changes."""

    def __init__(self) -> None:
        self.styles: dict[Level, Style] = {level: Style() for level in Level}

    def refresh_from(self, app: App) -> None:
        """Read ``$level-*`` from ``app``'s CSS variables."""
        variables = app.get_css_variables()
        for level in Level:
            colour = variables.get(f"level-{level.label}")
            self.styles[level] = Style.parse(colour) if colour else Style()
        self.styles[Level.CRITICAL] = self.styles[Level.CRITICAL] + Style(bold=True)

    def text(self, value: str, level: Level, *, justify: str = "right") -> Text:
        """``value`` coloured for ``level``."""
        return Text(value, style=self.styles.get(level, Style()), justify=justify)  # type: ignore[arg-type]
