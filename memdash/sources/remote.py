"""Targets: services memdash polls over HTTP(S) or a Unix socket, and their cleanups.

The public face of the target code, which lives in one module per job:

=====================================  ===============================================
:mod:`memdash.sources.poller`          :class:`TargetPoller`: schedules, backoff, cleanups
:mod:`memdash.sources.kinds`           the registry of target kinds (probe, prometheus, json)
:mod:`memdash.sources.cleanups`        running a cleanup and saying what it did
:mod:`memdash.sources.endpoint`        redirects, and where the token may go
:mod:`memdash.sources.transport`       one request: h11 for ``http://``/``unix:``, httpx for ``https://``
:mod:`memdash.sources.http11`          the HTTP/1.1 client (h11 over an asyncio protocol)
:mod:`memdash.sources.errors`          failures in words
:mod:`memdash.sources.redact`          secrets out of everything shown
=====================================  ===============================================

Usage::

    poller = TargetPoller(config.targets, config.thresholds)
    samples = await poller.poll_once()                 # all targets, once
    await poller.run(on_sample, stop_event)            # each on its own schedule
    result = await poller.cleanup("api", "gc")         # a CleanupResult, in words
    await poller.aclose()
"""

from __future__ import annotations

from memdash.sources.endpoint import MAX_REDIRECTS, Endpoint
from memdash.sources.errors import TargetError, describe_error
from memdash.sources.poller import (
    BACKOFF_CAP_SECONDS,
    CLEANUP_TIMEOUT_FLOOR,
    DEFAULT_MAX_CONCURRENCY,
    TargetPoller,
    supported_actions,
)
from memdash.sources.redact import MAX_ERROR_CHARS, scrub, scrub_doc, words
from memdash.sources.transport import MAX_BODY_BYTES, Response, loads, split_url

__all__ = [
    "BACKOFF_CAP_SECONDS",
    "CLEANUP_TIMEOUT_FLOOR",
    "DEFAULT_MAX_CONCURRENCY",
    "Endpoint",
    "MAX_BODY_BYTES",
    "MAX_ERROR_CHARS",
    "MAX_REDIRECTS",
    "Response",
    "TargetError",
    "TargetPoller",
    "describe_error",
    "loads",
    "scrub",
    "scrub_doc",
    "split_url",
    "supported_actions",
    "words",
]
