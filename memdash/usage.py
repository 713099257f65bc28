"""The one error a command line can make: ``memdash: error: ...`` on stderr,
exit status 2 (``memdash.cli.main`` reports it for every subcommand)."""

from __future__ import annotations


class UsageError(Exception):
    """A wrong command line or option value: one line on stderr, exit status 2."""
