"""memdash.probe: memory, GC and cache stats of a Python service, and cleanups
you can measure, served to the memdash dashboard. Standard library only.

Embed it in two lines::

    # Flask
    from memdash.probe import flask_blueprint
    app.register_blueprint(flask_blueprint(), url_prefix="/memdash")

    # FastAPI / Starlette
    from memdash.probe import asgi_app
    app.mount("/memdash", asgi_app())

    # a worker, or anything else
    from memdash.probe import serve
    serve(unix_socket=True)

Importing this package loads only small standard-library modules: no
framework, no psutil, no torch (torch is used only if the host imported it),
not even ``typing``, ``dataclasses``, ``json``, ``socket`` or ``ctypes``: the
probe adds under 2 MB of RSS to a bare interpreter (``bench/bench_probe.py
--only rss``; docs/python-memory.md, "Footprint").
The wire format is ``docs/probe-wire.md``; the guide is ``docs/probe.md``.
"""

from __future__ import annotations

from memdash.probe.cleanup import cleanup  # eagerly: the submodule's name would shadow a lazy function
from memdash.probe.errors import ProbeError
from memdash.probe.snapshot import collect

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the host ~2 MiB
if TYPE_CHECKING:
    from typing import Any

    from memdash.probe.caches import track_cache
    from memdash.probe.frontends import asgi_app, flask_blueprint, wsgi_app
    from memdash.probe.server import ProbeServer

#: Loaded on first use (PEP 562), so a host that only serves or collects never
#: loads the front ends' code, nor the cache adapters unless it tracks a cache.
_LAZY = {"asgi_app": "memdash.probe.frontends", "flask_blueprint": "memdash.probe.frontends",
         "wsgi_app": "memdash.probe.frontends", "track_cache": "memdash.probe.caches"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(__import__(module, fromlist=[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def serve(host: str = "127.0.0.1", port: int | None = 0, token: str | None = None,
          unix_socket: bool | str | None = None, **options: Any) -> "ProbeServer":
    """Serve this process's probe on one daemon thread (see
    :func:`memdash.probe.server.serve` for every option).

    ``host``/``port`` (``0``: a free port; ``None``: no TCP), ``token`` (else
    ``MEMDASH_PROBE_TOKEN``; required beyond loopback), ``unix_socket``
    (``True``: the discovery socket, a string: that path). Returns a handle
    with ``url``, ``host``, ``port``, ``socket_path``, ``stop()``; a context
    manager. http.server is imported here, so hosts that only embed a front
    end never load it.
    """
    from memdash.probe.server import serve as _serve

    return _serve(host=host, port=port, token=token, unix_socket=unix_socket, **options)


__all__ = [
    "ProbeError",
    "asgi_app",
    "cleanup",
    "collect",
    "flask_blueprint",
    "serve",
    "track_cache",
    "wsgi_app",
]
