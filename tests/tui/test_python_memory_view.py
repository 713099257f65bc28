"""The target view's "where RSS is" bar and the cleanup prediction, over a real
probe in a service that left holes in glibc's heap."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from memdash.config import Config, TargetConfig
from memdash.tui.screens.confirm import ConfirmCleanup
from memdash.tui.widgets.targets_table import TargetsTable

from tui_fixtures import sample_app

TOKEN = "pymem-view-token-51ab"

SERVICE = textwrap.dedent("""
    import gc, os, sys
    import memdash.probe as probe
    data = [os.urandom(8) * 100 for _ in range(200_000)]   # 800 B each: glibc's, not pymalloc's
    keep = data[::200]
    del data
    gc.collect()
    handle = probe.serve(min_interval=0)
    print(handle.url, flush=True)
    sys.stdin.read()
    handle.stop()
""")


@pytest.fixture
def holes_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    script = tmp_path / "service.py"
    script.write_text(SERVICE, encoding="utf-8")
    env = {**os.environ, "MEMDASH_PROBE_TOKEN": TOKEN, "XDG_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env, text=True)
    monkeypatch.setenv("MEMDASH_PYMEM_VIEW_TOKEN", TOKEN)
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


async def wait_for(pilot, predicate, seconds: float = 15.0) -> bool:
    for _ in range(int(seconds / 0.05)):  # bounded
        if predicate():
            return True
        await pilot.pause(0.05)
    return predicate()


def mib(text: str) -> float:
    text = text.rstrip(",;)")
    value, unit = float(text[:-1]), text[-1]
    return value * {"K": 1 / 1024, "M": 1, "G": 1024}[unit]


@pytest.mark.skipif(not os.confstr("CS_GNU_LIBC_VERSION"), reason="glibc's mallinfo2 and malloc_trim")
async def test_bar_prediction_and_receipt(holes_service: str) -> None:
    from memdash.tui.screens.target import TargetScreen

    target = TargetConfig(name="api", url=holes_service, kind="probe", token_env="MEMDASH_PYMEM_VIEW_TOKEN",
                          interval=60.0)
    app = sample_app(config=Config(targets=(target,)), poll_targets=True)
    async with app.run_test(size=(160, 50)) as pilot:
        assert await wait_for(pilot, lambda: app.frame is not None and app.frame.target("api") is not None
                              and app.frame.target("api").ok)
        app.query_one(TargetsTable).focus()
        await pilot.press("enter")
        assert await wait_for(pilot, lambda: isinstance(app.screen, TargetScreen))
        screen = app.screen
        assert await wait_for(pilot, lambda: "glibc free" in str(screen.query_one("#t-pymem").content))
        bar = str(screen.query_one("#t-pymem").content)
        assert "Where RSS is" in bar and "live Python objects (est.)" in bar and "native/other" in bar
        glibc = bar.split("glibc free ", 1)[1]
        assert mib(glibc.split()[0]) > 100  # the holes: ~150 MiB of 800-B objects freed
        assert "trimmable (T)" in glibc and "mallinfo2" in glibc  # the method is on the line
        assert "T" * 10 in bar.splitlines()[1]  # the trimmable part is marked in the bar
        assert "python allocator: pymalloc" in bar and "gc: generational" in bar

        await pilot.press("t")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ConfirmCleanup), 5)
        said = str(app.screen.query_one("#confirm-prediction").content)
        assert said.startswith("trim: up to ") and "returnable (glibc free" in said
        predicted = mib(said.split("trim: up to ")[1].split()[0])
        await pilot.press("y")
        assert await wait_for(pilot, lambda: app.screen is screen and "happened" in
                              str(screen.query_one("#t-result").content))
        receipt = str(screen.query_one("#t-result").content)
        assert "predicted: trim up to" in receipt
        returned = mib(receipt.split("happened: RSS -")[1].split(",")[0])
        assert abs(predicted - returned) <= 0.3 * returned, receipt
