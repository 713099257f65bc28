"""Targets: services memdash polls over HTTP(S) or a Unix socket, and their cleanups.

A target is a :class:`~memdash.config.TargetConfig`; its ``kind`` says how to read
the answer:

==============  ============================================================
``probe``       memdash.probe's JSON (docs/probe-wire.md); every cleanup action
``prometheus``  any ``/metrics`` page; read-only
``json``        any JSON memory endpoint; fields discovered or configured,
                actions mapped to the service's own routes
``auto``        decided from the first good answer, then remembered
==============  ============================================================

Each target has one :class:`Endpoint` with one kept-alive connection: plain
``http://`` and ``unix:`` targets go through memdash's own small HTTP/1.1 client
(:mod:`memdash.sources.http11`; httpx cost 150-300 ms of CPU per 200-target cycle,
tech notes section 10), ``https://`` through an httpx client, for its TLS
verification. Both sit behind :class:`_Transport`. Every request runs under the
target's ``timeout`` as an overall deadline, so a server that trickles bytes
cannot hold a poll longer; bodies are read up to 1 MB and refused past that;
redirects are followed by hand (at most :data:`MAX_REDIRECTS`) and the token is
sent only to the target's own origin (scheme, host and port). Tokens come from
:meth:`TargetConfig.token <memdash.config.TargetConfig.token>` at each request
and are scrubbed from every error string and log record.

A failed poll yields a sample with ``ok=False``, ``error`` in words and the last
good figures; the target's next poll backs off (``interval * 2**failures``, up
to :data:`BACKOFF_CAP_SECONDS`) and the backoff resets on the next success.

Usage::

    poller = TargetPoller(config.targets, config.thresholds)
    samples = await poller.poll_once()                 # all targets, once
    await poller.run(on_sample, stop_event)            # each on its own schedule
    result = await poller.cleanup("api", "gc")         # a CleanupResult, in words
    await poller.aclose()
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import errno
import json
import logging
import math
import re
import socket
import ssl
import sys
import time
from urllib.parse import unquote
from typing import Any, Awaitable, Callable, Iterable, Mapping, Protocol, Sequence, TypeVar

import httpx

from memdash.config import ConfigError, TargetConfig, redact_url
from memdash.levels import DEFAULT_THRESHOLDS, Thresholds
from memdash.model import ACTIONS, CleanupResult, TargetSample
from memdash.sources import http11
from memdash.sources.jsonmap import cleanup_figures, number, sample_from_json
from memdash.sources.probe_wire import is_probe_document, result_from_receipt, sample_from_probe
from memdash.sources.prom import PrometheusParseError, looks_like_prometheus, sample_from_prometheus

log = logging.getLogger(__name__)

#: Largest response body read, in bytes; past it the connection is dropped.
MAX_BODY_BYTES = 1024 * 1024
#: Redirects followed per request.
MAX_REDIRECTS = 5
#: Longest wait between polls of a failing target, in seconds.
BACKOFF_CAP_SECONDS = 60.0
#: Requests in flight at once, over all targets.
DEFAULT_MAX_CONCURRENCY = 32
#: A cleanup may run longer than a poll (a full GC of a big heap): its deadline
#: is the target's timeout, but at least this many seconds.
CLEANUP_TIMEOUT_FLOOR = 10.0

# No OpenMetrics here: prometheus_client would answer with a body the 0.0.4
# parser misreads (tech notes section 6). "identity": no gzip bomb behind the cap.
_REQUEST_HEADERS = {
    "Accept": "application/json, text/plain;q=0.9, */*;q=0.5",
    "Accept-Encoding": "identity",
    "User-Agent": "memdash",
}
_REDIRECTS = (301, 302, 303, 307, 308)

T = TypeVar("T")


class TargetError(Exception):
    """A failed request or unreadable answer; ``str()`` says what, in words, without secrets."""


# --------------------------------------------------------------------------- secrets


_BEARER = re.compile(r"(?i)((?:bearer|basic)\s+)\S+")

#: Longest error shown, in characters; cut only after secrets are scrubbed.
MAX_ERROR_CHARS = 200


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret, any ``Bearer ...`` value and URL userinfo replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _BEARER.sub(r"\1***", text)
    return redact_url(text)


def words(text: str, secrets: Iterable[str | None] = (), limit: int = MAX_ERROR_CHARS) -> str:
    """An error for people: scrubbed of ``secrets`` first, then cut to ``limit`` characters.

    In that order: cut first, a secret straddling the cut would survive in part.
    """
    text = scrub(text, secrets)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def scrub_doc(doc: Any, secrets: Iterable[str | None] = ()) -> Any:
    """A copy of a JSON document with :func:`scrub` applied to every string in it
    (a server may echo the request's headers back in its error)."""
    secrets = tuple(secrets)
    if isinstance(doc, str):
        return scrub(doc, secrets)
    if isinstance(doc, Mapping):
        return {scrub(str(k), secrets): scrub_doc(v, secrets) for k, v in doc.items()}
    if isinstance(doc, list):
        return [scrub_doc(v, secrets) for v in doc]
    return doc


def _token(target: TargetConfig) -> str | None:
    """The target's token, or ``None`` where it cannot be read (the request then fails in words)."""
    try:
        return target.token()
    except ConfigError:
        return None


def url_password(url: str) -> str | None:
    """The password in ``url``'s userinfo (``http://me:pw@host/``), if any: a secret like the token."""
    head = url.split("//", 1)[-1].split("/", 1)[0]
    if "@" not in head:
        return None
    userinfo = head.rsplit("@", 1)[0]
    _, colon, password = userinfo.partition(":")
    return (password if colon else userinfo) or None


def _secrets(target: TargetConfig) -> tuple[str, ...]:
    """What must never be shown for ``target``: its token, the password in its URL,
    and that userinfo as it travels (Basic auth's base64)."""
    password = url_password(target.url)
    basic = None
    if password:
        head = target.url.split("//", 1)[-1].split("/", 1)[0]
        basic = base64.b64encode(unquote(head.rsplit("@", 1)[0]).encode()).decode("ascii")
    return tuple(s for s in (_token(target), password, password and unquote(password), basic) if s)


def scrub_sample(sample: TargetSample, secrets: tuple[str, ...]) -> TargetSample:
    """``sample`` with ``secrets`` replaced by ``***`` in every string a service chose:
    cache and device names, metric names, the error."""
    if not secrets:
        return sample

    def clean(text: str) -> str:
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def dirty(text: str | None) -> bool:
        return text is not None and any(secret in text for secret in secrets)

    changes: dict[str, Any] = {}
    if dirty(sample.error):
        changes["error"] = clean(sample.error)  # type: ignore[arg-type]
    if any(dirty(c.name) for c in sample.caches):
        changes["caches"] = tuple(dataclasses.replace(c, name=clean(c.name)) for c in sample.caches)
    if sample.gpu and any(dirty(d.name) for d in sample.gpu):
        changes["gpu"] = tuple(dataclasses.replace(d, name=clean(d.name)) if d.name else d for d in sample.gpu)
    if any(dirty(k) for k in sample.metrics):
        changes["metrics"] = {clean(k): v for k, v in sample.metrics.items()}
    return dataclasses.replace(sample, **changes) if changes else sample


# --------------------------------------------------------------------------- HTTP


@dataclasses.dataclass(frozen=True, slots=True)
class Response:
    """A whole (capped) response: ``status``, ``reason``, ``headers``, ``body`` bytes."""

    status: int
    reason: str
    headers: httpx.Headers | http11.Headers  # both: case-insensitive ``get``
    body: bytes

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


def _json_int(text: str) -> int | None:
    # Past 40 digits a number is garbage, and past 4300 int() refuses it: the
    # field is dropped, not the document.
    return int(text) if len(text) <= 40 else None


def _json_constant(_name: str) -> None:
    return None  # NaN, Infinity, -Infinity: not numbers JSON allows; the field is dropped


def loads(body: bytes | str) -> Any:
    """JSON as services send it: ``NaN``/``Infinity`` and absurdly long integers read as ``null``."""
    return json.loads(body, parse_int=_json_int, parse_constant=_json_constant)


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


class _SslContexts:
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


class _Transport(Protocol):
    """Sends one request (no redirects followed) and returns the whole, capped answer.

    Redirects are returned as they are: :class:`Endpoint` follows them, since it
    knows where the token may go. Failures raise what :func:`describe_error`
    puts in words; a body past :data:`MAX_BODY_BYTES` is refused while reading.
    """

    async def send(self, method: str, url: httpx.URL, headers: dict[str, str], timeout: float) -> Response: ...

    async def aclose(self) -> None: ...


class _Http11Transport:
    """Plain ``http://`` and Unix sockets: memdash's own HTTP/1.1 client
    (:mod:`memdash.sources.http11`), a fraction of httpx's CPU per poll."""

    def __init__(self, target: TargetConfig, uds: str | None) -> None:
        self.client = http11.Client(
            uds=uds,
            max_body=MAX_BODY_BYTES,
            # Keep the connection across polls: reconnecting costs more than the poll.
            keepalive_expiry=max(5.0, target.interval * 2 + 1),
            max_idle=2,  # a poll and a cleanup may overlap
        )

    async def send(self, method: str, url: httpx.URL, headers: dict[str, str], timeout: float) -> Response:
        if url.userinfo:  # as httpx does: userinfo in the URL is Basic auth (and never in the request line)
            userinfo = f"{url.username}:{url.password}".encode()
            headers = {**headers, "Authorization": "Basic " + base64.b64encode(userinfo).decode("ascii")}
            url = url.copy_with(userinfo=b"")
        r = await self.client.request(method, str(url), headers, timeout=timeout)
        return Response(r.status, r.reason, r.headers, r.body)

    async def aclose(self) -> None:
        await self.client.aclose()


class _HttpxTransport:
    """``https://``: httpx, for its certificate verification and TLS handling.

    At most two connections (a poll and a cleanup may overlap), kept alive
    between polls; ``timeout`` is httpx's per-operation timeout (the caller
    puts the overall deadline around the request).
    """

    def __init__(self, target: TargetConfig, ssl_contexts: _SslContexts) -> None:
        transport = httpx.AsyncHTTPTransport(
            verify=ssl_contexts.get(target.verify, target.ca),
            limits=httpx.Limits(
                max_connections=2, max_keepalive_connections=2, keepalive_expiry=max(5.0, target.interval * 2 + 1)
            ),
            retries=0,
            trust_env=False,
        )
        # trust_env=False: no proxy or .netrc credentials from the environment.
        self.client = httpx.AsyncClient(
            transport=transport, timeout=httpx.Timeout(target.timeout), follow_redirects=False, trust_env=False
        )

    async def send(self, method: str, url: httpx.URL, headers: dict[str, str], timeout: float) -> Response:
        request = self.client.build_request(method, url, headers=headers)
        response = await self.client.send(request, stream=True)
        try:
            if response.status_code in _REDIRECTS and response.headers.get("location"):
                body = b""  # not read: the connection is dropped rather than drained
            else:
                body = await _read_capped(response)
            return Response(response.status_code, response.reason_phrase, response.headers, body)
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()


class Endpoint:
    """One target's connections: plain HTTP and Unix sockets through :mod:`~memdash.sources.http11`
    (one kept-alive connection, reused across polls), ``https://`` through httpx.

    A redirect may cross from one to the other (``http://`` -> ``https://``);
    each transport is made when first needed.
    """

    def __init__(self, target: TargetConfig, ssl_contexts: _SslContexts) -> None:
        self.target = target
        uds, base = split_url(target.url)
        self.uds = uds
        self.url = httpx.URL(base)
        self.origin = self.url.copy_with(path="/", query=None, fragment=None)
        self._ssl = ssl_contexts
        self._plain: _Transport | None = None
        self._tls: _Transport | None = None

    def _transport(self, url: httpx.URL) -> _Transport:
        if self.uds is not None or url.scheme == "http":
            if self._plain is None:
                self._plain = _Http11Transport(self.target, self.uds)
            return self._plain
        if url.scheme == "https":
            if self._tls is None:
                self._tls = _HttpxTransport(self.target, self._ssl)
            return self._tls
        raise TargetError("invalid URL")

    async def request(
        self,
        method: str,
        url: httpx.URL | None = None,
        *,
        params: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send one request, following redirects by hand; read at most :data:`MAX_BODY_BYTES`.

        The token goes only to the target's own origin: a redirect to another
        scheme, host or port drops ``Authorization``. Over a Unix socket only
        same-origin redirects are followed (any host would reach the same socket).
        ``timeout`` (default: the target's) is each hop's deadline; callers
        bound the whole call too.

        Raises:
            TargetError: too many redirects, an unreadable token file.
            http11.HTTPError, httpx.HTTPError, TimeoutError: the transport failed
                (described by :func:`describe_error`).
        """
        try:
            token = self.target.token()
        except ConfigError as exc:
            raise TargetError(exc.message) from None
        url = self.url if url is None else url
        if params:
            url = url.copy_merge_params(params)
        timeout = self.target.timeout if timeout is None else timeout
        home = _origin(self.url)
        for _ in range(MAX_REDIRECTS + 1):
            headers = dict(_REQUEST_HEADERS)
            if token and _origin(url) == home:
                headers["Authorization"] = f"Bearer {token}"
            response = await self._transport(url).send(method, url, headers, timeout)
            location = response.headers.get("location")
            if response.status in _REDIRECTS and location:
                url = url.join(location)  # the Location carries its own query
                if self.uds and _origin(url) != home:
                    raise TargetError(f"redirected to another host ({url.host}); not followed over a Unix socket")
                if response.status == 303 or (response.status in (301, 302) and method == "POST"):
                    method = "GET"
                continue
            return response
        raise TargetError(f"too many redirects (more than {MAX_REDIRECTS})")

    async def aclose(self) -> None:
        for transport in (self._plain, self._tls):
            if transport is not None:
                await transport.aclose()
        self._plain = self._tls = None


async def _read_capped(response: httpx.Response) -> bytes:
    """The body, refused as soon as it is known to exceed :data:`MAX_BODY_BYTES`."""
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise TargetError("response larger than 1 MB")
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > MAX_BODY_BYTES:
            # Closing an unfinished response drops the connection: the rest is never read.
            raise TargetError("response larger than 1 MB")
        chunks.append(chunk)
    return b"".join(chunks)


if sys.version_info >= (3, 11):

    async def _within(awaitable: Awaitable[T], seconds: float) -> T:
        """``await awaitable`` under an overall deadline (``TimeoutError`` past it)."""
        async with asyncio.timeout(seconds):
            return await awaitable

else:  # pragma: no cover - 3.10

    async def _within(awaitable: Awaitable[T], seconds: float) -> T:
        return await asyncio.wait_for(awaitable, seconds)


def describe_error(exc: BaseException, timeout: float) -> str:
    """What went wrong, in words: ``connection refused``, ``timed out after 2 s``..."""
    if isinstance(exc, TargetError):
        return str(exc)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, httpx.TimeoutException)):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, http11.ConnectError) and exc.__cause__ is not None:
        exc = exc.__cause__  # the OSError: refused, no such socket, host not found...
    if isinstance(exc, http11.HTTPError):
        return str(exc)  # already in words: "connection reset", "invalid response: bad status line"
    if isinstance(exc, (httpx.ConnectError, OSError)):
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
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the server closed the connection or sent a malformed response"
    if isinstance(exc, (httpx.ReadError, httpx.WriteError)):
        return "connection reset"
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return "invalid URL"
    if isinstance(exc, PrometheusParseError):
        return str(exc)
    text = str(exc).splitlines()[0] if str(exc) else ""  # cut by words(), after scrubbing
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _http_status_error(response: Response) -> TargetError:
    words = f"HTTP {response.status} {response.reason}".strip()
    if response.status == 401:
        words += ": the token is missing or wrong (set token_env or token_file)"
    return TargetError(words)


# --------------------------------------------------------------------------- poller


@dataclasses.dataclass(eq=False)
class _State:
    """What the poller knows of one target."""

    target: TargetConfig
    kind: str
    url: str  # target.url as shown: no userinfo, no token
    endpoint: Endpoint | None = None
    last_good: TargetSample | None = None
    failures: int = 0

    @property
    def delay(self) -> float:
        """Seconds until the next poll: the interval, doubled per consecutive failure."""
        interval = self.target.interval
        if not self.failures:
            return interval
        return min(interval * 2.0 ** min(self.failures, 32), max(BACKOFF_CAP_SECONDS, interval))


def supported_actions(sample: TargetSample) -> tuple[str, ...]:
    """The cleanup actions ``sample``'s target accepts, in :data:`~memdash.model.ACTIONS` order.

    Prometheus targets have none; a read-only target's samples list none.
    """
    if sample.kind == "prometheus":
        return ()
    return tuple(a for a in ACTIONS if a in sample.actions)


class TargetPoller:
    """Polls targets concurrently and runs their cleanups.

    Args:
        targets: the targets; names must be unique (later duplicates are ignored).
        thresholds: levels for targets without their own ``thresholds``.
        max_concurrency: requests in flight at once over all targets. A hung
            target holds one slot for at most its ``timeout``.
        read_only: refuse every cleanup (the config's global ``read_only``).
        clock: epoch seconds, for sample times (tests may pass their own).

    Use one poller from one event loop; :meth:`aclose` (or ``async with``)
    closes the connections.
    """

    def __init__(
        self,
        targets: Sequence[TargetConfig] = (),
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.thresholds = thresholds
        self.read_only = read_only
        self._clock = clock
        self._max_concurrency = max(1, max_concurrency)
        self._semaphore: asyncio.Semaphore | None = None
        self._ssl = _SslContexts()
        self._states: dict[str, _State] = {}
        self._on_sample: Callable[[TargetSample], None] | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.add_targets(targets)

    # ------------------------------------------------------------- targets

    def add_targets(self, targets: Iterable[TargetConfig]) -> tuple[str, ...]:
        """Add targets (e.g. discovered probes); returns the names added.

        A name already present is skipped. While :meth:`run` is running, new
        targets start polling at once.
        """
        added = []
        for target in targets:
            if target.name in self._states:
                continue
            state = _State(target=target, kind=target.kind, url=scrub(target.url, _secrets(target)))
            self._states[target.name] = state
            added.append(target.name)
            if self._on_sample is not None:
                self._start(state)
        return tuple(added)

    @property
    def targets(self) -> tuple[TargetConfig, ...]:
        """The targets, in the order they were added."""
        return tuple(s.target for s in self._states.values())

    def kind(self, name: str) -> str:
        """The target's kind: as configured, or as decided for ``auto`` (``"auto"`` until then)."""
        return self._states[name].kind

    def next_delay(self, name: str) -> float:
        """Seconds :meth:`run` waits before polling ``name`` again (backoff included)."""
        return self._states[name].delay

    def failures(self, name: str) -> int:
        """Consecutive failed polls of ``name`` (0 after a success)."""
        return self._states[name].failures

    # ------------------------------------------------------------- polling

    async def poll_once(self) -> tuple[TargetSample, ...]:
        """Poll every target once, concurrently; samples in target order.

        Each poll is bounded by its target's ``timeout``, so the whole call takes
        about the largest timeout (more only when more targets hang than
        ``max_concurrency``).
        """
        return tuple(await asyncio.gather(*(self._poll(s) for s in list(self._states.values()))))

    async def poll(self, name: str) -> TargetSample:
        """Poll one target now. Raises ``KeyError`` for an unknown name."""
        return await self._poll(self._states[name])

    async def run(self, on_sample: Callable[[TargetSample], None], stop: asyncio.Event) -> None:
        """Poll every target on its own schedule until ``stop`` is set.

        Each target is polled every ``interval`` seconds (``interval * 2**n`` after
        ``n`` failures, capped) in its own task, so a hung target delays no
        other. ``on_sample`` is called from the event loop with every sample; an
        exception it raises is logged and polling goes on.
        """
        if self._on_sample is not None:
            raise RuntimeError("TargetPoller.run is already running")
        self._on_sample = on_sample
        try:
            for state in list(self._states.values()):
                self._start(state)
            await stop.wait()
        finally:
            self._on_sample = None
            tasks = list(self._tasks.values())
            self._tasks.clear()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, state: _State) -> None:
        name = state.target.name
        self._tasks[name] = asyncio.get_running_loop().create_task(self._loop(state), name=f"memdash poll {name}")

    async def _loop(self, state: _State) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            sample = await self._poll(state)
            on_sample = self._on_sample
            if on_sample is not None:
                try:
                    on_sample(sample)
                except Exception:  # a broken callback must not stop polling
                    log.exception("on_sample failed for target %s", state.target.name)
            # Fixed cadence from the previous due time: no drift from poll latency,
            # and no burst of catch-up polls after a slow one.
            due = max(due + state.delay, loop.time())
            await asyncio.sleep(due - loop.time())

    def _sem(self) -> asyncio.Semaphore:
        if self._semaphore is None:  # created here so it binds to the running loop
            self._semaphore = asyncio.Semaphore(self._max_concurrency)
        return self._semaphore

    def _endpoint(self, state: _State) -> Endpoint:
        if state.endpoint is None:
            state.endpoint = Endpoint(state.target, self._ssl)
        return state.endpoint

    async def _poll(self, state: _State) -> TargetSample:
        target = state.target
        async with self._sem():
            now = self._clock()
            try:
                sample = await _within(self._read(state, now), target.timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure becomes a sample, in words
                return self._failed(state, now, describe_error(exc, target.timeout))
        if state.failures:
            log.info("target %s is answering again", target.name)
        state.failures = 0
        state.last_good = sample
        return sample

    async def _read(self, state: _State, now: float) -> TargetSample:
        response = await self._endpoint(state).request("GET")
        if response.status >= 400:
            raise _http_status_error(response)
        target = state.target
        secrets = _secrets(target)
        # A service may echo the request back: scrub the token from the body
        # before anything reads it, then from every string the sample carries
        # (covers escaped forms, e.g. JSON's "\/" or "\u0041").
        body = response.body
        for secret in secrets:
            raw_secret = secret.encode("utf-8", "replace")
            if raw_secret in body:
                body = body.replace(raw_secret, b"***")
        if body is not response.body:
            response = dataclasses.replace(response, body=body)
        try:
            sample = self._parse(state, response, now)
        except (TargetError, PrometheusParseError):
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
            # A reader bug or an answer no reader foresaw: that target fails, in words.
            log.debug("target %s: unreadable answer", target.name, exc_info=True)
            raise TargetError(f"unreadable answer ({type(exc).__name__}: {exc})") from None
        return scrub_sample(sample, secrets)

    def _parse(self, state: _State, response: Response, now: float) -> TargetSample:
        """The sample in ``response``, by the target's kind (``auto``: decided here, then kept)."""
        target = state.target
        secrets = _secrets(target)
        kind = state.kind
        url = state.url
        if kind == "prometheus" or (kind == "auto" and looks_like_prometheus(response.content_type, response.body)):
            raw = sample_from_prometheus(response.text(), response.content_type, name=target.name, url=url, now=now)
            kind = "prometheus"
        else:
            doc = response.json()
            if secrets and state.kind != "prometheus":
                doc = scrub_doc(doc, secrets)
            if kind == "auto":
                kind = "probe" if is_probe_document(doc) else "json"
            if kind == "probe":
                if not is_probe_document(doc):
                    raise TargetError('not a memdash.probe document (set kind = "json" for other JSON)')
                raw = sample_from_probe(doc, name=target.name, url=url, now=now)
            else:
                raw = sample_from_json(doc, name=target.name, url=url, now=now, fields=target.fields, actions=target.actions)
        state.kind = kind  # auto: remembered from the first good answer
        return self._finish(raw, target)

    def _finish(self, sample: TargetSample, target: TargetConfig) -> TargetSample:
        """Percent against the limit that applies, the level, and the actions allowed."""
        limit = sample.limit_bytes or target.limit_bytes
        percent = sample.percent
        # A percent the endpoint gives against its own limit stands; otherwise
        # RSS against the limit that applies (the config's limit_mb, say).
        if limit and sample.rss_bytes is not None and (percent is None or sample.limit_bytes is None):
            percent = 100.0 * sample.rss_bytes / limit
        thresholds = target.thresholds or self.thresholds
        actions = () if (self.read_only or target.read_only) else sample.actions
        return dataclasses.replace(
            sample, percent=percent, limit_bytes=limit, level=thresholds.classify(percent), actions=actions
        )

    def _failed(self, state: _State, now: float, error: str) -> TargetSample:
        target = state.target
        error = words(error, _secrets(target))
        state.failures += 1
        logger = log.warning if state.failures == 1 else log.debug
        logger("target %s: %s", target.name, error)
        last = state.last_good
        if last is not None:
            return dataclasses.replace(last, ok=False, error=error, time=now, last_ok=last.time)
        return TargetSample(name=target.name, url=state.url, kind=state.kind, ok=False, error=error, time=now)

    # ------------------------------------------------------------- cleanup

    async def cleanup(self, name: str, action: str, **options: Any) -> CleanupResult:
        """Run cleanup ``action`` (one of :data:`~memdash.model.ACTIONS`) on target ``name``.

        ``options`` go to a probe as query parameters (``generation=2``,
        ``name="lookup_user"``, ``worker=4242``); json targets ignore them.
        Never raises for a target's answer: refusals and failures come back as
        ``ok=False`` with ``error`` in words (401: the token; 429: when to try
        again, also in ``retry_after_seconds``; 404/409: not supported).

        A json target's before/after figures are the service's own where its
        answer names them, else memdash polls the target just before and after.
        """
        state = self._states.get(name)
        if state is None:
            return CleanupResult(target=name, action=action, ok=False, error=f"no target named {name!r}")
        target = state.target

        def refuse(error: str, **extra: Any) -> CleanupResult:
            return CleanupResult(target=name, action=action, ok=False, error=words(error, _secrets(target)), **extra)

        if action not in ACTIONS:
            return refuse(f"unknown action {action!r} (one of: {', '.join(ACTIONS)})")
        if self.read_only or target.read_only:
            return refuse("read-only: cleanups are disabled")
        if state.kind == "auto":
            first = await self._poll(state)
            if state.kind == "auto":
                return refuse(f"cannot reach the target to tell its kind: {first.error}")
        if state.kind == "prometheus":
            return refuse(f"this target does not support {action}")
        timeout = max(target.timeout, CLEANUP_TIMEOUT_FLOOR)
        try:
            if state.kind == "probe":
                return await _within(self._probe_cleanup(state, action, options), timeout)
            return await self._json_cleanup(state, action, timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return refuse(describe_error(exc, timeout))

    async def _probe_cleanup(self, state: _State, action: str, options: Mapping[str, Any]) -> CleanupResult:
        endpoint = self._endpoint(state)
        url = endpoint.url.copy_with(path=endpoint.url.path.rstrip("/") + f"/cleanup/{action}")
        params = {k: str(v) for k, v in options.items() if v is not None}
        timeout = max(state.target.timeout, CLEANUP_TIMEOUT_FLOOR)
        response = await endpoint.request("POST", url, params=params or None, timeout=timeout)
        doc = _json_or_none(response)
        if response.status >= 400:
            return self._refusal(state, action, response, doc)
        if not isinstance(doc, Mapping):
            return CleanupResult(target=state.target.name, action=action, ok=False, status=response.status,
                                 error="the probe's receipt is not JSON")
        return result_from_receipt(
            scrub_doc(doc, _secrets(state.target)), target=state.target.name, action=action, status=response.status
        )

    async def _json_cleanup(self, state: _State, action: str, timeout: float) -> CleanupResult:
        target = state.target
        route = target.actions.get(action)
        if route is None:
            return CleanupResult(target=target.name, action=action, ok=False,
                                 error=f"this target does not support {action}")
        method, _, path = route.partition(" ")
        endpoint = self._endpoint(state)
        before = await self._poll(state)
        url = endpoint.origin.join(path.strip())
        response = await _within(endpoint.request(method.upper(), url, timeout=timeout), timeout)
        doc = _json_or_none(response)
        if response.status >= 400:
            return self._refusal(state, action, response, doc, route=route)
        doc = scrub_doc(doc, _secrets(target))
        figures = cleanup_figures(doc) if doc is not None else {}
        after = await self._poll(state)
        return _measured(target.name, action, response.status, figures, before, after, doc)

    def _refusal(
        self, state: _State, action: str, response: Response, doc: Any, *, route: str | None = None
    ) -> CleanupResult:
        """A refused cleanup, explained in words."""
        status = response.status
        body = scrub_doc(doc, _secrets(state.target)) if isinstance(doc, Mapping) else {}
        retry = None
        if status == 401:
            error = "refused: the token is missing or wrong (set token_env or token_file)"
        elif status == 403:
            detail = body.get("error")
            error = f"refused: {detail}" if isinstance(detail, str) and detail else "refused: forbidden (HTTP 403)"
        elif status == 429:
            retry = number(body.get("retry_after_seconds"))
            if retry is None:
                retry = number(_float_or_none(response.headers.get("retry-after")))
            error = f"refused: rate limited, try again in {math.ceil(retry)} s" if retry is not None \
                else "refused: rate limited, try again later"
        elif status in (404, 405, 409, 501):
            error = f"this target does not support {action}"
            if route:
                error += f" ({route} answered HTTP {status})"
        else:
            error = f"HTTP {status} {response.reason}".strip()
            detail = body.get("error")
            if isinstance(detail, str) and detail:
                error += f": {detail}"
        return CleanupResult(
            target=state.target.name, action=action, ok=False, status=status,
            error=words(error, _secrets(state.target)), retry_after_seconds=retry,
            raw=dict(body),
        )

    # ------------------------------------------------------------- lifetime

    async def aclose(self) -> None:
        """Close every target's connections."""
        for state in self._states.values():
            if state.endpoint is not None:
                await state.endpoint.aclose()
                state.endpoint = None

    async def __aenter__(self) -> TargetPoller:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _json_or_none(response: Response) -> Any:
    try:
        return loads(response.body) if response.body else None
    except (ValueError, RecursionError):
        return None


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _measured(
    name: str, action: str, status: int, figures: Mapping[str, float],
    before: TargetSample, after: TargetSample, doc: Any,
) -> CleanupResult:
    """A json target's cleanup result: the service's own before/after where it named
    them, else memdash's polls just before and after."""
    def first_gpu(sample: TargetSample) -> int | None:
        return sample.gpu[0].reserved_bytes if sample.ok and sample.gpu else None

    def pick(key: str, fallback: int | None) -> int | None:
        return int(figures[key]) if key in figures else fallback

    rss_before = pick("rss_before", before.rss_bytes if before.ok else None)
    rss_after = pick("rss_after", after.rss_bytes if after.ok else None)
    if "rss_freed" in figures and ("rss_before" in figures) != ("rss_after" in figures):
        if "rss_before" in figures:
            rss_after = int(figures["rss_before"] - figures["rss_freed"])
        else:
            rss_before = int(figures["rss_after"] + figures["rss_freed"])
    gpu_before = pick("gpu_before", first_gpu(before))
    gpu_after = pick("gpu_after", first_gpu(after))
    reported = any(k in figures for k in ("rss_before", "rss_after", "gpu_before", "gpu_after", "percent_before"))
    notes = []
    p_before = figures.get("percent_before", before.percent if before.ok else None)
    p_after = figures.get("percent_after", after.percent if after.ok else None)
    if p_before is not None and p_after is not None:
        notes.append(f"memory {p_before:.1f} % -> {p_after:.1f} %")
    if "rss_freed" in figures:
        notes.append(f"service says it freed {figures['rss_freed'] / (1024 * 1024):.1f} MB of RAM")
    if "gpu_freed" in figures:
        notes.append(f"service says it freed {figures['gpu_freed'] / (1024 * 1024):.1f} MB of GPU memory")
    notes.append("figures as the service reported them" if reported else "measured by memdash before and after")
    return CleanupResult(
        target=name, action=action, ok=True, status=status,
        rss_before_bytes=rss_before, rss_after_bytes=rss_after,
        gpu_reserved_before_bytes=gpu_before, gpu_reserved_after_bytes=gpu_after,
        collected=None if "collected" not in figures else int(figures["collected"]),
        note="; ".join(notes),
        raw=dict(doc) if isinstance(doc, Mapping) else {},
    )
