"""Grouping processes into services: names from cgroup paths, pools from
process trees (synthetic rows and real gunicorn/uvicorn/multiprocessing trees)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memdash.levels import Thresholds
from memdash.service_watch import ServiceCollector
from memdash.sources.cgroup import CgroupRoots
from memdash.sources.cgroup_stats import CgroupStatsReader
from memdash.sources.processes import ProcessScanner
from memdash.sources.services import Proc, find_pools, group_services, identify, program_of
from memdash.sources.system import read_system_memory

HERE = Path(__file__).parent
DATA = HERE / "data"
IDS = dict(line.split() for line in (DATA / "v2" / "ids.txt").read_text().splitlines())
H64 = "ab" * 32


@pytest.mark.parametrize("cmdline, program", [
    ("/venv/bin/python3 /venv/bin/gunicorn -w 3 app:app", "gunicorn"),
    ("python3 -m gunicorn app:app", "gunicorn"),
    ("python3.11 -u -X dev -m uvicorn main:app --workers 2", "uvicorn"),
    ("/usr/bin/python3 -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5, pipe_handle=7)"
     " --multiprocessing-fork", "multiprocessing"),
    ("gunicorn: worker [app:app]", "gunicorn"),
    ("uwsgi --ini app.ini", "uwsgi"),
    ("/usr/local/bin/celery -A proj worker", "celery"),
    ("python3 /srv/jobs/worker.py --queue q", "worker"),
    ("python3 -W ignore script.py", "script"),
    ("python3", "python3"),
    ("/bin/bash -l", "bash"),
    ("", "comm"),
])
def test_program_of(cmdline, program):
    assert program_of(cmdline, "comm") == program


@pytest.mark.parametrize("path, kind, name, cid", [
    (f"/docker/{H64}", "container", "docker abababababab", H64),
    (f"/system.slice/docker-{H64}.scope", "container", "docker abababababab", H64),
    (f"/machine.slice/libpod-{H64}.scope", "container", "podman abababababab", H64),
    (f"/libpod_parent/{H64}", "container", "podman abababababab", H64),
    (f"/system.slice/containerd.service/k8s.io/{H64}", "container", "container abababababab", H64),
    (f"/kubepods/burstable/pod1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f/{H64}", "pod", "pod 1c2d3e4f/abababababab", H64),
    (f"/kubepods.slice/kubepods-pod1c2d3e4f_5a6b_4c7d_8e9f_0a1b2c3d4e5f.slice/crio-{H64}.scope", "pod",
     "pod 1c2d3e4f/abababababab", H64),
    ("/kubepods.slice/kubepods-pod1c2d3e4f_5a6b_4c7d_8e9f_0a1b2c3d4e5f.slice", "pod", "pod 1c2d3e4f", None),
    ("/system.slice/nginx.service", "unit", "nginx.service", None),
    ("/user.slice/user-1000.slice/session-3.scope", "unit", "session-3.scope", None),
    ("/memdash-test-1", "cgroup", "memdash-test-1", None),
])
def test_identify(path, kind, name, cid):
    ident = identify(path)
    assert (ident.kind, ident.name, ident.container_id) == (kind, name, cid)


def P(pid, ppid, cmdline, name="python3"):
    return Proc(pid, ppid, name, cmdline)


def test_pools_from_trees():
    procs = [
        P(1, 0, "/sbin/init", "init"),
        P(100, 1, "/venv/bin/python /venv/bin/gunicorn -w 3 app:app"),
        *[P(p, 100, "/venv/bin/python /venv/bin/gunicorn -w 3 app:app") for p in (101, 102, 103)],
        P(200, 1, "python3 -m uvicorn main:app --workers 2"),
        P(201, 200, "python3 -c from multiprocessing.resource_tracker import main;main(5)"),
        *[P(p, 200, "python3 -c from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=6)"
                    " --multiprocessing-fork") for p in (202, 203)],
        # a shell with shell children is not a pool
        P(300, 1, "/bin/bash", "bash"), P(301, 300, "/bin/bash", "bash"), P(302, 300, "/bin/bash", "bash"),
        # a Python program forking copies of itself (a fork-method pool) ...
        P(400, 300, "python3 jobs.py"), P(401, 400, "python3 jobs.py"), P(402, 401, "python3 jobs.py"),
        # ... but a child running something else stays out
        P(403, 400, "sleep 100", "sleep"),
    ]
    pools = {p.master: p for p in find_pools(procs)}
    assert set(pools) == {100, 200, 400}
    assert pools[100].workers == (101, 102, 103) and pools[100].program == "gunicorn"
    assert pools[200].workers == (202, 203) and pools[200].helpers == (201,)
    assert pools[400].workers == (401, 402)  # a worker's own worker joins


def test_pool_that_is_a_whole_cgroup_is_one_service(tmp_path):
    reader = CgroupStatsReader(CgroupRoots(proc=str(tmp_path), sys_fs_cgroup=str(DATA / "v2" / "sys_fs_cgroup")))
    docker = f"/system.slice/docker-{IDS['docker']}.scope"
    nginx = "/system.slice/nginx.service"
    procs = [
        P(4101, 1, "python3 -m gunicorn -w 1 app:app"), P(4102, 4101, "python3 -m gunicorn -w 1 app:app"),
        P(501, 1, "nginx: master process", "nginx"), P(502, 501, "nginx: worker process", "nginx"),
        P(503, 501, "nginx: worker process", "nginx"),
        P(900, 1, "python3 -m celery -A p worker"), P(901, 900, "python3 -m celery -A p worker"),
        P(902, 1, "/usr/sbin/sshd", "sshd"),
    ]
    cgroup_of = {4101: docker, 4102: docker, 501: nginx, 502: nginx, 503: nginx,
                 900: "/user.slice", 901: "/user.slice", 902: "/"}
    cgroups = {path: reader.read(2, path) for path in set(cgroup_of.values())}
    groups = {g.key: g for g in group_services(procs, cgroup_of, cgroups)}
    assert set(groups) == {f"cgroup:{docker}", f"cgroup:{nginx}", "prefork:900"}
    d = groups[f"cgroup:{docker}"]
    assert d.name == f"docker {IDS['docker'][:12]}" and d.pids == (4101, 4102)
    assert (d.master_pid, d.worker_count, d.program) == (4101, 1, "gunicorn")
    assert d.roles == {4101: "master", 4102: "worker"}
    n = groups[f"cgroup:{nginx}"]
    assert n.name == "nginx.service" and n.worker_count == 3 and n.master_pid is None  # a unit, not a Python pool
    c = groups["prefork:900"]
    assert (c.name, c.worker_count, c.cgroup) == ("celery [900]", 1, None)
    # every process in at most one service
    all_pids = [pid for g in groups.values() for pid in g.pids]
    assert len(all_pids) == len(set(all_pids))


def test_pod_named_from_hostname(tmp_path):
    reader = CgroupStatsReader(CgroupRoots(proc=str(tmp_path), sys_fs_cgroup=str(DATA / "v2" / "sys_fs_cgroup")))
    path = (f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{IDS['pod']}.slice"
            f"/cri-containerd-{IDS['cri']}.scope")
    procs = [P(7001, 1, "python3 app.py")]
    g = group_services(procs, {7001: path}, {path: reader.read(2, path)}, names={7001: "web-7d9f8-abcde"})
    assert [x.name for x in g] == [f"web-7d9f8-abcde/{IDS['cri'][:12]}"]
    g = group_services(procs, {7001: path}, {path: reader.read(2, path)})
    assert [x.name for x in g] == [f"pod {IDS['pod'][:8]}/{IDS['cri'][:12]}"]


def test_unlimited_plain_cgroup_is_not_a_service(tmp_path):
    reader = CgroupStatsReader(CgroupRoots(proc=str(tmp_path), sys_fs_cgroup=str(DATA / "v2" / "sys_fs_cgroup")))
    procs = [P(10, 1, "/usr/bin/vim", "vim")]
    assert group_services(procs, {10: "/kubepods.slice"}, {"/kubepods.slice": reader.read(2, "/kubepods.slice")}) == []
    assert group_services(procs, {10: "/"}, {"/": None}) == []


# -- real pre-fork servers ----------------------------------------------------------


def _services_of(master: int):
    total = read_system_memory(Thresholds()).total_bytes
    col = ServiceCollector(Thresholds(), total_bytes=total, kernel_log=False)
    scanner = ProcessScanner(total_bytes=total)
    return [s for s in col.collect(scanner.scan_raw(), scanner, time.time()) if master in {w.pid for w in s.workers}]


def _wait_children(pid: int, n: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            kids = []
        if len(kids) >= n:
            time.sleep(0.5)
            return
        time.sleep(0.1)
    raise AssertionError(f"{pid} never had {n} children")


@pytest.mark.parametrize("args, workers, program", [
    (["-m", "gunicorn", "-w", "3", "-b", "127.0.0.1:0", "--chdir", str(HERE), "apps:wsgi"], 3, "gunicorn"),
    (["-m", "uvicorn", "--workers", "2", "--port", "0", "--host", "127.0.0.1", "--app-dir", str(HERE), "apps:asgi"],
     2, "uvicorn"),
])
def test_real_prefork_servers(args, workers, program):
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_children(proc.pid, workers)
        found = _services_of(proc.pid)
        assert len(found) == 1
        svc = found[0]
        if svc.kind == "prefork":  # where memdash's own cgroup is not itself a service
            assert svc.master_pid == proc.pid and svc.program == program
            assert svc.worker_count == workers
            assert svc.pss_bytes is None or svc.pss_bytes <= svc.rss_bytes
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_real_multiprocessing_pool(method):
    proc = subprocess.Popen([sys.executable, str(HERE / "mp_pool.py"), method, "3"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        found = _services_of(proc.pid)
        assert len(found) == 1
        svc = found[0]
        if svc.kind == "prefork":
            assert svc.master_pid == proc.pid
            assert svc.worker_count == 3, [(w.pid, w.role, w.cmdline[:60]) for w in svc.workers]
    finally:
        proc.stdin.close()
        proc.wait(timeout=15)
        proc.stdout.close()
