"""Which Host names the core takes for this machine, and what it says of its token."""

from __future__ import annotations

import pytest

from memdash.probe.core import ProbeCore, is_loopback_name


@pytest.mark.parametrize("name,local", [
    ("localhost", True), ("::1", True), ("0:0:0:0:0:0:0:1", True), ("ip6-localhost", True),
    ("127.0.0.1", True), ("127.255.255.254", True), ("127.0.1.1", True),
    ("128.0.0.1", False), ("10.0.0.1", False), ("127.0.0.256", False), ("127.0.0", False), ("127.0.0.1.5", False),
    ("127.0.0.1a", False), ("127.0.0.0001", False), ("127.٣.0.1", False), ("evil.example", False), ("", False),
])
def test_loopback_names(name: str, local: bool) -> None:
    assert is_loopback_name(name) is local


def test_has_token_says_whether_a_token_guards_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEMDASH_PROBE_TOKEN", raising=False)
    assert ProbeCore("s3cret-token-value", gather=False).has_token is True
    assert ProbeCore(None, gather=False).has_token is False
    monkeypatch.setenv("MEMDASH_PROBE_TOKEN", "from-the-env-token")
    assert ProbeCore(None, gather=False).has_token is True
