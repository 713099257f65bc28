"""The probe mounted in real Flask, WSGI and FastAPI apps on real servers."""

from __future__ import annotations

import functools
import os
import threading
import time
from typing import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import memdash.probe as probe
from probe_helpers import AUTH, TOKEN


@functools.lru_cache(maxsize=64)
def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


@pytest.fixture
def tracked_fib() -> Iterator[None]:
    fib.cache_clear()
    probe.track_cache(fib, name="fib")
    fib(10)  # 11 misses, 8 hits
    yield
    fib.cache_clear()


def _werkzeug(app) -> Iterator[str]:
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


@pytest.fixture
def flask_url(tracked_fib) -> Iterator[str]:
    from flask import Flask

    app = Flask("probe_test")
    app.register_blueprint(probe.flask_blueprint(token=TOKEN, min_interval=0), url_prefix="/memdash")

    @app.get("/")
    def index():
        return "the app itself"

    yield from _werkzeug(app)


@pytest.fixture
def wsgi_url(tracked_fib) -> Iterator[str]:
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    def base(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"the app itself"]

    yield from _werkzeug(DispatcherMiddleware(base, {"/memdash": probe.wsgi_app(token=TOKEN, min_interval=0)}))


@pytest.fixture
def fastapi_url(tracked_fib) -> Iterator[str]:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    app.mount("/memdash", probe.asgi_app(token=TOKEN, min_interval=0))

    @app.get("/")
    def index():
        return {"app": "itself"}

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start within 15 s"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(params=["flask", "wsgi", "fastapi"])
def app_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def test_snapshot_under_the_mount(app_url):
    with httpx.Client(base_url=app_url, headers=AUTH) as client:
        assert client.get("/").status_code == 200  # the host app still answers its own routes
        snap = client.get("/memdash/").json()
        assert snap["pid"] == os.getpid()
        (entry,) = snap["caches"]
        assert (entry["name"], entry["hits"], entry["misses"], entry["size"]) == ("fib", 8, 11, 11)
        # Starlette redirects the bare mount path to "/memdash/"; Flask/WSGI answer it.
        assert client.get("/memdash", follow_redirects=True).status_code == 200


def test_token_guards_reads_and_cleanups(app_url):
    assert httpx.get(app_url + "/memdash/").status_code == 401
    r = httpx.post(app_url + "/memdash/cleanup/caches", headers={"Authorization": "Bearer bad"})
    assert r.status_code == 401 and r.json()["status"] == 401
    assert fib.cache_info().currsize == 11  # nothing ran


def test_cleanup_caches_empties_the_cache(app_url):
    r = httpx.post(app_url + "/memdash/cleanup/caches", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["caches_cleared"] == ["fib"]
    assert fib.cache_info().currsize == 0


def test_cleanup_gc_with_json_body(app_url):
    r = httpx.post(app_url + "/memdash/cleanup/gc", headers=AUTH, json={"generation": 1})
    assert r.status_code == 200, r.text
    assert r.json()["steps"] == [{"action": "gc", "generation": 1, "collected": r.json()["collected"]}]


def test_errors(app_url):
    r = httpx.post(app_url + "/memdash/cleanup/defrag", headers=AUTH)
    assert r.status_code == 404 and "gc" in r.json()["valid_actions"]
    r = httpx.post(app_url + "/memdash/cleanup/gc", headers=AUTH, content=b"{" * (64 * 1024 + 10))
    assert r.status_code == 413
    r = httpx.get(app_url + "/memdash/cleanup/gc", headers=AUTH)
    assert r.status_code == 405
    r = httpx.get(app_url + "/memdash/nothing/here", headers=AUTH)
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"


def test_metrics(app_url):
    r = httpx.get(app_url + "/memdash/metrics", headers=AUTH)
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    hits = [s.value for f in text_string_to_metric_families(r.text) for s in f.samples
            if s.name == "memdash_cache_hits_total" and s.labels == {"cache": "fib"}]
    assert hits == [8]
