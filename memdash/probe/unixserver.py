"""The probe server's Unix sockets: the discovery socket
``<socket_dir()>/<pid>.sock`` (:mod:`memdash.probe.discovery`), an explicit
socket path, and a pre-fork worker's own socket. Loaded by the first
``serve()`` that asks for one: a host that serves TCP only never holds this
code. The listeners join :class:`memdash.probe.server.ProbeServer`'s one poll
loop like the TCP one.
"""

from __future__ import annotations

import os

from memdash.probe.core import ProbeCore
from memdash.probe.errors import ProbeError
from memdash.probe.logs import logger, shown
from memdash.probe.server import LISTEN_BACKLOG, ProbeServer, _Listener, _sock

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any


class UnixServer(_Listener):
    def __init__(self, path: str, core: ProbeCore) -> None:
        from memdash.probe import discovery  # here: only Unix sockets need it

        self.path = path
        if not discovery.fits_socket_path(path):
            raise ProbeError(f"{shown(path)} is too long for a Unix socket path (at most "
                             f"{discovery.MAX_SOCKET_PATH} bytes); pick a shorter one")
        clear_stale_socket(path)
        # Bound under a hidden random name and renamed into place once it
        # listens: a dashboard (or a sibling worker) running find_sockets()
        # meanwhile would take a socket that refuses connections for a stale
        # one and remove it. The name is no longer than the final one (a
        # path that fits must be stageable) and never ends in ".sock".
        directory, name = os.path.split(path)
        staging = os.path.join(directory, "." + os.urandom(8).hex()[:max(len(name) - 1, 4)])
        sock = _sock.socket(_sock.AF_UNIX, _sock.SOCK_STREAM)
        try:
            sock.bind(staging)
            try:
                os.chmod(staging, 0o600)
                sock.listen(LISTEN_BACKLOG)
                sock.settimeout(0)
                os.rename(staging, path)
            except BaseException:
                try:
                    os.unlink(staging)
                except OSError:
                    pass
                raise
        except BaseException:
            sock.close()
            raise
        super().__init__(sock, core)
        # Trusted (no token for cleanups) only if we made it private ourselves.
        self.via = "unix-private" if discovery.is_private(path) else "unix"

    @staticmethod
    def client_label(address: Any) -> str:
        return "unix"


def clear_stale_socket(path: str) -> None:
    """Make way for a socket at ``path``: remove a stale socket of ours there,
    and refuse anything else (a file, a directory, a symlink, another user's
    socket, a socket someone still listens on) with :class:`ProbeError`: the
    probe never deletes what it did not make."""
    import stat

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ProbeError(f"cannot use {shown(path)} for the probe socket: {exc.strerror or exc}") from None
    if not stat.S_ISSOCK(st.st_mode):
        kind = ("a symlink" if stat.S_ISLNK(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode)
                else "a regular file" if stat.S_ISREG(st.st_mode) else "not a socket")
        raise ProbeError(f"{shown(path)} is {kind}, not a socket; refusing to replace it with the probe's "
                         "socket (remove it, or pick another path)")
    if st.st_uid != os.geteuid():
        raise ProbeError(f"{shown(path)} is a socket of uid {st.st_uid}, not ours; refusing to replace it")
    from memdash.probe import discovery

    if discovery._listening(path):
        raise ProbeError(f"another process already listens on {shown(path)}")
    try:
        os.unlink(path)  # a stale socket of ours, from a dead process
    except FileNotFoundError:
        pass


_warned: set[str] = set()


def warn_once(message: str) -> None:
    """Log ``message`` as a warning the first time this process sees it."""
    if message not in _warned:
        _warned.add(message)
        logger().warning("%s", message)


def discovery_socket(core: ProbeCore, servers: list[Any]) -> str | None:
    """Add the discovery socket to ``servers``; its path, or None (one warning
    logged) when no safe place for it can be had: a squatted or symlinked
    socket directory must not stop the host service."""
    from memdash.probe import discovery

    try:
        path = discovery.socket_path()
    except (ProbeError, OSError) as exc:
        warn_once(f"memdash.probe: running without the discovery socket: "
                  f"{shown(getattr(exc, 'message', None) or exc)}")
        return None
    servers.append(UnixServer(path, core))  # in our own 0700 directory: only "already listens" can fail
    return path


def serve_worker_socket() -> ProbeServer | None:
    """A pre-fork worker's own discovery socket: answers for this worker only.
    None (one warning logged) when no private socket directory can be had."""
    core = ProbeCore(None, gather=False)
    servers: list[Any] = []
    path = discovery_socket(core, servers)
    return ProbeServer(servers, None, None, path) if path is not None else None
