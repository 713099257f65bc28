#!/usr/bin/env python3
"""Render the README's screenshots from the demo scene (memdash/tui/scene.py).

    .venv/bin/python docs/screenshots.py           # rewrite docs/screenshots/*.svg
    .venv/bin/python docs/screenshots.py --check   # exit 1 naming any that is stale

The scene is fixed (processes, services, targets, a GPU, five minutes of
history and the clock), so the same code draws the same SVGs on any machine;
tests/tui/test_screenshots.py renders them again and compares, so a change to
the screen that is not regenerated here fails the suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "screenshots"


async def _render(names: list[str]) -> dict[str, str]:
    from memdash.tui.scene import SHOTS, shoot

    return {name: await shoot(*SHOTS[name]) for name in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing; exit 1 if any is stale")
    args = parser.parse_args(argv)
    # Colours are part of the picture: NO_COLOR would draw another one.
    os.environ.pop("NO_COLOR", None)
    os.environ["TEXTUAL_ANIMATIONS"] = "none"
    from memdash.tui.scene import SHOTS

    rendered = asyncio.run(_render(list(SHOTS)))
    stale = []
    for name, svg in rendered.items():
        path = OUT / name
        if path.exists() and path.read_text(encoding="utf-8") == svg:
            continue
        stale.append(name)
        if not args.check:
            OUT.mkdir(exist_ok=True)
            path.write_text(svg, encoding="utf-8")
    if args.check:
        for name in stale:
            print(f"stale: docs/screenshots/{name}", file=sys.stderr)
        return 1 if stale else 0
    print(f"{len(rendered)} screenshots, {len(stale)} rewritten in {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
