"""The target code split by job: httpx only for https, kinds as a registry."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from flask import Flask, Response

from memdash.config import TargetConfig
from memdash.levels import Thresholds
from memdash.model import TargetSample
from memdash.sources import kinds
from memdash.sources.remote import TargetPoller, supported_actions

from .servers import free_port, wsgi_server

POLL = textwrap.dedent(
    """
    import asyncio, sys
    from memdash.config import TargetConfig
    from memdash.sources.remote import TargetPoller

    async def main(url):
        async with TargetPoller([TargetConfig(name="t", url=url, timeout=2.0)]) as poller:
            (s,) = await poller.poll_once()
        print(s.error or "ok", "httpx" in sys.modules, "h11" in sys.modules)

    asyncio.run(main(sys.argv[1]))
    """
)


def poll_in_fresh_process(url: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", POLL, url], capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.split()


def test_plain_http_never_loads_httpx() -> None:
    app = Flask("plain")

    @app.get("/m")
    def m():  # type: ignore[no-untyped-def]
        return {"rss_mb": 10}

    with wsgi_server(app) as base:
        assert poll_in_fresh_process(base + "/m") == ["ok", "False", "True"]
    # unix: and a refused http:// target: still no httpx
    assert poll_in_fresh_process(f"http://127.0.0.1:{free_port()}/") == ["connection", "refused", "False", "True"]


def test_https_loads_httpx_when_first_used() -> None:
    words = poll_in_fresh_process(f"https://127.0.0.1:{free_port()}/")
    assert words[-2:] == ["True", "True"] and " ".join(words[:-2]) == "connection refused"


class TextKind(kinds.Kind):
    """A made-up kind: ``rss <bytes>`` as plain text, read-only."""

    name = "rsstext"

    def claims(self, answer: kinds.Answer) -> bool:
        return answer.response.body.startswith(b"rss ")

    def read(self, answer: kinds.Answer, target: TargetConfig, *, url: str, now: float) -> TargetSample:
        rss = int(answer.response.body.split()[1])
        return TargetSample(name=target.name, url=url, kind=self.name, ok=True, time=now, rss_bytes=rss)


async def test_a_new_kind_is_one_class_and_one_register_call() -> None:
    app = Flask("text")

    @app.get("/t")
    def t():  # type: ignore[no-untyped-def]
        return Response("rss 1048576\n", content_type="text/plain")

    saved = dict(kinds.KINDS)
    kinds.register(TextKind(), before="prometheus")
    try:
        with wsgi_server(app) as base:
            targets = [TargetConfig(name="auto", url=base + "/t", limit_mb=4),
                       TargetConfig(name="named", url=base + "/t", kind="rsstext")]
            async with TargetPoller(targets, Thresholds()) as poller:
                auto, named = await poller.poll_once()
                result = await poller.cleanup("auto", "gc")
        assert auto.ok and auto.kind == "rsstext" and auto.rss_bytes == 1048576 and auto.percent == 25.0
        assert named.ok and named.rss_bytes == 1048576
        assert not result.ok and result.error == "this target does not support gc"
        assert supported_actions(auto) == ()
    finally:
        kinds.KINDS.clear()
        kinds.KINDS.update(saved)


def test_a_config_may_name_exactly_the_registered_kinds(tmp_path) -> None:
    """The kinds a config accepts are the registry's: a kind registered is
    accepted by name, and an unknown one is a one-line config error listing them."""
    import pytest

    from memdash.config import ConfigError, load_config

    path = tmp_path / "memdash.toml"
    path.write_text('[[targets]]\nname = "t"\nurl = "http://127.0.0.1:9/m"\nkind = "rsstext"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(str(path))
    message = str(refused.value)
    assert "targets.t.kind" in message and "'rsstext'" in message
    assert "\n" not in message
    for name in ("auto", *kinds.KINDS):
        assert name in message
    saved = dict(kinds.KINDS)
    kinds.register(TextKind())
    try:
        (target,) = load_config(str(path)).targets
        assert target.kind == "rsstext"
    finally:
        kinds.KINDS.clear()
        kinds.KINDS.update(saved)


def test_the_kinds_a_config_knows_without_the_registry_are_all_registered() -> None:
    """config accepts the shipped kind names without importing the readers: each
    of them must be a kind the registry really has."""
    from memdash.config import SHIPPED_KINDS

    assert SHIPPED_KINDS <= set(kinds.KINDS)


def test_a_config_naming_shipped_kinds_loads_without_the_readers(tmp_path) -> None:
    """A dashboard's config with 200 probe targets is read before the first frame:
    naming a shipped kind does not import the readers (ssl, h11, the transport);
    an unknown name is still checked against the registry."""
    import json
    import os
    import subprocess
    import sys

    path = tmp_path / "memdash.toml"
    path.write_text("".join(f'[[targets]]\nname = "t{i}"\nurl = "http://127.0.0.1:{9000 + i}/"\nkind = "{kind}"\n'
                            for i, kind in enumerate(["probe", "prometheus", "json"] * 70)))
    code = (
        "import sys, json\n"
        "from memdash.config import load_config\n"
        f"config = load_config({str(path)!r})\n"
        "print(json.dumps([len(config.targets), sorted(m for m in sys.modules\n"
        "    if m in ('ssl', 'h11', 'memdash.sources.kinds', 'memdash.sources.transport'))]))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONSTARTUP"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [210, []]
