"""Directories the tests own, short enough for Unix socket paths."""

from __future__ import annotations

import os
import tempfile


def short_private_dir() -> str:
    """A new 0700 directory directly under /tmp (the caller removes it). A
    discovery socket lives at ``<dir>/memdash/<pid>.sock`` and a Unix socket path
    holds only 107 bytes: pytest's ``tmp_path`` is deep, deeper under xdist."""
    path = tempfile.mkdtemp(prefix="mdrt-", dir="/tmp")
    os.chmod(path, 0o700)
    return path
