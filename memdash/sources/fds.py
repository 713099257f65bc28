"""Descriptors a reader keeps open between refreshes, keyed by what they read.

Reading ``/proc/PID/statm`` or a cgroup file again through a kept descriptor
with ``pread`` costs a fraction of opening it each time; these helpers close
them. A reader swaps its table out before closing it (``fds, self._fds =
self._fds, {}``) so a scan racing the close never iterates a changing dict.
"""

from __future__ import annotations

import os
from typing import Hashable, Iterable, TypeVar

K = TypeVar("K", bound=Hashable)


def close_fds(fds: Iterable[int]) -> None:
    """Close each descriptor; one already closed (or never valid) is skipped."""
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def close_unused(fds: dict[K, int], used: Iterable[K]) -> None:
    """Close and forget the descriptors whose keys are not in ``used``."""
    for key in fds.keys() - used:  # dict_keys subtracts any iterable
        close_fds((fds.pop(key),))
