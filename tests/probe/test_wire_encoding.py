"""The probe's own JSON encoder (it avoids importing json in the host) writes
exactly what ``json.dumps(separators=(",", ":"), default=str)`` writes, on the
C path and on the pure-Python path used where ``_json`` is missing."""

from __future__ import annotations

import enum
import json

import pytest

from memdash.probe import core


class Gen(enum.IntEnum):
    OLD = 2


class Name(str):
    pass


class Thing:
    def __str__(self) -> str:
        return "thing<1>"


PAYLOADS = [
    "plain", "", "quote \" and backslash \\", "tab\tnew\nline\rcr\bbs\fff", "\x00\x01\x1f\x7f",
    "é ü ß", "snow ☃ and euro €", "emoji 😀 astral 𝄞", "\ud800 lone surrogate", "~ !", "<script>",
    0, 1, -1, 2**70, -(2**70), True, False, None,
    0.0, -0.0, 0.1, 1.5, -2.25, 1e300, 1e-300, 123456789.125, float("nan"), float("inf"), float("-inf"),
    [], {}, [1, [2, [3, []]]], (1, 2, (3,)), {"a": {"b": {"c": [None, True]}}},
    {1: "int key", 2.5: "float key", True: "bool key", None: "none key", "s": "str key"},
    {False: 0, -3: 1}, {float("nan"): 1, float("inf"): 2},
    Gen.OLD, [Gen.OLD], {"g": Gen.OLD}, Name("sub"), {Name("k"): Name("v")},
    Thing(), {"t": Thing()}, [Thing(), 1], b"bytes",
    {"pid": 42, "memory": {"rss_bytes": 123456, "limit_bytes": None}, "gc": [{"count": 3, "threshold": 700}]},
]


def _reference(payload) -> str:
    return json.dumps(payload, separators=(",", ":"), default=str)


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_python_encoder_matches_json_dumps(payload) -> None:
    assert core._json_encode(payload) == _reference(payload)


@pytest.mark.parametrize("payload", PAYLOADS, ids=range(len(PAYLOADS)))
def test_dumps_matches_json_dumps(payload) -> None:
    assert core.dumps(payload) == _reference(payload)


def test_dumps_without_the_c_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "_c_encoder", False)  # as on an interpreter without _json
    for payload in PAYLOADS:
        assert core.dumps(payload) == _reference(payload)


def test_unsupported_keys_are_refused_like_json() -> None:
    with pytest.raises(TypeError):
        core._json_encode({(1, 2): "tuple key"})
    with pytest.raises(TypeError):
        json.dumps({(1, 2): "tuple key"})


def test_runaway_nesting_is_an_error_not_a_crash() -> None:
    deep: list = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError):
        core._json_encode(deep)
    shallow: list = []
    for _ in range(150):
        shallow = [shallow]
    assert core._json_encode(shallow) == _reference(shallow)


def test_error_bodies_are_json_with_the_status_and_reason_headers() -> None:
    from memdash.probe.errors import RateLimited, Unauthorized

    resp = core.error_response(Unauthorized("who are you"))
    assert resp.status == 401 and json.loads(resp.body) == {"error": "who are you", "status": 401}
    assert ("WWW-Authenticate", 'Bearer realm="memdash.probe"') in resp.headers
    resp = core.error_response(RateLimited("slow down", retry_after_seconds=0.2))
    assert ("Retry-After", "1") in resp.headers
    assert json.loads(resp.body)["retry_after_seconds"] == 0.2
    assert dict(resp.headers)["Content-Type"] == "application/json"
    assert dict(resp.headers)["Cache-Control"] == "no-store"


def test_serving_a_snapshot_imports_nothing_heavy_into_the_host() -> None:
    """The probe lives in someone else's process: answering a snapshot over a
    socket must not pull typing, json, dataclasses, logging or hmac into it."""
    import subprocess
    import sys

    code = r"""
import socket, sys
before = set(sys.modules)
from memdash import probe
h = probe.serve()
s = socket.create_connection(("127.0.0.1", h.port), timeout=30)
s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
assert data.startswith(b"HTTP/1.1 200 OK"), data[:100]
h.stop()
heavy = ("typing", "json", "dataclasses", "logging", "hmac", "hashlib", "urllib.parse", "asyncio")
print(sorted(m for m in heavy if m in sys.modules and m not in before))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
