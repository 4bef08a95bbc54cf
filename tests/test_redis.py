"""Tokens, sessions and pending logins on a real Redis server, shared by real processes.

The store contract (compare-and-swap, leases) runs on Redis in ``test_shared_sessions.py``; here:
encryption at rest, expiry, the shared token cache, and the issue's measurements across 8
processes. ``redis.asyncio`` runs on asyncio only, so these tests do too.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import anyio.lowlevel
import attrs
import httpx
import pytest
import redis.asyncio

import altinn_async as altinn
from altinn_async.redis import RedisPendingLoginStore, RedisTokenBackend, RedisTokenStore
from altinn_async.testing import DEFAULT_PID, Emulator

from .conftest import redis_process
from .helpers import private_pem, signing_key

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
CLIENT = "redis-client"
ORG_NUMBER = "405003309"
READ = "altinn:serviceowner/instances.read"
REDIRECT = "https://app.example/callback"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis.asyncio is built on asyncio: it does not run on trio


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    made = redis.asyncio.Redis.from_url(redis_url)
    try:
        yield made
    finally:
        await made.aclose()


def _session(token: str, *, refresh: bool = True) -> altinn.LoginSession:
    return altinn.LoginSession(
        access_token=token,
        expires_at=time.time() + 120,
        issued_at=time.time(),
        refresh_token=f"refresh-{token}" if refresh else None,
        id_token="id-token-secret",
        claims=altinn.IDTokenClaims(sub="s", pid=DEFAULT_PID),
    )


def _token(value: str, *, lifetime: float = 100.0) -> altinn.AccessToken:
    now = time.time()
    return altinn.AccessToken(value, expires_at=now + lifetime, issued_at=now)


# --- encryption at rest and the keys ----------------------------------------------------------


async def test_a_stored_session_is_encrypted_under_a_digest_of_its_key(
    client: redis.asyncio.Redis,
) -> None:
    store = RedisTokenStore(client, encryption_key=KEY)
    await store.save("person-12345", _session("access-secret"))
    keys = await client.keys("*")
    assert keys == [store.redis_key("person-12345").encode()]
    assert b"person-12345" not in keys[0]
    raw = await client.hgetall(keys[0])  # type: ignore[misc,unused-ignore] # redis-py 5's types
    everything = repr(raw).encode()  # every field and value, as bytes literals
    for secret in (b"access-secret", b"refresh-access-secret", b"id-token-secret", b"12345"):
        assert secret not in everything
    loaded = await store.load("person-12345")
    assert loaded is not None
    assert loaded.access_token == "access-secret"


async def test_a_wrong_key_or_a_moved_or_changed_value_fails_cleanly(
    client: redis.asyncio.Redis,
) -> None:
    backend = RedisTokenBackend(client, encryption_key=KEY)
    await backend.save(("maskinporten", "a"), _token("the-token-itself"))
    stored = await client.get(backend.redis_key(("maskinporten", "a")))
    assert isinstance(stored, bytes)
    assert b"the-token-itself" not in stored

    wrong = RedisTokenBackend(client, encryption_key=OTHER_KEY)
    with pytest.raises(altinn.EncryptedValueError, match="another encryption_key") as caught:
        await wrong.load(("maskinporten", "a"))
    assert "the-token-itself" not in str(caught.value)
    assert caught.value.__cause__ is None  # nothing of the value in a chained exception

    # The same value under another key: the key is the associated data, so it does not open.
    await client.set(backend.redis_key(("maskinporten", "b")), stored)
    with pytest.raises(altinn.EncryptedValueError):
        await backend.load(("maskinporten", "b"))

    # One bit of the ciphertext changed (in the bytes: a base64 character may differ only in
    # padding bits, which decode to the same bytes).
    flipped = bytearray(base64.b64decode(stored))
    flipped[-20] ^= 0x01
    await client.set(backend.redis_key(("maskinporten", "a")), base64.b64encode(bytes(flipped)))
    with pytest.raises(altinn.EncryptedValueError):
        await backend.load(("maskinporten", "a"))
    await client.set(backend.redis_key(("maskinporten", "a")), b"not ours at all")
    with pytest.raises(altinn.EncryptedValueError, match="is not ours"):
        await backend.load(("maskinporten", "a"))


async def test_a_key_must_be_32_bytes_and_no_repr_shows_it(client: redis.asyncio.Redis) -> None:
    for bad in (b"short", "x" * 32):
        with pytest.raises(altinn.ConfigurationError, match="32 bytes"):
            RedisTokenStore(client, encryption_key=bad)  # type: ignore[arg-type]
    with pytest.raises(altinn.ConfigurationError, match="SharedTokens"):
        altinn.TokenCache(shared=object())  # type: ignore[arg-type]
    with pytest.raises(altinn.ConfigurationError, match=r"redis\.asyncio\.Redis"):
        RedisTokenBackend(object(), encryption_key=KEY)  # type: ignore[arg-type]
    made = [
        RedisTokenStore(client, encryption_key=KEY),
        RedisPendingLoginStore(client, encryption_key=KEY),
        RedisTokenBackend(client, encryption_key=KEY, namespace="app"),
        altinn.TokenCache(shared=RedisTokenBackend(client, encryption_key=KEY)),
    ]
    texts = [repr(thing) for thing in made]
    assert texts[2] == "RedisTokenBackend(namespace='app')"
    assert "shared=RedisTokenBackend(namespace='altinn_async')" in texts[3]
    for text in texts:
        assert repr(KEY) not in text
        assert KEY.hex() not in text


async def test_sessions_expire_with_the_refresh_token(client: redis.asyncio.Redis) -> None:
    store = RedisTokenStore(client, encryption_key=KEY, session_ttl=3600)
    await store.save("with", _session("a"))
    await store.save("without", _session("b", refresh=False))
    with_refresh = await client.pttl(store.redis_key("with"))
    without = await client.pttl(store.redis_key("without"))
    assert 3_500_000 < with_refresh <= 3_600_000  # session_ttl: the refresh token's lifetime
    assert 100_000 < without <= 120_000  # only as long as its access token
    with pytest.raises(altinn.ConfigurationError):
        RedisTokenStore(client, encryption_key=KEY, session_ttl=0)


async def test_a_pending_login_is_taken_once_and_lives_its_ttl(
    client: redis.asyncio.Redis,
) -> None:
    store = RedisPendingLoginStore(client, encryption_key=KEY)
    assert isinstance(store, altinn.PendingLoginStore)
    await store.put("login", {"verifier": "pkce-secret", "state": "s"}, ttl=300)
    name = store.redis_key("login")
    assert 290_000 < await client.pttl(name) <= 300_000
    stored = await client.get(name)
    assert stored is not None
    assert b"pkce-secret" not in stored
    taken = await asyncio_gather_takes(store, "login", 5)
    assert taken.count({"verifier": "pkce-secret", "state": "s"}) == 1  # one of five racers
    assert taken.count(None) == 4
    assert await store.take("never") is None
    with pytest.raises(altinn.ConfigurationError):
        await store.put("login", {}, ttl=0)


async def asyncio_gather_takes(
    store: RedisPendingLoginStore, key: str, count: int
) -> list[dict[str, object] | None]:
    results: list[dict[str, object] | None] = []

    async def take() -> None:
        results.append(await store.take(key))

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(take)
    return results


# --- the shared token cache, in one process ---------------------------------------------------


@attrs.define
class Fetcher:
    """A fetch that counts its calls and hands out new tokens."""

    lifetime: float = 100.0
    calls: int = 0

    async def __call__(self) -> altinn.AccessToken:
        self.calls += 1
        await anyio.lowlevel.checkpoint()
        return _token(f"token-{self.calls}", lifetime=self.lifetime)


async def test_a_second_cache_takes_the_first_caches_token_without_fetching(
    client: redis.asyncio.Redis,
) -> None:
    first = altinn.TokenCache(shared=RedisTokenBackend(client, encryption_key=KEY))
    second = altinn.TokenCache(shared=RedisTokenBackend(client, encryption_key=KEY))
    fetch = Fetcher()
    key = ("maskinporten", "https://mp/", "client", "scope")
    one = await first.get(key, fetch)
    two = await second.get(key, fetch)
    assert fetch.calls == 1
    assert two == one
    names = await client.keys("*")
    assert names == [RedisTokenBackend(client, encryption_key=KEY).redis_key(key).encode()]
    assert b"client" not in names[0]  # a digest of the cache key, not the key
    # Another namespace shares nothing.
    apart = altinn.TokenCache(
        shared=RedisTokenBackend(client, encryption_key=KEY, namespace="other")
    )
    await apart.get(key, fetch)
    assert fetch.calls == 2


async def test_a_cache_waits_for_the_lock_holders_token(client: redis.asyncio.Redis) -> None:
    backend = RedisTokenBackend(client, encryption_key=KEY)
    cache = altinn.TokenCache(shared=backend)
    key = ("k",)
    holder = await backend.try_lock(key)  # another process is fetching
    assert holder is not None
    assert await backend.try_lock(key) is None
    fetch = Fetcher()
    got: list[altinn.AccessToken] = []
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: _append(got, cache.get(key, fetch)))
        await anyio.sleep(0.05)
        assert got == []  # waiting: no token anywhere, and someone else fetches
        theirs = _token("the-holders")
        await backend.save(key, theirs)
        await backend.unlock(key, holder)
    assert got == [theirs]
    assert fetch.calls == 0


async def _append(into: list[altinn.AccessToken], token: object) -> None:
    into.append(await token)  # type: ignore[misc]


async def test_a_dead_lock_holder_is_taken_over(client: redis.asyncio.Redis) -> None:
    backend = RedisTokenBackend(client, encryption_key=KEY, lock_ttl=0.3)
    assert await backend.try_lock(("k",)) is not None  # and never given back
    fetch = Fetcher()
    with anyio.fail_after(10):
        token = await altinn.TokenCache(shared=backend).get(("k",), fetch)
    assert fetch.calls == 1
    assert await backend.load(("k",)) == token


async def test_a_still_usable_token_is_served_while_another_process_refreshes(
    client: redis.asyncio.Redis,
) -> None:
    backend = RedisTokenBackend(client, encryption_key=KEY)
    offset = 0.0
    cache = altinn.TokenCache(clock=lambda: time.time() + offset, shared=backend)
    fetch = Fetcher()
    first = await cache.get(("k",), fetch)
    offset = 85.0  # 15 s left of 100: due for a refresh, still usable
    holder = await backend.try_lock(("k",))  # another process is refreshing
    assert holder is not None
    with anyio.fail_after(2):
        assert await cache.get(("k",), fetch) == first
    # A process with nothing of its own is served the shared one, which is still usable.
    newcomer = altinn.TokenCache(clock=cache.clock, shared=backend)
    with anyio.fail_after(2):
        assert await newcomer.get(("k",), fetch) == first
    assert fetch.calls == 1
    await backend.unlock(("k",), holder)
    offset += 1.0  # past the short pause before this process looks at Redis again
    second = await cache.get(("k",), fetch)  # the lock is free: this process refreshes
    assert second != first
    assert fetch.calls == 2


async def test_a_refused_or_discarded_token_is_not_taken_from_redis_again(
    client: redis.asyncio.Redis,
) -> None:
    backend = RedisTokenBackend(client, encryption_key=KEY)
    cache = altinn.TokenCache(shared=backend)
    fetch = Fetcher()
    refused = await cache.get(("k",), fetch)
    assert cache.invalidate(("k",), refused)
    renewed = await cache.get(("k",), fetch)
    assert renewed != refused
    assert await backend.load(("k",)) == renewed
    # A discard (a logout) drops the key and what is derived from it; Redis's copies too.
    derived = await cache.get(("derived",), fetch, derived_from=("k",))
    cache.discard(("k",))
    assert await cache.get(("derived",), fetch, derived_from=("k",)) != derived
    assert await cache.get(("k",), fetch) != renewed
    assert fetch.calls == 5


async def test_an_idporten_session_and_its_exchange_stay_out_of_redis(
    client: redis.asyncio.Redis,
) -> None:
    emulator = Emulator()
    emulator.add_idporten_client(
        "web", redirect_uris=[REDIRECT], client_secret="s3cret-value",
        scopes=["openid", "altinn:instances.read"],
    )  # fmt: skip
    backend = RedisTokenBackend(client, encryption_key=KEY, namespace="tokens")
    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        idporten = altinn.IDPortenClient(
            client_id="web", client_secret="s3cret-value", redirect_uri=REDIRECT,
            scopes=["openid", "altinn:instances.read"], environment=emulator.environment,
            http_client=http, cache=altinn.TokenCache(shared=backend),
        )  # fmt: skip
        login = idporten.start_login()
        callback = await emulator.idporten_login(login.url, pid=DEFAULT_PID)
        await idporten.complete_login(callback, login)
        exchange = altinn.AltinnExchangeAuth(idporten.session())
        await exchange.get_token()
    assert emulator.requests["authentication.exchange"] == 1
    assert await client.keys("tokens:*") == []


# --- Redis down --------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens


@pytest.fixture
async def unreachable() -> AsyncIterator[redis.asyncio.Redis]:
    made = redis.asyncio.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=2)
    try:
        yield made
    finally:
        await made.aclose()


async def test_a_session_store_without_redis_raises_a_typed_error_naming_it(
    unreachable: redis.asyncio.Redis,
) -> None:
    store = RedisTokenStore(unreachable, encryption_key=KEY)
    pending = RedisPendingLoginStore(unreachable, encryption_key=KEY)
    calls = [
        store.load("person-12345"),
        store.save("person-12345", _session("access-secret")),
        store.delete("person-12345"),
        pending.put("login-1", {"verifier": "pkce-secret"}, ttl=60),
        pending.take("login-1"),
    ]
    for call in calls:
        with pytest.raises(altinn.SharedStoreError, match="Redis could not") as caught:
            await call
        text = str(caught.value)
        assert "ConnectionError" in text
        for secret in ("access-secret", "12345", "pkce-secret"):
            assert secret not in text
    with pytest.raises(altinn.SharedStoreError, match="take a lock"):
        async with store.lease("person-12345", ttl=5):
            pass  # pragma: no cover - never entered


async def test_a_token_cache_without_redis_fetches_in_this_process_and_says_so(
    unreachable: redis.asyncio.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = Emulator()
    key = signing_key("redis-kid")
    emulator.add_maskinporten_client(
        CLIENT, org_number=ORG_NUMBER, scopes=[READ], jwks=[key.public_jwk]
    )
    cache = altinn.TokenCache(shared=RedisTokenBackend(unreachable, encryption_key=KEY))
    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        auth = altinn.MaskinportenAuth(
            client_id=CLIENT, scopes=[READ], key=key, environment=emulator.environment,
            http_client=http, cache=cache,
        )  # fmt: skip
        with caplog.at_level("WARNING", logger="altinn_async"):
            first = await auth.get_token()
            assert await auth.get_token() == first  # the local cache serves it from then on
    assert emulator.requests["maskinporten.token"] == 1
    warnings = [r for r in caplog.records if "shared token store failed" in r.getMessage()]
    assert len(warnings) == 1
    assert "this process fetches its own token" in warnings[0].getMessage()
    assert first.access_token not in caplog.text


async def test_redis_stopping_between_refreshes_costs_a_local_fetch_not_a_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = Emulator()
    key = signing_key("redis-kid")
    emulator.add_maskinporten_client(
        CLIENT, org_number=ORG_NUMBER, scopes=[READ], jwks=[key.public_jwk]
    )
    emulator.add_instances("ttd", "app", 3)
    with redis_process(tmp_path) as (url, process):
        client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=2)
        try:
            backend = RedisTokenBackend(client, encryption_key=KEY)
            tokens = httpx.AsyncClient(transport=emulator.transport())
            auth = altinn.AltinnExchangeAuth(
                altinn.MaskinportenAuth(
                    client_id=CLIENT, scopes=[READ], key=key, http_client=tokens,
                    environment=emulator.environment, cache=altinn.TokenCache(shared=backend),
                ),
                http_client=tokens,
            )  # fmt: skip
            platform = emulator.environment.platform
            async with (
                httpx.AsyncClient(
                    transport=emulator.transport(), auth=auth, base_url=platform
                ) as http,
                tokens,
                auth,
            ):
                first = await http.get("/storage/api/v1/instances", params={"org": "ttd"})
                assert first.status_code == 200
                assert len(await client.keys("*")) == 2  # the Maskinporten and Altinn tokens
                process.kill()
                process.wait(timeout=10)
                emulator.expire_tokens()  # the Altinn token is refused from now on
                with caplog.at_level("WARNING", logger="altinn_async"):
                    again = await http.get("/storage/api/v1/instances", params={"org": "ttd"})
        finally:
            await client.aclose()
    assert again.status_code == 200
    # The Maskinporten token was still good here; the refused Altinn token was exchanged again
    # in this process, Redis being gone.
    assert emulator.requests["maskinporten.token"] == 1
    assert emulator.requests["authentication.exchange"] == 2
    assert "shared token store failed" in caplog.text


# --- several processes ------------------------------------------------------------------------

_MASKINPORTEN_WORKER = textwrap.dedent(
    """
    import hashlib, json, sys, anyio, httpx, redis.asyncio
    import altinn_async as altinn
    from altinn_async.redis import RedisTokenBackend
    from altinn_async.testing import Emulator

    url, redis_url, pem, key = sys.argv[1:5]

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        backend = RedisTokenBackend(client, encryption_key=bytes.fromhex(key))
        cache = altinn.TokenCache(shared=backend)
        environment = Emulator().environment_for(url)
        auth = altinn.AltinnExchangeAuth(altinn.MaskinportenAuth(
            client_id="redis-client", scopes=["altinn:serviceowner/instances.read"],
            key=altinn.SigningKey.from_pem(open(pem, "rb").read(), kid="redis-kid"),
            environment=environment, cache=cache))
        statuses = []
        async with auth, httpx.AsyncClient(auth=auth, base_url=environment.platform) as http:
            await client.ping()
            print("ready", flush=True)
            sys.stdin.readline()  # every process starts at once

            async def one() -> None:
                response = await http.get("/storage/api/v1/instances", params={"org": "ttd"})
                statuses.append(response.status_code)

            async with anyio.create_task_group() as group:
                for _ in range(100):
                    group.start_soon(one)
            token = await auth.get_token()
        await client.aclose()
        digest = hashlib.sha256(token.access_token.encode()).hexdigest()
        print(json.dumps({"statuses": statuses, "token": digest}), flush=True)

    anyio.run(main)
    """
)

_IDPORTEN_WORKER = textwrap.dedent(
    """
    import hashlib, json, sys, anyio, redis.asyncio
    import altinn_async as altinn
    from altinn_async.redis import RedisTokenStore
    from altinn_async.testing import Emulator

    url, redis_url, redirect, key = sys.argv[1:5]

    async def main() -> None:
        client = redis.asyncio.Redis.from_url(redis_url)
        store = RedisTokenStore(client, encryption_key=bytes.fromhex(key))
        idporten = altinn.IDPortenClient(
            client_id="web", client_secret="s3cret-value", redirect_uri=redirect,
            scopes=["openid", "altinn:instances.read"],
            environment=Emulator().environment_for(url), store=store)
        async with idporten:
            await client.ping()
            print("ready", flush=True)
            sys.stdin.readline()
            token = await idporten.session().get_token()
        await client.aclose()
        print(json.dumps({"token": token.access_token}), flush=True)

    anyio.run(main)
    """
)


def _run_together(script: str, count: int, *args: str) -> list[dict[str, object]]:
    """Start ``count`` processes, let them all go at once, and read what each printed."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            if line.strip() != "ready":
                _, err = process.communicate(timeout=60)
                pytest.fail(f"a worker did not start: {err}")
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        results = []
        for process in processes:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.fixture
def maskinporten_served(tmp_path: Path) -> Iterator[tuple[Emulator, str, Path]]:
    emulator = Emulator()
    key = signing_key("redis-kid")
    emulator.add_maskinporten_client(
        CLIENT, org_number=ORG_NUMBER, scopes=[READ], jwks=[key.public_jwk]
    )
    emulator.add_instances("ttd", "app", 20)
    pem = tmp_path / "client.pem"
    pem.write_bytes(private_pem())
    with emulator.serve() as url:
        yield emulator, url, pem


async def test_8_processes_100_cold_requests_each_one_maskinporten_token_one_exchange(
    maskinporten_served: tuple[Emulator, str, Path], redis_url: str
) -> None:
    emulator, url, pem = maskinporten_served
    results = await anyio.to_thread.run_sync(
        _run_together, _MASKINPORTEN_WORKER, 8, url, redis_url, str(pem), KEY.hex()
    )
    statuses = [status for result in results for status in result["statuses"]]  # type: ignore[attr-defined]
    assert statuses == [200] * 800
    assert len({result["token"] for result in results}) == 1  # one Altinn token for everyone
    assert emulator.requests["maskinporten.token"] == 1
    assert emulator.requests["authentication.exchange"] == 1
    assert emulator.requests["storage.instances"] == 800


async def test_8_processes_refreshing_one_session_refresh_once_and_nobody_is_logged_out(
    client: redis.asyncio.Redis, redis_url: str
) -> None:
    emulator = Emulator()
    emulator.add_idporten_client(
        "web", redirect_uris=[REDIRECT], client_secret="s3cret-value",
        scopes=["openid", "altinn:instances.read"],
    )  # fmt: skip
    store = RedisTokenStore(client, encryption_key=KEY)
    with emulator.serve() as url:
        async with altinn.IDPortenClient(
            client_id="web", client_secret="s3cret-value", redirect_uri=REDIRECT,
            scopes=["openid", "altinn:instances.read"], environment=emulator.environment_for(url),
            store=store,
        ) as idporten:  # fmt: skip
            login = idporten.start_login()
            callback = await emulator.idporten_login(login.url, pid=DEFAULT_PID)
            await idporten.complete_login(callback, login)
        session = await store.load("default")
        assert session is not None
        # Every process sees a session due for a refresh.
        assert await store.save(
            "default", attrs.evolve(session, expires_at=time.time() - 1), if_revision=ANY
        )
        results = await anyio.to_thread.run_sync(
            _run_together, _IDPORTEN_WORKER, 8, url, redis_url, REDIRECT, KEY.hex()
        )
        tokens = {result["token"] for result in results}
        assert len(tokens) == 1
        assert emulator.requests["idporten.token"] == 2  # the login and ONE refresh
        stored = await store.load("default")
        assert stored is not None
        assert {stored.access_token} == tokens
        # Nobody was logged out: the login is alive at ID-porten, and refreshes again.
        async with altinn.IDPortenClient(
            client_id="web", client_secret="s3cret-value", redirect_uri=REDIRECT,
            scopes=["openid", "altinn:instances.read"], environment=emulator.environment_for(url),
            store=store,
        ) as idporten:  # fmt: skip
            assert await store.save(
                "default", attrs.evolve(stored, expires_at=time.time() - 1), if_revision=ANY
            )
            again = await idporten.session().get_token()
        assert again.access_token not in tokens
        assert emulator.requests["idporten.token"] == 3


ANY = altinn.ANY_REVISION
