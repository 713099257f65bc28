"""What a client sees when its request is broken: a 400 with a sentence, and the
connection closed (the rest of the stream cannot be trusted)."""

from __future__ import annotations

import json
import socket

import pytest

from memdash import probe


def _exchange(port: int, raw: bytes) -> tuple[bytes, bool]:
    """Send ``raw``; return everything the server sent and whether it then closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(raw)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return data, True
            if not chunk:
                return data, True
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if len(body) >= length:
                    # answered: does the server close, or wait for the next request?
                    s.settimeout(5)
                    try:
                        rest = s.recv(1)
                    except socket.timeout:
                        return data, False
                    except ConnectionResetError:
                        return data, True
                    return data + rest, rest == b""


@pytest.mark.parametrize("raw,status,message", [
    (b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400, "malformed or oversized header"),
    (b"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400, None),
])
def test_a_broken_request_gets_400_and_the_connection_closes(raw: bytes, status: int, message: str | None) -> None:
    with probe.serve() as handle:
        data, closed = _exchange(handle.port, raw)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} Bad Request".encode()), head
    assert b"connection: close" in head.lower()
    doc = json.loads(body)
    assert doc["status"] == status
    if message:
        assert doc["error"] == message
    assert closed


def test_a_good_request_keeps_the_connection_open() -> None:
    with probe.serve() as handle:
        data, closed = _exchange(handle.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert not closed
