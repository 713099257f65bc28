"""Running a cleanup on a target, and saying what it did.

Two ways, by target kind (:mod:`memdash.sources.kinds` says which a kind uses):

- :func:`probe_cleanup`: ``POST {base}/cleanup/{action}`` (the probe's wire
  schema, :mod:`memdash.probe.wire`), whose receipt carries the probe's own
  before/after figures.
- :func:`json_cleanup`: the route the config maps the action to
  (``actions.gc = "POST /api/gc"``). The service's own figures are used where
  its answer names them (``ram_before_mb``...); otherwise memdash polls the
  target just before and after and reports the difference.

Refusals come back as ``ok=False`` with the reason in words (:func:`refusal`):
401 the token, 403 the service's reason, 429 when to try again, 404/405/409/501
not supported. Every string is scrubbed of the target's secrets.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Awaitable, Callable, Mapping

from memdash.config import TargetConfig
from memdash.model import CleanupResult, TargetSample
from memdash.probe.wire import cleanup_path
from memdash.sources.endpoint import Endpoint
from memdash.sources.errors import ERROR_CHARS, service_reason
from memdash.sources.jsonmap import cleanup_figures
from memdash.sources.numbers import number, size
from memdash.sources.probe_wire import result_from_receipt
from memdash.sources.redact import scrub_doc, target_secrets, words
from memdash.sources.transport import Response, within


@dataclasses.dataclass(frozen=True, slots=True)
class CleanupContext:
    """What a cleanup needs of the poller: the target, its endpoint, a way to poll
    it now (before/after figures), and the cleanup's deadline in seconds."""

    target: TargetConfig
    endpoint: Endpoint
    poll: Callable[[], Awaitable[TargetSample]]
    timeout: float

    def secrets(self) -> tuple[str, ...]:
        return target_secrets(self.target, self.endpoint.token)


async def probe_cleanup(ctx: CleanupContext, action: str, options: Mapping[str, Any]) -> CleanupResult:
    """``POST {base}/cleanup/{action}?{options}`` on a memdash.probe; the receipt as a result."""
    endpoint = ctx.endpoint
    url = endpoint.url.with_path(endpoint.url.path.rstrip("/") + cleanup_path(action))
    params = {k: str(v) for k, v in options.items() if v is not None}
    response = await within(endpoint.request("POST", url, params=params or None, timeout=ctx.timeout), ctx.timeout)
    doc = response.json_or_none()
    if response.status >= 400:
        return refusal(ctx, action, response, doc)
    if not isinstance(doc, Mapping):
        return CleanupResult(target=ctx.target.name, action=action, ok=False, status=response.status,
                             error="the probe's receipt is not JSON")
    return result_from_receipt(scrub_doc(doc, ctx.secrets()), target=ctx.target.name, action=action,
                               status=response.status)


async def json_cleanup(ctx: CleanupContext, action: str, options: Mapping[str, Any]) -> CleanupResult:
    """The service's own route for ``action``, measured (``options`` do not apply)."""
    target = ctx.target
    route = target.actions.get(action)
    if route is None:
        return CleanupResult(target=target.name, action=action, ok=False,
                             error=f"this target does not support {action}")
    method, _, path = route.partition(" ")
    endpoint = ctx.endpoint
    before = await ctx.poll()
    url = endpoint.url.join(path.strip())
    response = await within(endpoint.request(method.upper(), url, timeout=ctx.timeout), ctx.timeout)
    doc = response.json_or_none()
    if response.status >= 400:
        return refusal(ctx, action, response, doc, route=route)
    doc = scrub_doc(doc, ctx.secrets())
    figures = cleanup_figures(doc) if doc is not None else {}
    after = await ctx.poll()
    return measured(target.name, action, response.status, figures, before, after, doc)


def refusal(
    ctx: CleanupContext, action: str, response: Response, doc: Any, *, route: str | None = None
) -> CleanupResult:
    """A refused cleanup, explained in words."""
    status = response.status
    secrets = ctx.secrets()
    body = scrub_doc(doc, secrets) if isinstance(doc, Mapping) else {}
    retry = None
    said = service_reason(response.body, body, tuple(s for s in secrets if s))
    if status == 401:
        error = "refused: the token is missing or wrong (set token_env or token_file)"
        if said:
            error += f" (the service says: {said})"
    elif status == 403:
        error = f"refused: {said} (HTTP 403)" if said else "refused: forbidden (HTTP 403)"
    elif status == 429:
        retry = number(body.get("retry_after_seconds"))
        if retry is None:
            retry = number(_float_or_none(response.headers.get("retry-after")))
        if retry is not None and not 0 <= retry <= 86400:
            retry = None  # a wait of -1 s or a year is no answer
        error = f"refused: rate limited, try again in {math.ceil(retry)} s" if retry is not None \
            else "refused: rate limited, try again later"
    elif status in (404, 405, 409, 501):
        error = f"this target does not support {action}"
        if route:
            error += f" ({route} answered HTTP {status})"
        if said:
            error += f" (the service says: {said})"
    else:
        error = f"HTTP {status} {response.reason}".strip()
        if said:
            error += f": {said}"
    return CleanupResult(
        target=ctx.target.name, action=action, ok=False, status=status,
        error=words(error, secrets, ERROR_CHARS), retry_after_seconds=retry, raw=dict(body),
    )


def _float_or_none(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def measured(
    name: str, action: str, status: int, figures: Mapping[str, float],
    before: TargetSample, after: TargetSample, doc: Any,
) -> CleanupResult:
    """A json target's cleanup result: the service's own before/after where it named
    them, else memdash's polls just before and after."""
    def first_gpu(sample: TargetSample) -> int | None:
        return sample.gpu[0].reserved_bytes if sample.ok and sample.gpu else None

    def pick(key: str, fallback: int | None) -> int | None:
        return size(figures[key]) if key in figures else fallback

    rss_before = pick("rss_before", before.rss_bytes if before.ok else None)
    rss_after = pick("rss_after", after.rss_bytes if after.ok else None)
    if "rss_freed" in figures and ("rss_before" in figures) != ("rss_after" in figures):
        if "rss_before" in figures:
            rss_after = size(figures["rss_before"] - figures["rss_freed"])
        else:
            rss_before = size(figures["rss_after"] + figures["rss_freed"])
    gpu_before = pick("gpu_before", first_gpu(before))
    gpu_after = pick("gpu_after", first_gpu(after))
    reported = any(k in figures for k in ("rss_before", "rss_after", "gpu_before", "gpu_after", "percent_before"))
    notes = []
    p_before = figures.get("percent_before", before.percent if before.ok else None)
    p_after = figures.get("percent_after", after.percent if after.ok else None)
    if p_before is not None and p_after is not None:
        notes.append(f"memory {p_before:.1f} % -> {p_after:.1f} %")
    if "rss_freed" in figures:
        notes.append(f"service says it freed {figures['rss_freed'] / (1024 * 1024):.1f} MB of RAM")
    if "gpu_freed" in figures:
        notes.append(f"service says it freed {figures['gpu_freed'] / (1024 * 1024):.1f} MB of GPU memory")
    notes.append("figures as the service reported them" if reported else "measured by memdash before and after")
    collected = figures.get("collected")
    return CleanupResult(
        target=name, action=action, ok=True, status=status,
        rss_before_bytes=rss_before, rss_after_bytes=rss_after,
        gpu_reserved_before_bytes=gpu_before, gpu_reserved_after_bytes=gpu_after,
        collected=None if collected is None or collected < 0 else int(collected),
        note="; ".join(notes),
        raw=dict(doc) if isinstance(doc, Mapping) else {},
    )
