"""The emulated Dialogporten (``altinn3-messaging.md`` §2, §5 items 6, 8-11): who may call it,
the search's filters, limits and authorisation, the dialog aggregate and its side effects, the
URL rewriting, dialog tokens, the service owner's search, and seeding."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet, RSAKey

from altinn_async.testing import DEFAULT_PID, Emulator

from .conftest import DIGDIR, Clock
from .dialogporten_support import (
    CUSTOMER,
    CUSTOMER_URN,
    DP,
    EXCHANGE_MP,
    RESOURCE,
    SEARCH,
    assert_problem,
    bearer,
    exchanged,
    maskinporten,
    page_of,
    person,
    search,
)

DAY = 86_400.0
PERSON_URN = f"urn:altinn:person:identifier-no:{DEFAULT_PID}"
OTHER = "310000002"
OTHER_URN = f"urn:altinn:organization:identifier-no:{OTHER}"
SUBUNIT = "310000003"
DATE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z"


@pytest.fixture
async def token(emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock) -> str:
    """A raw Maskinporten token of the customer's system user."""
    return await maskinporten(emu, http, client_key, clock)


def add(emu: Emulator, **options: Any) -> str:
    fields: dict[str, Any] = {"service_resource": RESOURCE, "title": "Melding"}
    fields.update(options)
    party = fields.pop("party", CUSTOMER)
    return emu.add_dialog(party, **fields)


def ids(body: dict[str, Any]) -> set[str]:
    return {item["id"] for item in body["items"]}


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


async def get_dialog(
    http: httpx.AsyncClient, token: str, dialog_id: str, **headers: str
) -> httpx.Response:
    return await http.get(f"{SEARCH}/{dialog_id}", headers={**bearer(token), **headers})


# -- who may call --------------------------------------------------------------------------------


async def test_without_a_token_the_answer_is_a_bare_401(http: httpx.AsyncClient) -> None:
    response = await http.get(SEARCH, params={"party": CUSTOMER_URN})
    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["www-authenticate"] == "Bearer"
    response = await http.get(SEARCH, headers=bearer("not.a.token"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_the_end_user_api_needs_the_dialogporten_scope(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    other = await maskinporten(emu, http, client_key, clock, scope="altinn:instances.read")
    response = await search(http, other, {"party": CUSTOMER_URN})
    assert response.status_code == 403
    assert response.content == b""
    noconsent = await maskinporten(
        emu, http, client_key, clock, scope="digdir:dialogporten.noconsent", client_id="nc"
    )
    assert (await search(http, noconsent, {"party": CUSTOMER_URN})).status_code == 200


async def test_a_maskinporten_token_needs_a_system_user(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    plain = await maskinporten(emu, http, client_key, clock, customer=None)
    assert (await search(http, plain, {"party": CUSTOMER_URN})).status_code == 403


async def test_exchanged_and_id_porten_tokens_are_accepted(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, idp_key: RSAKey, clock: Clock
) -> None:
    mine = add(emu)
    raw = await maskinporten(emu, http, client_key, clock)
    altinn = await exchanged(http, raw, EXCHANGE_MP)
    assert ids(await page_of(http, altinn, {"party": CUSTOMER_URN})) == {mine}
    emu.add_organization(CUSTOMER)
    emu.add_role(DEFAULT_PID, CUSTOMER)
    own = add(emu, party=DEFAULT_PID)
    idporten = await person(emu, http, idp_key, clock)
    body = await page_of(http, idporten, {"party": [CUSTOMER_URN, PERSON_URN]})
    assert ids(body) == {mine, own}


async def test_a_token_from_another_origin_is_refused(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    response = await http.get(
        f"http://elsewhere.localhost{SEARCH}", params={"party": CUSTOMER_URN}, headers=bearer(token)
    )
    assert response.status_code == 401


# -- search: validation --------------------------------------------------------------------------


async def test_party_or_service_resource_is_required(http: httpx.AsyncClient, token: str) -> None:
    response = await search(http, token)
    body = assert_problem(response, 400, "", "Either ServiceResource or Party must be specified.")
    assert body["title"] == "One or more validation errors occurred."
    assert body["type"] == "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.1"
    assert body["instance"] == "/api/v1/enduser/dialogs"


@pytest.mark.parametrize(
    ("name", "count", "limit"),
    [("party", 101, 100), ("serviceResource", 21, 20), ("org", 21, 20), ("extendedStatus", 21, 20)],
)
async def test_list_parameters_have_limits(
    http: httpx.AsyncClient, token: str, name: str, count: int, limit: int
) -> None:
    def value(n: int) -> str:
        if name == "party":
            return f"urn:altinn:organization:identifier-no:{310_100_000 + n}"
        return f"urn:altinn:resource:r{n}" if name == "serviceResource" else f"v{n}"

    base = {"party": CUSTOMER_URN} if name != "party" else {}
    ok = await search(http, token, {**base, name: [value(n) for n in range(limit)]})
    assert ok.status_code == 200, ok.text
    response = await search(http, token, {**base, name: [value(n) for n in range(count)]})
    assert_problem(
        response,
        400,
        f"{name}.Count",
        f"'Count' must be less than or equal to '{limit}'. You entered '{count}'.",
    )


async def test_the_limits_endpoint_is_open_and_states_the_limits(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{DP}/metadata/limits")
    assert response.status_code == 200
    assert response.json() == {
        "endUserSearch": {
            "maxPartyFilterValues": 100,
            "maxServiceResourceFilterValues": 20,
            "maxOrgFilterValues": 20,
            "maxExtendedStatusFilterValues": 20,
        },
        "serviceOwnerSearch": {
            "maxPartyFilterValues": 20,
            "maxServiceResourceFilterValues": 20,
            "maxExtendedStatusFilterValues": 20,
        },
    }


@pytest.mark.parametrize(
    ("params", "key", "text"),
    [
        ({"search": "ab"}, "search", "The length of 'Search' must be at least 3 characters."),
        (
            {"createdAfter": "2026-01-02T00:00:00Z", "createdBefore": "2026-01-01T00:00:00Z"},
            "createdAfter",
            "'CreatedAfter' must be less than or equal to 'CreatedBefore'.",
        ),
        (
            {"dueAfter": "2026-01-02T00:00:00+01:00", "dueBefore": "2026-01-01T00:00:00Z"},
            "dueAfter",
            "'DueAfter' must be less than or equal to 'DueBefore'.",
        ),
        ({"updatedAfter": "2026-01-01T00:00:00"}, "updatedAfter", "2026-01-01T00:00:00"),
        ({"status": "Open"}, "status", "Open"),
        ({"systemLabel": "Trash"}, "systemLabel", "Trash"),
        ({"isContentSeen": "yes"}, "isContentSeen", "yes"),
        ({"party": "310000001"}, "party[0]", "'Party' must be on format"),
        ({"process": "not a uri"}, "process", "'Process' is not a valid URI."),
    ],
)
async def test_bad_search_parameters_are_400s(
    http: httpx.AsyncClient, token: str, params: dict[str, str], key: str, text: str
) -> None:
    response = await search(http, token, {"party": CUSTOMER_URN, **params})
    assert_problem(response, 400, key, text)


# -- search: filters and authorisation -----------------------------------------------------------


async def test_unauthorised_parties_are_dropped_silently(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    mine = add(emu)
    add(emu, party=OTHER)
    body = await page_of(http, token, {"party": OTHER_URN})
    assert body == {"items": [], "hasNextPage": False, "orderBy": "contentupdatedat_desc,id_desc"}
    assert ids(await page_of(http, token, {"party": [OTHER_URN, CUSTOMER_URN.upper()]})) == {mine}
    # Only a service resource: every party the caller may act for.
    assert ids(await page_of(http, token, {"serviceResource": RESOURCE})) == {mine}


async def test_sub_units_and_role_resources_follow_the_party_directory(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    emu.add_organization(CUSTOMER)
    emu.add_organization(SUBUNIT, parent=CUSTOMER)
    emu.add_role(DEFAULT_PID, CUSTOMER, resources=[RESOURCE])
    allowed = add(emu)
    in_sub = add(emu, party=SUBUNIT)
    add(emu, service_resource="urn:altinn:resource:other-service")
    token = await person(emu, http, idp_key, clock)
    body = await page_of(
        http, token, {"serviceResource": [RESOURCE, "urn:altinn:resource:other-service"]}
    )
    assert ids(body) == {allowed, in_sub}
    nothing = await page_of(http, token, {"serviceResource": "urn:altinn:resource:other-service"})
    assert nothing["items"] == []


async def test_deleted_future_and_expired_dialogs_are_hidden(
    emu: Emulator, http: httpx.AsyncClient, token: str, clock: Clock
) -> None:
    shown = add(emu)
    gone = add(emu)
    emu.delete_dialog(gone)
    later = add(emu, visible_from=clock.now + 60)
    add(emu, expires_at=clock.now - 1)
    assert ids(await page_of(http, token, {"party": CUSTOMER_URN})) == {shown}
    clock.advance(61)
    assert ids(await page_of(http, token, {"party": CUSTOMER_URN})) == {shown, later}


async def test_filters_or_within_a_parameter_and_across_them(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    a = add(emu, status="InProgress", org="skd", extended_status="X1")
    b = add(emu, status="Completed", org="skd", extended_status="X2")
    c = add(emu, status="Completed", org="nav", extended_status="X1", external_reference="ref-1")
    d = add(emu, status="Draft", org="nav", process="urn:process:1")
    base = {"party": CUSTOMER_URN}
    assert ids(await page_of(http, token, {**base, "status": ["InProgress", "Completed"]})) == {
        a,
        b,
        c,
    }
    assert ids(await page_of(http, token, {**base, "status": "completed", "org": "nav"})) == {c}
    assert ids(await page_of(http, token, {**base, "extendedStatus": ["X1"]})) == {a, c}
    assert ids(await page_of(http, token, {**base, "externalReference": "ref-1"})) == {c}
    assert ids(await page_of(http, token, {**base, "process": "urn:process:1"})) == {d}
    assert ids(await page_of(http, token, {**base, "org": ["skd", "NAV"], "status": "Draft"})) == {
        d
    }


async def test_system_labels_are_and_ed(emu: Emulator, http: httpx.AsyncClient, token: str) -> None:
    archived = add(emu, system_labels=["Archive"])
    unopened = add(emu, system_labels=["Archive", "MarkedAsUnopened"])
    default = add(emu)
    base = {"party": CUSTOMER_URN}
    assert ids(await page_of(http, token, {**base, "systemLabel": "Archive"})) == {
        archived,
        unopened,
    }
    both = await page_of(http, token, {**base, "systemLabel": ["Archive", "MarkedAsUnopened"]})
    assert ids(both) == {unopened}
    assert ids(await page_of(http, token, {**base, "systemLabel": "Default"})) == {default}
    # No label filter by default: Bin and Archive are listed.
    assert len(ids(await page_of(http, token, base))) == 3


async def test_date_bounds_are_inclusive(
    emu: Emulator, http: httpx.AsyncClient, token: str, clock: Clock
) -> None:
    t = clock.now - DAY
    early = add(emu, created_at=t - 1)
    edge = add(emu, created_at=t, due_at=t + DAY)
    late = add(emu, created_at=t + 1)
    base = {"party": CUSTOMER_URN}
    assert ids(await page_of(http, token, {**base, "createdAfter": iso(t)})) == {edge, late}
    assert ids(await page_of(http, token, {**base, "createdBefore": iso(t)})) == {early, edge}
    both = await page_of(http, token, {**base, "createdAfter": iso(t), "createdBefore": iso(t)})
    assert ids(both) == {edge}
    # A due-date bound leaves out dialogs without one.
    assert ids(await page_of(http, token, {**base, "dueBefore": iso(t + 2 * DAY)})) == {edge}
    offset = dt.datetime.fromtimestamp(t, dt.timezone(dt.timedelta(hours=2))).isoformat()
    assert ids(await page_of(http, token, {**base, "createdAfter": offset})) == {edge, late}


async def test_free_text_search_and_content_seen(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    tax = add(emu, title={"nb": "Skattemelding 2025", "en": "Tax return 2025"})
    other = add(emu, title="Purring", summary="Om skatt og avgift")
    base = {"party": CUSTOMER_URN}
    assert ids(await page_of(http, token, {**base, "search": "SKATT"})) == {tax, other}
    english = await page_of(http, token, {**base, "search": "tax", "searchLanguageCode": "en"})
    assert ids(english) == {tax}
    assert ids(await page_of(http, token, {**base, "isContentSeen": "false"})) == {tax, other}
    assert (await get_dialog(http, token, tax)).status_code == 200
    assert ids(await page_of(http, token, {**base, "isContentSeen": "true"})) == {tax}


async def test_accept_language_prunes_localizations(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    add(emu, title={"nb": "Melding", "nn": "Melding nn", "en": "Message"}, summary="Bare bokmål")
    everything = await page_of(http, token, {"party": CUSTOMER_URN})
    assert [v["languageCode"] for v in everything["items"][0]["content"]["title"]["value"]] == [
        "nb",
        "nn",
        "en",
    ]
    response = await search(
        http, token, {"party": CUSTOMER_URN}, **{"Accept-Language": "nn-NO, en;q=0.5"}
    )
    content = response.json()["items"][0]["content"]
    assert content["title"]["value"] == [{"languageCode": "nn", "value": "Melding nn"}]
    # Only bokmål there: the fallback keeps it.
    assert content["summary"]["value"] == [{"languageCode": "nb", "value": "Bare bokmål"}]
    response = await search(http, token, {"party": CUSTOMER_URN}, **{"Accept-Language": "de"})
    assert response.json()["items"][0]["content"]["title"]["value"][0]["languageCode"] == "en"


async def test_the_list_item_json(
    emu: Emulator, http: httpx.AsyncClient, token: str, clock: Clock
) -> None:
    created = 1_767_225_600.1234567  # 2026-01-01T00:00:00.123457Z
    dialog_id = add(
        emu,
        created_at=created,
        sender_name="Skatteetaten",
        org="skd",
        attachments=[
            {
                "displayName": "Vedtak",
                "urls": [{"url": "https://x.example/a.pdf", "consumerType": "Gui"}],
            },
            {
                "displayName": "Data",
                "urls": [{"url": "https://x.example/a.xml", "consumerType": "Api"}],
            },
        ],
        transmissions=[{"type": "Information", "title": "Vedtak", "createdAt": created}],
    )
    item = (await page_of(http, token, {"party": CUSTOMER_URN}))["items"][0]
    assert item == {
        "id": dialog_id,
        "org": "skd",
        "serviceResource": RESOURCE,
        "serviceResourceType": "GenericAccessResource",
        "party": CUSTOMER_URN,
        "guiAttachmentCount": 1,
        "status": "NotApplicable",
        "isApiOnly": False,
        "createdAt": "2026-01-01T00:00:00.1234570Z",
        "updatedAt": "2026-01-01T00:00:00.1234570Z",
        "contentUpdatedAt": "2026-01-01T00:00:00.1234570Z",
        "hasUnopenedContent": True,
        "isContentSeen": False,
        "fromServiceOwnerTransmissionsCount": 1,
        "fromPartyTransmissionsCount": 0,
        "content": {
            "title": {
                "value": [{"languageCode": "nb", "value": "Melding"}],
                "mediaType": "text/plain",
            },
            "senderName": {
                "value": [{"languageCode": "nb", "value": "Skatteetaten"}],
                "mediaType": "text/plain",
            },
        },
        "seenSinceLastUpdate": [],
        "seenSinceLastContentUpdate": [],
        "endUserContext": {
            "revision": item["endUserContext"]["revision"],
            "systemLabels": ["Default"],
        },
        "systemLabel": "Default",
    }
    assert uuid.UUID(dialog_id).version == 7
    # The id's time part is createdAt's milliseconds.
    assert uuid.UUID(dialog_id).int >> 80 == int(created * 1000)


# -- one dialog ----------------------------------------------------------------------------------


async def test_get_returns_the_aggregate_with_etag_and_token(
    emu: Emulator, http: httpx.AsyncClient, token: str, clock: Clock
) -> None:
    t = clock.now - DAY
    dialog_id = add(
        emu,
        created_at=t,
        due_at=t + 2 * DAY,
        expires_at=t + 30 * DAY,
        main_content_reference="{platform}/correspondence/api/v1/correspondence/abc/content",
        gui_actions=[{"action": "read", "url": "https://inbox.example/1", "title": "Åpne"}],
        api_actions=[
            {
                "action": "read",
                "name": "getCorrespondence",
                "endpoints": [
                    {
                        "url": "{platform}/correspondence/api/v1/correspondence/abc",
                        "httpMethod": "GET",
                    }
                ],
            }
        ],
        transmissions=[
            {
                "type": "Alert",
                "title": "Andre",
                "createdAt": t + 20,
                "id": "0198a000-0000-7000-8000-000000000002",
            },
            {"type": "Information", "title": "Første", "createdAt": t + 10},
            {
                "type": "Information",
                "title": "Samtidig",
                "createdAt": t + 20,
                "id": "0198a000-0000-7000-8000-000000000001",
            },
        ],
        activities=[
            {"type": "DialogCreated", "createdAt": t},
            {
                "type": "TransmissionOpened",
                "createdAt": t + 30,
                "transmissionId": "0198a000-0000-7000-8000-000000000001",
            },
        ],
    )
    response = await get_dialog(http, token, dialog_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert response.headers["etag"] == body["revision"]
    assert uuid.UUID(body["revision"]).version == 4
    assert isinstance(body["dialogToken"], str)
    assert body["dueAt"].endswith("0Z")
    assert body["content"]["mainContentReference"] == {
        "value": [
            {
                "languageCode": "nb",
                "value": "http://altinn.localhost/platform/correspondence/api/v1/correspondence/abc/content",
            }
        ],
        "mediaType": "application/vnd.dialogporten.frontchannelembed-url;type=text/markdown",
        "isAuthorized": True,
    }
    assert body["apiActions"][0]["endpoints"][0]["url"] == (
        "http://altinn.localhost/platform/correspondence/api/v1/correspondence/abc"
    )
    assert body["apiActions"][0]["isAuthorized"] is True
    assert body["guiActions"][0]["priority"] == "Primary"
    titles = [t["content"]["title"]["value"][0]["value"] for t in body["transmissions"]]
    assert titles == ["Første", "Samtidig", "Andre"]  # createdAt, then id
    assert [t["isOpened"] for t in body["transmissions"]] == [False, True, False]
    assert [a["type"] for a in body["activities"]] == ["DialogCreated", "TransmissionOpened"]
    assert "expiresAt" in body
    assert "deletedAt" not in body


async def test_get_writes_the_seen_log_but_not_updated_at(
    emu: Emulator, http: httpx.AsyncClient, token: str, clock: Clock
) -> None:
    dialog_id = add(emu, created_at=clock.now - DAY, system_labels=["Archive", "MarkedAsUnopened"])
    before = (await page_of(http, token, {"party": CUSTOMER_URN}))["items"][0]
    assert before["endUserContext"]["systemLabels"] == ["Archive", "MarkedAsUnopened"]
    clock.advance(5)
    body = (await get_dialog(http, token, dialog_id)).json()
    assert body["isContentSeen"] is True
    assert body["endUserContext"]["systemLabels"] == ["Archive"]
    assert body["updatedAt"] == before["updatedAt"]
    [entry] = body["seenSinceLastUpdate"]
    assert entry["isCurrentEndUser"] is True
    assert entry["seenBy"]["actorType"] == "PartyRepresentative"
    assert entry["seenBy"]["actorId"].startswith("urn:altinn:systemuser:uuid:")
    log = emu.dialog_seen_log(dialog_id)
    assert [e["seenAt"] for e in log] == [clock.now]
    after = (await page_of(http, token, {"party": CUSTOMER_URN}))["items"][0]
    assert after["updatedAt"] == before["updatedAt"]
    assert after["isContentSeen"] is True
    assert after["endUserContext"]["systemLabels"] == ["Archive"]
    assert after["endUserContext"]["revision"] != before["endUserContext"]["revision"]
    assert len(after["seenSinceLastUpdate"]) == 1
    # Seen again without a change in between: no second entry, and the revision stays.
    clock.advance(5)
    again = await get_dialog(http, token, dialog_id)
    assert again.headers["etag"] == body["revision"]
    assert len(emu.dialog_seen_log(dialog_id)) == 1
    # After an update, a new one.
    emu.update_dialog(dialog_id, status="Completed")
    await get_dialog(http, token, dialog_id)
    assert len(emu.dialog_seen_log(dialog_id)) == 2
    seen = await http.get(f"{SEARCH}/{dialog_id}/seenlog", headers=bearer(token))
    assert [e["id"] for e in seen.json()] == [e["id"] for e in emu.dialog_seen_log(dialog_id)]
    one = await http.get(f"{SEARCH}/{dialog_id}/seenlog/{log[0]['id']}", headers=bearer(token))
    assert one.json()["seenAt"].startswith(iso(log[0]["seenAt"])[:19])


async def test_get_refusals_in_the_order_dialogporten_checks(
    emu: Emulator, http: httpx.AsyncClient, token: str, clock: Clock
) -> None:
    unknown = str(uuid.uuid4())
    response = await get_dialog(http, token, unknown)
    assert_problem(
        response, 404, "DialogEntity", f"with the following key(s) was not found: ({unknown})."
    )
    assert response.json()["title"] == "Resource not found."
    foreign = add(emu, party=OTHER)
    assert_problem(await get_dialog(http, token, foreign), 403, "Forbidden", "Forbidden")
    deleted = add(emu)
    emu.delete_dialog(deleted)
    gone = await get_dialog(http, token, deleted)
    body = assert_problem(gone, 410, "DialogEntity", "is removed")
    assert body["title"] == "Resource no longer available."
    future = add(emu, visible_from=1_900_000_000)  # 2030-03-17T17:46:40Z
    response = await get_dialog(http, token, future)
    assert_problem(response, 404, "DialogEntity", "Dialog is not visible until 2030-03-17T17:46:40")
    assert response.headers["expires"] == "Sun, 17 Mar 2030 17:46:40 GMT"
    expired = add(emu, expires_at=clock.now - 1)
    assert_problem(await get_dialog(http, token, expired), 404, "DialogEntity", "Dialog expired at")
    assert_problem(await get_dialog(http, token, "not-a-guid"), 400, "dialogId", "not-a-guid")


async def test_the_authentication_level_a_resource_needs(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    dialog_id = add(emu)
    emu.set_dialog_service_resource_auth_level(RESOURCE, 4)
    response = await get_dialog(http, token, dialog_id)
    assert_problem(response, 403, "Forbidden", "Altinn authentication level too low.")
    emu.set_dialog_service_resource_auth_level(RESOURCE, 3)  # a system user counts as 3
    assert (await get_dialog(http, token, dialog_id)).status_code == 200


async def test_urls_the_caller_may_not_use_and_expired_attachments(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    emu.add_organization(CUSTOMER)
    emu.add_role(DEFAULT_PID, CUSTOMER, resources=[RESOURCE, "urn:altinn:resource:extra"])
    secret = "urn:altinn:resource:secret"
    dialog_id = add(
        emu,
        attachments=[
            {
                "displayName": "Gammel",
                "expiresAt": clock.now - 1,
                "urls": [{"url": "https://x.example/old"}],
            },
            {
                "displayName": "Ny",
                "expiresAt": clock.now + DAY,
                "urls": [{"url": "https://x.example/new"}],
            },
            {
                "displayName": "Hemmelig",
                "authorizationAttribute": secret,
                "urls": [{"url": "https://x.example/s"}],
            },
        ],
        gui_actions=[
            {
                "action": "sign",
                "url": "https://x.example/sign",
                "title": "Signer",
                "authorizationAttribute": secret,
            },
            {
                "action": "read",
                "url": "https://x.example/read",
                "title": "Les",
                "authorizationAttribute": "urn:altinn:resource:extra",
            },
        ],
        api_actions=[
            {
                "action": "write",
                "authorizationAttribute": secret,
                "endpoints": [{"url": "https://x.example/w", "httpMethod": "POST"}],
            }
        ],
        transmissions=[
            {
                "title": "Hemmelig melding",
                "authorizationAttribute": secret,
                "contentReference": "https://x.example/t",
                "attachments": [{"displayName": "T", "urls": [{"url": "https://x.example/ta"}]}],
            }
        ],
    )
    token = await person(emu, http, idp_key, clock)
    body = (await get_dialog(http, token, dialog_id)).json()
    urls = {a["displayName"][0]["value"]: a["urls"][0]["url"] for a in body["attachments"]}
    assert urls == {
        "Gammel": "urn:dialogporten:expired",
        "Ny": "https://x.example/new",
        "Hemmelig": "urn:dialogporten:unauthorized",
    }
    gui = {g["action"]: (g["url"], g["isAuthorized"]) for g in body["guiActions"]}
    assert gui == {
        "sign": ("urn:dialogporten:unauthorized", False),
        "read": ("https://x.example/read", True),
    }
    [api] = body["apiActions"]
    assert (api["isAuthorized"], api["endpoints"][0]["url"]) == (
        False,
        "urn:dialogporten:unauthorized",
    )
    [transmission] = body["transmissions"]
    assert transmission["isAuthorized"] is False
    assert (
        transmission["content"]["contentReference"]["value"][0]["value"]
        == "urn:dialogporten:unauthorized"
    )
    assert transmission["attachments"][0]["urls"][0]["url"] == "urn:dialogporten:unauthorized"
    claims = _unverified(body["dialogToken"])
    assert claims["a"] == "read;read,urn:altinn:resource:extra"


async def test_platform_urls_follow_the_origin_of_the_request(
    emu: Emulator, client_key: RSAKey, clock: Clock
) -> None:
    origin = "http://other.localhost:8080"
    dialog_id = add(emu, main_content_reference="{platform}/correspondence/x")
    async with httpx.AsyncClient(transport=emu.transport(), base_url=origin) as other:
        token = await maskinporten(emu, other, client_key, clock)
        body = (await get_dialog(other, token, dialog_id)).json()
    assert body["content"]["mainContentReference"]["value"][0]["value"] == (
        f"{origin}/platform/correspondence/x"
    )
    assert _unverified(body["dialogToken"])["iss"] == f"{origin}/platform/dialogporten/api/v1"


async def test_sub_collections_and_their_items(
    emu: Emulator, http: httpx.AsyncClient, token: str, clock: Clock
) -> None:
    t = clock.now - DAY
    dialog_id = add(
        emu,
        transmissions=[{"title": "B", "createdAt": t + 2}, {"title": "A", "createdAt": t + 1}],
        activities=[
            {"type": "DialogOpened", "createdAt": t + 5},
            {"type": "DialogCreated", "createdAt": t},
        ],
    )
    response = await http.get(f"{SEARCH}/{dialog_id}/transmissions", headers=bearer(token))
    listed = response.json()
    assert [x["content"]["title"]["value"][0]["value"] for x in listed] == ["A", "B"]
    assert "isOpened" not in listed[0]
    one = await http.get(
        f"{SEARCH}/{dialog_id}/transmissions/{listed[1]['id']}", headers=bearer(token)
    )
    assert one.json()["id"] == listed[1]["id"]
    activities = (await http.get(f"{SEARCH}/{dialog_id}/activities", headers=bearer(token))).json()
    assert [a["type"] for a in activities] == ["DialogCreated", "DialogOpened"]
    assert "performedBy" not in activities[0]
    single = await http.get(
        f"{SEARCH}/{dialog_id}/activities/{activities[0]['id']}", headers=bearer(token)
    )
    assert single.json()["type"] == "DialogCreated"
    missing = str(uuid.uuid4())
    response = await http.get(
        f"{SEARCH}/{dialog_id}/transmissions/{missing}", headers=bearer(token)
    )
    assert_problem(response, 404, "DialogTransmission", missing)
    # The sub-collections write no seen log.
    assert emu.dialog_seen_log(dialog_id) == []


# -- dialog tokens -------------------------------------------------------------------------------


def _unverified(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def test_the_dialog_token_verifies_with_the_published_keys(
    emu: Emulator, http: httpx.AsyncClient, token: str, client_key: RSAKey, clock: Clock
) -> None:
    dialog_id = add(
        emu, api_actions=[{"action": "write", "endpoints": [{"url": "https://x.example"}]}]
    )
    body = (await get_dialog(http, token, dialog_id)).json()
    jwks = (await http.get(f"{DP}/.well-known/jwks.json")).json()
    assert len(jwks["keys"]) >= 2
    assert {(k["kty"], k["crv"], k["alg"], k["use"]) for k in jwks["keys"]} == {
        ("OKP", "Ed25519", "EdDSA", "sig")
    }
    with pytest.warns(SecurityWarning, match="EdDSA"):  # joserfc: RFC 9864 prefers "Ed25519"
        decoded = jwt.decode(body["dialogToken"], KeySet.import_key_set(jwks), algorithms=["EdDSA"])
    assert decoded.header["alg"] == "EdDSA"
    assert decoded.header["kid"] == jwks["keys"][0]["kid"]
    claims = decoded.claims
    issuer = "http://altinn.localhost/platform/dialogporten/api/v1"
    assert claims["iss"] == issuer
    assert claims["exp"] - claims["iat"] == 600
    assert claims["nbf"] == claims["iat"] == int(clock.now)
    assert claims["c"] == f"urn:altinn:organization:identifier-no:{DIGDIR}"
    assert claims["y"].startswith("urn:altinn:systemuser:uuid:")
    assert claims["o"] == CUSTOMER_URN
    assert "u" not in claims
    assert (claims["p"], claims["s"], claims["i"], claims["l"]) == (
        CUSTOMER_URN,
        RESOURCE,
        dialog_id,
        3,
    )
    assert claims["a"] == "read;write"
    assert uuid.UUID(claims["jti"]).version == 4
    metadata = (await http.get(f"{DP}/.well-known/oauth-authorization-server")).json()
    assert metadata == {"issuer": issuer, "jwks_uri": f"{issuer}/.well-known/jwks.json"}
    verify = emu.verify_dialog_token
    assert verify(body["dialogToken"], "http://altinn.localhost", clock.now) == claims
    assert verify(body["dialogToken"], "http://other.localhost", clock.now) is None
    assert verify(body["dialogToken"] + "x", "http://altinn.localhost", clock.now) is None
    assert verify(body["dialogToken"], "http://altinn.localhost", clock.now + 599) == claims
    assert verify(body["dialogToken"], "http://altinn.localhost", clock.now + 600) is None
    # A fresh token on every GET (with a fresh access token: the first one has expired).
    clock.advance(601)
    assert (await get_dialog(http, token, dialog_id)).status_code == 401
    fresh = await maskinporten(emu, http, client_key, clock)
    again = (await get_dialog(http, fresh, dialog_id)).json()["dialogToken"]
    assert again != body["dialogToken"]
    assert verify(again, "http://altinn.localhost", clock.now) is not None


async def test_a_persons_dialog_token(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    dialog_id = add(emu, party=DEFAULT_PID)
    token = await person(emu, http, idp_key, clock)
    claims = _unverified((await get_dialog(http, token, dialog_id)).json()["dialogToken"])
    assert claims["c"] == PERSON_URN
    assert claims["l"] == 3  # idporten-loa-substantial
    assert not {"y", "o", "u"} & set(claims)


# -- parties and faults --------------------------------------------------------------------------


async def test_the_parties_of_the_end_user(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    emu.add_organization(CUSTOMER, name="KUNDE AS")
    emu.add_organization(SUBUNIT, parent=CUSTOMER, name="KUNDE AS AVD OSLO")
    emu.add_role(DEFAULT_PID, CUSTOMER)
    token = await person(emu, http, idp_key, clock)
    response = await http.get(f"{DP}/enduser/parties", headers=bearer(token))
    [me, org] = response.json()["authorizedParties"]
    assert me["party"] == PERSON_URN
    assert (me["partyType"], me["isCurrentEndUser"], me["dateOfBirth"]) == (
        "Person",
        True,
        "1972-11-24",
    )
    assert (org["party"], org["name"], org["hasKeyRole"]) == (CUSTOMER_URN, "KUNDE AS", True)
    assert [s["name"] for s in org["subParties"]] == ["KUNDE AS AVD OSLO"]
    assert org["isCurrentEndUser"] is False


async def test_injected_maintenance_answers(
    emu: Emulator, http: httpx.AsyncClient, token: str
) -> None:
    emu.inject_fault(
        "dialogporten.search",
        status=503,
        body=b"Service Unavailable",
        headers={"Content-Type": "text/plain", "Retry-After": "Sun, 17 Mar 2030 17:46:40 GMT"},
    )
    response = await search(http, token, {"party": CUSTOMER_URN})
    assert response.status_code == 503
    assert response.text == "Service Unavailable"
    assert response.headers["retry-after"] == "Sun, 17 Mar 2030 17:46:40 GMT"
    assert (await search(http, token, {"party": CUSTOMER_URN})).status_code == 200
    assert emu.requests["dialogporten.search"] == 2


# -- the service owner ---------------------------------------------------------------------------

SO_SCOPE = "digdir:dialogporten.serviceprovider digdir:dialogporten.serviceprovider.search"
SO = f"{DP}/serviceowner/dialogs"


async def test_the_service_owner_search(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    # digdir's client; digdir is a service owner.
    own = add(emu, org="digdir", visible_from=clock.now + DAY)
    deleted = add(emu, org="digdir", party=OTHER)
    emu.delete_dialog(deleted)
    foreign = add(emu, org="skd")
    token = await maskinporten(
        emu, http, client_key, clock, scope=SO_SCOPE, customer=None, client_id="so"
    )
    response = await http.get(SO, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert ids(response.json()) == {own}
    by_party = await http.get(SO, params={"party": OTHER_URN}, headers=bearer(token))
    assert by_party.json()["items"] == []
    got = await http.get(f"{SO}/{deleted}", headers=bearer(token))
    assert got.status_code == 200
    assert "deletedAt" in got.json()
    assert "dialogToken" not in got.json()
    assert (await http.get(f"{SO}/{foreign}", headers=bearer(token))).status_code == 404
    too_many = [f"urn:altinn:organization:identifier-no:{310_100_000 + n}" for n in range(21)]
    response = await http.get(SO, params={"party": too_many}, headers=bearer(token))
    assert_problem(response, 400, "party.Count", "less than or equal to '20'")
    assert emu.dialog_seen_log(own) == []


async def test_the_service_owner_search_needs_both_scopes_and_a_service_owner(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    one = await maskinporten(
        emu,
        http,
        client_key,
        clock,
        scope="digdir:dialogporten.serviceprovider",
        customer=None,
        client_id="so1",
    )
    assert (await http.get(SO, headers=bearer(one))).status_code == 403
    stranger = await maskinporten(
        emu,
        http,
        client_key,
        clock,
        scope=SO_SCOPE,
        customer=None,
        client_id="so2",
        org_number="310000009",
    )
    assert (await http.get(SO, headers=bearer(stranger))).status_code == 403
    assert (await http.get(SO)).status_code == 401


# -- seeding -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"party": "12345"}, "party must be"),
        ({"status": "Open"}, "status must be one of"),
        ({"system_labels": ["Default", "Archive"]}, "mutually exclusive"),
        ({"system_labels": ["Trash"]}, "a system label must be one of"),
        ({"title": ""}, "title: the nb text"),
        ({"title": {"norsk": "x"}}, "language codes"),
        ({"attachments": [{"urls": [{"url": "x"}]}]}, "absolute URL"),
        ({"attachments": [{"urls": [{"url": "https://x"}], "size": 3}]}, "unknown field(s) size"),
        ({"attachments": [{"name": "a"}]}, "needs at least one url"),
        ({"created_at": 10.0, "updated_at": 5.0}, "created_at <= content_updated_at <= updated_at"),
        ({"service_resource_type": "Form"}, "service_resource_type must be one of"),
        ({"transmissions": [{"type": "Memo", "title": "x"}]}, "transmission 1 type"),
        ({"activities": [{"type": "Opened"}]}, "activity 1 type"),
        ({"dialog_id": "nope"}, "an id must be a UUID"),
        ({"due_at": "tomorrow"}, "due_at must be seconds"),
    ],
)
def test_bad_seeds_are_refused(emu: Emulator, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        add(emu, **options)


def test_a_dialog_id_is_used_once(emu: Emulator) -> None:
    dialog_id = str(uuid.uuid4())
    assert add(emu, dialog_id=dialog_id) == dialog_id
    with pytest.raises(ValueError, match="exists already"):
        add(emu, dialog_id=dialog_id.upper())


async def test_update_dialog_bumps_updated_at_and_revision(
    emu: Emulator, http: httpx.AsyncClient, token: str, clock: Clock
) -> None:
    dialog_id = add(emu, created_at=clock.now - DAY)
    before = (await get_dialog(http, token, dialog_id)).json()
    clock.advance(30)
    emu.update_dialog(dialog_id, status="Completed")
    after = (await get_dialog(http, token, dialog_id)).json()
    assert after["status"] == "Completed"
    assert after["revision"] != before["revision"]
    assert after["updatedAt"] > before["updatedAt"]
    assert after["contentUpdatedAt"] == before["contentUpdatedAt"]
    assert after["isContentSeen"] is True  # the content did not change
    clock.advance(30)
    emu.update_dialog(dialog_id, title="Ny tittel", transmissions=[{"title": "Ny melding"}])
    listed = (await page_of(http, token, {"party": CUSTOMER_URN}))["items"][0]
    assert listed["contentUpdatedAt"] == listed["updatedAt"] > after["updatedAt"]
    assert listed["isContentSeen"] is False
    assert listed["content"]["title"]["value"][0]["value"] == "Ny tittel"
    assert listed["fromServiceOwnerTransmissionsCount"] == 1
    with pytest.raises(ValueError, match="cannot change party"):
        emu.update_dialog(dialog_id, party=OTHER)
    with pytest.raises(ValueError, match="no dialog"):
        emu.update_dialog(str(uuid.uuid4()), status="Completed")


def test_generated_dialogs_are_deterministic(clock: Clock) -> None:
    first = Emulator(clock=clock).generate_dialogs(CUSTOMER, 50, seed=3, start=clock.now - DAY)
    second = Emulator(clock=clock).generate_dialogs(CUSTOMER, 50, seed=3, start=clock.now - DAY)
    third = Emulator(clock=clock).generate_dialogs(CUSTOMER, 50, seed=4, start=clock.now - DAY)
    assert first == second
    assert first != third
    assert len(set(first)) == 50
    with pytest.raises(ValueError, match="start must be before end"):
        Emulator(clock=clock).generate_dialogs(CUSTOMER, 5, start=clock.now, end=clock.now)


def test_the_repr_counts_dialogs(emu: Emulator) -> None:
    add(emu)
    assert "dialogs=1" in repr(emu)
