"""Fixtures shared across the suite."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from tests.private_dirs import short_private_dir

GC_SERVICE = Path(__file__).parent / "probe" / "gc_service.py"

# Tests press Ctrl-C on the children they start (SIGINT to `memdash demo`, to a
# `snapshot --watch`), as a user at a terminal would. A shell that runs pytest in
# the background without job control (`nohup pytest &`, some CI runners) starts
# it with SIGINT ignored, and an ignored signal stays ignored across exec: those
# children would never see the Ctrl-C. Give them what a terminal gives them.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _discovery_of_this_test_process_only() -> Iterator[None]:
    """Each test process (each xdist worker) gets its own discovery directory,
    inherited by the children it starts. Otherwise all of them share
    ``/tmp/memdash-<uid>``: a dashboard under test in one worker would find and
    poll the probes another worker's test started (and any real service's on
    this machine). A test that needs its own directory still sets one."""
    path = short_private_dir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_RUNTIME_DIR", path)
        yield
    shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class GcService:
    """A running gc_service.py: its probe URL, its token, and the cycles it holds."""

    url: str
    token: str
    cycles: int


@pytest.fixture
def gc_service(tmp_path: Path) -> Iterator[GcService]:
    """A real Python service with GC disabled and ``cycles`` reference cycles
    waiting to be collected, serving the probe on 127.0.0.1 with a token."""
    token = "shared-test-token-5d0c"
    cycles = 20000
    env = dict(os.environ, MEMDASH_PROBE_TOKEN=token, XDG_RUNTIME_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, str(GC_SERVICE), str(cycles)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env, text=True)
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), url
        yield GcService(url=url, token=token, cycles=cycles)
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


# -- honest CI: a skip that CI does not expect fails the run ------------------
#
# With CI=true (set by .ci/run) every skipped test must match one of these
# reasons; any other skip (a missing compiler, a missing Debian package, a
# missing cgroup) fails the session, so a green CI means the tests really ran.
# Each entry: a fragment of the skip reason, and why CI may legitimately skip it.
CI_ALLOWED_SKIPS = {
    # the machine's own state, not a missing tool
    "this machine is at": "the box itself is too full for a threshold between it and the part under test",
    "this machine is too full": "the box itself is too full to force a level",
    "as near its limit as the child": "another process is as near its own limit as the cgroup test's child",
    "cannot bind ::1": "IPv6 switched off on the runner",
    "no non-loopback IPv4 address": "a runner with loopback only: no address to be a remote peer from",
    # privileges a runner may not grant (run as root with cgroup v1 to run them)
    "needs root": "another uid, chown and memory cgroups need root",
    "cgroup v1 memory controller": "a runner on cgroup v2 or without the memory controller",
    "/sys/fs/cgroup/memory is not writable": "a runner whose cgroup tree is read-only",
    "cannot make a pid namespace": "a runner that may not unshare",
    "smaps_rollup is readable here": "as root every pid's smaps is readable: no denied pid to test with",
}


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


_unexpected_skips: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.skipped or not _ci() or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if not any(fragment in reason for fragment in CI_ALLOWED_SKIPS):
        _unexpected_skips.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _unexpected_skips and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if _unexpected_skips:
        terminalreporter.section("skips CI does not allow (CI=true)", red=True)
        for line in _unexpected_skips:
            terminalreporter.write_line(line)
        terminalreporter.write_line("install what they need (see .ci/run), or add the reason to "
                                    "CI_ALLOWED_SKIPS in tests/conftest.py with why")
