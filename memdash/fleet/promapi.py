"""A small client for the Prometheus HTTP API (``/api/v1/...``), over httpx.

It speaks to Prometheus and anything that serves the same API (VictoriaMetrics,
Thanos, Mimir). Every request has a deadline for the *whole* answer, not only
for each read, a cap on the body it will buffer, and raises one of::

    PromError
     +-- PromDown       nothing answered (refused, DNS, TLS)
     +-- PromSlow       no whole answer before the deadline
     +-- PromBadAnswer  an HTTP error, not JSON, or status "error" (bad PromQL)

A ``warnings`` list in a successful answer (Thanos's partial responses, a
query that hit a limit) is kept on the result as :attr:`Answer.warnings`, so
the caller can say the ranking is partial without throwing the data away.

The token is sent as a bearer header and never appears in an error text.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple, Sequence

import httpx

#: The most a single answer may hold, bytes. 2,000 series of six columns take
#: about 3 MB; anything past this is a query gone wrong, not a fleet.
MAX_BODY_BYTES = 64 * 1024 * 1024


class PromError(Exception):
    """Prometheus could not answer; ``str()`` is one line for the error row."""


class PromDown(PromError):
    """Nothing answered: connection refused, unknown host, TLS failure."""


class PromSlow(PromError):
    """No whole answer before the request's deadline."""


class PromBadAnswer(PromError):
    """An HTTP error status, a body that is not the API's JSON, or ``status: error``."""


class Sample(NamedTuple):
    """One series of an instant vector: its labels and its value at the query time.

    A named tuple, not a dataclass: a refresh over a big fleet makes tens of
    thousands of these, and a tuple costs a third of a frozen dataclass.
    """

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class RangeSeries:
    """One series of a range query: labels and ``(unix seconds, value)`` points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """A successful answer: the result, the server's warnings, and what it cost.

    ``server_seconds`` is the query's own evaluation time in Prometheus
    (``stats.timings.execTotalTime`` when the server reports it), ``None``
    otherwise; ``wall_seconds`` is the request as memdash saw it.
    """

    result: Any
    warnings: tuple[str, ...] = ()
    server_seconds: float | None = None
    wall_seconds: float = 0.0


@dataclass
class RequestStats:
    """Running counts of what this client asked (for the header and the benchmark)."""

    requests: int = 0
    server_seconds: float = 0.0
    wall_seconds: float = 0.0
    by_path: dict[str, int] = field(default_factory=dict)


def _number(text: Any) -> float:
    # Prometheus sends values as strings, NaN and +Inf included.
    return float(text)


class PromClient:
    """Queries one Prometheus-compatible server.

    Args:
        base_url: ``http(s)://host:port`` plus any path prefix (``/prometheus``).
        token: a bearer token, or ``None``.
        verify: verify TLS certificates (``False`` only when told).
        ca: a CA bundle file for TLS.
        timeout: the deadline for each request's whole answer, seconds.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        verify: bool = True,
        ca: str | None = None,
        timeout: float = 4.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.stats = RequestStats()
        # Threads share the client (a refresh's queries run side by side, the
        # drill-down beside them): the counts are updated under this lock.
        self._lock = threading.Lock()
        headers = {"Accept": "application/json", "User-Agent": "memdash-fleet"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        verify_arg: Any = ca if (verify and ca) else verify
        self._client = httpx.Client(
            headers=headers,
            verify=verify_arg,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
            follow_redirects=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> PromClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the endpoints ---------------------------------------------------------

    def query(self, expr: str, *, at: float | None = None) -> tuple[list[Sample], Answer]:
        """An instant query; the vector's samples (NaN values dropped) and the answer."""
        params: dict[str, Any] = {"query": expr, "stats": "timings", "timeout": f"{self.timeout:g}s"}
        if at is not None:
            params["time"] = f"{at:.3f}"
        answer = self._get("/api/v1/query", params)
        result = answer.result
        if not isinstance(result, dict) or result.get("resultType") not in ("vector", "scalar"):
            raise PromBadAnswer(f"query answered a {result.get('resultType') if isinstance(result, dict) else type(result).__name__}, not a vector")
        samples: list[Sample] = []
        if result["resultType"] == "scalar":
            value = _number(result["result"][1])
            return ([Sample({}, value)] if value == value else []), answer
        append = samples.append
        for item in result.get("result") or []:
            try:
                value = float(item["value"][1])
            except (KeyError, IndexError, TypeError, ValueError):
                continue
            if value != value:  # NaN: 0/0 in a ratio; no figure
                continue
            append(Sample(item.get("metric") or {}, value))
        return samples, answer

    def query_range(self, expr: str, start: float, end: float, step: float) -> tuple[list[RangeSeries], Answer]:
        """A range query from ``start`` to ``end`` (unix seconds) every ``step`` seconds."""
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{max(step, 1.0):g}",
                  "stats": "timings", "timeout": f"{self.timeout:g}s"}
        answer = self._get("/api/v1/query_range", params)
        result = answer.result
        if not isinstance(result, dict) or result.get("resultType") != "matrix":
            raise PromBadAnswer("query_range did not answer a matrix")
        out: list[RangeSeries] = []
        for item in result.get("result") or []:
            points: list[tuple[float, float]] = []
            for pair in item.get("values") or []:
                try:
                    t, v = float(pair[0]), _number(pair[1])
                except (IndexError, TypeError, ValueError):
                    continue
                if v == v:
                    points.append((t, v))
            out.append(RangeSeries(item.get("metric") or {}, tuple(points)))
        return out, answer

    def series(self, matchers: Sequence[str], *, start: float | None = None, end: float | None = None) -> list[dict[str, str]]:
        """``/api/v1/series``: the label sets of the series ``matchers`` select."""
        params: dict[str, Any] = {"match[]": list(matchers)}
        if start is not None:
            params["start"] = f"{start:.3f}"
        if end is not None:
            params["end"] = f"{end:.3f}"
        answer = self._get("/api/v1/series", params)
        if not isinstance(answer.result, list):
            raise PromBadAnswer("series did not answer a list")
        return [s for s in answer.result if isinstance(s, dict)]

    def metric_names(self, matchers: Sequence[str], *, start: float | None = None) -> list[str]:
        """The metric names that exist among ``matchers`` (names only, however many series)."""
        params: dict[str, Any] = {"match[]": list(matchers)}
        if start is not None:
            params["start"] = f"{start:.3f}"
        answer = self._get("/api/v1/label/__name__/values", params)
        if not isinstance(answer.result, list):
            raise PromBadAnswer("label values did not answer a list")
        return [n for n in answer.result if isinstance(n, str)]

    def targets(self) -> list[dict[str, Any]]:
        """``/api/v1/targets``: the active scrape targets (their scrape URLs and labels)."""
        answer = self._get("/api/v1/targets", {"state": "active"})
        result = answer.result
        if not isinstance(result, dict):
            raise PromBadAnswer("targets did not answer an object")
        return [t for t in result.get("activeTargets") or [] if isinstance(t, dict)]

    # -- transport -------------------------------------------------------------

    def _count(self, path: str = "", wall: float = 0.0, server: float = 0.0) -> None:
        with self._lock:
            if path:
                self.stats.requests += 1
                self.stats.by_path[path] = self.stats.by_path.get(path, 0) + 1
            self.stats.wall_seconds += wall
            self.stats.server_seconds += server

    def _get(self, path: str, params: Mapping[str, Any]) -> Answer:
        started = time.monotonic()
        deadline = started + self.timeout
        self._count(path)
        where = f"{self.base_url}{path}"
        try:
            with self._client.stream("GET", where, params=params) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise PromBadAnswer(f"{path}: answer over {MAX_BODY_BYTES // (1024 * 1024)} MiB; narrow the selector")
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise PromSlow(f"Prometheus did not answer {path} within {self.timeout:g} s")
                status = response.status_code
                body = b"".join(chunks)
        except httpx.TimeoutException:
            raise PromSlow(f"Prometheus did not answer {path} within {self.timeout:g} s") from None
        except httpx.ConnectError as exc:
            raise PromDown(f"cannot reach Prometheus at {self.base_url}: {_reason(exc)}") from None
        except httpx.HTTPError as exc:
            raise PromDown(f"Prometheus at {self.base_url}: {type(exc).__name__}: {_reason(exc)}") from None
        finally:
            wall = time.monotonic() - started
            self._count(wall=wall)
        try:
            doc = json.loads(body)
        except ValueError:
            if status >= 400:
                raise PromBadAnswer(f"{path}: HTTP {status}") from None
            raise PromBadAnswer(f"{path}: HTTP {status}, not JSON: is this a Prometheus API?") from None
        if not isinstance(doc, dict):
            raise PromBadAnswer(f"{path}: HTTP {status}, not a Prometheus API answer")
        if doc.get("status") != "success":
            kind = doc.get("errorType") or f"HTTP {status}"
            raise PromBadAnswer(f"{path}: {kind}: {str(doc.get('error') or 'no reason given')[:300]}")
        data = doc.get("data")
        server = None
        if isinstance(data, dict):
            timings = (data.get("stats") or {}).get("timings") if isinstance(data.get("stats"), dict) else None
            if isinstance(timings, dict):
                value = timings.get("execTotalTime", timings.get("evalTotalTime"))
                if isinstance(value, (int, float)):
                    server = float(value)
                    self._count(server=server)
        warnings = tuple(str(w)[:300] for w in doc.get("warnings") or [] if w)
        return Answer(result=data, warnings=warnings, server_seconds=server, wall_seconds=wall)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
