"""Dialogporten's keyset paging (``altinn3-messaging.md`` §2.4): the orderBy grammar and its
normalisation, the plaintext continuation token, full walks in several orders (ties, nulls,
hidden dialogs, an update mid-walk), resuming from a hand-built token, and the 400s."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import Emulator

from .conftest import Clock
from .dialogporten_support import (
    CUSTOMER,
    CUSTOMER_URN,
    RESOURCE,
    assert_problem,
    maskinporten,
    page_of,
    search,
)

T0 = 1_722_416_943.025709  # 2024-07-31T09:09:03.025709Z
TOKEN_PART = re.compile(
    r"(createdat|updatedat|contentupdatedat|dueat)_(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z)?"
    r"|id_[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


@pytest.fixture
async def token(emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock) -> str:
    """A raw Maskinporten token of the system user of the customer organisation."""
    return await maskinporten(emu, http, client_key, clock)


def o(seconds: float) -> str:
    """.NET's ``o`` of a UTC time: seven fractional digits and ``Z``."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def add(emu: Emulator, created: float, **options: Any) -> str:
    return emu.add_dialog(
        CUSTOMER, service_resource=RESOURCE, title="Melding", created_at=created, **options
    )


async def walk(
    http: httpx.AsyncClient, token: str, params: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every item and every page body of a walk ``while hasNextPage``."""
    body = await page_of(http, token, {"party": CUSTOMER_URN, **params})
    pages = [body]
    while body["hasNextPage"]:
        body = await page_of(
            http,
            token,
            {"party": CUSTOMER_URN, **params, "continuationToken": body["continuationToken"]},
        )
        pages.append(body)
    return [item for page in pages for item in page["items"]], pages


# -- orderBy -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_by", "echo"),
    [
        (None, "contentupdatedat_desc,id_desc"),
        ("createdAt_asc", "createdat_asc,id_desc"),
        ("id_asc", "contentupdatedat_desc,id_asc"),
        ("id", "contentupdatedat_desc,id_desc"),
        ("id_asc,dueAt", "dueat_desc,id_asc"),
        ("UPDATEDAT_ASC", "updatedat_asc,id_desc"),
        ("createdAt_asc, updatedAt_desc", "createdat_asc,updatedat_desc,id_desc"),
        ("createdAt_ASC,id_asc", "createdat_asc,id_asc"),
    ],
)
async def test_order_by_is_normalised_and_echoed_lower_case(
    emu: Emulator, http: httpx.AsyncClient, token: str, order_by: str | None, echo: str
) -> None:
    add(emu, T0)
    params = {"party": CUSTOMER_URN, **({"orderBy": order_by} if order_by else {})}
    body = await page_of(http, token, params)
    assert body["orderBy"] == echo
    assert len(body["items"]) == 1


@pytest.mark.parametrize(
    "order_by", ["subject", "createdAt_up", "createdAt,createdat_asc", "createdAt_asc_x", "id_"]
)
async def test_an_unknown_or_repeated_order_key_is_a_400(
    http: httpx.AsyncClient, token: str, order_by: str
) -> None:
    response = await search(http, token, {"party": CUSTOMER_URN, "orderBy": order_by})
    assert_problem(response, 400, "orderBy", order_by)


# -- the token ---------------------------------------------------------------------------------


async def test_the_token_is_the_last_items_sort_values(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    first = add(emu, T0)
    add(emu, T0 + 60)
    body = await page_of(
        http, token, {"party": CUSTOMER_URN, "orderBy": "createdAt_asc", "limit": 1}
    )
    assert [i["id"] for i in body["items"]] == [first]
    assert body["items"][0]["createdAt"] == "2024-07-31T09:09:03.0257090Z"
    assert body["continuationToken"] == f"createdat_2024-07-31T09:09:03.0257090Z,id_{first}"
    assert body["hasNextPage"] is True
    # The default order's token carries contentupdatedat (= createdAt here) and the id.
    body = await page_of(http, token, {"party": CUSTOMER_URN, "limit": 1})
    assert body["continuationToken"].startswith(f"contentupdatedat_{o(T0 + 60)},id_")


async def test_the_last_page_has_a_token_and_an_empty_page_echoes_it(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    ids = [add(emu, T0 + n) for n in range(3)]
    params = {"party": CUSTOMER_URN, "orderBy": "createdAt_asc,id_asc", "limit": 3}
    last = await page_of(http, token, params)
    assert [i["id"] for i in last["items"]] == ids
    assert last["hasNextPage"] is False
    assert last["continuationToken"] == f"createdat_{o(T0 + 2)},id_{ids[2]}"
    # Resuming from it later: nothing new yet, and the token comes back as it was sent.
    empty = await page_of(http, token, {**params, "continuationToken": last["continuationToken"]})
    assert empty == {
        "items": [],
        "hasNextPage": False,
        "continuationToken": last["continuationToken"],
        "orderBy": "createdat_asc,id_asc",
    }
    # A newer dialog is found from the same token.
    newer = add(emu, T0 + 10)
    resumed = await page_of(http, token, {**params, "continuationToken": last["continuationToken"]})
    assert [i["id"] for i in resumed["items"]] == [newer]


async def test_an_empty_first_page_has_no_token(http: httpx.AsyncClient, token: str) -> None:
    body = await page_of(http, token, {"party": CUSTOMER_URN})
    # Null members are omitted (WhenWritingNull).
    assert body == {"items": [], "hasNextPage": False, "orderBy": "contentupdatedat_desc,id_desc"}


async def test_resuming_from_a_token_built_by_hand(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    ids = [add(emu, T0 + n * 0.5) for n in range(10)]
    # The checkpoint of the 4th dialog, as a client would have stored it.
    checkpoint = f"createdat_{o(T0 + 1.5)},id_{ids[3]}"
    body = await page_of(
        http,
        token,
        {
            "party": CUSTOMER_URN,
            "orderBy": "createdAt_asc,id_asc",
            "limit": 4,
            "continuationToken": checkpoint,
        },
    )
    assert [i["id"] for i in body["items"]] == ids[4:8]
    # Keys in any case and order, times with an offset, ids without hyphens all parse.
    loose = f"ID_{uuid.UUID(ids[3]).hex},CreatedAt_2024-07-31T11:09:04.525709+02:00"
    again = await page_of(
        http,
        token,
        {
            "party": CUSTOMER_URN,
            "orderBy": "createdAt_asc,id_asc",
            "limit": 4,
            "continuationToken": loose,
        },
    )
    assert [i["id"] for i in again["items"]] == ids[4:8]


async def test_a_token_without_an_order_key_is_a_400(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    add(emu, T0)
    add(emu, T0 + 1)
    body = await page_of(http, token, {"party": CUSTOMER_URN, "limit": 1})
    # The default order's token does not fit createdAt (the order must be re-sent).
    response = await search(
        http,
        token,
        {
            "party": CUSTOMER_URN,
            "orderBy": "createdAt_asc",
            "continuationToken": body["continuationToken"],
        },
    )
    assert_problem(
        response,
        400,
        "continuationToken",
        "ContinuationToken does not match OrderBy. Missing token keys: [createdAt].",
    )
    # A token from createdAt, sent without orderBy, lacks the default's key.
    created = await page_of(
        http, token, {"party": CUSTOMER_URN, "orderBy": "createdAt_desc", "limit": 1}
    )
    response = await search(
        http, token, {"party": CUSTOMER_URN, "continuationToken": created["continuationToken"]}
    )
    assert_problem(response, 400, "continuationToken", "Missing token keys: [contentUpdatedAt].")


@pytest.mark.parametrize(
    "value",
    [
        "nonsense",
        "createdat_yesterday,id_0c089101-b7cf-a476-955c-f00a78d74a4e",
        "createdat_,id_0c089101-b7cf-a476-955c-f00a78d74a4e",
        "id_0c089101-b7cf-a476-955c-f00a78d74a4e,id_0c089101-b7cf-a476-955c-f00a78d74a4f",
        "subject_x,id_0c089101-b7cf-a476-955c-f00a78d74a4e",
        "id_not-a-guid",
        "createdat_2024-07-31T09:09:03Z_x,id_0c089101-b7cf-a476-955c-f00a78d74a4e",
    ],
)
async def test_a_malformed_token_is_a_400(http: httpx.AsyncClient, token: str, value: str) -> None:
    response = await search(
        http,
        token,
        {"party": CUSTOMER_URN, "orderBy": "createdAt_asc", "continuationToken": value},
    )
    assert_problem(response, 400, "continuationToken", value)


@pytest.mark.parametrize("limit", ["0", "1001", "-1"])
async def test_limit_is_1_to_1000(http: httpx.AsyncClient, token: str, limit: str) -> None:
    response = await search(http, token, {"party": CUSTOMER_URN, "limit": limit})
    assert_problem(response, 400, "limit", "'Limit' must be between 1 and 1000.")


async def test_limit_defaults_to_100_and_may_be_1000(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    emu.generate_dialogs(CUSTOMER, 1001, service_resource=RESOURCE, attachments_per_dialog=(0, 0))
    assert len((await page_of(http, token, {"party": CUSTOMER_URN}))["items"]) == 100
    full = await page_of(http, token, {"party": CUSTOMER_URN, "limit": 1000})
    assert len(full["items"]) == 1000
    assert full["hasNextPage"] is True
    response = await search(http, token, {"party": CUSTOMER_URN, "limit": "ten"})
    assert_problem(response, 400, "limit", "ten")


# -- walks -------------------------------------------------------------------------------------


async def test_a_keyset_walk_yields_every_visible_dialog_once_in_order(
    emu: Emulator, http: httpx.AsyncClient, token: str, clock: Clock
) -> None:
    now = clock.now
    visible: list[tuple[float, str]] = []
    for n in range(240):
        created = now - 10_000 + (n // 3)  # three dialogs per second: ties on createdAt
        visible.append((created, add(emu, created)))
    deleted = add(emu, now - 5000)
    emu.delete_dialog(deleted)
    add(emu, now - 4000, visible_from=now + 60)
    add(emu, now - 3000, expires_at=now - 1)
    expected = [i for _, i in sorted(visible, key=lambda p: (p[0], uuid.UUID(p[1]).int))]
    items, pages = await walk(http, token, {"orderBy": "createdAt_asc,id_asc", "limit": 7})
    assert [i["id"] for i in items] == expected
    assert all(len(p["items"]) == 7 for p in pages[:-1])
    assert len(pages) == -(-240 // 7)
    assert pages[-1]["hasNextPage"] is False
    assert pages[-1]["continuationToken"] is not None
    for page in pages:
        assert all(TOKEN_PART.fullmatch(part) for part in page["continuationToken"].split(","))


async def test_ties_are_broken_by_id_in_its_own_direction(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    ids = [add(emu, T0) for _ in range(5)]
    by_id = sorted(ids, key=lambda i: uuid.UUID(i).int)
    # createdAt_asc appends id_desc.
    items, _ = await walk(http, token, {"orderBy": "createdAt_asc", "limit": 2})
    assert [i["id"] for i in items] == by_id[::-1]
    items, _ = await walk(http, token, {"orderBy": "createdAt_desc,id_asc", "limit": 2})
    assert [i["id"] for i in items] == by_id


async def test_descending_walks_and_the_default_order(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    ids = [add(emu, T0 + n, updated_at=T0 + 1000 - n) for n in range(30)]
    items, _ = await walk(http, token, {"limit": 4})  # contentUpdatedAt = updatedAt, desc
    assert [i["id"] for i in items] == ids
    items, _ = await walk(http, token, {"orderBy": "updatedAt_asc,id_asc", "limit": 4})
    assert [i["id"] for i in items] == ids[::-1]
    items, _ = await walk(http, token, {"orderBy": "createdAt_desc", "limit": 4})
    assert [i["id"] for i in items] == ids[::-1]


async def test_null_due_dates_sort_as_postgres_does(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    due = [add(emu, T0 + n, due_at=T0 + 5000 - n) for n in range(4)]
    undated = [add(emu, T0 + 10 + n) for n in range(4)]
    undated_by_id = sorted(undated, key=lambda i: uuid.UUID(i).int)
    items, pages = await walk(http, token, {"orderBy": "dueAt_asc,id_asc", "limit": 3})
    # ASC NULLS LAST, and the walk goes on through the nulls.
    assert [i["id"] for i in items] == [*due[::-1], *undated_by_id]
    assert pages[-1]["continuationToken"] == f"dueat_,id_{undated_by_id[-1]}"
    assert "dueAt" not in items[-1]
    items, pages = await walk(http, token, {"orderBy": "dueAt_desc,id_asc", "limit": 3})
    # DESC NULLS FIRST.
    assert [i["id"] for i in items] == [*undated_by_id, *due]
    assert pages[0]["continuationToken"] == f"dueat_,id_{undated_by_id[2]}"


async def test_an_order_of_three_keys(emu: Emulator, http: httpx.AsyncClient, token: str) -> None:
    rows = [(T0 + n, T0 + 100 * (n % 3) if n % 4 else None) for n in range(25)]
    ids = [add(emu, c, due_at=d) for c, d in rows]
    items, pages = await walk(
        http, token, {"orderBy": "dueAt_asc,createdAt_desc,id_asc", "limit": 4}
    )
    expected = sorted(
        zip(ids, rows, strict=True),
        key=lambda r: (r[1][1] is None, r[1][1] or 0, -r[1][0]),
    )
    assert [i["id"] for i in items] == [r[0] for r in expected]
    assert pages[0]["orderBy"] == "dueat_asc,createdat_desc,id_asc"
    assert pages[0]["continuationToken"].count(",") == 2


async def test_an_update_mid_walk_moves_the_dialog_behind_the_cursor(
    emu: Emulator, http: httpx.AsyncClient, token: str, clock: Clock
) -> None:
    now = clock.now
    ids = [add(emu, now - 1000 + n) for n in range(20)]
    params = {"party": CUSTOMER_URN, "orderBy": "updatedAt_asc,id_asc", "limit": 5}
    first = await page_of(http, token, params)
    assert [i["id"] for i in first["items"]] == ids[:5]
    emu.update_dialog(ids[2], status="Completed")  # seen already: it comes again at the end
    emu.update_dialog(ids[12], status="Completed")  # ahead: it moves to the end
    seen = [i["id"] for i in first["items"]]
    body = first
    while body["hasNextPage"]:
        body = await page_of(
            http, token, {**params, "continuationToken": body["continuationToken"]}
        )
        seen.extend(i["id"] for i in body["items"])
    assert seen == [*ids[:5], *ids[5:12], *ids[13:], ids[2], ids[12]]


async def test_walking_a_large_generated_mailbox(
    emu: Emulator, http: httpx.AsyncClient, token: str, clock: Clock
) -> None:
    made = emu.generate_dialogs(CUSTOMER, 10_000, seed=7, service_resource=RESOURCE)
    assert len(set(made)) == 10_000
    items, pages = await walk(http, token, {"orderBy": "createdAt_asc,id_asc", "limit": 1000})
    assert [i["id"] for i in items] == made
    assert len(pages) == 10
    latest, _ = await walk(http, token, {"limit": 100, "createdAfter": o(clock.now - 86_400 * 5)})
    expected = sorted(
        (i for i in items if i["createdAt"] >= o(clock.now - 86_400 * 5)),
        key=lambda i: (i["contentUpdatedAt"], uuid.UUID(i["id"]).int),
        reverse=True,
    )
    assert [i["id"] for i in latest] == [i["id"] for i in expected]
    assert latest
