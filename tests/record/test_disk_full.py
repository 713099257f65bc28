"""A full disk under the recorder: the frame is not stored, nothing already stored
is lost, events wait for the next frame, and recording resumes when space returns."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

import dataclasses

from memdash.config import load_config
from memdash.engine import Engine
from memdash.record.live import EngineSource
from memdash.record.recorder import Recorder
from memdash.record.store import Event
from memdash.record.store import Store, StoreWriter


@pytest.fixture
def small_disk(tmp_path: Path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_then_space_again(small_disk: Path) -> None:
    writer = StoreWriter(small_disk / "store")
    engine = Engine(dataclasses.replace(load_config(None), interval=0.2), gpu=False, discover=False)
    source = EngineSource(engine, 0.2, owns_engine=True)
    rec = Recorder(writer, source, 0.2, kmsg_path="/nonexistent")
    engine.start()
    try:
        rec.step()
        filler = small_disk / "filler"
        # Unbuffered: a buffered file would flush what the failed write left behind on
        # close and raise ENOSPC from the `with` itself.
        with open(filler, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError:
                pass
        # A cleanup's receipt comes with a frame (as the engine's frames bring them):
        # when that frame cannot be stored, the receipt waits for the next one.
        receipt = Event(t=1.0, kind="cleanup", subject="api", data={"action": "gc", "ok": True})
        polled = source.poll()
        failed = 0
        try:
            rec.record(dataclasses.replace(polled, events=(receipt,)))
        except sqlite3.Error as exc:
            assert "full" in str(exc)
            failed += 1
        for _ in range(4):  # SQLite may still fit a frame in pages it already has
            try:
                rec.step()
            except sqlite3.Error as exc:
                assert "full" in str(exc)
                failed += 1
        assert failed >= 1
        filler.unlink()
        rec.step()
    finally:
        rec.close()
    with Store(small_disk / "store") as s:
        assert len(s) == rec.frames == 7 - failed
        assert [e.subject for e in s.events(kinds=("cleanup",))] == ["api"]
        assert all(s.frame(i) is not None for i in range(len(s)))
