"""The dashboard at 80x24, 120x40 and 200x50, the confirm dialog in each
memdash theme, help, and NO_COLOR, over fixed sample data (nothing varies)."""

from __future__ import annotations

import pytest

from memdash.config import Config
from memdash.tui.screens.confirm import ConfirmCleanup

from tui_fixtures import sample_app
from test_snapshots import _ready

SIZES = [(80, 24), (120, 40), (200, 50)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(snap_compare, size) -> None:
    assert snap_compare(sample_app(), terminal_size=size, run_before=_ready)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare, size) -> None:
    async def run_before(pilot) -> None:
        await _ready(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.3)

    assert snap_compare(sample_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("theme", ["memdash-dark", "memdash-light", "memdash-contrast"])
def test_confirm_dialog_is_legible_in_each_theme(snap_compare, theme) -> None:
    """Focus starts on No; both labels must read in their button's colours."""

    async def run_before(pilot) -> None:
        await _ready(pilot)
        pilot.app.push_screen(ConfirmCleanup("api", "gc", "Run a full garbage collection in the service.",
                                             "python3 app.py · pid 4101 · http://127.0.0.1:8765/"))
        await pilot.pause(0.3)
        assert pilot.app.screen.focused.id == "no"

    assert snap_compare(sample_app(config=Config(theme=theme)), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_color(snap_compare, monkeypatch, size) -> None:
    """Every level spelled (ok, good, warn, CRIT); the critical row marked under the cursor."""
    from memdash.levels import Thresholds
    from memdash.tui.app import MemdashApp

    from tui_fixtures import FixedCollector, sample_snapshot

    monkeypatch.setenv("NO_COLOR", "1")
    # Lower thresholds: the top rows are CRIT (the first under the cursor), then warn, good, ok.
    thresholds = Thresholds(good=5, warning=15, critical=25)
    app = MemdashApp(Config(thresholds=thresholds), collector=FixedCollector(sample_snapshot(thresholds)),
                     discover=False, poll_targets=False)
    assert snap_compare(app, terminal_size=size, run_before=_ready)
