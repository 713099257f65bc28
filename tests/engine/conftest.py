"""Fixtures for the engine tests: real loopback servers (see engine_helpers)."""

from __future__ import annotations

from typing import Iterator

import pytest

from engine_helpers import CountingProbe, HungServer


@pytest.fixture
def counting_probe() -> Iterator[CountingProbe]:
    server = CountingProbe()
    yield server
    server.close()


@pytest.fixture
def hung_server() -> Iterator[HungServer]:
    server = HungServer()
    yield server
    server.close()
