"""A WSGI app serving a real prometheus_client ``/metrics`` page, run by real
gunicorn (and uvicorn: ``asgi``) in the target-service tests.

With ``PROMETHEUS_MULTIPROC_DIR`` set, the page comes from a
``MultiProcessCollector`` registry, as prometheus_flask_exporter's multiprocess
mode serves it: no ``process_*`` families at all. Each worker holds
``PROM_APP_MB`` MiB of its own, touched, so workers' RSS is well above noise.
"""

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest

_MB = int(os.environ.get("PROM_APP_MB", "0"))
_ballast = bytearray(_MB * 1024 * 1024)
_ballast[::4096] = b"x" * len(range(0, len(_ballast), 4096))

REQUESTS = Counter("app_requests", "Requests served")


def _page() -> bytes:
    REQUESTS.inc()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def app(environ, start_response):
    body = _page()
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
    return [body]


async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    body = _page()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", CONTENT_TYPE_LATEST.encode())]})
    await send({"type": "http.response.body", "body": body})
