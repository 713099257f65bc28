"""``POST /cleanup/caches?name=X`` clears that cache and no other."""

from __future__ import annotations

import functools

import httpx

import memdash.probe as probe
from probe_helpers import AUTH, TOKEN


def test_a_named_cache_cleanup_clears_only_that_cache() -> None:
    @probe.track_cache(name="users")
    @functools.lru_cache(maxsize=64)
    def users(n: int) -> int:
        return n

    @probe.track_cache(name="pages")
    @functools.lru_cache(maxsize=64)
    def pages(n: int) -> int:
        return n

    for n in range(5):
        users(n)
        pages(n)
    with probe.serve(token=TOKEN, min_interval=0) as handle:
        r = httpx.post(handle.url + "cleanup/caches", params={"name": "users"}, headers=AUTH, timeout=30)
        assert r.status_code == 200, r.text
        assert r.json()["caches_cleared"] == ["users"]
        assert users.cache_info().currsize == 0 and pages.cache_info().currsize == 5
        sizes = {c["name"]: c["size"] for c in httpx.get(handle.url, headers=AUTH, timeout=30).json()["caches"]}
        assert sizes == {"users": 0, "pages": 5}
        r = httpx.post(handle.url + "cleanup/caches", params={"name": "nope"}, headers=AUTH, timeout=30)
        assert r.status_code == 404 and sorted(r.json()["valid_caches"]) == ["pages", "users"]
        assert pages.cache_info().currsize == 5
