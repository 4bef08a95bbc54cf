"""The Dialogporten client: the search's wire form, orderBy and tokens as Dialogporten applies
them, typed dialogs, and the dialog token's auth (against scripted answers; the emulator tests
are in test_messaging.py)."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

import altinn_async as altinn

PLATFORM = "https://platform.tt02.altinn.no"
DIALOGS = f"{PLATFORM}/dialogporten/api/v1/enduser/dialogs"
ORG = "urn:altinn:organization:identifier-no:312345678"
PERSON = "urn:altinn:person:identifier-no:24917298544"


def test_order_by_is_normalised_as_dialogporten_applies_it() -> None:
    assert altinn.normalize_order_by("createdAt_asc") == "createdat_asc,id_desc"
    assert altinn.normalize_order_by("createdAt_asc,id_asc") == "createdat_asc,id_asc"
    assert altinn.normalize_order_by("id_asc") == "contentupdatedat_desc,id_asc"
    assert altinn.normalize_order_by("id_asc,updatedAt") == "updatedat_desc,id_asc"
    assert altinn.normalize_order_by("DueAt_ASC") == "dueat_asc,id_desc"
    for bad in ("name_asc", "createdAt_up", "createdAt,createdAt_asc", ""):
        with pytest.raises(altinn.ConfigurationError):
            altinn.normalize_order_by(bad)


def test_a_token_is_rebuilt_from_the_last_item_as_dialogporten_builds_it() -> None:
    item = {
        "id": "0c089101-b7cf-a476-955c-f00a78d74a4e",
        "createdAt": "2024-07-31T09:09:03.0257090Z",
        "dueAt": None,
    }
    assert altinn.continuation_token_for(item, "createdAt_asc,id_asc") == (
        "createdat_2024-07-31T09:09:03.0257090Z,id_0c089101-b7cf-a476-955c-f00a78d74a4e"
    )
    assert altinn.continuation_token_for(item, "dueAt_asc").startswith("dueat_,id_0c08")
    with pytest.raises(altinn.ConfigurationError, match="updatedAt"):
        altinn.continuation_token_for(item, "updatedAt_asc")


class Script:
    def __init__(self, answer: Any = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or {"items": [], "hasNextPage": False, "continuationToken": None}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=self.answer)


async def test_the_search_sends_every_filter_in_dialogportens_form() -> None:
    script = Script()
    async with httpx.AsyncClient(transport=httpx.MockTransport(script), base_url=PLATFORM) as http:
        dialogporten = altinn.Dialogporten(http)
        pager = dialogporten.search(
            party=["312345678", "24917298544"],
            service_resource="skd-melding",
            org=["skd"],
            status=["requiresattention", "InProgress"],
            system_label=["Archive", "MarkedAsUnopened"],
            created_after="2026-01-01T00:00:00+01:00",
            updated_before="2026-02-01T00:00:00Z",
            is_content_seen=False,
            search="vedtak",
            order_by="createdAt_asc,id_asc",
            limit=1000,
            continuation_token="createdat_2026-01-01T00:00:00.0000000Z,id_x",
        )
        assert [d async for d in pager] == []
    params = script.requests[0].url.params
    assert params.get_list("party") == [ORG, PERSON]
    assert params.get_list("serviceResource") == ["urn:altinn:resource:skd-melding"]
    assert params.get_list("status") == ["RequiresAttention", "InProgress"]
    assert params.get_list("systemLabel") == ["Archive", "MarkedAsUnopened"]
    assert params["createdAfter"] == "2025-12-31T23:00:00Z"  # UTC, no + to be mangled
    assert params["updatedBefore"] == "2026-02-01T00:00:00Z"
    assert params["isContentSeen"] == "false"
    assert (params["orderBy"], params["limit"]) == ("createdAt_asc,id_asc", "1000")
    assert params["continuationToken"].startswith("createdat_2026")


async def test_the_search_refuses_what_dialogporten_would_refuse_before_sending() -> None:
    async with httpx.AsyncClient(base_url=PLATFORM) as http:
        dialogporten = altinn.Dialogporten(http)
        cases: list[dict[str, Any]] = [
            {},  # neither party nor service resource
            {"party": "1234"},
            {"party": ["312345678"] * 101},
            {"party": ORG, "status": "Done"},
            {"party": ORG, "search": "ab"},
            {"party": ORG, "limit": 0},
            {"party": ORG, "limit": 1001},
            {"party": ORG, "created_after": "2026-01-01T00:00:00"},  # no zone
            {"party": ORG, "order_by": "title_asc"},
            {"party": ORG, "order_by": "createdAt_asc,id_asc", "continuation_token": "id_x"},
        ]
        for case in cases:
            with pytest.raises(altinn.ConfigurationError):
                dialogporten.search(**case)


def dialog_document(**extra: Any) -> dict[str, Any]:
    corr = f"{PLATFORM}/correspondence/api/v1/correspondence/0198aaaa-0000-7000-8000-000000000001"
    return {
        "id": "0198bbbb-0000-7000-8000-000000000002",
        "org": "skd",
        "party": PERSON,
        "revision": "rev-1",
        "createdAt": "2026-08-20T10:11:12.1234567Z",
        "updatedAt": "2026-08-20T10:11:13.0000001Z",
        "serviceResourceType": "CorrespondenceService",
        "content": {
            "title": {
                "value": [
                    {"languageCode": "en", "value": "Decision"},
                    {"languageCode": "nb", "value": "Vedtak"},
                ],
                "mediaType": "text/plain",
            }
        },
        "dialogToken": "header.payload.signature",
        "apiActions": [
            {
                "name": "downloadCorrespondenceAttachment",
                "action": "read",
                "endpoints": [{"url": f"{corr}/attachment/a1/download", "httpMethod": "GET"}],
            },
            {"name": "getCorrespondence", "action": "read", "endpoints": [{"url": corr}]},
        ],
        "attachments": [
            {
                "id": "a1",
                "name": "vedtak.pdf",
                "urls": [{"url": "urn:dialogporten:expired", "consumerType": "Gui"}],
            }
        ],
        **extra,
    }


def test_a_dialog_reads_its_texts_in_the_preferred_language_and_hides_its_token() -> None:
    dialog = altinn.Dialog.read(dialog_document())
    assert dialog.title == "Vedtak"  # nb before en by default
    assert dialog.content["title"].text("en") == "Decision"
    assert dialog.content["title"].text(["sv", "fr"]) == "Decision"  # any, rather than none
    english = altinn.Dialog.read(dialog_document(), ("en",))
    assert english.title == "Decision"
    assert dialog.correspondence_id == "0198aaaa-0000-7000-8000-000000000001"
    assert dialog.attachments[0].urls[0].expired
    assert dialog.created_at is not None
    assert dialog.created_at.microsecond == 123456
    assert dialog.raw_time("createdAt") == "2026-08-20T10:11:12.1234567Z"
    assert dialog.token == "header.payload.signature"
    assert "header.payload" not in repr(dialog)
    assert "dialogToken" not in dialog.archived_document()
    assert "24917298544" not in repr(dialog)


def token(**claims: Any) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'EdDSA'})}.{part(claims)}.c2ln"


async def test_the_dialog_token_goes_only_to_its_platform_and_not_once_expired() -> None:
    seen: list[tuple[str, str | None]] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("Authorization")))
        return httpx.Response(200)

    now = time.time()
    issued = token(iss=f"{PLATFORM}/dialogporten/api/v1", exp=now + 600, i="d1")
    auth = altinn.DialogTokenAuth(issued)
    assert issued not in repr(auth)
    async with httpx.AsyncClient(transport=httpx.MockTransport(record), auth=auth) as http:
        await http.get(f"{PLATFORM}/correspondence/api/v1/correspondence/x")
        await http.get("https://example.com/elsewhere")
    assert seen == [("platform.tt02.altinn.no", f"Bearer {issued}"), ("example.com", None)]

    late = altinn.DialogTokenAuth(issued, clock=lambda: now + 601)
    async with httpx.AsyncClient(transport=httpx.MockTransport(record), auth=late) as http:
        with pytest.raises(altinn.ConfigurationError, match="expired"):
            await http.get(f"{PLATFORM}/correspondence/api/v1/correspondence/x")
    with pytest.raises(altinn.ConfigurationError):
        altinn.DialogTokenAuth("not a token")
    with pytest.raises(altinn.ConfigurationError, match="origin"):
        altinn.DialogTokenAuth(token(exp=now + 600))


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"id": None}, "$.id"),
        ({"createdAt": "yesterday"}, "$.createdAt"),
        ({"isApiOnly": "no"}, "$.isApiOnly"),
        ({"attachments": [{"id": "a", "urls": [{"url": 5}]}]}, "$.attachments[0].urls[0].url"),
        ({"content": {"title": {"value": [{"value": "no language"}]}}}, "$.content.title.value[0]"),
        ({"transmissions": "none"}, "$.transmissions"),
    ],
)
def test_a_malformed_dialog_is_a_typed_error_naming_the_place(
    change: dict[str, Any], path: str
) -> None:
    with pytest.raises(altinn.ResponseFormatError) as caught:
        altinn.Dialog.read(dialog_document(**change))
    assert caught.value.path.startswith(path)


async def test_a_malformed_search_item_is_a_pagination_error_at_its_page() -> None:
    script = Script(
        {"items": [{"id": "ok"}, {"id": 7}], "hasNextPage": False, "continuationToken": None}
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(script), base_url=PLATFORM) as http:
        pager = altinn.Dialogporten(http).search(party=ORG)
        with pytest.raises(altinn.PaginationError, match=r"\$\.items\[1\]\.id") as caught:
            [d async for d in pager]
    assert caught.value.position == str(script.requests[0].url)


async def test_a_failing_page_of_a_persons_search_names_no_national_identity_number() -> None:
    script = Script({"items": [{"id": 7}], "hasNextPage": False, "continuationToken": None})
    async with httpx.AsyncClient(transport=httpx.MockTransport(script), base_url=PLATFORM) as http:
        pager = altinn.Dialogporten(http).search(party="24917298544")
        with pytest.raises(altinn.PaginationError) as caught:
            [d async for d in pager]
    assert "24917298544" in str(script.requests[0].url)  # the query must carry it
    assert "24917298544" not in str(caught.value)
    assert "249172*****" in str(caught.value)
    assert caught.value.position == str(script.requests[0].url)  # to resume from, as it was
