"""``memdash snapshot`` to a pipe keeps whole command lines (a reader greps them)."""

from __future__ import annotations

import os
import subprocess
import sys


def test_piped_snapshot_is_not_cut_to_the_terminal_width(tmp_path) -> None:
    marker = "--a-very-long-option-name-that-only-this-test-uses=" + "x" * 40 + "-end-marker"
    child = subprocess.Popen([sys.executable, "-c", "import sys,time; print('up', flush=True); time.sleep(60)", marker],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "up"  # type: ignore[union-attr]
        env = dict(os.environ, COLUMNS="80", HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
        env.pop("MEMDASH_CONFIG", None)
        result = subprocess.run([sys.executable, "-m", "memdash", "snapshot", "--all", "--no-gpu", "--no-discover"],
                                capture_output=True, text=True, timeout=60, env=env)
        line = next(ln for ln in result.stdout.splitlines() if ln.lstrip().startswith(f"{child.pid} "))
        assert len(line) > 80 and line.endswith(marker), line
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path) -> None:
    """`memdash snapshot --all | head -1`: the pipe closes under memdash, which exits quietly."""
    env = dict(os.environ, HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))
    env.pop("MEMDASH_CONFIG", None)
    out = subprocess.run(["sh", "-c", f"'{sys.executable}' -m memdash snapshot --all --no-gpu --no-discover | head -c 1; "
                          "echo \" status=${PIPESTATUS:-}\""], capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.startswith("m"), out.stdout  # "memdash snapshot ..."
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr and "error" not in out.stderr, out.stderr
