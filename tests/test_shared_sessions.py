"""Sessions shared by the workers of a web application, and by processes over one file.

Defect 3 of the request-path issue: two workers refreshing one session at once spent the
rotated refresh token twice; the provider, which detects reuse, revoked the login, and the second
worker deleted the session the first had just saved.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest
import redis.asyncio

import altinn_async as altinn
from altinn_async.redis import RedisTokenStore
from altinn_async.testing import DEFAULT_PID, Emulator

from .helpers import Clock

REDIRECT = "https://app.example/callback"
SCOPES = ["openid", "altinn:instances.read"]
REDIS_KEY = bytes(range(32))
ASYNCIO_ONLY = "redis.asyncio runs on asyncio only"


@attrs.define
class Served:
    emulator: Emulator
    clock: Clock
    environment: altinn.Environment
    url: str

    def client(self, http: httpx.AsyncClient, store: altinn.TokenStore) -> altinn.IDPortenClient:
        return altinn.IDPortenClient(
            client_id="web",
            client_secret="s3cret-value",
            redirect_uri=REDIRECT,
            scopes=SCOPES,
            environment=self.environment,
            store=store,
            http_client=http,
            clock=self.clock,
        )

    async def login(self, client: altinn.IDPortenClient, key: str = "default") -> None:
        login = client.start_login()
        callback = await self.emulator.idporten_login(login.url, pid=DEFAULT_PID)
        await client.complete_login(callback, login, session_key=key)


@pytest.fixture
def served() -> Iterator[Served]:
    clock = Clock()
    emulator = Emulator(clock=clock)
    emulator.add_idporten_client(
        "web",
        redirect_uris=[REDIRECT],
        client_secret="s3cret-value",
        scopes=["openid", "altinn:instances.read"],
    )
    with emulator.serve() as url:
        yield Served(emulator, clock, emulator.environment_for(url), url)


@pytest.fixture
async def two_workers(served: Served) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    # Each worker has its own HTTP client (its own sockets) and its own token cache.
    async with httpx.AsyncClient() as first, httpx.AsyncClient() as second:
        yield first, second


async def _make_store(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[altinn.TokenStore]:
    if kind == "memory":
        yield altinn.MemoryTokenStore()
    elif kind == "file":
        yield altinn.FileTokenStore(tmp_path / "store.json")
    else:
        if request.getfixturevalue("anyio_backend") != "asyncio":
            pytest.skip(ASYNCIO_ONLY)
        client = redis.asyncio.Redis.from_url(request.getfixturevalue("redis_url"))
        try:
            yield RedisTokenStore(client, encryption_key=REDIS_KEY)
        finally:
            await client.aclose()


@pytest.fixture(params=["memory", "file", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[altinn.TokenStore]:
    async for made in _make_store(request.param, request, tmp_path):
        yield made


async def test_two_workers_refreshing_at_once_refresh_once_and_nobody_is_logged_out(
    served: Served, two_workers: tuple[httpx.AsyncClient, ...], store: altinn.TokenStore
) -> None:
    one, two = (served.client(http, store) for http in two_workers)
    await served.login(one)
    served.clock.advance(200)  # the 120 s access token expired
    tokens: list[altinn.AccessToken] = []

    async def refresh(worker: altinn.IDPortenClient) -> None:
        tokens.append(await worker.session().get_token())

    async with anyio.create_task_group() as group:
        group.start_soon(refresh, one)
        group.start_soon(refresh, two)
    assert served.emulator.requests["idporten.token"] == 2  # the login and ONE refresh
    assert tokens[0] == tokens[1]
    stored = await store.load("default")
    assert stored is not None
    assert stored.access_token == tokens[0].access_token
    # The login is alive at ID-porten: the next refresh, by either worker, works.
    served.clock.advance(200)
    assert (await two.session().get_token()).access_token != tokens[0].access_token
    assert served.emulator.requests["idporten.token"] == 3


async def test_a_refused_refresh_does_not_delete_a_session_another_worker_saved(
    served: Served, two_workers: tuple[httpx.AsyncClient, ...]
) -> None:
    store = altinn.MemoryTokenStore()
    one, _ = (served.client(http, store) for http in two_workers)
    await served.login(one)
    stale = await store.load("default")
    assert stale is not None
    served.clock.advance(200)
    await one.session().get_token()  # refreshed: the stale refresh token is spent
    fresh = await store.load("default")
    assert fresh is not None
    # A store that lags behind gives the stale session to a worker, which spends its token.
    lagging = _Lagging(store, stale)
    other = served.client(two_workers[1], lagging)
    with pytest.raises(altinn.LoginRequiredError):
        await other.session().get_token()
    # The provider ended the login (reuse); but the newer session was not deleted by mistake.
    assert await store.load("default") == fresh


class _Lagging:
    """A store whose reads lag behind: the first load returns an old session."""

    def __init__(self, inner: altinn.MemoryTokenStore, old: altinn.LoginSession) -> None:
        self._inner, self._old = inner, old

    async def load(self, key: str) -> altinn.LoginSession | None:
        return self._old

    async def save(self, key: str, session: altinn.LoginSession, **options: Any) -> bool:
        return await self._inner.save(key, session, **options)

    async def delete(self, key: str, **options: Any) -> bool:
        return await self._inner.delete(key, **options)

    def lease(self, key: str, *, ttl: float) -> Any:
        return self._inner.lease(key, ttl=ttl)


# --- the stores themselves --------------------------------------------------------------------


def _session(token: str) -> altinn.LoginSession:
    return altinn.LoginSession(
        access_token=token,
        expires_at=time.time() + 120,
        issued_at=time.time(),
        refresh_token=f"refresh-{token}",
        id_token="id-token",
        claims=altinn.IDTokenClaims(sub="s"),
    )


async def test_save_and_delete_compare_and_swap(store: altinn.TokenStore) -> None:
    first, second, third = _session("a"), _session("b"), _session("c")
    assert await store.save("k", first, if_revision=None)  # only if nothing is there
    assert not await store.save("k", second, if_revision=None)
    assert await store.save("k", second, if_revision=first.revision)
    assert not await store.save("k", third, if_revision=first.revision)  # lost the race
    assert await store.load("k") == second
    assert not await store.delete("k", if_revision=first.revision)
    assert await store.delete("k", if_revision=second.revision)
    assert await store.load("k") is None
    assert await store.save("k", third)  # unconditional
    assert await store.delete("k")
    assert not await store.delete("k")


async def test_a_memory_store_lets_abandoned_sessions_go() -> None:
    # A long-running backend: the sessions of people who never come back must not pile up.
    clock = Clock()
    store = altinn.MemoryTokenStore(session_ttl=3600, clock=clock)
    kept, abandoned = _session("kept"), _session("abandoned")
    assert await store.save("kept", kept)
    assert await store.save("abandoned", abandoned)
    clock.advance(1800)
    assert await store.save("kept", kept)  # used (refreshed): another hour from now
    clock.advance(1800)
    assert await store.load("abandoned") is None  # an hour without a save: gone
    assert not await store.delete("abandoned")
    assert await store.load("kept") == kept
    # Without a refresh token a session goes with its access token.
    short = attrs.evolve(_session("short"), refresh_token=None, expires_at=clock.now + 60)
    assert await store.save("short", short)
    clock.advance(59)
    assert await store.load("short") == short
    clock.advance(1)
    assert await store.load("short") is None
    # Ended sessions nobody loads again are swept as others are saved.
    for n in range(50):
        assert await store.save(f"once-{n}", _session(f"once-{n}"))
    clock.advance(3600)
    assert await store.save("new", _session("new"))
    assert repr(store) == "MemoryTokenStore(1 sessions)"
    # An ended session is no session for a compare-and-swap either.
    assert await store.save("kept", _session("again"), if_revision=None)


def test_a_memory_store_needs_a_positive_session_ttl() -> None:
    with pytest.raises(altinn.ConfigurationError, match="session_ttl"):
        altinn.MemoryTokenStore(session_ttl=0)


async def test_a_lease_has_one_holder_at_a_time(store: altinn.TokenStore) -> None:
    inside = 0
    most = 0

    async def hold() -> None:
        nonlocal inside, most
        async with store.lease("k", ttl=5.0):
            inside += 1
            most = max(most, inside)
            await anyio.sleep(0.02)
            inside -= 1

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(hold)
    assert most == 1


async def test_a_dead_holders_lease_expires(store: altinn.TokenStore) -> None:
    dead = store.lease("k", ttl=0.3)
    await dead.__aenter__()  # taken, and never given back: the holder hung or died
    started = time.monotonic()
    async with store.lease("k", ttl=5.0):
        waited = time.monotonic() - started
        await dead.__aexit__(None, None, None)  # the late holder's release frees nothing
        with anyio.move_on_after(0.2) as waiting:
            async with store.lease("k", ttl=5.0):
                pass
        assert waiting.cancelled_caught  # still ours
    assert 0.2 <= waited < 3.0


async def test_other_keys_do_not_wait(store: altinn.TokenStore) -> None:
    async with store.lease("a", ttl=10.0):
        with anyio.fail_after(2):
            async with store.lease("b", ttl=10.0):
                pass


def test_a_file_store_of_the_first_format_is_read(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    old = _session("legacy").to_dict()
    del old["revision"]
    path.write_text(json.dumps({"default": old}))

    async def read() -> altinn.LoginSession | None:
        return await altinn.FileTokenStore(path).load("default")

    loaded = anyio.run(read)
    assert loaded is not None
    assert loaded.access_token == "legacy"
    assert loaded.revision.startswith("legacy-")


# --- several processes over one file ----------------------------------------------------------

_WORKER = textwrap.dedent(
    """
    import sys, anyio
    import altinn_async as altinn
    from altinn_async.testing import Emulator

    url, store_path, redirect = sys.argv[1:4]

    async def main() -> None:
        client = altinn.IDPortenClient(
            client_id="web", client_secret="s3cret-value", redirect_uri=redirect,
            scopes=["openid", "altinn:instances.read"],
            environment=Emulator().environment_for(url), store=altinn.FileTokenStore(store_path))
        async with client:
            token = await client.session().get_token()
        print(token.access_token, flush=True)

    anyio.run(main)
    """
)


def _run_workers(count: int, served: Served, store: Path) -> list[str]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, served.url, str(store), REDIRECT],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        outputs.append(out.strip())
    return outputs


async def test_processes_sharing_a_file_store_refresh_once(served: Served, tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    async with httpx.AsyncClient() as http:
        await served.login(served.client(http, altinn.FileTokenStore(path)))
    # Every process sees a session due for a refresh (by the real clock they run on).
    data = json.loads(path.read_text())
    data["sessions"]["default"]["expires_at"] = time.time() - 1
    path.write_text(json.dumps(data))
    tokens = await anyio.to_thread.run_sync(_run_workers, 6, served, path)
    assert len(set(tokens)) == 1
    assert served.emulator.requests["idporten.token"] == 2  # the login, one refresh
    on_disk = json.loads(path.read_text())["sessions"]["default"]
    assert on_disk["access_token"] == tokens[0]


_HOLDER = textwrap.dedent(
    """
    import sys, anyio
    import altinn_async as altinn

    async def main() -> None:
        async with altinn.FileTokenStore(sys.argv[1]).lease("default", ttl=1.0):
            print("holding", flush=True)
            await anyio.sleep(3600)

    anyio.run(main)
    """
)


async def test_a_process_killed_while_holding_a_lease_frees_it(tmp_path: Path) -> None:
    path = tmp_path / "sessions.json"
    async with await anyio.open_process([sys.executable, "-c", _HOLDER, str(path)]) as holder:
        assert holder.stdout is not None
        with anyio.fail_after(30):
            assert (await holder.stdout.receive()).strip() == b"holding"
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
    store = altinn.FileTokenStore(path)
    started = time.monotonic()
    with anyio.fail_after(10):
        async with store.lease("default", ttl=5.0):
            waited = time.monotonic() - started
    assert waited < 3.0  # at most the dead holder's ttl, plus polling


async def test_a_refresh_slower_than_its_lease_gives_up_instead_of_racing(
    served: Served, two_workers: tuple[httpx.AsyncClient, ...]
) -> None:
    store = altinn.MemoryTokenStore()
    one = altinn.IDPortenClient(
        client_id="web", client_secret="s3cret-value", redirect_uri=REDIRECT, scopes=SCOPES,
        environment=served.environment, store=store, http_client=two_workers[0],
        clock=served.clock, refresh_lease=1.0,
    )  # fmt: skip
    await served.login(one)
    served.clock.advance(200)
    served.emulator.inject_fault("idporten.token", status=0, delay=5.0)
    started = time.monotonic()
    with pytest.raises(altinn.TokenRequestError, match="longer than its lease"):
        await one.session().get_token()
    assert time.monotonic() - started < 4.0
    assert await store.load("default") is not None  # not logged out for being slow
