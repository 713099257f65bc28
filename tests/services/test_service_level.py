"""A service alone decides the snapshot's level and exit status.

Two holders of 70 MiB share a 256 MiB memory cgroup (a real cgroup v1 limit):
each is about 27 % of that limit, together (the service) well over half. With
thresholds between the two, only the service is critical, and the snapshot
must be too: dropping the services' levels from the worst level, or reading
the processes alone, gives "excellent" and exit 0 to a monitoring script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import isolated
import pytest

MiB = 1024 * 1024

SCRIPT = """
for n in a b; do
  sh -c 'echo $$ > "$GROUP/cgroup.procs"; exec "$PY" -c "$HOLDER" 70 "$DIR/$0"' $n &
done
n=0; while [ ! -e "$DIR/a" ] || [ ! -e "$DIR/b" ]; do n=$((n+1)); [ $n -gt 1200 ] && exit 99; sleep 0.1; done
"$PY" -m memdash snapshot --json --all --no-gpu --no-discover "$@"
"""


def _snapshot(group: Path, tmp_path: Path, *args: str) -> tuple[int, dict]:
    """``memdash snapshot`` alone in a pid namespace with the two holders in ``group``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMDASH_")}
    run_dir = tmp_path / uuid.uuid4().hex[:8]
    run_dir.mkdir()
    env.update(XDG_CONFIG_HOME=str(tmp_path), GROUP=str(group), PY=sys.executable, HOLDER=isolated.HOLDER,
               DIR=str(run_dir))
    out = subprocess.run([*isolated.ns_prefix(), "sh", "-c", SCRIPT, "sh", *args], env=env, capture_output=True,
                         text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert out.returncode != 99, "the holders never became ready"
    assert "Traceback" not in out.stderr, out.stderr
    return out.returncode, json.loads(out.stdout)


def test_a_service_near_its_limit_alone_makes_the_snapshot_critical(make_cgroup, tmp_path: Path) -> None:
    if not isolated.can_isolate():
        pytest.skip("needs root and unshare: a pid namespace keeps the box's other processes out")
    group = make_cgroup(256 * MiB)
    key = f"cgroup:/{group.name}"
    _, doc = _snapshot(group, tmp_path)
    (service,) = [s for s in doc["services"] if s["key"] == key]
    assert service["process_count"] == 2 and service["limit_bytes"] == 256 * MiB
    mine = service["percent"]
    assert mine > 50  # 2 x 70 MiB of 256
    others = [doc["system"]["percent"]] + [p["percent"] for p in doc["processes"]]
    others += [s["percent"] for s in doc["services"] if s["key"] != key and s["percent"] is not None]
    if max(others) > mine - 8:
        pytest.skip(f"this machine is at {max(others):.1f} %, as near its limit as the child")
    t = round((max(others) + mine) / 2, 2)
    conf = tmp_path / "memdash.toml"
    conf.write_text(f"[thresholds]\ngood = {t}\nwarning = {t}\ncritical = {t}\n")
    code, doc = _snapshot(group, tmp_path, "--config", str(conf))
    (service,) = [s for s in doc["services"] if s["key"] == key]
    assert service["level"] == "critical"
    assert doc["system"]["level"] == "excellent"
    assert {p["level"] for p in doc["processes"]} == {"excellent"}
    assert [s["key"] for s in doc["services"] if s["level"] != "excellent"] == [key]
    assert (doc["level"], code) == ("critical", 2)
