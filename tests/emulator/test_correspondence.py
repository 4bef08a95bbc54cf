"""The emulated Altinn 3 Correspondence API: the list's rules, the overview and details, Fetched,
Read and the delayed Confirmed, purging, who may call what (Altinn, Maskinporten and dialog
tokens), the error bodies, the events, the Dialogporten mapping and the seeding."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import DEFAULT_PID, ENDPOINTS, Emulator
from altinn_async.testing._correspondence import correspondence_dialog

from .conftest import DIGDIR, Clock, make_grant, request_token
from .correspondence_tokens import (
    API,
    CUSTOMER,
    OTHER_CUSTOMER,
    PERSON_URN,
    READ,
    RESOURCE,
    SERVICE_OWNER,
    SUBSCRIBE,
    WRITE,
    DialogTokens,
    bearer,
    org_urn,
    person_token,
    sender_token,
    system_user_token,
)

JSON_UTF8 = "application/json; charset=utf-8"
PROBLEM = "application/problem+json; charset=utf-8"
HOUR = 3600.0
DAY = 86_400.0


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


async def ids(http: httpx.AsyncClient, token: str, **params: Any) -> list[str]:
    response = await listing(http, token, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_UTF8
    body = response.json()
    assert list(body) == ["ids"]
    return list(body["ids"])


async def listing(http: httpx.AsyncClient, token: str, **params: Any) -> httpx.Response:
    query = {"resourceId": RESOURCE, "role": "Recipient", **params}
    query = {k: v for k, v in query.items() if v is not None}
    return await http.get(API, params=query, headers=bearer(token))


def assert_problem(response: httpx.Response, status: int, code: int, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    types = {
        400: ("https://tools.ietf.org/html/rfc9110#section-15.5.1", "Bad Request"),
        401: ("https://tools.ietf.org/html/rfc9110#section-15.5.2", "Unauthorized"),
        404: ("https://tools.ietf.org/html/rfc9110#section-15.5.5", "Not Found"),
    }
    assert set(body) == {"type", "title", "status", "detail", "code", "traceId", "errorCode"}
    assert (body["type"], body["title"]) == types[status]
    assert body["status"] == status
    assert body["detail"] == detail
    assert body["code"] == f"CORR-{code:05d}"
    assert body["errorCode"] == code
    assert body["traceId"].startswith("00-")


NOT_FOUND = "The requested correspondence was not found"
NO_ACCESS = (
    "You must use an Altinn token, DialogToken or log in to IDPorten as someone with access to "
    "the resource and organization in Altinn Authorization"
)


@pytest.fixture
async def reader(emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock) -> str:
    """An exchanged token of a system user of CUSTOMER with altinn:correspondence.read."""
    return await system_user_token(emu, http, client_key, clock)


# -- the list --------------------------------------------------------------------------------------


async def test_the_list_is_newest_publish_time_first_for_the_callers_organisation(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    middle = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=clock.now - 2 * DAY)
    newest = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=clock.now - DAY)
    oldest = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=clock.now - 3 * DAY)
    emu.add_correspondence(OTHER_CUSTOMER, resource=RESOURCE, published=clock.now - DAY)
    emu.add_correspondence(CUSTOMER, resource="another-resource", published=clock.now - DAY)
    assert await ids(http, reader) == [newest, middle, oldest]
    # The role is an enum: any case, or its number.
    assert await ids(http, reader, role="recipient") == [newest, middle, oldest]
    assert await ids(http, reader, role="0") == [newest, middle, oldest]
    assert emu.requests["correspondence.list"] == 3


async def test_the_list_stops_at_1000_newest_first(
    emu: Emulator, http: httpx.AsyncClient, reader: str
) -> None:
    generated = emu.generate_correspondences(
        CUSTOMER, 1005, resource=RESOURCE, attachments_per=(0, 0)
    )
    listed = await ids(http, reader)
    assert len(listed) == 1000
    published = {i: emu._correspondence_seeding.get(i).requested_publish for i in generated}
    times = [published[i] for i in listed]
    assert times == sorted(times, reverse=True)
    cut = sorted(published.values(), reverse=True)[999]
    assert all(published[i] >= cut for i in listed)
    assert set(generated) - set(listed) == {i for i in generated if published[i] < cut}


async def test_equal_publish_times_come_in_no_order_a_client_could_rely_on(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    same = clock.now - HOUR
    added = [
        emu.add_correspondence(
            CUSTOMER,
            resource=RESOURCE,
            published=same,
            correspondence_id=f"0190{n:04x}-0000-7000-8000-000000000000",
        )
        for n in range(8)
    ]
    listed = await ids(http, reader)
    assert sorted(listed) == sorted(added)
    for order in (added, added[::-1]):  # id order is insertion order here
        assert listed != order


async def test_from_and_to_are_exclusive_on_the_publish_time(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    t = clock.now - DAY
    before = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=t - 10)
    at = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=t)
    after = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=t + 10)
    assert await ids(http, reader, **{"from": iso(t)}) == [after]
    assert await ids(http, reader, to=iso(t)) == [before]
    assert await ids(http, reader, **{"from": iso(t - 10), "to": iso(t + 10)}) == [at]
    # One microsecond past a publish time includes it (the harvest's to=T'+1µs).
    assert await ids(http, reader, to=iso(t + 0.000001)) == [at, before]
    # Other offsets and a missing offset (UTC) mean the same instant.
    oslo = dt.datetime.fromtimestamp(t, dt.timezone(dt.timedelta(hours=2))).isoformat()
    assert await ids(http, reader, **{"from": oslo}) == [after]
    naive = dt.datetime.fromtimestamp(t, dt.UTC).replace(tzinfo=None).isoformat()
    assert await ids(http, reader, **{"from": naive}) == [after]


async def test_an_unencoded_plus_in_an_offset_does_not_bind(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    # "+" in a query string is a space: the value is no DateTimeOffset.
    raw = iso(clock.now)
    url = f"{API}?resourceId={RESOURCE}&role=Recipient&from={raw}"
    response = await http.get(url, headers=bearer(reader))
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "from": [f"The value '{raw.replace('+', ' ')}' is not valid for from."]
    }


async def test_from_after_to_is_1027(http: httpx.AsyncClient, reader: str, clock: Clock) -> None:
    response = await listing(http, reader, **{"from": iso(clock.now), "to": iso(clock.now - 1)})
    assert_problem(response, 400, 1027, "From date cannot be after to date")
    # Equal bounds are allowed (and match nothing).
    assert await ids(http, reader, **{"from": iso(clock.now), "to": iso(clock.now)}) == []


async def test_resource_id_and_role_are_required(http: httpx.AsyncClient, reader: str) -> None:
    response = await http.get(API, headers=bearer(reader))
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["title"] == "One or more validation errors occurred."
    assert body["type"] == "https://tools.ietf.org/html/rfc9110#section-15.5.1"
    assert body["code"] == "STD-00000"
    assert body["errors"] == {
        "resourceId": ["The resourceId field is required."],
        "role": ["The role field is required."],
    }
    assert [e["paths"] for e in body["validationErrors"]] == [
        ["/$QUERY/resourceId"],
        ["/$QUERY/role"],
    ]
    assert body["traceId"].startswith("00-")
    # An empty value is a missing one; an unknown role or status does not bind.
    response = await listing(http, reader, resourceId="", role="Owner", status="Lost")
    assert response.json()["errors"] == {
        "resourceId": ["The resourceId field is required."],
        "role": ["The value 'Owner' is not valid for role."],
        "status": ["The value 'Lost' is not valid for status."],
    }
    for name, value in (("idempotentKey", "nope"), ("altinn2CorrespondenceId", "x"), ("to", "x")):
        response = await listing(http, reader, **{name: value})
        assert response.json()["errors"] == {
            name: [f"The value '{value}' is not valid for {name}."]
        }


async def test_status_means_the_correspondence_ever_had_it(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    unread = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=clock.now - 2 * HOUR)
    read = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=clock.now - HOUR)
    assert (await http.get(f"{API}/{read}", headers=bearer(reader))).status_code == 200
    assert (await http.post(f"{API}/{read}/markasread", headers=bearer(reader))).status_code == 200
    assert await ids(http, reader, status="Published") == [read, unread]
    assert await ids(http, reader, status="read") == [read]
    assert await ids(http, reader, status="4") == [read]  # Read, by number
    assert await ids(http, reader, status="Fetched") == [read]
    assert await ids(http, reader, status="Confirmed") == []
    # Statuses a recipient never sees match nothing, though every item had them.
    assert await ids(http, reader, status="ReadyForPublish") == []
    assert await ids(http, reader, status="Initialized") == []


async def test_a_correspondence_published_later_is_hidden_until_then(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    later = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=clock.now + 600)
    assert await ids(http, reader) == []
    assert_problem(await http.get(f"{API}/{later}", headers=bearer(reader)), 404, 1001, NOT_FOUND)
    assert emu.correspondence_statuses(later) == ["Initialized", "ReadyForPublish"]
    clock.advance(600)
    assert await ids(http, reader) == [later]
    assert (await http.get(f"{API}/{later}", headers=bearer(reader))).status_code == 200


async def test_senders_reference_idempotent_key_and_altinn2_id_filter(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    key = "8f7a2a5e-7a51-4d36-9d5f-6a1e9f4f2b10"
    first = emu.add_correspondence(
        CUSTOMER,
        resource=RESOURCE,
        senders_reference="ref-1",
        altinn2_id=385107,
        idempotent_key=key,
    )
    emu.add_correspondence(CUSTOMER, resource=RESOURCE, senders_reference="ref-2")
    assert await ids(http, reader, sendersReference="ref-1") == [first]
    assert await ids(http, reader, sendersReference="REF-1") == []  # exact match
    assert await ids(http, reader, idempotentKey=key.upper()) == [first]
    assert await ids(http, reader, altinn2CorrespondenceId="385107") == [first]
    assert await ids(http, reader, altinn2CorrespondenceId="1") == []


async def test_purged_correspondences_stay_listed_but_get_is_404(
    emu: Emulator, http: httpx.AsyncClient, reader: str
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    response = await http.delete(f"{API}/{item}/purge", headers=bearer(reader))
    assert (response.status_code, response.json()) == (200, item)
    assert emu.correspondence_statuses(item)[-1] == "PurgedByRecipient"
    assert await ids(http, reader) == [item]
    assert_problem(await http.get(f"{API}/{item}", headers=bearer(reader)), 404, 1001, NOT_FOUND)
    assert_problem(
        await http.delete(f"{API}/{item}/purge", headers=bearer(reader)),
        400,
        1014,
        "Correspondence has already been purged",
    )


# -- onBehalfOf ------------------------------------------------------------------------------------


async def test_a_person_must_name_themselves_in_on_behalf_of(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    mine = emu.add_correspondence(DEFAULT_PID, resource=RESOURCE)
    token = await person_token(emu, http, idp_key, clock)
    # By default the list is for the token's consumer, the ID-porten client's organisation.
    response = await listing(http, token)
    assert_problem(response, 401, 4001, NO_ACCESS)
    assert await ids(http, token, onBehalfOf=DEFAULT_PID) == [mine]
    assert await ids(http, token, onBehalfOf=PERSON_URN) == [mine]
    # A number with wrong check digits is nobody.
    wrong = DEFAULT_PID[:-1] + str((int(DEFAULT_PID[-1]) + 1) % 10)
    assert_problem(await listing(http, token, onBehalfOf=wrong), 401, 4001, NO_ACCESS)


async def test_a_person_reads_for_an_organisation_they_have_a_role_in(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    emu.add_organization(CUSTOMER)
    emu.add_organization("310000003", parent=CUSTOMER)
    emu.add_role(DEFAULT_PID, CUSTOMER, resources=[RESOURCE])
    company = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    unit = emu.add_correspondence("310000003", resource=RESOURCE)
    token = await person_token(emu, http, idp_key, clock)
    for on_behalf_of in (f"0192:{CUSTOMER}", org_urn(CUSTOMER)):
        assert await ids(http, token, onBehalfOf=on_behalf_of) == [company]
    assert await ids(http, token, onBehalfOf="0192:310000003") == [unit]
    # The role covers RESOURCE only.
    emu.add_correspondence(CUSTOMER, resource="other-resource")
    response = await listing(
        http, token, resourceId="other-resource", onBehalfOf=f"0192:{CUSTOMER}"
    )
    assert_problem(response, 401, 4001, NO_ACCESS)
    assert (await http.get(f"{API}/{company}", headers=bearer(token))).status_code == 200


async def test_a_system_user_defaults_to_its_owner_and_may_not_read_for_others(
    emu: Emulator, http: httpx.AsyncClient, reader: str
) -> None:
    emu.add_correspondence(OTHER_CUSTOMER, resource=RESOURCE)
    response = await listing(http, reader, onBehalfOf=f"0192:{OTHER_CUSTOMER}")
    assert_problem(response, 401, 4001, NO_ACCESS)
    assert await ids(http, reader, onBehalfOf=f"0192:{CUSTOMER}") == []


async def test_a_token_that_names_no_organisation_is_4006(emu: Emulator, clock: Clock) -> None:
    # Only a token the emulator signs itself can name a person and no consumer.
    token = emu._authentication.tokens.issue(
        {"scope": READ, "pid": DEFAULT_PID, "iss": emu.altinn_issuer_for()}, clock.now
    )
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        response = await listing(http, token)
        assert_problem(response, 401, 4006, "Could not determine caller")
        assert (await listing(http, token, onBehalfOf=DEFAULT_PID)).status_code == 200


# -- overview and details --------------------------------------------------------------------------


async def test_the_overview_as_the_recipient_sees_it(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    published = 1_785_571_200.0  # 2026-08-01T08:00:00Z
    clock.now = published + DAY
    item = emu.add_correspondence(
        CUSTOMER,
        resource=RESOURCE,
        sender_name="Skatteetaten",
        title="Vedtak",
        summary="Et vedtak",
        body="# Vedtak\n\nDu har fått et vedtak.",
        attachments=[("vedtak.pdf", b"%PDF-1.4 vedtak"), ("data.xml", b"<a/>")],
        published=published,
        confirmation_needed=True,
        due=published + 30 * DAY,
        senders_reference="ref-42",
        reply_options=[("https://svar.example/1", "Svar")],
        correspondence_id="01981c2e-5b1a-7c3d-9f00-0a1b2c3d4e5f",
    )
    emu.set_correspondence_dialog(item, "0198aaaa-0000-7000-8000-000000000001")
    reader = await system_user_token(emu, http, client_key, clock)
    response = await http.get(f"{API}/{item}", headers=bearer(reader))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSON_UTF8
    body = response.json()
    attachments = body["content"].pop("attachments")
    assert body == {
        "correspondenceId": item,
        "recipient": org_urn(CUSTOMER),
        "resourceId": RESOURCE,
        "sender": org_urn(DIGDIR),
        "sendersReference": "ref-42",
        "messageSender": "Skatteetaten",
        "requestedPublishTime": "2026-08-01T08:00:00+00:00",
        "dueDateTime": "2026-08-31T08:00:00+00:00",
        "created": "2026-08-01T08:00:00+00:00",
        "published": "2026-08-01T08:00:00+00:00",
        "read": None,
        "status": "Published",
        "statusText": "Published",
        "statusChanged": "2026-08-01T08:00:00+00:00",
        "altinn2CorrespondenceId": None,
        "isConfirmationNeeded": True,
        "isConfidential": False,
        "allowForwarding": False,
        "ignoreReservation": False,
        "propertyList": {},
        "externalReferences": [
            {
                "referenceValue": "0198aaaa-0000-7000-8000-000000000001",
                "referenceType": "DialogportenDialogId",
            }
        ],
        "replyOptions": [{"linkURL": "https://svar.example/1", "linkText": "Svar"}],
        "notification": None,
        "notifications": [],
        "content": {
            "language": "nb",
            "messageTitle": "Vedtak",
            "messageSummary": "Et vedtak",
            "messageBody": "# Vedtak\n\nDu har fått et vedtak.",
        },
    }
    assert [a["fileName"] for a in attachments] == ["vedtak.pdf", "data.xml"]
    pdf = attachments[0]
    assert pdf["checksum"] == hashlib.md5(b"%PDF-1.4 vedtak", usedforsecurity=False).hexdigest()
    assert pdf["dataType"] == "application/pdf"
    assert attachments[1]["dataType"] == "application/xml"
    assert pdf["expirationTime"] == "2026-08-15T08:00:00+00:00"
    assert (pdf["status"], pdf["isEncrypted"], pdf["sendersReference"]) == (
        "Published",
        False,
        None,
    )
    assert pdf["dataLocationType"] == "AltinnCorrespondenceAttachment"
    assert set(pdf) == {
        "id", "fileName", "displayName", "isEncrypted", "checksum", "sendersReference",
        "expirationInDays", "dataLocationType", "created", "status", "statusText",
        "statusChanged", "dataType", "expirationTime",
    }  # fmt: skip


async def test_a_get_records_fetched_once_per_15_seconds(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    for _ in range(2):
        assert (await http.get(f"{API}/{item}", headers=bearer(reader))).status_code == 200
    assert emu.correspondence_statuses(item) == [
        "Initialized", "ReadyForPublish", "Published", "Fetched"
    ]  # fmt: skip
    clock.advance(16)
    assert (await http.get(f"{API}/{item}/details", headers=bearer(reader))).status_code == 200
    assert emu.correspondence_statuses(item).count("Fetched") == 2


async def test_status_is_the_highest_reached_not_the_latest(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"a.txt": b"a"})
    overview = (await http.get(f"{API}/{item}", headers=bearer(reader))).json()
    assert overview["status"] == "Published"  # Fetched is ignored
    await http.post(f"{API}/{item}/markasread", headers=bearer(reader))
    clock.advance(1)
    overview = (await http.get(f"{API}/{item}", headers=bearer(reader))).json()
    assert (overview["status"], overview["read"]) == ("Read", iso(clock.now - 1))
    attachment = overview["content"]["attachments"][0]["id"]
    await http.get(f"{API}/{item}/attachment/{attachment}/download", headers=bearer(reader))
    clock.advance(1)
    # AttachmentsDownloaded (12) outranks Read (4), and stays the status after a later GET.
    overview = (await http.get(f"{API}/{item}", headers=bearer(reader))).json()
    assert (overview["status"], overview["statusChanged"]) == (
        "AttachmentsDownloaded",
        iso(clock.now - 1),
    )


async def test_details_add_the_status_history_and_the_system_label(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=clock.now - 60)
    response = await http.get(f"{API}/{item}/details", headers=bearer(reader))
    body = response.json()
    assert body["statusHistory"] == [
        {
            "status": "Initialized",
            "statusText": "Initialized",
            "statusChanged": iso(clock.now - 60),
        },
        {
            "status": "ReadyForPublish",
            "statusText": "ReadyForPublish",
            "statusChanged": iso(clock.now - 60),
        },
        {"status": "Published", "statusText": "Published", "statusChanged": iso(clock.now - 60)},
        {"status": "Fetched", "statusText": "Fetched", "statusChanged": iso(clock.now)},
    ]
    assert (body["systemLabel"], body["notifications"], body["status"]) == (
        "Default",
        [],
        "Published",
    )
    assert body["content"]["messageTitle"] == "Melding fra Digitaliseringsdirektoratet"


@pytest.mark.parametrize(
    ("language", "heading"), [("nb", "Svarvalg:"), ("nn", "Svarval:"), ("en", "Reply options:")]
)
async def test_more_than_three_reply_options_are_written_into_the_body(
    emu: Emulator, http: httpx.AsyncClient, reader: str, language: str, heading: str
) -> None:
    options = [(f"https://svar.example/{n}", f"Valg {n}") for n in range(1, 5)]
    many = emu.add_correspondence(
        CUSTOMER, resource=RESOURCE, language=language, body="Hei", reply_options=options
    )
    few = emu.add_correspondence(CUSTOMER, resource=RESOURCE, body="Hei", reply_options=options[:3])
    body = (await http.get(f"{API}/{many}", headers=bearer(reader))).json()
    expected = f"Hei\n\n{heading}\n" + "\n".join(f"{t}: {u}" for u, t in options)
    assert body["content"]["messageBody"] == expected
    assert len(body["replyOptions"]) == 4
    assert (await http.get(f"{API}/{few}", headers=bearer(reader))).json()["content"][
        "messageBody"
    ] == "Hei"
    # The details and the content keep the body as it was sent.
    details = (await http.get(f"{API}/{many}/details", headers=bearer(reader))).json()
    assert details["content"]["messageBody"] == "Hei"


# -- the sender ------------------------------------------------------------------------------------


async def test_the_sender_lists_and_sees_blank_content_after_publishing(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    sent = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=clock.now - HOUR)
    scheduled = emu.add_correspondence(
        OTHER_CUSTOMER, resource=RESOURCE, published=clock.now + HOUR
    )
    emu.add_correspondence(CUSTOMER, resource=RESOURCE, sender="312345679")
    token = await sender_token(emu, http, client_key, clock)  # raw Maskinporten
    assert await ids(http, token, role="Sender") == [scheduled, sent]
    assert await ids(http, token, role="1", onBehalfOf=f"0192:{DIGDIR}") == [scheduled, sent]
    body = (await http.get(f"{API}/{sent}", headers=bearer(token))).json()
    assert body["content"] == {
        "language": "no",
        "messageTitle": "",
        "messageSummary": "",
        "messageBody": "",
        "attachments": [],
    }
    assert body["status"] == "Published"
    before = (await http.get(f"{API}/{scheduled}", headers=bearer(token))).json()
    assert before["content"]["messageTitle"] == "Melding fra Digitaliseringsdirektoratet"
    assert before["status"] == "ReadyForPublish"
    assert "Fetched" not in emu.correspondence_statuses(sent)  # a sender's GET is no Fetched
    # The sender may not list as a recipient, nor for another organisation.
    assert_problem(await listing(http, token), 401, 4001, NO_ACCESS)
    response = await listing(http, token, role="Sender", onBehalfOf="0192:312345679")
    assert_problem(response, 401, 4001, NO_ACCESS)


async def test_a_raw_sender_token_needs_the_serviceowner_scope(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    sent = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    raw = await sender_token(emu, http, client_key, clock, scope=WRITE)
    assert_problem(await http.get(f"{API}/{sent}", headers=bearer(raw)), 401, 4001, NO_ACCESS)
    exchanged = await sender_token(emu, http, client_key, clock, scope=WRITE, exchange=True)
    assert (await http.get(f"{API}/{sent}", headers=bearer(exchanged))).status_code == 200


async def test_recipient_and_sender_lists_both(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    # Digdir both sends (to CUSTOMER) and receives (from another sender).
    sent = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=clock.now - HOUR)
    received = emu.add_correspondence(
        DIGDIR, resource=RESOURCE, sender="312345679", published=clock.now - 2 * HOUR
    )
    token = await sender_token(
        emu, http, client_key, clock, scope=f"{SERVICE_OWNER} {WRITE} {READ}"
    )
    assert await ids(http, token, role="RecipientAndSender") == [sent, received]
    assert await ids(http, token, role="Recipient") == [received]


async def test_the_sender_purges_only_before_publishing(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    published = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    scheduled = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=clock.now + DAY)
    token = await sender_token(emu, http, client_key, clock)
    assert_problem(
        await http.delete(f"{API}/{published}/purge", headers=bearer(token)),
        400,
        1013,
        "Sender cannot delete correspondence that has been published",
    )
    response = await http.delete(f"{API}/{scheduled}/purge", headers=bearer(token))
    assert (response.status_code, response.json()) == (200, scheduled)
    assert emu.correspondence_statuses(scheduled)[-1] == "PurgedByAltinn"


# -- markasread, confirm, content, purge -----------------------------------------------------------


async def test_markasread_needs_fetched_and_happens_once(
    emu: Emulator, http: httpx.AsyncClient, reader: str
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    url = f"{API}/{item}/markasread"
    assert_problem(
        await http.post(url, headers=bearer(reader)),
        400,
        1024,
        "Correspondence must be fetched before it can be read",
    )
    await http.get(f"{API}/{item}", headers=bearer(reader))
    response = await http.post(url, headers=bearer(reader))
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_UTF8
    assert response.text == json.dumps(item)
    assert emu.correspondence_statuses(item)[-2:] == ["Fetched", "Read"]
    assert_problem(
        await http.post(url, headers=bearer(reader)),
        400,
        1040,
        "Correspondence is already marked as read",
    )


async def test_confirm_needs_fetched_and_appears_a_few_seconds_later(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    item = emu.add_correspondence(
        CUSTOMER, resource=RESOURCE, confirmation_needed=True, due=clock.now + DAY
    )
    url = f"{API}/{item}/confirm"
    assert_problem(
        await http.post(url, headers=bearer(reader)),
        400,
        1025,
        "Correspondence must be fetched before it can be confirmed",
    )
    await http.get(f"{API}/{item}", headers=bearer(reader))
    assert_problem(
        await http.delete(f"{API}/{item}/purge", headers=bearer(reader)),
        400,
        1026,
        "Cannot archive or delete a correspondence which has not been confirmed when "
        "confirmation is required",
    )
    response = await http.post(url, headers=bearer(reader))
    assert (response.status_code, response.json()) == (200, item)
    assert "Confirmed" not in emu.correspondence_statuses(item)
    assert_problem(
        await http.post(url, headers=bearer(reader)),
        400,
        1041,
        "Correspondence has already been confirmed",
    )
    clock.advance(3)
    assert "Confirmed" not in emu.correspondence_statuses(item)
    clock.advance(2)
    assert emu.correspondence_statuses(item)[-1] == "Confirmed"
    assert (await http.get(f"{API}/{item}", headers=bearer(reader))).json()["status"] == "Confirmed"
    assert_problem(
        await http.post(url, headers=bearer(reader)),
        400,
        1041,
        "Correspondence has already been confirmed",
    )
    assert (await http.delete(f"{API}/{item}/purge", headers=bearer(reader))).status_code == 200


async def test_content_is_the_markdown_body_and_marks_it_read(
    emu: Emulator, http: httpx.AsyncClient, reader: str
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, body="# Hei\n\n**Viktig**")
    response = await http.get(f"{API}/{item}/content", headers=bearer(reader))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "# Hei\n\n**Viktig**"
    assert emu.correspondence_statuses(item)[-2:] == ["Fetched", "Read"]
    # Read is recorded once; markasread then finds it read.
    await http.get(f"{API}/{item}/content", headers=bearer(reader), follow_redirects=False)
    assert emu.correspondence_statuses(item).count("Read") == 1
    response = await http.post(f"{API}/{item}/markasread", headers=bearer(reader))
    assert response.json()["errorCode"] == 1040


# -- who may call ----------------------------------------------------------------------------------


async def test_a_system_user_of_another_organisation_is_401_4001(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"a.txt": b"a"})
    other = await system_user_token(emu, http, client_key, clock, OTHER_CUSTOMER)
    for method, path in (
        ("GET", ""),
        ("GET", "/details"),
        ("GET", "/content"),
        ("POST", "/markasread"),
        ("POST", "/confirm"),
        ("DELETE", "/purge"),
    ):
        response = await http.request(method, f"{API}/{item}{path}", headers=bearer(other))
        assert_problem(response, 401, 4001, NO_ACCESS)
    assert emu.correspondence_statuses(item) == ["Initialized", "ReadyForPublish", "Published"]


async def test_an_unknown_correspondence_is_404_1001(http: httpx.AsyncClient, reader: str) -> None:
    unknown = "0198ffff-0000-7000-8000-000000000000"
    for path in ("", "/details", "/content"):
        response = await http.get(f"{API}/{unknown}{path}", headers=bearer(reader))
        assert_problem(response, 404, 1001, NOT_FOUND)
    # Not a GUID: no route matches ({correspondenceId:guid}).
    response = await http.get(f"{API}/not-a-guid", headers=bearer(reader))
    assert (response.status_code, response.content) == (404, b"")


async def test_a_raw_maskinporten_token_is_refused_where_only_altinn_tokens_go(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    raw = await system_user_token(emu, http, client_key, clock, exchange=False)
    # SenderOrRecipient takes it: the list, the overview, the details.
    assert await ids(http, raw) == [item]
    assert (await http.get(f"{API}/{item}", headers=bearer(raw))).status_code == 200
    assert (await http.get(f"{API}/{item}/details", headers=bearer(raw))).status_code == 200
    for method, path in (("GET", "/content"), ("POST", "/markasread"), ("POST", "/confirm")):
        response = await http.request(method, f"{API}/{item}{path}", headers=bearer(raw))
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert response.json() == {
            "title": "IDX10205: Issuer validation failed",
            "status": 403,
            "detail": "Maskinporten token is not valid. Exchange to Altinn token and try again. "
            "Read more at https://docs.altinn.studio/api/scenarios/authentication/"
            "#maskinporten-jwt-access-token-input",
        }


async def test_without_a_token_it_is_401_and_without_the_scope_403(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    response = await http.get(f"{API}/{item}")
    assert (response.status_code, response.content) == (401, b"")
    assert response.headers["www-authenticate"] == "Bearer"
    response = await http.get(f"{API}/{item}", headers=bearer("not-a-token"))
    assert (response.status_code, response.headers["www-authenticate"]) == (
        401,
        'Bearer error="invalid_token"',
    )
    subscriber = await system_user_token(emu, http, client_key, clock, scope=SUBSCRIBE)
    response = await http.get(f"{API}/{item}", headers=bearer(subscriber))
    assert (response.status_code, response.content) == (403, b"")
    # The content endpoint is for recipients only: the write scope is not enough.
    writer = await system_user_token(emu, http, client_key, clock, scope=WRITE)
    assert (await http.get(f"{API}/{item}/content", headers=bearer(writer))).status_code == 403


async def test_altinn_tokens_get_no_clock_skew(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    clock.advance(1800)  # the token's lifetime: exp is now
    assert (await listing(http, reader)).status_code == 200
    clock.advance(1)  # Storage would allow 10 s more; Correspondence's ClockSkew is 0
    response = await listing(http, reader)
    assert (response.status_code, response.headers["www-authenticate"]) == (
        401,
        'Bearer error="invalid_token"',
    )


async def test_an_altinn_token_from_another_origin_is_refused(
    emu: Emulator, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    other = "http://other.localhost"
    async with httpx.AsyncClient(transport=emu.transport(), base_url=other) as elsewhere:
        emu.add_maskinporten_client(
            "elsewhere", org_number=DIGDIR, scopes=[READ], jwks=[client_key.as_dict(private=False)]
        )
        grant = make_grant(
            client_key,
            clock.now,
            iss="elsewhere",
            scope=READ,
            aud=emu.maskinporten_issuer_for(other),
        )
        mp = (await request_token(elsewhere, grant)).json()["access_token"]
        token = (
            await elsewhere.get(
                "/platform/authentication/api/v1/exchange/maskinporten", headers=bearer(mp)
            )
        ).text
        assert (await listing(elsewhere, token, onBehalfOf=f"0192:{DIGDIR}")).status_code == 200
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        assert (await listing(http, token, onBehalfOf=f"0192:{DIGDIR}")).status_code == 401


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "application/*"])
async def test_an_accept_header_without_json_is_406_in_plain_text(
    emu: Emulator, http: httpx.AsyncClient, reader: str, accept: str
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    for path in (API, f"{API}/{item}"):
        response = await http.get(
            path,
            params={"resourceId": RESOURCE, "role": "Recipient"},
            headers={**bearer(reader), "Accept": accept},
        )
        assert response.status_code == 406
        assert response.headers["content-type"] == "text/plain"
        assert response.text == (
            "This endpoint does not support the requested Accept header. Supported Accept "
            "headers are: application/json, */*."
        )
    response = await http.get(
        f"{API}/{item}/content", headers={**bearer(reader), "Accept": "application/json"}
    )
    assert response.status_code == 406
    assert response.text.endswith("Supported Accept headers are: text/plain, */*.")
    assert "Fetched" not in emu.correspondence_statuses(item)


@pytest.mark.parametrize(
    "accept", ["application/json", "*/*", "text/html, */*;q=0.1", "application/json; charset=utf-8"]
)
async def test_accept_headers_with_json_or_anything_pass(
    emu: Emulator, http: httpx.AsyncClient, reader: str, accept: str
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    response = await http.get(f"{API}/{item}", headers={**bearer(reader), "Accept": accept})
    assert response.status_code == 200


async def test_the_apim_subscription_key_is_accepted_and_ignored(
    emu: Emulator, http: httpx.AsyncClient, reader: str
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    headers = {**bearer(reader), "Ocp-Apim-Subscription-Key": "0123456789abcdef"}
    assert (await http.get(f"{API}/{item}", headers=headers)).status_code == 200
    assert await ids(http, reader) == [item]


# -- dialog tokens ---------------------------------------------------------------------------------


@pytest.fixture
def dialog_tokens(emu: Emulator) -> DialogTokens:
    tokens = DialogTokens()
    emu._correspondence.dialog_token_claims = tokens.verify
    return tokens


async def test_a_dialog_token_with_read_reads_its_dialogs_correspondence(
    emu: Emulator, http: httpx.AsyncClient, dialog_tokens: DialogTokens, clock: Clock
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    dialog = "0198bbbb-0000-7000-8000-000000000001"
    emu.set_correspondence_dialog(item, dialog)
    token = dialog_tokens.issue(dialog, org_urn(CUSTOMER), now=clock.now, actions="read;write")
    overview = await http.get(f"{API}/{item}", headers=bearer(token))
    assert overview.status_code == 200, overview.text
    assert (await http.post(f"{API}/{item}/markasread", headers=bearer(token))).status_code == 200
    assert (await http.get(f"{API}/{item}/content", headers=bearer(token))).status_code == 200
    # The list defaults to the token's party p (and its resource s).
    assert await ids(http, token) == [item]
    assert_problem(await listing(http, token, resourceId="other"), 401, 4001, NO_ACCESS)


async def test_a_dialog_token_reads_nothing_else(
    emu: Emulator, http: httpx.AsyncClient, dialog_tokens: DialogTokens, clock: Clock
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    other = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    emu.set_correspondence_dialog(item, "0198bbbb-0000-7000-8000-000000000001")
    emu.set_correspondence_dialog(other, "0198bbbb-0000-7000-8000-000000000002")
    party = org_urn(CUSTOMER)
    token = dialog_tokens.issue("0198bbbb-0000-7000-8000-000000000001", party, now=clock.now)
    assert_problem(await http.get(f"{API}/{other}", headers=bearer(token)), 401, 4001, NO_ACCESS)
    # Without "read" in a, the scheme refuses the token (the first comma part is the action).
    for actions in ("write", "elementread,urn:altinn:subresource:read", "readonly"):
        token = dialog_tokens.issue(
            "0198bbbb-0000-7000-8000-000000000001", party, now=clock.now, actions=actions
        )
        response = await http.get(f"{API}/{item}", headers=bearer(token))
        assert (response.status_code, response.content) == (401, b"")
    expired = dialog_tokens.issue(
        "0198bbbb-0000-7000-8000-000000000001", party, now=clock.now - 601
    )
    assert (await http.get(f"{API}/{item}", headers=bearer(expired))).status_code == 401


async def test_without_dialogporten_no_token_is_a_dialog_token(
    emu: Emulator, http: httpx.AsyncClient, clock: Clock
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE)
    emu.set_correspondence_dialog(item, "0198bbbb-0000-7000-8000-000000000001")
    token = DialogTokens().issue(
        "0198bbbb-0000-7000-8000-000000000001", org_urn(CUSTOMER), now=clock.now
    )
    assert (await http.get(f"{API}/{item}", headers=bearer(token))).status_code == 401


# -- events ----------------------------------------------------------------------------------------


async def test_publishing_and_reading_register_events(client_key: RSAKey, clock: Clock) -> None:
    emu = Emulator(clock=clock, events_delay=0)
    published = clock.now - HOUR
    item = emu.add_correspondence(PERSON_URN, resource=RESOURCE, published=published)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        emu.add_organization(CUSTOMER)
        emu.add_role(DEFAULT_PID, CUSTOMER)
        org_item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=published + 1)
        reader = await system_user_token(emu, http, client_key, clock, scope=f"{READ} {SUBSCRIBE}")
        await http.get(f"{API}/{org_item}", headers=bearer(reader))
        await http.get(f"{API}/{org_item}/content", headers=bearer(reader))
        response = await http.get(
            "/platform/events/api/v1/events",
            params={"resource": f"urn:altinn:resource:{RESOURCE}", "after": "0"},
            headers=bearer(reader),
        )
    assert response.status_code == 200, response.text
    events = response.json()
    assert [(e["type"], e["resourceinstance"]) for e in events] == [
        ("no.altinn.correspondence.correspondencepublished", item),
        ("no.altinn.correspondence.correspondencepublished", org_item),
        ("no.altinn.correspondence.correspondencereceiverread", org_item),
    ]
    first = events[0]
    assert (
        first["source"] == "http://altinn.localhost/platform/correspondence/api/v1/correspondence"
    )
    assert first["subject"] == PERSON_URN
    assert first["alternativesubject"] == f"/person/{DEFAULT_PID}"
    assert events[1]["alternativesubject"] == f"/organisation/{CUSTOMER}"
    assert first["resource"] == f"urn:altinn:resource:{RESOURCE}"


# -- the Dialogporten mapping ----------------------------------------------------------------------


def test_a_correspondence_maps_to_its_dialog(emu: Emulator, clock: Clock) -> None:
    published = clock.now + 2 * 60  # more than a minute ahead: visibleFrom
    item_id = emu.add_correspondence(
        CUSTOMER,
        resource=RESOURCE,
        sender_name="Skatteetaten",
        title="Vedtak",
        summary="Kort",
        attachments=[("vedtak.pdf", b"pdf"), ("data.xml", b"<a/>")],
        published=published,
        confirmation_needed=True,
        due=published + DAY,
        attachment_expires=published + 7 * DAY,
        senders_reference="ref-7",
    )
    item = emu._correspondence_seeding.get(item_id)
    pdf, xml = (a.id for a in item.attachments)
    base = f"{{platform}}/correspondence/api/v1/correspondence/{item_id}"
    expires = published + 7 * DAY
    mapped = correspondence_dialog(item, org="skd")
    assert mapped == {
        "party": org_urn(CUSTOMER),
        "service_resource": f"urn:altinn:resource:{RESOURCE}",
        "org": "skd",
        "service_resource_type": "CorrespondenceService",
        "title": {"nb": "Vedtak"},
        "summary": {"nb": "Kort"},
        "sender_name": {"nb": "Skatteetaten"},
        "status": "RequiresAttention",
        "external_reference": "ref-7",
        "created_at": clock.now,
        "updated_at": clock.now,
        "content_updated_at": clock.now,
        "visible_from": published,
        "main_content_reference": f"{base}/content",
        "attachments": [
            {
                "displayName": {"nb": "Alle vedlegg", "en": "All attachments"},
                "name": None,
                "expiresAt": expires,
                "urls": [
                    {
                        "url": f"{base}/attachments/downloadall",
                        "mediaType": "application/zip",
                        "consumerType": "Gui",
                    }
                ],
            },
            {
                "displayName": {"nb": "vedtak.pdf"},
                "name": "vedtak.pdf",
                "expiresAt": expires,
                "urls": [
                    {
                        "url": f"{base}/attachment/{pdf}/download",
                        "mediaType": "application/pdf",
                        "consumerType": "Gui",
                    }
                ],
            },
            {
                "displayName": {"nb": "data.xml"},
                "name": "data.xml",
                "expiresAt": expires,
                "urls": [
                    {
                        "url": f"{base}/attachment/{xml}/download",
                        "mediaType": "application/xml",
                        "consumerType": "Gui",
                    }
                ],
            },
        ],
        "api_actions": [
            {
                "action": "read",
                "name": "getCorrespondence",
                "endpoints": [{"url": base, "httpMethod": "GET"}],
            },
            {
                "action": "write",
                "name": "purgeCorrespondence",
                "endpoints": [{"url": f"{base}/purge", "httpMethod": "DELETE"}],
            },
            {
                "action": "read",
                "name": "confirmCorrespondence",
                "endpoints": [{"url": f"{base}/confirm", "httpMethod": "POST"}],
            },
            {
                "action": "read",
                "name": "downloadCorrespondenceAttachment",
                "endpoints": [{"url": f"{base}/attachment/{pdf}/download", "httpMethod": "GET"}],
            },
            {
                "action": "read",
                "name": "downloadCorrespondenceAttachment",
                "endpoints": [{"url": f"{base}/attachment/{xml}/download", "httpMethod": "GET"}],
            },
        ],
        "service_owner_labels": [f"urn:altinn:correspondence-id:{item_id}"],
        "dialog_id": None,
    }
    # Through the emulator: org is the sender's service-owner code.
    assert emu.correspondence_dialog_arguments(item_id) == {**mapped, "org": "digdir"}


def test_a_plain_correspondence_maps_to_a_plain_dialog(emu: Emulator, clock: Clock) -> None:
    item_id = emu.add_correspondence(
        PERSON_URN, resource=RESOURCE, attachments={"a.txt": b"a"}, published=clock.now + 30
    )
    mapped = emu.correspondence_dialog_arguments(item_id)
    assert (mapped["party"], mapped["status"], mapped["visible_from"]) == (
        PERSON_URN,
        "NotApplicable",
        None,
    )
    assert (mapped["summary"], mapped["sender_name"]) == (None, None)
    assert [a["name"] for a in mapped["attachments"]] == ["a.txt"]  # no "All attachments" for one
    assert [a["name"] for a in mapped["api_actions"]] == [
        "getCorrespondence",
        "purgeCorrespondence",
        "downloadCorrespondenceAttachment",
    ]
    assert mapped["attachments"][0]["urls"][0]["mediaType"] == "text/plain"


# -- seeding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"recipient": "12345"}, "recipient must be"),
        ({"recipient": "24917298545"}, "check digits"),
        ({"resource": "has spaces"}, "resource must be"),
        ({"title": ""}, r"Message title cannot be empty \(1020\)"),
        ({"title": "x" * 256}, r"\(1037\)"),
        ({"summary": "x" * 256}, r"\(1042\)"),
        ({"body": " "}, r"\(1021\)"),
        ({"body": "x" * 30_001}, "30000"),
        ({"language": "se"}, r"\(1023\)"),
        ({"attachments": {"virus.exe": b"x"}}, r"Filetype not allowed \(2013\)"),
        ({"attachments": {"empty.pdf": b""}}, r"\(2004\)"),
        ({"attachments": {"": b"x"}}, r"\(2010\)"),
        ({"attachments": [(f"{n}.txt", b"x") for n in range(101)]}, r"\(1038\)"),
        ({"confirmation_needed": True}, r"\(1016\)"),
        ({"due": 1.0}, r"\(1009\)"),
        ({"reply_options": [("http://plain.example", "x")]}, r"\(1035\)"),
        ({"sender": "1234"}, "sender must be"),
        ({"correspondence_id": "nope"}, "correspondence_id must be a UUID"),
        ({"altinn2_id": 0}, "altinn2_id"),
    ],
)
def test_seeding_refuses_what_the_sender_api_refuses(
    emu: Emulator, arguments: dict[str, Any], message: str
) -> None:
    call: dict[str, Any] = {"recipient": CUSTOMER, "resource": RESOURCE, **arguments}
    recipient = call.pop("recipient")
    with pytest.raises(ValueError, match=message):
        emu.add_correspondence(recipient, **call)


def test_seeding_accepts_every_recipient_form_and_refuses_a_duplicate_id(emu: Emulator) -> None:
    forms = (CUSTOMER, f"0192:{CUSTOMER}", org_urn(CUSTOMER), DEFAULT_PID, PERSON_URN)
    recipients = [
        emu._correspondence_seeding.get(
            emu.add_correspondence(f, resource=f"urn:altinn:resource:{RESOURCE}")
        ).recipient
        for f in forms
    ]
    assert recipients == [org_urn(CUSTOMER)] * 3 + [PERSON_URN] * 2
    fixed = "0198cccc-0000-7000-8000-000000000000"
    emu.add_correspondence(CUSTOMER, resource=RESOURCE, correspondence_id=fixed)
    with pytest.raises(ValueError, match="already exists"):
        emu.add_correspondence(CUSTOMER, resource=RESOURCE, correspondence_id=fixed)
    with pytest.raises(KeyError):
        emu.correspondence_statuses("0198cccc-0000-7000-8000-000000000001")


def test_ids_are_uuid7_of_the_creation_time(emu: Emulator, clock: Clock) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, published=clock.now - DAY)
    assert item[14] == "7"
    assert int(item.replace("-", "")[:12], 16) == int((clock.now - DAY) * 1000)


def test_generated_correspondences_are_the_same_for_a_seed(clock: Clock) -> None:
    def generate(seed: int) -> tuple[list[str], list[Any]]:
        emu = Emulator(clock=clock)
        made = emu.generate_correspondences(
            CUSTOMER,
            50,
            resource=RESOURCE,
            seed=seed,
            attachments_per=(1, 3),
            attachment_size=(10, 20),
        )
        items = [emu._correspondence_seeding.get(i) for i in made]
        shape = [
            (
                i.title,
                i.requested_publish,
                [(a.file_name, a.size, a.checksum) for a in i.attachments],
                i.statuses,
            )
            for i in items
        ]
        return made, shape

    first, shape = generate(1)
    assert generate(1) == (first, shape)
    assert generate(2)[0] != first
    assert len(set(first)) == 50
    assert all(1 <= len(s[2]) <= 3 and all(10 <= a[1] <= 20 for a in s[2]) for s in shape)
    times = [s[1] for s in shape]
    assert times == sorted(times)
    with pytest.raises(ValueError, match="already exists"):
        emu = Emulator(clock=clock)
        emu.generate_correspondences(CUSTOMER, 5, resource=RESOURCE)
        emu.generate_correspondences(CUSTOMER, 5, resource=RESOURCE)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"count": -1}, "count"),
        ({"attachments_per": (3, 1)}, "attachments_per"),
        ({"attachment_size": 0}, "attachment_size"),
        ({"start": 2.0, "end": 1.0}, "start must be before end"),
    ],
)
def test_generating_refuses_bad_arguments(
    emu: Emulator, arguments: dict[str, Any], message: str
) -> None:
    call: dict[str, Any] = {"count": 10, **arguments}
    count = call.pop("count")
    with pytest.raises(ValueError, match=message):
        emu.generate_correspondences(CUSTOMER, count, resource=RESOURCE, **call)


def test_the_endpoints_are_published() -> None:
    assert {
        "correspondence.list",
        "correspondence.overview",
        "correspondence.details",
        "correspondence.content",
        "correspondence.markasread",
        "correspondence.confirm",
        "correspondence.purge",
        "correspondence.download",
        "correspondence.downloadall",
    } <= ENDPOINTS


async def test_a_fault_can_be_injected_on_the_list(
    emu: Emulator, http: httpx.AsyncClient, reader: str
) -> None:
    emu.inject_fault("correspondence.list", status=503)
    assert (await listing(http, reader)).status_code == 503
    assert (await listing(http, reader)).status_code == 200
