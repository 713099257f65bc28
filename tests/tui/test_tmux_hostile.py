"""The real terminal path: memdash in tmux beside a process whose argv carries
an OSC title and a clear-screen. The pane title must not change and the header
line must survive (Pilot reads Textual's model of the screen; tmux reads the
bytes that were actually written)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

PAYLOAD = "\x1b]2;PWNED\x07\x1b[2J\x1b[1;1HOWNED\x1b]52;c;aGk=\x07"


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str) -> str:
        # -f /dev/null: the user's tmux.conf plays no part.
        out = subprocess.run(["tmux", "-f", "/dev/null", "-L", self.socket, *args], capture_output=True, text=True,
                             timeout=20)
        return out.stdout

    def wait_for(self, target: str, predicate, seconds: float = 30.0) -> str:
        screen = ""
        for _ in range(int(seconds / 0.2)):  # bounded
            screen = self("capture-pane", "-p", "-t", target)
            if predicate(screen):
                return screen
            time.sleep(0.2)
        return screen


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    t = Tmux(f"memdash-test-{uuid.uuid4().hex[:8]}")
    try:
        yield t
    finally:
        t("kill-server")


def test_pane_title_and_header_survive_a_hostile_argv(tmux: Tmux, tmp_path: Path) -> None:
    # Control: in this tmux, the payload printed raw does retitle the pane.
    tmux("new-session", "-d", "-s", "control", "-x", "100", "-y", "20", "sh")
    tmux("send-keys", "-t", "control", "printf '\\033]2;PWNED\\007'; sleep 30", "Enter")
    for _ in range(50):
        if tmux("display", "-p", "-t", "control", "#{pane_title}").strip() == "PWNED":
            break
        time.sleep(0.1)
    else:
        pytest.skip("this tmux does not take titles from OSC 2: the check would prove nothing")

    marker = f"hostile-{uuid.uuid4().hex[:8]}"
    victim = subprocess.Popen([PAYLOAD, "-c", "read x", marker], executable="/bin/sh", stdin=subprocess.PIPE)
    try:
        env_prefix = f"env XDG_CONFIG_HOME={tmp_path} TEXTUAL_ANIMATIONS=none"
        cmd = f"{env_prefix} {sys.executable} -m memdash --no-gpu --no-discover"
        tmux("new-session", "-d", "-s", "dash", "-x", "160", "-y", "40", cmd)
        tmux("resize-window", "-t", "dash", "-x", "160", "-y", "40")
        tmux("select-pane", "-t", "dash", "-T", "before")
        screen = tmux.wait_for("dash", lambda s: "Processes" in s and "PID" in s)
        assert "memdash" in screen.splitlines()[0], screen
        title = tmux("display", "-p", "-t", "dash", "#{pane_title}").strip()
        assert title == "before"
        tmux("send-keys", "-t", "dash", "/")
        tmux.wait_for("dash", lambda s: "filter: part of a command" in s)
        tmux("send-keys", "-t", "dash", "-l", marker)
        tmux("send-keys", "-t", "dash", "Enter")
        screen = tmux.wait_for("dash", lambda s: "\\e]2;PWNED\\x07\\e[2J" in s)
        assert "\\e]2;PWNED\\x07\\e[2J\\e[1;1HOWNED" in screen, screen
        time.sleep(2.5)  # two more refreshes of that row
        screen = tmux("capture-pane", "-p", "-t", "dash")
        assert "memdash" in screen.splitlines()[0], screen  # the header was not cleared or overwritten
        assert not screen.startswith("OWNED")
        assert tmux("display", "-p", "-t", "dash", "#{pane_title}").strip() == "before"
        tmux("send-keys", "-t", "dash", "q")
    finally:
        victim.kill()
        victim.wait()
        if victim.stdin is not None:
            victim.stdin.close()
        os.environ.get("TMUX")  # (nothing to restore: we used our own tmux server)
