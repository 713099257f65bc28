"""The ``[keymap]`` check: every id known, no key given to two things.

Textual's ``set_keymap`` ignores an unknown id and lets a remapped key shadow
another binding silently (``force_gc = "q"`` used to remove quit). Both are
config errors here, raised before the dashboard starts.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from textual.binding import Binding, BindingType

from memdash.config import ConfigError

#: Keys taken by what every screen has: moving in a table, the palette, focus.
RESERVED = {
    "up": "move up", "down": "move down", "k": "move up", "j": "move down", "pageup": "page up",
    "pagedown": "page down", "home": "first row", "end": "last row", "enter": "open",
    "tab": "next table", "shift+tab": "previous table", "ctrl+p": "the command palette", "ctrl+c": "copy",
}


def _keys(spec: str) -> list[str]:
    return [k.strip() for k in spec.split(",") if k.strip()]


def check_keymap(keymap: Mapping[str, str], scopes: Iterable[Iterable[BindingType]], path: str | None = None) -> None:
    """Raise :class:`ConfigError` for an unknown binding id in ``keymap`` or a
    key that would then mean two things within one scope (a screen's bindings,
    plus :data:`RESERVED`)."""
    bindings: list[list[Binding]] = [[b for b in s if isinstance(b, Binding)] for s in scopes]
    known = {b.id for scope in bindings for b in scope if b.id}
    for bid in keymap:
        if bid not in known:
            raise ConfigError(path, f"keymap.{bid}", f"unknown binding id (known: {', '.join(sorted(known))})")
    for scope in bindings:
        owner: dict[str, str] = {}
        for b in scope:
            for key in _keys(keymap.get(b.id, b.key) if b.id else b.key):
                if key in RESERVED and b.id in keymap:
                    raise ConfigError(path, f"keymap.{b.id}", f"{key!r} is already the key for {RESERVED[key]}")
                other = owner.get(key)
                if other is not None and other != (b.id or b.action):
                    culprit = b.id if b.id in keymap else other
                    raise ConfigError(path, f"keymap.{culprit}", f"{key!r} is already the key for {other if culprit != other else b.id}")
                owner[key] = b.id or b.action
