"""PROGRAM: what a person calls a process, from its real command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memdash.program import program_name


@pytest.mark.parametrize(
    ("cmdline", "shown"),
    [
        ("/home/app/.pyenv/versions/3.11.7/bin/python3 /srv/app/app.py --port 8000", "python3 app.py --port 8000"),
        ("/usr/bin/python3 -u -X dev /srv/worker.py", "python3 worker.py"),
        ("/usr/bin/python3.11 -m celery -A tasks worker", "python3.11 -m celery -A tasks worker"),
        ("/usr/local/bin/node --max-old-space-size=512 /srv/dist/server.js", "node server.js"),
        ("java -Xmx2g -cp /opt/lib/* -jar /opt/app/service.jar", "java -jar service.jar"),
        ("gunicorn: worker [api]", "gunicorn: worker [api]"),
        ("postgres: checkpointer ", "postgres: checkpointer"),
        ("[kworker/0:1-events]", "[kworker/0:1-events]"),
        ("/usr/sbin/nginx -g daemon off;", "nginx -g daemon off;"),
        ("redis-server 127.0.0.1:6379", "redis-server 127.0.0.1:6379"),
        ("/usr/bin/python3", "python3"),
        ("", ""),
    ],
)
def test_program_names(cmdline: str, shown: str) -> None:
    assert program_name(cmdline) == shown


def test_a_real_process_reads_as_its_script(tmp_path: Path) -> None:
    """The name the dashboard shows for a real child, from /proc."""
    from memdash.collector import LocalCollector
    from memdash.config import Config

    script = tmp_path / "deep" / "er" / "app.py"
    script.parent.mkdir(parents=True)
    script.write_text("import sys, time\nprint('up', flush=True)\ntime.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-u", str(script), "--port", "8000"], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "up"  # type: ignore[union-attr]
        collector = LocalCollector(Config(), gpu=False)
        try:
            row = next(p for p in collector.poll(limit=None).processes if p.pid == child.pid)
        finally:
            collector.close()
        assert str(tmp_path) in row.cmdline  # the whole command is kept ...
        name = Path(sys.executable).name
        assert program_name(row.cmdline) == f"{name} app.py --port 8000"  # ... and read by its program
    finally:
        child.kill()
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
