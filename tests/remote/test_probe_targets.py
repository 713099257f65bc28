"""``probe`` targets against the real memdash.probe, served in this process."""

from __future__ import annotations

import functools
import os
from typing import Iterator

import pytest

from memdash.config import TargetConfig
from memdash.levels import Thresholds
from memdash.sources.remote import TargetPoller, supported_actions

from .servers import TOKEN

probe = pytest.importorskip("memdash.probe")


@functools.lru_cache(maxsize=64)
def _square(n: int) -> int:
    return n * n


@pytest.fixture(scope="module")
def tracked_cache() -> None:
    probe.track_cache(_square, name="square")
    for n in list(range(10)) * 3:
        _square(n)


@pytest.fixture
def probe_url(tracked_cache: None) -> Iterator[str]:
    server = probe.serve(token=TOKEN, min_interval=0)
    try:
        yield server.url
    finally:
        server.stop()


async def test_poll_gives_gc_generations_and_caches(probe_url: str, token_env: str) -> None:
    t = TargetConfig(name="probe", url=probe_url, token_env=token_env)  # kind auto
    async with TargetPoller([t], Thresholds()) as poller:
        (s,) = await poller.poll_once()
        assert poller.kind("probe") == "probe"
    assert s.ok, s.error
    assert s.kind == "probe" and s.pid == os.getpid()
    assert s.rss_bytes is not None and s.rss_bytes > 0
    assert s.percent is not None and s.level.label in ("excellent", "good", "warning", "critical")
    assert s.gc is not None and len(s.gc.generations) >= 3
    assert all(g.threshold is not None for g in s.gc.generations)
    square = next(c for c in s.caches if c.name == "square")
    assert square.hits == 20 and square.misses == 10 and square.hit_rate == pytest.approx(20 / 30)
    assert {"gc", "caches", "all"} <= set(supported_actions(s))


async def test_cleanup_gc_with_token(probe_url: str, token_env: str) -> None:
    t = TargetConfig(name="probe", url=probe_url, kind="probe", token_env=token_env)
    async with TargetPoller([t], Thresholds()) as poller:
        result = await poller.cleanup("probe", "gc", generation=2)
    assert result.ok, result.error
    assert result.status == 200 and result.action == "gc"
    assert result.rss_before_bytes is not None and result.rss_after_bytes is not None
    assert result.collected is not None and result.collected >= 0


async def test_cleanup_without_token_is_refused_in_words(probe_url: str) -> None:
    t = TargetConfig(name="probe", url=probe_url, kind="probe")
    async with TargetPoller([t], Thresholds()) as poller:
        (s,) = await poller.poll_once()  # a probe with a token wants it for reads too
        result = await poller.cleanup("probe", "gc")
    assert s.error.startswith("HTTP 401 Unauthorized: the token is missing or wrong (set token_env or token_file)"
                            " (the service says: this probe needs a token")
    assert not result.ok and result.status == 401
    assert result.error.startswith("refused: the token is missing or wrong (set token_env or token_file)"
                                   " (the service says: ")


async def test_unsupported_and_rate_limited(tracked_cache: None, token_env: str) -> None:
    from memdash.probe.cleanup import CLEANER

    CLEANER.reset()  # no earlier test's gc counts against this one
    server = probe.serve(token=TOKEN, min_interval=30)
    try:
        t = TargetConfig(name="probe", url=server.url, kind="probe", token_env=token_env)
        async with TargetPoller([t], Thresholds()) as poller:
            first = await poller.cleanup("probe", "gc")
            second = await poller.cleanup("probe", "gc")
            cuda = await poller.cleanup("probe", "cuda")
    finally:
        server.stop()
    assert first.ok, first.error
    assert not second.ok and second.status == 429
    assert second.retry_after_seconds is not None and 0 < second.retry_after_seconds <= 30
    assert second.error is not None and second.error.startswith("refused: rate limited, try again in ")
    assert cuda.error == ("this target does not support cuda (the service says: action 'cuda' is not available "
                          "in this process (needs torch with CUDA initialised))")


async def test_probe_over_unix_socket(tracked_cache: None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    os.chmod(tmp_path, 0o700)
    path = str(tmp_path / "p.sock")
    server = probe.serve(port=None, unix_socket=path, min_interval=0)
    try:
        t = TargetConfig(name="sock", url=f"unix:{path}")
        async with TargetPoller([t], Thresholds()) as poller:
            (s,) = await poller.poll_once()
            result = await poller.cleanup("sock", "gc")  # the private socket needs no token
    finally:
        server.stop()
    assert s.ok and s.kind == "probe" and s.pid == os.getpid()
    assert result.ok, result.error
