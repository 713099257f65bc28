"""Per-process memory from /proc: parsers, the scanner on real child processes, growth."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from memdash.collector import LocalCollector
from memdash.config import Config
from memdash.history import History
from memdash.model import ProcessMemory
from memdash.sources.cgroup import process_cgroup_memory
from memdash.sources.processes import ProcessScanner, Smaps, parse_smaps_rollup, parse_stat

MiB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")

# A child that allocates and touches N MiB, renames itself, says "ready", then waits.
HOG = r"""
import sys, time
mb = int(sys.argv[1])
b = bytearray(mb * 1024 * 1024)
b[::4096] = b"x" * len(range(0, len(b), 4096))
with open("/proc/self/comm", "w") as f:
    f.write(sys.argv[2])
print("ready", flush=True)
time.sleep(120)
"""

# A child that grows by STEP MiB every TICK seconds (touching every page) for SECONDS.
GROWER = r"""
import sys, time
step, tick, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
keep = []
print("ready", flush=True)
end = time.monotonic() + seconds
while time.monotonic() < end:
    b = bytearray(step * 1024 * 1024)
    b[::4096] = b"x" * len(range(0, len(b), 4096))
    keep.append(b)
    time.sleep(tick)
time.sleep(120)
"""


def spawn(code: str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.strip() == "ready", f"child said {line!r}"
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)
    if proc.stdout is not None:
        proc.stdout.close()


def rss_of(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def new_scanner() -> ProcessScanner:
    return ProcessScanner(total_bytes=psutil.virtual_memory().total)


@pytest.fixture
def scanner() -> Iterator[ProcessScanner]:
    s = new_scanner()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def hog() -> Iterator[subprocess.Popen[str]]:
    proc = spawn(HOG, "300", "my (weird) name")
    try:
        yield proc
    finally:
        stop(proc)


def find(rows: list[ProcessMemory], pid: int) -> ProcessMemory:
    matches = [r for r in rows if r.pid == pid]
    assert len(matches) == 1, f"pid {pid} appears {len(matches)} times in the scan"
    return matches[0]


# -- parsers ---------------------------------------------------------------------

SMAPS_ROLLUP = """\
55f1c0a4b000-7ffd2b7f9000 ---p 00000000 00:00 0                          [rollup]
Rss:              309512 kB
Pss:              308001 kB
Pss_Dirty:        307100 kB
Pss_Anon:         307000 kB
Pss_File:           1001 kB
Pss_Shmem:             0 kB
Shared_Clean:       2048 kB
Shared_Dirty:          0 kB
Private_Clean:       512 kB
Private_Dirty:    306952 kB
Referenced:       309512 kB
Anonymous:        307000 kB
LazyFree:              0 kB
AnonHugePages:         0 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:         0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:    2048 kB
Swap:               4096 kB
SwapPss:            1234 kB
Locked:                0 kB
"""


def test_parse_smaps_rollup() -> None:
    s = parse_smaps_rollup(SMAPS_ROLLUP)
    assert s.uss_bytes == (512 + 306952 + 2048) * 1024
    # Pss, not Pss_Anon/Pss_Dirty/...; Swap, not SwapPss
    assert s.pss_bytes == 308001 * 1024
    assert s.swap_bytes == 4096 * 1024


def test_parse_smaps_rollup_older_kernel_without_hugetlb() -> None:
    text = "Rss: 100 kB\nPss: 80 kB\nPrivate_Clean: 10 kB\nPrivate_Dirty: 50 kB\nSwap: 0 kB\n"
    assert parse_smaps_rollup(text) == Smaps(uss_bytes=60 * 1024, pss_bytes=80 * 1024, swap_bytes=0)


def test_parse_smaps_rollup_empty_or_garbage_is_unknown_not_zero() -> None:
    assert parse_smaps_rollup("") == Smaps(None, None, None)
    assert parse_smaps_rollup("Pss: lots kB\nPrivate_Dirty:\nSwap: x\n") == Smaps(None, None, None)


def test_parse_smaps_rollup_of_this_process() -> None:
    s = parse_smaps_rollup(Path("/proc/self/smaps_rollup").read_text())
    rss = rss_of(os.getpid())
    assert s.pss_bytes is not None and 0 < s.pss_bytes <= rss * 1.1
    assert s.uss_bytes is not None and 0 < s.uss_bytes <= rss * 1.1
    assert s.swap_bytes is not None and s.swap_bytes >= 0


@pytest.mark.parametrize(
    ("comm", "expected"),
    [
        ("python3", "python3"),
        ("my (weird) name", "my (weird) name"),
        ("a b c", "a b c"),
        (") S 1 (", ") S 1 ("),
        ("((()))", "((()))"),
    ],
)
def test_parse_stat_comm_with_spaces_and_parens(comm: str, expected: str) -> None:
    # fields after comm: state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime ...
    tail = "S 4321 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 12345678 300 18446744073709551615"
    name, ppid, start = parse_stat(f"1234 ({comm}) {tail}\n")
    assert name == expected
    assert ppid == 4321
    assert start == "987654"


def test_parse_stat_of_this_process() -> None:
    name, ppid, start = parse_stat(Path("/proc/self/stat").read_text())
    assert ppid == os.getppid()
    assert name == Path("/proc/self/comm").read_text().rstrip("\n")
    assert start is not None and start.isdigit()


def test_parse_stat_truncated_does_not_raise() -> None:
    assert parse_stat("12 (x) Z") == ("x", None, None)
    name, ppid, start = parse_stat("")
    assert ppid is None and start is None


# -- the scanner on the real /proc -------------------------------------------------


def test_real_child_holding_300mb_is_seen(scanner: ProcessScanner, hog: subprocess.Popen[str]) -> None:
    rows = scanner.scan()
    assert all(isinstance(r, ProcessMemory) for r in rows)
    row = find(rows, hog.pid)
    assert row.rss_bytes >= 290 * MiB
    assert row.rss_bytes <= 400 * MiB
    assert row.name == "my (weird) name"
    assert HOG.strip().splitlines()[0] in row.cmdline  # the -c code is in the command line
    assert row.cmdline.startswith(sys.executable)
    assert row.ppid == os.getpid()
    assert row.user == pwd.getpwuid(os.getuid()).pw_name
    own = process_cgroup_memory(hog.pid)  # the limit that applies: its cgroup's where lower than RAM
    total = psutil.virtual_memory().total
    assert row.limit_bytes == (own.limit_bytes if own and own.limit_bytes and own.limit_bytes < total else total)
    assert row.percent == pytest.approx(100 * row.rss_bytes / row.limit_bytes)
    # not asked for in detail: USS/PSS/swap are unknown, not zero
    assert row.uss_bytes is None and row.pss_bytes is None and row.swap_bytes is None
    # and this test process is there too
    me = find(rows, os.getpid())
    assert me.rss_bytes > 0


def test_smaps_detail_for_the_pids_asked(scanner: ProcessScanner, hog: subprocess.Popen[str]) -> None:
    rows = scanner.scan(detail_pids=[hog.pid])
    row = find(rows, hog.pid)
    assert row.uss_bytes is not None and row.uss_bytes >= 290 * MiB
    assert row.pss_bytes is not None and row.pss_bytes >= 290 * MiB
    assert row.uss_bytes <= row.rss_bytes and row.pss_bytes <= row.rss_bytes
    assert row.swap_bytes is not None and row.swap_bytes >= 0
    me = find(rows, os.getpid())
    assert me.uss_bytes is None


def test_a_cached_smaps_reading_keeps_the_time_it_was_read(scanner: ProcessScanner, hog: subprocess.Popen[str]) -> None:
    """The dashboard re-reads smaps_rollup every few seconds, RSS every refresh:
    each row says when its USS/PSS were read, so the screen can show their age."""
    before = time.time()
    first = scanner.smaps(hog.pid, max_age=3600)
    after = time.time()
    assert first is not None and first.read_at is not None and before <= first.read_at <= after
    (raw,) = [r for r in scanner.scan_raw() if r[0] == hog.pid]
    cached = scanner.smaps(hog.pid, max_age=3600)
    row = scanner.materialize(raw, smaps=cached)
    assert row.uss_bytes == first.uss_bytes and row.smaps_time == first.read_at  # the reading's time, not the scan's
    fresh = scanner.smaps(hog.pid)  # max_age 0: read now
    assert fresh is not None and fresh.read_at is not None and fresh.read_at >= first.read_at
    assert scanner.materialize(raw).smaps_time is None  # not read: no time either


def test_a_reading_is_kept_while_rss_holds_still_and_read_again_once_it_moves(
        scanner: ProcessScanner, hog: subprocess.Popen[str]) -> None:
    """A shown row's USS/PSS/swap: re-read every ``max_age`` seconds while its
    RSS moves, kept up to ``steady_age`` while it holds still (within 1 %)."""
    (raw,) = [r for r in scanner.scan_raw() if r[0] == hog.pid]
    rss = raw[1]
    first = scanner.smaps(hog.pid, max_age=0.05, rss=rss, steady_age=3600)
    assert first is not None and first.read_at is not None and first.uss_bytes and first.uss_bytes >= 290 * MiB
    time.sleep(0.2)  # past max_age
    assert scanner.smaps(hog.pid, max_age=0.05, rss=rss + rss // 200, steady_age=3600) is first  # moved 0.5 %: kept
    moved = scanner.smaps(hog.pid, max_age=0.05, rss=rss + rss // 50, steady_age=3600)  # moved 2 %: read again
    assert moved is not None and moved is not first and moved.read_at is not None and moved.read_at >= first.read_at
    time.sleep(0.2)
    # Without the RSS now, or without a longer steady_age, max_age alone counts.
    again = scanner.smaps(hog.pid, max_age=0.05, steady_age=3600)
    assert again is not None and again is not moved
    time.sleep(0.2)
    assert scanner.smaps(hog.pid, max_age=0.05, rss=rss) is not again
    # Held still past steady_age: read again.
    kept = scanner.smaps(hog.pid, max_age=0.05, rss=rss, steady_age=0.1)
    time.sleep(0.2)
    assert scanner.smaps(hog.pid, max_age=0.05, rss=rss, steady_age=0.1) is not kept


def test_a_charted_pid_is_read_at_the_usual_cadence_however_still_its_rss(hog: subprocess.Popen[str]) -> None:
    """The dashboard keeps a still row's reading longer; a process view charts a
    point per read, so its pid keeps the plain cadence."""
    col = LocalCollector(Config(), gpu=False, services=False, smaps_max_age=0.1, smaps_steady_age=3600)
    try:
        def read_at(**options: object) -> float | None:
            snap = col.poll(detail_pids=[hog.pid], **options)  # type: ignore[arg-type]
            (row,) = [p for p in snap.processes if p.pid == hog.pid]
            assert row.uss_bytes is not None and row.uss_bytes >= 290 * MiB
            return row.smaps_time

        shown = read_at()
        time.sleep(0.3)
        assert read_at() == shown  # the hog's RSS holds still: the reading is kept
        charted = read_at(charted_pids=[hog.pid])
        assert charted is not None and shown is not None and charted > shown
        time.sleep(0.3)
        later = read_at(charted_pids=[hog.pid])
        assert later is not None and later > charted
    finally:
        col.close()


def test_scanner_sees_a_process_leave_and_a_new_one_arrive(scanner: ProcessScanner) -> None:
    first = spawn(HOG, "20", "first-child")
    try:
        assert find(scanner.scan(), first.pid).name == "first-child"
    finally:
        stop(first)
    assert first.pid not in {r.pid for r in scanner.scan()}
    second = spawn(HOG, "20", "second-child")
    try:
        rows = scanner.scan()
        assert find(rows, second.pid).name == "second-child"
        assert first.pid not in {r.pid for r in rows}
    finally:
        stop(second)


def test_processes_killed_mid_scan_do_not_break_a_poll(scanner: ProcessScanner) -> None:
    children = [subprocess.Popen(["sleep", "60"]) for _ in range(50)]
    results: list[object] = []
    errors: list[BaseException] = []
    stop_flag = threading.Event()

    def scan_loop() -> None:
        deadline = time.monotonic() + 5.0  # bounded even if the main thread stalls
        while not stop_flag.is_set() and time.monotonic() < deadline:
            try:
                results.append(scanner.scan(detail_pids=[c.pid for c in children]))
            except BaseException as exc:  # noqa: BLE001 - recorded and asserted below
                errors.append(exc)
                return

    thread = threading.Thread(target=scan_loop)
    try:
        first = scanner.scan()
        pids = {r.pid for r in first}
        assert {c.pid for c in children} <= pids, "the sleep children should be in the first scan"
        thread.start()
        end = time.monotonic() + 2.0
        for child in children:
            child.kill()
            child.wait(timeout=10)
            time.sleep(max(0.0, min(0.04, end - time.monotonic())))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
        stop_flag.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert errors == []
    assert len(results) >= 2
    assert all(isinstance(r, list) and all(isinstance(p, ProcessMemory) for p in r) for r in results)
    after = {r.pid for r in scanner.scan()}
    assert not after & {c.pid for c in children}
    assert os.getpid() in after


def test_pid_that_denies_smaps_still_has_a_row(scanner: ProcessScanner) -> None:
    try:
        Path("/proc/1/smaps_rollup").read_bytes()
    except PermissionError:
        pass
    except OSError as exc:
        pytest.skip(f"/proc/1/smaps_rollup unreadable for another reason: {exc}")
    else:
        pytest.skip("/proc/1/smaps_rollup is readable here; no denied pid to test with")
    try:
        if rss_of(1) == 0:
            pytest.skip("PID 1 has no RSS here (a kernel thread?)")
    except OSError:
        pytest.skip("/proc/1/statm is not readable")
    rows = scanner.scan(detail_pids=[1, os.getpid()])
    init = find(rows, 1)
    assert init.rss_bytes > 0
    assert init.uss_bytes is None and init.pss_bytes is None and init.swap_bytes is None
    assert init.cmdline  # what could be read is shown
    me = find(rows, os.getpid())
    assert me.uss_bytes is not None and me.uss_bytes > 0


def test_scanner_on_a_missing_proc_is_empty(tmp_path: Path) -> None:
    from memdash.sources.cgroup import CgroupRoots

    s = ProcessScanner(total_bytes=1 << 30, roots=CgroupRoots(proc=str(tmp_path / "nope"), sys_fs_cgroup=str(tmp_path)))
    try:
        assert s.scan() == []
    finally:
        s.close()


# -- growth through the collector ---------------------------------------------------


def test_growth_of_a_growing_child_via_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(LocalCollector, "PROCESS_SAMPLE_SECONDS", 0.2)
    collector = LocalCollector(Config(), history=History(), gpu=False)
    # ~20 MB/s: 2 MiB every 0.1 s, for longer than we watch
    grower = spawn(GROWER, "2", "0.1", "20")
    try:
        t0, rss0 = time.monotonic(), rss_of(grower.pid)
        growth = None
        deadline = t0 + 7.0  # growth needs 5 s of history; bounded wait
        while time.monotonic() < deadline:
            snap = collector.poll(limit=None)
            row = find(list(snap.processes), grower.pid)
            growth = row.growth_bytes_per_min
            if growth is not None and time.monotonic() - t0 >= 5.5:
                break
            time.sleep(0.2)
        t1, rss1 = time.monotonic(), rss_of(grower.pid)
    finally:
        stop(grower)
        collector.close()
    real_per_min = (rss1 - rss0) / (t1 - t0) * 60
    assert real_per_min > 100 * MiB, f"the child grew only {real_per_min / MiB:.0f} MiB/min"
    assert growth is not None, "no growth figure after 5+ s of samples"
    assert growth > 0
    # the slope over the collector's samples against the mean rate from two
    # readings of the same process: the same growth, measured two ways
    assert 0.6 * real_per_min <= growth <= 1.6 * real_per_min, (
        f"growth {growth / MiB:.0f} MiB/min vs real {real_per_min / MiB:.0f} MiB/min"
    )


def test_steady_process_shows_no_real_growth(hog: subprocess.Popen[str]) -> None:
    # the counterpart: a 300 MB process that holds still is not reported as growing fast
    history = History()
    t = 1000.0
    scanner = new_scanner()
    try:
        for _ in range(4):
            raw = scanner.scan_raw()
            history.record_processes(t, {r[0]: r[1] for r in raw})
            t += 2.0
            time.sleep(0.05)
    finally:
        scanner.close()
    growth = history.growth(hog.pid)
    assert growth is not None
    assert abs(growth) < 10 * MiB


def test_each_process_is_measured_against_its_cgroups_effective_limit_read_afresh_each_scan(tmp_path: Path) -> None:
    """The scan reads only the limit files (their places found once per cgroup):
    the limits it finds are the cgroup reader's, on v1 and v2 sample trees, and
    a limit changed between two scans is the one the next scan uses."""
    from memdash.sources.cgroup import CgroupRoots, memory_for_cgroup_text

    mib = 1024 * 1024
    ram = 2048 * mib
    unlimited = 9223372036854771712

    def tree(name: str) -> tuple[CgroupRoots, Path]:
        proc, cg = tmp_path / name / "proc", tmp_path / name / "cg"
        proc.mkdir(parents=True)
        cg.mkdir()
        return CgroupRoots(proc=str(proc), sys_fs_cgroup=str(cg)), cg

    def put(path: Path, text: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def process(roots: CgroupRoots, pid: int, cgroup_text: str) -> None:
        d = Path(roots.proc) / str(pid)
        put(d / "statm", "5000 1000 300 10 0 200 0\n")
        put(d / "stat", f"{pid} (p{pid}) S 1 {pid} {pid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1234 0 0\n")
        put(d / "cmdline", f"p{pid}\0")
        put(d / "cgroup", cgroup_text)

    v1, v1cg = tree("v1")
    m = v1cg / "memory"
    for rel, limit in (("", unlimited), ("a", 600 * mib), ("a/b", unlimited), ("a/b/c", 800 * mib),
                       ("free", unlimited), ("zero", 0), ("huge", 4 * ram)):
        put(m / rel / "memory.limit_in_bytes", f"{limit}\n")
    put(m / "junk" / "memory.limit_in_bytes", "lots\n")
    v2, v2cg = tree("v2")
    for rel, limit in (("", None), ("s", "max"), ("s/api", 256 * mib), ("s/web", "max"), ("neg", -1)):
        put(v2cg / rel / "cgroup.controllers", "memory\n")
        if limit is not None:
            put(v2cg / rel / "memory.max", f"{limit}\n")
    cases = {
        v1: {101: "4:memory:/a/b/c\n", 102: "4:memory:/a\n", 103: "4:memory:/free\n", 104: "4:memory:/zero\n",
             105: "4:memory:/junk\n", 106: "4:memory:/not/there\n", 107: "4:memory:/huge\n", 108: "1:name=systemd:/\n"},
        v2: {201: "0::/s/api\n", 202: "0::/s/web\n", 203: "0::/neg\n", 204: "0::/\n", 205: "0::/gone\n"},
    }
    scanners = {roots: ProcessScanner(total_bytes=ram, roots=roots) for roots in cases}
    try:
        def limits(roots: CgroupRoots) -> dict[int, int]:
            return {r[0]: r[2] for r in scanners[roots].scan_raw()}

        for roots, procs in cases.items():
            for pid, text in procs.items():
                process(roots, pid, text)
            got = limits(roots)
            assert set(got) == set(procs)
            for pid, text in procs.items():
                cg = memory_for_cgroup_text(text, roots)
                want = cg.limit_bytes if cg is not None and cg.limit_bytes is not None and cg.limit_bytes < ram else None
                assert got[pid] == (want or ram), (pid, text)  # no limit of its own: physical RAM
        assert limits(v1)[101] == 600 * mib and limits(v2)[202] == ram
        # The limits move between two scans: the same scanner's next scan uses them.
        put(m / "a/b/c" / "memory.limit_in_bytes", f"{300 * mib}\n")
        put(m / "a" / "memory.limit_in_bytes", f"{unlimited}\n")
        put(v2cg / "s/web" / "memory.max", f"{100 * mib}\n")
        assert {pid: lim for pid, lim in limits(v1).items() if pid in (101, 102)} == {101: 300 * mib, 102: ram}
        assert {pid: lim for pid, lim in limits(v2).items() if pid in (201, 202, 203)} == {
            201: 256 * mib, 202: 100 * mib, 203: ram}
    finally:
        for scanner in scanners.values():
            scanner.close()
