"""The HTTP/1.1 client for plain ``http://`` and ``unix:`` targets: h11 over an asyncio protocol.

memdash polls up to a few hundred targets every second, so the per-request cost
matters: httpx costs ~87 ms of CPU per 200 kept-alive GETs, this client about
twice what a hand-written parser did (``bench/bench_http_client.py`` measures
both in one run). The HTTP/1.1 parsing and framing are h11's, a small,
sans-I/O, well-tested state machine (already installed as httpx's own
dependency); this module only does the I/O around it and what a stats poller
needs of a client. ``https://`` targets go through httpx
(:mod:`memdash.sources.transport`), for its TLS handling.

What it does
------------
- One persistent connection per origin (keep-alive), reused across requests; at
  most ``max_idle`` idle connections are kept, each for ``keepalive_expiry``
  seconds. An idle connection the server has closed, or has written to since
  its last answer (a ``408``, junk), is noticed before it is used and replaced;
  if the server closes it just as a request goes out (no byte of answer
  came back), an idempotent request (GET, HEAD...) is sent once more on a new
  connection. A POST is never sent twice.
- HTTP/1.0 servers and ``Connection: close`` answers: the connection is closed
  after the answer; bodies framed by ``Content-Length``, ``Transfer-Encoding:
  chunked`` or the end of the connection (h11 decides which).
- The body cap (``max_body``) is enforced while reading: a declared length past
  it is refused before any body byte is read, and a chunked or unframed body is
  refused as soon as it passes the cap. The connection is then aborted, so the
  rest is never read. Heads are capped at 64 KB.
- ``timeout`` is an overall deadline for the whole request (connect, send, the
  head and the body, and the one retry), so a server that trickles bytes cannot
  hold a request longer.
- Sends ``Host`` and whatever headers the caller gives (a value with a line
  break is refused without echoing it: it may be the token); no proxies, no
  ``.netrc``, no cookies, no redirects (the caller follows them: it knows where
  the token may go), no content decoding (callers send ``Accept-Encoding:
  identity``).

Errors are :class:`HTTPError` subclasses whose ``str()`` is the words to show
(``response larger than 1 MB``, ``connection reset``, ``invalid response: bad
status line``); :class:`ConnectError` keeps the ``OSError`` as ``__cause__``
(``ECONNREFUSED``, ``ENOENT``...); a missed deadline is ``TimeoutError``.

Usage::

    client = Client(uds=None, max_body=1 << 20)
    response = await client.request("GET", "http://127.0.0.1:8000/stats", {"Accept": "*/*"}, timeout=2.0)
    response.status, response.reason, response.headers.get("content-type"), response.body
    await client.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import h11

__all__ = [
    "Client",
    "ConnectError",
    "HTTPError",
    "Headers",
    "LocalProtocolError",
    "ReadError",
    "RemoteProtocolError",
    "Response",
    "ResponseTooLarge",
]

#: Largest response head (status line and headers).
MAX_HEAD_BYTES = 64 * 1024
#: Interim (1xx) answers skipped before the final one.
MAX_INTERIM_RESPONSES = 8
#: Methods safe to send again after a kept-alive connection died under them.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: Most bytes handed to the parser per read.
READ_SIZE = 65536
#: Bytes received and not yet read past which the connection stops reading the socket.
MAX_BUFFERED = 4 * READ_SIZE

_BAD_REQUEST_VALUE = re.compile(r"[^\t\x20-\x7e]")
_STR_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: h11 events are immutable: one end-of-request for every request.
_END_OF_MESSAGE = h11.EndOfMessage()
_TRANSFER_ENCODING = re.compile(rb"(?im)^transfer-encoding[ \t]*:[ \t]*([^\r\n]*)")


# --------------------------------------------------------------------------- errors


class HTTPError(Exception):
    """A failed request; ``str()`` says what, in words."""


class ConnectError(HTTPError):
    """The connection could not be made; the ``OSError`` is the ``__cause__``."""


class ReadError(HTTPError):
    """The connection broke while sending the request or reading the answer."""


class RemoteProtocolError(HTTPError):
    """The server's answer is not HTTP/1.x as it should be."""


class ResponseTooLarge(HTTPError):
    """The body is larger than the client's ``max_body``."""


class LocalProtocolError(HTTPError):
    """The request itself cannot be sent (a header value with a line break, a bad URL)."""


class _Stale(Exception):
    """Internal: the connection died before any byte of the answer came back."""

    def __init__(self, error: HTTPError) -> None:
        super().__init__(str(error))
        self.error = error


def _size_words(n: int) -> str:
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"


# --------------------------------------------------------------------------- headers and responses


class Headers(Mapping[str, str]):
    """Response headers, looked up case-insensitively; repeated headers are joined with ``", "``.

    Iterating gives the lower-case names; :meth:`raw` keeps every line as received.
    """

    __slots__ = ("_map", "_raw")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._raw = list(items)
        joined: dict[str, str] = {}
        for name, value in self._raw:
            key = name.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        self._map = joined

    @classmethod
    def _make(cls, raw: list[tuple[str, str]], joined: dict[str, str]) -> Headers:
        self = cls.__new__(cls)
        self._raw = raw
        self._map = joined
        return self

    def __getitem__(self, name: str) -> str:
        return self._map[name.lower()]

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        return self._map.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._map

    def __iter__(self) -> Iterator[str]:
        return iter(self._map)

    def __len__(self) -> int:
        return len(self._map)

    def get_list(self, name: str) -> list[str]:
        """Every value of header ``name``, one per line received."""
        key = name.lower()
        return [v for n, v in self._raw if n.lower() == key]

    def raw(self) -> list[tuple[str, str]]:
        """``(name, value)`` pairs as received, in order."""
        return list(self._raw)

    def __repr__(self) -> str:
        return f"Headers({self._raw!r})"


class Response(NamedTuple):
    """A whole response: ``status``, ``reason``, ``headers``, ``body``, and ``http_version`` (``"HTTP/1.1"``)."""

    status: int
    reason: str
    headers: Headers
    body: bytes
    http_version: str
    #: The body stopped at ``max_body`` (a client made with ``partial_body=True``).
    truncated: bool = False


class _Target(NamedTuple):
    """Where a URL sends a request: connection key, ``Host`` header and request target."""

    host: str
    port: int
    host_header: str
    path: str


@functools.lru_cache(maxsize=1024)
def _parse_url(url: str) -> _Target:
    """``http://host:port/path?query`` split for sending (cached: a poller asks for the same URLs)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise LocalProtocolError(f"invalid URL ({exc})") from None
    if parts.scheme != "http":
        raise LocalProtocolError(f"invalid URL (this client speaks http://, not {parts.scheme or 'no scheme'})")
    host = parts.hostname
    if not host:
        raise LocalProtocolError("invalid URL (no host)")
    netloc = parts.netloc.rpartition("@")[2]
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if _BAD_REQUEST_VALUE.search(path) or " " in path or _BAD_REQUEST_VALUE.search(netloc):
        raise LocalProtocolError("invalid URL (unencoded characters in it)")
    return _Target(host, port or 80, netloc, path)


# --------------------------------------------------------------------------- connections


class _Connection(asyncio.Protocol):
    """One TCP or Unix-socket connection, its h11 state, and when it went idle.

    An asyncio :class:`~asyncio.Protocol` of its own rather than a
    ``StreamReader``/``StreamWriter`` pair: a poll is one small write and one
    read of a few KB, and the streams' buffering, flow control and waiter
    bookkeeping were a tenth of a poll's CPU. What arrives is kept as the chunks
    the transport gave (no copy into a buffer); reading is paused while more than
    :data:`MAX_BUFFERED` bytes wait, as a stream would.
    """

    __slots__ = ("key", "transport", "idle_since", "h11", "_chunks", "_buffered", "_eof", "_error", "_waiter",
                 "_paused", "_closed")

    def __init__(self, key: tuple[str, int], closed: asyncio.Future[None]) -> None:
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._eof = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False
        self._closed = closed

    # ------------------------------------------------------------- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > MAX_BUFFERED and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self._eof = True
        self._wake()
        return False  # nothing more to send on a connection the server ended: close it

    def connection_lost(self, exc: Exception | None) -> None:
        self._eof = True
        if exc is not None:
            self._error = exc
        self._wake()
        if not self._closed.done():
            self._closed.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # ------------------------------------------------------------- reading

    async def read(self) -> bytes:
        """What has arrived (at most :data:`READ_SIZE` bytes), waiting for it if
        nothing has; ``b""`` at the end of the connection. Raises the error that
        broke the connection (``ConnectionResetError``...)."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._eof:
                return b""
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        if len(data) > READ_SIZE:  # callers count what a read gives (the head's cap)
            chunks.append(data[READ_SIZE:])
            data = data[:READ_SIZE]
        self._buffered = len(chunks[0]) if chunks else 0
        if self._paused and self._buffered <= MAX_BUFFERED and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def at_eof(self) -> bool:
        return self._eof and not self._chunks

    # ------------------------------------------------------------- the connection

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def usable(self) -> bool:
        """Still open, nothing unexpected from the server: no EOF, no error, no early bytes."""
        transport = self.transport
        return not (transport is None or transport.is_closing() or self._eof or self._error is not None
                    or self._chunks)

    def abort(self) -> None:
        """Drop the connection now, unsent and unread data included."""
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    async def wait_closed(self) -> None:
        await self._closed


if sys.version_info >= (3, 11):
    _deadline = asyncio.timeout
else:  # pragma: no cover - 3.10

    @contextlib.asynccontextmanager
    async def _deadline(seconds: float | None):  # type: ignore[no-untyped-def]
        """``asyncio.timeout`` for 3.10: cancel the task at the deadline, raise ``TimeoutError``."""
        if seconds is None:
            yield
            return
        task = asyncio.current_task()
        assert task is not None
        fired = False

        def fire() -> None:
            nonlocal fired
            fired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(seconds, fire)
        try:
            yield
        except asyncio.CancelledError:
            if fired:
                raise TimeoutError from None
            raise
        finally:
            handle.cancel()


#: ``async with deadline(seconds):``: ``asyncio.timeout`` (3.11+), or the same for 3.10.
deadline = _deadline


class Client:
    """HTTP/1.1 over kept-alive connections to one or more ``http://`` origins, or one Unix socket.

    Args:
        uds: a Unix socket path: every request goes there, whatever the URL's host.
        max_body: largest body read, in bytes; past it :class:`ResponseTooLarge`.
        partial_body: past ``max_body``, return the first ``max_body`` bytes
            (``truncated=True``) and drop the connection instead of raising.
        keepalive_expiry: seconds an idle connection is kept before it is closed.
        max_idle: idle connections kept, over all origins.

    Use from one event loop; :meth:`aclose` closes every connection.
    """

    def __init__(
        self,
        *,
        uds: str | None = None,
        max_body: int = 1024 * 1024,
        keepalive_expiry: float = 5.0,
        max_idle: int = 2,
        partial_body: bool = False,
    ) -> None:
        self.uds = uds
        self.max_body = max_body
        self.partial_body = partial_body
        self.keepalive_expiry = keepalive_expiry
        self.max_idle = max(0, max_idle)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._closed = False
        self._requests: dict[tuple[str, str, tuple[tuple[str, str], ...]], h11.Request] = {}
        #: Connections opened so far (for tests and benches).
        self.connections_opened = 0

    # ------------------------------------------------------------- requests

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        timeout: float | None = None,
    ) -> Response:
        """Send one request with no body; the whole answer, body read up to ``max_body``.

        ``timeout`` bounds the whole call (``TimeoutError`` past it). Redirects
        are returned, not followed.

        Raises:
            ConnectError, ReadError, RemoteProtocolError, ResponseTooLarge,
            LocalProtocolError: in words; TimeoutError: past ``timeout``.
        """
        if self._closed:
            raise LocalProtocolError("the client is closed")
        method = method.upper()
        if not _STR_TOKEN.fullmatch(method):
            raise LocalProtocolError("invalid request method")
        target = _parse_url(url)
        items = tuple(headers.items() if isinstance(headers, Mapping) else headers)
        key = (method, url, items)
        request = self._requests.get(key)
        if request is None:  # a poller sends the same few requests again and again
            request = _request_event(method, target, items)
            if len(self._requests) >= 8:
                self._requests.clear()
            self._requests[key] = request
        if timeout is None:
            return await self._send(method, target, request)
        async with _deadline(timeout):
            return await self._send(method, target, request)

    async def _send(self, method: str, target: _Target, request: h11.Request) -> Response:
        key = ("unix", 0) if self.uds is not None else (target.host, target.port)
        conn, reused = self._take_idle(key)
        if conn is None:
            conn = await self._connect(key)
        try:
            return await self._exchange(conn, method, request)
        except _Stale as stale:
            if not (reused and method in IDEMPOTENT):
                raise stale.error from None
        # The server closed a kept-alive connection as the request went out, and
        # answered nothing: a GET goes once more, on a fresh connection.
        conn = await self._connect(key)
        try:
            return await self._exchange(conn, method, request)
        except _Stale as stale:
            raise stale.error from None

    def _take_idle(self, key: tuple[str, int]) -> tuple[_Connection | None, bool]:
        now = asyncio.get_running_loop().time()
        for i in range(len(self._idle) - 1, -1, -1):
            conn = self._idle[i]
            if conn.key != key:
                continue
            del self._idle[i]
            if now - conn.idle_since <= self.keepalive_expiry and conn.usable():
                return conn, True
            self._forget(conn)
        return None, False

    async def _connect(self, key: tuple[str, int]) -> _Connection:
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[None] = loop.create_future()

        def protocol() -> _Connection:
            return _Connection(key, closed)

        try:
            if self.uds is not None:
                _, conn = await loop.create_unix_connection(protocol, self.uds)
            else:
                _, conn = await loop.create_connection(protocol, key[0], key[1])
        except OSError as exc:
            raise ConnectError(f"cannot connect: {exc.strerror or exc}") from exc
        self.connections_opened += 1
        if self._closed:  # closed while connecting
            conn.abort()
            raise LocalProtocolError("the client is closed")
        self._open.add(conn)
        return conn

    async def _exchange(self, conn: _Connection, method: str, request: h11.Request) -> Response:
        """Send ``request`` on ``conn`` and read the answer; the connection goes back
        to the idle list if it can carry another request, else it is closed."""
        try:
            data = conn.h11.send(request) or b""
            end = conn.h11.send(_END_OF_MESSAGE)  # b"": a request without a body
            conn.write(data + end if end else data)
            response = await self._read_response(conn)
        except BaseException:
            # Whatever happened (an error, the deadline, a cancel), the state of the
            # connection is unknown: drop it, unread data and all.
            self._forget(conn, abort=True)
            raise
        h = conn.h11
        # Bytes past the answer (a 408 written just after it, junk) are no answer to
        # a request not yet sent: such a connection is not used again.
        if (h.our_state is h11.DONE and h.their_state is h11.DONE and not self._closed and self.max_idle
                and not h.trailing_data[0]):
            h.start_next_cycle()
            conn.idle_since = asyncio.get_running_loop().time()
            self._idle.append(conn)
            if len(self._idle) > self.max_idle:
                self._forget(self._idle.pop(0))
        else:
            self._forget(conn)
        return response

    async def _read_response(self, conn: _Connection) -> Response:
        """The answer to the request just sent on ``conn``, body and all.

        One loop over h11's events (this runs for every poll of every target)."""
        h = conn.h11
        response: h11.Response | None = None
        headers: Headers | None = None
        chunks: list[bytes] = []
        total = 0  # body bytes
        received = 0  # bytes read before the final answer's head was parsed
        head: list[bytes] = []  # those reads (references, not copies), to name a refused Transfer-Encoding
        interim = 0
        # Nothing can have come back yet (unless the last answer left bytes behind):
        # wait for data first, rather than have h11 look at an empty buffer.
        first_read = not h.trailing_data[0]
        truncated = False
        while True:
            if first_read:
                event: Any = h11.NEED_DATA
                first_read = False
            else:
                try:
                    event = h.next_event()
                except h11.RemoteProtocolError as exc:
                    raise _protocol_error(exc, b"".join(head)[:MAX_HEAD_BYTES]) from None
            kind = type(event)
            if kind is h11.Data:
                total += len(event.data)
                if total > self.max_body:
                    if not self.partial_body:
                        raise self._too_large()
                    # Keep what fits; the rest is never read (the connection is dropped).
                    chunks.append(event.data[: len(event.data) - (total - self.max_body)])
                    truncated = True
                    break
                chunks.append(event.data)
            elif event is h11.NEED_DATA:
                nothing_yet = response is None and not received and not interim
                try:
                    chunk = await conn.read()
                except (ConnectionError, OSError) as exc:
                    if nothing_yet:
                        raise _Stale(ReadError("connection reset")) from exc
                    raise ReadError("connection reset") from exc
                if response is None:
                    if not chunk and nothing_yet:
                        raise _Stale(RemoteProtocolError("the server closed the connection without answering"))
                    received += len(chunk)
                    if received > MAX_HEAD_BYTES + READ_SIZE:
                        raise RemoteProtocolError(
                            f"invalid response: headers larger than {_size_words(MAX_HEAD_BYTES)}")
                    head.append(chunk)
                h.receive_data(chunk)
            elif kind is h11.Response:
                response = event
                # h11 caps an incomplete head; a head that completed in the read
                # that crossed the cap is caught here (what is left is body).
                if received > MAX_HEAD_BYTES and received - len(h.trailing_data[0]) > MAX_HEAD_BYTES:
                    raise RemoteProtocolError(f"invalid response: headers larger than {_size_words(MAX_HEAD_BYTES)}")
                headers = Headers([(n.decode("latin-1"), v.decode("latin-1"))
                                   for n, v in response.headers.raw_items()])
                length = headers.get("content-length")
                if length is not None and "transfer-encoding" not in headers:
                    first = length.split(",", 1)[0].strip()
                    if first.isascii() and first.isdigit() and int(first) > self.max_body \
                            and not self.partial_body:
                        raise self._too_large()  # refused before reading a byte of it
            elif kind is h11.EndOfMessage:
                break
            elif kind is h11.InformationalResponse:
                interim += 1
                if interim > MAX_INTERIM_RESPONSES:
                    raise RemoteProtocolError(f"invalid response: more than {MAX_INTERIM_RESPONSES} interim answers")
            elif response is None:
                raise RemoteProtocolError("the server closed the connection without answering")
            else:
                raise RemoteProtocolError("the server closed the connection mid-response")
        assert response is not None and headers is not None
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        version = "HTTP/" + response.http_version.decode("ascii", "replace")
        return Response(response.status_code, response.reason.decode("latin-1"), headers, bytes(body), version,
                        truncated)

    def _too_large(self) -> ResponseTooLarge:
        return ResponseTooLarge(f"response larger than {_size_words(self.max_body)}")

    # ------------------------------------------------------------- lifetime

    def _forget(self, conn: _Connection, *, abort: bool = False) -> None:
        self._open.discard(conn)
        if abort:
            conn.abort()
        else:
            conn.close()

    async def aclose(self) -> None:
        """Close every connection, idle or in use; later requests fail."""
        self._closed = True
        self._requests.clear()
        conns = list(self._open)
        self._idle.clear()
        self._open.clear()
        for conn in conns:
            conn.close()
        for conn in conns:
            with contextlib.suppress(Exception):
                await conn.wait_closed()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# --------------------------------------------------------------------------- h11 glue


def _request_event(method: str, target: _Target, items: Iterable[tuple[str, str]]) -> h11.Request:
    """The h11 request; header values checked here so that a refusal never echoes the value."""
    headers = [("Host", target.host_header)]
    has_length = False
    for name, value in items:
        if not _STR_TOKEN.fullmatch(name):
            raise LocalProtocolError(f"invalid request header name {name[:40]!r}")
        if _BAD_REQUEST_VALUE.search(value):
            # Never echo the value: it may be the token.
            raise LocalProtocolError(f"invalid character in the {name} header (a line break, or not ASCII)")
        if name.lower() == "host":
            continue
        has_length = has_length or name.lower() == "content-length"
        headers.append((name, value))
    if method in ("POST", "PUT", "PATCH") and not has_length:
        headers.append(("Content-Length", "0"))  # no body; some servers insist on being told
    try:
        return h11.Request(method=method, target=target.path, headers=headers)
    except h11.LocalProtocolError:
        raise LocalProtocolError("invalid request") from None


#: h11's wording -> memdash's, by the start of h11's message.
_H11_WORDS = (
    ("illegal status line", "invalid response: bad status line"),
    ("illegal header line", "invalid response: bad header line"),
    ("conflicting content-length", "invalid response: conflicting Content-Length"),
    ("bad content-length", "invalid response: bad Content-Length"),
    ("illegal chunk header", "invalid response: bad chunk size"),
    ("peer closed connection without sending complete", "the server closed the connection mid-response"),
    ("receive buffer too long", f"invalid response: headers larger than {MAX_HEAD_BYTES // 1024} KB"),
    ("received server _switch_upgrade", "invalid response: 101 Switching Protocols, unasked"),
)


def _protocol_error(exc: h11.RemoteProtocolError, head: bytes) -> RemoteProtocolError:
    """h11's complaint in memdash's words (h11 quotes raw bytes; these never do)."""
    text = str(exc).lower()
    if text.startswith("only transfer-encoding: chunked"):
        match = _TRANSFER_ENCODING.search(head)
        coding = match[1].decode("latin-1").strip() if match else "?"
        return RemoteProtocolError(f"invalid response: unsupported Transfer-Encoding {coding[:40]!r}")
    for prefix, words in _H11_WORDS:
        if text.startswith(prefix):
            return RemoteProtocolError(words)
    return RemoteProtocolError("invalid response: " + str(exc).split(":", 1)[0][:80])
