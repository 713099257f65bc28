"""A small hand-written SVG line chart (no plotting library): series of bytes over
time, horizontal reference lines (a limit), vertical markers (the kill).

Every text that comes from outside (cgroup paths, process names) is XML-escaped.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Sequence
from xml.sax.saxutils import escape as _xml_escape
from xml.sax.saxutils import quoteattr as _xml_quoteattr

from memdash.textsafe import printable

from memdash.units import human_bytes


def escape(text: str) -> str:
    """XML text: control characters (invalid in XML 1.0) shown as escapes first."""
    return _xml_escape(printable(text))


def quoteattr(text: str) -> str:
    return _xml_quoteattr(printable(text))

WIDTH, HEIGHT = 860, 340
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 50
PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f")


@dataclass(frozen=True)
class Line:
    """A series: ``points`` are ``(epoch seconds, bytes)``."""

    label: str
    points: Sequence[tuple[float, float]]
    color: str | None = None
    dashed: bool = False


@dataclass(frozen=True)
class HLine:
    label: str
    value: float
    color: str = "#d62728"


@dataclass(frozen=True)
class VLine:
    label: str
    t: float
    color: str = "#d62728"


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks if span > 0 else 1.0
    mag = 1.0
    while mag * 10 <= raw:
        mag *= 10
    while mag > raw:
        mag /= 10
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def chart(title: str, lines: Sequence[Line], *, hlines: Sequence[HLine] = (), vlines: Sequence[VLine] = (),
          t0: float | None = None, t1: float | None = None) -> str:
    """The SVG document."""
    ts = [t for ln in lines for t, _ in ln.points] + [v.t for v in vlines]
    ys = [y for ln in lines for _, y in ln.points] + [h.value for h in hlines]
    t0 = min(ts) if t0 is None and ts else (t0 if t0 is not None else 0.0)
    t1 = max(ts) if t1 is None and ts else (t1 if t1 is not None else 1.0)
    if t1 <= t0:
        t1 = t0 + 1
    ymax = max(ys) * 1.08 if ys and max(ys) > 0 else 1.0
    MIB = 1024 * 1024
    step = _nice_step(ymax / MIB) * MIB
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / (t1 - t0) * pw

    def y(v: float) -> float:
        return TOP + ph - v / ymax * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="22" font-size="15" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#999999"/>',
    ]
    v = 0.0
    while v <= ymax:
        yy = y(v)
        out.append(f'<line x1="{LEFT}" y1="{yy:.1f}" x2="{LEFT + pw}" y2="{yy:.1f}" stroke="#eeeeee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end">{escape(human_bytes(v))}</text>')
        v += step
    tstep = _nice_step((t1 - t0) / 60.0, 6) * 60.0 if t1 - t0 >= 120 else _nice_step(t1 - t0, 6)
    tick = (int(t0 // tstep) + 1) * tstep if tstep > 0 else t1 + 1
    while tick <= t1:
        xx = x(tick)
        stamp = _dt.datetime.fromtimestamp(tick).strftime("%H:%M" if tstep >= 60 else "%H:%M:%S")
        out.append(f'<line x1="{xx:.1f}" y1="{TOP + ph}" x2="{xx:.1f}" y2="{TOP + ph + 4}" stroke="#999999"/>')
        out.append(f'<text x="{xx:.1f}" y="{TOP + ph + 18}" text-anchor="middle">{stamp}</text>')
        tick += tstep
    for h in hlines:
        yy = y(h.value)
        out.append(f'<line class="hline" data-value="{int(h.value)}" x1="{LEFT}" y1="{yy:.1f}" x2="{LEFT + pw}" '
                   f'y2="{yy:.1f}" stroke={quoteattr(h.color)} stroke-dasharray="6 4"/>')
        out.append(f'<text x="{LEFT + 4}" y="{yy - 5:.1f}" fill={quoteattr(h.color)}>'
                   f'{escape(h.label)} {escape(human_bytes(h.value))}</text>')
    for vl in vlines:
        xx = x(vl.t)
        out.append(f'<line class="vline" x1="{xx:.1f}" y1="{TOP}" x2="{xx:.1f}" y2="{TOP + ph}" '
                   f'stroke={quoteattr(vl.color)} stroke-width="2"/>')
        out.append(f'<text x="{xx - 4:.1f}" y="{TOP + 28}" text-anchor="end" fill={quoteattr(vl.color)}>'
                   f'{escape(vl.label)}</text>')
    legend_x = LEFT
    for i, ln in enumerate(lines):
        color = ln.color or PALETTE[i % len(PALETTE)]
        dash = ' stroke-dasharray="3 3"' if ln.dashed else ""
        if ln.points:
            pts = " ".join(f"{x(t):.1f},{y(val):.1f}" for t, val in ln.points)
            out.append(f'<polyline class="series" data-label={quoteattr(ln.label)} fill="none" '
                       f'stroke={quoteattr(color)} stroke-width="2"{dash} points="{pts}"/>')
        ly = HEIGHT - 14
        out.append(f'<rect x="{legend_x}" y="{ly - 9}" width="14" height="4" fill={quoteattr(color)}/>')
        out.append(f'<text x="{legend_x + 18}" y="{ly - 4}">{escape(ln.label)}</text>')
        legend_x += 28 + 7 * len(ln.label)
    out.append("</svg>")
    return "\n".join(out) + "\n"
