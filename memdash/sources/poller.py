"""Polling targets on their schedules, and running their cleanups.

A target is a :class:`~memdash.config.TargetConfig`; its ``kind`` (see
:mod:`memdash.sources.kinds`) says how its answer is read, ``auto`` deciding
from the first good answer. Each poll runs under the target's ``timeout`` as an
overall deadline; requests go through the target's
:class:`~memdash.sources.endpoint.Endpoint` (one kept-alive connection).

A failed poll yields a sample with ``ok=False``, ``error`` in words (scrubbed of
the target's secrets, then cut) and the last good figures; the target's next
poll backs off (``interval * 2**failures``, up to :data:`BACKOFF_CAP_SECONDS`)
and the backoff resets on the next success.

Usage::

    poller = TargetPoller(config.targets, config.thresholds)
    samples = await poller.poll_once()                 # all targets, once
    await poller.run(on_sample, stop_event)            # each on its own schedule
    result = await poller.cleanup("api", "gc")         # a CleanupResult, in words
    await poller.aclose()
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from typing import Any, Callable, Iterable, Sequence

from memdash.config import TargetConfig
from memdash.levels import DEFAULT_THRESHOLDS, Thresholds
from memdash.model import ACTIONS, CleanupResult, TargetSample
from memdash.sources import kinds
from memdash.sources.cleanups import CleanupContext
from memdash.sources.construct import evolver
from memdash.sources.endpoint import Endpoint
from memdash.sources.errors import ERROR_CHARS, TargetError, describe_error, http_status_error
from memdash.sources.prom import PrometheusParseError
from memdash.sources.redact import scrub, scrub_sample, target_secrets, words
from memdash.sources.transport import SslContexts, deadline

# The name users and tests already filter on: the poller was memdash.sources.remote.
log = logging.getLogger("memdash.sources.remote")

#: Longest wait between polls of a failing target, in seconds.
BACKOFF_CAP_SECONDS = 60.0
#: Requests in flight at once, over all targets.
DEFAULT_MAX_CONCURRENCY = 32
#: A cleanup may run longer than a poll (a full GC of a big heap): its deadline
#: is the target's timeout, but at least this many seconds.
CLEANUP_TIMEOUT_FLOOR = 10.0

# What a reader may raise on an answer nobody foresaw: the target fails, in words.
_READER_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError)


@dataclasses.dataclass(eq=False)
class _State:
    """What the poller knows of one target."""

    target: TargetConfig
    kind: str
    url: str  # target.url as shown: no userinfo, no token
    endpoint: Endpoint | None = None
    last_good: TargetSample | None = None
    failures: int = 0
    #: ``(token, secrets)`` of the last :meth:`secrets` call: one reckoning per token, not per poll.
    _secrets: tuple[str | None, tuple[str, ...]] | None = None

    @property
    def delay(self) -> float:
        """Seconds until the next poll: the interval, doubled per consecutive failure."""
        interval = self.target.interval
        if not self.failures:
            return interval
        return min(interval * 2.0 ** min(self.failures, 32), max(BACKOFF_CAP_SECONDS, interval))

    def secrets(self) -> tuple[str, ...]:
        """The target's secrets, with the token its last request carried (no second read)."""
        token = self.endpoint.token if self.endpoint is not None else None
        if token is None and (self.target.token_env or self.target.token_file):
            return target_secrets(self.target, None)  # a token not sent yet: read now, as a request does
        kept = self._secrets
        if kept is None or kept[0] != token:
            kept = self._secrets = (token, target_secrets(self.target, token))
        return kept[1]


#: What a /metrics page without any ``process_*`` family is, in words: prometheus_client
#: in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``) exports no process collector.
# _finish's dataclasses.replace, for the four fields it sets (every poll of every target).
_finished = evolver(TargetSample, ("percent", "limit_bytes", "level", "actions"))

NO_PROCESS_METRICS = "this page has no process metrics: prometheus_client multiprocess mode?"


_PROCESS_FAMILY = re.compile(rb"(?:^|\n)(?:# (?:TYPE|HELP) )?process_[a-z_]+[ {]")


def has_process_family(body: bytes) -> bool:
    """Whether a Prometheus page has any ``process_*`` series or family at all
    (one whose figure is unreadable, NaN say, still counts: that is not multiprocess mode)."""
    return _PROCESS_FAMILY.search(body) is not None


def supported_actions(sample: TargetSample) -> tuple[str, ...]:
    """The cleanup actions ``sample``'s target accepts, in :data:`~memdash.model.ACTIONS` order.

    Read-only kinds (Prometheus) have none; a read-only target's samples list none.
    """
    if not kinds.supports_cleanup(sample.kind):
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
        self._ssl = SslContexts()
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
            state = _State(target=target, kind=target.kind, url=scrub(target.url, target_secrets(target)))
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
            kind = kinds.KINDS.get(state.kind)
            opener = kind.open if kind is not None else None
            state.endpoint = opener(state.target, self._ssl) if opener else Endpoint(state.target, self._ssl)
        return state.endpoint

    async def _poll(self, state: _State) -> TargetSample:
        target = state.target
        async with self._sem():
            now = self._clock()
            try:
                async with deadline(target.timeout):
                    sample = await self._read(state, now)
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
        direct = kinds.KINDS.get(state.kind)
        if direct is not None and direct.open is not None:  # not HTTP (redis): the kind reads its own endpoint
            sample = await direct.poll(self._endpoint(state), state.target, url=state.url, now=now)
            return scrub_sample(self._finish(sample, state.target), state.secrets())
        response = await self._endpoint(state).request("GET", hop_deadline=False)  # _poll's deadline bounds it
        if response.status >= 400:
            raise http_status_error(response.status, response.reason, response.body, state.secrets())
        secrets = state.secrets()
        # A service may echo the request back: its secrets are scrubbed from the
        # body before any reader sees it, and from every string the sample carries.
        answer = kinds.Answer(response, secrets, state.target.max_body)
        try:
            kind = kinds.detect(answer) if state.kind == "auto" else kinds.KINDS[state.kind]
            sample = kind.read(answer, state.target, url=state.url, now=now)
        except (TargetError, PrometheusParseError):
            raise
        except _READER_ERRORS as exc:
            log.debug("target %s: unreadable answer", state.target.name, exc_info=True)
            raise TargetError(f"unreadable answer ({type(exc).__name__}: {exc})") from None
        if kind.name == "prometheus" and sample.rss_bytes is None and not has_process_family(answer.response.body):
            raise TargetError(NO_PROCESS_METRICS)
        state.kind = kind.name  # auto: remembered from the first good answer
        return scrub_sample(self._finish(sample, state.target), secrets)

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
        return _finished(sample, percent=percent, limit_bytes=limit, level=thresholds.classify(percent), actions=actions)

    def _failed(self, state: _State, now: float, error: str) -> TargetSample:
        target = state.target
        error = words(error, state.secrets(), ERROR_CHARS)  # room for the service's own reason
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

        def refuse(error: str) -> CleanupResult:
            return CleanupResult(target=name, action=action, ok=False, error=words(error, state.secrets()))

        if action not in ACTIONS:
            return refuse(f"unknown action {action!r} (one of: {', '.join(ACTIONS)})")
        if self.read_only or target.read_only:
            return refuse("read-only: cleanups are disabled")
        if state.kind == "auto":
            first = await self._poll(state)
            if state.kind == "auto":
                return refuse(f"cannot reach the target to tell its kind: {first.error}")
        run = kinds.KINDS[state.kind].cleanup
        if run is None:
            return refuse(f"this target does not support {action}")
        timeout = max(target.timeout, CLEANUP_TIMEOUT_FLOOR)
        ctx = CleanupContext(target=target, endpoint=self._endpoint(state), poll=lambda: self._poll(state),
                             timeout=timeout)
        try:
            return await run(ctx, action, options)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return refuse(describe_error(exc, timeout))

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
