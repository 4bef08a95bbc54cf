"""The token cache: single flight, early refresh, fallback, exact invalidation, cancellation."""

from __future__ import annotations

import time

import anyio
import pytest

from altinn_async import AccessToken, SharedStoreError, TokenCache

from .helpers import Clock


class CountingFetch:
    """A fetch that takes a little time and counts how often it ran."""

    def __init__(self, clock: Clock, lifetime: float = 120.0, delay: float = 0.01) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.delay = delay
        self.calls = 0
        self.fail_with: Exception | None = None

    async def __call__(self) -> AccessToken:
        self.calls += 1
        await anyio.sleep(self.delay)
        if self.fail_with is not None:
            raise self.fail_with
        now = self.clock()
        return AccessToken(f"token-{self.calls}", now + self.lifetime, now)


def test_repr_hides_the_token() -> None:
    token = AccessToken("eyJ.secret.value", 2.0, 1.0, scopes=("a:b",))
    assert "secret" not in repr(token)
    assert "secret" not in str(token)
    assert "a:b" in repr(token)


async def test_500_concurrent_callers_share_one_fetch() -> None:
    clock = Clock(1_700_000_000.0)
    cache = TokenCache(clock=clock)
    fetch = CountingFetch(clock)
    results: list[AccessToken] = []

    async def one() -> None:
        results.append(await cache.get("key", fetch))

    async with anyio.create_task_group() as group:
        for _ in range(500):
            group.start_soon(one)
    assert fetch.calls == 1
    assert len(results) == 500
    assert {token.access_token for token in results} == {"token-1"}


async def test_keys_are_separate() -> None:
    clock = Clock(1_700_000_000.0)
    cache = TokenCache(clock=clock)
    fetch = CountingFetch(clock)
    first = await cache.get(("a",), fetch)
    second = await cache.get(("b",), fetch)
    assert first.access_token != second.access_token
    assert fetch.calls == 2
    assert await cache.get(("a",), fetch) == first


async def test_fresh_token_is_served_then_refreshed_after_the_margin() -> None:
    clock = Clock(1_700_000_000.0)
    cache = TokenCache(clock=clock)
    fetch = CountingFetch(clock, lifetime=120)
    token = await cache.get("k", fetch)
    # A 120 s token has a 24 s margin (20 %), not the 120 s cap: no refresh on every request.
    assert cache.refresh_margin(token) == pytest.approx(24.0)
    clock.now += 95
    assert await cache.get("k", fetch) == token
    assert fetch.calls == 1
    clock.now += 2  # 97 s: inside the margin
    refreshed = await cache.get("k", fetch)
    assert refreshed != token
    assert fetch.calls == 2


def test_margin_is_capped_for_long_tokens() -> None:
    cache = TokenCache()
    assert cache.refresh_margin(AccessToken("t", 1800.0, 0.0)) == 120.0


async def test_concurrent_callers_across_the_expiry_boundary_share_one_fetch() -> None:
    clock = Clock(1_700_000_000.0)
    cache = TokenCache(clock=clock)
    fetch = CountingFetch(clock, lifetime=120)
    await cache.get("k", fetch)
    clock.now += 200  # long expired
    results: list[AccessToken] = []

    async def one() -> None:
        results.append(await cache.get("k", fetch))

    async with anyio.create_task_group() as group:
        for _ in range(500):
            group.start_soon(one)
    assert fetch.calls == 2
    assert {token.access_token for token in results} == {"token-2"}


async def test_during_an_early_refresh_others_keep_the_usable_token() -> None:
    clock = Clock(1_700_000_000.0)
    cache = TokenCache(clock=clock)
    fetch = CountingFetch(clock, lifetime=120, delay=0.05)
    old = await cache.get("k", fetch)
    clock.now += 100  # inside the margin, still usable
    seen: list[AccessToken] = []

    async def refresher() -> None:
        seen.append(await cache.get("k", fetch))

    async with anyio.create_task_group() as group:
        group.start_soon(refresher)
        await anyio.sleep(0.01)  # the refresh is in flight now
        with anyio.fail_after(0.03):  # others do not wait for it
            assert await cache.get("k", fetch) == old
    assert fetch.calls == 2
    assert seen[0] != old


async def test_failed_early_refresh_serves_the_old_token_then_retries_later() -> None:
    clock = Clock(1_700_000_000.0)
    cache = TokenCache(clock=clock)
    fetch = CountingFetch(clock, lifetime=120, delay=0)
    old = await cache.get("k", fetch)
    clock.now += 100
    fetch.fail_with = RuntimeError("token endpoint down")
    assert await cache.get("k", fetch) == old
    assert fetch.calls == 2
    # Not retried on every request while it is down ...
    assert await cache.get("k", fetch) == old
    assert fetch.calls == 2
    # ... but after a pause.
    clock.now += 6
    assert await cache.get("k", fetch) == old
    assert fetch.calls == 3


async def test_fetch_error_without_a_usable_token_reaches_every_waiter_once() -> None:
    clock = Clock(1_700_000_000.0)
    cache = TokenCache(clock=clock)
    fetch = CountingFetch(clock, delay=0.02)
    fetch.fail_with = RuntimeError("down")
    errors: list[BaseException] = []

    async def one() -> None:
        try:
            await cache.get("k", fetch)
        except RuntimeError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(one)
    assert fetch.calls == 1
    assert len(errors) == 20


async def test_invalidate_drops_only_the_refused_token() -> None:
    clock = Clock(1_700_000_000.0)
    cache = TokenCache(clock=clock)
    fetch = CountingFetch(clock)
    first = await cache.get("k", fetch)
    assert cache.invalidate("k", first) is True
    second = await cache.get("k", fetch)
    # A late 401 for the first token must not drop its replacement.
    assert cache.invalidate("k", first) is False
    assert await cache.get("k", fetch) == second
    assert fetch.calls == 2


async def test_cancelled_fetcher_does_not_strand_waiters() -> None:
    clock = Clock(1_700_000_000.0)
    cache = TokenCache(clock=clock)
    fetch = CountingFetch(clock, delay=0.05)
    results: list[AccessToken] = []
    fetcher_scope = anyio.CancelScope()

    async def fetcher() -> None:
        with fetcher_scope:
            await cache.get("k", fetch)

    async def waiter() -> None:
        results.append(await cache.get("k", fetch))

    async with anyio.create_task_group() as group:
        group.start_soon(fetcher)
        await anyio.sleep(0.01)  # the fetch is in flight
        group.start_soon(waiter)
        await anyio.sleep(0.01)  # the waiter waits on it
        fetcher_scope.cancel()
    assert fetcher_scope.cancelled_caught
    assert len(results) == 1  # the waiter took over the fetch instead of hanging
    assert fetch.calls == 2


class _BrokenStore:
    """A shared store that fails where it is told to, as Redis going away would."""

    def __init__(self, *failing: str) -> None:
        self.failing = set(failing)
        self.saved: list[AccessToken] = []
        self.calls: list[str] = []

    def _maybe_fail(self, name: str) -> None:
        self.calls.append(name)
        if name in self.failing:
            raise SharedStoreError(f"Redis could not {name}: ConnectionError: gone")

    async def load(self, key: object) -> AccessToken | None:
        self._maybe_fail("load")
        return None

    async def save(self, key: object, token: AccessToken) -> None:
        self._maybe_fail("save")
        self.saved.append(token)

    async def try_lock(self, key: object) -> str | None:
        self._maybe_fail("try_lock")
        return "holder"

    async def unlock(self, key: object, holder: str) -> None:
        self._maybe_fail("unlock")


@pytest.mark.parametrize(
    "failing", [("load",), ("try_lock",), ("save",), ("unlock",), ("save", "unlock")]
)
async def test_a_failing_shared_store_costs_one_local_fetch_never_the_request(
    failing: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    store = _BrokenStore(*failing)
    cache = TokenCache(shared=store)
    fetched: list[AccessToken] = []

    async def fetch() -> AccessToken:
        token = AccessToken("t", expires_at=time.time() + 100, issued_at=time.time())
        fetched.append(token)
        return token

    with caplog.at_level("WARNING", logger="altinn_async"):
        got = await cache.get(("k",), fetch)
        assert await cache.get(("k",), fetch) is got
    assert fetched == [got]
    assert sum("shared token store failed" in r.getMessage() for r in caplog.records) == len(
        failing
    )
    if "try_lock" not in failing and "load" not in failing:
        assert store.calls[-1] == "unlock"  # a lock taken is given back (or its lease ends)
