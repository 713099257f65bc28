"""Sending one request to a target and getting the whole, capped answer back.

Two transports behind one :class:`Transport` protocol:

==================  ==========================================================
``http://``         :class:`PlainTransport`: memdash's HTTP/1.1 client
``unix:``           (:mod:`memdash.sources.http11`, h11 over an asyncio protocol),
                    one kept-alive connection reused across polls
``https://``        :class:`TlsTransport`: httpx, for its certificate checks;
                    imported only when an ``https://`` target (or a redirect
                    to one) is first used
==================  ==========================================================

Neither follows redirects nor decides where the token goes: that is
:class:`memdash.sources.endpoint.Endpoint`'s policy. Bodies are read up to
:data:`MAX_BODY_BYTES` (or the target's ``max_body``); past it the first bytes
come back marked ``truncated`` and the connection is dropped, and each reader
decides (a Prometheus page is read up to the cap, JSON is refused). URLs are handled as text with
:mod:`urllib.parse` (:class:`Url`), so a plain ``http://`` target never loads httpx.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import json
import ssl
import sys
from typing import TYPE_CHECKING, Any, Awaitable, Mapping, NamedTuple, Protocol, TypeVar
from urllib.parse import unquote, urlencode, urljoin, urlsplit, urlunsplit

from memdash.config import TargetConfig
from memdash.sources import http11
from memdash.sources.errors import TargetError

if TYPE_CHECKING:  # pragma: no cover
    import httpx

#: Largest response body read, in bytes; past it the connection is dropped.
MAX_BODY_BYTES = 1024 * 1024
#: Statuses that redirect (when they carry a ``Location``).
REDIRECTS = (301, 302, 303, 307, 308)

T = TypeVar("T")


# --------------------------------------------------------------------------- URLs


class Url(NamedTuple):
    """An ``http(s)://`` URL as text, split once. ``port`` is the scheme's default where absent."""

    text: str
    scheme: str
    host: str
    port: int | None
    path: str
    query: str

    @classmethod
    def parse(cls, text: str) -> Url:
        """Raises :class:`TargetError` ``"invalid URL"`` for what cannot be a target URL."""
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise TargetError("invalid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise TargetError("invalid URL")
        default = 443 if scheme == "https" else 80
        return cls(text, scheme, parts.hostname, port or default, parts.path or "/", parts.query)

    @property
    def origin(self) -> tuple[str, str, int | None]:
        """``(scheme, host, port)``: where a token may go is decided by this."""
        return self.scheme, self.host, self.port

    def join(self, location: str) -> Url:
        """A redirect's ``Location`` (absolute or relative) against this URL."""
        return Url.parse(urljoin(self.text, location))

    def with_path(self, path: str, params: Mapping[str, str] | None = None) -> Url:
        """Same origin, another path (and query: ``params``, or none)."""
        parts = urlsplit(self.text)
        return Url.parse(urlunsplit((parts.scheme, parts.netloc, path, urlencode(params or {}), "")))

    def with_params(self, params: Mapping[str, str]) -> Url:
        """This URL with ``params`` added to its query."""
        parts = urlsplit(self.text)
        query = "&".join(q for q in (parts.query, urlencode(params)) if q)
        return Url.parse(urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment)))

    def userinfo(self) -> tuple[str, str] | None:
        """``(user, password)`` percent-decoded, where the URL carries them."""
        return _userinfo(self.text)

    def without_userinfo(self) -> str:
        parts = urlsplit(self.text)
        return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, parts.query, parts.fragment))


@functools.lru_cache(maxsize=1024)
def _userinfo(text: str) -> tuple[str, str] | None:
    # Cached: every request asks, and a poller sends the same few URLs again and again.
    parts = urlsplit(text)
    if parts.username is None:
        return None
    return unquote(parts.username), unquote(parts.password or "")


def split_url(url: str) -> tuple[str | None, str]:
    """``(unix socket path or None, http URL to request)`` for a target URL.

    ``unix:/run/app.sock`` -> ``("/run/app.sock", "http://localhost/")``;
    ``unix:/run/app.sock:/memdash`` -> ``("/run/app.sock", "http://localhost/memdash")``.
    """
    if not url.startswith("unix:"):
        return None, url
    rest = url[len("unix:"):]
    if rest.startswith("//"):
        rest = rest[2:]
    sock, sep, base = rest.partition(":/")
    return sock, "http://localhost/" + (base if sep else "")


# --------------------------------------------------------------------------- answers


def _json_int(text: str) -> int | None:
    # Past 40 digits a number is garbage, and past 4300 int() refuses it: the
    # field is dropped, not the document.
    return int(text) if len(text) <= 40 else None


def _json_constant(_name: str) -> None:
    return None  # NaN, Infinity, -Infinity: not numbers JSON allows; the field is dropped


#: Every digit as ``9``: a body so translated holds ``9`` * 40 where the body holds
#: a run of 40 digits or more (one C pass, ~15x cheaper than a regex search).
_DIGITS_AS_9 = bytes.maketrans(b"012345678", b"999999999")
_LONG_RUN = b"9" * 40


_DECODER = json.JSONDecoder(parse_constant=_json_constant)


def loads(body: bytes | str) -> Any:
    """JSON as services send it: ``NaN``/``Infinity`` and absurdly long integers read as ``null``.

    Raises ``ValueError`` or ``RecursionError`` for what is not JSON.
    """
    if isinstance(body, bytes) and b"\x00" not in body and body.translate(_DIGITS_AS_9).find(_LONG_RUN) < 0:
        # No integer is long enough to drop: the C scanner reads every int itself,
        # without a Python call per number (200 targets a second send thousands).
        # (A NUL byte: UTF-16/32, where digits are not adjacent bytes; the guarded path.)
        # One decoder for every answer: json.loads(body, parse_constant=...) builds
        # a new JSONDecoder per call. Decoding as json.loads does for bytes.
        # A first byte below 0x80 in a body without NUL starts no BOM: detect_encoding
        # would say UTF-8 (a Python call per answer saved).
        encoding = "utf-8" if body[:1] < b"\x80" else json.detect_encoding(body)
        return _DECODER.decode(body.decode(encoding, "surrogatepass"))
    return json.loads(body, parse_int=_json_int, parse_constant=_json_constant)


class HeaderLookup(Protocol):
    def get(self, name: str, default: str | None = None) -> str | None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """A whole (capped) response: ``status``, ``reason``, ``headers``, ``body`` bytes."""

    status: int
    reason: str
    headers: HeaderLookup  # case-insensitive ``get``
    body: bytes
    #: The body stopped at the target's ``max_body``: what came before it is here.
    truncated: bool = False

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type")

    def text(self) -> str:
        """The body decoded with its declared charset (UTF-8 by default), never failing."""
        charset = "utf-8"
        for part in (self.content_type or "").split(";")[1:]:
            key, _, value = part.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON. Raises :class:`TargetError` ``"invalid JSON"``."""
        try:
            return loads(self.body)
        except (ValueError, RecursionError):
            raise TargetError("invalid JSON") from None

    def json_or_none(self) -> Any:
        """The body as JSON; ``None`` when empty or not JSON (an error page)."""
        try:
            return loads(self.body) if self.body else None
        except (ValueError, RecursionError):
            return None


# --------------------------------------------------------------------------- transports


if sys.version_info >= (3, 11):

    async def within(awaitable: Awaitable[T], seconds: float) -> T:
        """``await awaitable`` under an overall deadline (``TimeoutError`` past it)."""
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - 3.10

    async def within(awaitable: Awaitable[T], seconds: float) -> T:
        return await asyncio.wait_for(awaitable, seconds)


#: ``async with deadline(seconds):`` the block under an overall deadline
#: (``TimeoutError`` past it): :func:`within` without a coroutine of its own,
#: for the poll path (every await in a poll resumes through each frame above it).
deadline = http11.deadline


class Transport(Protocol):
    """Sends one request (no redirects followed) and returns the whole, capped answer.

    Failures raise what :func:`~memdash.sources.errors.describe_error` puts in
    words; a body past :data:`MAX_BODY_BYTES` is refused while reading.
    """

    async def send(self, method: str, url: Url, headers: dict[str, str], timeout: float | None) -> Response: ...

    async def aclose(self) -> None: ...


def keepalive_seconds(target: TargetConfig) -> float:
    """How long an idle connection is kept: across at least one poll interval."""
    return max(5.0, target.interval * 2 + 1)


class PlainTransport:
    """Plain ``http://`` and Unix sockets through :mod:`memdash.sources.http11`."""

    def __init__(self, target: TargetConfig, uds: str | None) -> None:
        self.client = http11.Client(
            uds=uds,
            max_body=target.max_body or MAX_BODY_BYTES,
            partial_body=True,  # readers decide: a Prometheus page is read up to the cap
            # Keep the connection across polls: reconnecting costs more than the poll.
            keepalive_expiry=keepalive_seconds(target),
            max_idle=2,  # a poll and a cleanup may overlap
        )

    async def send(self, method: str, url: Url, headers: dict[str, str], timeout: float | None) -> Response:
        """``timeout`` bounds this request; ``None``: the caller's deadline alone does."""
        text = url.text
        userinfo = url.userinfo()
        if userinfo is not None:  # as httpx does: userinfo is Basic auth, never in the request line
            token = base64.b64encode(f"{userinfo[0]}:{userinfo[1]}".encode()).decode("ascii")
            headers = {**headers, "Authorization": "Basic " + token}
            text = url.without_userinfo()
        r = await self.client.request(method, text, headers, timeout=timeout)
        return Response(r.status, r.reason, r.headers, r.body, r.truncated)

    async def aclose(self) -> None:
        await self.client.aclose()


class SslContexts:
    """SSL contexts shared by all targets: loading the CA bundle costs milliseconds
    and memory, so 200 targets share one context per (verify, ca)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[bool, str | None], ssl.SSLContext] = {}

    def get(self, verify: bool, ca: str | None) -> ssl.SSLContext:
        key = (verify, ca if verify else None)
        ctx = self._cache.get(key)
        if ctx is None:
            if not verify:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            elif ca:
                try:
                    ctx = ssl.create_default_context(cafile=ca)
                except (OSError, ssl.SSLError) as exc:
                    raise TargetError(f"cannot read the CA file {ca}: {getattr(exc, 'strerror', None) or exc}") from None
            else:
                import certifi

                ctx = ssl.create_default_context(cafile=certifi.where())
            self._cache[key] = ctx
        return ctx


class TlsTransport:
    """``https://``: httpx, for its certificate verification and TLS handling.

    At most two connections (a poll and a cleanup may overlap), kept alive
    between polls; ``timeout`` is httpx's per-operation timeout (the caller
    puts the overall deadline around the request). httpx is imported here,
    when the first ``https://`` request is made.
    """

    def __init__(self, target: TargetConfig, ssl_contexts: SslContexts) -> None:
        import httpx

        transport = httpx.AsyncHTTPTransport(
            verify=ssl_contexts.get(target.verify, target.ca),
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=2,
                                keepalive_expiry=keepalive_seconds(target)),
            retries=0,
            trust_env=False,
        )
        # trust_env=False: no proxy or .netrc credentials from the environment.
        self.max_body = target.max_body or MAX_BODY_BYTES
        self.client = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(target.timeout), follow_redirects=False, trust_env=False
        )

    async def send(self, method: str, url: Url, headers: dict[str, str], timeout: float | None) -> Response:
        request = self.client.build_request(method, url.text, headers=headers)
        response = await self.client.send(request, stream=True)
        try:
            if response.status_code in REDIRECTS and response.headers.get("location"):
                body, truncated = b"", False  # not read: the connection is dropped rather than drained
            else:
                body, truncated = await _read_capped(response, self.max_body)
            return Response(response.status_code, response.reason_phrase, response.headers, body, truncated)
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()


async def _read_capped(response: httpx.Response, cap: int = MAX_BODY_BYTES) -> tuple[bytes, bool]:
    """The body up to ``cap`` bytes, and whether it went on past it (the rest is
    never read: closing an unfinished response drops the connection)."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > cap:
            chunks.append(chunk[: len(chunk) - (total - cap)])
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False
