"""Errors the probe raises; each carries the HTTP status it answers with."""

from __future__ import annotations

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any


class ProbeError(Exception):
    """Base of the probe's errors. ``status`` is the HTTP status a front end
    answers with, ``extra`` the keys added to the JSON error body."""

    status = 500

    def __init__(self, message: str, *, status: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.extra = extra


class UnsafeBindError(ProbeError, ValueError):
    """``serve()`` was asked to listen beyond loopback without a token."""

    status = 500


class BadRequest(ProbeError, ValueError):
    """An option is malformed (``generation=7``, a JSON body that is not an object)."""

    status = 400


class Unauthorized(ProbeError):
    """Token missing or wrong."""

    status = 401


class Forbidden(ProbeError):
    """No token could make this request pass (none is configured)."""

    status = 403


class NotFound(ProbeError, LookupError):
    """Unknown path, action, cache or worker."""

    status = 404


class Unavailable(ProbeError):
    """The action exists but cannot run here (``cuda`` without torch)."""

    status = 409


#: Request bodies above this many bytes are refused with 413 (options are a few bytes of JSON).
MAX_BODY_BYTES = 64 * 1024


class TooLarge(ProbeError):
    """The request body is over the cap."""

    status = 413


class RateLimited(ProbeError):
    """The same cleanup ran less than ``min_interval`` seconds ago."""

    status = 429

    def __init__(self, message: str, *, retry_after_seconds: float) -> None:
        super().__init__(message, retry_after_seconds=round(retry_after_seconds, 3))
        self.retry_after_seconds = retry_after_seconds
