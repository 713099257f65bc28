"""A real process under its own real memory cgroup limit (cgroup v1, as root).

``%LIM`` is the README's headline: a process's RSS against the limit that
applies to *it*. Here a child is moved into a fresh cgroup with a 96 MiB
``memory.limit_in_bytes`` and fills most of it; ``memdash snapshot --json``
must give that row the 96 MiB limit and the percent against it, and that
process alone must make the snapshot critical.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

import isolated
import pytest
from cgroups import memory_cgroup, why_no_memory_cgroup

MiB = 1024 * 1024
LIMIT = 96 * MiB

@pytest.fixture
def limited_group() -> Iterator[Path]:
    """A fresh memory cgroup with a 96 MiB limit (removed afterwards)."""
    why = _why_no_container()
    if why:
        pytest.skip(why)
    with memory_cgroup(LIMIT) as group:
        yield group.path


def _snapshot(tmp_path: Path, *args: str, group: Path | None = None) -> tuple[int, dict]:
    """A snapshot in a pid namespace holding a 78 MiB child in ``group``."""
    return isolated.snapshot(tmp_path, "--no-gpu", *args, hold_mib=78 if group else None, hold_group=group)


def _holder(doc: dict) -> dict:
    (row,) = [p for p in doc["processes"] if "bytearray" in p["cmdline"]]
    return row


def test_percent_of_a_process_is_against_its_own_cgroup_limit(limited_group: Path, tmp_path: Path) -> None:
    _, doc = _snapshot(tmp_path, group=limited_group)
    row = _holder(doc)
    assert row["limit_bytes"] == LIMIT
    assert 78 * MiB <= row["rss_bytes"] <= LIMIT
    assert row["percent"] == pytest.approx(100.0 * row["rss_bytes"] / LIMIT, abs=0.01)
    assert row["percent"] >= 81.0  # 78 MiB of 96 and then some
    # memdash itself is outside the group: measured against the box, not the group
    others = [p for p in doc["processes"] if p["pid"] != row["pid"]]
    assert others and all(p["limit_bytes"] != LIMIT for p in others)


def test_a_process_near_its_own_limit_alone_makes_the_snapshot_critical(limited_group: Path,
                                                                        tmp_path: Path) -> None:
    _, doc = _snapshot(tmp_path, group=limited_group)
    mine = _holder(doc)["percent"]
    others = max([doc["system"]["percent"]] + [p["percent"] for p in doc["processes"] if "bytearray" not in p["cmdline"]])
    if others > mine - 4:
        pytest.skip(f"this machine is at {others:.1f} %, as near its limit as the child")
    t = round((others + mine) / 2, 2)
    (tmp_path / "memdash.toml").write_text(f"[thresholds]\ngood = {t}\nwarning = {t}\ncritical = {t}\n")
    code, doc = _snapshot(tmp_path, "--config", str(tmp_path / "memdash.toml"), group=limited_group)
    row = _holder(doc)
    assert row["level"] == "critical"
    assert doc["system"]["level"] == "excellent"
    assert [p["pid"] for p in doc["processes"] if p["level"] != "excellent"] == [row["pid"]]
    assert doc["level"] == "critical"
    assert code == 2


HOLDER = r"""
import sys, time
b = bytearray(int(sys.argv[1]) * 1024 * 1024)
b[::4096] = b"x" * len(range(0, len(b), 4096))
open(sys.argv[2], "w").close()
time.sleep(600)
"""

# A small container: a 256 MiB memory cgroup and a pid namespace with its own
# /proc (what memdash sees inside docker), holding two children of 70 MiB each
# and memdash itself. No single process is near the limit; together they are.
CONTAINER = """
echo $$ > "$GROUP/cgroup.procs"
"$PY" -c "$HOLDER" 70 "$DIR/a" & "$PY" -c "$HOLDER" 70 "$DIR/b" &
n=0; while [ ! -e "$DIR/a" ] || [ ! -e "$DIR/b" ]; do n=$((n+1)); [ $n -gt 1200 ] && exit 99; sleep 0.1; done
"$PY" -m memdash snapshot --json --all --no-gpu --no-discover "$@"
rc=$?; kill %1 %2; exit $rc
"""


def _why_no_container() -> str | None:
    why = why_no_memory_cgroup()
    if why:
        return why
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot make a pid namespace with its own /proc: {probe.stderr.strip()[:200]}"
    return None


@pytest.fixture
def container() -> Iterator[Path]:
    why = _why_no_container()
    if why:
        pytest.skip(why)
    # every process of the namespace dies with its init (the shell); cleanup kills any left
    with memory_cgroup(256 * MiB, "box") as group:
        yield group.path


def _snapshot_inside(group: Path, tmp_path: Path, *args: str) -> tuple[int, dict]:
    """``memdash snapshot`` run inside the container, as it would be there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMDASH_")}
    run_dir = tmp_path / uuid.uuid4().hex[:8]
    run_dir.mkdir()
    env.update(XDG_CONFIG_HOME=str(tmp_path), GROUP=str(group), PY=sys.executable, HOLDER=HOLDER, DIR=str(run_dir))
    out = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", CONTAINER, "sh", *args],
                         env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert "Traceback" not in out.stderr, out.stderr
    assert out.returncode != 99, "the holders never became ready"
    return out.returncode, json.loads(out.stdout)


def test_inside_a_container_the_percent_is_of_its_limit(container: Path, tmp_path: Path) -> None:
    _, doc = _snapshot_inside(container, tmp_path)
    system = doc["system"]
    assert system["limit_bytes"] == 256 * MiB
    assert system["cgroup"]["version"] == 1 and system["cgroup"]["path"].endswith(container.name)
    # two 70 MiB holders and memdash itself: well over half the limit
    assert 55.0 < system["percent"] <= 100
    procs = doc["processes"]
    assert all(p["limit_bytes"] == 256 * MiB for p in procs)
    holders = [p for p in procs if p["rss_bytes"] >= 70 * MiB and "bytearray" in p["cmdline"]]
    assert len(holders) == 2
    for p in holders:
        assert p["percent"] == pytest.approx(100 * p["rss_bytes"] / (256 * MiB), abs=0.01)
        assert 27.0 < p["percent"] < 45.0


def test_a_container_near_its_limit_alone_makes_the_snapshot_critical(container: Path, tmp_path: Path) -> None:
    _, doc = _snapshot_inside(container, tmp_path)
    system, top = doc["system"]["percent"], max(p["percent"] for p in doc["processes"])
    assert system - top > 10, (system, top)  # 2 x 70 MiB together, each alone about 30 %
    t = round((system + top) / 2, 2)
    (tmp_path / "memdash.toml").write_text(f"[thresholds]\ngood = {t}\nwarning = {t}\ncritical = {t}\n")
    code, doc = _snapshot_inside(container, tmp_path, "--config", str(tmp_path / "memdash.toml"))
    assert doc["system"]["level"] == "critical"
    assert {p["level"] for p in doc["processes"]} == {"excellent"}
    assert (doc["level"], code) == ("critical", 2)


def test_a_parent_cgroup_with_a_lower_limit_is_the_one_that_applies(tmp_path: Path) -> None:
    """Nested groups: 128 MiB on the parent, 512 MiB on the child the process is
    in. The kernel enforces the parent's; so must %LIM."""
    why = _why_no_container()
    if why:
        pytest.skip(why)
    with memory_cgroup(128 * MiB) as parent:
        child = parent.child("inner", 512 * MiB)
        _, doc = _snapshot(tmp_path, group=child.path)
        row = _holder(doc)
        assert row["limit_bytes"] == 128 * MiB
        assert row["percent"] == pytest.approx(100 * row["rss_bytes"] / (128 * MiB), abs=0.01)
