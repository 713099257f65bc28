"""What went wrong with a target, in words a person reads: ``connection refused``,
``timed out after 2 s``, ``HTTP 401 Unauthorized: the token is missing or wrong``.

Every failure a poll or a cleanup can meet ends here, whatever raised it: the
HTTP/1.1 client, httpx (``https://`` targets), the OS, a reader. httpx's
exception types are looked at only where httpx is loaded (it is imported
only when an ``https://`` target exists). The words are scrubbed and cut by
:func:`memdash.sources.redact.words` before anyone sees them.
"""

from __future__ import annotations

import asyncio
import errno
import json
import re
import socket
import ssl
import sys
from typing import Any, Mapping

from memdash.sources import http11


class TargetError(Exception):
    """A failed request or unreadable answer; ``str()`` says what, in words, without secrets."""


#: Longest service reason shown beside memdash's explanation, in characters.
MAX_REASON = 200
#: Longest error with a service's reason in it: memdash's words (200) and the reason.
ERROR_CHARS = 200 + MAX_REASON


def service_reason(body: bytes | None, doc: Any = None, secrets: tuple[str, ...] = ()) -> str | None:
    """The service's own words for a refusal or a failed poll: a JSON answer's
    ``error``/``message``/``detail``/``reason``, else the body's first non-empty
    line (HTML tags dropped), cut to :data:`MAX_REASON` characters.

    Kept as the service wrote it (``--json`` output is exact); every display
    passes it through :func:`memdash.textsafe.printable`, which escapes
    control and bidi characters. ``secrets`` are scrubbed before the cut (a
    cut first could leave part of a token)."""
    from memdash.sources.redact import scrub

    text = None
    if isinstance(doc, Mapping):
        for key in ("error", "message", "detail", "reason", "msg"):
            value = doc.get(key)
            if isinstance(value, str) and value.strip():
                text = value
                break
    if text is None and body:
        head = body[:4096].decode("utf-8", "replace")
        if head.lstrip().startswith(("{", "[")):
            return None  # JSON without a message: nothing to quote
        head = re.sub(r"<[^>]{0,200}>", " ", head)
        text = next((line.strip() for line in head.splitlines() if line.strip()), None)
    if not text or not text.strip():
        return None
    text = scrub(text.strip(), secrets)
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def http_status_error(status: int, reason: str, body: bytes | None = None,
                      secrets: tuple[str, ...] = ()) -> TargetError:
    """An answer with status 400 or more, in words, with the service's own reason."""
    text = f"HTTP {status} {reason}".strip()
    if status == 401:
        text += ": the token is missing or wrong (set token_env or token_file)"
    doc = None
    if body and body.lstrip()[:1] in (b"{", b"["):
        try:
            doc = json.loads(body[:65536])
        except (ValueError, RecursionError):
            doc = None
    said = service_reason(body, doc, secrets)
    if said and said.lower() != reason.strip().lower():
        text += f" (the service says: {said})"
    return TargetError(text)


def _oserror_words(exc: BaseException) -> str:
    """A failed connection, from the first cause in the chain that says why."""
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 10:
        seen += 1
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed ({cause.reason or cause})"
        if isinstance(cause, socket.gaierror):
            return "host not found"
        if isinstance(cause, OSError) and cause.errno is not None:
            if cause.errno == errno.ECONNREFUSED:
                return "connection refused"
            if cause.errno == errno.ENOENT:
                return "no such socket"
            if cause.errno in (errno.EACCES, errno.EPERM):
                return "permission denied on the socket"
            if cause.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
                return "host unreachable"
            return f"cannot connect: {cause.strerror or cause}"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "refused" in text.lower():
        return "connection refused"
    return f"cannot connect: {text or type(exc).__name__}"


def _httpx_words(exc: BaseException, timeout: float) -> str | None:
    """httpx's failures in words; ``None`` when ``exc`` is not one (or httpx is not loaded)."""
    httpx = sys.modules.get("httpx")
    if httpx is None or not isinstance(exc, httpx.HTTPError):
        return None
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return _oserror_words(exc)
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection or sent a malformed response"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return "connection reset"
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return "invalid URL"
    return None


def describe_error(exc: BaseException, timeout: float) -> str:
    """What went wrong, in words: ``connection refused``, ``timed out after 2 s``...

    Not yet scrubbed of the target's secrets nor cut to length: callers pass it
    through :func:`~memdash.sources.redact.words`.
    """
    if isinstance(exc, TargetError):
        return str(exc)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, http11.ConnectError) and exc.__cause__ is not None:
        exc = exc.__cause__  # the OSError: refused, no such socket, host not found...
    if isinstance(exc, http11.HTTPError):
        return str(exc)  # already in words: "connection reset", "invalid response: bad status line"
    words = _httpx_words(exc, timeout)
    if words is not None:
        return words
    if isinstance(exc, OSError):
        return _oserror_words(exc)
    prom = sys.modules.get("memdash.sources.prom")
    if prom is not None and isinstance(exc, prom.PrometheusParseError):
        return str(exc)  # already in words: "invalid Prometheus text: ..."
    lines = str(exc).splitlines()
    text = lines[0] if lines else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
