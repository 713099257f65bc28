"""p pauses everything: no target is polled while paused, polls resume after."""

from __future__ import annotations

from memdash.config import Config, TargetConfig

from json_server import json_server
from tui_fixtures import sample_app


async def test_p_stops_target_polls_and_resume_restarts_them():
    with json_server({"rss_bytes": 1 << 24}, path="/stats") as counting:
        url = counting.url
        app = sample_app(config=Config(targets=(TargetConfig(name="svc", url=url, kind="json", interval=0.25),)),
                         poll_targets=True)
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(200):  # bounded
                if counting.hits >= 3:
                    break
                await pilot.pause(0.05)
            assert counting.hits >= 3
            await pilot.press("p")
            await pilot.pause(0.5)  # a poll in flight may still land
            paused_at = counting.hits
            await pilot.pause(1.5)  # six intervals
            assert counting.hits == paused_at
            assert "PAUSED" in " ".join(s.text for s in app.screen._compositor.render_strips()[:1])
            await pilot.press("p")
            for _ in range(100):  # bounded
                if counting.hits > paused_at:
                    break
                await pilot.pause(0.05)
            assert counting.hits > paused_at
