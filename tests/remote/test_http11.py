"""memdash.sources.http11 against real loopback servers (asyncio servers written here).

Each server is a coroutine ``handler(reader, writer, stats)`` per connection;
``stats`` counts connections and keeps the request heads it read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import AsyncIterator, Awaitable, Callable

import pytest

from memdash.config import TargetConfig
from memdash.levels import Thresholds
from memdash.sources import http11
from memdash.sources.remote import TargetPoller

from .servers import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Stats"], Awaitable[None]]

HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": "memdash"}
BODY = b'{"memory_percent": 42.0, "memory_used_mb": 100.0}'


class Stats:
    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.sent = 0


@contextlib.asynccontextmanager
async def serve(handler: Handler, unix: str | None = None) -> AsyncIterator[tuple[str, Stats]]:
    """An asyncio server on 127.0.0.1 (or the Unix socket ``unix``); yields its URL and stats."""
    stats = Stats()
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats.connections += 1
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await handler(reader, writer, stats)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client hung up, or the test is over
        finally:
            writer.close()

    if unix:
        server = await asyncio.start_unix_server(on_connect, unix)
        url = "http://localhost/"
    else:
        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        yield url, stats
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def read_head(reader: asyncio.StreamReader, stats: Stats) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    stats.requests.append(head)
    return head


def ok(body: bytes = BODY, extra: str = "", version: str = "1.1") -> bytes:
    return (f"HTTP/{version} 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stats: Stats) -> None:
    """A well-behaved HTTP/1.1 server: answers every request on the connection."""
    while True:
        await read_head(reader, stats)
        writer.write(ok())
        await writer.drain()


# --------------------------------------------------------------------------- keep-alive


async def test_keep_alive_reuses_one_connection() -> None:
    async with serve(keep_alive) as (url, stats), http11.Client() as client:
        for _ in range(20):
            r = await client.request("GET", url + "stats?x=1", HEADERS, timeout=2)
            assert (r.status, r.reason, r.body, r.http_version) == (200, "OK", BODY, "HTTP/1.1")
    assert stats.connections == 1 and client.connections_opened == 1
    assert len(stats.requests) == 20
    head = stats.requests[0].decode()
    assert head.startswith("GET /stats?x=1 HTTP/1.1\r\n")
    assert f"Host: {url[len('http://'):-1]}\r\n" in head  # host:port, first
    assert "Accept-Encoding: identity\r\n" in head


async def test_headers_are_case_insensitive_and_joined() -> None:
    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(b"HTTP/1.1 404 Not Here\r\ncOnTeNt-TyPe: text/plain\r\nX-A: 1\r\nx-a: 2\r\n"
                     b"Content-Length: 2\r\n\r\nno")

    async with serve(handler) as (url, _), http11.Client() as client:
        r = await client.request("GET", url, HEADERS, timeout=2)
    assert (r.status, r.reason, r.body) == (404, "Not Here", b"no")
    assert r.headers.get("Content-Type") == r.headers["CONTENT-TYPE"] == "text/plain"
    assert r.headers["x-a"] == "1, 2" and r.headers.get_list("X-A") == ["1", "2"]
    assert "content-length" in r.headers and r.headers.get("location") is None


async def test_interim_1xx_answers_are_skipped() -> None:
    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + ok())

    async with serve(handler) as (url, _), http11.Client() as client:
        r = await client.request("GET", url, HEADERS, timeout=2)
    assert r.status == 200 and r.body == BODY


# --------------------------------------------------------------------------- framing


async def test_chunked_body() -> None:
    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        while True:
            await read_head(reader, stats)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n")
            for piece in (BODY[:10], BODY[10:11], BODY[11:]):
                writer.write(f"{len(piece):X};ext=1\r\n".encode())
                await writer.drain()
                await asyncio.sleep(0.01)  # the chunks arrive in pieces
                writer.write(piece + b"\r\n")
            writer.write(b"0\r\nX-Trailer: t\r\n\r\n")
            await writer.drain()

    async with serve(handler) as (url, stats), http11.Client() as client:
        first = await client.request("GET", url, HEADERS, timeout=2)
        second = await client.request("GET", url, HEADERS, timeout=2)
    assert first.body == second.body == BODY
    assert stats.connections == 1  # a chunked answer keeps the connection


async def test_http10_server_new_connection_each_time() -> None:
    """An HTTP/1.0 server (memdash.probe's own) closes after each answer."""

    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(ok(version="1.0", extra="Connection: close\r\n"))
        await writer.drain()

    async with serve(handler) as (url, stats), http11.Client() as client:
        for _ in range(3):
            r = await client.request("GET", url, HEADERS, timeout=2)
            assert r.status == 200 and r.body == BODY and r.http_version == "HTTP/1.0"
    assert stats.connections == 3


async def test_http10_body_to_end_of_connection() -> None:
    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + BODY[:5])
        await writer.drain()
        await asyncio.sleep(0.02)
        writer.write(BODY[5:])
        await writer.drain()

    async with serve(handler) as (url, stats), http11.Client() as client:
        assert (await client.request("GET", url, HEADERS, timeout=2)).body == BODY
        assert (await client.request("GET", url, HEADERS, timeout=2)).body == BODY
    assert stats.connections == 2


async def test_connection_close_answer_is_honoured() -> None:
    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(ok(extra="Connection: close\r\n"))
        await writer.drain()
        await asyncio.sleep(5)  # does not close itself: the client must not wait for it

    async with serve(handler) as (url, stats), http11.Client() as client:
        start = time.monotonic()
        for _ in range(2):
            assert (await client.request("GET", url, HEADERS, timeout=2)).body == BODY
        assert time.monotonic() - start < 4  # not the server's 5 s: the client closed on its own
    assert stats.connections == 2


# --------------------------------------------------------------------------- closed connections


async def test_server_closing_idle_connection_then_next_request_succeeds() -> None:
    """One answer per connection, but announced as keep-alive: the close is seen while idle."""

    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(ok())
        await writer.drain()
        # then the server's idle timeout: close

    async with serve(handler) as (url, stats), http11.Client() as client:
        for _ in range(3):
            assert (await client.request("GET", url, HEADERS, timeout=2)).body == BODY
            await asyncio.sleep(0.05)
    assert stats.connections == 3 and len(stats.requests) == 3


async def test_close_racing_the_request_retries_a_get_once() -> None:
    """The server reads the second request on a kept-alive connection and closes
    without answering (its idle timeout fired as the request arrived): a GET is
    sent again on a new connection."""

    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(ok())
        await writer.drain()
        if stats.connections == 1:
            await read_head(reader, stats)  # ...and no answer

    async with serve(handler) as (url, stats), http11.Client() as client:
        assert (await client.request("GET", url, HEADERS, timeout=2)).body == BODY
        assert (await client.request("GET", url, HEADERS, timeout=2)).body == BODY
    assert stats.connections == 2
    assert [h.split(b" ")[0] for h in stats.requests] == [b"GET", b"GET", b"GET"]


async def test_close_racing_a_post_is_not_retried() -> None:
    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(ok())
        await writer.drain()
        await read_head(reader, stats)  # the POST: read, never answered

    async with serve(handler) as (url, stats), http11.Client() as client:
        await client.request("GET", url, HEADERS, timeout=2)
        with pytest.raises(http11.HTTPError) as err:
            await client.request("POST", url + "cleanup/gc", HEADERS, timeout=2)
    assert str(err.value) == "the server closed the connection without answering"
    posts = [h for h in stats.requests if h.startswith(b"POST ")]
    assert len(posts) == 1 and b"Content-Length: 0\r\n" in posts[0]
    assert stats.connections == 1


async def test_server_closing_without_answer_on_fresh_connection_is_an_error() -> None:
    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)

    async with serve(handler) as (url, stats), http11.Client() as client:
        with pytest.raises(http11.HTTPError, match="closed the connection without answering"):
            await client.request("GET", url, HEADERS, timeout=2)
    assert stats.connections == 1  # a new connection is not retried


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize("framing", ["content-length", "to-eof", "chunked"])
async def test_body_cap_aborts_without_reading_the_rest(framing: str) -> None:
    total = 50 * 1024 * 1024
    piece = b"1," * 32768

    async def flood(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        head += {"content-length": f"Content-Length: {total}\r\n", "to-eof": "Connection: close\r\n",
                 "chunked": "Transfer-Encoding: chunked\r\n"}[framing]
        writer.write(head.encode() + b"\r\n")
        while stats.sent < total:
            writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" if framing == "chunked" else piece)
            await writer.drain()
            stats.sent += len(piece)

    async with serve(flood) as (url, stats), http11.Client(max_body=1024 * 1024) as client:
        start = time.monotonic()
        with pytest.raises(http11.ResponseTooLarge) as err:
            await client.request("GET", url, HEADERS, timeout=5)
        assert time.monotonic() - start < 30  # the error type already says it was not the deadline
        await asyncio.sleep(0.2)  # the sender notices the aborted connection
    assert str(err.value) == "response larger than 1 MB"
    # Declared: refused before reading; otherwise at most the cap plus socket buffers.
    assert stats.sent < 16 * 1024 * 1024
    assert client.connections_opened == 1


async def test_body_cap_exact_size_is_accepted() -> None:
    body = b"x" * 1000

    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        while True:
            await read_head(reader, stats)
            writer.write(ok(body))

    async with serve(handler) as (url, _), http11.Client(max_body=1000) as client:
        assert (await client.request("GET", url, HEADERS, timeout=2)).body == body


async def test_big_answers_in_many_pieces_arrive_whole() -> None:
    """Bodies much larger than what the client buffers before it stops reading the
    socket (flow control), written in uneven pieces, one after the other on one
    connection: every byte, in order, and the connection still reused."""
    bodies = [bytes(range(256)) * (n // 256) for n in (3 * 1024 * 1024, 700_001 // 256 * 256, 5000)]

    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        for body in bodies:
            await read_head(reader, stats)
            data = ok(body)
            for i in range(0, len(data), 99_991):
                writer.write(data[i:i + 99_991])
                await writer.drain()

    async with serve(handler) as (url, stats), http11.Client(max_body=4 * 1024 * 1024) as client:
        for body in bodies:
            r = await client.request("GET", url, HEADERS, timeout=30)
            assert (r.status, len(r.body), r.truncated) == (200, len(body), False)
            assert r.body == body
    assert stats.connections == 1


async def test_bytes_sent_on_an_idle_connection_are_not_the_next_answer() -> None:
    """A server that writes on a kept-alive connection between requests (a 408
    before its idle close, or junk): the next request goes on a new connection
    and gets its own answer."""
    stray_sent = asyncio.Event()

    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(ok())
        await writer.drain()
        if stats.connections == 1:
            writer.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")  # and the connection stays open
            await writer.drain()
            stray_sent.set()
            await asyncio.sleep(30)
        else:
            while True:
                await read_head(reader, stats)
                writer.write(ok())
                await writer.drain()

    async with serve(handler) as (url, stats), http11.Client() as client:
        assert (await client.request("GET", url, HEADERS, timeout=5)).body == BODY
        await asyncio.wait_for(stray_sent.wait(), 30)
        await asyncio.sleep(0.2)  # the client's side of this loop reads what is in its socket
        r = await client.request("GET", url, HEADERS, timeout=5)
        assert (r.status, r.body) == (200, BODY)
    assert stats.connections == 2


async def test_trickling_server_hits_the_overall_deadline() -> None:
    async def trickle(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while True:
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(0.05)

    async with serve(trickle) as (url, stats), http11.Client() as client:
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            await client.request("GET", url, HEADERS, timeout=0.5)
        assert 0.45 < time.monotonic() - start < 10  # the deadline, not the 100000 bytes' 80 minutes
        with pytest.raises(TimeoutError):  # the half-read connection was dropped, not reused
            await client.request("GET", url, HEADERS, timeout=0.2)
    assert stats.connections == 2


async def test_hung_server_times_out_and_cancel_leaves_nothing_open() -> None:
    async def hang(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        await asyncio.sleep(30)

    async with serve(hang) as (url, _):
        client = http11.Client()
        with pytest.raises(TimeoutError):
            await client.request("GET", url, HEADERS, timeout=0.2)
        task = asyncio.ensure_future(client.request("GET", url, HEADERS, timeout=5))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not client._open and not client._idle
        await client.aclose()


# --------------------------------------------------------------------------- unix sockets


async def test_unix_socket_keep_alive(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "t.sock")
    async with serve(keep_alive, unix=path) as (_, stats), http11.Client(uds=path) as client:
        for _ in range(5):
            r = await client.request("GET", "http://localhost/memdash", HEADERS, timeout=2)
            assert r.status == 200 and r.body == BODY
    assert stats.connections == 1
    assert stats.requests[0].startswith(b"GET /memdash HTTP/1.1\r\nHost: localhost\r\n")


async def test_unix_socket_missing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async with http11.Client(uds=str(tmp_path / "none.sock")) as client:
        with pytest.raises(http11.ConnectError) as err:
            await client.request("GET", "http://localhost/", HEADERS, timeout=2)
    assert isinstance(err.value.__cause__, FileNotFoundError)


# --------------------------------------------------------------------------- malformed


@pytest.mark.parametrize(("answer", "words"), [
    (b"HTTP/2 200 OK\r\n\r\n", "invalid response: bad status line"),
    (b"ICY 200 OK\r\n\r\n", "invalid response: bad status line"),
    (b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n", "invalid response: bad header line"),
    (b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "invalid response: bad header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
     "invalid response: conflicting Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "invalid response: bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "invalid response: unsupported Transfer-Encoding 'gzip'"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid response: bad chunk size"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "the server closed the connection mid-response"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", "invalid response: headers larger than 64 KB"),
])
async def test_malformed_answers_in_words(answer: bytes, words: str) -> None:
    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(answer)
        await writer.drain()

    async with serve(handler) as (url, _), http11.Client() as client:
        with pytest.raises(http11.HTTPError) as err:
            await client.request("GET", url, HEADERS, timeout=2)
    assert str(err.value) == words


async def test_obs_fold_and_repeated_equal_lengths_are_accepted() -> None:
    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(b"HTTP/1.1 200 OK\r\nX-Long: a\r\n  b\r\nContent-Length: 2, 2\r\n\r\nhi")

    async with serve(handler) as (url, _), http11.Client() as client:
        r = await client.request("GET", url, HEADERS, timeout=2)
    assert r.headers["x-long"] == "a b" and r.body == b"hi"


async def test_header_injection_is_refused_without_echoing_the_value() -> None:
    async with http11.Client() as client:
        with pytest.raises(http11.LocalProtocolError) as err:
            await client.request("GET", f"http://127.0.0.1:{free_port()}/",
                                 {"Authorization": "Bearer s3cret\r\nX-Evil: 1"}, timeout=2)
    assert "s3cret" not in str(err.value) and "Authorization" in str(err.value)


async def test_connection_refused_keeps_the_oserror() -> None:
    async with http11.Client() as client:
        with pytest.raises(http11.ConnectError) as err:
            await client.request("GET", f"http://127.0.0.1:{free_port()}/", HEADERS, timeout=2)
    assert isinstance(err.value.__cause__, ConnectionRefusedError)


# --------------------------------------------------------------------------- through the poller


async def test_poller_keeps_one_connection_per_target() -> None:
    async with serve(keep_alive) as (url, stats):
        t = TargetConfig(name="ka", url=url + "stats", kind="json", interval=0.2, timeout=1.0)
        async with TargetPoller([t], Thresholds()) as poller:
            for _ in range(5):
                (s,) = await poller.poll_once()
                assert s.ok and s.percent == 42.0, s.error
    assert stats.connections == 1 and len(stats.requests) == 5


async def test_poller_words_for_http11_failures(tmp_path) -> None:  # type: ignore[no-untyped-def]
    async def garbage(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")

    async with serve(garbage) as (url, _):
        targets = [
            TargetConfig(name="garbage", url=url, kind="json", timeout=1.0),
            TargetConfig(name="refused", url=f"http://127.0.0.1:{free_port()}/", timeout=1.0),
            TargetConfig(name="nosock", url=f"unix:{tmp_path}/none.sock", timeout=1.0),
        ]
        async with TargetPoller(targets, Thresholds()) as poller:
            garbled, refused, nosock = await poller.poll_once()
    assert garbled.error == "invalid response: bad status line"
    assert refused.error == "connection refused"
    assert nosock.error == "no such socket"


async def test_poller_over_unix_socket_with_base_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "svc.sock")
    os.chmod(tmp_path, 0o700)
    async with serve(keep_alive, unix=path) as (_, stats):
        t = TargetConfig(name="u", url=f"unix:{path}:/api/mem", kind="json", timeout=1.0)
        async with TargetPoller([t], Thresholds()) as poller:
            for _ in range(3):
                (s,) = await poller.poll_once()
                assert s.ok and s.percent == 42.0, s.error
    assert stats.connections == 1
    assert stats.requests[0].startswith(b"GET /api/mem HTTP/1.1\r\nHost: localhost\r\n")


async def test_cleanup_gets_the_cleanup_deadline_not_the_poll_timeout() -> None:
    """A json cleanup route slower than the target's timeout (a full GC) still
    answers within the cleanup floor (10 s)."""

    async def handler(reader, writer, stats):  # type: ignore[no-untyped-def]
        while True:
            head = await read_head(reader, stats)
            if head.startswith(b"POST"):
                await asyncio.sleep(0.6)
                writer.write(ok(b'{"objects_collected": 7}'))
            else:
                writer.write(ok())
            await writer.drain()

    async with serve(handler) as (url, stats):
        t = TargetConfig(name="slowgc", url=url + "stats", kind="json", timeout=0.3, actions={"gc": "POST /gc"})
        async with TargetPoller([t], Thresholds()) as poller:
            result = await poller.cleanup("slowgc", "gc")
    assert result.ok, result.error
    assert result.collected == 7


# --------------------------------------------------------------------------- https stays on httpx


@pytest.fixture
def tls_files(tmp_path):  # type: ignore[no-untyped-def]
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("no openssl command")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return str(cert), str(key)


async def test_https_goes_through_httpx_with_its_ca(tls_files) -> None:  # type: ignore[no-untyped-def]
    import ssl

    cert, key = tls_files
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    stats = Stats()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats.connections += 1
        try:
            await keep_alive(reader, writer, stats)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]

    async def redirect(reader, writer, stats):  # type: ignore[no-untyped-def]
        await read_head(reader, stats)
        writer.write(f"HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:{port}/stats\r\n"
                     "Content-Length: 0\r\n\r\n".encode())

    try:
        async with serve(redirect) as (plain_url, _):
            targets = [
                TargetConfig(name="tls", url=f"https://127.0.0.1:{port}/stats", kind="json", ca=cert, timeout=2.0),
                TargetConfig(name="untrusted", url=f"https://127.0.0.1:{port}/stats", kind="json", timeout=2.0),
                TargetConfig(name="upgrade", url=plain_url, kind="json", ca=cert, timeout=2.0),
            ]
            async with TargetPoller(targets, Thresholds()) as poller:
                tls, untrusted, upgrade = await poller.poll_once()
                again = await poller.poll("tls")
    finally:
        server.close()
        await server.wait_closed()
    assert tls.ok and tls.percent == 42.0, tls.error
    assert again.ok
    assert untrusted.error is not None and untrusted.error.startswith("TLS certificate not trusted")
    assert upgrade.ok and upgrade.percent == 42.0, upgrade.error  # http -> https across the two transports
