"""The footer: the keys that fit, whole, in the order of importance.

Textual's footer cuts its last key in the middle when the line is full ("a Al"),
and at 80 columns every key after the first few was lost that way. This one
shows keys in the order the bindings give them (the app lists the keys a user
needs first: quit, help, the cleanups on offer, filter, sort), leaves out whole
the keys that do not fit, and goes compact below :data:`COMPACT_BELOW` columns.
Every key is still listed by ``?`` (help) and reachable through the palette.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: Narrower than this, keys lose their padding (one space between key and words).
COMPACT_BELOW = 110


class KeysFooter(Footer):
    """A footer that leaves out the keys that do not fit rather than cutting one."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.left_out: tuple[str, ...] = ()
        """Keys (as displayed) that did not fit in the last layout."""

    def on_resize(self, event: events.Resize) -> None:
        self.compact = event.size.width < COMPACT_BELOW
        for key in self.query_children(FooterKey):
            key.display = True
        self.call_after_refresh(self._leave_out_overflow)

    async def recompose(self) -> None:
        await super().recompose()
        self.call_after_refresh(self._leave_out_overflow)

    def _leave_out_overflow(self, tries: int = 5) -> None:
        keys = list(self.query_children(FooterKey))
        if any(k.display and not k.region.width for k in keys) and tries:
            self.call_after_refresh(self._leave_out_overflow, tries - 1)  # not laid out yet
            return
        palette = next((k for k in keys if k.has_class("-command-palette")), None)
        right = palette.region.x if palette is not None and palette.display else self.region.right
        fits = True
        left_out = []
        for key in keys:
            if key is palette:
                continue
            # Keys are laid out left to right: after the first that does not
            # fit, none is shown (a later, shorter one would break the order).
            fits = fits and key.region.right + (1 if self.compact else 0) <= right
            if key.display != fits:
                key.display = fits
            if not fits:
                left_out.append(key.key_display)
        self.left_out = tuple(left_out)
