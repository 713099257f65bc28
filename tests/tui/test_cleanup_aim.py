"""Cleanup keys act on the row the user looks at, name it, and start on No.

Two real probed services ("api" and "worker"); the worker's process is the
first row of the process table (◆). Which service really collected is read
from the services themselves.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from memdash.config import Config, TargetConfig
from memdash.levels import Level
from memdash.model import ProcessMemory
from memdash.tui.screens.confirm import ConfirmCleanup, describe_result
from memdash.tui.widgets.process_table import ProcessTable
from memdash.tui.widgets.targets_table import TargetsTable

from tui_fixtures import MIB, FixedCollector, sample_snapshot

TOKEN = "aim-test-token-7f1e"
GC_SERVICE = Path(__file__).parents[1] / "probe" / "gc_service.py"


@dataclasses.dataclass
class Service:
    url: str
    pid: int
    proc: subprocess.Popen


@pytest.fixture
def two_services(tmp_path) -> Iterator[dict[str, Service]]:
    yield from _spawn(tmp_path, TOKEN)


@pytest.fixture
def tokenless_services(tmp_path) -> Iterator[dict[str, Service]]:
    """Probes started without a token: they answer reads and refuse every cleanup."""
    yield from _spawn(tmp_path, "")


def _spawn(tmp_path, token: str) -> Iterator[dict[str, Service]]:
    env = dict(os.environ, MEMDASH_PROBE_TOKEN=token, XDG_RUNTIME_DIR=str(tmp_path))
    out: dict[str, Service] = {}
    try:
        for name in ("api", "worker"):
            proc = subprocess.Popen([sys.executable, str(GC_SERVICE), "2000"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, env=env, text=True)
            url = proc.stdout.readline().strip()  # type: ignore[union-attr]
            assert url.startswith("http://127.0.0.1:"), url
            out[name] = Service(url, proc.pid, proc)
        yield out
    finally:
        for s in out.values():
            s.proc.stdin.close()  # type: ignore[union-attr]
            try:
                s.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                s.proc.kill()
                s.proc.wait()
            s.proc.stdout.close()  # type: ignore[union-attr]


def full_collections(svc: Service) -> int:
    doc = httpx.get(svc.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
    return doc["gc"]["generations"][-1]["collections"]


def collector_with(pid: int) -> FixedCollector:
    """The sample box, with the worker's real pid as its largest process."""
    snap = sample_snapshot()
    worker = ProcessMemory(
        pid=pid, ppid=1, name="python3", cmdline="/home/app/.pyenv/versions/3.11.7/bin/python3 /srv/worker.py --queue q",
        user="www", rss_bytes=300 * MIB, limit_bytes=512 * MIB, percent=58.6, level=Level.GOOD,
    )
    return FixedCollector(dataclasses.replace(snap, processes=(worker, *snap.processes)))


def app_for(services: dict[str, Service], monkeypatch, *, token_env: str | None = "MEMDASH_AIM_TOKEN", **kw):
    from memdash.tui.app import MemdashApp

    monkeypatch.setenv("MEMDASH_AIM_TOKEN", TOKEN)
    targets = tuple(TargetConfig(name=n, url=s.url, kind="probe", token_env=token_env, interval=0.5)
                    for n, s in services.items())
    return MemdashApp(Config(targets=targets, **kw), collector=collector_with(services["worker"].pid),
                      discover=False, poll_targets=True)


async def wait_for(pilot, predicate, seconds: float = 15.0) -> bool:
    for _ in range(int(seconds / 0.05)):  # bounded
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


def both_ok(app) -> bool:
    f = app.frame
    return f is not None and all(f.target(n) is not None and f.target(n).ok for n in ("api", "worker"))


async def test_g_on_a_probed_process_row_confirms_for_that_process(two_services, monkeypatch):
    worker, api = two_services["worker"], two_services["api"]
    before = {n: full_collections(s) for n, s in two_services.items()}
    app = app_for(two_services, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: both_ok(app))
        table = app.query_one(ProcessTable)
        assert app.focused is table and table.cursor_pid == worker.pid
        # The targets table highlights "api": it must not be what g aims at. (Put
        # there, not assumed: its cursor stays on whichever target answered first.)
        targets = app.query_one(TargetsTable)
        targets.select_name("api")
        await pilot.pause(0.1)
        assert targets.cursor_name == "api" and app.focused is table
        await pilot.press("g")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmCleanup), 3)
        dialog = app.screen
        assert "worker" in str(dialog.query_one("#confirm-question").content)
        subject = str(dialog.query_one("#confirm-subject").content)
        assert "python3 worker.py" in subject and f"pid {worker.pid}" in subject and worker.url in subject, subject
        assert dialog.focused is not None and dialog.focused.id == "no"
        # Enter on the dialog: nothing runs.
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmCleanup), 3)
        await pilot.pause(1.0)
        assert {n: full_collections(s) for n, s in two_services.items()} == before
        # y runs it on the worker, and only there.
        await pilot.press("g")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmCleanup), 3)
        await pilot.press("y")
        status = app.query_one("#status")
        assert await wait_for(pilot, lambda: "done" in str(status.content))
        assert str(status.content).startswith("gc on worker done")
    assert full_collections(worker) > before["worker"]
    assert full_collections(api) == before["api"]


async def test_the_targets_table_aims_at_its_own_row_when_focused(two_services, monkeypatch):
    app = app_for(two_services, monkeypatch)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: both_ok(app))
        targets = app.query_one(TargetsTable)
        targets.focus()
        await pilot.press("down")  # api -> worker
        await pilot.pause(0.1)
        assert app.selected_target().name == "worker"
        targets.action_cursor(-1)
        await pilot.pause(0.1)
        assert app.selected_target().name == "api"
        # Back in the process table: its highlighted row decides again.
        app.query_one(ProcessTable).focus()
        await pilot.pause(0.1)
        assert app.selected_target().name == "worker"
        # A plain process row has no target: no cleanup key is offered.
        await pilot.press("down")
        await pilot.pause(0.1)
        assert app.selected_target() is None
        assert app.check_action("cleanup", ("gc",)) is False


async def test_a_tokenless_url_target_hides_its_keys_and_says_how_to_enable_them(tokenless_services, monkeypatch):
    monkeypatch.delenv("MEMDASH_TOKEN", raising=False)
    app = app_for(tokenless_services, monkeypatch, token_env="MEMDASH_TOKEN")
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: both_ok(app))
        assert "gc" in app.frame.target("worker").actions  # the probe offers it; memdash cannot use it
        assert app.check_action("cleanup", ("gc",)) is False
        await pilot.press("g")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmCleanup)
        footer = app.screen._compositor.render_strips()[-1].text
        assert "GC" not in footer.split()
        await pilot.press("enter")  # the ◆ row opens its target view
        assert await wait_for(pilot, lambda: app.screen.query("#t-status") and "token" in str(app.screen.query_one("#t-status").content), 5)
        status = str(app.screen.query_one("#t-status").content)
        assert "MEMDASH_PROBE_TOKEN" in status and "$MEMDASH_TOKEN" in status, status
        assert "token_env" not in status  # MEMDASH_TOKEN is the default: no config key to name


async def test_a_refusal_says_refused_once(two_services):
    """A real 401 from a probe, described as the dashboard shows it."""
    from memdash.engine import Engine

    target = TargetConfig(name="api", url=two_services["api"].url, kind="probe", token_env="MEMDASH_AIM_UNSET")
    engine = Engine(Config(targets=(target,)), gpu=False, discover=False, running=False)
    try:
        result = await engine.cleanup("api", "gc")
    finally:
        engine.close()
    text = describe_result(result)
    assert not result.ok
    assert text.startswith("gc on api refused: ") and text.lower().count("refused") == 1, text


async def test_moving_in_the_services_table_updates_the_keys_at_once(two_services, monkeypatch):
    """The footer follows the services table's cursor without waiting for a frame."""
    from memdash.model import ServiceMemory, ServiceWorker
    from memdash.tui.widgets.services_table import ServicesTable

    worker = two_services["worker"]
    services = (
        ServiceMemory(key="prefork:worker", name="worker.py", kind="prefork", master_pid=worker.pid, worker_count=1,
                      process_count=1, rss_bytes=300 * MIB, percent=58.6, level=Level.GOOD,
                      workers=(ServiceWorker(pid=worker.pid, ppid=1, name="python3", cmdline="python3 worker.py",
                                             role="master", rss_bytes=300 * MIB),)),
        ServiceMemory(key="cgroup:/redis", name="redis", kind="cgroup", worker_count=1, process_count=1,
                      rss_bytes=12 * MIB, percent=2.3, level=Level.EXCELLENT,
                      workers=(ServiceWorker(pid=310, ppid=1, name="redis-server", cmdline="redis-server",
                                             role="process", rss_bytes=12 * MIB),)),
    )
    app = app_for(two_services, monkeypatch)
    collector = app.engine.collector
    collector.snapshot = dataclasses.replace(collector.snapshot, services=services)
    async with app.run_test(size=(120, 40)) as pilot:
        assert await wait_for(pilot, lambda: both_ok(app) and bool(app.frame.services))
        await pilot.press("p")  # paused: no frame comes while the cursor moves
        assert await wait_for(pilot, lambda: app.frame.paused, 5)
        await pilot.pause(0.3)
        seq = app.frame.seq
        table = app.query_one(ServicesTable)
        table.focus()
        await pilot.pause(0.1)

        def footer() -> list[str]:
            return app.screen._compositor.render_strips()[-1].text.split()

        assert table.cursor_service == "prefork:worker"  # the larger first
        assert app.selected_target().name == "worker"
        assert await wait_for(pilot, lambda: "GC" in footer(), 2)  # the footer rebuilds its keys
        await pilot.press("down")
        assert table.cursor_service == "cgroup:/redis"
        assert app.selected_target() is None
        assert await wait_for(pilot, lambda: footer() and "GC" not in footer(), 2)
        await pilot.press("up")
        assert await wait_for(pilot, lambda: "GC" in footer(), 2)
        assert app.frame.seq == seq  # all of it without a new frame
