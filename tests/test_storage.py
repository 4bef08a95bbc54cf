"""StorageClient paging rules against scripted pages: the loop guard, origins, bad pages; and a
client given its own auth on a shared ``httpx.AsyncClient``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from altinn_async import (
    AltinnExchangeAuth,
    APIError,
    ConfigurationError,
    EventsClient,
    MaskinportenAuth,
    PaginationError,
    StorageClient,
)
from altinn_async.testing import Emulator

from .helpers import signing_key

BASE = "https://platform.example"
LIST = f"{BASE}/storage/api/v1/instances"


def client(pages: dict[str, Any]) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        body = pages.get(str(request.url))
        if body is None:
            return httpx.Response(404)
        return httpx.Response(200, json=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=BASE)


def page(ids: list[str], next_url: str | None) -> dict[str, Any]:
    return {
        "count": len(ids),
        "self": "x",
        "next": next_url,
        "instances": [{"id": i} for i in ids],
    }


async def test_follows_next_verbatim_until_null() -> None:
    second = f"{LIST}?org=ttd&continuationToken=638%253B12"
    pages = {f"{LIST}?org=ttd": page(["1/a", "1/b"], second), second: page(["1/c"], None)}
    async with client(pages) as http:
        pager = StorageClient(http).instances(org="ttd")
        ids = [i["id"] async for i in pager]
        assert pager.position is None
    assert ids == ["1/a", "1/b", "1/c"]


async def test_a_repeated_next_link_raises_instead_of_looping() -> None:
    first = f"{LIST}?org=ttd"
    second = f"{LIST}?org=ttd&continuationToken=x"
    pages = {first: page(["1/a"], second), second: page(["1/b"], second)}
    async with client(pages) as http:
        pager = StorageClient(http).instances(org="ttd")
        seen: list[str] = []
        with pytest.raises(PaginationError, match="already fetched") as info:
            async for instance in pager:
                seen.append(instance["id"])  # noqa: PERF401 - keeps what came before the error
    assert seen == ["1/a"]  # 1/b's page is suspect: it was not handed out
    assert info.value.position == second


async def test_a_next_link_to_another_origin_is_not_followed() -> None:
    first = f"{LIST}?org=ttd"
    pages = {first: page(["1/a"], "https://evil.example/steal")}
    async with client(pages) as http:
        with pytest.raises(PaginationError, match="another origin"):
            [i async for i in StorageClient(http).instances(org="ttd")]


@pytest.mark.parametrize(
    "body", [{"instances": "nope"}, ["a"], {"count": 0}, {"instances": [], "next": 5}]
)
async def test_a_malformed_page_is_a_pagination_error(body: Any) -> None:
    async with client({f"{LIST}?org=ttd": body}) as http:
        with pytest.raises(PaginationError):
            [i async for i in StorageClient(http).instances(org="ttd")]


async def test_position_stays_on_a_partly_read_page() -> None:
    second = f"{LIST}?org=ttd&continuationToken=y"
    pages = {f"{LIST}?org=ttd": page(["1/a", "1/b"], second), second: page(["1/c"], None)}
    async with client(pages) as http:
        pager = StorageClient(http).instances(org="ttd")
        assert await anext(pager) == {"id": "1/a"}
        # 1/b is not handed out yet: resuming must fetch its page again.
        assert pager.position == f"{LIST}?org=ttd"
        assert await anext(pager) == {"id": "1/b"}
        assert pager.position == second


async def test_query_parameters() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json=page([], None))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=BASE) as http:
        pager = StorageClient(http).instances(
            app_id="ttd/app",
            size=10,
            params={
                "lastChanged": ["gt:2024-01-01", "lt:2024-02-01"],
                "process.isComplete": "true",
            },
        )
        assert [i async for i in pager] == []
    assert seen[0].params.get_list("lastChanged") == ["gt:2024-01-01", "lt:2024-02-01"]
    assert seen[0].params["appId"] == "ttd/app"
    assert seen[0].params["size"] == "10"
    assert seen[0].params["process.isComplete"] == "true"


def test_needs_a_platform_url() -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        StorageClient(httpx.AsyncClient())


async def test_instance_ids_are_checked_before_any_request() -> None:
    async with client({}) as http:
        storage = StorageClient(http)
        for bad in ("../../admin", "abc/def", "12345"):
            with pytest.raises(ConfigurationError, match="partyId"):
                await storage.get_instance(bad)
            with pytest.raises(ConfigurationError, match="partyId"):
                await storage.complete(bad)


async def test_a_client_given_auth_uses_it_on_a_shared_client_for_every_request() -> None:
    """``StorageClient(http, auth=...)``: a person's auth on an app's one client (regression:
    pages, single reads and downloads all went out with the shared client's auth only)."""
    emulator = Emulator(events_delay=0)
    key = signing_key()
    scopes = ["altinn:serviceowner/instances.read", "altinn:serviceowner"]
    emulator.add_maskinporten_client(
        "c", org_number="405003309", scopes=scopes, jwks=[key.public_jwk]
    )
    emulator.add_instances("ttd", "app", 3)
    environment = emulator.environment
    async with (
        httpx.AsyncClient(transport=emulator.transport()) as token_http,
        AltinnExchangeAuth(
            MaskinportenAuth(
                client_id="c", key=key, scopes=scopes, environment=environment,
                http_client=token_http,
            )
        ) as auth,
        httpx.AsyncClient(transport=emulator.transport(), base_url=environment.platform) as http,
    ):  # fmt: skip
        with pytest.raises(APIError) as refused:
            [i async for i in StorageClient(http).instances(app_id="ttd/app")]
        assert refused.value.status_code == 401
        storage = StorageClient(http, auth=auth)
        instances = [i async for i in storage.instances(app_id="ttd/app")]
        assert len(instances) == 3
        one = await storage.get_instance(instances[0]["id"])
        (element,) = await storage.data_elements(one["id"])
        assert await storage.download(element)
        assert b"".join([chunk async for chunk in storage.stream(element)])
        events = [
            e async for e in EventsClient(http, auth=auth).app_events("ttd", "app", after="0")
        ]
        assert events
        assert http.auth is None  # the shared client was not changed
