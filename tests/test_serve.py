"""``memdash serve``: the dashboard in a real headless Chromium, on loopback.

The browser is driven over the DevTools protocol (CDP) with aiohttp's websocket
client. xterm.js draws on a canvas, so the test reads what the page's own
websocket received (a hook installed before the page loads) to see the screen.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from memdash.serve import dashboard_command, is_loopback, serve_parser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Records every binary message the page's websocket receives, as text.
HOOK = """
(() => {
  const Native = window.WebSocket;
  const dec = new TextDecoder();
  window.__out = '';
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        if (typeof e.data !== 'string') {
          window.__out += dec.decode(new Uint8Array(e.data), {stream: true});
          if (window.__out.length > 4000000) window.__out = window.__out.slice(-2000000);
        }
      });
    }
  };
})();
"""
ANSI = re.compile(r"\x1b\[[0-9;?$]*[A-Za-z]|\x1b\][^\x07]*\x07")


def memdash(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "memdash", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "::", "example.invalid"])
def test_a_host_beyond_loopback_needs_public(host: str) -> None:
    result = memdash("serve", "--host", host, "--port", "1")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "not loopback" in lines[0] and "--public" in lines[0], result.stderr


def test_loopback_names() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.5.0.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "example.com"))


def test_served_dashboards_are_read_only_unless_cleanup_is_allowed() -> None:
    args = serve_parser().parse_args(["--config", "x.toml", "http://127.0.0.1:1/memdash"])
    command = dashboard_command(args, python="py")
    assert command[:4] == ["py", "-m", "memdash", "--read-only"]
    assert command[-3:] == ["--config", "x.toml", "http://127.0.0.1:1/memdash"]
    allowed = dashboard_command(serve_parser().parse_args(["--allow-cleanup"]), python="py")
    assert "--read-only" not in allowed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    pytest.importorskip("textual_serve")
    port = free_port()
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    env.pop("MEMDASH_CONFIG", None)
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen([sys.executable, "-m", "memdash", "serve", "--port", str(port), "--no-gpu", "--no-discover"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # bounded: the server is up when the port answers
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Browser:
    """A headless Chromium and one page, over CDP."""

    def __init__(self, profile: Path) -> None:
        assert CHROMIUM
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", "--window-size=1400,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.devtools = ""
        for _ in range(200):  # bounded
            line = self.proc.stderr.readline()  # type: ignore[union-attr]
            match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if match:
                self.devtools = f"http://127.0.0.1:{match.group(1)}"
                break
        assert self.devtools, "chromium did not start its DevTools endpoint"
        self._id = 0

    async def open(self, session: Any) -> None:
        async with session.get(f"{self.devtools}/json/list") as r:
            page = next(t for t in await r.json() if t["type"] == "page")
        self.ws = await session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        mid = self._id
        await self.ws.send_json({"id": mid, "method": method, "params": params})
        for _ in range(10_000):  # bounded: events before the answer are skipped
            msg = await asyncio.wait_for(self.ws.receive_json(), 30)
            if msg.get("id") == mid:
                return msg
        raise AssertionError(f"no answer to {method}")

    async def screen_text(self) -> str:
        r = await self.call("Runtime.evaluate", expression="window.__out || ''", returnByValue=True)
        return ANSI.sub("", r["result"]["result"].get("value", ""))

    async def wait_for(self, words: tuple[str, ...], seconds: float = 40) -> str:
        text = ""
        for _ in range(int(seconds / 0.5)):  # bounded
            text = await self.screen_text()
            if all(w in text for w in words):
                return text
            await asyncio.sleep(0.5)
        return text

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()  # type: ignore[union-attr]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
async def test_the_dashboard_in_a_headless_browser(served: str, tmp_path: Path) -> None:
    import aiohttp

    browser = Browser(tmp_path / "profile")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(served) as r:
                page = await r.text()
                assert r.status == 200 and "ws://127.0.0.1:" in page
            await browser.open(session)
            await browser.call("Page.enable")
            await browser.call("Page.addScriptToEvaluateOnNewDocument", source=HOOK)
            await browser.call("Page.navigate", url=served)
            text = await browser.wait_for(("memdash", "Processes:", "PROGRAM", "RSS"))
            assert "Processes:" in text and "PROGRAM" in text, text[-2000:]
            assert "PAUSED" not in text
            # A key typed in the page reaches the app: p pauses, and the header says so.
            await browser.call("Runtime.evaluate", expression="document.querySelector('.xterm-helper-textarea').focus()")
            await browser.call("Input.dispatchKeyEvent", type="keyDown", key="p", code="KeyP", text="p",
                               windowsVirtualKeyCode=80)
            await browser.call("Input.dispatchKeyEvent", type="keyUp", key="p", code="KeyP", windowsVirtualKeyCode=80)
            text = await browser.wait_for(("PAUSED",), 20)
            assert "PAUSED" in text
    finally:
        browser.close()
