"""Dialogs as Dialogporten writes them (``Program.cs``: System.Text.Json, camelCase, nulls
omitted, enums as strings, dates UTC with seven fractional digits): the search item, the dialog
aggregate, its sub-collections, and the ``Accept-Language`` pruning of localizations.

URLs that the caller may not use become ``urn:dialogporten:unauthorized`` (``isAuthorized``
false); the URLs of expired attachments ``urn:dialogporten:expired`` (``GetDialogQuery``'s
``ReplaceUnauthorizedUrls`` and ``ReplaceExpiredAttachmentUrls``). A URL seeded with the
prefix ``{platform}`` points at the platform of the origin the request was sent to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from .._toolkit.parties import AuthorizedParty
from .model import (
    Activity,
    Actor,
    Attachment,
    Dialog,
    SeenEntry,
    Texts,
    Transmission,
)
from .paging import format_time

UNAUTHORIZED = "urn:dialogporten:unauthorized"
EXPIRED = "urn:dialogporten:expired"
PLATFORM = "{platform}"
TEXT_PLAIN = "text/plain"
MAIN_CONTENT_MEDIA_TYPE = "application/vnd.dialogporten.frontchannelembed-url;type=text/markdown"
_ARCHIVE_BIN = ("Default", "Bin", "Archive")


@dataclass(frozen=True, slots=True)
class View:
    """Who looks, from where and when: what rendering depends on.

    Attributes:
        origin: the request's origin (``{platform}`` URLs expand to ``{origin}/platform``).
        now_us: the time, in microseconds.
        languages: the ``Accept-Language`` codes, by preference (empty: no pruning).
        access: the caller's access to the dialog's party (None: a service owner, who may use
            everything).
        actor_id: the viewer's end-user id (for ``isCurrentEndUser``).
    """

    origin: str
    now_us: int
    languages: tuple[str, ...] = ()
    access: AuthorizedParty | None = None
    actor_id: str | None = None

    def url(self, url: str) -> str:
        """``url`` with a leading ``{platform}`` expanded."""
        if url.startswith(PLATFORM):
            return f"{self.origin}/platform{url[len(PLATFORM) :]}"
        return url

    def allows(self, attribute: str | None) -> bool:
        """Whether the caller may use an element with this authorization attribute."""
        return attribute is None or self.access is None or self.access.allows(attribute)


def accepted_languages(header: str | None) -> tuple[str, ...]:
    """The language codes of an ``Accept-Language`` header, highest weight first, neutral
    (``nb-NO`` is ``nb``; ``no`` is ``nb``)."""
    if not header:
        return ()
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")):
        code, _, params = item.strip().partition(";")
        code = code.strip().lower().split("-")[0]
        if not code or code == "*":
            continue
        weight = 1.0
        name, _, value = params.strip().partition("=")
        if name.strip() == "q":
            try:
                weight = float(value)
            except ValueError:
                continue
        ranked.append((-weight, index, "nb" if code == "no" else code))
    ranked.sort()
    return tuple(dict.fromkeys(code for _, _, code in ranked))


def localizations(texts: Texts, view: View) -> list[dict[str, str]]:
    """``[{"languageCode", "value"}]``, pruned to the one preferred language when the request
    named languages (``PruneLocalizations``: the accepted ones in order, then ``en``, ``nb``;
    ``nb``, ``en`` when Danish or Swedish is accepted)."""
    if view.languages and texts:
        fallback = ("nb", "en") if {"sv", "da"} & set(view.languages) else ("en", "nb")
        for code in dict.fromkeys((*view.languages, *fallback)):
            for language, value in texts:
                if language == code:
                    return [{"languageCode": language, "value": value}]
    return [{"languageCode": language, "value": value} for language, value in texts]


def _put(document: dict[str, Any], **members: Any) -> dict[str, Any]:
    document.update({name: value for name, value in members.items() if value is not None})
    return document


def _time(us: int | None) -> str | None:
    return None if us is None else format_time(us)


def content_value(
    texts: Texts | None, view: View, *, media_type: str = TEXT_PLAIN, authorized: bool | None = None
) -> dict[str, Any] | None:
    """A ``ContentValue``, or None."""
    if texts is None:
        return None
    return _put(
        {"value": localizations(texts, view), "mediaType": media_type}, isAuthorized=authorized
    )


def actor(who: Actor) -> dict[str, Any]:
    """An ``Actor``."""
    return _put({"actorType": who.actor_type}, actorId=who.actor_id, actorName=who.actor_name)


def seen_entry(entry: SeenEntry, view: View) -> dict[str, Any]:
    """A ``DialogSeenLog``."""
    return {
        "id": entry.id,
        "seenAt": format_time(entry.seen_us),
        "seenBy": {
            "actorType": "PartyRepresentative",
            "actorId": entry.actor_id,
            "actorName": entry.actor_name,
        },
        "isViaServiceOwner": entry.via_service_owner,
        "isCurrentEndUser": entry.actor_id == view.actor_id,
    }


def seen_since(log: Iterable[SeenEntry], since_us: int, view: View) -> list[dict[str, Any]]:
    """The latest entry of each actor seen at or after ``since_us``."""
    latest: dict[str, SeenEntry] = {}
    for entry in log:
        if entry.seen_us >= since_us:
            known = latest.get(entry.actor_id)
            if known is None or entry.seen_us >= known.seen_us:
                latest[entry.actor_id] = entry
    return [seen_entry(e, view) for e in latest.values()]


_Timed = TypeVar("_Timed", Transmission, Activity)


def _ordered(items: Iterable[_Timed]) -> list[_Timed]:
    return sorted(items, key=lambda i: (i.created_us, i.id))


def activity(item: Activity, view: View, *, search: bool = False) -> dict[str, Any]:
    """A ``DialogActivity`` (the search item of ``…/activities`` has no ``performedBy``)."""
    document = _put(
        {"id": item.id, "createdAt": format_time(item.created_us)},
        extendedType=item.extended_type,
        type=item.type,
        transmissionId=item.transmission_id,
    )
    if not search:
        document["performedBy"] = actor(item.performed_by)
    description = item.description
    if description is not None:
        document["description"] = localizations(description, view)
    return document


def _attachment(item: Attachment, view: View, *, unauthorized: bool = False) -> dict[str, Any]:
    expired = item.expires_us is not None and item.expires_us < view.now_us
    blocked = unauthorized or not view.allows(item.authorization_attribute)
    urls = [
        _put(
            {
                "id": u.id,
                "url": UNAUTHORIZED if blocked else EXPIRED if expired else view.url(u.url),
            },
            mediaType=u.media_type,
            consumerType=u.consumer_type,
        )
        for u in sorted(item.urls, key=lambda u: u.id)
    ]
    return _put(
        {"id": item.id, "displayName": localizations(item.display_name, view)},
        name=item.name,
        expiresAt=_time(item.expires_us),
        urls=urls,
    )


def transmission(item: Transmission, view: View, *, search: bool = False) -> dict[str, Any]:
    """A ``DialogTransmission`` (``…/transmissions`` lists them without ``isOpened``)."""
    authorized = view.allows(item.authorization_attribute)
    content = _put(
        {"title": content_value(item.title, view)},
        summary=content_value(item.summary, view),
    )
    if item.content_reference is not None:
        reference = UNAUTHORIZED if not authorized else view.url(item.content_reference)
        content["contentReference"] = {
            "value": [{"languageCode": "nb", "value": reference}],
            "mediaType": MAIN_CONTENT_MEDIA_TYPE,
        }
    document = _put(
        {"id": item.id, "createdAt": format_time(item.created_us)},
        authorizationAttribute=item.authorization_attribute,
    )
    document["isAuthorized"] = authorized
    _put(
        document,
        extendedType=item.extended_type,
        externalReference=item.external_reference,
        relatedTransmissionId=item.related_transmission_id,
    )
    document["type"] = item.type
    document["sender"] = actor(item.sender)
    if not search:
        document["isOpened"] = item.opened
    document["content"] = content
    document["attachments"] = [
        _attachment(a, view, unauthorized=not authorized)
        for a in sorted(item.attachments, key=lambda a: a.id)
    ]
    document["navigationalActions"] = []
    return document


def _system_label(dialog: Dialog) -> str:
    return next((x for x in dialog.system_labels if x in _ARCHIVE_BIN), "Default")


def _counts(dialog: Dialog) -> dict[str, int]:
    return {
        "fromServiceOwnerTransmissionsCount": sum(
            1 for t in dialog.transmissions if t.sender.actor_type == "ServiceOwner"
        ),
        "fromPartyTransmissionsCount": sum(
            1 for t in dialog.transmissions if t.sender.actor_type == "PartyRepresentative"
        ),
    }


def _head(dialog: Dialog) -> dict[str, Any]:
    return _put(
        {
            "id": dialog.id,
            "org": dialog.org,
            "serviceResource": dialog.service_resource,
            "serviceResourceType": dialog.service_resource_type,
            "party": dialog.party,
        },
        progress=dialog.progress,
        extendedStatus=dialog.extended_status,
        externalReference=dialog.external_reference,
        process=dialog.process,
    )


def is_content_seen(dialog: Dialog) -> bool:
    """Seen since the last content update, and not marked as unopened."""
    return dialog.content_seen and "MarkedAsUnopened" not in dialog.system_labels


def list_item(dialog: Dialog, view: View) -> dict[str, Any]:
    """A ``DialogListItem`` of the end-user search."""
    document = _head(dialog)
    document["guiAttachmentCount"] = sum(
        1 for a in dialog.attachments if any(u.consumer_type == "Gui" for u in a.urls)
    )
    document["status"] = dialog.status
    document["isApiOnly"] = dialog.is_api_only
    _put(
        document,
        createdAt=format_time(dialog.created_us),
        updatedAt=format_time(dialog.updated_us),
        contentUpdatedAt=format_time(dialog.content_updated_us),
        dueAt=_time(dialog.due_us),
    )
    document["hasUnopenedContent"] = dialog.has_unopened_content
    document["isContentSeen"] = is_content_seen(dialog)
    document.update(_counts(dialog))
    document["content"] = _put(
        {"title": content_value(dialog.title, view)},
        summary=content_value(dialog.summary, view),
        senderName=content_value(dialog.sender_name, view),
    )
    if dialog.activities:
        latest = max(dialog.activities, key=lambda a: (a.created_us, a.id))
        document["latestActivity"] = activity(latest, view)
    document["seenSinceLastUpdate"] = seen_since(dialog.seen_log, dialog.updated_us, view)
    document["seenSinceLastContentUpdate"] = seen_since(
        dialog.seen_log, dialog.content_updated_us, view
    )
    document["endUserContext"] = {
        "revision": dialog.end_user_revision,
        "systemLabels": list(dialog.system_labels),
    }
    document["systemLabel"] = _system_label(dialog)
    return document


def full(dialog: Dialog, view: View, *, dialog_token: str | None) -> dict[str, Any]:
    """The ``Dialog`` aggregate of ``GET …/dialogs/{id}`` (``MarkedAsUnopened`` left out of
    the labels, as the GET removes it)."""
    document = _head(dialog)
    document["revision"] = dialog.revision
    document["status"] = dialog.status
    document["isApiOnly"] = dialog.is_api_only
    _put(
        document,
        createdAt=format_time(dialog.created_us),
        updatedAt=format_time(dialog.updated_us),
        contentUpdatedAt=format_time(dialog.content_updated_us),
        dueAt=_time(dialog.due_us),
        expiresAt=_time(dialog.expires_us),
        dialogToken=dialog_token,
    )
    document["hasUnopenedContent"] = dialog.has_unopened_content
    document["isContentSeen"] = is_content_seen(dialog)
    document.update(_counts(dialog))
    content = _put(
        {"title": content_value(dialog.title, view)},
        summary=content_value(dialog.summary, view),
        senderName=content_value(dialog.sender_name, view),
    )
    if dialog.main_content_reference is not None:
        content["mainContentReference"] = {
            "value": [{"languageCode": "nb", "value": view.url(dialog.main_content_reference)}],
            "mediaType": MAIN_CONTENT_MEDIA_TYPE,
            "isAuthorized": True,
        }
    document["content"] = content
    document["attachments"] = [
        _attachment(a, view) for a in sorted(dialog.attachments, key=lambda a: a.id)
    ]
    gui: list[dict[str, Any]] = []
    for action in sorted(dialog.gui_actions, key=lambda a: a.id):
        allowed = view.allows(action.authorization_attribute)
        entry = _put(
            {
                "id": action.id,
                "action": action.action,
                "url": view.url(action.url) if allowed else UNAUTHORIZED,
            },
            authorizationAttribute=action.authorization_attribute,
        )
        entry.update(
            isAuthorized=allowed,
            isDeleteDialogAction=action.is_delete_dialog_action,
            priority=action.priority,
            httpMethod=action.http_method,
            title=localizations(action.title, view),
        )
        if action.prompt is not None:
            entry["prompt"] = localizations(action.prompt, view)
        gui.append(entry)
    document["guiActions"] = gui
    api: list[dict[str, Any]] = []
    for api_action in sorted(dialog.api_actions, key=lambda a: a.id):
        allowed = view.allows(api_action.authorization_attribute)
        entry = _put(
            {"id": api_action.id, "action": api_action.action},
            authorizationAttribute=api_action.authorization_attribute,
        )
        entry["isAuthorized"] = allowed
        _put(entry, name=api_action.name)
        entry["endpoints"] = [
            _put(
                {"id": e.id},
                version=e.version,
                url=view.url(e.url) if allowed else UNAUTHORIZED,
                httpMethod=e.http_method,
                documentationUrl=e.documentation_url,
                requestSchema=e.request_schema,
                responseSchema=e.response_schema,
                deprecated=e.deprecated,
                sunsetAt=_time(e.sunset_us),
            )
            for e in sorted(api_action.endpoints, key=lambda e: e.id)
        ]
        api.append(entry)
    document["apiActions"] = api
    document["activities"] = [activity(a, view) for a in _ordered(dialog.activities)]
    document["seenSinceLastUpdate"] = seen_since(dialog.seen_log, dialog.updated_us, view)
    document["seenSinceLastContentUpdate"] = seen_since(
        dialog.seen_log, dialog.content_updated_us, view
    )
    document["transmissions"] = [transmission(t, view) for t in _ordered(dialog.transmissions)]
    labels = [x for x in dialog.system_labels if x != "MarkedAsUnopened"]
    document["endUserContext"] = {"revision": dialog.end_user_revision, "systemLabels": labels}
    document["systemLabel"] = _system_label(dialog)
    return document


def transmissions(dialog: Dialog, view: View) -> list[dict[str, Any]]:
    """``GET …/transmissions``: every transmission, in order."""
    return [transmission(t, view, search=True) for t in _ordered(dialog.transmissions)]


def activities(dialog: Dialog, view: View) -> list[dict[str, Any]]:
    """``GET …/activities``: every activity, in order."""
    return [activity(a, view, search=True) for a in _ordered(dialog.activities)]


def seen_log(dialog: Dialog, view: View) -> list[dict[str, Any]]:
    """``GET …/seenlog``: every entry, oldest first."""
    return [seen_entry(e, view) for e in sorted(dialog.seen_log, key=lambda e: e.seen_us)]
