"""Flask, WSGI and ASGI front ends: thin adapters around :class:`ProbeCore`.

Each turns its framework's request into a :class:`~memdash.probe.core.Request`
(path relative to where the probe is mounted) and writes the core's
:class:`~memdash.probe.core.Response` back. Nothing else happens here.
"""

from __future__ import annotations

from memdash.probe.errors import MAX_BODY_BYTES

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable

    from memdash.probe.core import ProbeCore, Request, Response

# The core (json, urllib.parse) is imported when a front end is created, not
# with the package: a host that only calls collect() never loads it.
_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def _status_line(status: int) -> str:
    from memdash.probe.core import REASONS

    return f"{status} {REASONS.get(status, 'Unknown')}"


def _new_core(token: str | None, prefork: bool | None, min_interval: float | None, max_body: int,
              allowed_hosts: Iterable[str]) -> ProbeCore:
    from memdash.probe.core import ProbeCore

    return ProbeCore(token, prefork=prefork, min_interval=min_interval, max_body=max_body,
                     hosts=tuple(allowed_hosts))


def _content_length(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else 0
    except ValueError:
        return None


# -- WSGI -----------------------------------------------------------------
def _wsgi_headers(environ: dict[str, Any]) -> dict[str, str]:
    headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    return headers


def _wsgi_request(environ: dict[str, Any], core: ProbeCore, path: str) -> Request | Response:
    from memdash.probe.core import Request, too_large_response

    length = _content_length(environ.get("CONTENT_LENGTH"))
    if length is None or length > core.max_body:
        if length is not None and length <= 1 << 20:
            environ["wsgi.input"].read(length)  # drained, so the client reads our 413
        return too_large_response(core.max_body)
    body = environ["wsgi.input"].read(length) if length else b""
    client = environ.get("REMOTE_ADDR") or None
    return Request(method=environ.get("REQUEST_METHOD", "GET"), path=path,
                   query=environ.get("QUERY_STRING", ""), headers=_wsgi_headers(environ), body=body,
                   client=client, via="tcp" if client else "unix")


def wsgi_app(token: str | None = None, *, prefork: bool | None = None, min_interval: float | None = None,
             max_body: int = MAX_BODY_BYTES, allowed_hosts: Iterable[str] = ()) -> Callable[..., Iterable[bytes]]:
    """A WSGI application serving the probe; mount it under a prefix, e.g. with
    werkzeug's ``DispatcherMiddleware(app, {"/memdash": wsgi_app()})``.

    ``token``: argument, else ``MEMDASH_PROBE_TOKEN``. ``prefork``: True in a
    gunicorn/uWSGI worker to answer for the whole group (None: detect).
    ``min_interval``: seconds between two runs of the same cleanup. Requests
    whose peer address is empty (a Unix socket) count as local.
    ``allowed_hosts``: without a token, reads must be addressed (``Host``) to
    localhost, a loopback address or this machine's name, so that a web page
    cannot read the probe through DNS rebinding; name any other host the
    service is reached by locally here. Problems while creating the front end
    (its discovery socket, GC timing) are logged, never raised into the app.
    """
    from memdash.probe.core import Request

    core = _new_core(token, prefork, min_interval, max_body, allowed_hosts)

    def probe_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        req = _wsgi_request(environ, core, environ.get("PATH_INFO", ""))
        resp = core.handle(req) if isinstance(req, Request) else req
        headers = resp.headers + [("Content-Length", str(len(resp.body)))]
        start_response(_status_line(resp.status), headers)
        return [resp.body]

    probe_wsgi.core = core  # type: ignore[attr-defined]
    return probe_wsgi


# -- Flask ----------------------------------------------------------------
def flask_blueprint(token: str | None = None, *, name: str = "memdash_probe", prefork: bool | None = None,
                    min_interval: float | None = None, max_body: int = MAX_BODY_BYTES,
                    allowed_hosts: Iterable[str] = ()) -> Any:
    """A Flask blueprint serving the probe; register it with a prefix::

        app.register_blueprint(flask_blueprint(), url_prefix="/memdash")

    Same options as :func:`wsgi_app`. Flask is imported here, not before.
    """
    from flask import Blueprint, Response as FlaskResponse, request

    from memdash.probe.core import Request

    core = _new_core(token, prefork, min_interval, max_body, allowed_hosts)
    bp = Blueprint(name, __name__)

    def view(rest: str = "") -> Any:
        req = _wsgi_request(request.environ, core, "/" + rest)
        resp = core.handle(req) if isinstance(req, Request) else req
        out = FlaskResponse(resp.body, status=resp.status)
        for key, value in resp.headers:
            out.headers[key] = value  # replaces Flask's default Content-Type
        return out

    bp.add_url_rule("/", "probe", view, methods=_METHODS, strict_slashes=False)
    bp.add_url_rule("/<path:rest>", "probe_path", view, methods=_METHODS)
    bp.core = core  # type: ignore[attr-defined]
    return bp


# -- ASGI -----------------------------------------------------------------
def asgi_app(token: str | None = None, *, prefork: bool | None = None, min_interval: float | None = None,
             max_body: int = MAX_BODY_BYTES, allowed_hosts: Iterable[str] = ()) -> Callable[..., Any]:
    """An ASGI application serving the probe; mount it in FastAPI/Starlette::

        app.mount("/memdash", asgi_app())

    Same options as :func:`wsgi_app`. Snapshots are answered on the event
    loop (tens of microseconds); cleanups and pre-fork fan-out, which block
    for milliseconds, run in the loop's default executor.
    """
    from memdash.probe.core import Request, Response, too_large_response

    core = _new_core(token, prefork, min_interval, max_body, allowed_hosts)

    async def probe_asgi(scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":  # when run as the whole app rather than mounted
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        resp: Response | None = None
        length = _content_length(headers.get("content-length"))
        if length is None or length > core.max_body:
            resp = too_large_response(core.max_body)
        body = b""
        while resp is None:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > core.max_body:
                resp = too_large_response(core.max_body)
            if not message.get("more_body"):
                break
        if resp is None:
            path = scope.get("path", "")
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root):]  # Starlette's Mount keeps the full path in "path"
            client = scope.get("client")
            req = Request(method=scope.get("method", "GET"), path=path,
                          query=scope.get("query_string", b"").decode("latin-1"), headers=headers, body=body,
                          client=str(client[0]) if client else None, via="tcp" if client else "unix")
            if req.method.upper() == "GET" and not core.prefork_active():
                resp = core.handle(req)
            else:
                import asyncio

                resp = await asyncio.get_running_loop().run_in_executor(None, core.handle, req)
        await send({"type": "http.response.start", "status": resp.status,
                    "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in resp.headers]
                    + [(b"content-length", str(len(resp.body)).encode())]})
        await send({"type": "http.response.body", "body": resp.body})

    probe_asgi.core = core  # type: ignore[attr-defined]
    return probe_asgi
