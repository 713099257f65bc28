"""Target kinds: how each kind of target is read and cleaned up, as a small registry.

=============  ==================================================  ============
kind           answer                                              cleanups
=============  ==================================================  ============
``probe``      memdash.probe's JSON (:mod:`memdash.probe.wire`)     the probe's
``prometheus`` any ``/metrics`` page                               none
``json``       any JSON memory endpoint (:mod:`.jsonmap`)          configured routes
``redis``      Redis's INFO over redis-py (:mod:`.redis_target`)   trim (MEMORY PURGE)
=============  ==================================================  ============

A kind is a :class:`Kind`: ``claims(answer)`` says whether an answer looks like
its own (``auto`` targets ask each kind in :data:`KINDS` order and keep the
first that claims the answer), ``read(answer, ...)`` turns it into a
:class:`~memdash.model.TargetSample`, and ``cleanup`` (``None``: read-only)
runs an action. A new kind is one class and one :func:`register` call: its
name is then what a config may say (:func:`memdash.config.target_kinds` reads
this registry), and the poller knows none of them by name.

Readers never raise for what a target says: a figure they cannot use is left
out, and an answer they cannot read at all raises :class:`~memdash.sources.errors.TargetError`
(or :class:`~memdash.sources.prom.PrometheusParseError`) in words.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from memdash.config import TargetConfig
from memdash.model import CleanupResult, TargetSample
from memdash.probe.wire import is_probe_document
from memdash.sources.cleanups import CleanupContext, json_cleanup, probe_cleanup
from memdash.sources.errors import TargetError
from memdash.sources.jsonmap import sample_from_json
from memdash.sources.probe_wire import sample_from_probe
from memdash.sources.redact import scrub_bytes, scrub_doc
from memdash.sources.transport import MAX_BODY_BYTES, Response

CleanupFn = Callable[[CleanupContext, str, Mapping[str, Any]], Awaitable[CleanupResult]]

_UNSET = object()


def size_words(n: int) -> str:
    """A body cap in words: ``1 MB``, ``64 KB``, ``1500 bytes``."""
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n % 1024 == 0:
        return f"{n // 1024} KB"
    return f"{n} bytes"


class Answer:
    """A target's answer as the readers see it: the target's secrets already
    scrubbed from the body, and the JSON parsed (and scrubbed, keys too) at most once."""

    __slots__ = ("response", "secrets", "cap", "_doc")

    def __init__(self, response: Response, secrets: tuple[str, ...] = (), cap: int | None = None) -> None:
        #: The body cap the answer was read under (``max_body``).
        self.cap = cap or MAX_BODY_BYTES
        if secrets:
            body = scrub_bytes(response.body, secrets)
            if body is not response.body:
                response = Response(response.status, response.reason, response.headers, body, response.truncated)
        self.response = response
        self.secrets = secrets
        self._doc: Any = _UNSET

    @property
    def content_type(self) -> str | None:
        return self.response.content_type

    def json(self) -> Any:
        """The body as JSON; raises :class:`TargetError` ``"invalid JSON"`` (or
        ``"response larger than ..."`` when the body stopped at the cap)."""
        if self._doc is _UNSET:
            if self.response.truncated:
                raise TargetError(f"response larger than {size_words(self.cap)}")
            doc = self.response.json()
            self._doc = scrub_doc(doc, self.secrets) if self.secrets else doc
        return self._doc

    def is_json(self) -> bool:
        try:
            self.json()
        except TargetError:
            return False
        return True


class Kind:
    """One kind of target. Subclasses set :attr:`name` and :attr:`cleanup`, and
    implement :meth:`claims` and :meth:`read`."""

    #: The ``kind`` a config names and a sample carries.
    name: str = ""
    #: How cleanups run on this kind (:mod:`memdash.sources.cleanups`); ``None``: read-only.
    cleanup: CleanupFn | None = None
    #: A kind that does not speak HTTP opens its own endpoint (``open(target,
    #: ssl_contexts)``, with ``token`` and ``aclose()``) and reads it in
    #: :meth:`poll`; ``None``: an HTTP kind, read from an :class:`Answer`.
    open: Callable[..., Any] | None = None

    async def poll(self, endpoint: Any, target: TargetConfig, *, url: str, now: float) -> TargetSample:
        """A non-HTTP kind's poll (see :attr:`open`)."""
        raise NotImplementedError

    def claims(self, answer: Answer) -> bool:
        """True if ``answer`` looks like this kind's (for ``auto`` targets)."""
        raise NotImplementedError

    def read(self, answer: Answer, target: TargetConfig, *, url: str, now: float) -> TargetSample:
        """The sample in ``answer`` (``ok=True``; percent and level are set by the poller)."""
        raise NotImplementedError


class PrometheusKind(Kind):
    name = "prometheus"
    cleanup = None  # /metrics is read-only

    # The parser (and prometheus_client, ~60 ms to import) is imported when a
    # target answers, not with the registry: the config checks kinds by name.

    def claims(self, answer: Answer) -> bool:
        from memdash.sources.prom import looks_like_prometheus

        return looks_like_prometheus(answer.content_type, answer.response.body)

    def read(self, answer: Answer, target: TargetConfig, *, url: str, now: float) -> TargetSample:
        from memdash.sources.prom import sample_from_prometheus

        response = answer.response
        cap = answer.cap if response.truncated else None
        return sample_from_prometheus(response.text(), answer.content_type, name=target.name, url=url, now=now,
                                      fields=target.fields, truncated_at=cap)


class ProbeKind(Kind):
    name = "probe"
    cleanup = staticmethod(probe_cleanup)

    def claims(self, answer: Answer) -> bool:
        return answer.is_json() and is_probe_document(answer.json())

    def read(self, answer: Answer, target: TargetConfig, *, url: str, now: float) -> TargetSample:
        doc = answer.json()
        if not is_probe_document(doc):
            raise TargetError('not a memdash.probe document (set kind = "json" for other JSON)')
        return sample_from_probe(doc, name=target.name, url=url, now=now)


class JsonKind(Kind):
    name = "json"
    cleanup = staticmethod(json_cleanup)

    def claims(self, answer: Answer) -> bool:
        return True  # the last resort: any answer is read as JSON (or fails as "invalid JSON")

    def read(self, answer: Answer, target: TargetConfig, *, url: str, now: float) -> TargetSample:
        return sample_from_json(answer.json(), name=target.name, url=url, now=now,
                                fields=target.fields, actions=target.actions)


async def _redis_cleanup(ctx: CleanupContext, action: str, options: Mapping[str, Any]) -> CleanupResult:
    from memdash.sources import redis_target

    return await redis_target.cleanup(ctx.endpoint, action, ctx.timeout)  # type: ignore[arg-type]


class RedisKind(Kind):
    """``redis://``/``rediss://``/``unix:`` with ``kind = "redis"``: INFO through redis-py
    (:mod:`memdash.sources.redis_target`); ``trim`` is ``MEMORY PURGE``."""

    name = "redis"
    cleanup = staticmethod(_redis_cleanup)

    @staticmethod
    def open(target: TargetConfig, ssl_contexts: Any = None) -> Any:  # type: ignore[override]
        from memdash.sources.redis_target import RedisEndpoint

        return RedisEndpoint(target, ssl_contexts)

    def claims(self, answer: Answer) -> bool:
        return False  # never an HTTP answer

    def read(self, answer: Answer, target: TargetConfig, *, url: str, now: float) -> TargetSample:
        raise TargetError("a redis target is read with redis-py, not over HTTP")

    async def poll(self, endpoint: Any, target: TargetConfig, *, url: str, now: float) -> TargetSample:
        from memdash.sources import redis_target

        return await redis_target.poll(endpoint, url=url, now=now)


#: Every kind, by name, in the order ``auto`` asks them.
KINDS: dict[str, Kind] = {}


def register(kind: Kind, *, before: str | None = None) -> None:
    """Add ``kind`` to :data:`KINDS` (``before``: ask it ahead of that kind for ``auto``)."""
    if not kind.name or kind.name == "auto":
        raise ValueError(f"a kind needs a name other than 'auto', got {kind.name!r}")
    items = [(n, k) for n, k in KINDS.items() if n != kind.name]
    at = next((i for i, (n, _) in enumerate(items) if n == before), len(items))
    items.insert(at, (kind.name, kind))
    KINDS.clear()
    KINDS.update(items)


for _kind in (PrometheusKind(), ProbeKind(), JsonKind(), RedisKind()):
    register(_kind)


def detect(answer: Answer) -> Kind:
    """The kind an ``auto`` target's answer is: the first in :data:`KINDS` that claims it."""
    for kind in KINDS.values():
        if kind.claims(answer):
            return kind
    raise TargetError("the answer is none of: " + ", ".join(KINDS))


def supports_cleanup(kind_name: str) -> bool:
    """Whether targets of this kind run cleanups at all (``auto``: not known yet, so yes)."""
    kind = KINDS.get(kind_name)
    return kind is None or kind.cleanup is not None
