"""Cleanup keys on a real probe target: confirm, run, and see before -> after."""

from __future__ import annotations

import httpx

from memdash.config import Config, TargetConfig
from memdash.tui.screens.confirm import ConfirmCleanup
from memdash.tui.widgets.targets_table import TargetsTable

from tui_fixtures import sample_app


def gen2_collections(svc) -> tuple[int, int]:
    doc = httpx.get(svc.url, headers={"Authorization": f"Bearer {svc.token}"}, timeout=5).json()
    gens = doc["gc"]["generations"]
    return gens[-1]["collections"], sum(g["collected"] for g in gens)


def target_config(svc, monkeypatch, **kw) -> Config:
    monkeypatch.setenv("MEMDASH_TUI_TEST_TOKEN", svc.token)
    target = TargetConfig(name="api", url=svc.url, kind="probe", token_env="MEMDASH_TUI_TEST_TOKEN", interval=0.5)
    return Config(targets=(target,), **kw)


def api_ok(app) -> bool:
    target = app.frame.target("api") if app.frame is not None else None
    return target is not None and target.ok


async def wait_for(pilot, predicate, seconds: float = 10.0) -> bool:
    for _ in range(int(seconds / 0.05)):  # bounded
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


async def test_g_runs_a_collection_and_shows_before_after(gc_service, monkeypatch):
    collections_before, collected_before = gen2_collections(gc_service)
    app = sample_app(config=target_config(gc_service, monkeypatch), poll_targets=True)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await wait_for(pilot, lambda: api_ok(app))
        assert "gc" in app.frame.target("api").actions
        app.query_one(TargetsTable).focus()
        await pilot.press("g")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmCleanup), 2)
        assert "api" in str(app.screen.query_one("#confirm-question").content)
        await pilot.press("y")
        status = app.query_one("#status")
        assert await wait_for(pilot, lambda: "->" in str(status.content))
        text = str(status.content)
        assert text.startswith("gc on api done, RSS "), text
        assert "objects collected" in text
    collections_after, collected_after = gen2_collections(gc_service)
    # The service really ran a full collection, and it found the cycles.
    assert collections_after > collections_before
    assert collected_after - collected_before >= 2 * gc_service.cycles


async def test_read_only_offers_no_cleanup_keys(gc_service, monkeypatch):
    collections_before, _ = gen2_collections(gc_service)
    app = sample_app(config=target_config(gc_service, monkeypatch, read_only=True), poll_targets=True)
    async with app.run_test(size=(140, 40)) as pilot:
        assert await wait_for(pilot, lambda: api_ok(app))
        app.query_one(TargetsTable).focus()
        await pilot.pause(0.2)
        for action in ("gc", "caches", "trim", "all"):
            assert app.check_action("cleanup", (action,)) is False
        await pilot.press("g")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmCleanup)
        footer_text = " ".join(s.text for s in app.screen._compositor.render_strips()[-1:])
        assert "GC" not in footer_text.split() and "Trim" not in footer_text.split()
    assert gen2_collections(gc_service)[0] == collections_before
