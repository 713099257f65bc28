"""Theme files: the shipped ones load, broken ones are reported and skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.color import Color
from textual.theme import BUILTIN_THEMES

from memdash.config import Config
from memdash.tui.themes import LEVEL_VARIABLES, level_defaults, load_themes, shipped_theme_files

REPO_THEMES = Path(__file__).resolve().parents[1] / "themes"
SHIPPED = ("memdash-dark", "memdash-light", "memdash-contrast")

GOOD_THEME = """\
name = "my-theme"
dark = true
primary = "#336699"
background = "#101010"

[variables]
level-excellent = "#00FF00"
level-good = "#88FF00"
level-warning = "#FFFF00"
level-critical = "#FF0000"
level-unknown = "#888888"
"""


@pytest.fixture(autouse=True)
def no_user_themes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg"
    home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("MEMDASH_CONFIG", raising=False)
    return home


def theme_files() -> list[Path]:
    files = sorted(REPO_THEMES.glob("*.toml"))
    assert files, f"no theme files in {REPO_THEMES}"
    return files


@pytest.mark.parametrize("path", theme_files(), ids=lambda p: p.name)
def test_every_shipped_theme_file_loads_with_all_level_colours(path: Path) -> None:
    result = load_themes([(str(path), path.read_text(encoding="utf-8"))])
    assert result.failed == []
    (theme,) = result.loaded
    assert theme.name == path.stem  # file name and theme name agree
    for var in LEVEL_VARIABLES:
        assert var in theme.variables, f"{path.name} lacks {var}"
        Color.parse(theme.variables[var])  # a real colour
    levels = [Color.parse(theme.variables[v]) for v in LEVEL_VARIABLES[:4]]
    assert len({c.hex for c in levels}) == 4, "the four levels must be told apart"


def test_shipped_theme_files_are_the_repo_themes() -> None:
    shipped = shipped_theme_files()
    names = sorted(Path(src).name for src, _ in shipped)
    assert names == sorted(p.name for p in theme_files())
    result = load_themes(shipped)
    assert result.failed == []
    assert sorted(t.name for t in result.loaded) == sorted(SHIPPED)


def test_default_load_reads_shipped_and_user_themes(no_user_themes: Path) -> None:
    folder = no_user_themes / "memdash" / "themes"
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text(GOOD_THEME, encoding="utf-8")
    (folder / "broken.toml").write_text("name = 'broken'\nprimary = 'nope'\n", encoding="utf-8")
    result = load_themes()
    names = [t.name for t in result.loaded]
    assert set(SHIPPED) <= set(names)
    assert "my-theme" in names
    assert "broken" not in names
    assert len(result.failed) == 1 and "broken.toml" in result.failed[0]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param(GOOD_THEME.replace('dark = true', 'dark = true\ncolour = "#fff"'), "colour", id="unknown-key"),
        pytest.param(GOOD_THEME.replace('primary = "#336699"', 'primary = "not-a-colour"'), "primary", id="bad-colour"),
        pytest.param(GOOD_THEME.replace('level-warning = "#FFFF00"', 'level-warning = "#GGGGGG"'), "level-warning", id="bad-level-colour"),
        pytest.param(GOOD_THEME.replace('background = "#101010"', "background = 12"), "background", id="colour-not-string"),
        pytest.param(GOOD_THEME.replace('name = "my-theme"\n', ""), "name", id="no-name"),
        pytest.param(GOOD_THEME.replace('primary = "#336699"\n', ""), "primary", id="no-primary"),
        pytest.param(GOOD_THEME.replace("[variables]", "[variables"), "TOML", id="bad-toml"),
        pytest.param('name = "x"\nprimary = "#fff"\nvariables = 3\n', "variables", id="variables-not-table"),
    ],
)
def test_bad_theme_is_reported_with_its_file_and_not_loaded(text: str, fragment: str) -> None:
    result = load_themes([("themes/good.toml", GOOD_THEME), ("/home/u/.config/memdash/themes/bad-one.toml", text)])
    assert [t.name for t in result.loaded] == ["my-theme"]  # the good file still loads
    (message,) = result.failed
    assert "bad-one.toml" in message
    assert fragment in message
    assert "\n" not in message


def test_files_load_in_order_so_a_later_one_with_the_same_name_wins() -> None:
    other = GOOD_THEME.replace('primary = "#336699"', 'primary = "#FF8800"')
    result = load_themes([("a.toml", GOOD_THEME), ("b.toml", other)])
    assert result.failed == []
    assert [Color.parse(t.primary).hex for t in result.loaded] == ["#336699", "#FF8800"]


@pytest.mark.parametrize("name", sorted(BUILTIN_THEMES))
def test_level_defaults_for_every_builtin_theme(name: str) -> None:
    theme = BUILTIN_THEMES[name]
    colours = level_defaults(theme)
    assert set(colours) == set(LEVEL_VARIABLES)
    parsed = {k: Color.parse(v) for k, v in colours.items()}
    assert parsed["level-critical"] != parsed["level-excellent"]
    assert parsed["level-warning"] != parsed["level-excellent"]
    if theme.error:
        assert parsed["level-critical"] == Color.parse(theme.error)
    if theme.success:
        assert parsed["level-excellent"] == Color.parse(theme.success)


def test_app_registers_the_shipped_themes() -> None:
    from memdash.tui.app import MemdashApp

    app = MemdashApp(Config(), gpu=False, discover=False, poll_targets=False)
    try:
        for name in SHIPPED:
            assert name in app.available_themes
        assert app.theme == "memdash-dark"
        # Textual's own themes stay available beside ours
        assert set(BUILTIN_THEMES) <= set(app.available_themes)
    finally:
        app.engine.close()


def test_app_uses_the_configured_theme_and_user_themes(no_user_themes: Path) -> None:
    from memdash.tui.app import MemdashApp

    folder = no_user_themes / "memdash" / "themes"
    folder.mkdir(parents=True)
    (folder / "mine.toml").write_text(GOOD_THEME, encoding="utf-8")
    app = MemdashApp(Config(theme="memdash-light"), gpu=False, discover=False, poll_targets=False)
    try:
        assert app.theme == "memdash-light"
        assert "my-theme" in app.available_themes
    finally:
        app.engine.close()


def test_app_falls_back_from_an_unknown_theme() -> None:
    from memdash.tui.app import MemdashApp

    app = MemdashApp(Config(theme="no-such-theme"), gpu=False, discover=False, poll_targets=False)
    try:
        assert app.theme == "memdash-dark"
    finally:
        app.engine.close()
