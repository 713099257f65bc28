"""p pauses everything: no target is polled while paused, polls resume after."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from memdash.config import Config, TargetConfig

from tui_fixtures import sample_app


class Counting(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:  # noqa: N802
        type(self).hits += 1
        body = json.dumps({"rss_bytes": 1 << 24}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


async def test_p_stops_target_polls_and_resume_restarts_them():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/stats"
        app = sample_app(config=Config(targets=(TargetConfig(name="svc", url=url, kind="json", interval=0.25),)),
                         poll_targets=True)
        async with app.run_test(size=(120, 40)) as pilot:
            for _ in range(200):  # bounded
                if Counting.hits >= 3:
                    break
                await pilot.pause(0.05)
            assert Counting.hits >= 3
            await pilot.press("p")
            await pilot.pause(0.5)  # a poll in flight may still land
            paused_at = Counting.hits
            await pilot.pause(1.5)  # six intervals
            assert Counting.hits == paused_at
            assert "PAUSED" in " ".join(s.text for s in app.screen._compositor.render_strips()[:1])
            await pilot.press("p")
            for _ in range(100):  # bounded
                if Counting.hits > paused_at:
                    break
                await pilot.pause(0.05)
            assert Counting.hits > paused_at
    finally:
        server.shutdown()
        server.server_close()
