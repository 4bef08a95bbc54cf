"""StorageClient paging rules against scripted pages: the loop guard, origins, bad pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from altinn_async import ConfigurationError, PaginationError, StorageClient

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
