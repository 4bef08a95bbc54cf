"""Altinn 3 Correspondence for recipients (and the sender side's list): ids, overviews,
content, attachments, and the explicit acts of reading, confirming and purging.

Correspondence takes **Altinn tokens**: exchange a Maskinporten (system user) or ID-porten
token first, with `AltinnExchangeAuth`. A raw Maskinporten token is accepted only by the
sender side's policies and refused (403, ``IDX10205``) by ``content``, ``markasread``,
``confirm`` and the downloads, so the rule is simply: always exchange. A Dialogporten dialog
token (whose ``a`` claim includes ``read``) works too::

    async with httpx.AsyncClient(auth=exchange, base_url=altinn.TEST.platform) as http:
        correspondence = CorrespondenceClient(http)
        async for correspondence_id in correspondence.walk("skd-melding-x"):
            item = await correspondence.get(correspondence_id)       # records Fetched
            for attachment in item.attachments:
                await correspondence.download(item, attachment, "inbox")

What a recipient does here shows in the Altinn inbox. `get`, `details` and `walk` record
*Fetched* (the API cannot read without it); `content` and `mark_as_read` record *Read*;
`confirm` and `purge` do what they say. Nothing here does the last three unless called.
"""

from __future__ import annotations

import collections
import datetime as dt
import os
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Self, TypeVar

import attrs
import httpx

from ._api import PlatformClient
from ._files import download_to, safe_filename
from ._http import api_error
from ._reading import JsonReader
from ._redact import mask_pid, mask_pids, safe_url
from ._retry import request
from .exceptions import (
    APIError,
    AttachmentUnavailableError,
    ConfigurationError,
    PaginationError,
    ResponseFormatError,
    StuckWindowError,
)

__all__ = [
    "LIST_LIMIT",
    "ROLES",
    "STATUSES",
    "Correspondence",
    "CorrespondenceAttachment",
    "CorrespondenceClient",
    "CorrespondenceContent",
    "CorrespondenceDetails",
    "CorrespondenceIds",
    "CorrespondenceNotification",
    "CorrespondenceWalk",
    "ExternalReference",
    "ReplyOption",
    "StatusChange",
]

_PATH = "/correspondence/api/v1/correspondence"

LIST_LIMIT = 1000
"""The most ids one list call answers (fixed by Altinn; there is no paging)."""

ROLES = ("Recipient", "Sender", "RecipientAndSender")
"""The roles a list is made for (``role=``)."""

STATUSES = (
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
)
"""A correspondence's statuses, in the order of their numbers (Initialized is 0)."""

# A recipient's list filtered by one of these is refused or empty: the recipient never sees them.
_NOT_FOR_RECIPIENTS = frozenset({"Initialized", "ReadyForPublish", "Failed"})

_ORG_URN = "urn:altinn:organization:identifier-no"
_PERSON_URN = "urn:altinn:person:identifier-no"
_ORGNO = re.compile(r"[0-9]{9}", re.ASCII)
_PID = re.compile(r"[0-9]{11}", re.ASCII)
_GUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", re.ASCII
)
_MICROSECOND = dt.timedelta(microseconds=1)

# --- reading documents ---------------------------------------------------------------------------


def _time_text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# --- values --------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReplyOption:
    """A link the sender offers for replying.

    Attributes:
        url: the link (``linkURL``).
        text: what it says (``linkText``).
    """

    url: str | None
    text: str | None


@attrs.frozen(kw_only=True)
class ExternalReference:
    """A reference from the correspondence to something elsewhere.

    Attributes:
        reference_type: what it refers to: ``DialogportenDialogId``, ``AltinnAppInstance``, ...
        reference_value: the id there.
    """

    reference_type: str | None
    reference_value: str | None


@attrs.frozen(kw_only=True, repr=False)
class CorrespondenceAttachment:
    """An attachment's metadata, as a correspondence's overview lists it.

    Attributes:
        id: the attachment's id (the ``{attachmentId}`` of its download URL).
        file_name: the name the sender gave the file (not safe as a path: `download` makes it
            safe).
        display_name: the name the inbox shows.
        checksum: the MD5 of the bytes, 32 lower-case hex digits (`download` checks it).
        data_type: the media type, from the file's extension.
        is_encrypted: whether the sender encrypted the bytes.
        senders_reference: the sender's own reference.
        status: ``Published``, ``Purged``, ``Expired``, ...
        status_text: the status in words.
        status_changed: when the status was set.
        created: when it was uploaded.
        expiration_time: when it can no longer be downloaded, if it expires.
        expiration_in_days: the sender's expiry setting.
        data_location_type: where the bytes are kept (``AltinnCorrespondenceAttachment``, ...).
        document: the JSON object as Correspondence sent it (do not modify it).
    """

    id: str
    file_name: str | None
    display_name: str | None
    checksum: str | None
    data_type: str | None
    is_encrypted: bool
    senders_reference: str | None
    status: str | None
    status_text: str | None
    status_changed: datetime | None
    created: datetime | None
    expiration_time: datetime | None
    expiration_in_days: int | None
    data_location_type: str | None
    document: Mapping[str, Any] = attrs.field(eq=False)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Self:
        """The attachment in one object of an overview's ``content.attachments``.

        Raises:
            ResponseFormatError: no ``id``, or a field of the wrong type.
        """
        return cls(**_attachment_fields(JsonReader(document)))

    def __repr__(self) -> str:
        name = None if self.file_name is None else mask_pids(self.file_name)
        return (
            f"CorrespondenceAttachment(id={self.id!r}, file_name={name!r}, "
            f"status={self.status!r}, expiration_time={_time_text(self.expiration_time)!r})"
        )


def _attachment_fields(r: JsonReader) -> dict[str, Any]:
    return {
        "id": r.required_text("id"),
        "file_name": r.text("fileName"),
        "display_name": r.text("displayName"),
        "checksum": r.text("checksum"),
        "data_type": r.text("dataType"),
        "is_encrypted": r.flag("isEncrypted"),
        "senders_reference": r.text("sendersReference"),
        "status": r.text("status"),
        "status_text": r.text("statusText"),
        "status_changed": r.time("statusChanged"),
        "created": r.time("created"),
        "expiration_time": r.time("expirationTime"),
        "expiration_in_days": r.integer("expirationInDays"),
        "data_location_type": r.text("dataLocationType"),
        "document": r.document,
    }


@attrs.frozen(kw_only=True, repr=False)
class CorrespondenceContent:
    """What a correspondence says: title, summary, markdown body and attachments.

    Filled for the recipient; a sender gets it only before publication (empty strings after).

    Attributes:
        language: ``nb``, ``nn`` or ``en``.
        title: ``messageTitle``.
        summary: ``messageSummary``.
        body: ``messageBody``, markdown (with more than three reply options, Altinn appends
            them to it).
        attachments: the attachments, in the order they were uploaded.
    """

    language: str | None = None
    title: str | None = None
    summary: str | None = None
    body: str | None = None
    attachments: tuple[CorrespondenceAttachment, ...] = ()

    def __repr__(self) -> str:
        title = None if self.title is None else mask_pids(self.title)
        return (
            f"CorrespondenceContent(language={self.language!r}, title={title!r}, "
            f"attachments={len(self.attachments)})"
        )


def _content(r: JsonReader | None) -> CorrespondenceContent:
    if r is None:
        return CorrespondenceContent()
    return CorrespondenceContent(
        language=r.text("language"),
        title=r.text("messageTitle"),
        summary=r.text("messageSummary"),
        body=r.text("messageBody"),
        attachments=tuple(
            CorrespondenceAttachment(**_attachment_fields(a)) for a in r.objects("attachments")
        ),
    )


def _party_text(value: str | None) -> str | None:
    return None if value is None else mask_pids(value)


@attrs.frozen(kw_only=True, repr=False)
class Correspondence:
    """A correspondence's overview (``GET /correspondence/{id}``).

    Parse one with `from_dict`; `CorrespondenceClient.get` hands them out parsed. Nulls read
    as ``None`` (flags as ``False``); times are aware datetimes (to the microsecond:
    `document` keeps the exact text). The ``repr`` masks national identity numbers (a person
    recipient is ``urn:altinn:person:identifier-no:{pid}``).

    Attributes:
        id: ``correspondenceId``.
        resource_id: the resource (service) it was sent under.
        recipient: the recipient's URN.
        sender: the sender's URN.
        senders_reference: the sender's own reference.
        message_sender: a sender name to show instead of the organisation's.
        requested_publish_time: when it was to be published (what lists order and filter by).
        due: ``dueDateTime``.
        created: when the sender created it.
        published: when it was published.
        read: when the recipient first read it.
        status: the highest status it ever had, not counting Fetched (not the latest one).
        status_text: the status in words.
        status_changed: when that status was set.
        is_confirmation_needed: the sender asks for a confirmation (`confirm`).
        is_confidential: the inbox shows it only to those with access to confidential mail.
        allow_forwarding: the recipient may forward it.
        altinn2_correspondence_id: its id in Altinn 2, for a migrated message.
        reply_options: links for replying.
        external_references: references elsewhere (`dialog_id` reads one).
        property_list: the sender's key-value pairs.
        content: title, summary, body and attachments.
        document: the JSON object as Correspondence sent it (do not modify it).
    """

    id: str
    resource_id: str | None
    recipient: str | None
    sender: str | None
    senders_reference: str | None
    message_sender: str | None
    requested_publish_time: datetime | None
    due: datetime | None
    created: datetime | None
    published: datetime | None
    read: datetime | None
    status: str | None
    status_text: str | None
    status_changed: datetime | None
    is_confirmation_needed: bool
    is_confidential: bool
    allow_forwarding: bool
    altinn2_correspondence_id: int | None
    reply_options: tuple[ReplyOption, ...]
    external_references: tuple[ExternalReference, ...]
    property_list: Mapping[str, Any] = attrs.field(hash=False)
    content: CorrespondenceContent
    document: Mapping[str, Any] = attrs.field(eq=False)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Self:
        """The correspondence in an overview (or details) document.

        Raises:
            ResponseFormatError: ``document`` is not an object, has no ``correspondenceId``,
                or has a field of the wrong type (a time that is not a time, ...).
        """
        return cls(**_fields(JsonReader(document)))

    @property
    def attachments(self) -> tuple[CorrespondenceAttachment, ...]:
        """The attachments (the same as ``content.attachments``)."""
        return self.content.attachments

    @property
    def dialog_id(self) -> str | None:
        """The id of its Dialogporten dialog (the ``DialogportenDialogId`` reference), if any."""
        for reference in self.external_references:
            if reference.reference_type == "DialogportenDialogId" and reference.reference_value:
                return reference.reference_value
        return None

    def _repr_parts(self) -> list[str]:
        return [
            f"id={self.id!r}",
            f"resource_id={self.resource_id!r}",
            f"recipient={_party_text(self.recipient)!r}",
            f"sender={_party_text(self.sender)!r}",
            f"status={self.status!r}",
            f"requested_publish_time={_time_text(self.requested_publish_time)!r}",
            f"content={self.content!r}",
        ]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self._repr_parts())})"


def _fields(r: JsonReader) -> dict[str, Any]:
    return {
        "id": r.required_text("correspondenceId"),
        "resource_id": r.text("resourceId"),
        "recipient": r.text("recipient"),
        "sender": r.text("sender"),
        "senders_reference": r.text("sendersReference"),
        "message_sender": r.text("messageSender"),
        "requested_publish_time": r.time("requestedPublishTime"),
        "due": r.time("dueDateTime"),
        "created": r.time("created"),
        "published": r.time("published"),
        "read": r.time("read"),
        "status": r.text("status"),
        "status_text": r.text("statusText"),
        "status_changed": r.time("statusChanged"),
        "is_confirmation_needed": r.flag("isConfirmationNeeded"),
        "is_confidential": r.flag("isConfidential"),
        "allow_forwarding": r.flag("allowForwarding"),
        "altinn2_correspondence_id": r.integer("altinn2CorrespondenceId"),
        "reply_options": tuple(
            ReplyOption(url=o.text("linkURL"), text=o.text("linkText"))
            for o in r.objects("replyOptions")
        ),
        "external_references": tuple(
            ExternalReference(
                reference_type=o.text("referenceType"), reference_value=o.text("referenceValue")
            )
            for o in r.objects("externalReferences")
        ),
        "property_list": r.mapping("propertyList"),
        "content": _content(r.child("content")),
        "document": r.document,
    }


@attrs.frozen(kw_only=True)
class StatusChange:
    """One entry of a correspondence's status history.

    Attributes:
        status: the status set.
        status_text: the status in words.
        status_changed: when.
    """

    status: str | None
    status_text: str | None
    status_changed: datetime | None


@attrs.frozen(kw_only=True, repr=False)
class CorrespondenceNotification:
    """A notification (e-mail, SMS) sent about a correspondence, as ``details`` lists it.

    Attributes:
        id: the notification order's id.
        senders_reference: the sender's reference for it.
        created: when it was ordered.
        is_reminder: a reminder rather than the first notice.
        notification_channel: ``Email``, ``Sms``, ``EmailPreferred``, ...
        document: the JSON object as sent (its processing status is there).
    """

    id: str | None
    senders_reference: str | None
    created: datetime | None
    is_reminder: bool
    notification_channel: str | None
    document: Mapping[str, Any] = attrs.field(eq=False)

    def __repr__(self) -> str:
        return (
            f"CorrespondenceNotification(id={self.id!r}, channel={self.notification_channel!r}, "
            f"is_reminder={self.is_reminder!r})"
        )


@attrs.frozen(kw_only=True, repr=False)
class CorrespondenceDetails(Correspondence):
    """A correspondence's details (``GET /correspondence/{id}/details``): the overview's fields
    and its history.

    Attributes:
        status_history: every status it had, with Fetched, in the order given.
        system_label: the recipient's inbox label (``Default``, ``Bin``, ``Archive``, ...).
        notifications: the notifications sent about it.
    """

    status_history: tuple[StatusChange, ...]
    system_label: str | None
    notifications: tuple[CorrespondenceNotification, ...]

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Self:
        """The correspondence in a details document.

        Raises:
            ResponseFormatError: as `Correspondence.from_dict`, and for a malformed history.
        """
        r = JsonReader(document)
        return cls(
            **_fields(r),
            status_history=tuple(
                StatusChange(
                    status=s.text("status"),
                    status_text=s.text("statusText"),
                    status_changed=s.time("statusChanged"),
                )
                for s in r.objects("statusHistory")
            ),
            system_label=r.text("systemLabel"),
            notifications=tuple(
                CorrespondenceNotification(
                    id=n.text("id") or n.text("notificationOrderId"),
                    senders_reference=n.text("sendersReference"),
                    created=n.time("created"),
                    is_reminder=n.flag("isReminder"),
                    notification_channel=n.text("notificationChannel"),
                    document=n.document,
                )
                for n in r.objects("notifications")
            ),
        )

    def _repr_parts(self) -> list[str]:
        return [
            *super()._repr_parts(),
            f"system_label={self.system_label!r}",
            f"status_history={len(self.status_history)}",
        ]


@attrs.frozen
class CorrespondenceIds:
    """The answer of one list call: at most 1000 ids, newest ``requestedPublishTime`` first.

    Iterate it, or take its `len`. Altinn neither pages nor counts: when `capped`, exactly
    1000 came and there may be more (narrow the window with ``to=``, or use `walk`).

    Attributes:
        ids: the correspondence ids.
        capped: exactly 1000 came (the limit), so there may be more.
    """

    ids: tuple[str, ...]
    capped: bool

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids)

    def __len__(self) -> int:
        return len(self.ids)


# --- checks of input -----------------------------------------------------------------------------


def _guid(value: object, what: str) -> str:
    if not isinstance(value, str) or not _GUID.fullmatch(value):
        shown = mask_pids(value) if isinstance(value, str) else type(value).__name__
        raise ConfigurationError(f"a {what} id is a UUID, not {shown!r}")
    return value


def _role(role: str) -> str:
    for name in ROLES:
        if role.lower() == name.lower():
            return name
    raise ConfigurationError(f"role is one of {', '.join(ROLES)}, not {role!r}")


def _status(status: str | int) -> str:
    if isinstance(status, int) and not isinstance(status, bool) and 0 <= status < len(STATUSES):
        return STATUSES[status]
    if isinstance(status, str):
        for name in STATUSES:
            if status.lower() == name.lower():
                return name
    raise ConfigurationError(f"status is one of {', '.join(STATUSES)} (or 0-13), not {status!r}")


def _wire_time(moment: datetime, name: str) -> str:
    if not isinstance(moment, datetime):
        raise ConfigurationError(f"{name} must be a datetime")
    if moment.utcoffset() is None:
        raise ConfigurationError(
            f"{name}: give an aware datetime (with tzinfo), not {moment.isoformat()}"
        )
    # With its own offset; httpx encodes the + (a bare + would arrive as a space).
    return moment.isoformat(timespec="microseconds")


def _is_pid(digits: str) -> bool:
    # The two mod-11 check digits of a national identity number (fødselsnummer, d-nummer).
    numbers = [int(c) for c in digits]
    for weights, at in (((3, 7, 6, 1, 8, 9, 4, 5, 2), 9), ((5, 4, 3, 2, 7, 6, 5, 4, 3, 2), 10)):
        check = 11 - sum(w * n for w, n in zip(weights, numbers, strict=False)) % 11
        if check == 11:
            check = 0
        if check == 10 or check != numbers[at]:
            return False
    return True


def _on_behalf_of(value: object) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if _ORGNO.fullmatch(text):
        return f"{_ORG_URN}:{text}"
    for prefix in ("0192:", f"{_ORG_URN}:"):
        if text.startswith(prefix) and _ORGNO.fullmatch(text.removeprefix(prefix)):
            return text
    pid = text.removeprefix(f"{_PERSON_URN}:")
    if _PID.fullmatch(pid):
        if not _is_pid(pid):
            raise ConfigurationError(
                f"on_behalf_of {mask_pid(pid)}: not a national identity number "
                "(its check digits do not add up)"
            )
        return text
    shown = mask_pids(value) if isinstance(value, str) else type(value).__name__
    raise ConfigurationError(
        f"on_behalf_of {shown!r} is neither an organisation (9 digits, 0192:…, {_ORG_URN}:…) "
        f"nor a person (11 digits, {_PERSON_URN}:…)"
    )


# --- errors --------------------------------------------------------------------------------------

_UNAVAILABLE = {2020: "expired", 2019: "purged", 2001: "not found"}


def _error_number(problem: Mapping[str, object]) -> int | None:
    code = problem.get("code")
    if isinstance(code, str) and code.startswith("CORR-") and code[5:].isdigit():
        return int(code[5:])
    number = problem.get("errorCode")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def _hint(error: APIError, number: int | None) -> str | None:
    problem = error.problem or {}
    words = " ".join(str(problem.get(k, "")) for k in ("title", "detail"))
    if "IDX10205" in words or (error.status_code == 403 and "Maskinporten" in words):
        return (
            "Correspondence wants an Altinn token here, not a Maskinporten one: exchange it "
            "(give the client AltinnExchangeAuth)"
        )
    if error.status_code in (301, 302, 303, 307):
        return (
            "Correspondence sends a request without a token to the login page: give the "
            "client an auth that adds one (AltinnExchangeAuth)"
        )
    if number == 4006:
        return "pass on_behalf_of (a person's token names no organisation to default to)"
    return None


def _refine(error: APIError, *, attachment: bool = False) -> APIError:
    """``error`` as the caller can branch on it: an unavailable attachment, or with a hint."""
    number = _error_number(error.problem or {})
    fields: dict[str, Any] = {
        "status_code": error.status_code,
        "method": error.method,
        "url": error.url,
        "problem": error.problem,
        "detail": error.detail,
        "retry_after": error.retry_after,
    }
    if attachment and number in _UNAVAILABLE:
        return AttachmentUnavailableError(str(error), reason=_UNAVAILABLE[number], **fields)
    hint = _hint(error, number)
    if hint is None:
        return error
    return APIError(f"{error}: {hint}", **fields)


# --- the client ----------------------------------------------------------------------------------


class CorrespondenceClient(PlatformClient):
    """Altinn 3 Correspondence, for a recipient (or a sender's list), over an authenticated
    ``httpx.AsyncClient``.

    Example::

        async with httpx.AsyncClient(auth=exchange, base_url=altinn.TEST.platform) as http:
            correspondence = CorrespondenceClient(http)
            ids = await correspondence.list("skd-melding-x", on_behalf_of="312345678")
            for correspondence_id in ids:
                item = await correspondence.get(correspondence_id)
                print(item.content.title, [a.file_name for a in item.attachments])

    Every request goes through the retry policy (429, 502, 503, 504 and network failures);
    the ``POST`` calls (`mark_as_read`, `confirm`) only when they surely did not reach
    Correspondence. Ids are checked to be UUIDs before they go into a URL.

    Args:
        http: a client whose auth gives Altinn tokens (`AltinnExchangeAuth`; a raw
            Maskinporten token is refused by most endpoints), or Dialogporten dialog tokens.
        platform: the platform base URL, if ``http`` has no ``base_url``.
        retry: the `RetryPolicy` (``RetryPolicy.NEVER`` for none).

    Raises:
        ConfigurationError: there is no platform URL.
    """

    def _url(self, correspondence_id: str, *rest: str) -> str:
        return "/".join([f"{self._base}{_PATH}", _guid(correspondence_id, "correspondence"), *rest])

    async def _send(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        response = await request(
            self._http, method, url, policy=self._retry, auth=self._auth, headers=headers
        )
        if response.status_code != 200:
            raise _refine(await api_error(response))
        return response

    async def _document(self, url: str) -> object:
        response = await self._send("GET", url)
        try:
            return response.json()
        except ValueError:
            raise ResponseFormatError(
                f"GET {safe_url(url)} answered HTTP 200 without JSON"
            ) from None

    async def list(
        self,
        resource_id: str,
        *,
        role: str = "Recipient",
        from_: datetime | None = None,
        to: datetime | None = None,
        status: str | int | None = None,
        on_behalf_of: str | None = None,
        senders_reference: str | None = None,
        idempotent_key: str | None = None,
        altinn2_correspondence_id: int | None = None,
    ) -> CorrespondenceIds:
        """The ids of one resource's correspondences: one call, at most 1000, newest first.

        Ordered by ``requestedPublishTime``, newest first, in no fixed order among equal
        times. Altinn has no paging: `CorrespondenceIds.capped` says when 1000 came, and
        `walk` lists them all. Purged correspondences stay in the list (`get` then answers
        404). Listing has no side effect.

        Example::

            from datetime import UTC, datetime

            ids = await correspondence.list("skd-melding-x", on_behalf_of="312345678",
                                            from_=datetime(2026, 1, 1, tzinfo=UTC))

        Args:
            resource_id: the resource (one per call: there is no listing of all of them).
            role: ``Recipient``, ``Sender`` or ``RecipientAndSender``.
            from_: only those published after this (exclusive), an aware datetime.
            to: only those published before this (exclusive).
            status: only those that ever had this status (for a recipient): a name of
                `STATUSES` or its number.
            on_behalf_of: the party whose mailbox: an organisation number (9 digits, sent as
                its URN), ``0192:{orgno}``, ``urn:altinn:organization:identifier-no:{orgno}``,
                a national identity number or ``urn:altinn:person:identifier-no:{pid}``. The
                default is the token's organisation, so a person must pass their own.
            senders_reference: only those with this ``sendersReference``.
            idempotent_key: the one sent with this idempotency key (a UUID).
            altinn2_correspondence_id: the one migrated from this Altinn 2 id.

        Raises:
            ConfigurationError: an empty ``resource_id``, an unknown role or status, a naive
                datetime, ``from_`` after ``to``, or an ``on_behalf_of``, ``idempotent_key``
                or ``altinn2_correspondence_id`` of the wrong form (checked before sending).
            APIError: Correspondence answered an error (no access is 401, ``CORR-04001``).
            ResponseFormatError: the answer is not ``{"ids": [...]}``.
        """
        return await self._list(
            _query(
                resource_id,
                role=role,
                from_=from_,
                to=to,
                status=status,
                on_behalf_of=on_behalf_of,
                senders_reference=senders_reference,
                idempotent_key=idempotent_key,
                altinn2_correspondence_id=altinn2_correspondence_id,
            )
        )

    async def _list(self, query: Sequence[tuple[str, str]]) -> CorrespondenceIds:
        url = httpx.URL(f"{self._base}{_PATH}", params=query)
        response = await self._send("GET", url)
        try:
            body = response.json()
        except ValueError:
            body = None
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise ResponseFormatError(
                f"GET {safe_url(url)} answered without an ids list of strings", path="$.ids"
            )
        return CorrespondenceIds(ids=tuple(ids), capped=len(ids) >= LIST_LIMIT)

    def walk(
        self,
        resource_id: str,
        *,
        role: str = "Recipient",
        start: datetime | None = None,
        end: datetime | None = None,
        status: str | int | None = None,
        on_behalf_of: str | None = None,
        resume_from: datetime | None = None,
    ) -> CorrespondenceWalk:
        """Every id published between ``start`` and ``end``, newest first, past the 1000 cap.

        Lists in windows from the newest down: each window is a `list` call with ``to=`` the
        time of the oldest correspondence of the window before (plus a microsecond, as Altinn
        keeps times finer than that), and ids the two windows share are handed out once. To
        learn that time, a full window reads the overview of its oldest id: **for a
        recipient this records Fetched on it**, which the API gives no way around (for
        ``role="Sender"`` it has no side effect). When 1000 or more share one time (a bulk
        send with one publish time), the walk lists that moment once per status and takes
        the union, which is complete when no part reaches 1000; otherwise it raises
        `StuckWindowError` rather than loop or skip. For a recipient the status filter means
        "ever had", and every published correspondence had Published, so there the split
        cannot help and such a moment raises (Dialogporten can enumerate it).

        Each id comes out exactly once per walk; memory holds one window. Save
        `CorrespondenceWalk.position` and pass it as ``resume_from`` to continue later (ids at
        the window's edge may then come again). Nothing is sent until the first iteration.

        Example::

            walk = correspondence.walk("skd-melding-x", on_behalf_of="312345678",
                                       resume_from=saved)
            async for correspondence_id in walk:
                await handle(correspondence_id)
                saved = walk.position

        Args:
            resource_id: the resource.
            role: ``Recipient``, ``Sender`` or ``RecipientAndSender``.
            start: only those published after this (exclusive); default: all.
            end: only those published before this (exclusive); default: up to now.
            status: only those that ever had this status (then no split by status is possible).
            on_behalf_of: whose mailbox, as for `list`.
            resume_from: a saved `CorrespondenceWalk.position` (instead of ``end``).

        Raises:
            ConfigurationError: as for `list`, and ``start`` not before ``end``.
        """
        query = _query(resource_id, role=role, status=status, on_behalf_of=on_behalf_of)
        to = resume_from if resume_from is not None else end
        if start is not None:
            _wire_time(start, "start")
        if to is not None:
            _wire_time(to, "resume_from" if resume_from is not None else "end")
            if start is not None and to <= start:
                raise ConfigurationError("the walk's end must come after its start")
        return CorrespondenceWalk(
            self._list,
            self.get,
            query,
            role=_role(role),
            start=start,
            to=to,
            status_given=status is not None,
        )

    async def get(self, correspondence_id: str) -> Correspondence:
        """A correspondence's overview: its fields, content and attachments' metadata.

        For a recipient this **records Fetched** (once per 15 seconds at most), which the
        inbox does not show as read; it reads nothing, confirms nothing.

        Raises:
            ConfigurationError: the id is not a UUID.
            APIError: Correspondence answered an error (404, ``CORR-01001``: not found,
                purged, or not for this recipient).
            ResponseFormatError: the answer is not an overview.
        """
        url = self._url(correspondence_id)
        document = await self._document(url)
        return _parse(Correspondence, document, url)

    async def details(self, correspondence_id: str) -> CorrespondenceDetails:
        """A correspondence's details: the overview's fields, its status history, its
        notifications and the recipient's inbox label. Records Fetched for a recipient.

        Raises:
            ConfigurationError: the id is not a UUID.
            APIError: Correspondence answered an error.
            ResponseFormatError: the answer is not a details document.
        """
        url = self._url(correspondence_id, "details")
        document = await self._document(url)
        return _parse(CorrespondenceDetails, document, url)

    async def content(self, correspondence_id: str) -> str:
        """The body as markdown (``GET /{id}/content``).

        **This marks the correspondence Read**, as opening it in the inbox does, and tells
        the sender (an event, and an "opened" activity in Dialogporten). To read the body
        without that, use ``(await get(id)).content.body``: the overview carries it.

        Raises:
            ConfigurationError: the id is not a UUID.
            APIError: Correspondence answered an error.
        """
        url = self._url(correspondence_id, "content")
        response = await self._send("GET", url, headers={"Accept": "text/plain"})
        return response.text

    async def mark_as_read(self, correspondence_id: str) -> None:
        """Mark a correspondence Read (``POST /{id}/markasread``), as the inbox would show.

        It must have been fetched first (`get`; otherwise 400, ``CORR-01024``); marking it
        again answers 400, ``CORR-01040``. Retried only when it surely did not arrive.

        Raises:
            ConfigurationError: the id is not a UUID.
            APIError: Correspondence answered an error.
        """
        await self._send("POST", self._url(correspondence_id, "markasread"))

    async def confirm(self, correspondence_id: str) -> None:
        """Confirm a correspondence that asks for it (``POST /{id}/confirm``).

        It must have been fetched first (``CORR-01025``); confirming again answers 400,
        ``CORR-01041``. Altinn records the confirmation a few seconds later. Retried only
        when it surely did not arrive.

        Raises:
            ConfigurationError: the id is not a UUID.
            APIError: Correspondence answered an error.
        """
        await self._send("POST", self._url(correspondence_id, "confirm"))

    async def purge(self, correspondence_id: str) -> None:
        """Delete a correspondence from the recipient's mailbox (``DELETE /{id}/purge``).

        Refused while a confirmation it asks for is missing (``CORR-01026``). A ``DELETE``,
        so retried like a ``GET``: a retry after a purge that did arrive answers 404.

        Raises:
            ConfigurationError: the id is not a UUID.
            APIError: Correspondence answered an error.
        """
        await self._send("DELETE", self._url(correspondence_id, "purge"))

    async def download(
        self,
        correspondence: Correspondence | str,
        attachment: CorrespondenceAttachment | str,
        folder: str | os.PathLike[str],
        *,
        filename: str | None = None,
        checksum: str | None = None,
    ) -> Path:
        """Stream an attachment into ``folder`` and check it against its MD5.

        The file appears whole or not at all (a ``.partial`` file renamed when complete). Its
        name is ``filename``, or the attachment's ``fileName``, or its id, made safe (a name
        such as ``../x`` stays inside ``folder``). The bytes are checked against the
        attachment's ``checksum`` as they arrive; a body that does not match is fetched
        again, and if it never does, `ChecksumMismatchError`. Given ids, there is no check
        unless ``checksum`` is given or ``correspondence`` is the overview that lists the
        attachment. Records AttachmentsDownloaded (for the sender to see).

        Example::

            item = await correspondence.get(correspondence_id)
            for attachment in item.attachments:
                try:
                    path = await correspondence.download(item, attachment, "inbox/" + item.id)
                except AttachmentUnavailableError as exc:
                    print(attachment.file_name, exc.reason)      # expired: gone for good

        Args:
            correspondence: the overview (`get`), or the correspondence's id.
            attachment: the attachment (from ``correspondence.attachments``), or its id.
            folder: where to put the file (made if missing).
            filename: the file's name instead of the attachment's own.
            checksum: the MD5 to check (hex) instead of the attachment's own.

        Returns:
            The path written.

        Raises:
            ConfigurationError: an id that is not a UUID, or a checksum that is not an MD5.
            AttachmentUnavailableError: the attachment expired, was purged, or is not on this
                correspondence (`~AttachmentUnavailableError.reason` says which).
            APIError: Correspondence answered another error.
            ChecksumMismatchError: the bytes never matched the checksum.
            NetworkError: no complete answer after the retries.
        """
        if isinstance(correspondence, Correspondence):
            correspondence_id = correspondence.id
        else:
            correspondence_id = correspondence
        meta: CorrespondenceAttachment | None
        if isinstance(attachment, CorrespondenceAttachment):
            meta = attachment
        else:
            wanted = _guid(attachment, "attachment").lower()
            listed = (
                correspondence.attachments if isinstance(correspondence, Correspondence) else ()
            )
            meta = next((a for a in listed if a.id.lower() == wanted), None)
        attachment_id = _guid(meta.id if meta is not None else attachment, "attachment")
        url = self._url(correspondence_id, "attachment", attachment_id, "download")
        expected = checksum if checksum is not None else (meta.checksum if meta else None)
        name = filename or (meta.file_name if meta is not None else None) or attachment_id
        destination = Path(folder) / safe_filename(name)
        try:
            await download_to(
                self._http,
                url,
                destination,
                policy=self._retry,
                auth=self._auth,
                expected_md5=expected or None,
            )
        except APIError as exc:
            refined = _refine(exc, attachment=True)
            if refined is exc:
                raise
            raise refined from exc
        return destination


def _query(
    resource_id: str,
    *,
    role: str,
    from_: datetime | None = None,
    to: datetime | None = None,
    status: str | int | None = None,
    on_behalf_of: str | None = None,
    senders_reference: str | None = None,
    idempotent_key: str | None = None,
    altinn2_correspondence_id: int | None = None,
) -> list[tuple[str, str]]:
    if not isinstance(resource_id, str) or not resource_id.strip():  # type: ignore[redundant-expr]
        raise ConfigurationError("resource_id must be a resource's id (one per list call)")
    query = [("resourceId", resource_id), ("role", _role(role))]
    if from_ is not None:
        query.append(("from", _wire_time(from_, "from_")))
    if to is not None:
        query.append(("to", _wire_time(to, "to")))
    if from_ is not None and to is not None and from_ > to:
        raise ConfigurationError("from_ must not come after to")
    if status is not None:
        query.append(("status", _status(status)))
    if on_behalf_of is not None:
        query.append(("onBehalfOf", _on_behalf_of(on_behalf_of)))
    if senders_reference is not None:
        if not senders_reference:
            raise ConfigurationError("senders_reference must not be empty")
        query.append(("sendersReference", senders_reference))
    if idempotent_key is not None:
        query.append(("idempotentKey", _guid(idempotent_key, "idempotency key")))
    if altinn2_correspondence_id is not None:
        number: object = altinn2_correspondence_id
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ConfigurationError("altinn2_correspondence_id is a non-negative integer")
        query.append(("altinn2CorrespondenceId", str(number)))
    return query


_C = TypeVar("_C", bound=Correspondence)


def _parse(cls: type[_C], document: object, url: str) -> _C:
    try:
        return cls.from_dict(JsonReader(document).document)
    except ResponseFormatError as exc:
        raise ResponseFormatError(f"GET {safe_url(url)}: {exc}", path=exc.path) from None


# --- the walk ------------------------------------------------------------------------------------


class CorrespondenceWalk:
    """An async iterator over every correspondence id of a `CorrespondenceClient.walk`,
    newest first, each once.

    It is a plain iterator object, not an async generator: leaving a loop early needs no
    cleanup, and an error leaves `position` where the walk can continue from.

    Attributes:
        handed_out: ids handed out so far.
        windows: list calls made so far.
    """

    def __init__(
        self,
        lister: Callable[[Sequence[tuple[str, str]]], Awaitable[CorrespondenceIds]],
        getter: Callable[[str], Awaitable[Correspondence]],
        query: Sequence[tuple[str, str]],
        *,
        role: str,
        start: datetime | None,
        to: datetime | None,
        status_given: bool,
    ) -> None:
        self._list = lister
        self._get = getter
        self._query = list(query)
        self._role = role
        self._start = start
        self._to = to
        self._next_to: datetime | None = None
        self._status_given = status_given
        self._pending: collections.deque[str] = collections.deque()
        # Ids handed out that the next window may list again (those of the window before).
        self._seen: set[str] = set()
        self._done = False
        self.handed_out = 0
        self.windows = 0

    def __repr__(self) -> str:
        resource = dict(self._query).get("resourceId")
        return (
            f"CorrespondenceWalk(resource_id={resource!r}, role={self._role!r}, "
            f"position={_time_text(self.position)!r}, handed_out={self.handed_out}, "
            f"finished={self.finished})"
        )

    @property
    def position(self) -> datetime | None:
        """Where to resume (``resume_from=``): the ``to`` of the window being handed out, or
        ``None`` for the newest. Once the last id of a window is out, the next window's."""
        return self._to

    @property
    def finished(self) -> bool:
        """Every id has been handed out."""
        return self._done and not self._pending

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        while not self._pending:
            if self._done:
                raise StopAsyncIteration
            await self._window()
        correspondence_id = self._pending.popleft()
        self.handed_out += 1
        self._drained()
        return correspondence_id

    def _window_query(
        self, *, lower: datetime | None = None, status: str | None = None
    ) -> list[tuple[str, str]]:
        query = list(self._query)
        lower = self._start if lower is None else lower
        if lower is not None:
            query.append(("from", _wire_time(lower, "start")))
        if self._to is not None:
            query.append(("to", _wire_time(self._to, "to")))
        if status is not None:
            query.append(("status", status))
        return query

    def _drained(self) -> None:
        # The window's last new id is out: the walk resumes below it from now on.
        if not self._pending and self._next_to is not None:
            self._to, self._next_to = self._next_to, None

    async def _window(self) -> None:
        """List the window below `position`; queue its new ids; find where the next starts."""
        listed = await self._list(self._window_query())
        self.windows += 1
        if not listed.capped:
            self._queue(listed.ids, keep=set())
            self._done = True
            return
        moment = await self._oldest_time(listed.ids)
        next_to = moment + _MICROSECOND
        if self._to is None or next_to < self._to:
            self._queue(listed.ids, keep=set(listed.ids))
            self._next_to = next_to
        else:
            # The whole window is one microsecond: 1000 or more share it. List that moment
            # by status, then go below it.
            found = await self._split(moment)
            found.update(listed.ids)
            self._queue(sorted(found), keep=found)
            self._next_to = moment
        self._drained()

    def _queue(self, ids: Sequence[str], *, keep: set[str]) -> None:
        fresh = [i for i in dict.fromkeys(ids) if i not in self._seen]
        self._pending.extend(fresh)
        self._seen = keep

    async def _oldest_time(self, ids: Sequence[str]) -> datetime:
        # The last id is the oldest; a purged one (still listed, 404 on GET) gives way to the
        # one before it, which is no newer than the next window needs.
        for correspondence_id in reversed(ids):
            try:
                item = await self._get(correspondence_id)
            except APIError as exc:
                if exc.status_code == 404:
                    continue
                raise
            if item.requested_publish_time is None:
                raise ResponseFormatError(
                    f"correspondence {correspondence_id} has no requestedPublishTime: the list "
                    "cannot be walked past it",
                    path="$.requestedPublishTime",
                )
            return item.requested_publish_time
        raise PaginationError(
            f"none of the {len(ids)} correspondences of a full window could be read (all "
            "404): the walk cannot tell where the next window starts",
            position=_time_text(self._to),
        )

    async def _split(self, moment: datetime) -> set[str]:
        stuck = StuckWindowError(
            f"{LIST_LIMIT} or more correspondences share requestedPublishTime "
            f"{moment.isoformat()}: Correspondence lists at most {LIST_LIMIT} with no cursor, "
            + (
                "and with status= given they cannot be split by status"
                if self._status_given
                else "and split by status one part still had that many"
            )
            + "; enumerate this mailbox with Dialogporten instead",
            position=_time_text(self._to),
            moment=moment,
        )
        if self._status_given:
            raise stuck
        lower = moment - _MICROSECOND
        if self._start is not None and self._start > lower:
            lower = self._start
        statuses = [
            s for s in STATUSES if self._role != "Recipient" or s not in _NOT_FOR_RECIPIENTS
        ]
        found: set[str] = set()
        for status in statuses:
            part = await self._list(self._window_query(lower=lower, status=status))
            self.windows += 1
            if part.capped:
                raise stuck
            found.update(part.ids)
        return found
