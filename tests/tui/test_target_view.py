"""The target view over a real probe on loopback: open it, read its GC panel,
caches table and other metrics, run a cleanup and read its receipt."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from memdash.config import Config, TargetConfig
from memdash.tui.screens.confirm import ConfirmCleanup
from memdash.tui.widgets.targets_table import TargetsTable

from tui_fixtures import sample_app

TOKEN = "target-view-token-7c1e"
CYCLES = 5000

SERVICE = textwrap.dedent(
    """
    import functools, gc, sys
    gc.disable()  # only the probe's cleanup may collect
    import memdash.probe as probe

    class Node:
        pass

    @probe.track_cache(name="lookup_user")
    @functools.lru_cache(maxsize=128)
    def lookup_user(i):
        return i * 2

    for i in range(10):          # 10 misses
        lookup_user(i)
    for _ in range(9):           # 90 hits
        for i in range(10):
            lookup_user(i)
    for _ in range(int(sys.argv[1])):
        a, b = Node(), Node()
        a.other, b.other = b, a
    handle = probe.serve(min_interval=0)
    print(handle.url, flush=True)
    sys.stdin.read()
    handle.stop()
    """
)


@dataclass(frozen=True)
class Service:
    url: str
    pid: int


@pytest.fixture
def cache_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """A real Python service with a tracked cache (90 hits, 10 misses) and
    CYCLES reference cycles waiting for a collection, its probe on 127.0.0.1."""
    script = tmp_path / "service.py"
    script.write_text(SERVICE, encoding="utf-8")
    env = {**os.environ, "MEMDASH_PROBE_TOKEN": TOKEN, "XDG_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, str(script), str(CYCLES)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env, text=True)
    monkeypatch.setenv("MEMDASH_TARGET_VIEW_TOKEN", TOKEN)
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), url
        yield Service(url=url, pid=proc.pid)
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


def config_for(svc: Service) -> Config:
    # Polled once a minute: a second sample in the view can only come from the
    # re-poll that follows a cleanup.
    target = TargetConfig(name="api", url=svc.url, kind="probe", token_env="MEMDASH_TARGET_VIEW_TOKEN", interval=60.0)
    return Config(targets=(target,))


async def wait_for(pilot, predicate, seconds: float = 15.0) -> bool:
    for _ in range(int(seconds / 0.05)):  # bounded
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


def cells(table, row: int) -> list[str]:
    return [str(c) for c in table.get_row_at(row)]


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).content)


async def open_view(pilot, app):
    from memdash.tui.screens.target import TargetScreen

    assert await wait_for(pilot, lambda: app.frame is not None and app.frame.target("api") is not None
                          and app.frame.target("api").ok)
    app.query_one(TargetsTable).focus()
    await pilot.press("enter")
    assert await wait_for(pilot, lambda: isinstance(app.screen, TargetScreen))
    screen = app.screen
    assert await wait_for(pilot, lambda: screen.query_one("#gc-table").row_count > 0)
    return screen


async def test_target_view_shows_gc_caches_and_metrics(cache_service):
    app = sample_app(config=config_for(cache_service), poll_targets=True)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_view(pilot, app)
        title = text_of(screen, "#t-title")
        assert "api" in title and "probe" in title and cache_service.url in title
        assert f"pid {cache_service.pid}" in title
        # GC panel: one row per generation; the GC is disabled, so no full collection yet.
        gc_table = screen.query_one("#gc-table")
        assert [cells(gc_table, i)[0] for i in range(gc_table.row_count)] == ["0", "1", "2"]
        assert cells(gc_table, 2)[2] == "0"
        assert text_of(screen, "#gc-pauses").startswith("pauses: total")
        # Caches: the tracked lru_cache with its exact counts.
        caches = screen.query_one("#cache-table")
        assert caches.row_count == 1
        assert cells(caches, 0) == ["lookup_user", "90", "10", "90.0%", "10/128"]
        # Extras: the probe's other figures, in units a person reads.
        metrics = text_of(screen, "#t-metrics")
        assert metrics.startswith("Other metrics") and "uptime_seconds = " in metrics
        assert "memory.vms_bytes = " in metrics and "M" in metrics.split("memory.vms_bytes = ")[1].split()[0]
        status = text_of(screen, "#t-status")
        assert "cleanup: gc, caches, trim, all" in status
        await pilot.press("escape")
        assert await wait_for(pilot, lambda: not isinstance(app.screen, type(screen)))


async def test_cleanup_from_the_target_view_shows_its_receipt_and_the_repoll(cache_service):
    app = sample_app(config=config_for(cache_service), poll_targets=True)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = await open_view(pilot, app)
        gc_table = screen.query_one("#gc-table")
        assert cells(gc_table, 2)[2] == "0"
        await pilot.press("g")  # on the target view, cleanup keys act on its target
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmCleanup), 5)
        assert "Run gc on api?" in str(app.screen.query_one("#confirm-question").content)
        await pilot.press("y")
        assert await wait_for(pilot, lambda: app.screen is screen and screen.query_one("#t-result").display
                              and "->" in text_of(screen, "#t-result"))
        receipt = text_of(screen, "#t-result")
        assert receipt.startswith("gc on api done, RSS "), receipt
        collected = int(receipt.split(" objects collected")[0].rsplit(", ", 1)[1])
        assert collected >= 2 * CYCLES
        # The target is polled again at once (it is otherwise polled once a
        # minute): the view shows the full collection that just ran.
        assert await wait_for(pilot, lambda: cells(gc_table, 2)[2] == "1")
