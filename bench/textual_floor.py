"""The floor under any Textual dashboard: a bare Textual app with a header line
that says "RSS" and a 1 Hz clock. bench_dashboard.py runs it as the `textual`
tool, so memdash's first frame and CPU can be read against what Textual itself
costs on the same machine in the same run."""

import time

from textual.app import App, ComposeResult
from textual.widgets import Label


class Floor(App[None]):
    def compose(self) -> ComposeResult:
        yield Label("PID RSS COMMAND", id="head")
        yield Label("", id="clock")

    def on_mount(self) -> None:
        self.set_interval(1, lambda: self.query_one("#clock", Label).update(time.strftime("%H:%M:%S")))


if __name__ == "__main__":
    Floor().run()
