"""GPUs: per device a used/total gauge, a history line and its processes."""

from __future__ import annotations

from typing import Mapping, Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from memdash.model import GpuDevice, GpuStatus, TorchDevice
from memdash.textsafe import printable
from memdash.tui import safe
from memdash.tui.widgets.gauge import LevelBar
from memdash.tui.widgets.text import set_text
from memdash.units import human_bytes, human_percent


def gpu_history_key(dev: GpuDevice) -> str:
    """The history series of a device: by UUID where NVML gives one (MIG
    instances share their GPU's index), else by index."""
    return f"gpu.{dev.uuid or dev.index}.percent"


class GpuRow(Vertical):
    """One device."""

    DEFAULT_CSS = """
    GpuRow { height: auto; }
    GpuRow > Horizontal { height: 1; }
    GpuRow .gpu-name { width: 28; padding: 0 1; }
    GpuRow LevelBar { width: 20; }
    GpuRow .gpu-figures { width: 34; padding: 0 1; }
    GpuRow Sparkline { width: 1fr; height: 1; }
    GpuRow .gpu-procs { padding: 0 1 0 3; color: $text-muted; }
    """

    def __init__(self, position: int) -> None:
        # By position, not NVML index: MIG instances share their GPU's index.
        super().__init__(id=f"gpu-row-{position}")
        self.position = position

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("", classes="gpu-name")
            yield LevelBar()
            yield Label("", classes="gpu-figures")
            yield Sparkline([], summary_function=max)
        yield Label("", classes="gpu-procs")

    def show(self, dev: GpuDevice, history: Sequence[float], names: Mapping[int, str], torch: Mapping[int, TorchDevice]) -> None:
        if not self.query(".gpu-name"):
            # Mounted a moment ago and not composed yet (two frames in quick
            # succession): draw once it is.
            self.call_after_refresh(self.show, dev, history, names, torch)
            return
        prefix = f"GPU{dev.index} "
        # 26 columns inside the padding: a longer line would wrap out of sight.
        self.query_one(".gpu-name", Label).update(safe.text(prefix, dev.name, max_len=26 - len(prefix)))
        self.query_one(LevelBar).set_value(dev.percent, dev.level)
        util = "" if dev.utilization is None else f" util {dev.utilization:.0f}%"
        temp = "" if dev.temperature is None else f" {dev.temperature:.0f}°C"
        fig = self.query_one(".gpu-figures", Label)
        fig.update(safe.text(f"{human_bytes(dev.used_bytes)}/{human_bytes(dev.total_bytes)} {human_percent(dev.percent)}{util}{temp}"))
        for level in type(dev.level):
            fig.set_class(level is dev.level, level.css_class)
        self.query_one(Sparkline).data = list(history) or [0.0]
        procs: list[str] = []
        for p in sorted(dev.processes, key=lambda p: -(p.used_bytes or 0))[:4]:
            # A process name is anyone's text: escaped and cut, never markup.
            part = f"{p.pid} {printable(names.get(p.pid, '?'), 32)} {human_bytes(p.used_bytes)}"
            td = torch.get(p.pid)
            if td is not None:
                part += (
                    f" (torch alloc {human_bytes(td.allocated_bytes)} reserved {human_bytes(td.reserved_bytes)},"
                    f" releasable {human_bytes(td.releasable_bytes)})"
                )
            procs.append(part)
        self.query_one(".gpu-procs", Label).update(safe.text("  ".join(procs) if procs else "no processes"))


class GpuPanel(Vertical):
    """All devices; hidden when there are none, with the reason in one line."""

    DEFAULT_CSS = """
    GpuPanel { height: auto; }
    GpuPanel #gpu-reason { color: $text-muted; padding: 0 1; }
    GpuPanel #gpu-reason.-empty { display: none; }
    """

    def compose(self) -> ComposeResult:
        yield Label("", id="gpu-reason")

    def show(
        self,
        status: GpuStatus,
        history: Mapping[str, Sequence[float]],
        names: Mapping[int, str],
        torch: Mapping[int, TorchDevice],
    ) -> None:
        """Render ``status``; ``history`` maps :func:`gpu_history_key` to its
        series, ``torch`` maps pid -> PyTorch allocator figures."""
        reason = self.query_one("#gpu-reason", Label)
        if not status.available or not status.devices:
            # layout: the label is sized to its words (it was empty when mounted)
            set_text(reason, f"GPU: {status.reason or 'none found'}", layout=True)  # set_text: str is data
            reason.set_class(False, "-empty").set_class(False, "-driver")
            for row in self.query(GpuRow):
                row.remove()
            return
        # The driver line is a classed line, not a display toggle: on a short
        # terminal the app's CSS drops it (a row the process table needs more).
        reason.set_class(not status.driver, "-empty").set_class(bool(status.driver), "-driver")
        reason.update(safe.text("NVIDIA driver ", status.driver) if status.driver else "")
        rows = {r.position: r for r in self.query(GpuRow)}
        for position, dev in enumerate(status.devices):
            series = history.get(gpu_history_key(dev), ())
            existing = rows.pop(position, None)
            if existing is None:
                added = GpuRow(position)
                self.mount(added)
                self.call_after_refresh(added.show, dev, series, names, torch)
            else:
                existing.show(dev, series, names, torch)
        for row in rows.values():  # devices that went away
            row.remove()
