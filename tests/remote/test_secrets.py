"""A target's token and URL password never reach a sample, an error or a receipt,
not even in part, whatever the service echoes back."""

from __future__ import annotations

import json
import subprocess
import sys

from flask import Flask, Response, request

from memdash.config import TargetConfig
from memdash.levels import Thresholds
from memdash.sources.errors import ERROR_CHARS
from memdash.sources.remote import MAX_ERROR_CHARS, TargetPoller

from .servers import TOKEN, free_port, wsgi_server

PASSWORD = "pw-Zq81LmN0vX"


def fragments(secret: str, size: int = 6) -> list[str]:
    """Every ``size``-character piece of ``secret``: none may show."""
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


def assert_clean(text: str | None, *secrets: str) -> None:
    assert text is not None
    for secret in secrets:
        for piece in fragments(secret):
            assert piece not in text, f"{piece!r} (part of a secret) in {text!r}"


def echo_app() -> Flask:
    """Answers with whatever Authorization header it was sent, in several places."""
    app = Flask("echo")

    def auth() -> str:
        return request.headers.get("Authorization", "")

    @app.get("/metrics")
    def metrics():  # type: ignore[no-untyped-def]
        # Invalid Prometheus text whose parse error ("Invalid metric type: gauge x...x TOKEN")
        # puts the bare token across the old 120-character cut.
        token = auth().split()[-1] if auth() else ""
        return Response("# TYPE m gauge " + "x" * 85 + " " + token + "\n", content_type="text/plain; version=0.0.4")

    @app.get("/json")
    def as_json():  # type: ignore[no-untyped-def]
        value = auth().split()[-1]
        body = json.dumps({
            "rss_mb": 10,
            f"seen_{value}": 1,                              # the token as a key: an extra metric's name
            "caches": {value: {"hits": 1, "misses": 1}},     # ... as a cache's name
            "echo": value,
        })
        # The same again with the token written with JSON escapes, which a byte search misses.
        escaped = "".join(f"\\u{ord(c):04x}" for c in value)
        body = body[:-1] + f', "esc_{escaped}": 2, "gpu": {{"reserved_mb": 1, "device_name": "{escaped}"}}}}'
        return Response(body, content_type="application/json")

    @app.get("/probe")
    def probe():  # type: ignore[no-untyped-def]
        value = auth().split()[-1]
        return {"schema": 1, "probe": "memdash.probe", "memory": {"rss_bytes": 1},
                "caches": [{"name": value, "hits": 1}], "actions": ["gc"]}

    @app.post("/probe/cleanup/gc")
    def refused():  # type: ignore[no-untyped-def]
        # A refusal whose detail puts the token across the 200-character cut.
        return {"error": "y" * (MAX_ERROR_CHARS - 20) + " " + auth()}, 403

    @app.get("/boom")
    def boom():  # type: ignore[no-untyped-def]
        return Response("{" + ("a" * 150) + auth(), status=200, content_type="application/json")

    return app


async def poll(url: str, **kw: object):  # type: ignore[no-untyped-def]
    t = TargetConfig(name="t", url=url, timeout=2.0, **kw)  # type: ignore[arg-type]
    async with TargetPoller([t], Thresholds()) as poller:
        (s,) = await poller.poll_once()
    return s


async def test_prometheus_parse_error_is_scrubbed_before_it_is_cut(token_env: str) -> None:
    with wsgi_server(echo_app()) as base:
        s = await poll(base + "/metrics", kind="prometheus", token_env=token_env)
    assert not s.ok and s.error.startswith("invalid Prometheus text: Invalid metric type: gauge xxx")
    assert s.error.endswith("x ***")
    assert len(s.error) <= MAX_ERROR_CHARS
    assert_clean(s.error, TOKEN)


async def test_json_keys_values_and_escapes_are_scrubbed(token_env: str) -> None:
    with wsgi_server(echo_app()) as base:
        s = await poll(base + "/json", kind="json", token_env=token_env)
    assert s.ok, s.error
    shown = " ".join([*s.metrics, *(c.name for c in s.caches), *(d.name or "" for d in s.gpu or ())])
    assert "seen_***" in s.metrics and "***" in {c.name for c in s.caches}
    assert_clean(shown, TOKEN)


async def test_probe_cache_names_and_refusals_are_scrubbed(token_env: str) -> None:
    with wsgi_server(echo_app()) as base:
        t = TargetConfig(name="t", url=base + "/probe", kind="probe", token_env=token_env)
        async with TargetPoller([t], Thresholds()) as poller:
            (s,) = await poller.poll_once()
            result = await poller.cleanup("t", "gc")
    assert s.ok and [c.name for c in s.caches] == ["***"]
    # the service's own reason (at most 200 characters) follows memdash's words (issue 11)
    assert not result.ok and result.status == 403 and len(result.error) <= ERROR_CHARS
    assert_clean(result.error, TOKEN)
    assert_clean(json.dumps(result.raw), TOKEN)


async def test_invalid_json_error_shows_no_token(token_env: str) -> None:
    with wsgi_server(echo_app()) as base:
        s = await poll(base + "/boom", kind="json", token_env=token_env)
    assert not s.ok
    assert_clean(s.error, TOKEN)


async def test_url_password_is_never_shown() -> None:
    with wsgi_server(echo_app()) as base:
        url = base.replace("http://", f"http://me:{PASSWORD}@") + "/metrics"
        s = await poll(url, kind="prometheus")
    # The server saw "Basic <base64 of me:password>" and echoed the base64 into the error.
    assert not s.ok and s.error.endswith("x ***")
    assert_clean(s.url, PASSWORD)
    assert s.url.endswith("/metrics") and "***@" in s.url
    assert_clean(s.error, PASSWORD)
    import base64
    assert_clean(s.error, base64.b64encode(f"me:{PASSWORD}".encode()).decode())


def test_snapshot_shows_no_url_password(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"http://me:{PASSWORD}@127.0.0.1:{free_port()}/memdash"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    for args in (["--json"], []):
        out = subprocess.run(
            [sys.executable, "-m", "memdash", "snapshot", "--no-gpu", "--no-discover", "--top", "1", *args, url],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert "connection refused" in out.stdout, out.stdout + out.stderr
        assert_clean(out.stdout + out.stderr, PASSWORD)
    doc = json.loads(subprocess.run(
        [sys.executable, "-m", "memdash", "snapshot", "--no-gpu", "--no-discover", "--top", "1", "--json", url],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    ).stdout)
    (target,) = doc["targets"]
    assert target["name"] == target["name"].split("@")[-1] and target["url"].startswith("http://***@127.0.0.1:")


async def test_a_token_in_an_error_page_is_scrubbed_before_the_reason_is_cut(token_env: str) -> None:
    """Issue 11 quotes the service's reason, cut to 200 characters: the token it
    echoes is scrubbed first, so no part of it survives the cut."""
    from flask import Flask

    from .servers import TOKEN

    app = Flask("echo403")
    app.get("/x")(lambda: ("z" * 190 + TOKEN + " denied", 403))
    with wsgi_server(app) as base:
        s = await poll(base + "/x", kind="json", token_env=token_env)
    assert not s.ok and "(the service says: " in s.error
    assert_clean(s.error, TOKEN)
    for n in range(6, len(TOKEN)):  # not even a piece of it
        assert TOKEN[:n] not in s.error
