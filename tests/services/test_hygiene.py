"""The service model is headless: no Textual, no HTTP client."""

from __future__ import annotations

import json
import subprocess
import sys


def test_service_modules_load_nothing_of_the_ui_or_http():
    code = ("import sys, json\nimport memdash.sources.cgroup_stats, memdash.sources.services, memdash.oom_eta,"
            " memdash.service_watch\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in"
            " ('textual', 'rich', 'plotext', 'httpx', 'pynvml'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout) == []
