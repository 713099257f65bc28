"""Bench: CPU per 200 kept-alive GETs, h11 client against the old hand-written one (and httpx).

memdash polls ``http://`` and ``unix:`` targets through :mod:`memdash.sources.http11`
(h11 over asyncio streams). It replaced a hand-written HTTP/1.1 parser, kept as
``bench/hand_http11.py`` for this comparison only; target: the h11 client costs
at most 2x the hand client's CPU. httpx (what ``https://`` targets use) is the
third column, as a yardstick.

Method: ``--targets`` (200) loopback servers answering one recorded probe
document (HTTP/1.1, keep-alive) run in a child process, so their CPU is not
counted. In this process each client kind gets one client per target (as the
poller has), warmed up (connections open), then polls every target once per
round, concurrently, ``--rounds`` times; the kinds take turns round by round so
that machine noise hits them alike. CPU is ``time.process_time()`` of this
process over each round. Printed: median and p90 CPU ms per round (= per 200
GETs), and the ratio to the hand client.

Run::

    python bench/bench_http_client.py                  # 200 targets, 30 rounds
    python bench/bench_http_client.py --targets 50 --rounds 10 --no-httpx
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # hand_http11
sys.path.insert(0, os.path.dirname(HERE))  # memdash, when run from a checkout

HEADERS = {"Accept": "application/json, text/plain;q=0.9, */*;q=0.5", "Accept-Encoding": "identity",
           "User-Agent": "memdash", "Authorization": "Bearer bench-token-0123456789"}


def document() -> bytes:
    try:
        from memdash.probe import collect

        return json.dumps(collect()).encode()
    except Exception:
        doc = {"schema": 1, "probe": "memdash.probe", "pid": 4242, "memory": {"rss_bytes": 73400320},
               "gc": {"generations": [{"generation": g, "count": 10, "collections": 5} for g in range(3)]},
               "caches": [{"name": "lookup_user", "hits": 900, "misses": 100}], "actions": ["gc"]}
        return json.dumps(doc).encode()


async def serve(count: int) -> None:
    body = document()
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, "127.0.0.1", 0) for _ in range(count)]
    print(json.dumps([s.sockets[0].getsockname()[1] for s in servers]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class Kind:
    """One client implementation: ``clients[i]`` talks to ``urls[i]``."""

    def __init__(self, name: str, urls: list[str]) -> None:
        self.name = name
        self.urls = urls
        self.rounds: list[float] = []
        if name == "h11 (memdash)":
            from memdash.sources import http11

            self.clients = [http11.Client(max_body=1 << 20, keepalive_expiry=60) for _ in urls]
        elif name == "hand (old)":
            import hand_http11

            self.clients = [hand_http11.Client(max_body=1 << 20, keepalive_expiry=60) for _ in urls]
        else:
            import httpx

            self.clients = [httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=2)) for _ in urls]

    async def one(self, i: int) -> int:
        client = self.clients[i]
        if self.name == "httpx":
            r = await client.get(self.urls[i], headers=HEADERS, timeout=5)  # type: ignore[attr-defined]
            body = r.content
        else:
            body = (await client.request("GET", self.urls[i], HEADERS, timeout=5)).body  # type: ignore[attr-defined]
        return len(body)

    async def round(self) -> float:
        start = time.process_time()
        sizes = await asyncio.gather(*(self.one(i) for i in range(len(self.urls))))
        cpu = time.process_time() - start
        assert all(sizes), "an empty answer"
        return cpu

    async def aclose(self) -> None:
        for c in self.clients:
            await c.aclose()  # type: ignore[attr-defined]


async def bench(ports: list[int], rounds: int, with_httpx: bool) -> list[Kind]:
    urls = [f"http://127.0.0.1:{p}/memdash" for p in ports]
    names = ["hand (old)", "h11 (memdash)"] + (["httpx"] if with_httpx else [])
    kinds = [Kind(n, urls) for n in names]
    for kind in kinds:  # warm-up: connections open, caches filled
        for _ in range(3):
            await kind.round()
    # What setup allocated (httpx's 200 clients above all) goes to the permanent
    # generation: otherwise a full collection walking it lands in whichever
    # client's round happens to trigger it.
    gc.collect()
    gc.freeze()
    for r in range(rounds):
        order = kinds if r % 2 == 0 else kinds[::-1]
        for kind in order:
            kind.rounds.append(await kind.round())
    for kind in kinds:
        await kind.aclose()
    return kinds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--no-httpx", action="store_true", help="leave httpx out")
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve))
        return
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(args.targets)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        ports = json.loads(server.stdout.readline())
        kinds = asyncio.run(bench(ports, args.rounds, not args.no_httpx))
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait(10)
    import h11

    print(f"CPU per {args.targets} kept-alive GETs (one round), {args.rounds} rounds, "
          f"python {sys.version.split()[0]}, h11 {h11.__version__}")
    print(f"{'client':<16}{'median ms':>11}{'p90 ms':>9}{'vs hand':>9}")
    hand = statistics.median(kinds[0].rounds)
    for kind in kinds:
        ms = sorted(r * 1000 for r in kind.rounds)
        med = statistics.median(ms)
        p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
        print(f"{kind.name:<16}{med:>11.1f}{p90:>9.1f}{med / (hand * 1000):>8.2f}x")
    ratio = statistics.median(kinds[1].rounds) / hand
    print(f"h11 / hand = {ratio:.2f} (target: at most 2.00) -> {'OK' if ratio <= 2.0 else 'OVER'}")


if __name__ == "__main__":
    main()
