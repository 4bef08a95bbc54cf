"""The httpx.Auth flow: bearer header, one refresh and one retry on 401, concurrency."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import httpx

from altinn_async import MaskinportenAuth

from .helpers import MOCK_ENV, ScriptedMaskinporten, signing_key


class Api:
    """An API that accepts only the tokens in ``valid`` (and counts what it saw)."""

    def __init__(self) -> None:
        self.valid: set[str] = set()
        self.seen: list[str] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await anyio.lowlevel.checkpoint()
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.seen.append(token)
        if token in self.valid:
            return httpx.Response(200, json={"ok": True})
        return httpx.Response(401)


def setup(api: Api, endpoint: ScriptedMaskinporten) -> tuple[MaskinportenAuth, httpx.AsyncClient]:
    auth = MaskinportenAuth(
        client_id="c",
        key=signing_key(),
        scopes=["altinn:serviceowner/instances.read"],
        environment=MOCK_ENV,
        http_client=httpx.AsyncClient(transport=endpoint.transport()),
    )
    http = httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(api))
    return auth, http


async def test_bearer_header_is_set() -> None:
    api, endpoint = Api(), ScriptedMaskinporten(200)
    api.valid.add("access-token-1")
    auth, http = setup(api, endpoint)
    async with auth, http:
        response = await http.get("https://platform.example/x")
    assert response.status_code == 200
    assert api.seen == ["access-token-1"]


async def test_401_refreshes_once_and_retries_once() -> None:
    api, endpoint = Api(), ScriptedMaskinporten(200)
    api.valid.add("access-token-2")  # the first token is refused: revoked, say
    auth, http = setup(api, endpoint)
    async with auth, http:
        response = await http.get("https://platform.example/x")
    assert response.status_code == 200
    assert api.seen == ["access-token-1", "access-token-2"]
    assert len(endpoint.requests) == 2


async def test_401_with_a_fresh_token_too_is_returned_not_looped() -> None:
    api, endpoint = Api(), ScriptedMaskinporten(200)  # no token is ever accepted
    auth, http = setup(api, endpoint)
    async with auth, http:
        response = await http.get("https://platform.example/x")
    assert response.status_code == 401
    assert api.seen == ["access-token-1", "access-token-2"]
    assert len(endpoint.requests) == 2


async def test_concurrent_401s_for_one_token_cause_one_refresh() -> None:
    api, endpoint = Api(), ScriptedMaskinporten(200)
    auth, http = setup(api, endpoint)
    async with auth, http:
        await auth.get_token()  # access-token-1, about to be refused by everyone
        api.valid.add("access-token-2")
        statuses: list[int] = []

        async def one() -> None:
            statuses.append((await http.get("https://platform.example/x")).status_code)

        async with anyio.create_task_group() as group:
            for _ in range(100):
                group.start_soon(one)
    assert statuses == [200] * 100
    assert len(endpoint.requests) == 2


async def test_500_concurrent_requests_on_a_cold_cache_fetch_one_token() -> None:
    api, endpoint = Api(), ScriptedMaskinporten(200)
    api.valid.add("access-token-1")
    auth, http = setup(api, endpoint)
    async with auth, http, anyio.create_task_group() as group:
        for _ in range(500):
            group.start_soon(http.get, "https://platform.example/x")
    assert len(endpoint.requests) == 1
    assert len(endpoint.grants) == 1
    assert api.seen == ["access-token-1"] * 500


async def test_streamed_upload_is_not_replayed_on_401() -> None:
    api, endpoint = Api(), ScriptedMaskinporten(200)
    api.valid.add("access-token-2")
    auth, http = setup(api, endpoint)

    async def body() -> AsyncIterator[bytes]:
        yield b"chunk"

    async with auth, http:
        response = await http.post("https://platform.example/upload", content=body())
        assert response.status_code == 401  # cannot resend a consumed stream
        # ... but the refused token is gone: the next request gets a new one.
        assert (await http.get("https://platform.example/x")).status_code == 200
    assert api.seen == ["access-token-1", "access-token-2"]
