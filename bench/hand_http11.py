"""A small asyncio HTTP/1.1 client for polling plain ``http://`` and ``unix:`` targets.

Why this exists
---------------
memdash polls up to a few hundred targets every second. With httpx, a poll of
200 loopback targets costs 148-295 ms of CPU per cycle depending on how the
clients are pooled (one shared client with many connections is worse still:
its pool bookkeeping grows faster than the number of connections, upstream
encode/httpx#3215); aiohttp costs 23 ms, and a bare asyncio client 2.1 ms
(tech notes section 10). At one cycle a second, httpx alone took about 30 % of
a core against the 15 % budget. This module is that bare client, made careful:
what a stats poller needs of HTTP/1.1 and nothing more.

``https://`` targets still go through httpx (see :mod:`memdash.sources.remote`):
certificate verification, CA bundles, SNI and TLS error reporting are where a
hand-written client would be easy to get subtly wrong, and TLS targets are few
and remote, so their per-request cost matters less.

What it does
------------
- One persistent connection per origin (keep-alive), reused across requests; at
  most ``max_idle`` idle connections are kept, each for ``keepalive_expiry``
  seconds. An idle connection the server has closed is noticed before it is
  used; if the server closes it just as a request goes out (no byte of answer
  came back), an idempotent request (GET, HEAD...) is sent once more on a new
  connection. A POST is never sent twice.
- HTTP/1.0 servers and ``Connection: close`` answers: the connection is closed
  after the answer; bodies framed by ``Content-Length``, ``Transfer-Encoding:
  chunked`` or the end of the connection.
- The body cap (``max_body``) is enforced while reading: a declared length past
  it is refused before any body byte is read, and a chunked or unframed body is
  refused as soon as it passes the cap. The connection is then aborted, so the
  rest is never read.
- ``timeout`` is an overall deadline for the whole request (connect, send, the
  head and the body, and the one retry), so a server that trickles bytes cannot
  hold a request longer.
- Headers are parsed strictly enough not to be fooled (invalid names, bare line
  breaks, conflicting lengths, unknown transfer codings are all "invalid
  response") and read case-insensitively.
- Sends ``Host`` and whatever headers the caller gives; no proxies, no
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
from typing import NamedTuple
from urllib.parse import urlsplit

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

#: Largest response head (status line and headers), and longest chunk-size or trailer line.
MAX_HEAD_BYTES = 64 * 1024
#: Interim (1xx) answers skipped before the final one.
MAX_INTERIM_RESPONSES = 8
#: Methods safe to send again after a kept-alive connection died under them.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

_STATUS_LINE = re.compile(r"HTTP/1\.([01]) ([0-9]{3})(?: ([^\r\n\x00]*))?")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_BAD_REQUEST_VALUE = re.compile(r"[^\t\x20-\x7e]")
_STR_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


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


class _Connection:
    """One TCP or Unix-socket connection and when it went idle."""

    __slots__ = ("key", "reader", "writer", "idle_since")

    def __init__(self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0

    def usable(self) -> bool:
        """Still open, nothing unexpected from the server: no EOF, no error."""
        return not (self.writer.transport.is_closing() or self.reader.at_eof() or self.reader.exception() is not None)

    def abort(self) -> None:
        """Drop the connection now, unsent and unread data included."""
        self.writer.transport.abort()

    def close(self) -> None:
        self.writer.close()


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


class Client:
    """HTTP/1.1 over kept-alive connections to one or more ``http://`` origins, or one Unix socket.

    Args:
        uds: a Unix socket path: every request goes there, whatever the URL's host.
        max_body: largest body read, in bytes; past it :class:`ResponseTooLarge`.
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
    ) -> None:
        self.uds = uds
        self.max_body = max_body
        self.keepalive_expiry = keepalive_expiry
        self.max_idle = max(0, max_idle)
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._closed = False
        self._requests: dict[tuple[str, str, tuple[tuple[str, str], ...]], bytes] = {}
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
        data = self._requests.get(key)
        if data is None:  # a poller sends the same few requests again and again
            data = _request_bytes(method, target, items)
            if len(self._requests) >= 8:
                self._requests.clear()
            self._requests[key] = data
        if timeout is None:
            return await self._send(method, target, data)
        async with _deadline(timeout):
            return await self._send(method, target, data)

    async def _send(self, method: str, target: _Target, data: bytes) -> Response:
        key = ("unix", 0) if self.uds is not None else (target.host, target.port)
        conn, reused = self._take_idle(key)
        if conn is None:
            conn = await self._connect(key)
        try:
            return await self._exchange(conn, method, data)
        except _Stale as stale:
            if not (reused and method in IDEMPOTENT):
                raise stale.error from None
        # The server closed a kept-alive connection as the request went out, and
        # answered nothing: a GET goes once more, on a fresh connection.
        conn = await self._connect(key)
        try:
            return await self._exchange(conn, method, data)
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
        try:
            if self.uds is not None:
                reader, writer = await asyncio.open_unix_connection(self.uds, limit=MAX_HEAD_BYTES)
            else:
                reader, writer = await asyncio.open_connection(key[0], key[1], limit=MAX_HEAD_BYTES)
        except OSError as exc:
            raise ConnectError(f"cannot connect: {exc.strerror or exc}") from exc
        conn = _Connection(key, reader, writer)
        self.connections_opened += 1
        if self._closed:  # closed while connecting
            conn.abort()
            raise LocalProtocolError("the client is closed")
        self._open.add(conn)
        return conn

    async def _exchange(self, conn: _Connection, method: str, data: bytes) -> Response:
        """Send ``data`` on ``conn`` and read the answer; the connection goes back
        to the idle list if it can carry another request, else it is closed."""
        try:
            conn.writer.write(data)
            response, keep = await self._read_response(conn.reader, method)
        except BaseException:
            # Whatever happened (an error, the deadline, a cancel), the state of the
            # connection is unknown: drop it, unread data and all.
            self._forget(conn, abort=True)
            raise
        if keep and not self._closed and self.max_idle:
            conn.idle_since = asyncio.get_running_loop().time()
            self._idle.append(conn)
            if len(self._idle) > self.max_idle:
                self._forget(self._idle.pop(0))
        else:
            self._forget(conn)
        return response

    async def _read_response(self, reader: asyncio.StreamReader, method: str) -> tuple[Response, bool]:
        """The answer to one request, and whether the connection can be used again."""
        for interim in range(MAX_INTERIM_RESPONSES + 1):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if not exc.partial and not interim:
                    raise _Stale(RemoteProtocolError("the server closed the connection without answering")) from None
                raise RemoteProtocolError("the server closed the connection mid-response") from None
            except asyncio.LimitOverrunError:
                raise RemoteProtocolError(
                    f"invalid response: headers larger than {_size_words(MAX_HEAD_BYTES)}"
                ) from None
            except (ConnectionError, OSError) as exc:
                if not interim:
                    raise _Stale(ReadError("connection reset")) from exc
                raise ReadError("connection reset") from exc
            version, status, reason, headers = _parse_head(head)
            if status >= 200:
                break
            if status == 101:
                raise RemoteProtocolError("invalid response: 101 Switching Protocols, unasked")
        else:
            raise RemoteProtocolError(f"invalid response: more than {MAX_INTERIM_RESPONSES} interim answers")
        keep = _keep_alive(version, headers)
        try:
            if method == "HEAD" or status in (204, 304):
                body = b""
            elif "transfer-encoding" in headers:
                codings = [c.strip().lower() for c in headers["transfer-encoding"].split(",")]
                if codings != ["chunked"]:
                    raise RemoteProtocolError(
                        f"invalid response: unsupported Transfer-Encoding {headers['transfer-encoding']!r}"
                    )
                if "content-length" in headers:
                    keep = False  # both: the length is to be ignored, and the connection not trusted
                body = await self._read_chunked(reader)
            elif "content-length" in headers:
                body = await self._read_length(reader, _content_length(headers))
            else:
                keep = False  # the body ends where the connection does
                body = await self._read_to_eof(reader)
        except asyncio.IncompleteReadError:
            raise RemoteProtocolError("the server closed the connection mid-response") from None
        except asyncio.LimitOverrunError:
            raise RemoteProtocolError("invalid response: chunk-size or trailer line too long") from None
        except (ConnectionError, OSError) as exc:
            raise ReadError("connection reset") from exc
        return Response(status, reason, headers, body, f"HTTP/1.{version}"), keep

    def _too_large(self) -> ResponseTooLarge:
        return ResponseTooLarge(f"response larger than {_size_words(self.max_body)}")

    async def _read_length(self, reader: asyncio.StreamReader, length: int) -> bytes:
        if length > self.max_body:
            raise self._too_large()  # refused before reading a byte of it
        return await reader.readexactly(length) if length else b""

    async def _read_chunked(self, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = await reader.readuntil(b"\r\n")
            size_text = line[:-2].split(b";", 1)[0].strip(b" \t")
            if not _CHUNK_SIZE.fullmatch(size_text):
                raise RemoteProtocolError("invalid response: bad chunk size")
            size = int(size_text, 16)
            if size == 0:
                break
            total += size
            if total > self.max_body:
                raise self._too_large()
            chunk = await reader.readexactly(size + 2)
            if chunk[-2:] != b"\r\n":
                raise RemoteProtocolError("invalid response: chunk not followed by CRLF")
            chunks.append(chunk[:-2])
        trailer_bytes = 0
        while True:  # trailers: read and dropped
            line = await reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            trailer_bytes += len(line)
            if trailer_bytes > MAX_HEAD_BYTES:
                raise RemoteProtocolError("invalid response: trailers too long")
        return b"".join(chunks)

    async def _read_to_eof(self, reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > self.max_body:
                raise self._too_large()
            chunks.append(chunk)

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
                await conn.writer.wait_closed()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# --------------------------------------------------------------------------- wire format


def _request_bytes(method: str, target: _Target, items: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.host_header}"]
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
        lines.append(f"{name}: {value}")
    if method in ("POST", "PUT", "PATCH") and not has_length:
        lines.append("Content-Length: 0")  # no body; some servers insist on being told
    lines.append("\r\n")
    return "\r\n".join(lines).encode("ascii")


# A head with no folded lines and nothing odd in it, checked in one go (the
# usual case); anything else takes the line-by-line path, which says what is wrong.
_PLAIN_HEADERS = re.compile(r"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n\x00]*\r\n)*")


def _parse_head(head: bytes) -> tuple[int, int, str, Headers]:
    """``(minor version, status, reason, headers)`` from a head ending in a blank line."""
    text = head.decode("latin-1")
    status_line, _, rest = text.partition("\r\n")
    match = _STATUS_LINE.fullmatch(status_line)
    if match is None:
        raise RemoteProtocolError("invalid response: bad status line")
    minor, status, reason = int(match[1]), int(match[2]), (match[3] or "").strip()
    if status < 100:
        raise RemoteProtocolError("invalid response: bad status line")
    rest = rest[:-2]  # each header line now ends in CRLF
    if _PLAIN_HEADERS.fullmatch(rest):
        raw = []
        joined: dict[str, str] = {}
        for line in rest.split("\r\n")[:-1]:
            name, _, value = line.partition(":")
            value = value.strip(" \t")
            raw.append((name, value))
            key = name.lower()
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        return minor, status, reason, Headers._make(raw, joined)
    return minor, status, reason, Headers(_parse_header_lines(rest))


def _parse_header_lines(rest: str) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for line in rest.split("\r\n")[:-1]:
        if line[:1] in (" ", "\t"):  # obs-fold: a continuation of the previous header
            more = line.strip(" \t")
            if not headers or _BAD_VALUE.search(more):
                raise RemoteProtocolError("invalid response: bad header line")
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {more}".strip())
            continue
        name, sep, value = line.partition(":")
        if not sep or not _STR_TOKEN.fullmatch(name):  # "Name :" (space before colon) is refused too
            raise RemoteProtocolError("invalid response: bad header line")
        value = value.strip(" \t")
        if _BAD_VALUE.search(value):
            raise RemoteProtocolError("invalid response: bad header line")
        headers.append((name, value))
    return headers


def _content_length(headers: Headers) -> int:
    value = headers["content-length"]
    if "," in value:  # "5, 5" (a proxy joined two equal headers) is fine; "5, 6" is not
        values = {v.strip() for v in value.split(",")}
        if len(values) != 1:
            raise RemoteProtocolError("invalid response: conflicting Content-Length")
        (value,) = values
    if not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise RemoteProtocolError("invalid response: bad Content-Length")
    return int(value)


def _keep_alive(minor: int, headers: Headers) -> bool:
    """Whether the connection may carry another request after this answer."""
    connection = headers.get("connection")
    if connection is None:
        return minor >= 1
    tokens = {t.strip().lower() for t in connection.split(",")}
    if "close" in tokens:
        return False
    return minor >= 1 or "keep-alive" in tokens
