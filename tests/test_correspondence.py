"""CorrespondenceClient against a fake Correspondence API that plays the reference's wire format:
the list (1000 ids at most, requestedPublishTime DESC with no tie-breaker, exclusive from/to,
.NET's 7-digit times), overviews, Fetched/Read side effects, downloads and ProblemDetails."""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

from altinn_async import APIError, ConfigurationError, NetworkError, RetryPolicy
from altinn_async._correspondence import (
    Correspondence,
    CorrespondenceAttachment,
    CorrespondenceClient,
    CorrespondenceDetails,
    CorrespondenceWalk,
)
from altinn_async.exceptions import (
    AttachmentUnavailableError,
    ChecksumMismatchError,
    ResponseFormatError,
    StuckWindowError,
)

BASE = "https://platform.example"
API = f"{BASE}/correspondence/api/v1/correspondence"
RESOURCE = "skd-melding-x"
PID = "24917298544"
ORGNO = "312345678"
TOKEN = "altinn-token-SECRET"
FAST = RetryPolicy(backoff=0.001)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T0 = datetime(2026, 8, 1, 8, 0, tzinfo=UTC)
HIDDEN = {"Initialized", "ReadyForPublish", "Failed"}
ROLES = {"recipient": "Recipient", "sender": "Sender", "recipientandsender": "RecipientAndSender"}
ROLES.update({"0": "Recipient", "1": "Sender", "2": "RecipientAndSender"})
STATUS_NAMES = [
    "Initialized",
    "ReadyForPublish",
    "Published",
    "Fetched",
    "Read",
    "Replied",
    "Confirmed",
    "PurgedByRecipient",
    "PurgedByAltinn",
    "Archived",
    "Reserved",
    "Failed",
    "AttachmentsDownloaded",
    "Forwarded",
]
ON_BEHALF_OF = re.compile(
    r"0192:[0-9]{9}|urn:altinn:organization:identifier-no:[0-9]{9}"
    r"|(urn:altinn:person:identifier-no:)?[0-9]{11}"
)
TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,7}))?(Z|[+-]\d\d:\d\d)")


def ticks(moment: datetime, extra: int = 0) -> int:
    """A time as .NET keeps it: 100-nanosecond ticks (here since 1970)."""
    return (moment - EPOCH) // timedelta(microseconds=1) * 10 + extra


def render(tick: int) -> str:
    """Ticks as System.Text.Json writes a DateTimeOffset: 7 fraction digits and an offset."""
    moment = EPOCH + timedelta(microseconds=tick // 10)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond:06d}{tick % 10}+00:00"


def parse_ticks(text: str) -> int:
    match = TIME.fullmatch(text)
    if match is None:
        raise ValueError(text)
    offset = "+00:00" if match[3] == "Z" else match[3]
    whole = datetime.fromisoformat(match[1] + offset)
    return ticks(whole) + int((match[2] or "").ljust(7, "0"))


def md5(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


@attrs.define
class Attachment:
    id: str
    body: bytes
    file_name: str = "vedtak.pdf"
    status: str = "Published"
    expired: bool = False
    checksum: str | None = None


@attrs.define
class Item:
    id: str
    tick: int
    statuses: list[str] = attrs.Factory(lambda: ["Initialized", "ReadyForPublish", "Published"])
    resource: str = RESOURCE
    recipient: str = f"urn:altinn:organization:identifier-no:{ORGNO}"
    purged: bool = False
    attachments: list[Attachment] = attrs.Factory(list)


def problem(status: int, number: int, detail: str) -> httpx.Response:
    body = {
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": {400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": f"CORR-{number:05d}",
        "traceId": "00-abc-def-01",
        "errorCode": number,
    }
    return httpx.Response(
        status, json=body, headers={"Content-Type": "application/problem+json; charset=utf-8"}
    )


def validation(field: str, message: str) -> httpx.Response:
    body = {
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        "title": "One or more validation errors occurred.",
        "status": 400,
        "errors": {field: [message]},
        "traceId": "00-abc-def-01",
    }
    return httpx.Response(400, json=body, headers={"Content-Type": "application/problem+json"})


class Fake:
    """Correspondence as the reference describes it, for one recipient organisation."""

    def __init__(self, items: Iterable[Item] = (), *, seed: int = 7) -> None:
        self.items = {item.id: item for item in items}
        self.rng = random.Random(seed)  # noqa: S311 - ties in no fixed order
        self.requests: list[httpx.Request] = []
        self.fetched: set[str] = set()
        self.read: set[str] = set()
        self.confirmed: set[str] = set()
        self.corrupt = 0  # downloads answered with wrong bytes before the right ones
        self.unavailable: list[httpx.Response] = []  # answers queued before the real ones
        self.sender_status_is_latest = True

    def __call__(self, request: httpx.Request) -> httpx.Response:  # noqa: PLR0911, PLR0912
        self.requests.append(request)
        if self.unavailable:
            return self.unavailable.pop(0)
        if request.headers.get("Authorization") == "Bearer maskinporten" and not (
            request.url.path.endswith(("/correspondence", "/details"))
        ):
            return httpx.Response(
                403,
                json={
                    "title": "IDX10205: Issuer validation failed",
                    "status": 403,
                    "detail": "Maskinporten token is not valid. Exchange to Altinn token "
                    "and try again.",
                },
                headers={
                    "Content-Type": "application/problem+json",
                    "WWW-Authenticate": 'Bearer error="invalid_token"',
                },
            )
        path = request.url.path.removeprefix("/correspondence/api/v1/correspondence")
        parts = [p for p in path.split("/") if p]
        if not parts and request.method == "GET":
            return self.listing(request.url.params)
        item = self.items.get(parts[0]) if parts else None
        if item is None or item.purged:
            return problem(404, 1001, "The requested correspondence was not found")
        rest = parts[1:]
        if request.method == "GET" and rest in ([], ["details"]):
            self.fetched.add(item.id)
            return httpx.Response(200, json=self.overview(item, details=rest == ["details"]))
        if request.method == "GET" and rest == ["content"]:
            self.fetched.add(item.id)
            self.read.add(item.id)
            return httpx.Response(
                200, text="# Vedtak\n\nDu har fått vedtak.", headers={"Content-Type": "text/plain"}
            )
        if request.method == "POST" and rest == ["markasread"]:
            if item.id not in self.fetched:
                return problem(400, 1024, "Correspondence must be fetched before read")
            if item.id in self.read:
                return problem(400, 1040, "The correspondence is already read")
            self.read.add(item.id)
            return httpx.Response(200, json=item.id)
        if request.method == "POST" and rest == ["confirm"]:
            if item.id not in self.fetched:
                return problem(400, 1025, "Correspondence must be fetched before confirmed")
            if item.id in self.confirmed:
                return problem(400, 1041, "The correspondence is already confirmed")
            self.confirmed.add(item.id)
            return httpx.Response(200, json=item.id)
        if request.method == "DELETE" and rest == ["purge"]:
            item.purged = True
            return httpx.Response(200, json=item.id)
        if request.method == "GET" and len(rest) == 3 and rest[0] == "attachment":
            return self.download(item, rest[1])
        return httpx.Response(404)

    def listing(self, params: httpx.QueryParams) -> httpx.Response:  # noqa: PLR0911, PLR0912
        resource = params.get("resourceId")
        if not resource:
            return validation("resourceId", "The resourceId field is required.")
        role = ROLES.get(params.get("role", "").lower())
        if role is None:
            return validation("role", "The role field is required.")
        try:
            low = parse_ticks(params["from"]) if "from" in params else None
            high = parse_ticks(params["to"]) if "to" in params else None
        except ValueError:
            return validation("from", "not a date")
        if low is not None and high is not None and low > high:
            return problem(400, 1027, "From date cannot be after to date")
        owner = params.get("onBehalfOf")
        if owner is not None and not ON_BEHALF_OF.fullmatch(owner):
            return validation("onBehalfOf", "Invalid format")
        status = params.get("status")
        if status is not None and status not in STATUS_NAMES:
            return validation("status", "not a status")
        found = []
        for item in self.items.values():
            if item.resource != resource:
                continue
            if (low is not None and item.tick <= low) or (high is not None and item.tick >= high):
                continue
            if status is None:
                if item.statuses[-1] in HIDDEN:
                    continue
            elif role == "Sender" and self.sender_status_is_latest:
                # The reference leaves the sender's status filter open: here, the latest status.
                if item.statuses[-1] != status:
                    continue
            elif status in HIDDEN or status not in item.statuses:
                continue
            found.append(item)
        self.rng.shuffle(found)  # no tie-breaker: equal times come in any order
        found.sort(key=lambda item: item.tick, reverse=True)
        return httpx.Response(200, json={"ids": [item.id for item in found[:1000]]})

    def overview(self, item: Item, *, details: bool) -> dict[str, Any]:
        published = render(item.tick + 32_000_000)
        document: dict[str, Any] = {
            "correspondenceId": item.id,
            "recipient": item.recipient,
            "resourceId": item.resource,
            "sender": "urn:altinn:organization:identifier-no:974761076",
            "sendersReference": "ref-42",
            "messageSender": "",
            "requestedPublishTime": render(item.tick),
            "dueDateTime": None,
            "created": "2026-08-01T07:59:58.1+00:00",
            "published": published,
            "read": None,
            "status": "Published",
            "statusText": "Published",
            "statusChanged": published,
            "altinn2CorrespondenceId": None,
            "isConfirmationNeeded": False,
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
            "notifications": [{"notificationOrderId": str(uuid.uuid4()), "isReminder": False}],
            "content": {
                "language": "nb",
                "messageTitle": "Vedtak",
                "messageSummary": "Om vedtaket",
                "messageBody": "# Markdown",
                "attachments": [
                    {
                        "id": a.id,
                        "fileName": a.file_name,
                        "displayName": "Vedtak",
                        "isEncrypted": False,
                        "checksum": a.checksum or md5(a.body),
                        "sendersReference": "att-1",
                        "expirationInDays": None,
                        "dataLocationType": "AltinnCorrespondenceAttachment",
                        "created": "2026-08-01T07:59:58.1+00:00",
                        "status": a.status,
                        "statusText": a.status,
                        "statusChanged": "2026-08-01T07:59:59+00:00",
                        "dataType": "application/pdf",
                        "expirationTime": None,
                    }
                    for a in item.attachments
                ],
            },
        }
        if details:
            document["statusHistory"] = [
                {"status": s, "statusText": s, "statusChanged": published}
                for s in [*item.statuses, "Fetched"]
            ]
            document["notifications"] = [
                {
                    "id": "0198bbbb-0000-7000-8000-000000000002",
                    "sendersReference": None,
                    "creator": "digdir",
                    "created": published,
                    "isReminder": True,
                    "notificationChannel": "Email",
                    "ignoreReservation": False,
                    "resourceId": item.resource,
                    "processingStatus": {"status": "Completed"},
                    "notificationStatusDetails": None,
                }
            ]
            document["systemLabel"] = "Archive"
        return document

    def download(self, item: Item, attachment_id: str) -> httpx.Response:
        attachment = next((a for a in item.attachments if a.id == attachment_id), None)
        if attachment is None:
            return problem(404, 2001, "The requested attachment was not found")
        if attachment.status == "Purged":
            return problem(400, 2019, "The requested attachment was purged")
        if attachment.expired:
            return problem(400, 2020, "The attachment has expired")
        body = attachment.body
        if self.corrupt:
            self.corrupt -= 1
            body = b"!" + body[1:]
        return httpx.Response(
            200,
            content=body,
            headers={
                "Content-Type": "application/pdf",
                "Content-Disposition": f"inline; filename*=UTF-8''{attachment.file_name}",
            },
        )

    def lists(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/correspondence")]

    def gets(self) -> list[httpx.Request]:
        return [r for r in self.requests if not r.url.path.endswith("/correspondence")]


def new_id(number: int) -> str:
    return str(uuid.UUID(int=number, version=4))


def http_for(fake: Fake, token: str = TOKEN) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.MockTransport(fake),
        base_url=BASE,
        headers={"Authorization": f"Bearer {token}"},
    )


# --- list --------------------------------------------------------------------------------------


async def test_list_sends_every_parameter_in_its_wire_form() -> None:
    fake = Fake()
    oslo = timezone(timedelta(hours=2))
    key = str(uuid.uuid4())
    async with http_for(fake) as http:
        ids = await CorrespondenceClient(http).list(
            RESOURCE,
            role="sender",
            from_=datetime(2026, 1, 1, 12, tzinfo=oslo),
            to=datetime(2026, 2, 1, tzinfo=UTC),
            status=4,
            on_behalf_of=ORGNO,
            senders_reference="ref 42+1",
            idempotent_key=key,
            altinn2_correspondence_id=385107,
        )
    assert ids.ids == ()
    assert not ids.capped
    (request,) = fake.requests
    assert request.method == "GET"
    assert request.url.path == "/correspondence/api/v1/correspondence"
    assert list(request.url.params.multi_items()) == [
        ("resourceId", RESOURCE),
        ("role", "Sender"),
        ("from", "2026-01-01T12:00:00.000000+02:00"),
        ("to", "2026-02-01T00:00:00.000000+00:00"),
        ("status", "Read"),
        ("onBehalfOf", f"urn:altinn:organization:identifier-no:{ORGNO}"),
        ("sendersReference", "ref 42+1"),
        ("idempotentKey", key),
        ("altinn2CorrespondenceId", "385107"),
    ]
    # The + of an offset is encoded, else it would arrive as a space.
    raw = request.url.query.decode()
    assert "from=2026-01-01T12%3A00%3A00.000000%2B02%3A00" in raw
    assert "sendersReference=ref+42%2B1" in raw


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (ORGNO, f"urn:altinn:organization:identifier-no:{ORGNO}"),
        (f"0192:{ORGNO}", f"0192:{ORGNO}"),
        (
            f"urn:altinn:organization:identifier-no:{ORGNO}",
            f"urn:altinn:organization:identifier-no:{ORGNO}",
        ),
        (PID, PID),
        (f"urn:altinn:person:identifier-no:{PID}", f"urn:altinn:person:identifier-no:{PID}"),
    ],
)
async def test_on_behalf_of_takes_the_formats_correspondence_takes(given: str, sent: str) -> None:
    fake = Fake()
    async with http_for(fake) as http:
        await CorrespondenceClient(http).list(RESOURCE, on_behalf_of=given)
    assert fake.requests[0].url.params["onBehalfOf"] == sent
    assert ON_BEHALF_OF.fullmatch(sent)


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"resource_id": ""}, "resource_id"),
        ({"role": "Owner"}, "role is one of"),
        ({"from_": datetime(2026, 1, 1)}, "aware"),  # noqa: DTZ001 - naive on purpose
        ({"to": datetime(2026, 1, 1)}, "aware"),  # noqa: DTZ001
        ({"from_": T0, "to": T0 - timedelta(seconds=1)}, "from_ must not come after to"),
        ({"status": "Lest"}, "status is one of"),
        ({"status": 14}, "status is one of"),
        ({"on_behalf_of": "12345678"}, "neither an organisation"),
        ({"on_behalf_of": "0192:1234"}, "neither an organisation"),
        ({"on_behalf_of": "24917298545"}, r"249172\*\*\*\*\*: not a national identity number"),
        ({"idempotent_key": "not-a-uuid"}, "UUID"),
        ({"altinn2_correspondence_id": -1}, "non-negative"),
        ({"altinn2_correspondence_id": True}, "non-negative"),
        ({"senders_reference": ""}, "senders_reference"),
    ],
)
async def test_list_checks_its_input_before_sending(arguments: dict[str, Any], match: str) -> None:
    fake = Fake()
    call: dict[str, Any] = {"resource_id": RESOURCE, **arguments}
    async with http_for(fake) as http:
        with pytest.raises(ConfigurationError, match=match) as info:
            await CorrespondenceClient(http).list(**call)
    assert fake.requests == []
    assert "24917298545" not in str(info.value)


async def test_list_is_newest_first_and_says_when_it_was_capped() -> None:
    items = [Item(new_id(n), ticks(T0 + timedelta(seconds=n))) for n in range(1200)]
    items.append(Item(new_id(5000), ticks(T0), statuses=["Initialized"]))  # not for recipients
    fake = Fake(items)
    async with http_for(fake) as http:
        client = CorrespondenceClient(http)
        everything = await client.list(RESOURCE)
        some = await client.list(RESOURCE, from_=T0 + timedelta(seconds=1000))
        none = await client.list(RESOURCE, from_=T0, to=T0)
    assert everything.capped
    assert len(everything) == 1000
    assert list(everything)[:2] == [new_id(1199), new_id(1198)]
    assert everything.ids[-1] == new_id(200)
    # from is exclusive: the item at +1000 s is not in it.
    assert list(some) == [new_id(n) for n in range(1199, 1000, -1)]
    assert not some.capped
    assert len(none) == 0


async def test_a_problem_details_answer_keeps_its_code() -> None:
    fake = Fake()
    fake.unavailable.append(
        problem(401, 4001, "You must use an Altinn token, DialogToken or log in to IDPorten")
    )
    async with http_for(fake) as http:
        with pytest.raises(APIError) as info:
            await CorrespondenceClient(http).list(RESOURCE)
    error = info.value
    assert error.status_code == 401
    assert error.code == "CORR-04001"
    assert error.problem is not None
    assert error.problem["errorCode"] == 4001
    assert "You must use an Altinn token" in str(error)
    assert TOKEN not in str(error)
    assert TOKEN not in repr(error)


async def test_could_not_determine_the_caller_says_to_pass_on_behalf_of() -> None:
    fake = Fake()
    fake.unavailable.append(problem(401, 4006, "Could not determine caller"))
    async with http_for(fake) as http:
        with pytest.raises(APIError, match="pass on_behalf_of"):
            await CorrespondenceClient(http).list(RESOURCE)


@pytest.mark.parametrize(
    "body", [[], {"ids": None}, {"ids": "a"}, {"ids": [1, 2]}, {"ids": [""]}, {"count": 0}]
)
async def test_a_list_answer_that_is_not_ids_is_a_format_error(body: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=BASE) as http:
        with pytest.raises(ResponseFormatError, match="ids"):
            await CorrespondenceClient(http).list(RESOURCE)


def test_needs_a_platform_url() -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        CorrespondenceClient(httpx.AsyncClient())


# --- overview, details, content and the explicit acts --------------------------------------------


def person_item() -> Item:
    attachment = Attachment(new_id(900), b"%PDF-1.7 vedtak", file_name="../../vedtak.pdf")
    return Item(
        new_id(1),
        ticks(T0, 3),
        recipient=f"urn:altinn:person:identifier-no:{PID}",
        attachments=[attachment],
    )


async def test_get_reads_the_overview_and_records_fetched() -> None:
    item = person_item()
    fake = Fake([item])
    async with http_for(fake) as http:
        correspondence = await CorrespondenceClient(http).get(item.id)
    assert fake.fetched == {item.id}
    assert fake.read == set()
    assert isinstance(correspondence, Correspondence)
    assert correspondence.id == item.id
    assert correspondence.resource_id == RESOURCE
    assert correspondence.recipient == f"urn:altinn:person:identifier-no:{PID}"
    assert correspondence.requested_publish_time == T0
    assert correspondence.requested_publish_time.tzinfo is not None
    assert correspondence.created == datetime(2026, 8, 1, 7, 59, 58, 100_000, tzinfo=UTC)
    assert correspondence.due is None
    assert correspondence.read is None
    assert correspondence.status == "Published"
    assert correspondence.is_confirmation_needed is False
    assert correspondence.dialog_id == "0198aaaa-0000-7000-8000-000000000001"
    assert correspondence.reply_options[0].url == "https://svar.example/1"
    assert correspondence.content.title == "Vedtak"
    assert correspondence.content.body == "# Markdown"
    (attachment,) = correspondence.attachments
    assert isinstance(attachment, CorrespondenceAttachment)
    assert attachment.id == item.attachments[0].id
    assert attachment.checksum == md5(b"%PDF-1.7 vedtak")
    assert attachment.expiration_time is None
    assert correspondence.document["correspondenceId"] == item.id
    text = repr(correspondence)
    assert PID not in text
    assert "249172*****" in text
    assert item.id in text


async def test_details_add_history_label_and_notifications() -> None:
    item = person_item()
    fake = Fake([item])
    async with http_for(fake) as http:
        details = await CorrespondenceClient(http).details(item.id)
    assert isinstance(details, CorrespondenceDetails)
    assert isinstance(details, Correspondence)
    assert [s.status for s in details.status_history] == [
        "Initialized",
        "ReadyForPublish",
        "Published",
        "Fetched",
    ]
    assert details.system_label == "Archive"
    (notification,) = details.notifications
    assert notification.notification_channel == "Email"
    assert notification.is_reminder is True
    assert fake.requests[0].url.path.endswith(f"/{item.id}/details")
    assert PID not in repr(details)


def overview_with(**changes: Any) -> dict[str, Any]:
    document = Fake().overview(person_item(), details=False)
    for path, value in changes.items():
        target = document
        *parents, last = path.split("__")
        for parent in parents:
            target = target[parent]
        target[last] = value
    return document


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"correspondenceId": None}, "$.correspondenceId"),
        ({"requestedPublishTime": "yesterday"}, "$.requestedPublishTime"),
        ({"isConfidential": "no"}, "$.isConfidential"),
        ({"content__attachments": {"id": "x"}}, "$.content.attachments"),
        ({"content__messageTitle": 5}, "$.content.messageTitle"),
        ({"replyOptions": [7]}, "$.replyOptions[0]"),
        ({"content": "text"}, "$.content"),
    ],
)
async def test_a_malformed_overview_is_a_format_error_naming_the_field(
    changes: dict[str, Any], path: str
) -> None:
    document = overview_with(**changes)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=document)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=BASE) as http:
        with pytest.raises(ResponseFormatError) as info:
            await CorrespondenceClient(http).get(new_id(1))
    assert info.value.path == path
    assert "GET https://platform.example/correspondence" in str(info.value)


@pytest.mark.parametrize("body", [b"[]", b"not json", b'"a string"'])
async def test_an_overview_that_is_not_an_object_is_a_format_error(body: bytes) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=BASE) as http:
        with pytest.raises(ResponseFormatError):
            await CorrespondenceClient(http).get(new_id(1))


def test_nulls_are_tolerated() -> None:
    document = {"correspondenceId": new_id(1), "content": None, "externalReferences": None}
    document |= dict.fromkeys(
        ["recipient", "requestedPublishTime", "isConfirmationNeeded", "replyOptions"]
    )
    correspondence = Correspondence.from_dict(document)
    assert correspondence.content.attachments == ()
    assert correspondence.requested_publish_time is None
    assert correspondence.is_confirmation_needed is False
    assert correspondence.dialog_id is None


async def test_ids_that_are_not_uuids_never_reach_a_url() -> None:
    fake = Fake()
    async with http_for(fake) as http:
        client = CorrespondenceClient(http)
        for bad in ("../../admin", f"{new_id(1)}/content", PID):
            with pytest.raises(ConfigurationError, match="UUID") as info:
                await client.get(bad)
            assert PID not in str(info.value)
            with pytest.raises(ConfigurationError, match="UUID"):
                await client.mark_as_read(bad)
    assert fake.requests == []


async def test_content_marks_read_and_mark_as_read_and_confirm_are_explicit() -> None:
    first, second = Item(new_id(1), ticks(T0)), Item(new_id(2), ticks(T0))
    fake = Fake([first, second])
    async with http_for(fake) as http:
        client = CorrespondenceClient(http)
        await client.get(first.id)
        await client.get(second.id)
        assert fake.read == set()
        assert fake.confirmed == set()
        assert await client.content(first.id) == "# Vedtak\n\nDu har fått vedtak."
        assert fake.read == {first.id}
        assert fake.requests[-1].headers["Accept"] == "text/plain"
        await client.mark_as_read(second.id)
        assert fake.read == {first.id, second.id}
        with pytest.raises(APIError) as again:
            await client.mark_as_read(second.id)
        assert again.value.code == "CORR-01040"
        await client.confirm(second.id)
        assert fake.confirmed == {second.id}
        with pytest.raises(APIError) as twice:
            await client.confirm(second.id)
        assert twice.value.code == "CORR-01041"
        await client.purge(first.id)
        with pytest.raises(APIError) as gone:
            await client.get(first.id)
        assert gone.value.status_code == 404
        assert gone.value.code == "CORR-01001"
    posts = [r for r in fake.requests if r.method == "POST"]
    assert [r.url.path.rsplit("/", 1)[1] for r in posts] == [
        "markasread",
        "markasread",
        "confirm",
        "confirm",
    ]
    assert [r.method for r in fake.requests if r.url.path.endswith("/purge")] == ["DELETE"]


async def test_mark_as_read_needs_a_fetch_first() -> None:
    item = Item(new_id(1), ticks(T0))
    fake = Fake([item])
    async with http_for(fake) as http:
        with pytest.raises(APIError) as info:
            await CorrespondenceClient(http).mark_as_read(item.id)
    assert info.value.code == "CORR-01024"


async def test_a_post_that_may_have_arrived_is_not_sent_again() -> None:
    item = Item(new_id(1), ticks(T0))
    fake = Fake([item])
    fake.fetched.add(item.id)
    fake.unavailable.append(httpx.Response(503))
    async with http_for(fake) as http:
        with pytest.raises(APIError) as info:
            await CorrespondenceClient(http, retry=FAST).confirm(item.id)
    assert info.value.status_code == 503
    assert len(fake.requests) == 1
    assert fake.confirmed == set()


async def test_a_post_that_surely_did_not_arrive_is_sent_again() -> None:
    item = Item(new_id(1), ticks(T0))
    fake = Fake([item])
    fake.fetched.add(item.id)
    fake.unavailable.append(httpx.Response(429, headers={"Retry-After": "0"}))
    async with http_for(fake) as http:
        await CorrespondenceClient(http, retry=FAST).confirm(item.id)
    assert len(fake.requests) == 2
    assert fake.confirmed == {item.id}


async def test_a_raw_maskinporten_token_gets_told_to_exchange_it() -> None:
    item = Item(new_id(1), ticks(T0))
    fake = Fake([item])
    async with http_for(fake, token="maskinporten") as http:
        with pytest.raises(APIError, match="AltinnExchangeAuth") as info:
            await CorrespondenceClient(http).content(item.id)
    assert info.value.status_code == 403
    assert "IDX10205" in str(info.value)
    assert fake.read == set()


async def test_no_token_is_a_redirect_to_the_login_and_says_so() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": "https://login.example/authorize"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url=BASE) as http:
        with pytest.raises(APIError, match="AltinnExchangeAuth") as info:
            await CorrespondenceClient(http).get(new_id(1))
    assert info.value.status_code == 302


# --- downloads -----------------------------------------------------------------------------------


async def test_download_writes_the_attachment_under_a_safe_name_and_checks_its_md5(
    tmp_path: Path,
) -> None:
    item = person_item()
    fake = Fake([item])
    async with http_for(fake) as http:
        client = CorrespondenceClient(http)
        correspondence = await client.get(item.id)
        path = await client.download(correspondence, correspondence.attachments[0], tmp_path)
        named = await client.download(item.id, item.attachments[0].id, tmp_path, filename="x.pdf")
    assert path == tmp_path / "vedtak.pdf"
    assert path.read_bytes() == b"%PDF-1.7 vedtak"
    assert named.read_bytes() == b"%PDF-1.7 vedtak"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vedtak.pdf", "x.pdf"]
    download = fake.requests[1]
    assert download.url == httpx.URL(
        f"{API}/{item.id}/attachment/{item.attachments[0].id}/download"
    )
    assert download.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_a_body_that_does_not_match_the_checksum_is_fetched_again(tmp_path: Path) -> None:
    item = person_item()
    fake = Fake([item])
    fake.corrupt = 1
    async with http_for(fake) as http:
        client = CorrespondenceClient(http, retry=FAST)
        correspondence = await client.get(item.id)
        # An attachment named by its id is checked too when the overview is given.
        path = await client.download(correspondence, item.attachments[0].id, tmp_path)
    assert path.read_bytes() == b"%PDF-1.7 vedtak"
    assert len(fake.requests) == 3


async def test_a_body_that_never_matches_is_a_checksum_error_and_no_file(tmp_path: Path) -> None:
    item = person_item()
    item.attachments[0].checksum = md5(b"what the sender uploaded")
    fake = Fake([item])
    async with http_for(fake) as http:
        client = CorrespondenceClient(http, retry=RetryPolicy(attempts=3, backoff=0))
        correspondence = await client.get(item.id)
        with pytest.raises(ChecksumMismatchError) as info:
            await client.download(correspondence, correspondence.attachments[0], tmp_path)
    assert isinstance(info.value, NetworkError)
    assert info.value.expected == md5(b"what the sender uploaded")
    assert info.value.actual == md5(b"%PDF-1.7 vedtak")
    assert len(fake.requests) == 1 + 3
    assert list(tmp_path.iterdir()) == []


async def test_ids_alone_are_not_checked_unless_a_checksum_is_given(tmp_path: Path) -> None:
    item = person_item()
    item.attachments[0].checksum = md5(b"something else")
    fake = Fake([item])
    ids = (item.id, item.attachments[0].id)
    async with http_for(fake) as http:
        client = CorrespondenceClient(http, retry=RetryPolicy(attempts=1))
        path = await client.download(*ids, tmp_path)
        assert path == tmp_path / item.attachments[0].id  # no name without the overview
        with pytest.raises(ChecksumMismatchError):
            await client.download(*ids, tmp_path / "b", checksum=md5(b"something else"))


@pytest.mark.parametrize(
    ("change", "reason", "code"),
    [
        ({"expired": True}, "expired", "CORR-02020"),
        ({"status": "Purged"}, "purged", "CORR-02019"),
        ({"id": new_id(999)}, "not found", "CORR-02001"),
    ],
)
async def test_an_attachment_gone_for_good_is_attachment_unavailable(
    tmp_path: Path, change: dict[str, Any], reason: str, code: str
) -> None:
    item = person_item()
    wanted = item.attachments[0].id
    for name, value in change.items():
        setattr(item.attachments[0], name, value)
    fake = Fake([item])
    async with http_for(fake) as http:
        with pytest.raises(AttachmentUnavailableError) as info:
            await CorrespondenceClient(http, retry=FAST).download(item.id, wanted, tmp_path)
    assert info.value.reason == reason
    assert info.value.code == code
    assert isinstance(info.value, APIError)
    assert len(fake.requests) == 1  # not retried
    assert list(tmp_path.iterdir()) == []


async def test_a_missing_correspondence_is_not_an_unavailable_attachment(tmp_path: Path) -> None:
    fake = Fake()
    async with http_for(fake) as http:
        with pytest.raises(APIError) as info:
            await CorrespondenceClient(http).download(new_id(1), new_id(2), tmp_path)
    assert not isinstance(info.value, AttachmentUnavailableError)
    assert info.value.code == "CORR-01001"


# --- the walk ------------------------------------------------------------------------------------


def spread(count: int, *, same: dict[int, int] | None = None) -> list[Item]:
    """``count`` items a second apart, except that ``same[n]`` items share second ``n`` (with
    different 100-ns ticks for some, as .NET keeps them)."""
    items = []
    number = 0
    for second in range(count):
        for copy in range((same or {}).get(second, 1)):
            items.append(Item(new_id(number), ticks(T0 + timedelta(seconds=second), copy % 3)))
            number += 1
            if number >= count:
                return items
    return items


def position_of(walk: CorrespondenceWalk) -> datetime | None:
    return walk.position  # read anew each time (mypy would keep a narrowed property)


async def walk_all(client: CorrespondenceClient, **arguments: Any) -> list[str]:
    return [i async for i in client.walk(RESOURCE, **arguments)]


async def test_the_walk_lists_every_id_once_past_the_cap_with_ties_on_the_edges() -> None:
    # 2500 items; groups of equal times around where the windows of 1000 end.
    items = spread(2500, same={990: 30, 1960: 25, 1980: 40})
    fake = Fake(items)
    async with http_for(fake) as http:
        walk = CorrespondenceClient(http).walk(RESOURCE)
        seen = [i async for i in walk]
    assert len(seen) == len(set(seen)) == 2500
    assert set(seen) == {item.id for item in items}
    order = {item.id: item.tick for item in items}
    ticks_seen = [order[i] for i in seen]
    assert ticks_seen == sorted(ticks_seen, reverse=True)  # newest first
    assert walk.finished
    assert walk.handed_out == 2500
    assert walk.windows == len(fake.lists()) == 3
    # One overview per full window, to find where the next one starts.
    assert len(fake.gets()) == 2
    for request in fake.lists()[1:]:
        assert "to" in request.url.params


async def test_the_walk_keeps_to_its_bounds() -> None:
    items = spread(1500)
    fake = Fake(items)
    start, end = T0 + timedelta(seconds=100), T0 + timedelta(seconds=1400)
    async with http_for(fake) as http:
        seen = await walk_all(CorrespondenceClient(http), start=start, end=end)
    expected = {item.id for item in items if ticks(start) < item.tick < ticks(end)}
    assert len(seen) == len(expected) == 1299
    assert set(seen) == expected
    for request in fake.lists():
        assert parse_ticks(request.url.params["from"]) == ticks(start)


async def test_the_walk_steps_over_a_purged_oldest_id() -> None:
    items = spread(1500)
    by_tick = sorted(items, key=lambda i: i.tick, reverse=True)
    by_tick[999].purged = True  # the oldest of the first window: listed, but 404 on GET
    fake = Fake(items)
    async with http_for(fake) as http:
        seen = await walk_all(CorrespondenceClient(http))
    assert len(seen) == len(set(seen)) == 1500
    assert len(fake.gets()) == 2


async def test_a_walk_resumes_from_its_position() -> None:
    items = spread(2500, same={1490: 20, 1500: 3})
    fake = Fake(items)
    async with http_for(fake) as http:
        client = CorrespondenceClient(http)
        walk = client.walk(RESOURCE)
        assert position_of(walk) is None
        first: list[str] = []
        async for correspondence_id in walk:
            first.append(correspondence_id)
            if len(first) == 1500:
                break
        saved = walk.position
        assert isinstance(saved, datetime)
        rest = await walk_all(client, resume_from=saved)
    assert len(first) == len(set(first))
    assert set(first) | set(rest) == {item.id for item in items}
    # What comes again is what was handed out of the window being read when it stopped.
    again = set(first) & set(rest)
    assert 0 < len(again) <= 1000
    assert all(i.tick < ticks(saved) for i in items if i.id in again)
    assert len(rest) == 2500 - 1500 + len(again)


async def test_position_moves_on_only_once_a_window_is_handed_out() -> None:
    items = spread(1200)
    fake = Fake(items)
    async with http_for(fake) as http:
        walk = CorrespondenceClient(http).walk(RESOURCE)
        ids = [await anext(walk) for _ in range(999)]
        assert position_of(walk) is None  # one id of the first window is still to come
        ids.append(await anext(walk))
        boundary = position_of(walk)
        assert boundary is not None
        oldest = min(i.tick for i in items if i.id in ids)
        assert ticks(boundary) == oldest - oldest % 10 + 10  # its microsecond, plus one
        ids += [i async for i in walk]
    assert len(set(ids)) == 1200


async def test_a_thousand_at_one_moment_raise_instead_of_looping() -> None:
    # 300 newer ones, then 1100 at one moment, then 100 older ones.
    moment = T0 + timedelta(seconds=10)
    items = [Item(new_id(n), ticks(moment)) for n in range(1100)]
    items += [Item(new_id(2000 + n), ticks(moment + timedelta(seconds=n + 1))) for n in range(300)]
    items += [Item(new_id(3000 + n), ticks(T0 + timedelta(microseconds=n))) for n in range(100)]
    fake = Fake(items)
    seen: list[str] = []
    async with http_for(fake) as http:
        walk = CorrespondenceClient(http).walk(RESOURCE)
        with pytest.raises(StuckWindowError) as info:
            async for correspondence_id in walk:
                seen.append(correspondence_id)  # noqa: PERF401 - keeps what came before
    error = info.value
    assert error.moment == moment
    assert "Dialogporten" in str(error)
    assert error.position is not None
    assert datetime.fromisoformat(error.position) == moment + timedelta(microseconds=1)
    # What came out came once, and includes the 300 newer ones; nothing looped.
    assert len(seen) == len(set(seen))
    assert {f"{new_id(2000 + n)}" for n in range(300)} <= set(seen)
    # Split by status: every published one "ever had" Published, so that part is full too.
    statuses = [r.url.params.get("status") for r in fake.lists()]
    assert statuses[-1] == "Published"
    assert len(fake.requests) < 10


async def test_a_status_filter_leaves_nothing_to_split_by() -> None:
    moment = T0 + timedelta(seconds=10)
    items = [Item(new_id(n), ticks(moment), statuses=["Published", "Read"]) for n in range(1000)]
    fake = Fake(items)
    async with http_for(fake) as http:
        with pytest.raises(StuckWindowError, match="status= given"):
            await walk_all(CorrespondenceClient(http), status="Read")
    assert {r.url.params["status"] for r in fake.lists()} == {"Read"}
    assert len(fake.lists()) == 2


async def test_a_sender_splits_a_crowded_moment_by_status() -> None:
    # If a sender's status filter matches the latest status (the reference leaves it open),
    # the parts partition the moment and the walk gets past it.
    moment = T0 + timedelta(seconds=10)
    latest = ["Published", "Read", "Confirmed", "AttachmentsDownloaded"]
    items = [
        Item(new_id(n), ticks(moment), statuses=["Published", latest[n % 4]]) for n in range(1500)
    ]
    items += [Item(new_id(5000 + n), ticks(T0 + timedelta(seconds=n))) for n in range(5)]
    # Right below the moment: one in the microsecond before, one 500 ns before.
    before = moment - timedelta(microseconds=1)
    items += [Item(new_id(6000), ticks(before)), Item(new_id(6001), ticks(before, 5))]
    fake = Fake(items)
    async with http_for(fake) as http:
        seen = await walk_all(CorrespondenceClient(http), role="Sender")
    assert len(seen) == len(set(seen)) == 1507
    split = [r.url.params["status"] for r in fake.lists() if "status" in r.url.params]
    assert len(split) == 14


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"start": T0, "end": T0}, "end must come after its start"),
        ({"start": T0, "resume_from": T0 - timedelta(seconds=1)}, "end must come after"),
        ({"end": datetime(2026, 1, 1)}, "aware"),  # noqa: DTZ001 - naive on purpose
        ({"role": "Owner"}, "role"),
        ({"on_behalf_of": "x"}, "on_behalf_of"),
    ],
)
async def test_a_walk_checks_its_input_at_once(arguments: dict[str, Any], match: str) -> None:
    fake = Fake()
    async with http_for(fake) as http:
        with pytest.raises(ConfigurationError, match=match):
            CorrespondenceClient(http).walk(RESOURCE, **arguments)
    assert fake.requests == []


async def test_reprs_show_no_token_and_no_pid() -> None:
    fake = Fake()
    async with http_for(fake) as http:
        client = CorrespondenceClient(http)
        walk = client.walk(RESOURCE, on_behalf_of=PID)
        for text in (repr(client), repr(walk)):
            assert TOKEN not in text
            assert PID not in text
    assert repr(client) == "CorrespondenceClient(platform='https://platform.example')"
    assert "handed_out=0" in repr(walk)


def test_values_compare_by_content_and_can_be_kept_in_sets() -> None:
    document = Fake().overview(person_item(), details=False)
    document["propertyList"] = {"saksnummer": "2026/42"}
    first, again = Correspondence.from_dict(document), Correspondence.from_dict(dict(document))
    assert first == again
    assert len({first, again}) == 1
    assert first.property_list["saksnummer"] == "2026/42"
    assert Correspondence.from_dict(document | {"status": "Read"}) != first
