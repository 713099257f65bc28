"""Label updates that cost nothing when nothing changed."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from memdash.tui import safe

_LAST = "_memdash_last_text"


def set_text(widget: Static, text: str | Text, *, layout: bool = False) -> None:
    """Update ``widget`` only if ``text`` differs from what it shows.

    A ``str`` is data, never markup: it is shown as :func:`memdash.tui.safe.text`
    makes it (escaped, one line). Pass a ``Text`` built with that module for
    styles or several lines.

    ``layout=False`` by default: our labels have fixed sizes, and a layout pass
    over the whole screen every refresh is one of the dearest things Textual does.
    """
    if getattr(widget, _LAST, None) == text:
        return
    setattr(widget, _LAST, text)
    widget.update(safe.text(text) if isinstance(text, str) else text, layout=layout)  # text-guard: ok (a str is escaped; a Text is built by safe)
