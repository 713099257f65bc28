"""The command palette lists memdash's own commands, and they work."""

from __future__ import annotations

from pathlib import Path

from tui_fixtures import sample_app


async def _ready(pilot) -> None:
    for _ in range(200):  # bounded
        if pilot.app.frame is not None:
            return
        await pilot.pause(0.05)


async def test_the_palette_offers_memdash_commands_and_runs_them():
    app = sample_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _ready(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in ("Sort by RSS", "Sort by USS", "Sort by PROGRAM", "Filter processes", "Pause",
                      "Next memdash theme", "Longer chart window", "Save screenshot", "Quit"):
            assert title in titles, title
        assert "Screenshot" not in titles  # Textual's, which assumes ~/Downloads
        assert len(titles) == len(set(titles))
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"sort by uss")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.sort == ("uss", True)
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"pause")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.engine.paused


async def test_screenshot_goes_to_xdg_download_dir_else_the_current_directory(tmp_path: Path, monkeypatch):
    downloads = tmp_path / "dl"
    downloads.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(tmp_path / "no-home"))  # no ~/Downloads: a server
    app = sample_app()
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await _ready(pilot)
        monkeypatch.setenv("XDG_DOWNLOAD_DIR", str(downloads))
        saved = app.save_screenshot_here()
        assert saved is not None and Path(saved).parent == downloads and Path(saved).read_text().startswith("<svg")
        monkeypatch.delenv("XDG_DOWNLOAD_DIR")
        saved = app.save_screenshot_here()
        assert saved is not None and Path(saved).parent == work
        await pilot.pause(0.2)
        said = " ".join(str(n.message) for n in app._notifications)
        assert f"screenshot saved: {saved}" in said
