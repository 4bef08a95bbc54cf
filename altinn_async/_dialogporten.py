"""Dialogporten: search a party's dialogs (messages and forms across every service), read one
with its transmissions, activities and attachments, and the dialog token.

Dialogporten enumerates; it holds no content bytes. A dialog's attachments and content point at
the API that owns them (Correspondence, Storage), which takes its own token or the dialog token
(`DialogTokenAuth`).
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
import urllib.parse
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import anyio
import attrs
import httpx

from ._api import PlatformClient
from ._files import download_to, safe_filename
from ._hal import json_kind
from ._http import api_error, origin, safe_url
from ._httpcompat import AsyncClient, Auth, AuthBase, FlowRequest, FlowResponse
from ._paging import KeysetPaging, Page, PageContent, Paginator
from ._reading import JsonReader
from ._redact import mask_pids
from ._retry import RetryPolicy, request
from ._times import query_time
from .exceptions import (
    APIError,
    ConfigurationError,
    ForeignOriginError,
    PaginationError,
    ResponseFormatError,
)

__all__ = [
    "ApiAction",
    "Dialog",
    "DialogActivity",
    "DialogAttachment",
    "DialogAttachmentUrl",
    "DialogPager",
    "DialogSummary",
    "DialogTokenAuth",
    "DialogTransmission",
    "Dialogporten",
    "Localized",
    "continuation_token_for",
    "normalize_order_by",
]

UNAUTHORIZED_URL = "urn:dialogporten:unauthorized"
"""The URL Dialogporten gives in place of one the caller may not use."""
EXPIRED_URL = "urn:dialogporten:expired"
"""The URL Dialogporten gives in place of an expired attachment's."""

DEFAULT_LANGUAGES = ("nb", "nn", "en")
_ORDER_KEYS = {
    "contentupdatedat": "contentUpdatedAt",
    "updatedat": "updatedAt",
    "createdat": "createdAt",
    "dueat": "dueAt",
    "id": "id",
}
_ORDER_TERM = re.compile(r"([A-Za-z]+)(?:_(asc|desc))?", re.ASCII | re.IGNORECASE)
_CORRESPONDENCE_ID = re.compile(
    r"/correspondence/api/v1/correspondence/([0-9a-fA-F-]{36})(?=[/?#]|$)", re.ASCII
)
_STATUSES = frozenset(
    {"InProgress", "Draft", "RequiresAttention", "Completed", "NotApplicable", "Awaiting"}
)
_SYSTEM_LABELS = frozenset({"Default", "Bin", "Archive", "MarkedAsUnopened", "Sent"})
_PARTY = re.compile(
    r"urn:altinn:(?:person:identifier-no:[0-9]{11}|organization:identifier-no:[0-9]{9}"
    r"|person:legacy-selfidentified:.+|person:idporten-email:.+)",
    re.ASCII,
)

Query = list[tuple[str, str]]


# --- values -------------------------------------------------------------------------------------


def _languages(preference: Iterable[str] | str | None) -> tuple[str, ...]:
    if preference is None:
        return DEFAULT_LANGUAGES
    if isinstance(preference, str):
        preference = [preference]
    chosen = tuple(p.strip().lower() for p in preference if p.strip())
    if not chosen:
        raise ConfigurationError("give at least one language, such as 'nb' or 'en'")
    return chosen


@attrs.frozen
class Localized:
    """A text in several languages (Dialogporten's ``ContentValue``, or a bare list of
    localizations).

    Attributes:
        values: the text per language code, in the order sent.
        media_type: ``text/plain``, ``text/markdown``, ... when given.
        preference: the languages to choose from, best first.
    """

    values: Mapping[str, str]
    media_type: str | None = None
    preference: tuple[str, ...] = DEFAULT_LANGUAGES

    @classmethod
    def read(cls, parent: Raw, key: str, preference: tuple[str, ...]) -> Localized | None:
        """The text under ``key``: a ``ContentValue`` object (``{"value": [...],
        "mediaType": ...}``) or a bare list of ``{languageCode, value}``; ``None`` if absent.

        Raises:
            ResponseFormatError: it is neither.
        """
        reader = _reader(parent)
        value = reader.document.get(key)
        if value is None:
            return None
        media_type = None
        if isinstance(value, list):
            entries = reader.objects(key)
        else:
            child = reader.child(key)
            assert child is not None  # noqa: S101 - not None, checked above
            media_type = child.text("mediaType")
            entries = child.objects("value")
        values: dict[str, str] = {}
        for entry in entries:
            values.setdefault(
                entry.required_text("languageCode").lower(), entry.text("value") or ""
            )
        return cls(values, media_type, preference)

    def text(self, languages: Iterable[str] | str | None = None) -> str | None:
        """The text in the first language of ``languages`` (default: the client's preference)
        that it has, else in any language it has; ``None`` when it has none."""
        wanted = self.preference if languages is None else _languages(languages)
        for language in wanted:
            if language in self.values:
                return self.values[language]
        return next(iter(self.values.values()), None)

    def __str__(self) -> str:
        return self.text() or ""


Raw = Mapping[str, Any] | JsonReader
"""A JSON object as sent, or a reader of one (which knows where in the answer it is)."""


def _reader(raw: Raw) -> JsonReader:
    return raw if isinstance(raw, JsonReader) else JsonReader(raw)


def _text(raw: Raw, key: str) -> str | None:
    return _reader(raw).text(key)


def _time(raw: Raw, key: str) -> datetime | None:
    return _reader(raw).time(key)


def _bool(raw: Raw, key: str) -> bool | None:
    reader = _reader(raw)
    return None if reader.document.get(key) is None else reader.flag(key)


def _objects(raw: Raw, key: str) -> list[JsonReader]:
    return _reader(raw).objects(key)


def _contents(raw: Raw, preference: tuple[str, ...]) -> dict[str, Localized]:
    content = _reader(raw).child("content")
    if content is None:
        return {}
    found = {}
    for name in content.document:
        localized = Localized.read(content, name, preference)
        if localized is not None:
            found[name] = localized
    return found


def _content_text(contents: Mapping[str, Localized], name: str) -> str | None:
    value = contents.get(name)
    return None if value is None else value.text()


@attrs.frozen
class DialogAttachmentUrl:
    """Where an attachment's bytes are (at the API that owns them).

    Attributes:
        url: the URL, or `UNAUTHORIZED_URL` / `EXPIRED_URL`.
        media_type: the attachment's media type.
        consumer_type: ``Gui`` (for a person in a browser) or ``Api``.
        id: the URL's id.
    """

    url: str
    media_type: str | None
    consumer_type: str | None
    id: str | None = None

    @property
    def unauthorized(self) -> bool:
        """The caller may not use it."""
        return self.url == UNAUTHORIZED_URL

    @property
    def expired(self) -> bool:
        """The attachment expired."""
        return self.url == EXPIRED_URL

    @property
    def usable(self) -> bool:
        """An http(s) URL to fetch."""
        return self.url.startswith(("https://", "http://"))


@attrs.frozen
class DialogAttachment:
    """An attachment of a dialog or a transmission.

    Attributes:
        id: the attachment's id.
        name: the file name, when given.
        display_name: the name to show.
        expires_at: when it expires.
        urls: where its bytes are.
    """

    id: str
    name: str | None
    display_name: Localized | None
    expires_at: datetime | None
    urls: tuple[DialogAttachmentUrl, ...]

    @classmethod
    def read(cls, raw: Raw, preference: tuple[str, ...]) -> DialogAttachment:
        """From the JSON object."""
        urls = tuple(
            DialogAttachmentUrl(
                url=_text(entry, "url") or "",
                media_type=_text(entry, "mediaType"),
                consumer_type=_text(entry, "consumerType"),
                id=_text(entry, "id"),
            )
            for entry in _objects(raw, "urls")
        )
        return cls(
            id=_text(raw, "id") or "",
            name=_text(raw, "name"),
            display_name=Localized.read(raw, "displayName", preference),
            expires_at=_time(raw, "expiresAt"),
            urls=urls,
        )

    def url_for(self, consumer_type: str = "Api") -> DialogAttachmentUrl | None:
        """The URL for ``consumer_type`` (``Api`` or ``Gui``), else the first there is."""
        for url in self.urls:
            if (url.consumer_type or "").lower() == consumer_type.lower():
                return url
        return self.urls[0] if self.urls else None


@attrs.frozen
class ApiAction:
    """An action a system can take on a dialog, at the API that owns it.

    Attributes:
        name: the action's name (``getCorrespondence``, ...).
        action: the authorization action (``read``, ``write``).
        is_authorized: whether the caller may take it.
        endpoints: ``(http method, url)`` pairs.
    """

    name: str | None
    action: str | None
    is_authorized: bool | None
    endpoints: tuple[tuple[str, str], ...]

    @classmethod
    def read(cls, raw: Raw) -> ApiAction:
        """From the JSON object."""
        endpoints = tuple(
            ((_text(e, "httpMethod") or "GET").upper(), _text(e, "url") or "")
            for e in _objects(raw, "endpoints")
        )
        return cls(_text(raw, "name"), _text(raw, "action"), _bool(raw, "isAuthorized"), endpoints)


@attrs.frozen
class DialogTransmission:
    """A message within a dialog (from the service owner or the party).

    Attributes:
        id: the transmission's id.
        created_at: when it was sent.
        type: ``Information``, ``Request``, ``Decision``, ...
        sender_type: the sender's actor type (``ServiceOwner``, ``PartyRepresentative``).
        is_authorized: whether the caller may read it.
        is_opened: whether it was opened.
        title: its title (in the preferred language).
        summary: its summary.
        content_reference: where its content is, when it has one there.
        attachments: its attachments.
        related_transmission_id: the transmission it answers.
        external_reference: the service owner's reference.
        document: the object as sent.
    """

    id: str
    created_at: datetime | None
    type: str | None
    sender_type: str | None
    is_authorized: bool | None
    is_opened: bool | None
    title: str | None
    summary: str | None
    content_reference: str | None
    attachments: tuple[DialogAttachment, ...]
    related_transmission_id: str | None
    external_reference: str | None
    document: Mapping[str, Any] = attrs.field(repr=False, eq=False)

    @classmethod
    def read(cls, raw: Raw, preference: tuple[str, ...]) -> DialogTransmission:
        """From the JSON object."""
        contents = _contents(raw, preference)
        sender = _reader(raw).child("sender")
        return cls(
            id=_text(raw, "id") or "",
            created_at=_time(raw, "createdAt"),
            type=_text(raw, "type"),
            sender_type=None if sender is None else sender.text("actorType"),
            is_authorized=_bool(raw, "isAuthorized"),
            is_opened=_bool(raw, "isOpened"),
            title=_content_text(contents, "title"),
            summary=_content_text(contents, "summary"),
            content_reference=_content_text(contents, "contentReference"),
            attachments=tuple(
                DialogAttachment.read(a, preference) for a in _objects(raw, "attachments")
            ),
            related_transmission_id=_text(raw, "relatedTransmissionId"),
            external_reference=_text(raw, "externalReference"),
            document=_reader(raw).document,
        )


@attrs.frozen
class DialogActivity:
    """Something that happened in a dialog (``DialogCreated``, ``CorrespondenceOpened``, ...).

    Attributes:
        id: the activity's id.
        created_at: when.
        type: the activity type.
        transmission_id: the transmission it concerns, if any.
        performed_by: the actor type that did it.
        description: its description (in the preferred language).
        document: the object as sent.
    """

    id: str
    created_at: datetime | None
    type: str | None
    transmission_id: str | None
    performed_by: str | None
    description: str | None
    document: Mapping[str, Any] = attrs.field(repr=False, eq=False)

    @classmethod
    def read(cls, raw: Raw, preference: tuple[str, ...]) -> DialogActivity:
        """From the JSON object."""
        actor = _reader(raw).child("performedBy")
        description = Localized.read(raw, "description", preference)
        return cls(
            id=_text(raw, "id") or "",
            created_at=_time(raw, "createdAt"),
            type=_text(raw, "type"),
            transmission_id=_text(raw, "transmissionId"),
            performed_by=None if actor is None else actor.text("actorType"),
            description=None if description is None else description.text(),
            document=_reader(raw).document,
        )


def _masked(value: str | None) -> str:
    return repr(None if value is None else mask_pids(value))


@attrs.frozen
class DialogSummary:
    """A dialog as a search lists it.

    Attributes:
        id: the dialog's id (a UUIDv7).
        org: the service owner's code.
        service_resource: ``urn:altinn:resource:...``.
        service_resource_type: ``CorrespondenceService``, ``AltinnApp``, ...
        party: the party URN (a person's number is masked in the repr).
        status: ``InProgress``, ``RequiresAttention``, ``NotApplicable``, ...
        extended_status: the service owner's own status.
        external_reference: the service owner's reference.
        created_at: when it was created.
        updated_at: when it last changed.
        content_updated_at: when its content last changed.
        due_at: its due date.
        is_api_only: whether it is for systems only.
        has_unopened_content: whether it has content not opened.
        is_content_seen: whether the party has seen its content.
        system_labels: ``Default``, ``Bin``, ``Archive``, ``MarkedAsUnopened``, ``Sent``.
        content: its texts (``title``, ``summary``, ``senderName``, ...).
        document: the object as sent.
    """

    id: str
    org: str | None
    service_resource: str | None
    service_resource_type: str | None
    party: str | None = attrs.field(repr=_masked)
    status: str | None
    extended_status: str | None
    external_reference: str | None
    created_at: datetime | None
    updated_at: datetime | None
    content_updated_at: datetime | None
    due_at: datetime | None
    is_api_only: bool | None
    has_unopened_content: bool | None
    is_content_seen: bool | None
    system_labels: tuple[str, ...]
    content: Mapping[str, Localized] = attrs.field(repr=False, eq=False)
    document: Mapping[str, Any] = attrs.field(repr=False, eq=False)

    @staticmethod
    def _fields(raw: Raw, preference: tuple[str, ...]) -> dict[str, Any]:
        reader = _reader(raw)
        identifier = reader.required_text("id")
        context = reader.child("endUserContext")
        if context is not None and context.document.get("systemLabels") is not None:
            labels = list(context.texts("systemLabels"))
        else:
            legacy = reader.text("systemLabel")
            labels = [legacy] if legacy else []
        return {
            "id": identifier,
            "org": _text(raw, "org"),
            "service_resource": _text(raw, "serviceResource"),
            "service_resource_type": _text(raw, "serviceResourceType"),
            "party": _text(raw, "party"),
            "status": _text(raw, "status"),
            "extended_status": _text(raw, "extendedStatus"),
            "external_reference": _text(raw, "externalReference"),
            "created_at": _time(raw, "createdAt"),
            "updated_at": _time(raw, "updatedAt"),
            "content_updated_at": _time(raw, "contentUpdatedAt"),
            "due_at": _time(raw, "dueAt"),
            "is_api_only": _bool(raw, "isApiOnly"),
            "has_unopened_content": _bool(raw, "hasUnopenedContent"),
            "is_content_seen": _bool(raw, "isContentSeen"),
            "system_labels": tuple(labels),
            "content": _contents(raw, preference),
            "document": reader.document,
        }

    @classmethod
    def read(cls, raw: Raw, preference: tuple[str, ...] = DEFAULT_LANGUAGES) -> DialogSummary:
        """From a search item's JSON object.

        Raises:
            ResponseFormatError: the object has no id, or a field of the wrong type.
        """
        return cls(**cls._fields(raw, preference))

    @property
    def title(self) -> str | None:
        """The title in the preferred language."""
        return _content_text(self.content, "title")

    @property
    def summary(self) -> str | None:
        """The summary in the preferred language."""
        return _content_text(self.content, "summary")

    @property
    def sender_name(self) -> str | None:
        """The sender's name, when the service owner gives one."""
        return _content_text(self.content, "senderName")

    def raw_time(self, key: str) -> str | None:
        """A time exactly as Dialogporten wrote it (7 fraction digits), such as
        ``createdAt``."""
        return _text(self.document, key)


@attrs.frozen
class Dialog(DialogSummary):
    """A dialog with everything in it, as ``GET /dialogs/{id}`` answers.

    Attributes:
        revision: the dialog's revision (a new one on every change; also the ``ETag``).
        expires_at: when it expires (and disappears from the party's view).
        token: the dialog token (EdDSA, 10 minutes), for the APIs that accept it
            (`DialogTokenAuth`); never shown in a repr.
        attachments: the dialog's attachments.
        transmissions: its transmissions, oldest first.
        activities: its activities, oldest first.
        api_actions: what a system can do, at the owning API.
        main_content_reference: the URL of its main content (for a correspondence, the
            content endpoint, which **marks it read**).
    """

    revision: str | None = None
    expires_at: datetime | None = None
    token: str | None = attrs.field(default=None, repr=False)
    attachments: tuple[DialogAttachment, ...] = ()
    transmissions: tuple[DialogTransmission, ...] = attrs.field(default=(), repr=False)
    activities: tuple[DialogActivity, ...] = attrs.field(default=(), repr=False)
    api_actions: tuple[ApiAction, ...] = attrs.field(default=(), repr=False)
    main_content_reference: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def read(cls, raw: Raw, preference: tuple[str, ...] = DEFAULT_LANGUAGES) -> Dialog:
        """From the JSON object of ``GET /dialogs/{id}``.

        Raises:
            ResponseFormatError: the object has no id, or a field of the wrong type.
        """
        fields = cls._fields(raw, preference)
        token = _text(raw, "dialogToken")
        return cls(
            **fields,
            revision=_text(raw, "revision"),
            expires_at=_time(raw, "expiresAt"),
            token=token or None,
            attachments=tuple(
                DialogAttachment.read(a, preference) for a in _objects(raw, "attachments")
            ),
            transmissions=tuple(
                DialogTransmission.read(t, preference) for t in _objects(raw, "transmissions")
            ),
            activities=tuple(
                DialogActivity.read(a, preference) for a in _objects(raw, "activities")
            ),
            api_actions=tuple(ApiAction.read(a) for a in _objects(raw, "apiActions")),
            main_content_reference=_content_text(fields["content"], "mainContentReference"),
        )

    @property
    def correspondence_id(self) -> str | None:
        """For a correspondence, its id at the Correspondence API (from the
        ``getCorrespondence`` action, else from an attachment's download URL)."""
        urls = [url for action in self.api_actions for _, url in action.endpoints]
        urls.sort(key=lambda url: "/attachment" in url)
        urls += [u.url for a in self.attachments for u in a.urls]
        for url in urls:
            match = _CORRESPONDENCE_ID.search(url)
            if match:
                return match[1]
        return None

    def all_attachments(self) -> list[DialogAttachment]:
        """The dialog's attachments, then every transmission's, each once."""
        seen: set[str] = set()
        found = []
        for attachment in (
            *self.attachments,
            *(a for t in self.transmissions for a in t.attachments),
        ):
            if attachment.id not in seen:
                seen.add(attachment.id)
                found.append(attachment)
        return found

    def archived_document(self) -> dict[str, Any]:
        """The dialog as sent, without its dialog token (a bearer token: not for an
        archive)."""
        return {k: v for k, v in self.document.items() if k != "dialogToken"}


# --- order and tokens ---------------------------------------------------------------------------


def _order_terms(order_by: str) -> list[tuple[str, str]]:
    terms: list[tuple[str, str]] = []
    for part in order_by.split(","):
        match = _ORDER_TERM.fullmatch(part.strip())
        key = match[1].lower() if match else None
        if match is None or key not in _ORDER_KEYS:
            raise ConfigurationError(
                f"orderBy {order_by!r}: {part.strip()!r} is not one of "
                f"{', '.join(_ORDER_KEYS.values())} with _asc or _desc"
            )
        if any(key == known for known, _ in terms):
            raise ConfigurationError(f"orderBy {order_by!r} names {key} twice")
        terms.append((key, (match[2] or "desc").lower()))
    return terms


def normalize_order_by(order_by: str) -> str:
    """``orderBy`` as Dialogporten applies and echoes it: keys lower-cased with their
    directions, ``id`` moved last (``id_desc`` added when absent), the default
    ``contentupdatedat_desc`` put before a lone ``id``.

    Example: ``createdAt_asc`` is applied as ``createdat_asc,id_desc`` (so give
    ``createdAt_asc,id_asc`` for a stable ascending order).

    Raises:
        ConfigurationError: an unknown or repeated key, or a direction other than asc/desc.
    """
    terms = _order_terms(order_by)
    ids = [term for term in terms if term[0] == "id"]
    terms = [term for term in terms if term[0] != "id"]
    if not terms:
        terms = [("contentupdatedat", "desc")]
    terms.append(ids[0] if ids else ("id", "desc"))
    return ",".join(f"{key}_{direction}" for key, direction in terms)


def continuation_token_for(item: DialogSummary | Mapping[str, Any], order_by: str) -> str:
    """The continuation token after ``item`` in ``order_by``: a list searched with it starts
    with the item after this one.

    Dialogporten's token is the last item's sort values, ``key_value`` joined by ``,``
    (``createdat_2024-07-31T09:09:03.0257090Z,id_0c08…``); a harvest that kept its last item
    but lost the token rebuilds it here. Times are taken as sent (7 fraction digits).

    Raises:
        ConfigurationError: a bad ``order_by``, or the item lacks a sort value's key.
    """
    document = item.document if isinstance(item, DialogSummary) else item
    parts = []
    for term in normalize_order_by(order_by).split(","):
        key = term.rpartition("_")[0]
        field = _ORDER_KEYS[key]
        value = document.get(field)
        if value is not None and not isinstance(value, str):
            raise ConfigurationError(f"the item's {field} is not a string")
        if value is None and key in ("id", "createdat", "updatedat", "contentupdatedat"):
            raise ConfigurationError(f"the item has no {field}")
        parts.append(f"{key}_{value or ''}")
    return ",".join(parts)


# --- paging -------------------------------------------------------------------------------------


@attrs.frozen
class _DialogList:
    keyset: KeysetPaging
    preference: tuple[str, ...]

    def start(self, url: httpx.URL) -> httpx.URL:
        return url

    def parse(self, response: httpx.Response, url: httpx.URL) -> PageContent[DialogSummary]:
        content = self.keyset.parse(response, url)
        try:
            items = [
                DialogSummary.read(JsonReader(item, f"$.items[{index}]"), self.preference)
                for index, item in enumerate(content.items)
            ]
        except ResponseFormatError as exc:
            raise PaginationError(f"{safe_url(url)}: {exc}", position=str(url)) from exc
        return PageContent(
            items=items, next=content.next, continuation_token=content.continuation_token
        )


class DialogPager(Paginator[DialogSummary]):
    """The dialogs of a search, page by page (keyset paging): an async iterator of
    `DialogSummary`.

    `position` is the URL to resume from while pages remain (``None`` at the end);
    `continuation_token` is the token of the last page fetched, kept at the end too, so a
    later search with the same filters and ``order_by`` (`Dialogporten.search` with
    ``continuation_token=``) lists only what sorts after everything seen.
    """

    def __init__(
        self,
        http: AsyncClient,
        url: str | httpx.URL,
        *,
        preference: tuple[str, ...],
        resume_from: str | httpx.URL | None = None,
        max_items: int | None = None,
        retry: RetryPolicy | None = None,
        auth: Auth | None = None,
    ) -> None:
        super().__init__(
            http,
            url,
            _DialogList(KeysetPaging(), preference),
            resume_from=resume_from,
            max_items=max_items,
            retry=retry,
            auth=auth,
        )
        start = httpx.URL(cast("str", self.position))
        self._token: str | None = start.params.get("continuationToken")

    @property
    def continuation_token(self) -> str | None:
        """The last page's continuation token (before the first page: the one the search
        started from)."""
        return self._token

    def _new_page(
        self,
        content: PageContent[DialogSummary],
        url: httpx.URL,
        next_url: httpx.URL | None,
        headers: httpx.Headers,
    ) -> Page[DialogSummary]:
        if content.continuation_token is not None:
            self._token = content.continuation_token
        return super()._new_page(content, url, next_url, headers)


# --- the client ---------------------------------------------------------------------------------


def _repeated(name: str, values: str | Iterable[str], *, limit: int | None = None) -> Query:
    if isinstance(values, str):
        values = [values]
    found = [value for value in values if value]
    if limit is not None and len(found) > limit:
        raise ConfigurationError(f"{name}: at most {limit} values in one search, got {len(found)}")
    return [(name, value) for value in found]


def _party_value(party: str) -> str:
    text = party.strip()
    if re.fullmatch(r"[0-9]{9}", text):
        return f"urn:altinn:organization:identifier-no:{text}"
    if re.fullmatch(r"[0-9]{11}", text):
        return f"urn:altinn:person:identifier-no:{text}"
    if text.startswith("0192:") and re.fullmatch(r"0192:[0-9]{9}", text):
        return f"urn:altinn:organization:identifier-no:{text[5:]}"
    if not _PARTY.fullmatch(text):
        raise ConfigurationError(
            f"party {mask_pids(text)!r} is not a party: give an organisation number, a "
            "national identity number, or a party URN (urn:altinn:organization:identifier-no:…)"
        )
    return text


def _resource_value(resource: str) -> str:
    text = resource.strip()
    if not text:
        raise ConfigurationError("a service resource must not be empty")
    return text if text.startswith("urn:altinn:resource:") else f"urn:altinn:resource:{text}"


def _checked(name: str, values: Iterable[str], allowed: frozenset[str]) -> list[str]:
    found = []
    for value in values:
        match = next((a for a in allowed if a.lower() == value.lower()), None)
        if match is None:
            raise ConfigurationError(f"{name} {value!r} is not one of {', '.join(sorted(allowed))}")
        found.append(match)
    return found


class Dialogporten(PlatformClient):
    """Dialogporten's REST API, for an end user (a person, or a system user acting for its
    organisation) or a service owner.

    Example::

        async with httpx.AsyncClient(auth=exchange, base_url=altinn.TEST.platform) as http:
            dialogporten = altinn.Dialogporten(http)
            async for dialog in dialogporten.search(party=["312345678"],
                                                    order_by="createdAt_asc,id_asc"):
                full = await dialogporten.dialog(dialog.id)

    Dialogporten takes an exchanged Altinn token, a Maskinporten token with a system user, or
    an ID-porten token, with the scope ``digdir:dialogporten`` (a service owner:
    ``digdir:dialogporten.serviceprovider`` and ``….search``). Reading a dialog records that
    the caller saw it (its seen log), which Dialogporten cannot be asked not to do.

    Args:
        http: the authenticated client.
        platform: the platform URL (``https://platform.tt02.altinn.no``), if ``http`` has no
            ``base_url``.
        retry: the `RetryPolicy` (``RetryPolicy.NEVER`` for none).
        service_owner: use the service-owner API (``/serviceowner/dialogs``).
        languages: the languages to choose texts in, best first.
        auth: the auth for this client's requests instead of ``http``'s own.
    """

    def __init__(
        self,
        http: AsyncClient,
        *,
        platform: str | None = None,
        retry: RetryPolicy | None = None,
        service_owner: bool = False,
        languages: Iterable[str] | str | None = None,
        auth: Auth | None = None,
    ) -> None:
        super().__init__(http, platform=platform, retry=retry, auth=auth)
        self._base += "/dialogporten/api/v1"
        self._side = "serviceowner" if service_owner else "enduser"
        self._languages = _languages(languages)

    def __repr__(self) -> str:
        return f"Dialogporten(base={self._base!r}, side={self._side!r})"

    @property
    def languages(self) -> tuple[str, ...]:
        """The language preference, best first."""
        return self._languages

    @property
    def base_url(self) -> str:
        """``{platform}/dialogporten/api/v1``."""
        return self._base

    async def _get(self, path: str, params: Query | None = None) -> httpx.Response:
        url = httpx.URL(f"{self._base}/{path}", params=params or None)
        response = await request(self._http, "GET", url, policy=self._retry, auth=self._auth)
        if response.status_code != 200:
            raise await api_error(response)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise APIError(
                f"GET {safe_url(response.request.url)} did not answer JSON",
                status_code=response.status_code,
                method="GET",
                url=str(response.request.url),
            ) from None

    def search(
        self,
        *,
        party: str | Sequence[str] = (),
        service_resource: str | Sequence[str] = (),
        org: str | Sequence[str] = (),
        status: str | Sequence[str] = (),
        extended_status: str | Sequence[str] = (),
        external_reference: str | None = None,
        system_label: str | Sequence[str] = (),
        process: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        updated_after: datetime | str | None = None,
        updated_before: datetime | str | None = None,
        content_updated_after: datetime | str | None = None,
        content_updated_before: datetime | str | None = None,
        due_after: datetime | str | None = None,
        due_before: datetime | str | None = None,
        is_content_seen: bool | None = None,
        exclude_api_only: bool | None = None,
        search: str | None = None,
        search_language: str | None = None,
        order_by: str | None = None,
        limit: int | None = None,
        continuation_token: str | None = None,
        resume_from: str | None = None,
        max_items: int | None = None,
    ) -> DialogPager:
        """Search dialogs, as an async iterator over every page.

        Values of one filter are OR-ed, different filters AND-ed; several ``system_label``
        values are AND-ed (a dialog must carry them all). Date bounds are inclusive. Dialogs
        deleted, expired or not yet visible are not listed, and parties the caller may not
        act for are left out silently (Dialogporten answers an empty list, not an error).

        Args:
            party: parties (organisation numbers, national identity numbers or party URNs);
                Dialogporten takes at most 100 (see ``/metadata/limits``).
            service_resource: resources (``urn:altinn:resource:…`` or the bare id).
            org: service owners' codes.
            status: ``InProgress``, ``Draft``, ``RequiresAttention``, ``Completed``,
                ``NotApplicable``, ``Awaiting``.
            extended_status: the service owners' own statuses.
            external_reference: the service owner's reference.
            system_label: ``Default``, ``Bin``, ``Archive``, ``MarkedAsUnopened``, ``Sent``.
            process: the process URI.
            created_after: dialogs created at or after (an aware datetime, or ISO 8601).
            created_before: created at or before.
            updated_after: updated at or after.
            updated_before: updated at or before.
            content_updated_after: content updated at or after.
            content_updated_before: content updated at or before.
            due_after: due at or after.
            due_before: due at or before.
            is_content_seen: only dialogs whose content was (not) seen.
            exclude_api_only: leave out dialogs meant for systems only.
            search: free text (at least 3 characters).
            search_language: the language of ``search``.
            order_by: ``key_asc|desc,...`` of ``contentUpdatedAt`` (default), ``updatedAt``,
                ``createdAt``, ``dueAt``, ``id``. Give ``id`` explicitly for a stable order
                (``createdAt_asc,id_asc``): without it Dialogporten appends ``id_desc``.
            limit: dialogs per page, 1 to 1000 (Dialogporten's default: 100).
            continuation_token: continue after a token saved from an earlier search with the
                same filters and ``order_by`` (`DialogPager.continuation_token`).
            resume_from: a saved `DialogPager.position` instead.
            max_items: stop after this many dialogs.

        Raises:
            ConfigurationError: a malformed value, or neither ``party`` nor
                ``service_resource`` (Dialogporten needs one).
        """
        if resume_from is not None:
            return DialogPager(
                self._http,
                f"{self._base}/{self._side}/dialogs",
                preference=self._languages,
                resume_from=resume_from,
                max_items=max_items,
                retry=self._retry,
                auth=self._auth,
            )
        parties = [_party_value(p) for p in ([party] if isinstance(party, str) else party)]
        resources = [
            _resource_value(r)
            for r in ([service_resource] if isinstance(service_resource, str) else service_resource)
        ]
        if not parties and not resources:
            raise ConfigurationError(
                "a Dialogporten search needs a party or a service_resource (or both)"
            )
        statuses = _checked("status", [status] if isinstance(status, str) else status, _STATUSES)
        labels = _checked(
            "system_label",
            [system_label] if isinstance(system_label, str) else system_label,
            _SYSTEM_LABELS,
        )
        if search is not None and len(search.strip()) < 3:
            raise ConfigurationError("search needs at least 3 characters")
        if limit is not None and not 1 <= limit <= 1000:
            raise ConfigurationError(f"limit must be 1 to 1000, got {limit}")
        query: Query = [
            *_repeated("org", org, limit=20),
            *_repeated("serviceResource", resources, limit=20),
            *_repeated("party", parties, limit=20 if self._side == "serviceowner" else 100),
            *_repeated("extendedStatus", extended_status, limit=20),
        ]
        query += [("status", s) for s in statuses]
        query += _time_bounds(
            created=(created_after, created_before),
            updated=(updated_after, updated_before),
            contentUpdated=(content_updated_after, content_updated_before),
            due=(due_after, due_before),
        )
        if order_by is not None:
            normalize_order_by(order_by)  # refused here rather than by a 400
        query += [("systemLabel", label) for label in labels]
        query += [
            (name, _flag(value))
            for name, value in (
                ("externalReference", external_reference),
                ("isContentSeen", is_content_seen),
                ("process", process),
                ("excludeApiOnly", exclude_api_only),
                ("search", search),
                ("searchLanguageCode", search_language),
                ("orderBy", order_by),
                ("limit", limit),
            )
            if value is not None
        ]
        if continuation_token is not None:
            if not continuation_token.strip():
                raise ConfigurationError("continuation_token is empty")
            if order_by is not None:
                _check_token(continuation_token, order_by)
            query.append(("continuationToken", continuation_token))
        return DialogPager(
            self._http,
            httpx.URL(f"{self._base}/{self._side}/dialogs", params=query),
            preference=self._languages,
            max_items=max_items,
            retry=self._retry,
            auth=self._auth,
        )

    async def dialog(self, dialog_id: str) -> Dialog:
        """One dialog with its attachments, transmissions, activities and a fresh dialog token.

        Dialogporten records that the caller saw it (the seen log); nothing else changes.

        Raises:
            APIError: 404 (unknown, not yet visible or expired), 410 (deleted), 403 (no
                access, or too low an authentication level), or another error.
        """
        response = await self._get(f"{self._side}/dialogs/{_segment(dialog_id)}")
        body = self._json(response)
        try:
            return Dialog.read(JsonReader(body), self._languages)
        except ResponseFormatError as exc:
            url = safe_url(response.request.url)
            raise ResponseFormatError(f"GET {url}: {exc}", path=exc.path) from None

    async def transmissions(self, dialog_id: str) -> list[DialogTransmission]:
        """A dialog's transmissions, oldest first."""
        response = await self._get(f"{self._side}/dialogs/{_segment(dialog_id)}/transmissions")
        body = self._json(response)
        return [DialogTransmission.read(entry, self._languages) for entry in _array(response, body)]

    async def activities(self, dialog_id: str) -> list[DialogActivity]:
        """A dialog's activities, oldest first."""
        response = await self._get(f"{self._side}/dialogs/{_segment(dialog_id)}/activities")
        body = self._json(response)
        return [DialogActivity.read(entry, self._languages) for entry in _array(response, body)]

    async def parties(self) -> list[dict[str, Any]]:
        """The parties the caller may act for, as Dialogporten lists them
        (``/enduser/parties``: ``party``, ``partyType``, ``name``, ``subParties``, ...)."""
        body = self._json(await self._get("enduser/parties"))
        parties = body.get("authorizedParties") if isinstance(body, Mapping) else None
        return [p for p in parties if isinstance(p, dict)] if isinstance(parties, list) else []

    async def download(
        self,
        attachment: DialogAttachment,
        folder: str | os.PathLike[str],
        *,
        filename: str | None = None,
        consumer_type: str = "Api",
    ) -> Path:
        """Download a dialog attachment from the API that holds it (Storage, for an app's
        dialogs), with this client's auth, streamed to ``folder/filename``.

        Only URLs on the platform's own origin are fetched: the client's token is not for
        anyone else. For a correspondence, download through `CorrespondenceClient.download`,
        which checks the attachment's checksum.

        Args:
            attachment: the attachment.
            folder: where to write it.
            filename: the file's name (default: the attachment's name, made safe).
            consumer_type: the URL to prefer, ``Api`` or ``Gui``.

        Returns:
            The file written.

        Raises:
            ConfigurationError: the attachment has no URL, or only one the caller may not use
                (``urn:dialogporten:unauthorized``) or one that expired
                (``urn:dialogporten:expired``): see `DialogAttachmentUrl`.
            ForeignOriginError: the URL is on another origin than the platform.
            APIError: the holding API answered an error.
        """
        url = attachment.url_for(consumer_type)
        if url is None or not url.usable:
            why = (
                "has no URL"
                if url is None
                else (
                    "expired"
                    if url.expired
                    else "is not for this caller"
                    if url.unauthorized
                    else f"has no URL to fetch ({url.url!r})"
                )
            )
            raise ConfigurationError(f"the attachment {attachment.id} {why}")
        target = httpx.URL(url.url)
        if origin(target) != origin(self._base):
            raise ForeignOriginError(
                f"the attachment {attachment.id} is on {origin(target)}, not on the platform; "
                "not sending the token there",
                origin=origin(target),
            )
        name = safe_filename(filename or attachment.name or attachment.id, default="attachment")
        directory = Path(folder)
        await anyio.Path(directory).mkdir(parents=True, exist_ok=True)
        destination = directory / name
        await download_to(self._http, target, destination, policy=self._retry, auth=self._auth)
        return destination

    async def limits(self) -> dict[str, Any]:
        """Dialogporten's search limits (``/metadata/limits``: the most parties, resources,
        ... in one search)."""
        body = self._json(await self._get("metadata/limits"))
        return body if isinstance(body, dict) else {}


def _flag(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _time_bounds(**bounds: tuple[datetime | str | None, datetime | str | None]) -> Query:
    query: Query = []
    for name, (after, before) in bounds.items():
        if isinstance(after, datetime) and isinstance(before, datetime) and after > before:
            raise ConfigurationError(f"{name}After is later than {name}Before")
        for suffix, value in (("After", after), ("Before", before)):
            if value is not None:
                query.append((f"{name}{suffix}", query_time(f"{name}{suffix}", value)))
    return query


def _array(response: httpx.Response, body: object) -> list[JsonReader]:
    if not isinstance(body, list):
        raise ResponseFormatError(
            f"GET {safe_url(response.request.url)} answered {json_kind(body)}, not an array",
            path="$",
        )
    return [JsonReader(entry, f"$[{index}]") for index, entry in enumerate(body)]


def _segment(value: str) -> str:
    text = value.strip()
    if not text or "/" in text:
        raise ConfigurationError(f"{value!r} is not a dialog id")
    return urllib.parse.quote(text, safe="")


def _check_token(token: str, order_by: str) -> None:
    present = {part.partition("_")[0].lower() for part in token.split(",")}
    wanted = [term.rpartition("_")[0] for term in normalize_order_by(order_by).split(",")]
    missing = [key for key in wanted if key not in present]
    if missing:
        raise ConfigurationError(
            f"continuation_token does not match order_by {order_by!r}: it lacks "
            f"{', '.join(missing)} (a token continues only the order it came from)"
        )


# --- the dialog token ---------------------------------------------------------------------------


def _token_claims(token: str) -> dict[str, Any]:
    # Read, not verified: the token is the server's, handed to us; Correspondence verifies it.
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise ConfigurationError("that is not a dialog token (a JWS)") from None
    if not isinstance(claims, dict):
        raise ConfigurationError("that is not a dialog token (a JWS)")
    return claims


class DialogTokenAuth(AuthBase):
    """Authenticate with a dialog's token, at the APIs that accept it (Correspondence), for
    that one dialog.

    The token comes with every `Dialog` (``dialog.token``); it lives 10 minutes, and is sent
    only to the platform that issued it (the origin of its ``iss``, or ``origin``). A token
    past its ``exp`` raises `ConfigurationError` before the request is sent: get the dialog
    again for a fresh one.

    Example::

        dialog = await dialogporten.dialog(dialog_id)
        async with httpx.AsyncClient(auth=altinn.DialogTokenAuth(dialog),
                                     base_url=altinn.TEST.platform) as http:
            correspondence = await altinn.CorrespondenceClient(http).get(dialog.correspondence_id)

    Args:
        dialog: the dialog (or its token).
        origin: where the token may go (default: its issuer's origin).
        clock: seconds since the epoch (for tests).
    """

    def __init__(
        self,
        dialog: Dialog | str,
        *,
        origin: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        token = dialog.token if isinstance(dialog, Dialog) else dialog
        if not token:
            raise ConfigurationError("the dialog has no dialog token")
        claims = _token_claims(token)
        issuer = claims.get("iss")
        if origin is None:
            if not isinstance(issuer, str) or not httpx.URL(issuer).is_absolute_url:
                raise ConfigurationError("the dialog token names no issuer: give origin=")
            origin = issuer
        self._origin = _origin_of(origin)
        expires = claims.get("exp")
        self._expires = float(expires) if isinstance(expires, int | float) else None
        self._dialog_id = claims.get("i") if isinstance(claims.get("i"), str) else None
        self._token = token
        self._clock = clock

    def __repr__(self) -> str:
        return f"DialogTokenAuth(dialog={self._dialog_id!r}, origin={self._origin!r})"

    # The flow takes the request of an httpx or an httpx2 client (`FlowRequest`): the same API.
    def auth_flow(self, request: FlowRequest) -> Generator[FlowRequest, FlowResponse, None]:
        """Add the token to a request for the token's platform."""
        if origin(request.url) == self._origin:
            if self._expires is not None and self._clock() >= self._expires:
                raise ConfigurationError(
                    "the dialog token expired (it lives 10 minutes): get the dialog again "
                    "for a fresh one"
                )
            request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    async def async_auth_flow(
        self, request: FlowRequest
    ) -> AsyncGenerator[FlowRequest, FlowResponse]:
        """The same, for an async client."""
        for prepared in self.auth_flow(request):
            yield prepared


def _origin_of(url: str) -> str:
    parsed = httpx.URL(url)
    if not parsed.is_absolute_url:
        raise ConfigurationError(f"origin must be an absolute URL, got {url!r}")
    return origin(parsed)
