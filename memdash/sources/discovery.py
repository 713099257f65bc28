"""Local probes, found through their Unix sockets, as targets.

A service running ``memdash.probe.serve(unix_socket=True)`` listens on
``<socket dir>/<pid>.sock`` (docs/probe-wire.md, "Local discovery"). This module
turns those sockets into :class:`~memdash.config.TargetConfig` entries the
:class:`~memdash.sources.remote.TargetPoller` can poll (``add_targets``).

``memdash.probe`` is imported inside the function, not at module top: the
dashboard must start where the probe package is missing or broken.
"""

from __future__ import annotations

import logging
import os
from typing import Collection

from memdash.config import TargetConfig

log = logging.getLogger(__name__)


def discover_targets(
    *,
    interval: float = 2.0,
    timeout: float = 2.0,
    exclude_pids: Collection[int] = (),
) -> tuple[TargetConfig, ...]:
    """One ``probe`` target per live local probe socket, named ``"pid <pid>"``.

    Args:
        interval: seconds between polls of each discovered target.
        timeout: seconds allowed per poll.
        exclude_pids: pids to skip (memdash's own, when it embeds a probe).

    Returns an empty tuple when ``memdash.probe`` is unavailable or its socket
    directory cannot be read. No token is needed: the probe's own socket (mode
    0600 in a private directory) is the credential.
    """
    try:
        from memdash.probe.discovery import find_sockets
    except ImportError:
        return ()
    try:
        found = find_sockets()
    except Exception as exc:  # discovery is a convenience: never stop the dashboard for it
        log.debug("probe discovery failed: %s", exc)
        return ()
    skip = set(exclude_pids)
    return tuple(
        TargetConfig(
            name=f"pid {pid}",
            url=f"unix:{os.fspath(path)}",
            kind="probe",
            interval=interval,
            timeout=timeout,
        )
        for pid, path in sorted(found)
        if pid not in skip
    )
