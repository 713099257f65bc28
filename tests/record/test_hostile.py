"""Other people's text in a recording (argv, cgroup paths, the kernel's command
name) comes out of replay, incidents and report as data: no terminal escapes,
well-formed SVG, one line per row. The whole short corpus goes into one store."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from hostile_text import SHORT, unsafe_chars

from memdash.record.store import Event, StoreWriter

from .conftest import memdash_cli

T = 1_764_000_000.0


def test_hostile_names_stay_data(env: dict[str, str], tmp_path: Path) -> None:
    texts = [SHORT[k] for k in sorted(SHORT)]
    store = tmp_path / "store"
    cgs = ["/svc" + t for t in texts]
    with StoreWriter(store, clock=lambda: T) as w:
        for i in range(3):
            w.append(T + i, {"schema": 1, "host": texts[0], "level": "good", "process_count": len(texts),
                             "processes": [{"pid": 100 + j, "name": t, "cmdline": t + " --x", "rss_bytes": (i + 1) << 20,
                                            "limit_bytes": 64 << 20} for j, t in enumerate(texts)],
                             "targets": [], "errors": []},
                     {"cgroups": [{"path": cg, "version": 1, "usage_bytes": i << 20, "working_set_bytes": i << 20,
                                   "limit_bytes": 64 << 20, "oom_kills": 0, "pids": [100 + j]}
                                  for j, cg in enumerate(cgs)]})
        w.add_events([Event(t=T + 2.5 + j / 1000, kind="oom_kill", subject=cg, level="critical",
                            data={"source": "kmsg", "pid": 100 + j, "name": t, "cgroup": cg, "rss_bytes": 1 << 20,
                                  "line": f"Killed process {100 + j} ({t})"})
                      for j, (t, cg) in enumerate(zip(texts, cgs))])
    out = memdash_cli(env, "replay", str(store), "--at", f"{T + 1}")
    assert out.returncode == 0 and unsafe_chars(out.stdout.replace("\n", "")) == []
    out = memdash_cli(env, "replay", str(store), "--json", "--at", f"{T + 1}")
    cmdlines = [p["cmdline"] for p in json.loads(out.stdout)["processes"]]
    # JSON keeps the exact text (bytes that were not UTF-8 come back as U+FFFD or escapes, never raw)
    assert [c for c in cmdlines if c.endswith(" --x")] and len(cmdlines) == len(texts)
    out = memdash_cli(env, "incidents", str(store))
    assert out.returncode == 0 and unsafe_chars(out.stdout.replace("\n", "")) == []
    assert len(out.stdout.strip().splitlines()) == 1 + len(texts)  # header and one row per kill: none forged
    for n in (1, len(texts)):
        bundle = tmp_path / f"b{n}"
        out = memdash_cli(env, "report", str(n), "--store", str(store), "--out", str(bundle))
        assert out.returncode == 0, out.stderr
        assert unsafe_chars((bundle / "summary.md").read_text().replace("\n", "")) == []
        ET.parse(bundle / "working-set.svg")  # well-formed XML whatever the name held
