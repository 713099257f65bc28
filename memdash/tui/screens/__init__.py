"""Screens: help, confirmation, cleanup result and the per-target view."""

from __future__ import annotations


class RepaintBelowOnClose:
    """Mixin for screens pushed over the dashboard.

    Widgets underneath keep refreshing while covered; when this screen closes,
    ask for a full repaint so none of its cells stay on the terminal.
    """

    def on_unmount(self) -> None:
        app = self.app  # type: ignore[attr-defined]
        app.call_after_refresh(app.refresh, repaint=True, layout=True)
