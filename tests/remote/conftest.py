"""Fixtures for the remote-target tests; the servers themselves are in :mod:`.servers`."""

from __future__ import annotations

import socket
from typing import Callable, Iterator

import pytest

from .servers import TOKEN, TOKEN_ENV, RawServer


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """Sets the test token in ``$MEMDASH_TEST_TOKEN``; returns the variable's name."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return TOKEN_ENV


@pytest.fixture
def raw_server() -> Iterator[Callable[[Callable[[socket.socket, RawServer], None]], RawServer]]:
    """Factory: ``raw_server(handler)`` starts a :class:`RawServer`, closed after the test."""
    servers: list[RawServer] = []

    def start(handler: Callable[[socket.socket, RawServer], None]) -> RawServer:
        server = RawServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
