"""The one request handler every front end shares.

A front end (standalone server, Flask, WSGI, ASGI) turns its request into a
:class:`Request` (method, path relative to the mount point, query, headers,
body, client) and writes back the :class:`Response`. Routing, authentication,
rate limiting, pre-fork fan-out and error bodies all live here, so the four
front ends cannot drift apart.

Nothing escapes :meth:`ProbeCore.handle`: every error becomes a JSON body with
a status (``docs/probe-wire.md``), never a traceback, and no body or log line
ever holds the token.
"""

from __future__ import annotations

import os

from memdash.probe.cleanup import default_min_interval
from memdash.probe.errors import (MAX_BODY_BYTES, BadRequest, Forbidden, NotFound, ProbeError, RateLimited,
                                  TooLarge, Unauthorized)
from memdash.probe.logs import logger as _log, shown
from memdash.probe.snapshot import collect

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any, Mapping

# Kept light on purpose (the probe lives in the host's memory): no dataclasses,
# no json module for answers (see dumps), urllib.parse and json's decoder only
# for requests that carry a query or a body.

#: Reason phrases for the statuses the probe answers with.
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 411: "Length Required", 413: "Content Too Large",
           429: "Too Many Requests", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
           502: "Bad Gateway", 505: "HTTP Version Not Supported"}

JSON_TYPE = "application/json"
PATHS = ["/", "/metrics", "/cleanup/{action}"]

#: Headers a reverse proxy or CDN adds: their presence means the peer address
#: (often 127.0.0.1 or a Unix socket) is the proxy's, not the client's.
PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip", "true-client-ip", "cf-connecting-ip",
                 "x-client-ip", "x-cluster-client-ip", "fastly-client-ip")


def _host_name(host: str) -> str:
    """The name in a ``Host`` header, lower-case, without port, brackets or a final dot."""
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8080
        return host[1:].partition("]")[0]
    if host.count(":") == 1:  # name:port (more colons: a bare IPv6 address)
        host = host.partition(":")[0]
    return host.rstrip(".")


def is_loopback_name(name: str) -> bool:
    """``localhost``, an address in 127.0.0.0/8, ``::1`` (names from :func:`_host_name`)."""
    if name in ("localhost", "::1", "0:0:0:0:0:0:0:1", "ip6-localhost"):
        return True
    parts = name.split(".")
    return (len(parts) == 4 and parts[0] == "127"
            and all(p.isascii() and p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts))


class Request:
    """A request as every front end hands it to the core (immutable).

    ``path`` is relative to where the probe is mounted (``""`` or ``"/"`` for
    the snapshot). ``headers`` keys are lower-case. ``client`` is the peer IP
    (``None`` if unknown). ``via`` is ``"tcp"``, ``"unix"`` (a Unix socket we
    did not create) or ``"unix-private"`` (the probe's own 0600 socket in a
    0700 directory, where the filesystem is the authentication).
    """

    __slots__ = ("method", "path", "query", "headers", "body", "client", "via")
    __match_args__ = __slots__

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    client: str | None
    via: str

    def __init__(self, method: str, path: str, query: str = "", headers: Mapping[str, str] | None = None,
                 body: bytes = b"", client: str | None = None, via: str = "tcp") -> None:
        setter = object.__setattr__
        setter(self, "method", method)
        setter(self, "path", path)
        setter(self, "query", query)
        setter(self, "headers", {} if headers is None else headers)
        setter(self, "body", body)
        setter(self, "client", client)
        setter(self, "via", via)

    def _fields(self) -> tuple[Any, ...]:
        return (self.method, self.path, self.query, self.headers, self.body, self.client, self.via)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: Request is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: Request is immutable")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (f"Request(method={self.method!r}, path={self.path!r}, query={self.query!r}, "
                f"headers={self.headers!r}, body={self.body!r}, client={self.client!r}, via={self.via!r})")


class Response:
    """Status, headers (name, value) and body bytes."""

    __slots__ = ("status", "headers", "body")
    __match_args__ = __slots__

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.status, self.headers, self.body) == (other.status, other.headers, other.body)  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Response(status={self.status!r}, headers={self.headers!r}, body={self.body!r})"


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _json_str(s: str) -> str:
    if s.isascii() and s.isprintable() and '"' not in s and "\\" not in s:
        return '"' + s + '"'  # the common case: nothing to escape
    out = []
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            n = ord(ch)
            if n < 0x10000:
                out.append(f"\\u{n:04x}")
            else:  # a surrogate pair, as json.dumps writes it
                n -= 0x10000
                out.append(f"\\u{0xD800 | (n >> 10):04x}\\u{0xDC00 | (n & 0x3FF):04x}")
    return '"' + "".join(out) + '"'


def _json_float(f: float) -> str:
    if f != f:
        return "NaN"
    if f == _INF:
        return "Infinity"
    if f == -_INF:
        return "-Infinity"
    return float.__repr__(f)


def _json_key(k: Any) -> str:
    if isinstance(k, str):
        return _json_str(k)
    if k is True:
        return '"true"'
    if k is False:
        return '"false"'
    if k is None:
        return '"null"'
    if isinstance(k, int):
        return '"' + int.__repr__(k) + '"'
    if isinstance(k, float):
        return '"' + _json_float(k) + '"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(k).__name__}")


def _json_encode(o: Any, depth: int = 0) -> str:
    t = type(o)
    if t is str:
        return _json_str(o)
    if t is int:
        return int.__repr__(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if t is float:
        return _json_float(o)
    if depth > 200:
        raise ValueError("Circular reference detected")
    depth += 1
    if t is dict:
        return "{" + ",".join([(_json_str(k) if type(k) is str else _json_key(k)) + ":" + _json_encode(v, depth)
                               for k, v in o.items()]) + "}"
    if t is list or t is tuple:
        return "[" + ",".join([_json_encode(v, depth) for v in o]) + "]"
    # Subclasses, as json.dumps treats them.
    if isinstance(o, str):
        return _json_str(o)
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        return _json_float(o)
    if isinstance(o, dict):
        return _json_encode(dict(o), depth)
    if isinstance(o, (list, tuple)):
        return _json_encode(list(o), depth)
    return _json_str(str(o))  # json.dumps(default=str)


_INF = float("inf")
_c_encoder: Any = None  # json's C encoder, once checked; False where unusable


def _make_c_encoder() -> Any:
    """json's own C encoder (what ``json.dumps`` runs), from the small ``_json``
    extension without the ``json`` package; checked against the Python
    encoder below, and ``False`` where it is missing or behaves differently."""
    try:
        from _json import encode_basestring_ascii, make_encoder

        encode = make_encoder(None, str, encode_basestring_ascii, None, ":", ",", False, False, True)
        sample = {"a": [1, 2.5, None, True, False, "\u00e9\n\"", (3,)], "b": {"c": float("nan"), 1: -_INF}}
        if "".join(encode(sample, 0)) != _json_encode(sample):
            return False
        return encode
    except Exception:
        return False


def dumps(payload: Any) -> str:
    """``json.dumps(payload, separators=(",", ":"), default=str)`` without
    importing json (and with it re and enum, ~1.4 MiB of the host's RSS):
    json's C encoder where the interpreter has one, else the Python encoder
    above. Same output for everything the probe sends."""
    global _c_encoder
    encode = _c_encoder
    if encode is None:
        encode = _c_encoder = _make_c_encoder()
    if encode is False:
        return _json_encode(payload)
    return "".join(encode(payload, 0))


def json_response(status: int, payload: Any, extra_headers: list[tuple[str, str]] | None = None) -> Response:
    body = dumps(payload).encode()
    headers = [("Content-Type", JSON_TYPE), ("Cache-Control", "no-store")]
    return Response(status, headers + (extra_headers or []), body)


def error_response(exc: ProbeError, extra_headers: list[tuple[str, str]] | None = None) -> Response:
    """The JSON body and headers for a refusal."""
    payload = {"error": exc.message, "status": exc.status}
    payload.update(exc.extra)
    headers = list(extra_headers or [])
    if exc.status == 401:
        headers.append(("WWW-Authenticate", 'Bearer realm="memdash.probe"'))
    if isinstance(exc, RateLimited):
        headers.append(("Retry-After", str(max(1, int(exc.retry_after_seconds + 0.999)))))
    return json_response(exc.status, payload, headers)


def too_large_response(max_body: int = MAX_BODY_BYTES) -> Response:
    """413 for front ends that see the size before reading the body."""
    return error_response(TooLarge(f"request body over {max_body} bytes"))


def is_loopback(client: str | None) -> bool:
    """127.0.0.0/8, ::1 or an IPv4-mapped loopback address."""
    if not client:
        return False
    if client.startswith("::ffff:"):
        client = client[7:]
    return client.startswith("127.") or client == "::1"


def resolve_token(token: str | None) -> str | None:
    """The token argument, else ``MEMDASH_PROBE_TOKEN``; empty means none."""
    if token is None:
        token = os.environ.get("MEMDASH_PROBE_TOKEN")
    return token or None


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class ProbeCore:
    """Routes, authorises and answers probe requests.

    ``token``: the shared secret (argument, else ``MEMDASH_PROBE_TOKEN``).
    ``min_interval``: seconds between two runs of the same cleanup (else
    ``MEMDASH_PROBE_MIN_INTERVAL``, else 5). ``prefork``: True/False, or
    None to detect (see :mod:`memdash.probe.prefork`). ``gather``: False for a
    worker's own discovery socket, which answers for itself only. ``hosts``:
    ``Host`` names, besides loopback ones and this machine's name, that
    tokenless reads may carry.
    """

    def __init__(self, token: str | None = None, *, min_interval: float | None = None,
                 prefork: bool | None = None, gather: bool = True, max_body: int = MAX_BODY_BYTES,
                 hosts: tuple[str, ...] | list[str] | frozenset[str] = ()) -> None:
        self._token = resolve_token(token)
        self.min_interval = default_min_interval() if min_interval is None else float(min_interval)
        self.max_body = max_body
        self.gather = gather
        self.prefork = prefork
        self.hosts = frozenset(_host_name(h) for h in hosts if h)
        # A front end is created during the host's start-up: whatever goes
        # wrong below is logged, never raised into it.
        try:
            from memdash.probe.gc_pauses import TIMER

            TIMER.install()  # pauses are timed from the moment a front end exists
        except Exception as exc:
            _log().warning("memdash.probe: GC pause timing is off: %s", shown(exc))
        if gather:
            try:
                from memdash.probe import prefork as _prefork

                _prefork.on_front_end_created(prefork)
            except Exception as exc:
                _log().warning("memdash.probe: pre-fork mode is off in this worker: %s", shown(exc))

    def __repr__(self) -> str:  # never show the token, even in a debugger
        return f"ProbeCore(token={'set' if self._token else 'none'}, min_interval={self.min_interval})"

    @property
    def has_token(self) -> bool:
        """Whether a token guards this probe."""
        return self._token is not None

    def prefork_active(self) -> bool:
        """Whether requests fan out to sibling workers."""
        if not self.gather:
            return False
        from memdash.probe import prefork as _prefork

        return _prefork.active(self.prefork)

    # -- the boundary ------------------------------------------------------
    def handle(self, req: Request) -> Response:
        """Answer one request. Never raises."""
        try:
            return self._handle(req)
        except ProbeError as exc:
            headers = [("Allow", exc.extra.pop("_allow"))] if "_allow" in exc.extra else None
            return error_response(exc, headers)
        except Exception as exc:
            # The traceback goes to the host's log (without request headers,
            # so without the token); the client gets a sentence.
            _log().error("internal error answering %r %r", req.method, req.path, exc_info=True)
            return json_response(500, {"error": f"internal error in the probe ({type(exc).__name__})",
                                       "status": 500})

    def _handle(self, req: Request) -> Response:
        path = req.path or "/"
        if len(path) > 1:
            path = path.rstrip("/") or "/"
        method = req.method.upper()
        allowed: tuple[str, ...]
        if path == "/":
            route, allowed = "snapshot", ("GET", "HEAD")
        elif path == "/metrics":
            route, allowed = "metrics", ("GET", "HEAD")
        elif path.startswith("/cleanup/") and path.count("/") == 2:
            route, allowed = "cleanup", ("POST",)
        else:
            raise NotFound(f"no such path {path!r} here", paths=PATHS)
        if method not in allowed:
            raise ProbeError(f"{method} is not allowed on {path}; use {' or '.join(allowed)}",
                             status=405, _allow=", ".join(allowed))
        self._authorize(req, write=route == "cleanup")
        if len(req.body) > self.max_body:
            raise TooLarge(f"request body over {self.max_body} bytes")
        query: dict[str, Any] = {}
        if req.query:
            from urllib.parse import parse_qsl  # here: ~1.7 MiB of RSS, paid only by requests with a query

            query = dict(parse_qsl(req.query, keep_blank_values=True))
        worker = self._worker_option(query.pop("worker", None))
        if route == "snapshot":
            resp = json_response(200, self._snapshot(worker))
        elif route == "metrics":
            resp = self._metrics(worker)
        else:
            action = path.rsplit("/", 1)[1]
            options: dict[str, Any] = dict(query)
            options.update(self._json_body(req))
            if "worker" in options:
                worker = self._worker_option(options.pop("worker"))
            client = self._client_label(req)
            resp = json_response(200, self._cleanup(action, options, worker, client))
        if method == "HEAD":
            resp.body = b""
        return resp

    # -- pieces ------------------------------------------------------------
    def _authorize(self, req: Request, *, write: bool) -> None:
        if req.via == "unix-private":
            return  # only our own uid can connect: the socket's mode is the check
        presented = _bearer(req.headers.get("authorization"))
        if self._token is not None:
            if presented is None:
                self._refuse(req, write, "no token")
                raise Unauthorized("this probe needs a token: send 'Authorization: Bearer <token>'")
            import hmac  # here: hashlib/OpenSSL cost ~4 MiB of RSS, paid only where a token is used

            if not hmac.compare_digest(presented.encode(), self._token.encode()):
                self._refuse(req, write, "wrong token")
                raise Unauthorized("wrong token")
            return
        if write:
            self._refuse(req, write, "no token configured")
            raise Forbidden("cleanups need a token and this probe has none: start it with "
                            "token=... or MEMDASH_PROBE_TOKEN (or use its own Unix socket)")
        proxied = any(h in req.headers for h in PROXY_HEADERS)
        if proxied or (req.via != "unix" and not is_loopback(req.client)):
            raise Forbidden("reads from beyond this machine need a token: set MEMDASH_PROBE_TOKEN "
                            "in the service (requests through a proxy count as remote)")
        host = req.headers.get("host")
        if host is not None and not self._local_host(host):
            # A page on another site whose name the attacker re-pointed at
            # 127.0.0.1 (DNS rebinding) reaches us from a loopback peer, but
            # its browser still sends that site's name.
            raise Forbidden("a tokenless probe answers only requests addressed to this machine "
                            "(Host: localhost, 127.0.0.1, [::1] or the configured host); "
                            "set a token to read it under another name")

    def _local_host(self, host: str) -> bool:
        name = _host_name(host)
        if is_loopback_name(name) or name in self.hosts:
            return True
        return name == os.uname().nodename.lower()  # Debian maps it to 127.0.1.1

    @staticmethod
    def _refuse(req: Request, write: bool, why: str) -> None:
        if write:
            _log().warning("cleanup %r from %s refused: %s", req.path.rsplit("/", 1)[-1],
                           shown(req.client or req.via), why)

    @staticmethod
    def _client_label(req: Request) -> str:
        forwarded = req.headers.get("x-memdash-forwarded-for") if req.via == "unix-private" else None
        if forwarded:
            return f"{forwarded} (via pid {os.getppid()} group)"
        return req.client or req.via

    def _json_body(self, req: Request) -> dict[str, Any]:
        if not req.body.strip():
            return {}
        import json  # here: only cleanups with a JSON body decode one

        try:
            data = json.loads(req.body)
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("request body must be a JSON object of options")
        return data

    def _worker_option(self, raw: Any) -> int | None:
        if raw in (None, ""):
            return None
        try:
            pid = int(raw)
        except (TypeError, ValueError):
            raise BadRequest("worker must be a pid") from None
        if pid != os.getpid() and not self.prefork_active():
            raise NotFound(f"no worker {pid}: this probe is not in pre-fork mode", workers=[os.getpid()])
        return pid

    def _snapshot(self, worker: int | None) -> dict[str, Any]:
        if not self.prefork_active():
            return collect()
        from memdash.probe import prefork

        if worker is not None and worker != os.getpid():
            return prefork.sibling_snapshot(worker)
        snap = collect()
        if worker is None:
            workers = [snap] + prefork.sibling_snapshots()
            snap = dict(snap)
            snap["prefork"] = True
            snap["workers"] = workers
            snap["group"] = prefork.group_totals(workers)
        return snap

    def _metrics(self, worker: int | None) -> Response:
        from memdash.probe import metrics

        if self.prefork_active() and worker is None:
            from memdash.probe import prefork

            workers = [collect()] + prefork.sibling_snapshots()
            text = metrics.render(workers, per_pid=True, group=prefork.group_totals(workers))
        else:
            text = metrics.render([self._snapshot(worker)])
        return Response(200, [("Content-Type", metrics.CONTENT_TYPE), ("Cache-Control", "no-store")],
                        text.encode())

    def _cleanup(self, action: str, options: dict[str, Any], worker: int | None, client: str) -> dict[str, Any]:
        from memdash.probe.cleaner import CLEANER  # here: a host nobody cleans up never loads it

        if not self.prefork_active() or worker == os.getpid():
            return CLEANER.run(action, options, min_interval=self.min_interval, client=client)
        from memdash.probe import prefork

        if worker is not None:
            return prefork.sibling_cleanup(worker, action, options, client)
        mine = CLEANER.run(action, options, min_interval=self.min_interval, client=client)
        receipts = [mine] + prefork.siblings_cleanup(action, options, client)
        return prefork.group_receipt(action, receipts)
