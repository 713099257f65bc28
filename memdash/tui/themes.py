"""Theme files -> Textual themes.

A theme file is TOML with :class:`textual.theme.Theme`'s keys and a
``[variables]`` table for memdash's level colours (``level-excellent``,
``level-good``, ``level-warning``, ``level-critical``, ``level-unknown``).
Shipped themes live in ``themes/`` (installed as ``memdash/themes``); users add
their own in ``~/.config/memdash/themes/``. A file with a bad key or colour is
reported, never half-loaded.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Iterable

from textual.color import Color, ColorParseError
from textual.theme import Theme

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LEVEL_VARIABLES = ("level-excellent", "level-good", "level-warning", "level-critical", "level-unknown")
_THEME_KEYS = {f.name for f in fields(Theme)}
_COLOUR_KEYS = {"primary", "secondary", "warning", "error", "success", "accent", "foreground", "background", "surface", "panel", "boost"}


class ThemeError(Exception):
    """A theme file that cannot be used; ``str()`` names the file and the problem."""


@dataclass
class ThemeLoadResult:
    """Themes that loaded, and one message per file that did not."""

    loaded: list[Theme] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def theme_from_toml(text: str, source: str) -> Theme:
    """Parse one theme file's text.

    Raises:
        ThemeError: not TOML, unknown key, missing name/primary, or a bad colour.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeError(f"{source}: invalid TOML: {exc}") from None
    unknown = set(data) - _THEME_KEYS
    if unknown:
        raise ThemeError(f"{source}: unknown key {sorted(unknown)[0]!r}")
    for key in ("name", "primary"):
        if not isinstance(data.get(key), str):
            raise ThemeError(f"{source}: {key} is required and must be a string")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeError(f"{source}: variables must be a table")
    to_check = [(k, v) for k, v in data.items() if k in _COLOUR_KEYS]
    to_check += [(f"variables.{k}", v) for k, v in variables.items()]
    for key, value in to_check:
        if not isinstance(value, str):
            raise ThemeError(f"{source}: {key} must be a colour string")
        try:
            Color.parse(value)
        except ColorParseError:
            # A bad colour would only crash later, on switching to the theme.
            raise ThemeError(f"{source}: {key}: not a colour: {value!r}") from None
    try:
        return Theme(**data)
    except TypeError as exc:
        raise ThemeError(f"{source}: {exc}") from None


def shipped_theme_files() -> list[tuple[str, str]]:
    """``(source, text)`` of each shipped theme.

    An installed wheel carries them as ``memdash/themes``; a source checkout
    (editable install) has them in ``themes/`` beside the package.
    """
    out: list[tuple[str, str]] = []
    try:
        pkg = resources.files("memdash").joinpath("themes")
        if pkg.is_dir():
            for entry in sorted(pkg.iterdir(), key=lambda e: e.name):
                if entry.name.endswith(".toml"):
                    out.append((f"memdash/themes/{entry.name}", entry.read_text(encoding="utf-8")))
    except (FileNotFoundError, ModuleNotFoundError, NotADirectoryError):
        pass
    if not out:
        repo = Path(__file__).resolve().parents[2] / "themes"
        for path in sorted(repo.glob("*.toml")):
            out.append((str(path), path.read_text(encoding="utf-8")))
    return out


def user_theme_files() -> list[tuple[str, str]]:
    """``(source, text)`` of each theme in the user's config dir."""
    from platformdirs import user_config_path

    folder = user_config_path("memdash") / "themes"
    out = []
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            out.append((str(path), path.read_text(encoding="utf-8")))
        except OSError as exc:
            out.append((str(path), f"\0{exc}"))
    return out


def load_themes(files: Iterable[tuple[str, str]] | None = None) -> ThemeLoadResult:
    """Load shipped then user themes (a later file with the same name wins)."""
    if files is None:
        files = [*shipped_theme_files(), *user_theme_files()]
    result = ThemeLoadResult()
    for source, text in files:
        if text.startswith("\0"):
            result.failed.append(f"{source}: cannot read: {text[1:]}")
            continue
        try:
            result.loaded.append(theme_from_toml(text, source))
        except ThemeError as exc:
            result.failed.append(str(exc))
    return result


def level_defaults(theme: Theme) -> dict[str, str]:
    """Level colours for a theme that does not define them (any Textual built-in):
    success for excellent, a softer success for good, warning, error."""
    success = Color.parse(theme.success or "#4EBF71")
    warning = Color.parse(theme.warning or "#F2A541")
    error = Color.parse(theme.error or "#E5484D")
    foreground = Color.parse(theme.foreground or ("#D8DEE9" if theme.dark else "#1E2329"))
    return {
        "level-excellent": success.hex,
        "level-good": success.blend(warning, 0.35).hex,
        "level-warning": warning.hex,
        "level-critical": error.hex,
        "level-unknown": foreground.blend(Color.parse(theme.background or "#000000"), 0.45).hex,
    }
