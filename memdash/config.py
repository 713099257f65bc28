"""The config file: where it is found, what it may say, and its errors.

Where memdash looks, first match wins:

==========================  ==========================================
``--config FILE``           the command line
``$MEMDASH_CONFIG``         the environment
``<user config dir>``       ``~/.config/memdash/config.toml`` on Linux
==========================  ==========================================

A missing default file is fine (defaults apply); a file named by ``--config`` or
``$MEMDASH_CONFIG`` must exist. What a file may say::

    theme = "memdash-dark"       # any registered theme
    interval = 1.0               # seconds between refreshes
    top = 25                     # at most this many process rows (default: as many as fit)
    read_only = false            # true: no cleanup keys, no `memdash cleanup`
    discover = true              # find local probes through their Unix sockets

    [thresholds]                 # percent where each level begins
    good = 70
    warning = 75
    critical = 85
    oom_eta_warning = "1h"       # a projected OOM sooner than this is a warning
    oom_eta_critical = "10m"     # ... and sooner than this critical
    eta_min_span = "60s"         # samples needed before any time to OOM is given

    [thresholds.gpu]             # the same for GPU memory; defaults to [thresholds]
    critical = 95

    [[targets]]                  # a service to poll; see docs/targets.md
    name = "api"
    url = "http://127.0.0.1:8000/memdash"

    [keymap]                     # binding id -> keys, e.g. force_gc = "G"

    [fleet]                      # `memdash fleet`: see docs/fleet.md
    prometheus = "https://prom.example:9090"
    token_env = "PROM_TOKEN"     # or token_file; ca, verify, selector, interval, timeout

Every problem is a :class:`ConfigError` naming the file, the key and what is wrong.
"""

from __future__ import annotations

import math
import re
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from memdash.levels import Thresholds
from memdash.units import parse_duration

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

#: Units a mapped field may name (``rss = {path = "rusage.maxrss", unit = "KiB"}``).
FIELD_UNITS = ("B", "KiB", "KB", "MiB", "MB", "GiB", "GB", "%", "ratio")
ENV_CONFIG = "MEMDASH_CONFIG"


class ConfigError(Exception):
    """A config problem: ``str()`` is one line naming file, key and problem."""

    def __init__(self, path: str | os.PathLike[str] | None, key: str | None, message: str) -> None:
        self.path = str(path) if path is not None else None
        self.key = key
        self.message = message
        where = self.path or "config"
        if key:
            where = f"{where}: {key}"
        # One line, always: a quoted TOML key or a name may itself hold a newline.
        text = f"{where}: {message}"
        super().__init__(text.replace("\r", "\\r").replace("\n", "\\n"))


#: Largest token file read, in bytes: a token is a line, not a document.
MAX_TOKEN_FILE_BYTES = 4096


#: The kinds memdash itself registers (memdash.sources.kinds). A target naming
#: one of them is accepted without importing the registry, whose readers bring
#: ssl, h11 and the transport (~150 ms on a loaded 2-core box) onto the first
#: frame's path; any other name is looked up in the registry itself. A test
#: checks that every name here is registered.
SHIPPED_KINDS = frozenset({"probe", "prometheus", "json", "redis"})


def target_kinds() -> tuple[str, ...]:
    """The ``kind`` names a target may give: ``auto`` and every kind in the
    registry (:data:`memdash.sources.kinds.KINDS`, the one list of kinds).

    The registry is imported here, on first need, not with this module: it
    imports this module, and a config that names no kind (or a dashboard
    drawing its first frame) does without the readers.
    """
    from memdash.sources.kinds import KINDS

    return ("auto", *KINDS)


def read_token_file(name: str, *, key: str = "token_file", path: str | None = None) -> str | None:
    """The token in file ``name`` (``~`` expanded), stripped; ``None`` if the file is empty.

    Never blocks and never reads much: the file is checked with ``stat`` before
    it is opened (a FIFO would block ``open``), opened non-blocking all the
    same (it may be swapped meanwhile), and read up to
    :data:`MAX_TOKEN_FILE_BYTES`.

    Raises:
        ConfigError: in one line naming ``key`` and the file, never its
            contents: missing, unreadable, not a regular file, larger than 4 KB,
            not UTF-8, or holding characters an HTTP header cannot carry.
    """
    import stat

    where = os.path.expanduser(name)

    def fail(message: str) -> ConfigError:
        return ConfigError(path, key, f"{where}: {message}")

    try:
        st = os.stat(where)
        if stat.S_ISDIR(st.st_mode):
            raise fail("is a directory, not a token file")
        if not stat.S_ISREG(st.st_mode):
            raise fail("is not a regular file (a FIFO, socket or device); put the token in a plain file")
        if st.st_size > MAX_TOKEN_FILE_BYTES:
            raise fail(f"is larger than {MAX_TOKEN_FILE_BYTES // 1024} KB; a token file holds one token")
        fd = os.open(where, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise fail("is not a regular file; put the token in a plain file")
            data = os.read(fd, MAX_TOKEN_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ConfigError(path, key, f"cannot read {where}: {exc.strerror or type(exc).__name__}") from None
    if len(data) > MAX_TOKEN_FILE_BYTES:
        raise fail(f"is larger than {MAX_TOKEN_FILE_BYTES // 1024} KB; a token file holds one token")
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise fail("is not UTF-8 text") from None
    return _checked_token(text, path, key, where) if text else None


def _checked_token(token: str, path: str | None, key: str, where: str) -> str:
    """``token``, if an HTTP header can carry it: printable ASCII, no spaces or controls."""
    if not token.isascii() or not token.isprintable() or any(ch.isspace() for ch in token):
        raise ConfigError(path, key, f"{where}: the token holds spaces, control or non-ASCII characters; "
                                     "an HTTP header cannot carry it")
    return token


def redact_url(url: str) -> str:
    """``url`` without its userinfo's secret: ``http://me:pw@host/`` -> ``http://***@host/``.

    The one form in which a URL from the config is ever shown (names, errors, JSON).
    """
    import re

    return re.sub(r"(//)[^/@\s]+@", r"\1***@", url)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A mapped field given as a table: where it is and the unit it is in."""

    path: str
    unit: str | None = None


def field_spec(value: "str | FieldSpec") -> FieldSpec:
    """A ``fields`` entry as a :class:`FieldSpec` (a plain string is a path, unit unsaid)."""
    return value if isinstance(value, FieldSpec) else FieldSpec(str(value))


def parse_size(text: object) -> int | None:
    """``"4 MB"``, ``"512KiB"``, ``1048576`` as bytes (KB and MB mean KiB and MiB,
    as everywhere in memdash); ``None`` when it is none of these."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text
    if not isinstance(text, str):
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]i?B?|B)?\s*", text, re.IGNORECASE)
    if not m:
        return None
    scale = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[(m.group(2) or "")[:1].lower()]
    return int(float(m.group(1)) * scale)


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetConfig:
    """One ``[[targets]]`` entry (or a URL given on the command line).

    The token is never stored here: ``token_env`` names an environment variable
    and ``token_file`` a file, both read by :meth:`token` when a request is made.
    """

    name: str
    url: str
    kind: str = "auto"
    token_env: str | None = None
    token_file: str | None = None
    verify: bool = True
    ca: str | None = None
    timeout: float = 2.0
    interval: float = 2.0
    limit_mb: float | None = None
    thresholds: Thresholds | None = None
    fields: Mapping[str, "str | FieldSpec"] = field(default_factory=dict)
    actions: Mapping[str, str] = field(default_factory=dict)
    read_only: bool = False
    #: Largest answer read, in bytes (``None``: 1 MB). A Prometheus page past it is
    #: read up to it; a JSON answer past it is refused.
    max_body: int | None = None

    def token(self) -> str | None:
        """The bearer token, read now from the environment or the file; ``None`` if unset.

        Raises:
            ConfigError: the token file cannot be read (the message names the
                file, never its contents).
        """
        if self.token_env:
            value = os.environ.get(self.token_env)
            if value and value.strip():
                return _checked_token(value.strip(), None, f"targets.{self.name}.token_env", f"${self.token_env}")
        if self.token_file:
            return read_token_file(self.token_file, key=f"targets.{self.name}.token_file")
        return None

    @property
    def limit_bytes(self) -> int | None:
        """``limit_mb`` in bytes."""
        return None if self.limit_mb is None else int(self.limit_mb * 1024 * 1024)


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetConfig:
    """The ``[fleet]`` table: which Prometheus ``memdash fleet`` reads, and how.

    ``selector`` (``{env="prod"}``) is added to every series memdash asks for;
    ``interval`` is the refresh (at least 1 s, default 5 s) and ``timeout`` the
    deadline of each request; ``probes`` maps an ``instance`` label to the URL
    of the memdash probe there, for the attach key. As for targets, the token
    is read from ``token_env`` or ``token_file`` when needed, never stored.
    """

    prometheus: str | None = None
    token_env: str | None = None
    token_file: str | None = None
    ca: str | None = None
    verify: bool = True
    selector: str | None = None
    interval: float = 5.0
    timeout: float = 4.0
    probes: Mapping[str, str] = field(default_factory=dict)

    def token(self) -> str | None:
        """The bearer token for Prometheus, read now; ``None`` if unset."""
        reader = TargetConfig(name="fleet", url=self.prometheus or "http://unset", token_env=self.token_env,
                              token_file=self.token_file)
        try:
            return reader.token()
        except ConfigError as exc:
            raise ConfigError(None, "fleet.token_file", exc.message) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Everything the config file (and defaults) decide. Immutable."""

    path: str | None = None
    theme: str = "memdash-dark"
    interval: float = 1.0
    top: int = 25
    #: ``top`` was given (in the file or by ``--top``): the dashboard shows at
    #: most that many rows; unset, its rows fill the window (``snapshot`` uses 25).
    top_set: bool = False
    read_only: bool = False
    discover: bool = True
    thresholds: Thresholds = Thresholds()
    gpu_thresholds: Thresholds = Thresholds()
    targets: tuple[TargetConfig, ...] = ()
    keymap: Mapping[str, str] = field(default_factory=dict)
    fleet: FleetConfig = FleetConfig()


def default_config_path() -> Path:
    """The platform's config file path (``~/.config/memdash/config.toml`` on Linux)."""
    from platformdirs import user_config_path

    return user_config_path("memdash") / "config.toml"


def find_config_path(explicit: str | None) -> tuple[Path | None, bool]:
    """Which file to read, and whether it must exist (it was named explicitly)."""
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get(ENV_CONFIG)
    if env:
        return Path(env).expanduser(), True
    default = default_config_path()
    return default, False


def load_config(explicit: str | None = None) -> Config:
    """Find and read the config; defaults when there is none.

    Raises:
        ConfigError: the file is missing (when named), unreadable, not TOML, or
            says something memdash does not accept.
    """
    path, required = find_config_path(explicit)
    if path is None:
        return Config()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise ConfigError(path, None, "file not found") from None
        return Config()
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read: {exc.strerror}") from None
    try:
        mapping = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(path, None, "not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, None, f"invalid TOML: {exc}") from None
    return config_from_mapping(mapping, path=str(path))


def config_from_mapping(data: Mapping[str, Any], *, path: str | None = None) -> Config:
    """Build a :class:`Config` from parsed TOML, rejecting unknown or invalid keys."""
    r = _Reader(path)
    r.known(data, "", {"theme", "interval", "top", "read_only", "discover", "thresholds", "targets", "keymap", "fleet"})
    thresholds = r.thresholds(data.get("thresholds", {}), "thresholds", Thresholds(), allow_gpu=True)
    gpu_raw = data.get("thresholds", {}).get("gpu", {}) if isinstance(data.get("thresholds"), dict) else {}
    gpu_thresholds = r.thresholds(gpu_raw, "thresholds.gpu", thresholds)
    targets_raw = data.get("targets", [])
    if not isinstance(targets_raw, list):
        raise ConfigError(path, "targets", "must be an array of tables ([[targets]])")
    targets = tuple(r.target(t, f"targets[{i}]", thresholds) for i, t in enumerate(targets_raw))
    names = [t.name for t in targets]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(path, "targets", f"two targets are named {name!r}")
    keymap_raw = data.get("keymap", {})
    if not isinstance(keymap_raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in keymap_raw.items()
    ):
        raise ConfigError(path, "keymap", 'must map binding ids to keys, e.g. force_gc = "G"')
    return Config(
        path=path,
        theme=r.string(data, "theme", "memdash-dark"),
        interval=r.number(data, "interval", 1.0, low=0.1, high=3600),
        top=int(r.number(data, "top", 25, low=1, high=100000, integer=True)),
        top_set="top" in data,
        read_only=r.boolean(data, "read_only", False),
        discover=r.boolean(data, "discover", True),
        thresholds=thresholds,
        gpu_thresholds=gpu_thresholds,
        targets=targets,
        keymap=dict(keymap_raw),
        fleet=r.fleet(data.get("fleet", {})),
    )


class _Reader:
    """Typed reads of a TOML mapping that fail with a :class:`ConfigError`."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(self.path, key, message)

    def known(self, data: Mapping[str, Any], prefix: str, allowed: set[str]) -> None:
        if not isinstance(data, Mapping):
            raise self.fail(prefix.rstrip(".") or "config", "must be a table")
        for key in data:
            if key not in allowed:
                full = f"{prefix}{key}"
                raise self.fail(full, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        default: float | None,
        *,
        low: float,
        high: float,
        prefix: str = "",
        integer: bool = False,
    ) -> float:
        value = data.get(key, default)
        full = f"{prefix}{key}"
        if value is None:
            return value  # type: ignore[return-value]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(full, f"must be a number, not {_toml_type(value)}")
        if integer and not float(value).is_integer():
            raise self.fail(full, f"must be a whole number, got {value}")
        if math.isnan(value) or not low <= value <= high:
            raise self.fail(full, f"must be between {low:g} and {high:g}, got {value}")
        return float(value)

    def limit_mb(self, data: Mapping[str, Any], prefix: str) -> float | None:
        """``limit_mb``: -1, 0, nan and inf are the usual spellings of "no limit" and mean it."""
        value = data.get("limit_mb")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value) or value <= 0:
                return None
        return self.number(data, "limit_mb", None, low=1 / 1024, high=1 << 40, prefix=prefix)

    def duration(self, data: Mapping[str, Any], key: str, default: float, *, prefix: str = "") -> float:
        value = data.get(key, default)
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(f"{prefix}{key}", str(exc)) from None

    def string(self, data: Mapping[str, Any], key: str, default: str | None, *, prefix: str = "") -> Any:
        value = data.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.fail(f"{prefix}{key}", f"must be a string, not {_toml_type(value)}")
        return value

    def boolean(self, data: Mapping[str, Any], key: str, default: bool, *, prefix: str = "") -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(f"{prefix}{key}", f"must be true or false, not {_toml_type(value)}")
        return value

    def string_map(self, data: Mapping[str, Any], key: str, prefix: str) -> dict[str, str]:
        value = data.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(f"{prefix}{key}", "must be a table")
        for k, v in value.items():
            if not isinstance(v, str):
                raise self.fail(f"{prefix}{key}.{k}", f"must be a string, not {_toml_type(v)}")
        return dict(value)

    def thresholds(
        self, data: Any, prefix: str, base: Thresholds, *, allow_gpu: bool = False
    ) -> Thresholds:
        if not isinstance(data, Mapping):
            raise self.fail(prefix, "must be a table")
        durations = ("oom_eta_warning", "oom_eta_critical", "eta_min_span")
        allowed = {"good", "warning", "critical", *durations} | ({"gpu"} if allow_gpu else set())
        self.known(data, prefix + ".", allowed)
        values: dict[str, float] = {}
        for key in ("good", "warning", "critical"):
            values[key] = self.number(
                data, key, getattr(base, key), low=0, high=100, prefix=prefix + "."
            )
        for key in durations:
            values[key] = self.duration(data, key, getattr(base, key), prefix=prefix + ".")
        try:
            return Thresholds(**values)
        except ValueError as exc:
            raise self.fail(prefix, str(exc)) from None

    def fleet(self, data: Any) -> FleetConfig:
        p = "fleet."
        self.known(data, p, {"prometheus", "token_env", "token_file", "token", "ca", "verify", "selector",
                             "interval", "timeout", "probes"})
        if "token" in data:
            raise self.fail(p + "token", "tokens are not read from the config file; use token_env or token_file")
        url = self.string(data, "prometheus", None, prefix=p)
        if url is not None and not url.startswith(("http://", "https://")):
            raise self.fail(p + "prometheus", f"must start with http:// or https://, got {url!r}")
        selector = self.string(data, "selector", None, prefix=p)
        if selector:
            from memdash.fleet.queries import SelectorError, parse_selector

            try:
                parse_selector(selector)
            except SelectorError as exc:
                raise self.fail(p + "selector", str(exc)) from None
        return FleetConfig(
            prometheus=url,
            token_env=self.string(data, "token_env", None, prefix=p),
            token_file=self.string(data, "token_file", None, prefix=p),
            ca=self.string(data, "ca", None, prefix=p),
            verify=self.boolean(data, "verify", True, prefix=p),
            selector=selector,
            interval=self.number(data, "interval", 5.0, low=1, high=3600, prefix=p),
            timeout=self.number(data, "timeout", 4.0, low=0.1, high=300, prefix=p),
            probes=self.string_map(data, "probes", p),
        )

    def target(self, data: Any, where: str, thresholds: Thresholds) -> TargetConfig:
        if not isinstance(data, Mapping):
            raise self.fail(where, "must be a table")
        name = data.get("name")
        label = f"targets.{name}" if isinstance(name, str) and name else where
        p = label + "."
        self.known(
            data,
            p,
            {
                "name", "url", "kind", "token_env", "token_file", "token", "verify", "ca",
                "timeout", "interval", "limit_mb", "thresholds", "fields", "actions", "read_only",
                "max_body",
            },
        )
        if "token" in data:
            raise self.fail(
                p + "token",
                "tokens are not read from the config file; use token_env or token_file",
            )
        if not isinstance(name, str) or not name.strip():
            raise self.fail(p + "name", "every target needs a name")
        url = data.get("url")
        if not isinstance(url, str) or not url.strip():
            raise self.fail(p + "url", "every target needs a url")
        if not url.startswith(("http://", "https://", "unix:", "redis://", "rediss://")):
            raise self.fail(p + "url", "must start with http://, https://, unix:, redis:// or rediss://, "
                                       f"got {redact_url(url)!r}")
        kind = self.string(data, "kind", "auto", prefix=p)
        if kind != "auto" and kind not in SHIPPED_KINDS and kind not in target_kinds():
            raise self.fail(p + "kind", f"must be one of {', '.join(target_kinds())}, got {kind!r}")
        if url.startswith(("redis://", "rediss://")):
            if kind not in ("auto", "redis"):
                raise self.fail(p + "kind", f"a redis:// URL is a redis target, not {kind!r}")
            kind = "redis"
        max_body = None
        if "max_body" in data:
            max_body = parse_size(data["max_body"])
            if max_body is None or not 1024 <= max_body <= 1 << 30:
                raise self.fail(p + "max_body", 'must be a size from 1 KB to 1 GB (bytes, or "4 MB")')
        verify = self.boolean(data, "verify", True, prefix=p)
        actions = self.string_map(data, "actions", p)
        for action, route in actions.items():
            parts = route.split(None, 1)
            if len(parts) != 2 or parts[0].upper() not in {"GET", "POST", "PUT", "DELETE", "PATCH"} or not parts[1].startswith("/"):
                raise self.fail(f"{p}actions.{action}", f'must look like "POST /path", got {route!r}')
        token_file = self.string(data, "token_file", None, prefix=p)
        if token_file is not None and os.path.lexists(os.path.expanduser(token_file)):
            # Checked now, so a FIFO, a directory or a binary file is one config
            # error at start-up rather than a failing poll (it is read again at
            # each request: tokens rotate). A file that is not there yet may be.
            read_token_file(token_file, key=p + "token_file", path=self.path)
        t_raw = data.get("thresholds")
        return TargetConfig(
            name=name.strip(),
            url=url.strip(),
            kind=kind,
            token_env=self.string(data, "token_env", None, prefix=p),
            token_file=token_file,
            verify=verify,
            ca=self.string(data, "ca", None, prefix=p),
            timeout=self.number(data, "timeout", 2.0, low=0.05, high=300, prefix=p),
            interval=self.number(data, "interval", 2.0, low=0.1, high=3600, prefix=p),
            limit_mb=self.limit_mb(data, p),
            thresholds=None if t_raw is None else self.thresholds(t_raw, p + "thresholds", thresholds),
            fields=self.fields(data, p),
            actions=actions,
            read_only=self.boolean(data, "read_only", False, prefix=p),
            max_body=max_body,
        )

    def fields(self, data: Mapping[str, Any], prefix: str) -> dict[str, "str | FieldSpec"]:
        """``fields``: name -> path, or name -> ``{path = "...", unit = "KiB"}``."""
        value = data.get("fields", {})
        if not isinstance(value, Mapping):
            raise self.fail(f"{prefix}fields", "must be a table")
        out: dict[str, str | FieldSpec] = {}
        for k, v in value.items():
            key = f"{prefix}fields.{k}"
            if isinstance(v, str):
                out[k] = v
                continue
            if not isinstance(v, Mapping):
                raise self.fail(key, f"must be a path or a table {{path = ..., unit = ...}}, not {_toml_type(v)}")
            self.known(v, key + ".", {"path", "unit"})
            path, unit = v.get("path"), v.get("unit")
            if not isinstance(path, str) or not path:
                raise self.fail(key + ".path", "must be a string")
            if unit is not None and unit not in FIELD_UNITS:
                raise self.fail(key + ".unit", f"must be one of {', '.join(FIELD_UNITS)}, got {unit!r}")
            out[k] = FieldSpec(path, unit)
        return out


def _toml_type(value: object) -> str:
    return {
        str: "a string", int: "an integer", float: "a number", bool: "a boolean",
        list: "an array", dict: "a table",
    }.get(type(value), type(value).__name__)


def target_from_url(url: str, *, index: int = 0, token_env: str | None = None) -> TargetConfig:
    """A target for a URL given on the command line: named after its host and port."""
    from urllib.parse import urlsplit

    if url.startswith("unix:"):
        name = Path(url[5:].split("?", 1)[0].lstrip("/")).stem or f"target{index}"
    elif url.startswith(("redis://", "rediss://")):
        parts = urlsplit(url)
        name = parts.netloc.rsplit("@", 1)[-1] or f"redis{index}"
        return TargetConfig(name=name, url=url, kind="redis", token_env=token_env)
    else:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(None, "url", f"not an http(s):// or unix: URL: {redact_url(url)!r}")
        name = parts.netloc.rsplit("@", 1)[-1]
    return TargetConfig(name=name, url=url, token_env=token_env)
