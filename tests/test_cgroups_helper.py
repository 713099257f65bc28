"""tests/cgroups.py, the one way tests make memory cgroups: its skip reasons are
ones CI allows, and its cleanup kills what a test left in its cgroup (and only
that) and removes the cgroup, even when the test fails."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from cgroups import memory_cgroup, why_no_memory_cgroup


def _ci_allowed_skips(config: pytest.Config) -> dict[str, str]:
    """CI_ALLOWED_SKIPS of tests/conftest.py, as pytest loaded it."""
    mine = Path(__file__).parent / "conftest.py"
    (plugin,) = [p for p in config.pluginmanager.get_plugins() if getattr(p, "__file__", None) == str(mine)]
    return plugin.CI_ALLOWED_SKIPS


def test_every_reason_to_skip_is_one_ci_allows(tmp_path: Path, pytestconfig: pytest.Config) -> None:
    allowed = _ci_allowed_skips(pytestconfig)
    (tmp_path / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    reasons = [why_no_memory_cgroup(tmp_path, euid=1000), why_no_memory_cgroup(tmp_path / "absent", euid=0)]
    assert all(reasons), reasons
    for reason in reasons:
        assert any(fragment in reason for fragment in allowed), reason
    assert why_no_memory_cgroup(tmp_path, euid=0) is None  # root, a controller, writable: no reason to skip


def test_a_failing_test_still_leaves_no_cgroup_and_no_process_behind() -> None:
    outside = subprocess.Popen(["sleep", "600"])
    try:
        with pytest.raises(ZeroDivisionError):
            with memory_cgroup(64 << 20, "helper") as group:
                assert int((group.path / "memory.limit_in_bytes").read_text()) == 64 << 20
                inside = subprocess.Popen(["sleep", "600"], preexec_fn=group.join)
                inner = group.child("inner")
                nested = subprocess.Popen(["sleep", "600"], preexec_fn=inner.join)
                for proc, where in ((inside, group), (nested, inner)):
                    for _ in range(600):  # bounded: the child joins before it execs
                        if proc.pid in where.pids():
                            break
                        time.sleep(0.05)
                    assert proc.pid in where.pids()
                1 / 0  # the test fails with processes still in its cgroups
        assert inside.wait(timeout=60) == -9 and nested.wait(timeout=60) == -9
        assert not group.path.exists()
        assert outside.poll() is None  # a process outside the cgroup is left alone
    finally:
        outside.kill()
        outside.wait()
