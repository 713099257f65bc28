"""The fleet view's parts without a Prometheus: selectors, joins, levels, ranking,
rules, config, JSON, the CLI's errors, and answers a real Prometheus rarely gives."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from memdash.config import ConfigError, config_from_mapping
from memdash.fleet import queries as q
from memdash.fleet import ranking
from memdash.fleet.model import FleetFrame, FleetUnit, frame_json, printable
from memdash.fleet.promapi import PromBadAnswer, PromClient, Sample
from memdash.fleet.rules import build_rules, render_rules
from memdash.fleet.source import FleetSource
from memdash.levels import Level, Thresholds
from tests.test_import_hygiene import loaded_after


def tagged(col: str, value: float, **labels: str) -> Sample:
    return Sample({q.COLUMN_LABEL: col, **labels}, value)


# -- selectors ----------------------------------------------------------------------


def test_selector_is_checked_and_added_to_every_series() -> None:
    assert q.parse_selector('{env="prod", team=~"a|b"}') == 'env="prod", team=~"a|b"'
    assert q.parse_selector("{}") == "" and q.parse_selector(None) == ""
    for bad in ('env="prod"', '{env=prod}', '{env="prod" team="x"}', '{"x"}', '{env="a"}}'):
        with pytest.raises(q.SelectorError):
            q.parse_selector(bad)
    sel = q.Selectors(q.parse_selector('{env="prod"}'))
    query = q.container_query({q.CONTAINER_WS, q.CONTAINER_LIMIT}, sel, 60)
    assert query is not None
    assert query.count('env="prod"') == 8  # used, slope (deriv and its age filter), limit; on and off Kubernetes
    assert "offset 60s" in query and "[30m]" in query


def test_only_families_that_exist_are_asked_for() -> None:
    sel = q.Selectors()
    assert q.container_query(set(), sel, 60) is None
    only_ws = q.container_query({q.CONTAINER_WS}, sel, 60)
    assert only_ws is not None and "limit" not in only_ws and "oom" not in only_ws
    assert q.host_query({q.NODE_AVAILABLE}, sel, 60) is None  # no MemTotal, no host rows
    svc = q.service_query({q.PROCESS_RSS}, sel, 0)
    assert svc is not None and "offset" not in svc and q.PROBE_WS not in svc


# -- joins, levels, ranking ------------------------------------------------------------


def test_pod_cgroups_and_pause_containers_are_not_rows() -> None:
    assert ranking.container_key({"namespace": "a", "pod": "p", "container": ""}) is None
    assert ranking.container_key({"namespace": "a", "pod": "p", "container": "POD"}) is None
    assert ranking.container_key({"namespace": "a", "pod": "p", "container": "web"}) == ("a", "p", "web")
    assert ranking.container_key({"instance": "h:8080", "name": "redis"}) == ("h:8080", "redis")


def test_container_rows_join_columns_and_limits_from_kube_state_metrics() -> None:
    pod = {"namespace": "ns", "pod": "p", "container": "c"}
    samples = [tagged("used", 100.0, **pod, instance="n1"), tagged("used", 120.0, **pod, instance="n2"),
               tagged("klimit", 400.0, **pod, instance="ksm"), tagged("slope", 2.0, **pod),
               tagged("oom", 0.98, **pod), tagged("oom15", 0.0, **pod)]
    [u] = ranking.containers(samples, Thresholds())
    assert u.used_bytes == 120.0  # the same container scraped twice: the worse figure
    assert (u.limit_bytes, u.limit_source, u.percent) == (400.0, "kube-state-metrics", 30.0)
    assert u.oom_eta_seconds == 140.0 and u.growth_bytes_per_min == 120.0
    assert u.oom_kills_1h == 1 and u.oom_kills_15m == 0
    assert u.level is Level.CRITICAL  # 140 s to OOM is under the 10 min default


def test_levels_from_percent_eta_and_oom_kills() -> None:
    t = Thresholds()
    assert ranking.judge(t, 50, None, 0, 0) is Level.EXCELLENT
    assert ranking.judge(t, 50, 1800, 0, 0) is Level.WARNING
    assert ranking.judge(t, 50, None, 1, 0) is Level.WARNING
    assert ranking.judge(t, 50, None, 1, 1) is Level.CRITICAL
    assert ranking.judge(t, 50, None, 3, 3, host=True) is Level.WARNING  # any process on the host
    assert ranking.judge(t, None, None, 0, 0) is Level.UNKNOWN
    assert ranking.eta_seconds(100, 400, -1) is None and ranking.eta_seconds(500, 400, 1) == 0.0


def test_services_fall_back_to_the_ram_of_the_host_at_their_address() -> None:
    svc = {"job": "api", "instance": "10.0.0.5:8000"}
    samples = [tagged("rss", 1e9, **svc), tagged("rss_slope", 1e6, **svc)]
    [u] = ranking.services(samples, Thresholds(), {"10.0.0.5": 4e9})
    assert (u.used_kind, u.limit_source, u.percent) == ("RSS", "host RAM", 25.0)
    [u] = ranking.services(samples + [tagged("ws", 2e8, **svc), tagged("limit", 4e8, **svc), tagged("probe", 1, **svc)],
                           Thresholds())
    assert (u.used_kind, u.limit_source, u.percent, u.probe) == ("working set", "cgroup", 50.0, True)
    assert u.growth_bytes_per_min is None  # the working set has no slope yet; RSS's is not borrowed


def _unit(name: str, level: Level, eta: float | None = None, percent: float | None = None) -> FleetUnit:
    return FleetUnit(kind="service", key=(name,), name=name, labels={}, used_bytes=1.0, used_kind="RSS",
                     level=level, oom_eta_seconds=eta, percent=percent)


def test_rank_is_worst_first_then_soonest_oom_then_percent() -> None:
    units = [_unit("ok", Level.EXCELLENT, percent=10), _unit("crit-late", Level.CRITICAL, eta=500),
             _unit("crit-full", Level.CRITICAL, percent=95), _unit("crit-soon", Level.CRITICAL, eta=60),
             _unit("unknown", Level.UNKNOWN), _unit("warn", Level.WARNING, percent=80)]
    assert [u.name for u in ranking.rank(units)] == ["crit-soon", "crit-late", "crit-full", "warn", "ok", "unknown"]


def test_labels_are_made_printable_and_json_is_strict() -> None:
    assert printable("a\x1b[2Jb\n") == "a\\e[2Jb\\n"
    assert len(printable("x" * 1000)) == 200
    u = FleetUnit(kind="host", key=("h",), name="h", labels={}, used_bytes=float("nan"), used_kind="used",
                  growth_bytes_per_min=float("inf"))
    doc = frame_json(FleetFrame(at=1.0, prometheus="http://p", units=(u,)))
    text = json.dumps(doc, allow_nan=False)
    assert json.loads(text)["units"][0]["used_bytes"] is None


# -- rules ------------------------------------------------------------------------------


def test_rules_carry_the_users_thresholds_and_pass_promtool(tmp_path: Path) -> None:
    t = Thresholds(critical=90, oom_eta_warning=7200, oom_eta_critical=900, eta_min_span=120)
    text = render_rules(build_rules(t, selector='{env="prod"}', hold=60))
    assert ">= 0.9" in text and "predict_linear(" in text and ", 7200)" in text and ", 900)" in text
    assert 'for: "1m"' in text and "offset 120s" in text and 'memdash_memory_working_set_bytes{env="prod"}' in text
    alerts = {r["alert"] for g in build_rules(t)["groups"] for r in g["rules"] if "alert" in r}
    assert alerts == {"MemdashMemoryCritical", "MemdashOomWithinWarning", "MemdashOomWithinCritical",
                      "MemdashOomKilled", "MemdashGcUncollectable", "MemdashCacheHitRateCollapsed"}
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus)")
    path = tmp_path / "rules.yml"
    path.write_text(text)
    done = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# -- config and command line ---------------------------------------------------------------


def test_fleet_config_table(tmp_path: Path) -> None:
    token = tmp_path / "tok"
    token.write_text("s3cret\n")
    c = config_from_mapping({"fleet": {"prometheus": "https://prom:9090", "token_file": str(token), "verify": False,
                                       "selector": '{env="prod"}', "interval": 10, "probes": {"h:1": "http://h:1/memdash"}}})
    assert c.fleet.prometheus == "https://prom:9090" and c.fleet.token() == "s3cret"
    assert (c.fleet.verify, c.fleet.interval, dict(c.fleet.probes)) == (False, 10.0, {"h:1": "http://h:1/memdash"})
    for bad, key in (({"token": "x"}, "fleet.token"), ({"prometheus": "prom:9090"}, "fleet.prometheus"),
                     ({"selector": "env=prod"}, "fleet.selector"), ({"interval": 0.2}, "fleet.interval"),
                     ({"promethus": "http://x"}, "fleet.promethus")):
        with pytest.raises(ConfigError) as err:
            config_from_mapping({"fleet": bad})
        assert err.value.key == key
    missing = config_from_mapping({"fleet": {"token_file": str(tmp_path / "nope")}})
    with pytest.raises(ConfigError) as err:
        missing.fleet.token()
    assert err.value.key == "fleet.token_file" and "s3cret" not in str(err.value)


def _memdash(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "memdash", *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "MEMDASH_CONFIG": "/dev/null"})


def test_cli_errors_are_one_line_with_status_2() -> None:
    for args, words in ((["fleet", "--json"], "no Prometheus to read"),
                        (["fleet", "--prometheus", "prom:9090"], "--prometheus must be"),
                        (["fleet", "--prometheus", "http://x", "--selector", "env=prod"], "--selector"),
                        (["fleet", "--prometheus", "http://x", "-i", "0.1"], "--interval"),
                        (["rules", "--hold", "soon"], "--hold")):
        done = _memdash(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert words in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert _memdash("fleet", "--help").returncode == 0 and "--prometheus" in _memdash("fleet", "--help").stdout


def test_the_fleet_source_loads_no_textual() -> None:
    mods = loaded_after("memdash.fleet.source, memdash.fleet.rules, memdash.fleet.cli",
                        ("textual", "textual_plotext", "plotext"))
    assert mods == []


# -- answers a real Prometheus seldom gives ---------------------------------------------------


@pytest.fixture
def odd_server() -> Iterator[tuple[str, dict]]:
    """A loopback HTTP server answering whatever the test puts in ``state``."""
    state: dict = {"status": 200, "body": b"", "type": "application/json"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = state["body"](self.path) if callable(state["body"]) else state["body"]
            self.send_response(state["status"])
            self.send_header("Content-Type", state["type"])
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()


def test_not_prometheus_and_partial_answers(odd_server: tuple[str, dict]) -> None:
    url, state = odd_server
    state.update(body=b"<html>login</html>", type="text/html")
    client = PromClient(url, timeout=2)
    with pytest.raises(PromBadAnswer, match="not JSON"):
        client.query("up")
    state.update(status=400, type="application/json",
                 body=b'{"status":"error","errorType":"bad_data","error":"parse error at char 3"}')
    with pytest.raises(PromBadAnswer, match="bad_data: parse error"):
        client.query("up{")
    client.close()

    # a Thanos-style partial response: data, and a warning that a store did not answer
    def answer(path: str) -> bytes:
        if "/label/" in path:
            data: object = [q.NODE_TOTAL, q.NODE_AVAILABLE]
        else:
            data = {"resultType": "vector", "result": [
                {"metric": {"job": "node", "instance": "h:9100", q.COLUMN_LABEL: col}, "value": [1, str(v)]}
                for col, v in (("limit", 1000), ("available", 250))]}
        return json.dumps({"status": "success", "data": data,
                           "warnings": ["partial response: store eu-1 \x1b[31mdown"]}).encode()

    state.update(status=200, body=answer)
    source = FleetSource(PromClient(url, timeout=2))
    frame = source.refresh()
    source.close()
    assert frame.partial and [u.percent for u in frame.units] == [75.0]
    assert any("partial answer" in e and "\\e[31m" in e and "\x1b" not in e for e in frame.errors)


def test_limits_are_cached_between_refreshes_and_asked_for_new_rows() -> None:
    cache = ranking.LimitCache()
    pod = {"namespace": "ns", "pod": "p", "container": "c"}
    [u] = ranking.containers([tagged("used", 100.0, **pod), tagged("limit", 400.0, **pod)], Thresholds(),
                             limits=cache, fresh=True)
    assert u.limit_bytes == 400.0 and not cache.missing
    # the next refresh leaves limits out of its query: the cache fills them in
    [u] = ranking.containers([tagged("used", 120.0, **pod)], Thresholds(), limits=cache, fresh=False)
    assert (u.used_bytes, u.limit_bytes, u.percent) == (120.0, 400.0, 30.0)
    # a container the cache has not seen has no limit yet, and the next refresh asks again
    other = {"namespace": "ns", "pod": "q", "container": "c"}
    units = ranking.containers([tagged("used", 120.0, **pod), tagged("used", 50.0, **other)], Thresholds(),
                               limits=cache, fresh=False)
    assert {x.key[1]: x.limit_bytes for x in units} == {"p": 400.0, "q": None} and cache.missing
    assert "limit" not in (q.container_query({q.CONTAINER_WS, q.CONTAINER_LIMIT}, q.Selectors(), 60, False) or "")
