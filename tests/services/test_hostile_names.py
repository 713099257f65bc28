"""A cgroup name is other people's text: escape sequences in it reach neither the
terminal (snapshot text) nor the JSON in a changed form."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import join_cgroup

MiB = 1024 * 1024
HOSTILE = "-\x1b]2;pwned\x07\x1b[31m[red]\u202e"


def test_hostile_cgroup_name(make_cgroup, tmp_path):
    cg = make_cgroup(64 * MiB, HOSTILE)
    sleeper = subprocess.Popen(["sleep", "60"], preexec_fn=join_cgroup(cg))
    env = {k: v for k, v in os.environ.items() if k not in ("MEMDASH_CONFIG", "MEMDASH_TOKEN")}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    try:
        def snap(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "memdash", "snapshot", "--no-gpu", "--no-discover", *args],
                                  capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)

        doc = json.loads(snap("--json").stdout)
        mine = [s for s in doc["services"] if s["cgroup"] == f"/{cg.name}"]
        assert len(mine) == 1 and mine[0]["name"] == cg.name  # JSON: exact
        text = snap().stdout
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text  # text: escaped
        prefix = cg.name.split("\x1b")[0]
        line = next(line for line in text.splitlines() if line.startswith(prefix))  # one row, not split or moved
        assert line[len(prefix):].startswith(("\\e", "…"))  # shown escaped (or cut at its column)
    finally:
        sleeper.kill()
        sleeper.wait()
