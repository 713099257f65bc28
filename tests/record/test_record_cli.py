"""``memdash record`` as a real process: kill -9, a torn WAL, restarts, a second
recorder; ``replay`` prints the snapshot schema; clear errors."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from memdash.record.cli import parse_size, parse_time
from memdash.record.store import Store, list_shards

from .conftest import memdash_cli


@pytest.mark.parametrize("command", ["record", "replay", "incidents", "report"])
def test_help(env: dict[str, str], command: str) -> None:
    proc = memdash_cli(env, command, "--help")
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: memdash {command}")


def test_main_help_lists_record(env: dict[str, str]) -> None:
    assert "record" in memdash_cli(env, "--help").stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["record", "--interval", "soon"], "--interval must be a duration"),
        (["record", "--interval", "0.01"], "--interval must be between"),
        (["record", "--max-size", "lots"], "--max-size must be a size"),
        (["record", "--retain", "0s"], "--retain must be more than 0"),
        (["replay", "/nonexistent/store"], "no recording at /nonexistent/store"),
        (["replay", "--at", "yesterday-ish"], "--at: TIME must be ISO 8601"),
        (["incidents", "/nonexistent/store"], "no recording at"),
    ],
)
def test_errors_are_one_line_exit_2(env: dict[str, str], args: list[str], message: str) -> None:
    proc = memdash_cli(env, *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and proc.stderr.count("\n") == 1


def test_default_store_under_xdg_state_home(env: dict[str, str]) -> None:
    proc = memdash_cli(env, "record", "--count", "1", "--interval", "0.2", "--no-gpu", "--no-discover")
    assert proc.returncode == 0, proc.stderr
    store = Path(env["XDG_STATE_HOME"]) / "memdash"
    assert len(list_shards(store)) == 1
    assert memdash_cli(env, "replay", "--json").returncode == 0


def test_two_recorders_refused(env: dict[str, str], recorder, tmp_path: Path) -> None:
    store = tmp_path / "store"
    first = recorder(store, "--interval", "0.3")
    first.wait_frames(1)
    second = memdash_cli(env, "record", "--out", str(store), "--no-gpu", "--no-discover", "--count", "1")
    assert second.returncode == 2
    assert second.stderr.strip() == (f"memdash record: error: another recorder (pid {first.proc.pid})"
                                     f" is already writing to {store}")
    assert first.stop() == 0


def test_kill_9_loses_at_most_the_frame_being_written_and_a_torn_wal_opens(recorder, tmp_path: Path) -> None:
    store = tmp_path / "store"
    r = recorder(store, "--interval", "0.2")
    r.wait_frames(8)
    r.stop(signal.SIGKILL)
    said = r.stored  # frames the recorder said were committed before it died
    with Store(store) as s:
        kept = len(s)
        assert said <= kept <= said + 1
        assert s.frame(kept - 1) is not None
    (shard,) = list_shards(store)
    wal = Path(str(shard) + "-wal")
    assert wal.exists() and wal.stat().st_size > 0
    # A torn write: the last transaction's tail never reached the disk.
    os.truncate(wal, wal.stat().st_size - 100)
    with Store(store) as s:
        assert len(s) >= kept - 1
        assert s.frame(len(s) - 1) is not None and not s.errors
        torn = len(s)
    # and recording goes on in the same store after the crash
    r2 = recorder(store, "--interval", "0.2", "--count", "3")
    r2.proc.wait(timeout=60)
    assert r2.proc.returncode == 0
    with Store(store) as s:
        assert len(s) == torn + 3
        assert s.times() == sorted(s.times())


def test_restarts_append_to_the_same_store(env: dict[str, str], tmp_path: Path) -> None:
    store = tmp_path / "store"
    for _ in range(2):
        proc = memdash_cli(env, "record", "--out", str(store), "--interval", "0.2", "--count", "3", "--no-gpu",
                           "--no-discover", "--quiet")
        assert proc.returncode == 0 and proc.stderr == ""
    with Store(store) as s:
        assert len(s) == 6 and len(s.shard_paths) == 1
        assert [s.frame(i).snapshot["schema"] for i in range(6)] == [1] * 6


def test_replay_json_is_the_snapshot_schema(env: dict[str, str], tmp_path: Path) -> None:
    store = tmp_path / "store"
    proc = memdash_cli(env, "record", "--out", str(store), "--interval", "0.3", "--count", "4", "--no-gpu",
                       "--no-discover", "--quiet")
    assert proc.returncode == 0
    with Store(store) as s:
        times = s.times()
    snap = json.loads(memdash_cli(env, "snapshot", "--json", "--no-gpu", "--no-discover").stdout)
    for i, t in enumerate(times):
        out = memdash_cli(env, "replay", str(store), "--json", "--at", f"{t + 0.05:.3f}")
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert set(doc) == set(snap) and doc["schema"] == snap["schema"]
        assert set(doc["processes"][0]) == set(snap["processes"][0])
        assert set(doc["system"]) == set(snap["system"])
        with Store(store) as s:
            assert doc == s.frame(i).snapshot
    # relative time: long before the recording, so the first frame, with a note on stderr
    out = memdash_cli(env, "replay", str(store), "--json", "--at", "-2h")
    assert out.returncode == 0 and "nothing was recorded at" in out.stderr
    assert json.loads(out.stdout)["time"] == json.loads(
        memdash_cli(env, "replay", str(store), "--json", "--at", f"{times[0]:.3f}").stdout)["time"]


def test_parse_time_and_size() -> None:
    now = 1_764_000_000.0
    assert parse_time("-2h", now) == now - 7200
    assert parse_time("1764000123", now) == 1764000123.0
    assert parse_time("2025-11-24T16:00:00Z", now) == 1_764_000_000.0
    assert parse_time("2025-11-24T17:00:00+01:00", now) == 1_764_000_000.0
    assert parse_time("now", now) == now
    # naive times are local
    assert parse_time("2025-11-24T16:00:00", now) == time.mktime((2025, 11, 24, 16, 0, 0, 0, 0, -1))
    for bad in ("", "tomorrow", "-x", "2025-13-01"):
        with pytest.raises(ValueError):
            parse_time(bad, now)
    assert parse_size("1GB") == 1 << 30 and parse_size("500M") == 500 << 20 and parse_size("4096") == 4096
    for bad in ("", "1XB", "0", "-5M"):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_report_and_incidents_on_a_store_without_incidents(env: dict[str, str], tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert memdash_cli(env, "record", "--out", str(store), "--interval", "0.2", "--count", "2", "--no-gpu",
                       "--no-discover", "--quiet").returncode == 0
    out = memdash_cli(env, "report", "oom-nope", "--store", str(store))
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "memdash report: error:" in out.stderr and ("no incident 'oom-nope'" in out.stderr
                                                       or "has no incidents" in out.stderr)
    out = memdash_cli(env, "incidents", str(store), "--json")
    assert out.returncode == 0 and isinstance(json.loads(out.stdout), list)
