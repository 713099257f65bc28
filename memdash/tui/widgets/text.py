"""Label updates that cost nothing when nothing changed."""

from __future__ import annotations

from textual.widgets import Static

_LAST = "_memdash_last_text"


def set_text(widget: Static, text: object, *, layout: bool = False) -> None:
    """Update ``widget`` only if ``text`` differs from what it shows.

    ``layout=False`` by default: our labels have fixed sizes, and a layout pass
    over the whole screen every refresh is one of the dearest things Textual does.
    """
    if getattr(widget, _LAST, None) == text:
        return
    setattr(widget, _LAST, text)
    widget.update(text, layout=layout)  # type: ignore[arg-type]
