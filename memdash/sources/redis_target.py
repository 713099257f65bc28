"""``redis://``, ``rediss://`` and ``unix:`` Redis targets, read with redis-py.

A poll sends ``INFO server`` (the version), ``INFO memory``, ``INFO stats``
and ``INFO keyspace``, nothing else (:mod:`.redisinfo` turns the answer into figures); the one cleanup,
``trim``, sends ``MEMORY PURGE`` (jemalloc gives its dirty pages back to the
OS; no key is touched). memdash never sends a write command: no ``FLUSHALL``,
``FLUSHDB``, ``CONFIG SET``, ``DEL``. The connection is made without redis-py's
``CLIENT SETINFO`` hello, so ``MONITOR`` shows only those commands (and
``AUTH``/``SELECT`` where a password or a database is given).

The password comes from ``token_env``/``token_file`` (or the URL's userinfo,
redacted wherever the URL is shown). redis-py is an optional dependency:
``pip install 'memdash[redis]'``; without it a redis target fails with that
sentence.
"""

from __future__ import annotations

import inspect
import time
from typing import Any, Mapping

from memdash.config import TargetConfig
from memdash.model import CleanupResult, TargetSample
from memdash.sources.errors import TargetError
from memdash.sources.redisinfo import figures_from_info
from memdash.sources.transport import SslContexts, within

#: What a redis target says when redis-py is not installed.
MISSING = "redis targets need redis-py: pip install 'memdash[redis]'"
#: The only commands memdash sends to Redis (besides AUTH/SELECT on connect).
COMMANDS = ("INFO server", "INFO memory", "INFO stats", "INFO keyspace", "MEMORY PURGE")


def _redis_module() -> Any:
    try:
        import redis.asyncio as aioredis
    except ImportError:
        raise TargetError(MISSING) from None
    return aioredis


class RedisEndpoint:
    """One Redis target's connection (opened on the first poll, kept between polls)."""

    def __init__(self, target: TargetConfig, ssl_contexts: SslContexts | None = None) -> None:
        self.target = target
        self.token: str | None = None
        self._client: Any = None

    def _connect(self) -> Any:
        aioredis = _redis_module()
        t = self.target
        self.token = t.token()
        common: dict[str, Any] = dict(
            socket_timeout=t.timeout, socket_connect_timeout=t.timeout, decode_responses=True,
            health_check_interval=0, single_connection_client=True,
        )
        # No CLIENT SETINFO on connect: INFO and MEMORY PURGE only. redis-py 7+
        # says so with driver_info=None; older ones with lib_name=None.
        if "driver_info" in inspect.signature(aioredis.Redis.__init__).parameters:
            common["driver_info"] = None
        else:
            common.update(lib_name=None, lib_version=None)
        if self.token:
            common["password"] = self.token
        if t.url.startswith("unix:"):
            path = t.url[len("unix:"):].split("?", 1)[0]
            return aioredis.Redis(unix_socket_path=path, **common)
        if t.url.startswith("rediss://"):
            common.update(ssl_cert_reqs="required" if t.verify else "none", ssl_ca_certs=t.ca,
                          ssl_check_hostname=t.verify)
        try:
            return aioredis.Redis.from_url(t.url, **common)
        except ValueError as exc:
            raise TargetError(f"invalid redis URL ({exc})") from None

    def client(self) -> Any:
        if self._client is None:
            self._client = self._connect()
        return self._client

    async def info(self) -> dict[str, Any]:
        """``INFO server`` (the version), ``memory``, ``stats`` and ``keyspace``, merged."""
        client = self.client()
        out: dict[str, Any] = {}
        for section in ("server", "memory", "stats", "keyspace"):
            out.update(await client.info(section))
        return out

    async def purge(self) -> Any:
        """``MEMORY PURGE``."""
        return await self.client().execute_command("MEMORY PURGE")

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await client.aclose()
            except Exception:  # closing a broken connection: nothing left to do
                pass


def describe_redis_error(exc: BaseException) -> str | None:
    """redis-py's failures in words; ``None`` when ``exc`` is not one."""
    import sys

    redis = sys.modules.get("redis")
    if redis is None or not isinstance(exc, redis.RedisError):
        return None
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, redis.AuthenticationError):
        return f"refused: the password is missing or wrong (set token_env or token_file): {text}"
    if isinstance(exc, redis.TimeoutError):
        return "timed out"
    if isinstance(exc, redis.ConnectionError):
        low = text.lower()
        if "refused" in low:
            return "connection refused"
        if "no such file" in low:
            return "no such socket"
        return f"cannot connect: {text}"
    if isinstance(exc, redis.ResponseError):
        return f"Redis said: {text}"
    return f"{type(exc).__name__}: {text}"


def sample_from_info(info: Mapping[str, Any], *, name: str, url: str, now: float) -> TargetSample:
    """A sample from Redis's ``INFO`` fields."""
    red = figures_from_info(info)
    words = ["redis"]
    version = red.runtime.labels.get("redis_version")
    if version:
        words[0] += f" {version}"
    policy = red.runtime.labels.get("maxmemory_policy")
    if red.limit_bytes:
        words.append(f"maxmemory with {policy or 'its'} policy")
    else:
        words.append("no maxmemory")
    return TargetSample(
        name=name, url=url, kind="redis", ok=True, time=now, last_ok=now,
        rss_bytes=red.used_bytes, limit_bytes=red.limit_bytes, runtime=red.runtime,
        caches=(red.cache,) if red.cache else (), actions=("trim",), recognised=(", ".join(words),),
    )


async def poll(endpoint: RedisEndpoint, *, url: str, now: float) -> TargetSample:
    """One poll: the three INFO sections, as a sample."""
    try:
        info = await endpoint.info()
    except TargetError:
        raise
    except Exception as exc:
        described = describe_redis_error(exc)
        if described is None:
            raise
        await endpoint.aclose()  # a broken connection is not reused
        raise TargetError(described) from None
    return sample_from_info(info, name=endpoint.target.name, url=url, now=now)


async def cleanup(endpoint: RedisEndpoint, action: str, timeout: float) -> CleanupResult:
    """``trim``: ``MEMORY PURGE``, with Redis's RSS before and after. Any other action is refused."""
    name = endpoint.target.name
    if action != "trim":
        return CleanupResult(target=name, action=action, ok=False,
                             error=f"a redis target supports trim (MEMORY PURGE) only, not {action}; "
                                   "memdash never sends FLUSHALL, FLUSHDB or any write command")
    try:
        before = await within(endpoint.info(), timeout)
        started = time.monotonic()
        await within(endpoint.purge(), timeout)
        took = time.monotonic() - started
        after = await within(endpoint.info(), timeout)
    except Exception as exc:
        described = describe_redis_error(exc)
        if described is None:
            raise
        return CleanupResult(target=name, action=action, ok=False, error=described)

    def rss(info: Mapping[str, Any]) -> int | None:
        value = info.get("used_memory_rss")
        return int(value) if isinstance(value, (int, float)) and value >= 0 else None

    return CleanupResult(target=name, action=action, ok=True, rss_before_bytes=rss(before),
                         rss_after_bytes=rss(after), note=f"MEMORY PURGE in {took * 1000:.0f} ms")
