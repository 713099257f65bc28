"""Local discovery: every probed process listens on ``<dir>/<pid>.sock``.

The directory is ``$XDG_RUNTIME_DIR/memdash`` where a runtime dir exists, is
private (a directory of ours, mode 0700) and is short enough for a socket path
(:data:`MAX_SOCKET_PATH`), else ``/tmp/memdash-<uid>``.
Either way it is created mode 0700 and must be owned by us and not a symlink:
anyone who can write there could plant a socket that a dashboard would then
trust, and anyone who can connect to a socket there can run cleanups without a
token (the directory's permissions are the authentication). Another user can
pre-create ``/tmp/memdash-<uid>``; then :func:`socket_dir` raises
:class:`ProbeError` and the embedding points run without the socket (see
:func:`memdash.probe.server.serve`).
"""

from __future__ import annotations

import os
import stat

try:  # the C module under socket.py: socket.py's import (enum, selectors) costs the host ~1.3 MiB
    import _socket as _sock
except ImportError:  # pragma: no cover - an interpreter without it
    import socket as _sock  # type: ignore[no-redef]

from memdash.probe.errors import ProbeError
from memdash.probe.logs import shown
from memdash.probe.procfs import pid_alive

SUFFIX = ".sock"
#: Longest Unix socket path, in bytes: ``sockaddr_un.sun_path`` is 108 bytes on
#: Linux, the last one a NUL. A longer path cannot be bound or connected to.
MAX_SOCKET_PATH = 107
#: The longest socket name in the directory: the largest pid Linux can give
#: (``pid_max`` is at most 2**22) plus the suffix.
_LONGEST_NAME = f"{2 ** 22}{SUFFIX}"


def _ensure_private_dir(path: str) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:  # a read-only /tmp, a missing parent...
        raise ProbeError(f"cannot create {shown(path)} for probe sockets: {exc.strerror or exc}") from None
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise ProbeError(f"cannot read {shown(path)}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise ProbeError(f"{shown(path)} is not a directory (a symlink?); refusing to use it for probe sockets")
    if st.st_uid != os.geteuid():
        raise ProbeError(f"{shown(path)} belongs to uid {st.st_uid}, not to us; refusing to use it for probe sockets")
    if st.st_mode & 0o077:
        try:
            os.chmod(path, 0o700)  # ours but too open (an old umask): tighten rather than fail
        except OSError as exc:
            raise ProbeError(f"{shown(path)} is open to other users and cannot be closed: "
                             f"{exc.strerror or exc}") from None


def _private_runtime_dir(path: str | None) -> bool:
    """Whether ``$XDG_RUNTIME_DIR`` is usable: an absolute path to a directory
    of ours that nobody else can enter (as systemd makes ``/run/user/<uid>``)."""
    if not path or not os.path.isabs(path):
        return False
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077


def socket_dir(create: bool = True) -> str:
    """The discovery directory for this user (created 0700 unless ``create`` is False).

    Raises :class:`ProbeError` if it exists but is not a private directory of ours.
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    # A runtime dir too deep for a socket path (a long $HOME-based one, a test
    # runner's) falls back like a missing one: probe and dashboard both call
    # this, so they still agree on where to look.
    if _private_runtime_dir(runtime) and fits_socket_path(
            os.path.join(runtime, "memdash", _LONGEST_NAME)):  # type: ignore[arg-type]
        path = os.path.join(runtime, "memdash")  # type: ignore[arg-type]
    else:
        path = os.path.join("/tmp", f"memdash-{os.geteuid()}")
    if create:
        _ensure_private_dir(path)
    return path


def fits_socket_path(path: str) -> bool:
    """Whether ``path`` is short enough to bind or connect a Unix socket at."""
    return len(os.fsencode(path)) <= MAX_SOCKET_PATH


def socket_path(pid: int | None = None) -> str:
    """Where process ``pid`` (default: this one) listens."""
    return os.path.join(socket_dir(), f"{pid if pid is not None else os.getpid()}{SUFFIX}")


def is_private(path: str) -> bool:
    """Whether the directory holding ``path`` is ours and closed to everyone else,
    which is what lets its sockets skip the token."""
    try:
        st = os.lstat(os.path.dirname(os.path.abspath(path)) or ".")
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o077


def _listening(path: str) -> bool:
    s = _sock.socket(_sock.AF_UNIX, _sock.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True  # timeout or busy: alive, just slow
    finally:
        s.close()
    return True


def find_sockets() -> list[tuple[int, str]]:
    """``(pid, path)`` of every live probe socket, sorted by pid.

    Sockets of dead pids, and sockets nobody listens on any more (a pid
    reused by an unrelated process), are removed as they are found.
    """
    try:
        directory = socket_dir(create=False)
        names = os.listdir(directory)
    except (OSError, ProbeError):
        return []
    if not is_private(os.path.join(directory, "x")):
        return []  # not ours or not private: trust nothing in it
    found = []
    for name in names:
        if not name.endswith(SUFFIX):
            continue
        try:
            pid = int(name[: -len(SUFFIX)])
        except ValueError:
            continue
        path = os.path.join(directory, name)
        if pid_alive(pid) and (pid == os.getpid() or _listening(path)):
            found.append((pid, path))
        else:
            try:
                os.unlink(path)
            except OSError:
                pass
    return sorted(found)
