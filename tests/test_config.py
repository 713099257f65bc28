"""The config file: where it is found, what it may say, and how its errors read."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from memdash.config import (
    ENV_CONFIG,
    Config,
    ConfigError,
    TargetConfig,
    default_config_path,
    load_config,
)
from memdash.levels import Thresholds


@pytest.fixture(autouse=True)
def isolated_config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test here may see the real user's config or $MEMDASH_CONFIG."""
    home = tmp_path / "xdg"
    home.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv(ENV_CONFIG, raising=False)
    return home


def write(tmp_path: Path, text: str, name: str = "memdash.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    return info.value


def assert_one_line(err: ConfigError, path: Path, *fragments: str) -> str:
    message = str(err)
    assert "\n" not in message and "\r" not in message, message
    assert str(path) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# -- where the config comes from ----------------------------------------------------


def test_defaults_when_there_is_no_file(isolated_config_home: Path) -> None:
    assert not default_config_path().exists()
    config = load_config()
    assert config == Config()
    assert config.path is None
    assert config.thresholds == Thresholds(70, 75, 85)
    assert config.gpu_thresholds == Thresholds(70, 75, 85)
    assert config.theme == "memdash-dark"
    assert config.interval == 1.0
    assert config.top == 25
    assert config.read_only is False
    assert config.discover is True
    assert config.targets == ()


def test_missing_explicit_config_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "memdash.toml"
    err = load_error(missing)
    assert_one_line(err, missing, "not found")
    assert err.path == str(missing)


def test_memdash_config_env_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "top = 7\ninterval = 2.5\n")
    monkeypatch.setenv(ENV_CONFIG, str(path))
    config = load_config()
    assert config.top == 7
    assert config.interval == 2.5
    assert config.path == str(path)


def test_memdash_config_env_pointing_nowhere_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "gone.toml"
    monkeypatch.setenv(ENV_CONFIG, str(missing))
    with pytest.raises(ConfigError) as info:
        load_config()
    assert_one_line(info.value, missing, "not found")


def test_explicit_config_beats_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = write(tmp_path, "top = 3\n", "env.toml")
    cli_file = write(tmp_path, "top = 4\n", "cli.toml")
    monkeypatch.setenv(ENV_CONFIG, str(env_file))
    assert load_config(str(cli_file)).top == 4
    assert load_config().top == 3


def test_default_path_follows_xdg_and_is_read_when_present(isolated_config_home: Path) -> None:
    expected = isolated_config_home / "memdash" / "config.toml"
    assert default_config_path() == expected
    expected.parent.mkdir()
    expected.write_text('theme = "memdash-light"\n[thresholds]\ncritical = 90\n', encoding="utf-8")
    config = load_config()
    assert config.theme == "memdash-light"
    assert config.thresholds.critical == 90
    assert config.path == str(expected)


def test_environment_beats_the_default_file(tmp_path: Path, isolated_config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = isolated_config_home / "memdash" / "config.toml"
    default.parent.mkdir()
    default.write_text("top = 11\n", encoding="utf-8")
    env_file = write(tmp_path, "top = 12\n", "env.toml")
    monkeypatch.setenv(ENV_CONFIG, str(env_file))
    assert load_config().top == 12


# -- what a file may say ------------------------------------------------------------


def test_full_config_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        """
theme = "memdash-contrast"
interval = 0.5
top = 40
read_only = true
discover = false

[thresholds]
good = 60
warning = 70.5
critical = 90

[[targets]]
name = "api"
url = "http://127.0.0.1:8000/memdash"
kind = "probe"
token_env = "API_TOKEN"
limit_mb = 512
timeout = 1.5
actions = { purge = "POST /admin/purge" }

[[targets]]
name = "metrics"
url = "https://example.invalid/metrics"
kind = "prometheus"
verify = false
[targets.thresholds]
critical = 95

[keymap]
force_gc = "G"
""",
    )
    config = load_config(str(path))
    assert config.theme == "memdash-contrast"
    assert config.interval == 0.5
    assert config.top == 40
    assert config.read_only is True
    assert config.discover is False
    assert config.thresholds == Thresholds(60, 70.5, 90)
    api, metrics = config.targets
    assert api.name == "api" and api.kind == "probe" and api.url == "http://127.0.0.1:8000/memdash"
    assert api.token_env == "API_TOKEN"
    assert api.limit_bytes == 512 * 1024 * 1024
    assert api.timeout == 1.5
    assert dict(api.actions) == {"purge": "POST /admin/purge"}
    assert api.thresholds is None
    assert metrics.verify is False
    # a target's own thresholds inherit what it does not set from [thresholds]
    assert metrics.thresholds == Thresholds(60, 70.5, 95)
    assert dict(config.keymap) == {"force_gc": "G"}


def test_thresholds_section_sets_only_what_it_names(tmp_path: Path) -> None:
    config = load_config(str(write(tmp_path, "[thresholds]\ncritical = 95\n")))
    assert config.thresholds == Thresholds(70, 75, 95)


def test_gpu_thresholds_inherit_from_thresholds(tmp_path: Path) -> None:
    path = write(tmp_path, "[thresholds]\ngood = 50\nwarning = 60\ncritical = 80\n[thresholds.gpu]\ncritical = 97\n")
    config = load_config(str(path))
    assert config.thresholds == Thresholds(50, 60, 80)
    assert config.gpu_thresholds == Thresholds(50, 60, 97)


def test_gpu_thresholds_default_to_thresholds(tmp_path: Path) -> None:
    config = load_config(str(write(tmp_path, "[thresholds]\ngood = 10\nwarning = 20\ncritical = 30\n")))
    assert config.gpu_thresholds == Thresholds(10, 20, 30)


def test_gpu_thresholds_alone(tmp_path: Path) -> None:
    config = load_config(str(write(tmp_path, "[thresholds.gpu]\nwarning = 80\ncritical = 90\n")))
    assert config.thresholds == Thresholds()
    assert config.gpu_thresholds == Thresholds(70, 80, 90)


# -- every error: one line naming file, key and problem ---------------------------------


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        pytest.param("colour = 'red'\n", ("colour", "unknown key"), id="unknown-top-level-key"),
        pytest.param("[thresholds]\nwarning = \"high\"\n", ("thresholds.warning", "number", "string"), id="threshold-string"),
        pytest.param("[thresholds]\ngood = 80\nwarning = 75\n", ("thresholds", "good", "warning", "rise"), id="good-above-warning"),
        pytest.param("[thresholds]\ncritical = 150\n", ("thresholds.critical", "between 0 and 100", "150"), id="out-of-range"),
        pytest.param("[thresholds]\ngood = -5\n", ("thresholds.good", "between 0 and 100"), id="negative"),
        pytest.param("[thresholds]\ngood = nan\n", ("thresholds.good", "between 0 and 100"), id="nan"),
        pytest.param("[thresholds]\ncritical = true\n", ("thresholds.critical", "number", "boolean"), id="threshold-bool"),
        pytest.param("[thresholds]\nhigh = 90\n", ("thresholds.high", "unknown key"), id="unknown-threshold"),
        pytest.param("[thresholds.gpu]\ngood = 99\n", ("thresholds.gpu", "rise"), id="gpu-not-rising"),
        pytest.param("[thresholds.gpu]\ngpu = {}\n", ("thresholds.gpu.gpu", "unknown key"), id="gpu-nested-gpu"),
        pytest.param("thresholds = 80\n", ("thresholds", "table"), id="thresholds-not-table"),
        pytest.param("interval = 'fast'\n", ("interval", "number"), id="interval-string"),
        pytest.param("interval = 0\n", ("interval", "between"), id="interval-zero"),
        pytest.param("top = 2.5\n", ("top", "whole number"), id="top-fraction"),
        pytest.param("read_only = 'yes'\n", ("read_only", "true or false"), id="read-only-string"),
        pytest.param("theme = 3\n", ("theme", "string"), id="theme-int"),
        pytest.param("[keymap]\nforce_gc = 7\n", ("keymap",), id="keymap-int"),
        pytest.param("[[targets]]\nname = 'api'\n", ("targets.api.url", "needs a url"), id="target-missing-url"),
        pytest.param("[[targets]]\nurl = 'http://127.0.0.1:1/'\n", ("name",), id="target-missing-name"),
        pytest.param("[[targets]]\nname = 'api'\nurl = 'ftp://x/'\n", ("targets.api.url", "http://"), id="target-bad-scheme"),
        pytest.param(
            "[[targets]]\nname = 'api'\nurl = 'http://127.0.0.1:1/'\nkind = 'graphite'\n",
            ("targets.api.kind", "graphite", "probe", "prometheus", "json"),
            id="target-bad-kind",
        ),
        pytest.param(
            "[[targets]]\nname = 'api'\nurl = 'http://127.0.0.1:1/'\ncolour = 'red'\n",
            ("targets.api.colour", "unknown key"),
            id="target-unknown-key",
        ),
        pytest.param(
            "[[targets]]\nname = 'api'\nurl = 'http://127.0.0.1:1/'\n[[targets]]\nname = 'api'\nurl = 'http://127.0.0.1:2/'\n",
            ("targets", "api", "two targets"),
            id="duplicate-target-names",
        ),
        pytest.param(
            "[[targets]]\nname = 'api'\nurl = 'http://127.0.0.1:1/'\nactions = { gc = 'gc' }\n",
            ("targets.api.actions.gc", "POST /path"),
            id="action-route-no-method",
        ),
        pytest.param(
            "[[targets]]\nname = 'api'\nurl = 'http://127.0.0.1:1/'\nactions = { gc = 'FETCH /gc' }\n",
            ("targets.api.actions.gc", "POST /path"),
            id="action-route-bad-method",
        ),
        pytest.param(
            "[[targets]]\nname = 'api'\nurl = 'http://127.0.0.1:1/'\nactions = { gc = 'POST gc' }\n",
            ("targets.api.actions.gc", "POST /path"),
            id="action-route-relative-path",
        ),
        pytest.param(
            "[[targets]]\nname = 'api'\nurl = 'http://127.0.0.1:1/'\n[targets.thresholds]\nwarning = 101\n",
            ("targets.api.thresholds.warning", "between 0 and 100"),
            id="target-threshold-range",
        ),
        pytest.param("targets = 'api'\n", ("targets", "array"), id="targets-not-array"),
        pytest.param("top = \n", ("invalid TOML", "line 1"), id="bad-toml-syntax"),
        pytest.param("[thresholds\ngood = 1\n", ("invalid TOML",), id="bad-toml-header"),
    ],
)
def test_every_error_is_one_line_naming_file_key_and_problem(tmp_path: Path, text: str, fragments: tuple[str, ...]) -> None:
    path = write(tmp_path, text)
    assert_one_line(load_error(path), path, *fragments)


def test_bad_value_leaves_no_half_loaded_config(tmp_path: Path) -> None:
    # The error is raised; nothing half-parsed leaks out as a Config.
    path = write(tmp_path, "top = 5\n[thresholds]\ncritical = 'lots'\n")
    with pytest.raises(ConfigError):
        load_config(str(path))


def test_not_utf8_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"theme = '\xe9t\xe9'\n")
    assert_one_line(load_error(path), path, "UTF-8")


def test_directory_as_config_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "conf.d"
    folder.mkdir()
    assert_one_line(load_error(folder), folder, "cannot read")


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('"bad\\nkey" = 1\n', id="top-level-key"),
        pytest.param("[[targets]]\nname = \"a\\nb\"\n", id="target-name"),
    ],
)
def test_quoted_key_with_newline_still_gives_one_line(tmp_path: Path, text: str) -> None:
    # TOML allows any string as a quoted key or a name; the error is still one line.
    path = write(tmp_path, text)
    assert_one_line(load_error(path), path)


# -- tokens ----------------------------------------------------------------------


def test_token_in_config_is_refused_and_not_echoed(tmp_path: Path) -> None:
    secret = "s3cr3t-value-that-must-not-leak"
    path = write(tmp_path, f"[[targets]]\nname = 'api'\nurl = 'http://127.0.0.1:1/'\ntoken = '{secret}'\n")
    err = load_error(path)
    message = assert_one_line(err, path, "targets.api.token", "token_env", "token_file")
    assert secret not in message


def test_token_from_env_read_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    target = TargetConfig(name="api", url="http://127.0.0.1:1/", token_env="MEMDASH_TEST_TOKEN_X")
    monkeypatch.delenv("MEMDASH_TEST_TOKEN_X", raising=False)
    assert target.token() is None
    monkeypatch.setenv("MEMDASH_TEST_TOKEN_X", "  tok-one\n")
    assert target.token() == "tok-one"
    # read each time, so a rotated token is picked up without a restart
    monkeypatch.setenv("MEMDASH_TEST_TOKEN_X", "tok-two")
    assert target.token() == "tok-two"


def test_token_from_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("file-token\n", encoding="utf-8")
    path = write(
        tmp_path,
        f"[[targets]]\nname = 'api'\nurl = 'http://127.0.0.1:1/'\ntoken_file = '{token_file}'\n",
    )
    config = load_config(str(path))
    (target,) = config.targets
    assert "file-token" not in path.read_text()
    assert target.token() == "file-token"
    token_file.write_text("rotated\n", encoding="utf-8")
    assert target.token() == "rotated"


def test_token_env_wins_over_file_and_file_is_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("from-file", encoding="utf-8")
    target = TargetConfig(name="api", url="http://127.0.0.1:1/", token_env="MEMDASH_TEST_TOKEN_Y", token_file=str(token_file))
    monkeypatch.setenv("MEMDASH_TEST_TOKEN_Y", "from-env")
    assert target.token() == "from-env"
    monkeypatch.delenv("MEMDASH_TEST_TOKEN_Y")
    assert target.token() == "from-file"


def test_unreadable_token_file_names_file_not_contents(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-token"
    target = TargetConfig(name="api", url="http://127.0.0.1:1/", token_file=str(missing))
    with pytest.raises(ConfigError) as info:
        target.token()
    message = str(info.value)
    assert str(missing) in message
    assert "token_file" in message
    assert "\n" not in message


def test_empty_token_file_is_no_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("\n", encoding="utf-8")
    assert TargetConfig(name="api", url="http://127.0.0.1:1/", token_file=str(token_file)).token() is None


def test_target_has_no_token_field() -> None:
    with pytest.raises(TypeError):
        TargetConfig(name="api", url="http://127.0.0.1:1/", token="x")  # type: ignore[call-arg]


# -- the CLI contract -------------------------------------------------------------


def run_snapshot_cli(config: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENV_CONFIG, "MEMDASH_DEBUG")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    return subprocess.run(
        [sys.executable, "-m", "memdash", "snapshot", "--json", "--no-gpu", "--no-discover", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        pytest.param("[thresholds]\nwarning = \"high\"\n", "thresholds.warning", id="string-threshold"),
        pytest.param("colour = 'red'\n", "colour", id="unknown-key"),
        pytest.param("[[targets]]\nname = 'api'\nurl = 'http://127.0.0.1:1/'\ntoken = 'xyz'\n", "targets.api.token", id="token"),
    ],
)
def test_cli_config_error_is_one_line_exit_2(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text, "bad config.toml")  # a space in the name, as users have
    proc = run_snapshot_cli(path, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("memdash: error:")
    assert str(path) in lines[0]
    assert key in lines[0]
    assert proc.stdout == ""


def test_cli_missing_config_is_one_line_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    proc = run_snapshot_cli(path, tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("memdash: error:") and str(path) in lines[0]


def test_eta_thresholds_read_as_durations(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[thresholds]\noom_eta_warning = "2h"\noom_eta_critical = "15m"\neta_min_span = "5s"\n')
    config = load_config(str(cfg))
    assert config.thresholds.oom_eta_warning == 7200
    assert config.thresholds.oom_eta_critical == 900
    assert config.thresholds.eta_min_span == 5


@pytest.mark.parametrize("value", ['"soon"', '"-5m"', "true", '"1h banana"'])
def test_a_bad_eta_threshold_is_a_one_line_error_naming_the_key(tmp_path, value):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[thresholds]\noom_eta_warning = {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(str(cfg))
    assert "thresholds.oom_eta_warning" in str(err.value)
    assert "\n" not in str(err.value)
