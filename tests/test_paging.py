"""Paginator and its rules against scripted pages (httpx.MockTransport)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, assert_type

import attrs
import httpx
import pytest

from altinn_async import (
    APIError,
    BodyNextField,
    ConfigurationError,
    HalNextLink,
    HalResource,
    KeysetPaging,
    LimitReachedWarning,
    NextHeader,
    ODataPaging,
    Page,
    PageContent,
    PaginationError,
    Paginator,
    RetryPolicy,
)

ALTINN = "https://www.altinn.no"
PLATFORM = "https://platform.example"


@attrs.define
class Script:
    """Answers by exact URL; records every request it saw."""

    pages: dict[str, httpx.Response | Any]
    requests: list[httpx.Request] = attrs.field(factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.pages.get(str(request.url))
        if answer is None:
            return httpx.Response(404, text=f"no page {request.url}")
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)

    @property
    def urls(self) -> list[str]:
        return [str(request.url) for request in self.requests]

    def client(self, base_url: str = "") -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self), base_url=base_url)


def hal_list(rel: str, names: list[str], next_url: str | None = None, **extra: Any) -> Any:
    links: dict[str, Any] = {"self": {"href": "ignored"}}
    if next_url is not None:
        links["next"] = {"href": next_url}
    items = [{"Name": n, "_links": {"self": {"href": f"{ALTINN}/api/x/{n}"}}} for n in names]
    return {"_links": links, "_embedded": {rel: items}, **extra}


def names(items: list[HalResource]) -> list[str]:
    return [item["Name"] for item in items]


# --- HalNextLink --------------------------------------------------------------------------------

CONSENTS = f"{ALTINN}/api/serviceowner/consents"


async def test_hal_next_link_with_continuation_token() -> None:
    second = f"{CONSENTS}?continuation=2020-02-01T08:30:39:148_1054"
    script = Script(
        {
            CONSENTS: hal_list("consents", ["a", "b"], second, continuationtoken="2020_1054"),
            second: hal_list("consents", ["c"]),
        }
    )
    async with script.client() as http:
        paginator = Paginator(http, CONSENTS, HalNextLink("consents"))
        pages = [page async for page in paginator.pages()]
    assert_type(pages, list[Page[HalResource]])
    assert [names(page.items) for page in pages] == [["a", "b"], ["c"]]
    assert pages[0].continuation_token == "2020_1054"
    assert pages[0].next == second
    assert pages[1].continuation_token is None
    assert pages[1].next is None
    assert pages[0].items[0].self_url == f"{ALTINN}/api/x/a"
    assert script.urls == [CONSENTS, second]


async def test_hal_next_link_relative_to_the_page_and_items_by_default() -> None:
    script = Script(
        {
            f"{CONSENTS}?p=1": hal_list("consents", ["a"], "?p=2"),
            f"{CONSENTS}?p=2": hal_list("consents", ["b"], "/api/serviceowner/consents?p=3"),
            f"{CONSENTS}?p=3": {"_links": {"self": {"href": "x"}}},  # an empty list, no _embedded
        }
    )
    async with script.client(base_url=f"{ALTINN}/api/") as http:
        paginator = Paginator(http, "serviceowner/consents?p=1", HalNextLink("consents"))
        items = [item async for item in paginator]
    assert names(items) == ["a", "b"]
    assert paginator.position is None


async def test_hal_next_link_with_another_embedded_relation_is_an_error() -> None:
    script = Script({CONSENTS: hal_list("delegationRequests", ["a"])})
    async with script.client() as http:
        with pytest.raises(PaginationError, match="delegationRequests but not 'consents'"):
            [item async for item in Paginator(http, CONSENTS, HalNextLink("consents"))]


async def test_malformed_hal_is_a_pagination_error_with_the_path() -> None:
    body = hal_list("consents", ["a", "b"])
    body["_embedded"]["consents"][1]["_links"]["self"] = {"href": 7}
    script = Script({CONSENTS: body})
    async with script.client() as http:
        paginator = Paginator(http, CONSENTS, HalNextLink("consents"))
        with pytest.raises(PaginationError, match=r"\$\._embedded\.consents\[1\]\._links") as info:
            await anext(paginator)
    assert info.value.position == CONSENTS


# --- ODataPaging --------------------------------------------------------------------------------

MESSAGES = f"{ALTINN}/api/my/messages"
FILTER = "$filter=ServiceOwner%20eq%20'Skatteetaten'"


async def test_odata_pages_with_skip_until_a_short_page() -> None:
    base = f"{MESSAGES}?{FILTER}&$top=2"
    script = Script(
        {
            base: hal_list("messages", ["a", "b"]),
            f"{base}&$skip=2": hal_list("messages", ["c", "d"]),
            f"{base}&$skip=4": hal_list("messages", ["e"]),
        }
    )
    async with script.client() as http:
        paginator = Paginator(http, f"{MESSAGES}?{FILTER}", ODataPaging(2, "messages"))
        items = [item async for item in paginator]
    assert names(items) == ["a", "b", "c", "d", "e"]
    # The filter goes out exactly as given on every page; no request after the short page.
    assert script.urls == [base, f"{base}&$skip=2", f"{base}&$skip=4"]


async def test_odata_stops_on_an_empty_page() -> None:
    base = f"{MESSAGES}?$top=2"
    script = Script(
        {
            base: hal_list("messages", ["a", "b"]),
            f"{base}&$skip=2": hal_list("messages", ["c", "d"]),
            f"{base}&$skip=4": {"_links": {"self": {"href": "x"}}, "_embedded": {"messages": []}},
        }
    )
    async with script.client() as http:
        paginator = Paginator(http, MESSAGES, ODataPaging(2, "messages"))
        pages = [page async for page in paginator.pages()]
    assert [names(page.items) for page in pages] == [["a", "b"], ["c", "d"], []]
    assert pages[-1].next is None
    assert len(script.requests) == 3


async def test_odata_bare_array_until_empty_despite_short_pages() -> None:
    # The service-owner reportees list with Accept: application/json (NAV's client): a bare
    # array, and a server cap below $top makes every page look short.
    url = f"{ALTINN}/api/serviceowner/reportees?subject=05116602352&$top=500"
    script = Script(
        {
            url: [{"Name": "A", "Type": "Enterprise"}, {"Name": "B", "Type": "Business"}],
            f"{url}&$skip=2": [{"Name": "C", "Type": "Enterprise"}],
            f"{url}&$skip=3": [],
        }
    )
    async with script.client() as http:
        paginator = Paginator(
            http,
            f"{ALTINN}/api/serviceowner/reportees?subject=05116602352",
            ODataPaging(500, stop_on_short_page=False),
            headers={"Accept": "application/json"},
        )
        items = [item async for item in paginator]
    assert names(items) == ["A", "B", "C"]
    assert not items[0].links
    assert [r.headers["Accept"] for r in script.requests] == ["application/json"] * 3


async def test_odata_keeps_a_starting_skip_and_replaces_top() -> None:
    start = f"{MESSAGES}?$top=999&$skip=10"
    script = Script(
        {
            f"{MESSAGES}?$top=2&$skip=10": hal_list("messages", ["k", "l"]),
            f"{MESSAGES}?$top=2&$skip=12": hal_list("messages", []),
        }
    )
    async with script.client() as http:
        items = [i async for i in Paginator(http, start, ODataPaging(2, "messages"))]
    assert names(items) == ["k", "l"]


async def test_odata_limit_reached_warns_once_per_paginator() -> None:
    base = f"{MESSAGES}?$top=1"
    limited = {"X-Warning-LimitReached": "true"}
    script = Script(
        {
            base: httpx.Response(200, json=hal_list("messages", ["a"]), headers=limited),
            f"{base}&$skip=1": httpx.Response(
                200, json=hal_list("messages", ["b"]), headers=limited
            ),
            f"{base}&$skip=2": hal_list("messages", []),
        }
    )
    async with script.client() as http:
        with pytest.warns(LimitReachedWarning, match="dateFrom/dateTo") as record:
            items = [i async for i in Paginator(http, MESSAGES, ODataPaging(1, "messages"))]
    assert names(items) == ["a", "b"]
    assert len(record) == 1
    warning = record[0].message
    assert isinstance(warning, LimitReachedWarning)
    assert warning.url == base


async def test_limit_reached_raised_as_an_error_keeps_the_position() -> None:
    limited = httpx.Response(
        200, json=hal_list("messages", ["a"]), headers={"X-Warning-LimitReached": "1"}
    )
    url = f"{MESSAGES}?$top=5"
    script = Script({url: limited})
    async with script.client() as http:
        paginator = Paginator(http, MESSAGES, ODataPaging(5, "messages"))
        # pytest turns warnings into errors here; the page must not be lost to it.
        with pytest.raises(LimitReachedWarning):
            await anext(paginator)
        assert paginator.position == url
        assert (await anext(paginator))["Name"] == "a"  # no second warning for this paginator


async def test_odata_without_rel_takes_the_only_relation() -> None:
    script = Script({f"{MESSAGES}?$top=50": hal_list("messages", ["a"])})
    async with script.client() as http:
        assert names([i async for i in Paginator(http, MESSAGES, ODataPaging())]) == ["a"]


async def test_odata_without_rel_refuses_to_guess() -> None:
    body = hal_list("messages", ["a"])
    body["_embedded"]["other"] = []
    script = Script({f"{MESSAGES}?$top=50": body})
    async with script.client() as http:
        with pytest.raises(PaginationError, match="several relations"):
            [i async for i in Paginator(http, MESSAGES, ODataPaging())]


@pytest.mark.parametrize(
    "body", [{"_embedded": {"messages": [1]}}, [{"Name": "a"}, "b"], "text", 5]
)
async def test_odata_malformed_pages(body: Any) -> None:
    script = Script({f"{MESSAGES}?$top=50": body})
    async with script.client() as http:
        with pytest.raises(PaginationError):
            [i async for i in Paginator(http, MESSAGES, ODataPaging(rel="messages"))]


def test_odata_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="page_size"):
        ODataPaging(0)
    with pytest.raises(ConfigurationError, match=r"\$skip"):
        Paginator(httpx.AsyncClient(), f"{MESSAGES}?$skip=-1", ODataPaging())
    with pytest.raises(ConfigurationError, match=r"\$skip"):
        Paginator(httpx.AsyncClient(), f"{MESSAGES}?$skip=x", ODataPaging())


# --- BodyNextField and NextHeader ---------------------------------------------------------------

INSTANCES = f"{PLATFORM}/storage/api/v1/instances"


async def test_body_next_field() -> None:
    second = f"{INSTANCES}?org=ttd&continuationToken=638%253B12"
    script = Script(
        {
            f"{INSTANCES}?org=ttd": {
                "count": 2,
                "next": second,
                "instances": [{"id": "1/a"}, {"id": "1/b"}],
            },
            second: {"count": 1, "next": None, "instances": [{"id": "1/c"}]},
        }
    )
    async with script.client() as http:
        paginator = Paginator(http, f"{INSTANCES}?org=ttd", BodyNextField("instances"))
        pages = [page async for page in paginator.pages()]
    assert_type(pages[0].items, list[dict[str, Any]])
    assert [[i["id"] for i in p.items] for p in pages] == [["1/a", "1/b"], ["1/c"]]
    assert pages[0].next == second  # the double-encoded token, verbatim
    assert script.urls[1] == second


async def test_body_next_field_with_other_keys() -> None:
    script = Script(
        {
            f"{PLATFORM}/a": {"results": [{"n": 1}], "nextLink": f"{PLATFORM}/b"},
            f"{PLATFORM}/b": {"results": [{"n": 2}], "nextLink": ""},
        }
    )
    async with script.client() as http:
        rule = BodyNextField("results", next_key="nextLink")
        assert [i["n"] async for i in Paginator(http, f"{PLATFORM}/a", rule)] == [1, 2]


EVENTS = f"{PLATFORM}/events/api/v1/app/ttd/apps-test"


def events(*ids: str, next_url: str | None = None) -> httpx.Response:
    body = [{"specversion": "1.0", "id": i, "type": "app.instance.created"} for i in ids]
    headers = {} if next_url is None else {"next": next_url}
    return httpx.Response(200, json=body, headers=headers)


async def test_next_header_until_an_empty_array() -> None:
    first = f"{EVENTS}?from=2023-02-16T18:00Z&size=2"
    after_b = f"{EVENTS}?after=b&from=2023-02-16T18:00Z&size=2"
    after_c = f"{EVENTS}?after=c&from=2023-02-16T18:00Z&size=2"
    script = Script(
        {
            first: events("a", "b", next_url=after_b),
            after_b: events("c", next_url=after_c),
            # A last page with a next header anyway: [] ends the feed regardless.
            after_c: events(next_url=f"{EVENTS}?after=c&size=2&x=1"),
        }
    )
    async with script.client() as http:
        paginator = Paginator(http, first, NextHeader())
        pages = [page async for page in paginator.pages()]
    assert [[e["id"] for e in p.items] for p in pages] == [["a", "b"], ["c"], []]
    # The empty last page's URL is where the feed continues later.
    assert pages[-1].url == after_c
    assert pages[-1].headers["next"].endswith("x=1")
    assert paginator.position is None
    assert len(script.requests) == 3


async def test_next_header_missing_on_a_full_page_ends_the_list() -> None:
    script = Script({EVENTS: events("a")})
    async with script.client() as http:
        assert [e["id"] async for e in Paginator(http, EVENTS, NextHeader())] == ["a"]


@pytest.mark.parametrize("body", [{"events": []}, [1], [{"id": "a"}, None]])
async def test_next_header_malformed_pages(body: Any) -> None:
    script = Script({EVENTS: body})
    async with script.client() as http:
        with pytest.raises(PaginationError, match="not a list of objects"):
            [e async for e in Paginator(http, EVENTS, NextHeader())]


# --- the paginator: budget, positions, guards, errors ------------------------------------------


def numbered(count: int, page_size: int) -> dict[str, Any]:
    """Storage-style pages p0, p1, ... of page_size items each (the last one short)."""
    pages: dict[str, Any] = {}
    starts = range(0, count, page_size)
    for number, start in enumerate(starts):
        more = number + 1 < len(starts)
        pages[f"{PLATFORM}/p{number}"] = {
            "items": [{"n": n} for n in range(start, min(count, start + page_size))],
            "next": f"{PLATFORM}/p{number + 1}" if more else None,
        }
    return pages


RULE = BodyNextField("items")


async def test_max_items_stops_mid_page_without_fetching_more() -> None:
    script = Script(numbered(10, 3))
    async with script.client() as http:
        paginator = Paginator(http, f"{PLATFORM}/p0", RULE, max_items=4)
        assert [i["n"] async for i in paginator] == [0, 1, 2, 3]
        assert [i["n"] async for i in paginator] == []  # stays done
        assert script.urls == [f"{PLATFORM}/p0", f"{PLATFORM}/p1"]
        assert paginator.position == f"{PLATFORM}/p1"  # item 4 and 5 are still on p1


async def test_max_items_on_a_page_boundary_fetches_no_further_page() -> None:
    script = Script(numbered(10, 3))
    async with script.client() as http:
        paginator = Paginator(http, f"{PLATFORM}/p0", RULE, max_items=3)
        assert len([i async for i in paginator]) == 3
    assert script.urls == [f"{PLATFORM}/p0"]
    assert paginator.position == f"{PLATFORM}/p1"


async def test_max_items_cuts_pages() -> None:
    script = Script(numbered(10, 3))
    async with script.client() as http:
        paginator = Paginator(http, f"{PLATFORM}/p0", RULE, max_items=5)
        pages = [page async for page in paginator.pages()]
    assert [[i["n"] for i in page.items] for page in pages] == [[0, 1, 2], [3, 4]]
    assert pages[1].url == f"{PLATFORM}/p1"
    assert len(script.requests) == 2


async def test_max_items_zero_sends_nothing() -> None:
    script = Script(numbered(10, 3))
    async with script.client() as http:
        assert [i async for i in Paginator(http, f"{PLATFORM}/p0", RULE, max_items=0)] == []
    assert script.requests == []
    with pytest.raises(ConfigurationError, match="max_items"):
        Paginator(httpx.AsyncClient(), f"{PLATFORM}/p0", RULE, max_items=-1)


async def test_resume_from_a_saved_position() -> None:
    script = Script(numbered(10, 3))
    async with script.client() as http:
        paginator = Paginator(http, f"{PLATFORM}/p0", RULE)
        first = [await anext(paginator) for _ in range(4)]
        saved = paginator.position
        assert saved == f"{PLATFORM}/p1"
        resumed = Paginator(http, f"{PLATFORM}/p0", RULE, resume_from=saved)
        rest = [i async for i in resumed]
    # At least once: item 3 was handed out from p1 before the position was saved.
    assert [i["n"] for i in first] == [0, 1, 2, 3]
    assert [i["n"] for i in rest] == [3, 4, 5, 6, 7, 8, 9]


def test_resume_from_another_origin_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="origin"):
        Paginator(
            httpx.AsyncClient(), f"{PLATFORM}/p0", RULE, resume_from="https://evil.example/p1"
        )


async def test_a_next_link_that_comes_back_is_a_pagination_error() -> None:
    script = Script(
        {
            f"{PLATFORM}/p0": {"items": [{"n": 0}], "next": f"{PLATFORM}/p1"},
            f"{PLATFORM}/p1": {"items": [{"n": 1}], "next": f"{PLATFORM}/p0"},
        }
    )
    async with script.client() as http:
        paginator = Paginator(http, f"{PLATFORM}/p0", RULE)
        seen: list[int] = []
        with pytest.raises(PaginationError, match="already fetched") as info:
            async for item in paginator:
                seen.append(item["n"])  # noqa: PERF401 - keeps what came before the error
    assert seen == [0]
    assert info.value.position == f"{PLATFORM}/p1"
    assert len(script.requests) == 2


async def test_a_page_linking_to_itself_is_a_pagination_error() -> None:
    script = Script({f"{PLATFORM}/p0": {"items": [], "next": f"{PLATFORM}/p0"}})
    async with script.client() as http:
        with pytest.raises(PaginationError, match="already fetched"):
            [page async for page in Paginator(http, f"{PLATFORM}/p0", RULE).pages()]
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/p1",
        "http://platform.example/p1",
        "https://platform.example:8443/p1",
        "//evil.example/x",
    ],
)
async def test_a_next_link_to_another_origin_is_not_followed(next_url: str) -> None:
    script = Script({f"{PLATFORM}/p0": {"items": [{"n": 0}], "next": next_url}})
    async with script.client() as http:
        paginator = Paginator(http, f"{PLATFORM}/p0", RULE)
        with pytest.raises(PaginationError, match="another origin") as info:
            await anext(paginator)
    assert info.value.position == f"{PLATFORM}/p0"
    assert len(script.requests) == 1


async def test_an_error_status_keeps_the_position_and_the_paginator_can_go_on() -> None:
    pages = numbered(6, 2)
    good = pages[f"{PLATFORM}/p1"]
    pages[f"{PLATFORM}/p1"] = httpx.Response(
        503, json={"title": "Service Unavailable"}, headers={"Retry-After": "3"}
    )
    script = Script(pages)
    async with script.client() as http:
        paginator = Paginator(http, f"{PLATFORM}/p0", RULE)
        seen: list[int] = []
        with pytest.raises(APIError) as info:
            async for item in paginator:
                seen.append(item["n"])  # noqa: PERF401 - keeps what came before the error
        assert info.value.status_code == 503
        assert info.value.retry_after == 3.0
        assert seen == [0, 1]
        assert paginator.position == f"{PLATFORM}/p1"
        script.pages[f"{PLATFORM}/p1"] = good  # the fault clears: the same object carries on
        seen += [item["n"] async for item in paginator]
    assert seen == [0, 1, 2, 3, 4, 5]


async def test_an_html_login_page_is_a_pagination_error_with_a_hint() -> None:
    login = httpx.Response(200, html="<html>Logg inn</html>")
    script = Script({MESSAGES + "?$top=50": login})
    async with script.client() as http:
        with pytest.raises(PaginationError, match="authenticated") as info:
            await anext(Paginator(http, MESSAGES, ODataPaging()))
    assert info.value.position == MESSAGES + "?$top=50"


def test_a_relative_url_needs_a_base_url() -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        Paginator(httpx.AsyncClient(), "/api/my/messages", ODataPaging())


async def test_pages_after_items_hand_out_the_rest_of_the_page() -> None:
    script = Script(numbered(5, 3))
    async with script.client() as http:
        paginator = Paginator(http, f"{PLATFORM}/p0", RULE)
        assert (await anext(paginator))["n"] == 0
        pages = [[i["n"] for i in page.items] async for page in paginator.pages()]
    assert pages == [[1, 2], [3, 4]]


async def test_a_rule_of_your_own() -> None:
    @attrs.frozen
    class Cursor:
        """A made-up style: ``{"data": [...], "cursor": "..."}`` and ``?cursor=``."""

        def start(self, url: httpx.URL) -> httpx.URL:
            return url.copy_set_param("limit", "2")

        def parse(self, response: httpx.Response, url: httpx.URL) -> PageContent[int]:
            body: Mapping[str, Any] = response.json()
            cursor = body.get("cursor")
            next_url = None if cursor is None else url.copy_set_param("cursor", cursor)
            return PageContent(items=body["data"], next=next_url, continuation_token=cursor)

    script = Script(
        {
            f"{PLATFORM}/n?limit=2": {"data": [1, 2], "cursor": "c1"},
            f"{PLATFORM}/n?limit=2&cursor=c1": {"data": [3]},
        }
    )
    async with script.client() as http:
        paginator = Paginator(http, f"{PLATFORM}/n", Cursor())
        assert_type(paginator, Paginator[int])
        assert [n async for n in paginator] == [1, 2, 3]


JSON = {"Content-Type": "application/json; charset=utf-8"}


async def test_a_json_page_cut_short_is_fetched_again() -> None:
    answers = [
        httpx.Response(200, content=b'{"instances": [{"id": "1/a"}', headers=JSON),
        httpx.Response(200, json={"instances": [{"id": "1/a"}], "next": None}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        pager = Paginator(
            http,
            "https://platform.example/list",
            BodyNextField("instances"),
            retry=RetryPolicy(backoff=0.001),
        )
        assert [i["id"] async for i in pager] == ["1/a"]
    assert answers == []


async def test_a_page_that_is_not_json_at_all_is_not_fetched_again() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            200, text="<html>log in</html>", headers={"Content-Type": "text/html"}
        )

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        pager = Paginator(http, "https://platform.example/list", BodyNextField("instances"))
        with pytest.raises(PaginationError, match="HTML page"):
            [i async for i in pager]
    assert calls == 1


async def test_a_json_page_that_never_parses_gives_up_after_the_policy() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, content=b'{"instances": [', headers=JSON)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        pager = Paginator(
            http,
            "https://platform.example/list",
            BodyNextField("instances"),
            retry=RetryPolicy(attempts=3, backoff=0.001),
        )
        with pytest.raises(PaginationError, match="did not answer JSON"):
            [i async for i in pager]
    assert calls == 3


# --- KeysetPaging (Dialogporten) ---------------------------------------------------------------


def keyset(ids: list[str], token: str | None, *, more: bool) -> dict[str, Any]:
    return {
        "items": [{"id": i} for i in ids],
        "hasNextPage": more,
        "continuationToken": token,
        "orderBy": "createdat_asc,id_asc",
    }


async def test_keyset_resends_the_query_with_the_token_until_has_next_page_is_false() -> None:
    first = f"{PLATFORM}/dialogs?party=a&party=b&orderBy=createdAt_asc%2Cid_asc&limit=2"
    second = f"{first}&continuationToken=id_2"
    third = f"{first}&continuationToken=id_4"
    script = Script(
        {
            first: keyset(["1", "2"], "id_2", more=True),
            second: keyset(["3", "4"], "id_4", more=True),
            # The last page carries a token too: only hasNextPage says it is the last.
            third: keyset(["5"], "id_5", more=False),
        }
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        paginator = Paginator(http, first, KeysetPaging())
        pages = [page async for page in paginator.pages()]
    assert [[item["id"] for item in page.items] for page in pages] == [
        ["1", "2"],
        ["3", "4"],
        ["5"],
    ]
    assert script.urls == [first, second, third]
    assert [page.continuation_token for page in pages] == ["id_2", "id_4", "id_5"]
    assert pages[-1].next is None
    assert paginator.position is None


async def test_keyset_replaces_the_token_and_keeps_every_other_parameter_as_sent() -> None:
    first = f"{PLATFORM}/dialogs?updatedAfter=2026-01-01T00%3A00%3A00Z&continuationToken=old"
    second = f"{PLATFORM}/dialogs?updatedAfter=2026-01-01T00%3A00%3A00Z&continuationToken=n%2C1"
    script = Script({first: keyset(["1"], "n,1", more=True), second: keyset([], "n,1", more=False)})
    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        assert [item["id"] async for item in Paginator(http, first, KeysetPaging())] == ["1"]
    assert script.urls == [first, second]


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"items": [{"id": "1"}]},  # no hasNextPage
        {"items": [{"id": "1"}], "hasNextPage": "yes", "continuationToken": "t"},
        {"items": [{"id": "1"}], "hasNextPage": True, "continuationToken": None},
        {"items": [], "hasNextPage": True, "continuationToken": "t"},  # would loop
        {"items": "x", "hasNextPage": False},
        {"items": [{"id": "1"}], "hasNextPage": False, "continuationToken": 5},
    ],
)
async def test_keyset_malformed_pages(body: Any) -> None:
    script = Script({f"{PLATFORM}/d": body})
    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        with pytest.raises(PaginationError) as caught:
            [item async for item in Paginator(http, f"{PLATFORM}/d", KeysetPaging())]
    assert caught.value.position == f"{PLATFORM}/d"


async def test_keyset_token_that_comes_back_again_is_a_loop_not_an_endless_list() -> None:
    first = f"{PLATFORM}/d"
    script = Script(
        {
            first: keyset(["1"], "t", more=True),
            f"{first}?continuationToken=t": keyset(["2"], "t", more=True),
        }
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(script)) as http:
        with pytest.raises(PaginationError, match="already fetched"):
            [item async for item in Paginator(http, first, KeysetPaging())]
