"""Pre-fork servers (gunicorn, uWSGI): one probe per worker, one answer per group.

Each worker listens on its own discovery socket (``<dir>/<pid>.sock``, see
:mod:`memdash.probe.discovery`). Whichever worker the load balancer hands a
request to finds its siblings there (same parent pid, read from
``/proc/PID/stat``), asks each over its socket, and answers for the group:
``workers`` (one snapshot or receipt each) and ``group`` totals where shared
pages count once (PSS summed from ``/proc/PID/smaps_rollup``).

Pre-fork mode is on when the front end says so (``prefork=True``), else when
``MEMDASH_PROBE_PREFORK`` is ``1``/``0``, else when the parent process is a
gunicorn or uWSGI master (its command line names it). A worker's socket is
opened when the front end is created in the worker, or right after fork when
the app was preloaded in the master.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
from _thread import allocate_lock

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any

from memdash.probe import procfs
from memdash.probe.discovery import find_sockets
from memdash.probe.errors import NotFound, ProbeError

SNAPSHOT_TIMEOUT_SECONDS = 3.0
CLEANUP_TIMEOUT_SECONDS = 60.0
_MASTERS = ("gunicorn", "uwsgi")

_lock = allocate_lock()
_wanted: bool | None = None  # what front ends asked for: True, False or None (detect)
_hooked = False
_worker_server: Any = None  # ProbeServer of this process's own socket
_detected: tuple[int, bool] | None = None


def _env_choice() -> bool | None:
    raw = os.environ.get("MEMDASH_PROBE_PREFORK", "").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    return None


def parent_is_prefork_master() -> bool:
    """Whether our parent's command line names gunicorn or uWSGI."""
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").lower()
    except OSError:
        return False
    return any(m in cmd for m in _MASTERS)


def active(explicit: bool | None = None) -> bool:
    """Whether this process is a pre-fork worker whose probe should fan out."""
    global _detected
    if explicit is not None:
        return explicit
    env = _env_choice()
    if env is not None:
        return env
    pid = os.getpid()
    if _detected is None or _detected[0] != pid:
        _detected = (pid, parent_is_prefork_master())
    return _detected[1]


def ensure_worker_socket() -> None:
    """Open this worker's discovery socket if it has none yet (idempotent)."""
    global _worker_server
    with _lock:
        server = _worker_server
        if server is not None and server.pid == os.getpid() and not server.closed:
            return
        from memdash.probe.unixserver import serve_worker_socket

        _worker_server = serve_worker_socket()


def on_front_end_created(explicit: bool | None) -> None:
    """Called by every gathering front end: remember the choice, open the
    socket if this is a worker, and re-check after any fork."""
    global _wanted, _hooked
    if explicit is not None:
        _wanted = explicit
    if not _hooked:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _hooked = True
    if active(_wanted):
        _ensure_worker_socket_logged()


def _ensure_worker_socket_logged() -> None:
    """:func:`ensure_worker_socket`, never raising: a worker whose socket
    cannot be opened still serves its app (and answers for itself)."""
    try:
        ensure_worker_socket()
    except Exception as exc:
        from memdash.probe.logs import logger, shown

        logger().warning("memdash.probe: worker %s runs without its discovery socket: %s",
                         os.getpid(), shown(getattr(exc, "message", None) or exc))


def _after_fork_in_child() -> None:
    global _lock, _worker_server, _detected
    # Locks held by another thread at fork time would never be released here.
    _lock = allocate_lock()
    cleaner = sys.modules.get("memdash.probe.cleaner")  # not loaded: nothing to reset, and no cost
    if cleaner is not None:
        cleaner.CLEANER.reset_after_fork()
    inherited = _worker_server
    _worker_server = None
    _detected = None
    if inherited is not None:
        inherited.forget_after_fork()  # close our copy of the parent's socket, leave its file
    if active(_wanted):
        _ensure_worker_socket_logged()  # never break the host's fork


# -- talking to siblings --------------------------------------------------
class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def unix_request(path: str, method: str, target: str, body: dict[str, Any] | None = None,
                 timeout: float = SNAPSHOT_TIMEOUT_SECONDS,
                 headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One HTTP request over a Unix socket; ``(status, decoded JSON or text)``."""
    conn = _UnixConnection(path, timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        hdrs = dict(headers or {})
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, target, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        ctype = resp.getheader("Content-Type", "")
        return resp.status, (json.loads(raw) if "json" in ctype else raw.decode("utf-8", "replace"))
    finally:
        conn.close()


def siblings() -> list[tuple[int, str]]:
    """``(pid, socket path)`` of the other workers: probed processes with our parent."""
    me, parent = os.getpid(), os.getppid()
    return [(pid, path) for pid, path in find_sockets() if pid != me and procfs.read_ppid(pid) == parent]


def _sibling_path(pid: int) -> str:
    for spid, path in siblings():
        if spid == pid:
            return path
    raise NotFound(f"no worker {pid} in this group", workers=[os.getpid()] + [p for p, _ in siblings()])


def _unreachable(pid: int, exc: BaseException) -> dict[str, Any]:
    return {"pid": pid, "ok": False, "error": f"worker did not answer ({type(exc).__name__})", "status": 502}


def sibling_snapshots() -> list[dict[str, Any]]:
    """Snapshots of every sibling; one that fails is reported with an ``error``."""
    out = []
    for pid, path in siblings():
        try:
            status, data = unix_request(path, "GET", "/")
            out.append(data if status == 200 and isinstance(data, dict) else
                       {"pid": pid, "ok": False, "error": f"worker answered {status}", "status": status})
        except (OSError, ValueError, http.client.HTTPException) as exc:
            out.append(_unreachable(pid, exc))
    return out


def sibling_snapshot(pid: int) -> dict[str, Any]:
    """One sibling's snapshot (``?worker=PID``)."""
    path = _sibling_path(pid)
    try:
        status, data = unix_request(path, "GET", "/")
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise ProbeError(f"worker {pid} did not answer ({type(exc).__name__})", status=502) from None
    if status != 200:
        raise ProbeError(f"worker {pid} answered {status}", status=502)
    return data


def _forward_cleanup(pid: int, path: str, action: str, options: dict[str, Any], client: str) -> dict[str, Any]:
    try:
        status, data = unix_request(path, "POST", f"/cleanup/{action}", body=options,
                                    timeout=CLEANUP_TIMEOUT_SECONDS,
                                    headers={"X-Memdash-Forwarded-For": client})
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return _unreachable(pid, exc)
    if isinstance(data, dict):
        data.setdefault("pid", pid)
        if status != 200:
            data["ok"] = False
        return data
    return {"pid": pid, "ok": False, "error": f"worker answered {status}", "status": status}


def sibling_cleanup(pid: int, action: str, options: dict[str, Any], client: str) -> dict[str, Any]:
    """Run a cleanup in one sibling (``?worker=PID``); its receipt, or its error."""
    receipt = _forward_cleanup(pid, _sibling_path(pid), action, options, client)
    if receipt.get("ok") is False and "status" in receipt:
        extra = {k: v for k, v in receipt.items() if k not in ("error", "status", "ok", "pid")}
        raise ProbeError(f"worker {pid}: {receipt.get('error')}", status=int(receipt["status"]), **extra)
    return receipt


def siblings_cleanup(action: str, options: dict[str, Any], client: str) -> list[dict[str, Any]]:
    """Run a cleanup in every sibling, one after another (a cleanup is
    CPU-bound; running them together would only stall the whole box at once)."""
    return [_forward_cleanup(pid, path, action, options, client) for pid, path in siblings()]


def _sum(items: list[dict[str, Any]], key: str) -> int | None:
    values: list[int] = [i[key] for i in items if isinstance(i.get(key), int)]
    return sum(values) if values else None


def group_totals(workers: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over the workers: RSS summed (shared pages counted in every
    worker) and PSS summed (shared pages split between them, so counted once)."""
    rss = [w.get("memory", {}).get("rss_bytes") for w in workers if w.get("memory")]
    pss_values = []
    for w in workers:
        pid = w.get("pid")
        if isinstance(pid, int) and w.get("memory"):
            pss = procfs.read_smaps_rollup(pid).get("pss")
            w["memory"]["pss_bytes"] = pss
            if pss is not None:
                pss_values.append(pss)
    answered = [w for w in workers if w.get("memory")]
    return {
        "workers": len(answered),
        "unreachable": len(workers) - len(answered),
        "rss_bytes": sum(r for r in rss if r is not None) if rss else None,
        "pss_bytes": sum(pss_values) if len(pss_values) == len(answered) and pss_values else None,
        "parent_pid": os.getppid(),
    }


def group_receipt(action: str, receipts: list[dict[str, Any]]) -> dict[str, Any]:
    """One answer for a cleanup that ran in every worker."""
    from memdash.probe.snapshot import SCHEMA

    ok = [r for r in receipts if r.get("ok")]
    return {
        "schema": SCHEMA, "action": action, "ok": len(ok) == len(receipts),
        "workers": receipts,
        "collected": _sum(ok, "collected"),
        "rss_before_bytes": _sum(ok, "rss_before_bytes"),
        "rss_after_bytes": _sum(ok, "rss_after_bytes"),
        "rss_freed_bytes": _sum(ok, "rss_freed_bytes"),
    }
