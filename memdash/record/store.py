"""The recording store: time-sharded SQLite files of compressed frames and events.

Layout of a store directory::

    DIR/recorder.lock                         flock'ed by the one recorder writing here
    DIR/frames-20261129T031200.000000Z.db     one shard (SQLite, WAL mode), named for
    DIR/frames-20261130T000000.125000Z.db     the time of its first frame (UTC)

A shard holds three tables: ``frames`` (time, level, compressed payload),
``events`` (time, kind, subject, level, JSON details) and ``meta``. Both time
columns are indexed, so a reader finds the frame nearest any time with one
index lookup per shard.

Why this shape:

* **Crash safety.** Every frame is its own transaction, committed in WAL mode
  with ``synchronous=FULL``; a ``kill -9`` or a power cut loses at most the frame
  being written (SQLite drops a WAL transaction whose checksum does not match).
* **Size.** Frames are zstd-compressed. Every :data:`KEYFRAME_EVERY`-th frame is a
  *keyframe*, compressed on its own; each frame between is compressed against the
  frame before it used as a raw-content dictionary, which turns what the two
  share (names, command lines, keys, most figures) into back-references: a sixth
  of the size of compressing each frame alone (measured: ~0.5 KiB against
  ~3 KiB for a frame with 10 targets). Reading a frame decompresses the chain
  back to its keyframe, at most :data:`KEYFRAME_EVERY` small steps (a few ms),
  and the reader caches what it decoded, so stepping frame by frame is one.
* **Retention.** Shards roll over each UTC day and when one grows past an eighth
  of ``max_size``; retention deletes whole shards (oldest first) past ``retain``
  or while the store exceeds ``max_size``, and never the newest shard.
* **One writer.** The recorder takes an exclusive ``flock`` on ``recorder.lock``;
  a second recorder gets :class:`StoreLocked`. Readers take no lock.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
import datetime as _dt
import fcntl
import json
import math
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import zstandard

#: Bumped when the shard tables change incompatibly.
STORE_SCHEMA = 1
#: A keyframe every this many frames (at 5 s: every 5 minutes).
KEYFRAME_EVERY = 60
#: zstd level: 3 is zstd's default; higher levels cost the recorder CPU for a few %.
ZSTD_LEVEL = 3
LOCK_NAME = "recorder.lock"
SHARD_PREFIX = "frames-"
SHARD_SUFFIX = ".db"
#: Smallest shard size retention rolls over at (whatever --max-size says).
MIN_SHARD_BYTES = 128 * 1024

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    level TEXT,
    ref INTEGER,            -- NULL: a keyframe; else the id of the frame it is compressed against
    data BLOB NOT NULL,
    figures TEXT            -- the charted figures (figures_of), so charts need no decompression
);
CREATE INDEX IF NOT EXISTS frames_t ON frames(t);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    t REAL NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    level TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_t ON events(t);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class StoreError(Exception):
    """A store that cannot be opened or written, in words."""


class StoreLocked(StoreError):
    """Another recorder holds the store's lock."""


class StoreTooNew(StoreError):
    """A shard written by a newer memdash (a store schema this one does not know)."""


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened at one moment, stored as such.

    Attributes:
        t: epoch seconds.
        kind: ``oom_kill``, ``service_appeared``, ``service_vanished``,
            ``level_change`` or ``cleanup``.
        subject: what it happened to: a cgroup path, a target name, or ``host``.
        level: the level it implies (``critical`` for an OOM kill), or ``None``.
        data: JSON-able details (pid, name, RSS at death, source, ...).
    """

    t: float
    kind: str
    subject: str
    level: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"time": iso(self.t), "t": self.t, "kind": self.kind, "subject": self.subject,
                "level": self.level, **{"data": dict(self.data)}}


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One stored frame: its time, level, the snapshot document and the recorder's extras."""

    t: float
    level: str | None
    snapshot: dict[str, Any]
    extra: dict[str, Any]


def iso(t: float | None) -> str | None:
    """Local ISO 8601 time with offset, to the second (as ``snapshot`` writes it)."""
    if t is None:
        return None
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _finite(value: Any) -> Any:
    """``value`` with NaN/Infinity replaced by ``None`` (stored JSON is strict)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _utf8(text: str) -> str:
    """``text`` storable as SQLite TEXT: a lone surrogate (bytes that were not
    UTF-8, decoded with ``surrogateescape``) becomes U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def dumps(doc: Any) -> bytes:
    """Compact, strict JSON bytes."""
    try:
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        return json.dumps(_finite(doc), separators=(",", ":"), allow_nan=False).encode()


#: Prefixes of the keys :func:`figures_of` keeps in the frames' figures column
#: (the box's series); every other chart key comes from decoded frames.
COLUMN_PREFIXES = ("system.", "gpu.")


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def figures_of(snapshot: Mapping[str, Any], *, targets: bool = True) -> dict[str, float]:
    """The figures a replay charts, by the live dashboard's history keys:
    ``system.percent``, ``system.used`` (bytes: the cgroup's usage where the box
    has a limit, as the live chart shows), ``gpu.<uuid|index>.percent`` and
    (``targets``) ``target.<name>.rss`` and ``target.<name>.percent``. The box's
    are kept beside each frame, so the screen's charts read a column instead of
    decompressing frames (``system.used`` since the whole-recording charts:
    older frames lack it and their charts decode keyframes instead); a target's
    (charted only while its view is open) would cost the store ~1 KiB a frame
    with 10 targets, so they come from the frames."""
    out: dict[str, float] = {}
    system = snapshot.get("system") or {}
    if isinstance(system, dict):
        percent = _number(system.get("percent"))
        if percent is not None:
            out["system.percent"] = percent
        cgroup = system.get("cgroup")
        used = _number(cgroup.get("usage_bytes") if system.get("limit_bytes") and isinstance(cgroup, dict)
                       else system.get("used_bytes"))
        if used is not None:
            out["system.used"] = used
    gpus = snapshot.get("gpus") or {}
    for d in (gpus.get("devices") or []) if isinstance(gpus, dict) else []:
        if isinstance(d, dict) and isinstance(d.get("percent"), (int, float)):
            out[f"gpu.{d.get('uuid') or d.get('index')}.percent"] = float(d["percent"])
    for t in snapshot.get("targets") or [] if targets else []:
        if not isinstance(t, dict):
            continue
        for key, name in (("rss", "rss_bytes"), ("percent", "percent")):
            if isinstance(t.get(name), (int, float)) and not isinstance(t.get(name), bool):
                out[f"target.{t.get('name')}.{key}"] = float(t[name])
    return out


def series_of(snapshot: Mapping[str, Any]) -> dict[str, float]:
    """Every figure a replay's charts can ask of one decoded frame: those of
    :func:`figures_of` with the targets', a target's cumulative counters
    (``target.<name>.gc``, ``.gc_pause``, ``.hits``, ``.lookups``: the target
    view charts their rates), each recorded process's RSS (``process.<pid>.rss``)
    and each service's working set against its limit (``service.<key>.percent``)."""
    out = figures_of(snapshot)
    for t in snapshot.get("targets") or []:
        if not isinstance(t, dict) or not t.get("ok", True):
            continue
        name = t.get("name")
        gc = t.get("gc")
        if isinstance(gc, dict):
            counted_gc = [_number(g.get("collections")) for g in gc.get("generations") or [] if isinstance(g, dict)]
            counts = [c for c in counted_gc if c is not None]
            if counts:
                out[f"target.{name}.gc"] = sum(counts)
            if _number(gc.get("pause_total_seconds")) is not None:
                out[f"target.{name}.gc_pause"] = float(gc["pause_total_seconds"])
        counted = [c for c in t.get("caches") or [] if isinstance(c, dict) and _number(c.get("hits")) is not None]
        if counted:
            out[f"target.{name}.hits"] = sum(float(c["hits"]) for c in counted)
            out[f"target.{name}.lookups"] = sum(float(c["hits"]) + (_number(c.get("misses")) or 0.0)
                                                for c in counted)
    for p in snapshot.get("processes") or []:
        if isinstance(p, dict) and _number(p.get("rss_bytes")) is not None:
            out[f"process.{p.get('pid')}.rss"] = float(p["rss_bytes"])
    for sv in snapshot.get("services") or []:
        if isinstance(sv, dict) and _number(sv.get("percent")) is not None:
            out[f"service.{sv.get('key')}.percent"] = float(sv["percent"])
    return out


def shard_name(t: float) -> str:
    stamp = _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%f")
    return f"{SHARD_PREFIX}{stamp}Z{SHARD_SUFFIX}"


def shard_start(path: Path) -> float | None:
    """The time a shard's name gives, or ``None`` for a file that is not a shard."""
    name = path.name
    if not (name.startswith(SHARD_PREFIX) and name.endswith("Z" + SHARD_SUFFIX)):
        return None
    stamp = name[len(SHARD_PREFIX) : -len("Z" + SHARD_SUFFIX)]
    try:
        return _dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S.%f").replace(tzinfo=_dt.timezone.utc).timestamp()
    except ValueError:
        return None


def list_shards(root: Path) -> list[Path]:
    """The store's shard files, oldest first."""
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"cannot read {root}: {exc.strerror}") from None
    shards = [root / n for n in names if shard_start(root / n) is not None]
    shards.sort(key=lambda p: p.name)
    return shards


def shard_bytes(path: Path) -> int:
    """A shard's size on disk, its WAL included (not the WAL's fixed 32 KiB
    shared-memory index, which exists only while the shard is open)."""
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += os.stat(str(path) + suffix).st_size
        except OSError:
            pass
    return total


def _delete_shard(path: Path) -> None:
    for suffix in ("-wal", "-shm", ""):
        try:
            os.unlink(str(path) + suffix)
        except FileNotFoundError:
            pass


def default_store_dir() -> Path:
    """``$XDG_STATE_HOME/memdash``, else ``~/.local/state/memdash``."""
    state = os.environ.get("XDG_STATE_HOME")
    base = Path(state) if state and os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "memdash"


# -- writing --------------------------------------------------------------------------


class StoreWriter:
    """The one writer of a store: appends frames and events, rolls shards over,
    applies retention. Holds the store's lock from construction to :meth:`close`.

    Args:
        root: the store directory (created, mode 0700, if missing).
        retain: seconds of history to keep (whole shards older than this go).
        max_size: bytes the store may take; oldest shards go first.
        clock: epoch seconds (tests pass their own).
    """

    def __init__(self, root: Path, *, retain: float = 7 * 86400, max_size: int = 1 << 30,
                 clock=time.time) -> None:
        self.root = Path(root)
        self.retain = retain
        self.max_size = max_size
        self.shard_limit = max(MIN_SHARD_BYTES, max_size // 8)
        self._clock = clock
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StoreError(f"cannot create {self.root}: {exc.strerror}") from None
        self._lock_fd = self._lock()
        self._db: sqlite3.Connection | None = None
        self._path: Path | None = None
        self._day: str | None = None
        self._prev_id: int | None = None
        self._prev_raw: bytes | None = None
        self._since_key = 0
        self._appends = 0
        self._plain = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.enforce_retention()
        shards = list_shards(self.root)
        if shards:
            try:
                self._open(shards[-1], create=False)
            except StoreTooNew:
                os.close(self._lock_fd)  # refused: the lock goes with it
                raise
            except StoreError:
                # A damaged newest shard stays for readers; the next frame starts a new one.
                self._db = None
                self._path = None

    def _lock(self) -> int:
        path = self.root / LOCK_NAME
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            except OSError:
                holder = ""
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise StoreLocked(f"another recorder{who} is already writing to {self.root}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return fd

    # -- shards

    def _open(self, path: Path, *, create: bool) -> None:
        self._close_db()
        try:
            db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            # Checkpoint the WAL into the shard every ~1 MiB and cut it back to 1 MiB
            # after: the WAL never holds more than a few hundred frames' pages.
            db.execute("PRAGMA wal_autocheckpoint=256")
            db.execute("PRAGMA journal_size_limit=1048576")
            db.executescript(_SCHEMA_SQL)
            if create:
                with db:
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(STORE_SCHEMA),))
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row and str(row[0]).isdigit() and int(row[0]) > STORE_SCHEMA:
                db.close()
                raise StoreTooNew(f"{path} was written by a newer memdash (store schema {row[0]}; this one"
                                 f" writes {STORE_SCHEMA}): upgrade memdash, or record to another directory")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open shard {path}: {exc}") from None
        self._db = db
        self._path = path
        start = shard_start(path) or self._clock()
        self._day = _dt.datetime.fromtimestamp(start, _dt.timezone.utc).strftime("%Y%m%d")
        # A new writer session starts with a keyframe: never depend on a frame
        # whose bytes this process has not seen.
        self._prev_id = None
        self._prev_raw = None

    def _close_db(self) -> None:
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None

    def _rollover_due(self, t: float) -> bool:
        if self._db is None or self._path is None:
            return True
        day = _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y%m%d")
        return day != self._day or shard_bytes(self._path) >= self.shard_limit

    def _roll(self, t: float) -> None:
        carry = self.get_meta_all() if self._db is not None else {}
        path = self.root / shard_name(t)
        while path.exists():  # two shards in one microsecond: only in tests
            t += 1e-6
            path = self.root / shard_name(t)
        self._open(path, create=True)
        # Cursors (kernel log position, OOM counters) travel to the new shard.
        for key, value in carry.items():
            if key != "schema":
                self.set_meta(key, value)
        self.enforce_retention()

    @property
    def current_shard(self) -> Path | None:
        return self._path

    # -- meta

    def set_meta(self, key: str, value: str) -> None:
        assert self._db is not None
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def get_meta(self, key: str) -> str | None:
        if self._db is None:
            return None
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def get_meta_all(self) -> dict[str, str]:
        if self._db is None:
            return {}
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    # -- appending

    def _encode(self, raw: bytes) -> tuple[int | None, bytes]:
        if self._prev_id is None or self._prev_raw is None or self._since_key >= KEYFRAME_EVERY - 1:
            self._since_key = 0
            return None, self._plain.compress(raw)
        self._since_key += 1
        previous = zstandard.ZstdCompressionDict(self._prev_raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        return self._prev_id, zstandard.ZstdCompressor(level=ZSTD_LEVEL, dict_data=previous).compress(raw)

    def append(self, t: float, snapshot: Mapping[str, Any], extra: Mapping[str, Any] | None = None,
               events: Sequence[Event] = (), meta: Mapping[str, str] | None = None) -> None:
        """Store one frame, the events that came with it and the recorder's cursors
        (``meta``), in one transaction: after a crash all of them are there, or none."""
        if self._rollover_due(t):
            self._roll(t)
        assert self._db is not None
        raw = dumps({"snapshot": snapshot, "extra": dict(extra or {})})
        ref, blob = self._encode(raw)
        level = snapshot.get("level")
        figures = dumps(figures_of(snapshot, targets=False)).decode()
        db = self._db
        with db:
            cur = db.execute("INSERT INTO frames (t, level, ref, data, figures) VALUES (?, ?, ?, ?, ?)",
                             (t, level, ref, blob, figures))
            self._insert_events(events)
            if meta:
                db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", list(meta.items()))
        self._prev_id = cur.lastrowid
        self._prev_raw = raw
        self._appends += 1
        if self._appends % 60 == 0:
            self.enforce_retention()

    def add_events(self, events: Sequence[Event]) -> None:
        """Store events that came without a frame (a cleanup's receipt)."""
        if not events:
            return
        if self._db is None:
            self._roll(events[0].t)
        assert self._db is not None
        with self._db:
            self._insert_events(events)

    def _insert_events(self, events: Sequence[Event]) -> None:
        assert self._db is not None
        if events:
            self._db.executemany(
                "INSERT INTO events (t, kind, subject, level, data) VALUES (?, ?, ?, ?, ?)",
                [(e.t, _utf8(e.kind), _utf8(e.subject), e.level and _utf8(e.level), dumps(dict(e.data)).decode())
                 for e in events],
            )

    # -- retention

    def enforce_retention(self) -> list[Path]:
        """Delete whole shards past ``retain`` or beyond ``max_size``, oldest first,
        never the newest; returns the deleted paths."""
        shards = list_shards(self.root)
        deleted: list[Path] = []
        if len(shards) <= 1:
            return deleted
        now = self._clock()
        sizes = {p: shard_bytes(p) for p in shards}
        total = sum(sizes.values())
        for i, path in enumerate(shards[:-1]):
            # A shard ends where the next begins: it is all older than retain
            # once the next shard's start is.
            end = shard_start(shards[i + 1]) or now
            too_old = now - end > self.retain
            too_big = total > self.max_size
            if not (too_old or too_big):
                break
            if path == self._path:
                continue
            _delete_shard(path)
            total -= sizes[path]
            deleted.append(path)
        return deleted

    def close(self) -> None:
        """Close the shard (checkpointing its WAL) and release the lock."""
        if self._db is not None:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
        self._close_db()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None  # type: ignore[assignment]

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- reading --------------------------------------------------------------------------


class _Shard:
    """One shard opened for reading, with its frame times loaded from the index."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self.db: sqlite3.Connection | None = None
        self.times: list[float] = []
        self.ids: list[int] = []
        try:
            try:
                db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
                # Frame times come straight from the index (a covering scan, no blob reads).
                rows = db.execute("SELECT t, id FROM frames INDEXED BY frames_t ORDER BY t").fetchall()
            except sqlite3.OperationalError:
                # A read-only copy whose WAL index cannot be created: read it as immutable.
                db = sqlite3.connect(f"file:{path}?immutable=1", uri=True, check_same_thread=False)
                rows = db.execute("SELECT t, id FROM frames INDEXED BY frames_t ORDER BY t").fetchall()
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            schema = int(row[0]) if row and str(row[0]).isdigit() else STORE_SCHEMA
            if schema > STORE_SCHEMA:
                # A shard a newer memdash wrote: its tables may mean something else.
                db.close()
                self.error = (f"{path.name}: written by a newer memdash (store schema {schema}; this one reads"
                              f" up to {STORE_SCHEMA}): upgrade memdash to read it")
                return
            self.db = db
            self.times = [r[0] for r in rows]
            self.ids = [r[1] for r in rows]
        except sqlite3.Error as exc:
            # A damaged shard is reported and skipped; the rest of the store reads.
            self.error = f"{path.name}: {exc}"

    @property
    def first(self) -> float | None:
        return self.times[0] if self.times else None

    @property
    def last(self) -> float | None:
        return self.times[-1] if self.times else None

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


class Store:
    """A store opened for reading (replay, incidents, report).

    Opening loads every shard's frame times from its index, so
    :meth:`times`, :meth:`nearest` and :meth:`frame_at` need no scan. Shards
    that cannot be read are listed in :attr:`errors` and skipped.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise StoreError(f"no recording at {self.root} (not a directory)")
        self._shards = [_Shard(p) for p in list_shards(self.root)]
        self.errors = [s.error for s in self._shards if s.error]
        self._shards = [s for s in self._shards if s.db is not None]
        self._times: list[float] = []
        self._where: list[tuple[int, int]] = []  # (shard index, frame id) per time
        for si, shard in enumerate(self._shards):
            for t, fid in zip(shard.times, shard.ids):
                self._times.append(t)
                self._where.append((si, fid))
        if any(self._times[i] > self._times[i + 1] for i in range(len(self._times) - 1)):
            order = sorted(range(len(self._times)), key=self._times.__getitem__)
            self._times = [self._times[i] for i in order]
            self._where = [self._where[i] for i in order]
        self._raws: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._levels: list[str | None] | None = None
        self._plain = zstandard.ZstdDecompressor()

    def close(self) -> None:
        for s in self._shards:
            s.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def shard_paths(self) -> list[Path]:
        return [s.path for s in self._shards]

    def __len__(self) -> int:
        return len(self._times)

    def times(self) -> list[float]:
        """Every frame's time, in order."""
        return self._times

    @property
    def first(self) -> float | None:
        return self._times[0] if self._times else None

    @property
    def last(self) -> float | None:
        return self._times[-1] if self._times else None

    def nearest(self, t: float) -> int | None:
        """The index (into :meth:`times`) of the frame nearest ``t``; ``None`` if empty."""
        times = self._times
        if not times:
            return None
        i = bisect.bisect_left(times, t)
        if i == 0:
            return 0
        if i == len(times):
            return len(times) - 1
        return i if times[i] - t < t - times[i - 1] else i - 1

    def frame(self, index: int) -> RecordedFrame | None:
        """The frame at ``index``; ``None`` when its bytes are unreadable (a damaged shard)."""
        si, fid = self._where[index]
        db = self._shards[si].db
        if db is None:
            return None
        try:
            row = db.execute("SELECT t, level FROM frames WHERE id = ?", (fid,)).fetchone()
            raw = self._raw(si, fid) if row is not None else None
            if raw is None:
                return None
            doc = json.loads(raw)
        except (sqlite3.Error, zstandard.ZstdError, ValueError):
            return None
        t, level = row
        return RecordedFrame(t=t, level=level, snapshot=doc.get("snapshot", {}), extra=doc.get("extra", {}))

    #: Decoded frames kept, most recently used last (a cursor stepping back and
    #: forth, and the chain a seek decoded).
    CACHE_FRAMES = 2 * KEYFRAME_EVERY

    def _raw(self, si: int, fid: int) -> bytes | None:
        """A frame's JSON bytes: walk back to a keyframe (or a cached frame), then
        decompress forward, each frame against the one before it."""
        db = self._shards[si].db
        assert db is not None
        chain: list[tuple[int, bytes]] = []
        cur = fid
        raw: bytes | None = None
        while raw is None:
            hit = self._raws.get((si, cur))
            if hit is not None:
                raw = hit
                break
            row = db.execute("SELECT ref, data FROM frames WHERE id = ?", (cur,)).fetchone()
            if row is None:
                return None
            ref, blob = row
            if ref is None:
                raw = self._plain.decompress(blob)
                self._remember(si, cur, raw)
                break
            chain.append((cur, blob))
            if len(chain) > 2 * KEYFRAME_EVERY:  # a loop or a broken chain: never spin
                return None
            cur = ref
        for cid, blob in reversed(chain):
            previous = zstandard.ZstdCompressionDict(raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
            raw = zstandard.ZstdDecompressor(dict_data=previous).decompress(blob)
            self._remember(si, cid, raw)
        return raw

    def _remember(self, si: int, fid: int, raw: bytes) -> None:
        self._raws[(si, fid)] = raw
        self._raws.move_to_end((si, fid))
        while len(self._raws) > self.CACHE_FRAMES:
            self._raws.popitem(last=False)

    def figures(self, lo: int, hi: int) -> dict[int, dict[str, float]]:
        """The charted figures of frames ``lo..hi`` (indices into :meth:`times`),
        from their column; a frame without it (or unreadable) is left out."""
        want: dict[int, list[tuple[int, int]]] = {}
        for i in range(max(0, lo), min(len(self._where), hi + 1)):
            si, fid = self._where[i]
            want.setdefault(si, []).append((fid, i))
        out: dict[int, dict[str, float]] = {}
        for si, pairs in want.items():
            db = self._shards[si].db
            if db is None:
                continue
            index_of = dict(pairs)
            try:
                rows = db.execute("SELECT id, figures FROM frames WHERE id BETWEEN ? AND ?",
                                  (min(index_of), max(index_of))).fetchall()
            except sqlite3.Error:
                continue  # a shard from before the column: the caller decodes frames instead
            for fid, text in rows:
                if fid in index_of and text:
                    try:
                        out[index_of[fid]] = json.loads(text)
                    except ValueError:
                        pass
        return out

    def downsampled(self, keys: Sequence[str], buckets: int, t0: float | None = None,
                    t1: float | None = None) -> dict[str, tuple[list[float], list[float]]]:
        """Series ``keys`` over ``[t0, t1]`` (the whole recording by default), at
        most ``buckets`` points each: ``[t0, t1]`` is cut into ``buckets`` equal
        stretches and each gives its largest value, at the time it was recorded,
        so a peak or a step stays where it was. Nothing here holds more than
        ``buckets`` points a key, whatever the recording's length.

        The box's figures (:data:`COLUMN_PREFIXES`) are reduced inside SQLite
        from the figures column, every frame counted. Other keys (a target's, a
        process's, a service's: :func:`series_of`), and the box's in a shard
        recorded before its column had them, come from one decoded frame per
        stretch, a keyframe where the stretch has one (decoded alone: at 5 s,
        one every 5 minutes), so their long charts are sampled, not maxed.
        """
        out: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in keys}
        if not self._times or buckets < 1 or not keys:
            return out
        lo_t = self._times[0] if t0 is None else t0
        hi_t = self._times[-1] if t1 is None else t1
        scale = buckets / max(hi_t - lo_t, 1e-9)
        top = buckets - 1
        best: dict[str, dict[int, tuple[float, float]]] = {k: {} for k in keys}

        def keep(key: str, t: float, v: float) -> None:
            b = min(top, max(0, int((t - lo_t) * scale)))
            here = best[key].get(b)
            if here is None or v > here[1]:
                best[key][b] = (t, v)

        column = [k for k in keys if k.startswith(COLUMN_PREFIXES) and '"' not in k and "\\" not in k]
        decoded = [k for k in keys if k not in column]
        sql = ("SELECT MIN(CAST((t - ?) * ? AS INTEGER), ?) AS b, t, MAX(json_extract(figures, ?)) "
               "FROM frames WHERE t >= ? AND t <= ? GROUP BY b")
        for si, shard in enumerate(self._shards):
            if shard.db is None or not shard.times or shard.times[-1] < lo_t or shard.times[0] > hi_t:
                continue
            missing = list(decoded)
            for key in column:
                try:
                    rows = shard.db.execute(sql, (lo_t, scale, top, f'$."{key}"', lo_t, hi_t)).fetchall()
                except sqlite3.Error:
                    rows = []  # no figures column (or no JSON functions): the frames say it
                found = False
                for _b, t, v in rows:
                    if isinstance(v, (int, float)):
                        keep(key, t, float(v))
                        found = True
                if not found:
                    missing.append(key)
            if missing:
                self._sample_frames(si, missing, lo_t, hi_t, scale, top, keep)
        for key, points in best.items():
            for b in sorted(points):
                out[key][0].append(points[b][0])
                out[key][1].append(points[b][1])
        return out

    def _sample_frames(self, si: int, keys: Sequence[str], lo_t: float, hi_t: float, scale: float, top: int,
                       keep: Any) -> None:
        """One decoded frame per stretch of shard ``si`` (a keyframe where there is one)."""
        db = self._shards[si].db
        assert db is not None
        try:
            keyframes = {r[0] for r in db.execute("SELECT id FROM frames WHERE ref IS NULL").fetchall()}
        except sqlite3.Error:
            return
        shard = self._shards[si]
        lo = bisect.bisect_left(shard.times, lo_t)
        hi = bisect.bisect_right(shard.times, hi_t)
        chosen: dict[int, tuple[int, float, bool]] = {}  # stretch -> (frame id, time, is a keyframe)
        for t, fid in zip(shard.times[lo:hi], shard.ids[lo:hi]):
            b = min(top, max(0, int((t - lo_t) * scale)))
            key_frame = fid in keyframes
            if b not in chosen or (key_frame and not chosen[b][2]):
                chosen[b] = (fid, t, key_frame)
        wanted = set(keys)
        for b in sorted(chosen):
            fid, t, _ = chosen[b]
            try:
                raw = self._raw(si, fid)
                doc = json.loads(raw) if raw is not None else None
            except (sqlite3.Error, zstandard.ZstdError, ValueError):
                doc = None
            if not isinstance(doc, dict):
                continue  # a damaged frame: its stretch has no point
            for key, v in series_of(doc.get("snapshot") or {}).items():
                if key in wanted:
                    keep(key, t, v)

    def levels(self) -> list[str | None]:
        """Every frame's level, in the order of :meth:`times` (read once, on demand:
        a replay's timeline needs them, a seek does not)."""
        if self._levels is None:
            by_shard: list[dict[int, str | None]] = []
            for shard in self._shards:
                try:
                    by_shard.append(dict(shard.db.execute("SELECT id, level FROM frames").fetchall())
                                    if shard.db is not None else {})
                except sqlite3.Error:
                    by_shard.append({})
            self._levels = [by_shard[si].get(fid) for si, fid in self._where]
        return self._levels

    def frame_at(self, t: float) -> RecordedFrame | None:
        """The frame nearest ``t`` (the nearest readable one, if it is damaged)."""
        i = self.nearest(t)
        if i is None:
            return None
        for j in sorted(range(max(0, i - 2), min(len(self._times), i + 3)), key=lambda j: abs(self._times[j] - t)):
            f = self.frame(j)
            if f is not None:
                return f
        return None

    def frames_between(self, t0: float, t1: float) -> Iterator[RecordedFrame]:
        """Readable frames with ``t0 <= t <= t1``, in time order."""
        lo = bisect.bisect_left(self._times, t0)
        hi = bisect.bisect_right(self._times, t1)
        for i in range(lo, hi):
            f = self.frame(i)
            if f is not None:
                yield f

    def events(self, t0: float | None = None, t1: float | None = None,
               kinds: Sequence[str] | None = None) -> list[Event]:
        """Events in ``[t0, t1]`` (all when ``None``), in time order."""
        out: list[Event] = []
        sql = "SELECT t, kind, subject, level, data FROM events WHERE t >= ? AND t <= ?"
        for shard in self._shards:
            if shard.db is None:
                continue
            try:
                rows = shard.db.execute(sql + " ORDER BY t", (t0 if t0 is not None else -math.inf,
                                                              t1 if t1 is not None else math.inf)).fetchall()
            except sqlite3.Error:
                continue
            for t, kind, subject, level, data in rows:
                if kinds is not None and kind not in kinds:
                    continue
                try:
                    details = json.loads(data)
                except ValueError:
                    details = {}
                out.append(Event(t=t, kind=kind, subject=subject, level=level, data=details))
        out.sort(key=lambda e: e.t)
        return out

    def size_bytes(self) -> int:
        return sum(shard_bytes(s.path) for s in self._shards)
