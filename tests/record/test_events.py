"""Kernel-log parsing on recorded lines, and events derived from consecutive polls."""

from __future__ import annotations

from pathlib import Path

from memdash.record.events import (
    CgroupReading,
    EventDeriver,
    oom_kills_from_kmsg,
    parse_kmsg_record,
)

RECORDED = Path(__file__).parent / "kmsg_oom_6.18.txt"


def _records(text: str) -> list[str]:
    return [line + "\n" for line in text.splitlines() if line]


def test_kill_recorded_from_a_real_memcg_oom() -> None:
    # Lines /dev/kmsg gave for a real kill in a 64 MB v1 memory cgroup (kernel 6.18).
    kills = oom_kills_from_kmsg(_records(RECORDED.read_text()))
    assert len(kills) == 1
    k = kills[0]
    assert (k.pid, k.name) == (11502, "python3")
    assert k.cgroup == "/rs_probe_9501" and k.oom_cgroup == "/rs_probe_9501"
    assert k.constraint == "CONSTRAINT_MEMCG"
    assert k.anon_rss_bytes == 65280 * 1024 and k.file_rss_bytes == 6616 * 1024 and k.shmem_rss_bytes == 0
    assert k.rss_bytes == (65280 + 6616) * 1024
    assert (k.seq, k.usec) == (422, 428762293)


def test_older_kernel_lines_and_global_oom() -> None:
    # Before 4.19 there is no oom-kill: line and no shmem-rss; a global OOM says "Out of memory".
    records = [
        "3,10,5000000,-;Out of memory: Kill process 77 (java) score 900 or sacrifice child\n",
        "3,11,5000100,-;Killed process 77 (java) total-vm:2048000kB, anon-rss:1024000kB, file-rss:0kB\n",
    ]
    (k,) = oom_kills_from_kmsg(records)
    assert (k.pid, k.name, k.cgroup) == (77, "java", None)
    assert k.rss_bytes == 1024000 * 1024 and k.shmem_rss_bytes is None


def test_names_and_paths_that_fight_the_format() -> None:
    # A command name with ") (" in it, a cgroup path with a comma, continuation lines.
    records = [
        "6,1,1,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,"
        "oom_memcg=/kubepods/a,b,task_memcg=/kubepods/a,b/c,task=x) (y,pid=9,uid=1000\n SUBSYSTEM=memory\n",
        "3,2,2,-;Memory cgroup out of memory: Killed process 9 (x) (y) total-vm:10kB, anon-rss:4kB,"
        " file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:4kB oom_score_adj:0\n",
        "6,3,3,-;oom_reaper: reaped process 9 (x) (y), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB\n",
        "garbage without a header\n",
    ]
    (k,) = oom_kills_from_kmsg(records)
    assert k.name == "x) (y"
    assert k.cgroup == "/kubepods/a,b/c" and k.oom_cgroup == "/kubepods/a,b"


def test_header_parse() -> None:
    assert parse_kmsg_record("6,5,7,-;hello\n more\n") == (5, 7, "hello")
    assert parse_kmsg_record("not kmsg") is None


def _cg(path: str, kills: int | None, pids: tuple[int, ...], limit: int = 64 << 20) -> CgroupReading:
    return CgroupReading(path=path, version=1, usage_bytes=1, working_set_bytes=1, limit_bytes=limit,
                         oom_kills=kills, pids=pids)


def _snap(level: str = "excellent", processes=(), targets=()) -> dict:
    return {"level": level, "processes": list(processes), "targets": list(targets)}


def test_counter_rise_names_the_vanished_pid_and_its_last_rss() -> None:
    d = EventDeriver()
    assert d.derive(1.0, _snap(processes=[{"pid": 42, "name": "leaker", "rss_bytes": 60 << 20}]),
                    [_cg("/svc", 0, (42,))], 5) == []
    events = d.derive(2.0, _snap(), [_cg("/svc", 1, ())], 6)
    kinds = [(e.kind, e.subject, e.data.get("source")) for e in events]
    assert ("oom_kill", "/svc", "cgroup") in kinds and ("oom_kill", "host", "vmstat") in kinds
    cg = next(e for e in events if e.data.get("source") == "cgroup")
    assert cg.data["pid"] == 42 and cg.data["name"] == "leaker" and cg.data["last_rss_bytes"] == 60 << 20
    assert cg.level == "critical"


def test_counters_remembered_across_restarts_report_kills_while_down() -> None:
    d = EventDeriver({"1:/svc": 2, "host": 7})
    events = d.derive(1.0, _snap(), [_cg("/svc", 3, (5,))], 8)
    cg = next(e for e in events if e.data.get("source") == "cgroup")
    assert cg.data["delta"] == 1 and cg.data["while_not_recording"] is True
    assert d.counters == {"1:/svc": 3, "host": 8}


def test_services_appear_vanish_and_levels_change() -> None:
    d = EventDeriver()
    d.derive(1.0, _snap(targets=[{"name": "api", "level": "good"}]), [_cg("/a", 0, (1,))], None)
    events = d.derive(2.0, _snap("critical", targets=[{"name": "api", "level": "warning"},
                                                      {"name": "new", "level": "good"}]),
                      [_cg("/b", 0, (2,))], None)
    got = {(e.kind, e.subject) for e in events}
    assert {("service_appeared", "/b"), ("service_vanished", "/a"), ("service_appeared", "new"),
            ("level_change", "api"), ("level_change", "host")} <= got
    # excellent <-> good is no event; good -> warning is.
    events = d.derive(3.0, _snap("critical", targets=[{"name": "api", "level": "warning"},
                                                      {"name": "new", "level": "excellent"}]),
                      [_cg("/b", 0, (2,))], None)
    assert events == []


def test_recording_loads_no_textual() -> None:
    # The recorder runs headless (systemd): none of its modules may pull in the UI.
    import json
    import subprocess
    import sys

    code = ("import sys, json, memdash.record.cli, memdash.record.recorder, memdash.record.source, "
            "memdash.record.bundle, memdash.record.incidents\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'plotext'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
