"""Issue 11: the target view's runtime panel, fed by the real reader from a real
loopback page, in a real Textual app driven by Pilot."""

from __future__ import annotations

import time
from pathlib import Path

from flask import Flask, Response
from textual.app import App
from textual.widgets import Static

from memdash.config import TargetConfig
from memdash.levels import Thresholds
from memdash.model import TargetSample
from memdash.sources.remote import TargetPoller
from memdash.tui.palette import LevelPalette
from memdash.tui.screens.target import TargetScreen
from memdash.tui.widgets.targets_table import gc_counts, kind_label

from tests.remote.servers import wsgi_server

DATA = Path(__file__).parents[1] / "remote" / "data"
HOSTILE = ('# TYPE app_cache_bytes gauge\napp_cache_bytes{name="[bold]x[/] \x1b]2;pwn\x07"} 1024\n'
           "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1e+08\n")


async def poll_page(body: str, **kw: object) -> TargetSample:
    """The page served over loopback, read by the real poller."""
    app = Flask("page")
    app.add_url_rule("/metrics", "m", lambda: Response(body, content_type="text/plain; version=0.0.4"))
    with wsgi_server(app) as base:
        async with TargetPoller([TargetConfig(name="svc", url=base + "/metrics", **kw)], Thresholds()) as p:
            (s,) = await p.poll_once()
    return s


class Host(App[None]):
    def __init__(self, sample: TargetSample) -> None:
        super().__init__()
        self.sample = sample

    async def on_mount(self) -> None:
        screen = TargetScreen(self.sample.name)
        await self.push_screen(screen)
        palette = LevelPalette()
        palette.refresh_from(self)
        screen.show(self.sample, {}, palette, now=time.time(), window=600.0)


def plain(app: App[None], selector: str) -> str:
    return app.screen.query_one(selector, Static).render().plain  # type: ignore[union-attr]


async def test_go_runtime_panel_and_gc_summary() -> None:
    s = await poll_page((DATA / "go_etcd.prom").read_text())
    assert kind_label(s) == "prom:go" and gc_counts(s) == "3,817 GCs"
    app = Host(s)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        panel = plain(app, "#t-runtime")
        assert panel.startswith("Go runtime version go1.22.8")
        assert " heap_inuse_bytes = 44M" in panel and " gomemlimit_bytes = 512M" in panel
        assert " gc_pause_p50_seconds = 79µs" in panel
        assert " last_gc_time_seconds = 2026-11-27 17:40:47 UTC" in panel  # a time, not 20786d13h
        assert plain(app, "#gc-pauses").startswith("3,817 collections (see the runtime panel)  pause total 412ms")
        assert "recognised: go runtime" in plain(app, "#t-status")
        metrics = plain(app, "#t-metrics")
        assert "etcd_network_client_grpc_received_bytes_total = 72M" in metrics  # bytes, not 75,789,336


async def test_jvm_pools_and_labels_from_the_page_are_data() -> None:
    s = await poll_page((DATA / "jvm_micrometer.prom").read_text())
    app = Host(s)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        panel = plain(app, "#t-runtime")
        assert panel.startswith("JVM")
        assert "  G1 Old Gen  used_bytes 60M  committed_bytes 112M  max_bytes 512M" in panel
        assert "  G1 Young Generation  count 214" in panel
    hostile = await poll_page(HOSTILE, fields={"cache": 'app_cache_bytes{name="nope"}'})
    app = Host(hostile)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        metrics = plain(app, "#t-metrics")
        assert '[bold]x[/] \\e]2;pwn\\x07' in metrics  # literal, escaped: no markup, no terminal bytes
        assert "\x1b" not in metrics
        status = plain(app, "#t-status")
        assert 'warning: fields.cache: no series app_cache_bytes{name="nope"} on the page' in status


async def test_federate_instances_listed() -> None:
    s = await poll_page((DATA / "federate_two.prom").read_text())
    app = Host(s)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        panel = plain(app, "#t-runtime")
        assert 'Instances (2)\n  instance="api-1:8000",job="api"  118M  python' in panel
        assert "warning: 2 instances on this page" in plain(app, "#t-status")
