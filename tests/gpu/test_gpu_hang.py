"""A wedged NVIDIA driver (an ``nvmlInit`` that never returns) never hangs memdash.

The fake library's ``FAKE_NVML_HANG`` makes the named call block like a wedged
driver: in this process until the test lets it go, in a subprocess for good.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from fakenvml_helpers import FakeNvml, clean_env
from memdash.sources.gpu import DEADLINE_SECONDS, hung_reason

pytestmark = pytest.mark.gpu


@pytest.fixture
def wedged(fake_nvml: FakeNvml) -> Iterator[FakeNvml]:
    """The fake, with ``nvmlInitWithFlags`` scripted to hang; released at the end
    (before ``fake_nvml`` tears down) so no thread stays stuck in it."""
    fake_nvml.script(hang="nvmlInitWithFlags")
    try:
        yield fake_nvml
    finally:
        fake_nvml.monkeypatch.delenv("FAKE_NVML_HANG", raising=False)
        fake_nvml.lib.fake_nvml_release()
        for _ in range(500):  # bounded: the stuck call returns within ~10 ms of release
            if not fake_nvml.lib.fake_nvml_hung():
                break
            time.sleep(0.01)


def wait_for(predicate, seconds: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.02)):  # bounded
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_hung_init_is_reported_and_the_poll_returns(wedged: FakeNvml) -> None:
    src = wedged.source()
    status = src.poll()
    assert not status.available
    assert status.reason == "NVML did not answer in 2 s" == hung_reason(DEADLINE_SECONDS)
    assert wedged.lib.fake_nvml_hung() == 1 and src.hung

    # While the call is stuck, polls answer at once, and never pile up behind it.
    again = src.poll()
    assert again.reason == status.reason
    assert wedged.lib.fake_nvml_hung() == 1

    # The driver comes back: the stuck call returns and the next poll reads GPUs.
    wedged.monkeypatch.delenv("FAKE_NVML_HANG")
    wedged.lib.fake_nvml_release()
    assert wait_for(lambda: not src.hung)
    status = src.poll()
    assert status.available and len(status.devices) == 1


def test_a_query_that_hangs_after_init_is_reported_too(fake_nvml: FakeNvml) -> None:
    src = fake_nvml.source(deadline_seconds=0.5)
    assert src.poll().available
    fake_nvml.script(hang="nvmlDeviceGetCount_v2")
    try:
        status = src.poll()
        assert not status.available and status.reason == "NVML did not answer in 0.5 s"
        assert status.driver == "550.00.fake"  # what was known is still said
        src.close()  # gives up on the wedged thread instead of waiting on it
        assert src.hung
    finally:
        fake_nvml.monkeypatch.delenv("FAKE_NVML_HANG")
        fake_nvml.lib.fake_nvml_release()
    assert wait_for(lambda: not src.hung)


async def test_dashboard_runs_and_quits_with_a_wedged_driver(wedged: FakeNvml) -> None:
    from memdash.config import Config
    from memdash.tui.app import MemdashApp
    from memdash.tui.widgets.process_table import ProcessTable

    app = MemdashApp(Config(), discover=False, poll_targets=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(ProcessTable)
        reason = app.query_one("#gpu-reason")
        for _ in range(400):  # bounded: processes appear; the GPU panel says why it is empty
            if table.row_count > 0 and "did not answer" in str(reason.content):
                break
            await pilot.pause(0.05)
        assert table.row_count > 0
        assert "GPU: NVML did not answer in 2 s" in str(reason.content)
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_code in (0, None)


@pytest.fixture
def memdash_env(fake_nvml_lib: Path, tmp_path: Path) -> dict[str, str]:
    env = clean_env()
    env.pop("MEMDASH_CONFIG", None)
    env.update(LD_LIBRARY_PATH=str(fake_nvml_lib.parent), XDG_CONFIG_HOME=str(tmp_path),
               FAKE_NVML_HANG="nvmlInitWithFlags")
    return env


def test_snapshot_finishes_with_a_wedged_driver(memdash_env: dict[str, str]) -> None:
    # In a subprocess the fake never lets go: snapshot must still print and exit.
    out = subprocess.run(
        [sys.executable, "-m", "memdash", "snapshot", "--json", "--no-discover"],
        env=memdash_env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode in (0, 1, 2), out.stderr  # the exit status is the worst level
    doc = json.loads(out.stdout)
    assert doc["gpus"]["available"] is False
    assert doc["gpus"]["reason"] == "NVML did not answer in 2 s"
    assert doc["processes"], "the rest of the snapshot is there"

    text = subprocess.run(
        [sys.executable, "-m", "memdash", "snapshot", "--no-discover"],
        env=memdash_env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert "gpus: unavailable (NVML did not answer in 2 s)" in text.stdout
