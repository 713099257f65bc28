"""Rate limits on cleanups as a client sees them: which action blocks which,
the ``Retry-After`` it is told, and what ``MEMDASH_PROBE_MIN_INTERVAL`` does.

Every request goes through the WSGI front end (what gunicorn calls), so the
status and headers are the ones a client reads. All front ends of a process
share one cleaner, so a cleanup through one app limits the next through another.
"""

from __future__ import annotations

import io
import json
import os
import stat

import pytest

from memdash import probe
from memdash.probe.snapshot import available_actions

TOKEN = "rate-token-0c41"


def _post(app, action: str, body: dict | None = None) -> tuple[int, dict[str, str], dict]:
    raw = json.dumps(body).encode() if body else b""
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": f"/cleanup/{action}", "QUERY_STRING": "",
               "SERVER_NAME": "svc", "SERVER_PORT": "80", "wsgi.input": io.BytesIO(raw),
               "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(raw)),
               "CONTENT_TYPE": "application/json", "REMOTE_ADDR": "127.0.0.1",
               "HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    seen: list = []
    out = b"".join(app(environ, lambda status, headers, exc_info=None: seen.append((status, headers))))
    status, headers = seen[0]
    return int(status.split()[0]), {k.lower(): v for k, v in headers}, json.loads(out)


def _needs(*actions: str) -> None:
    missing = [a for a in actions if a not in available_actions()]
    if missing:
        pytest.skip(f"not available in this process: {', '.join(missing)}")


# (first, second, blocked?) with the default 5 s interval. "gc" is a full
# collection; "gc0" a young-generation one, limited like the full one: it walks
# the heap too (0.2-0.4 s on a 6 M-object heap).
PAIRS = [
    ("gc", "gc", True),
    ("gc", "all", True),
    ("all", "gc", True),
    ("all", "all", True),
    ("caches", "caches", True),
    ("caches", "all", True),
    ("all", "caches", True),
    ("trim", "trim", True),
    ("all", "trim", True),
    ("trim", "all", True),
    ("gc", "caches", False),
    ("caches", "gc", False),
    ("gc", "trim", False),
    ("trim", "caches", False),
    ("gc0", "gc0", True),
    ("gc", "gc0", True),
    ("gc0", "gc", True),
    ("gc1", "all", True),
    ("gc0", "caches", False),
]


def _run(app, name: str) -> tuple[int, dict[str, str], dict]:
    if name.startswith("gc") and name != "gc":
        return _post(app, "gc", {"generation": int(name[2:])})
    return _post(app, name)


@pytest.mark.parametrize("first,second,blocked", PAIRS)
def test_which_action_blocks_which(first: str, second: str, blocked: bool) -> None:
    _needs(*{n if not n.startswith("gc") else "gc" for n in (first, second)})
    app = probe.wsgi_app(token=TOKEN)  # MEMDASH_PROBE_MIN_INTERVAL unset: 5 s
    assert _run(app, first)[0] == 200
    status, headers, body = _run(app, second)
    if blocked:
        assert status == 429, body
        assert headers["retry-after"] == "5"
        assert 4.0 < body["retry_after_seconds"] <= 5.0
        assert "retry in" in body["error"]
    else:
        assert status == 200, body
        assert body["ok"] is True


@pytest.mark.parametrize("interval,expected_retry_after", [(30, "30"), (12, "12"), (0.5, "1"), (2.2, "3")])
def test_retry_after_is_the_wait_rounded_up(interval: float, expected_retry_after: str) -> None:
    app = probe.wsgi_app(token=TOKEN, min_interval=interval)
    assert _post(app, "gc")[0] == 200
    status, headers, body = _post(app, "gc")
    assert status == 429
    assert headers["retry-after"] == expected_retry_after
    assert interval - 1.0 < body["retry_after_seconds"] <= interval


def test_the_longest_wait_among_the_actions_decides() -> None:
    """``all`` touches every action's limit: it must wait for the one that ran most recently."""
    _needs("gc", "caches")
    unlimited = probe.wsgi_app(token=TOKEN, min_interval=0)
    limited = probe.wsgi_app(token=TOKEN, min_interval=40)
    assert _post(unlimited, "caches")[0] == 200
    status, headers, _ = _post(limited, "all")
    assert (status, headers["retry-after"]) == (429, "40")
    assert _post(limited, "gc")[0] == 200  # gc had not run: not limited


def test_front_ends_share_one_limit() -> None:
    wsgi = probe.wsgi_app(token=TOKEN, min_interval=0)
    other = probe.wsgi_app(token=TOKEN, min_interval=20)
    assert _post(wsgi, "gc")[0] == 200
    assert _post(wsgi, "gc")[0] == 200  # interval 0: never limited
    status, headers, _ = _post(other, "gc")
    assert (status, headers["retry-after"]) == (429, "20")


@pytest.mark.parametrize("raw,expected", [
    ("0", None),          # 0 turns the limit off: the second run goes through
    ("0.0", None),
    ("", "5"),            # unset or garbage: the default 5 s
    ("abc", "5"),
    ("-3", "5"),          # a negative interval is no interval: the default
    ("nan", "5"),
    ("12", "12"),
    ("7.5", "8"),
    ("0.2", "1"),
])
def test_min_interval_from_the_environment(monkeypatch: pytest.MonkeyPatch, raw: str, expected: str | None) -> None:
    monkeypatch.setenv("MEMDASH_PROBE_MIN_INTERVAL", raw)
    app = probe.wsgi_app(token=TOKEN)
    assert _post(app, "gc")[0] == 200
    status, headers, _ = _post(app, "gc")
    if expected is None:
        assert status == 200
    else:
        assert (status, headers.get("retry-after")) == (429, expected)


def test_refusals_do_not_start_the_clock() -> None:
    """A rejected request (bad option) is not a run: the next good one goes through."""
    app = probe.wsgi_app(token=TOKEN, min_interval=30)
    status, _, body = _post(app, "gc", {"generation": 9})
    assert status == 400 and "generation" in body["error"]
    assert _post(app, "gc")[0] == 200


def test_in_process_cleanup_is_not_rate_limited_but_limits_http() -> None:
    """``probe.cleanup()`` is the service's own call (never limited); a client
    over HTTP right after it waits, since the memory was just cleaned."""
    app = probe.wsgi_app(token=TOKEN, min_interval=15)
    assert probe.cleanup("gc")["ok"] is True
    assert probe.cleanup("gc")["ok"] is True
    status, headers, _ = _post(app, "gc")
    assert (status, headers["retry-after"]) == (429, "15")


# -- the discovery directory --------------------------------------------------

@pytest.mark.parametrize("mode", [0o755, 0o777, 0o750, 0o701])
def test_a_too_open_discovery_dir_is_tightened_to_0700(runtime_dir: str, mode: int) -> None:
    d = os.path.join(runtime_dir, "memdash")
    os.mkdir(d)
    os.chmod(d, mode)
    with probe.serve(port=None, unix_socket=True, min_interval=0) as handle:
        assert os.path.dirname(handle.socket_path) == d
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(handle.socket_path).st_mode) == 0o600


def test_a_new_discovery_dir_is_0700(runtime_dir: str) -> None:
    with probe.serve(port=None, unix_socket=True, min_interval=0) as handle:
        assert stat.S_IMODE(os.stat(os.path.dirname(handle.socket_path)).st_mode) == 0o700


def test_a_discovery_dir_that_is_a_symlink_is_refused(runtime_dir: str, tmp_path, caplog) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    os.symlink(elsewhere, os.path.join(runtime_dir, "memdash"))
    # A squatted directory never stops the host service: one warning, no socket.
    with caplog.at_level("WARNING", logger="memdash.probe"):
        handle = probe.serve(port=None, unix_socket=True)
    try:
        assert handle.socket_path is None
    finally:
        handle.stop()
    assert [r for r in caplog.records if "not a directory" in r.getMessage()]
    assert list(elsewhere.iterdir()) == []


def test_a_discovery_dir_of_another_user_is_refused(runtime_dir: str, caplog) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the directory to another uid")
    d = os.path.join(runtime_dir, "memdash")
    os.mkdir(d, 0o700)
    os.chown(d, 65534, 65534)
    with caplog.at_level("WARNING", logger="memdash.probe"):
        handle = probe.serve(port=None, unix_socket=True)
    try:
        assert handle.socket_path is None
    finally:
        handle.stop()
    assert [r for r in caplog.records if "belongs to uid 65534" in r.getMessage()]
    assert os.listdir(d) == []


def test_refusals_say_what_is_wrong_and_what_is_valid() -> None:
    app = probe.wsgi_app(token=TOKEN, min_interval=0)
    status, _, body = _post(app, "gc", {"name": "users"})
    assert status == 400
    assert body["error"] == "action 'gc' takes no option 'name'; it accepts generation"
    status, _, body = _post(app, "trim", {"generation": 1})
    assert (status, body["error"]) == (400, "action 'trim' takes no option 'generation'")
    status, _, body = _post(app, "defrag")
    assert status == 404 and body["error"] == "unknown cleanup action 'defrag'"
    assert body["valid_actions"] == available_actions()
    if "cuda" not in available_actions():
        status, _, body = _post(app, "cuda")
        assert status == 409
        assert body["error"] == ("action 'cuda' is not available in this process "
                                 "(needs torch with CUDA initialised)")
    for bad in ("x", "1.5", "-1", "99", True):
        status, _, body = _post(app, "gc", {"generation": bad})
        assert status == 400 and body["error"].startswith("generation must be an integer 0..")


def test_a_receipt_says_what_ran_where() -> None:
    app = probe.wsgi_app(token=TOKEN, min_interval=0)
    status, _, body = _post(app, "gc", {"generation": 0})
    assert status == 200
    assert (body["schema"], body["action"], body["ok"], body["pid"]) == (1, "gc", True, os.getpid())
    assert body["steps"] == [{"action": "gc", "generation": 0, "collected": body["collected"]}]
    assert body["rss_freed_bytes"] == body["rss_before_bytes"] - body["rss_after_bytes"]
