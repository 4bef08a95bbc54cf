"""The JWKS cache: fetched once, refetched once for an unknown kid, never in a storm."""

from __future__ import annotations

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async import IDTokenError
from altinn_async._jwks import JWKSCache

from .helpers import Clock, private_pem

URI = "https://idp.example/jwks.json"


def public(index: int, kid: str) -> dict[str, object]:
    key = RSAKey.import_key(private_pem(index))
    jwk: dict[str, object] = dict(key.as_dict(private=False))
    return jwk | {"kid": kid, "use": "sig"}


class Keys:
    def __init__(self) -> None:
        self.keys = [public(0, "old")]
        self.fetches = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        return httpx.Response(200, json={"keys": self.keys})


async def test_cached_then_refetched_once_for_a_new_kid() -> None:
    keys, clock = Keys(), Clock(1_000_000.0)
    cache = JWKSCache(URI, clock=clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(keys)) as http:
        first = await cache.key_set(http, kid="old")
        assert await cache.key_set(http, kid="old") is first
        assert keys.fetches == 1
        keys.keys.append(public(1, "new"))  # the provider rotates its keys
        clock.now += 61
        rotated = await cache.key_set(http, kid="new")
        assert keys.fetches == 2
        assert rotated.get_by_kid("new") is not None


async def test_unknown_kids_do_not_cause_a_fetch_storm() -> None:
    keys, clock = Keys(), Clock(1_000_000.0)
    cache = JWKSCache(URI, clock=clock, min_refetch_interval=60)
    async with httpx.AsyncClient(transport=httpx.MockTransport(keys)) as http:
        await cache.key_set(http, kid="old")
        for _ in range(20):
            await cache.key_set(http, kid="bogus")
        assert keys.fetches == 2  # one refetch at once (a rotation), then none for a minute
        clock.now += 30
        await cache.key_set(http, kid="bogus")
        assert keys.fetches == 2
        clock.now += 31
        await cache.key_set(http, kid="bogus")
        await cache.key_set(http, kid="bogus")
        assert keys.fetches == 3


async def test_stale_after_max_age() -> None:
    keys, clock = Keys(), Clock(1_000_000.0)
    cache = JWKSCache(URI, clock=clock, max_age=3600)
    async with httpx.AsyncClient(transport=httpx.MockTransport(keys)) as http:
        await cache.key_set(http, kid=None)
        clock.now += 3601
        await cache.key_set(http, kid=None)
    assert keys.fetches == 2


@pytest.mark.parametrize(
    "response",
    [httpx.Response(500), httpx.Response(200, text="nope"), httpx.Response(200, json={"x": 1})],
)
async def test_an_unusable_key_set_is_an_id_token_error(response: httpx.Response) -> None:
    cache = JWKSCache(URI, clock=Clock(1_000_000.0))
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: response)) as http:
        with pytest.raises(IDTokenError, match=r"jwks\.json"):
            await cache.key_set(http, kid="k")
