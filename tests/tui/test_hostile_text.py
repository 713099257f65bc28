"""Other people's text on the dashboard: real processes and loopback targets
whose names, arguments, keys, labels, reasons and errors carry the hostile
corpus (tests/hostile_text.py). The app must not crash, must show the text
literally (escaped where a terminal would obey it), and a click on it must
run nothing."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from flask import Flask, jsonify
from hostile_text import CORPUS, MARKUP, SCREENSHOT_NAME, SHORT, hostile_processes, unsafe_chars, visible
from textual.widgets import DataTable

from memdash.config import Config, TargetConfig
from memdash.tui.app import MemdashApp
from memdash.tui.widgets.process_table import ProcessTable
from memdash.tui.widgets.targets_table import TargetsTable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from remote.servers import RawServer, read_request, wsgi_server  # noqa: E402
from tui_fixtures import FixedCollector, sample_app  # noqa: E402


def screen_text(app: MemdashApp) -> str:
    return "\n".join(s.text for s in app.screen._compositor.render_strips())


async def _wait(pilot, predicate, seconds: float = 20.0) -> bool:
    for _ in range(int(seconds / 0.05)):  # bounded
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


def assert_clean(app: MemdashApp) -> str:
    text = screen_text(app)
    assert unsafe_chars(text) == [], unsafe_chars(text)[:5]
    return text


# -- real processes ------------------------------------------------------------


@pytest.fixture
def hostile_procs(tmp_path: Path) -> Iterator[tuple[str, dict[str, int]]]:
    """Real processes whose argv (and one's comm) carry the corpus; (marker, {id: pid})."""
    marker = f"hostile-{uuid.uuid4().hex[:10]}"
    here = {"click-screenshot-here": f"[@click=app.screenshot('{SCREENSHOT_NAME}','{tmp_path}')]x"}
    with hostile_processes(marker, here) as pids:
        yield marker, pids


@pytest.mark.slow
@pytest.mark.timeout(400)  # 23 processes opened one by one: ~25 s alone, minutes on a box loaded 7x over
async def test_hostile_command_lines_show_literally_and_run_nothing(hostile_procs, tmp_path: Path) -> None:
    marker, pids = hostile_procs
    app = MemdashApp(dataclasses.replace(Config(), top=100), gpu=False, discover=False, poll_targets=False)
    async with app.run_test(size=(200, 60)) as pilot:
        table = app.query_one(ProcessTable)
        assert await _wait(pilot, lambda: table.row_count > 0)
        await pilot.press("slash", *marker, "enter")
        assert await _wait(pilot, lambda: set(pids.values()) <= set(table._cells)), \
            f"not listed: {[k for k, p in pids.items() if p not in table._cells]}"
        await pilot.pause(0.2)
        text = assert_clean(app)
        for key, value in SHORT.items():
            assert visible(value) in text, f"{key}: {visible(value)!r} not on screen"
        assert visible(CORPUS["long-100k"], 50)[:-1] in text  # the long one, cut
        # Every row is one line: a newline in an argument is shown, not obeyed.
        rows = [line for line in text.splitlines() if marker in line]
        assert len(rows) == len(pids), f"{len(rows)} lines for {len(pids)} processes"
        assert "import os\\nprint(1)\\nprint(2)" in text
        # Click every row (twice: a double click opens), and the header line survives.
        for y in range(len(pids)):
            await pilot.click(ProcessTable, offset=(60, y + 1), times=2)
            await pilot.pause(0.2)
            if app.screen is not app.screen_stack[0]:  # the process view: the command shown as data
                assert marker in screen_text(app)
                assert_clean(app)
                await pilot.press("escape")
                await pilot.pause(0.2)
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None
        assert not (tmp_path / SCREENSHOT_NAME).exists()
        assert "memdash" in screen_text(app).splitlines()[0]


@pytest.mark.parametrize("typed", ["[/", "[/]", "[@click=app.quit]x", "[bold red]x"])
async def test_filter_box_echo_is_data(typed: str) -> None:
    app = sample_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("slash", *typed)
        await pilot.pause(0.2)
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.is_running
        assert f"filter {typed!r}" in assert_clean(app)


async def test_a_pasted_escape_never_reaches_the_filter_box() -> None:
    from textual import events
    from textual.widgets import Input

    app = sample_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause()
        await pilot.press("slash", "g", "u")
        box = app.query_one("#filter", Input)
        box.post_message(events.Paste("\x1b]2;PWNED\x07\u202e"))
        await pilot.pause(0.3)
        assert box.value == "gu"  # refused: the Input would draw it raw
        assert_clean(app)
        box.post_message(events.Paste("nicorn [x]"))
        await pilot.pause(0.3)
        assert box.value == "gunicorn [x]"


async def test_theme_name_from_argv_is_data() -> None:
    app = MemdashApp(dataclasses.replace(Config(), theme="[/]x\x1b]2;T\x07"), collector=FixedCollector(),
                     discover=False, poll_targets=False)
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        toast = "unknown theme '[/]x\\x1b]2;T\\x07'; using memdash-dark"
        # The toast (on main: a MarkupError, exit 1) quotes the name as data.
        await _wait(pilot, lambda: toast in screen_text(app))
        assert app.is_running and app.theme == "memdash-dark"
        assert toast in assert_clean(app)


async def test_help_shows_brackets() -> None:
    app = sample_app()
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert "set them in [thresholds] of the" in screen_text(app)  # main: "set them in  of the config"


# -- loopback targets ----------------------------------------------------------

#: Corpus entries used as names on the targets' side (the 100 KB one too).
REMOTE = {k: v for k, v in CORPUS.items()}


def hostile_json_app() -> Flask:
    """A JSON service whose cache names, metric keys and refusals carry the corpus."""
    app = Flask("hostile")

    @app.get("/stats")
    def stats():  # type: ignore[no-untyped-def]
        return jsonify({
            "memory_percent": 40.0,
            "caches": {value: {"hits": 5, "misses": 1} for value in REMOTE.values()},
            "extra": {value: 7 for value in list(REMOTE.values())[:10]},
        })

    @app.post("/gc")
    def gc_route():  # type: ignore[no-untyped-def]
        return jsonify({"error": CORPUS["click-quit"] + CORPUS["osc-title"] + CORPUS["newline"]}), 403

    @app.post("/caches")
    def caches_route():  # type: ignore[no-untyped-def]
        return jsonify({"error": CORPUS["close-tag"] + CORPUS["csi-clear"]}), 500

    return app


def prom_handler(conn, server: RawServer) -> None:
    read_request(conn)
    lines = []
    for i, value in enumerate(v for v in REMOTE.values() if len(v) < 1000):
        label = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'memdash_cache_hits_total{{cache="{label}"}} {i + 1}')
        lines.append(f'memdash_cache_misses_total{{cache="{label}"}} 1')
        lines.append(f'odd_metric{{label="{label}"}} {i}')
    lines.append("process_resident_memory_bytes 1e8")
    body = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")  # invalid UTF-8 on the wire too
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: "
                 + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


def bad_reason_handler(conn, server: RawServer) -> None:
    read_request(conn)
    body = json.dumps({"error": CORPUS["osc52-clipboard"] + CORPUS["click-quit"]}).encode()
    conn.sendall(b"HTTP/1.1 500 \x1b]2;PWNED\x07[/]\x1b[2J\x9b\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)


@pytest.fixture
def raw_server() -> Iterator:
    """``raw_server(handler)`` starts a loopback RawServer, closed after the test."""
    servers: list[RawServer] = []

    def start(handler) -> RawServer:  # type: ignore[no-untyped-def]
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def shown_targets(app) -> dict:
    """The targets of the dashboard's current frame, by name."""
    return {t.name: t for t in app.frame.targets} if app.frame is not None else {}


async def test_hostile_targets_show_literally_and_clicks_run_nothing(raw_server, tmp_path: Path) -> None:
    prom = raw_server(prom_handler)
    bad = raw_server(bad_reason_handler)
    with wsgi_server(hostile_json_app()) as json_url:
        targets = (
            TargetConfig(name="json[/]\x1b]2;T\x07", url=json_url + "/stats", kind="json", interval=0.5,
                         actions={"gc": "POST /gc", "caches": "POST /caches"}),
            TargetConfig(name="prom", url=prom.url + "/metrics", kind="prometheus", interval=0.5),
            TargetConfig(name="reason", url=bad.url + "/stats", kind="json", interval=0.5),
        )
        config = dataclasses.replace(Config(), targets=targets)
        app = MemdashApp(config, collector=FixedCollector(), discover=False)
        async with app.run_test(size=(200, 60), notifications=True) as pilot:
            assert await _wait(pilot, lambda: len(shown_targets(app)) == 3 and all(
                t.ok or t.error for t in shown_targets(app).values()))
            assert await _wait(pilot, lambda: shown_targets(app)["prom"].caches and shown_targets(app)["json[/]\x1b]2;T\x07"].caches)
            # The frame with the failing target's error may arrive after the one
            # the names came with: wait for its row to say it too (a whole-suite run was that slow).
            await _wait(pilot, lambda: "json[/]\\e]2;T…" in screen_text(app) and not shown_targets(app)["reason"].ok
                        and visible(shown_targets(app)["reason"].error, 40)[:-1] in screen_text(app))
            text = assert_clean(app)
            assert "json[/]\\e]2;T…" in text  # the target's name, escaped, cut to its column
            reason = shown_targets(app)["reason"]
            assert not reason.ok and reason.error
            assert visible(reason.error, 40)[:-1] in text  # its error, escaped, in the ERROR column

            # The target view of each: cache names, metric keys are data.
            for name in ("json[/]\x1b]2;T\x07", "prom"):
                app.query_one(TargetsTable).select_name(name)
                app.open_target(name)

                def cache_rows() -> int:
                    found = app.screen.query("#cache-table")
                    return found.first(DataTable).row_count if found else 0

                assert await _wait(pilot, lambda: cache_rows() > 0), "the target view shows no caches"
                text = assert_clean(app)
                table = app.screen.query_one("#cache-table", DataTable)
                shown = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
                assert all(unsafe_chars(s) == [] for s in shown)
                # (A JSON key with a dot is a path, so those are a JSON target's nested names.)
                expected = [v for v in MARKUP.values() if name == "prom" or "." not in v]
                for value in expected:
                    assert value in shown, f"{name}: cache {value!r} not in {shown}"
                assert await _wait(pilot, lambda: any(v in screen_text(app) for v in expected)), "no markup cache name on screen"
                assert_clean(app)
                # Click every cache row: a live @click would quit or write the screenshot.
                for y in range(min(table.row_count, 12)):
                    await pilot.click("#cache-table", offset=(3, y + 1))
                for y in range(6):
                    await pilot.click("#t-metrics", offset=(3, y))
                await pilot.pause(0.2)
                assert app.is_running and app.return_code is None
                assert not Path(SCREENSHOT_NAME).exists() and not (Path("/tmp") / SCREENSHOT_NAME).exists()
                await pilot.press("escape")
                await pilot.pause(0.2)

            # Cleanup receipts: the service's refusal text goes to the status line,
            # the target view and a notification, as data.
            app.query_one(TargetsTable).select_name("json[/]\x1b]2;T\x07")
            app.query_one(TargetsTable).focus()
            await pilot.pause(0.2)
            expected = {
                # 403: the service's "error", quoted; its newline shown, not obeyed.
                "g": "refused: [@click=app.quit]x\\e]2;PWNED\\x07import os\\nprint(1)\\nprint(2)",
                # 500: "HTTP 500 <reason>: <error>".
                "c": "[/]\\e[2J\\e[1;1H",
            }
            for key, want in expected.items():
                app.last_result = None
                await pilot.press(key)
                await pilot.pause(0.3)
                assert "Run " in screen_text(app)  # the confirm dialog, with the target's name as data
                await pilot.press("y")
                assert await _wait(pilot, lambda: app.last_result is not None)
                await pilot.pause(0.3)
                text = assert_clean(app)
                assert app.is_running
                status = app.query_one("#status").render()
                assert want in str(status), (key, str(status))
                assert want[:40] in text.replace("\n", "")  # in the toast and the status line


PROBE_SERVICE = r"""
import functools, json, sys
import memdash.probe as probe
names = json.loads(sys.stdin.readline())
keep = []
for name in names:
    fn = functools.lru_cache(maxsize=8)(lambda n: n * 2)
    for n in (1, 1, 2):
        fn(n)
    probe.track_cache(fn, name=name)
    keep.append(fn)
handle = probe.serve(min_interval=0)
print(handle.url, flush=True)
sys.stdin.read()
handle.stop()
"""


@pytest.fixture
def hostile_probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real service embedding memdash.probe whose caches are named after the corpus."""
    token = "probe-token-hostile-7e1"
    monkeypatch.setenv("MEMDASH_HOSTILE_TOKEN", token)
    env = dict(__import__("os").environ, MEMDASH_PROBE_TOKEN=token, XDG_RUNTIME_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-c", PROBE_SERVICE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        names = [v for v in CORPUS.values() if len(v) < 1000 and not unsafe_surrogates(v)]
        proc.stdin.write(json.dumps(names) + "\n")
        proc.stdin.flush()
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def unsafe_surrogates(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


async def test_hostile_probe_cache_names_and_receipt(hostile_probe: str, tmp_path: Path) -> None:
    target = TargetConfig(name="probe", url=hostile_probe, kind="probe", token_env="MEMDASH_HOSTILE_TOKEN", interval=0.5)
    app = MemdashApp(dataclasses.replace(Config(), targets=(target,)), collector=FixedCollector(), discover=False)
    async with app.run_test(size=(200, 60), notifications=True) as pilot:
        # An answered poll with caches. (A later poll may time out on a loaded box:
        # the failed sample keeps the caches last read, as the screen does.)
        assert await _wait(pilot, lambda: "probe" in shown_targets(app) and shown_targets(app)["probe"].ok
                           and bool(shown_targets(app)["probe"].caches)), shown_targets(app).get("probe")
        app.query_one(TargetsTable).select_name("probe")
        app.open_target("probe")
        await pilot.pause(0.5)
        text = assert_clean(app)
        table = app.screen.query_one("#cache-table", DataTable)
        shown = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        for value in MARKUP.values():
            assert value in shown, f"cache {value!r} not in {shown}"
        assert await _wait(pilot, lambda: any(v in screen_text(app) for v in MARKUP.values())), screen_text(app)
        assert_clean(app)
        for y in range(min(table.row_count, 12)):
            await pilot.click("#cache-table", offset=(3, y + 1))
        await pilot.pause(0.2)
        assert app.is_running and app.return_code is None
        assert not (Path("/tmp") / SCREENSHOT_NAME).exists()
        # The caches cleanup: its receipt (which may name the caches) shown as data.
        await pilot.press("c")
        await pilot.pause(0.3)
        await pilot.press("y")
        assert await _wait(pilot, lambda: app.last_result is not None)
        await pilot.pause(0.3)
        assert app.is_running
        assert_clean(app)
        assert "caches on probe" in app.last_result
