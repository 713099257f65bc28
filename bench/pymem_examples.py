"""The three worked examples of docs/python-memory.md as a service: python bench/pymem_examples.py small|holes|arena1
(arena1 with MALLOC_ARENA_MAX=1). Prints its probe URL; stops when stdin closes."""
import gc, os, sys, threading
import memdash.probe as probe
kind = sys.argv[1]
if kind == "small":
    data = [(i, str(i)) for i in range(1_300_000)]
    keep = data[::200]
    del data
elif kind == "holes":
    data = [os.urandom(8) * 75 + bytes(4) for _ in range(300_000)]
    keep = data[::200]
    del data
elif kind == "arena1":
    def work(out):
        bufs = [bytearray(2000) for _ in range(20_000)]
        out.append(bufs[::50])
    out = []
    ts = [threading.Thread(target=work, args=(out,)) for _ in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()
gc.collect()
handle = probe.serve(min_interval=0)
print(handle.url, flush=True)
sys.stdin.read()
