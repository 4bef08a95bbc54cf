"""Seeding Dialogporten: dialogs one by one (with Dialogporten's own JSON field names for the
nested parts), updates and soft deletes as the service-owner API would make them, and large
generated mailboxes."""

from __future__ import annotations

import random
import re
import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._toolkit.parties import ORGANIZATION_URN, PERSON_URN
from .._toolkit.register import ORG_NUMBER, PID
from .._toolkit.state import SharedState
from .model import (
    Activity,
    Actor,
    ApiAction,
    Attachment,
    AttachmentUrl,
    Dialog,
    DialogStore,
    Endpoint,
    GuiAction,
    SeenEntry,
    Texts,
    Transmission,
)

RESOURCE_PREFIX = "urn:altinn:resource:"
STATUSES = ("InProgress", "Draft", "RequiresAttention", "Completed", "NotApplicable", "Awaiting")
SYSTEM_LABELS = ("Default", "Bin", "Archive", "MarkedAsUnopened", "Sent")
RESOURCE_TYPES = ("GenericAccessResource", "CorrespondenceService", "AltinnApp", "MigratedApp")
TRANSMISSION_TYPES = (
    "Information",
    "Acceptance",
    "Rejection",
    "Request",
    "Alert",
    "Decision",
    "Submission",
    "Correction",
)
ACTIVITY_TYPES = (
    "DialogCreated",
    "DialogClosed",
    "Information",
    "TransmissionOpened",
    "PaymentMade",
    "SignatureProvided",
    "DialogOpened",
    "DialogDeleted",
    "DialogRestored",
    "SentToSigning",
    "SentToFormFill",
    "SentToSendIn",
    "SentToPayment",
    "FormSubmitted",
    "FormSaved",
    "CorrespondenceOpened",
    "CorrespondenceConfirmed",
)
ACTOR_TYPES = ("PartyRepresentative", "ServiceOwner")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT")
PRIORITIES = ("Primary", "Secondary", "Tertiary")
CONSUMER_TYPES = ("Gui", "Api")
_EXCLUSIVE = frozenset({"Default", "Bin", "Archive"})
_LANGUAGE = re.compile(r"[a-z]{2,3}")

LocalizedInput = str | Mapping[str, str]

UPDATABLE = frozenset(
    {
        "title",
        "summary",
        "sender_name",
        "status",
        "extended_status",
        "external_reference",
        "process",
        "due_at",
        "visible_from",
        "expires_at",
        "system_labels",
        "main_content_reference",
        "attachments",
        "api_actions",
        "gui_actions",
        "transmissions",
        "activities",
        "service_owner_labels",
    }
)
_CONTENT = frozenset({"title", "summary", "sender_name", "main_content_reference", "transmissions"})


def micros(seconds: float) -> int:
    """Seconds since the epoch as whole microseconds."""
    return round(seconds * 1_000_000)


def uuid7(us: int, bits: int) -> str:
    """A UUIDv7 whose time part is ``us`` (milliseconds kept) and whose 74 other bits come from
    ``bits``."""
    ms = (us // 1000) & ((1 << 48) - 1)
    rand_a = (bits >> 62) & 0xFFF
    rand_b = bits & ((1 << 62) - 1)
    return _uuid_text((ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


def _uuid_text(value: int) -> str:
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _uuid4(bits: int) -> str:
    return _uuid_text((bits & ~(0xF << 76) & ~(0b11 << 62)) | (0x4 << 76) | (0b10 << 62))


def party_urn(value: str) -> str:
    """A party URN from a URN or a bare 9-digit org number / 11-digit person number.

    Raises:
        ValueError: anything else.
    """
    text = str(value).strip()
    lowered = text.lower()
    for prefix, pattern in ((ORGANIZATION_URN, ORG_NUMBER), (PERSON_URN, PID)):
        if lowered.startswith(prefix) and pattern.fullmatch(lowered[len(prefix) :]):
            return lowered
    if ORG_NUMBER.fullmatch(text):
        return f"{ORGANIZATION_URN}{text}"
    if PID.fullmatch(text):
        return f"{PERSON_URN}{text}"
    raise ValueError(
        "party must be urn:altinn:organization:identifier-no:<9 digits>, "
        f"urn:altinn:person:identifier-no:<11 digits> or a bare number, got {value!r}"
    )


def resource_urn(value: str) -> str:
    """``urn:altinn:resource:<id>`` (a bare id gets the prefix).

    Raises:
        ValueError: an empty id.
    """
    text = str(value).strip()
    ident = text[len(RESOURCE_PREFIX) :] if text.lower().startswith(RESOURCE_PREFIX) else text
    if not ident or ":" in ident or " " in ident:
        raise ValueError(f"service_resource must be urn:altinn:resource:<id>, got {value!r}")
    return f"{RESOURCE_PREFIX}{ident}"


def texts(value: LocalizedInput | None, what: str, *, required: bool = False) -> Texts | None:
    """A localized text: a str is ``{"nb": str}``.

    Raises:
        ValueError: an empty or malformed text.
    """
    if value is None:
        if required:
            raise ValueError(f"{what} is required")
        return None
    pairs: dict[Any, Any] = {"nb": value} if isinstance(value, str) else dict(value)
    if not pairs:
        raise ValueError(f"{what} needs at least one language")
    for language, text in pairs.items():
        if not isinstance(language, str) or not _LANGUAGE.fullmatch(language):
            raise ValueError(f"{what}: language codes are ISO 639 (nb, nn, en), got {language!r}")
        if not isinstance(text, str) or not text:
            raise ValueError(f"{what}: the {language} text must be a non-empty string")
    return tuple(pairs.items())


def _choice(value: Any, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _optional_str(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return value


def _time(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} must be seconds since the epoch, got {value!r}")  # noqa: TRY004
    return micros(float(value))


def _url(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.startswith(
        ("http://", "https://", "{platform}/", "urn:")
    ):
        raise ValueError(f"{what} must be an absolute URL (or start with {{platform}}/): {value!r}")
    return value


def _check_keys(item: Mapping[str, Any], allowed: set[str], what: str) -> None:
    if not isinstance(item, Mapping):
        raise ValueError(f"{what} must be a mapping, got {item!r}")  # noqa: TRY004
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise ValueError(f"{what}: unknown field(s) {', '.join(unknown)}")


def system_labels(values: Sequence[str]) -> list[str]:
    """Checked system labels (one of Default, Bin and Archive at most).

    Raises:
        ValueError: an unknown label, or two of Default/Bin/Archive.
    """
    labels = list(dict.fromkeys(values))
    for label in labels:
        _choice(label, SYSTEM_LABELS, "a system label")
    if len(_EXCLUSIVE & set(labels)) > 1:
        raise ValueError("Default, Bin and Archive are mutually exclusive system labels")
    if not _EXCLUSIVE & set(labels):
        labels.insert(0, "Default")
    return labels


class _Ids:
    """UUIDv7 ids for one seeding call: their time part, then the order they were made in."""

    def __init__(self, bits: Callable[[], int]) -> None:
        self._bits = bits
        self._count = 0

    def next(self, us: int, given: Any = None) -> str:
        if given is not None:
            try:
                return str(uuid.UUID(str(given)))
            except ValueError:
                raise ValueError(f"an id must be a UUID, got {given!r}") from None
        self._count += 1
        bits = ((self._count & 0xFFF) << 62) | (self._bits() & ((1 << 62) - 1))
        return uuid7(us, bits)


class _Parts:
    """Turns the nested seed mappings into the model."""

    def __init__(self, ids: _Ids, created_us: int) -> None:
        self._ids = ids
        self._created = created_us

    def attachment(self, item: Mapping[str, Any], what: str) -> Attachment:
        _check_keys(
            item, {"id", "displayName", "name", "expiresAt", "urls", "authorizationAttribute"}, what
        )
        urls: list[AttachmentUrl] = []
        for n, url in enumerate(item.get("urls") or (), 1):
            _check_keys(url, {"id", "url", "mediaType", "consumerType"}, f"{what} url {n}")
            urls.append(
                AttachmentUrl(
                    id=self._ids.next(self._created, url.get("id")),
                    url=_url(url.get("url"), f"{what} url {n}"),
                    media_type=_optional_str(url.get("mediaType"), f"{what} mediaType"),
                    consumer_type=_choice(
                        url.get("consumerType", "Gui"), CONSUMER_TYPES, f"{what} consumerType"
                    ),
                )
            )
        if not urls:
            raise ValueError(f"{what} needs at least one url")
        display = texts(item.get("displayName") or item.get("name"), f"{what} displayName")
        return Attachment(
            id=self._ids.next(self._created, item.get("id")),
            display_name=display or (),
            name=_optional_str(item.get("name"), f"{what} name"),
            expires_us=_time(item.get("expiresAt"), f"{what} expiresAt"),
            urls=urls,
            authorization_attribute=_optional_str(
                item.get("authorizationAttribute"), f"{what} authorizationAttribute"
            ),
        )

    def api_action(self, item: Mapping[str, Any], what: str) -> ApiAction:
        _check_keys(item, {"id", "action", "name", "authorizationAttribute", "endpoints"}, what)
        endpoints: list[Endpoint] = []
        fields = {
            "id",
            "url",
            "httpMethod",
            "version",
            "documentationUrl",
            "requestSchema",
            "responseSchema",
            "deprecated",
            "sunsetAt",
        }
        for n, end in enumerate(item.get("endpoints") or (), 1):
            label = f"{what} endpoint {n}"
            _check_keys(end, fields, label)
            endpoints.append(
                Endpoint(
                    id=self._ids.next(self._created, end.get("id")),
                    url=_url(end.get("url"), label),
                    http_method=_choice(end.get("httpMethod", "GET"), HTTP_METHODS, label),
                    version=_optional_str(end.get("version"), f"{label} version"),
                    documentation_url=_optional_str(end.get("documentationUrl"), label),
                    request_schema=_optional_str(end.get("requestSchema"), label),
                    response_schema=_optional_str(end.get("responseSchema"), label),
                    deprecated=bool(end.get("deprecated", False)),
                    sunset_us=_time(end.get("sunsetAt"), f"{label} sunsetAt"),
                )
            )
        if not endpoints:
            raise ValueError(f"{what} needs at least one endpoint")
        action = _optional_str(item.get("action"), f"{what} action")
        if action is None:
            raise ValueError(f"{what} needs an action")
        return ApiAction(
            id=self._ids.next(self._created, item.get("id")),
            action=action,
            name=_optional_str(item.get("name"), f"{what} name"),
            authorization_attribute=_optional_str(item.get("authorizationAttribute"), what),
            endpoints=endpoints,
        )

    def gui_action(self, item: Mapping[str, Any], what: str) -> GuiAction:
        _check_keys(
            item,
            {
                "id",
                "action",
                "url",
                "authorizationAttribute",
                "isDeleteDialogAction",
                "priority",
                "httpMethod",
                "title",
                "prompt",
            },
            what,
        )
        action = _optional_str(item.get("action"), f"{what} action")
        if action is None:
            raise ValueError(f"{what} needs an action")
        return GuiAction(
            id=self._ids.next(self._created, item.get("id")),
            action=action,
            url=_url(item.get("url"), f"{what} url"),
            authorization_attribute=_optional_str(item.get("authorizationAttribute"), what),
            is_delete_dialog_action=bool(item.get("isDeleteDialogAction", False)),
            priority=_choice(item.get("priority", "Primary"), PRIORITIES, f"{what} priority"),
            http_method=_choice(item.get("httpMethod", "GET"), HTTP_METHODS, f"{what} method"),
            title=texts(item.get("title"), f"{what} title", required=True) or (),
            prompt=texts(item.get("prompt"), f"{what} prompt"),
        )

    def actor(self, value: Any, what: str, default: str) -> Actor:
        if value is None:
            return Actor(default)
        _check_keys(value, {"actorType", "actorId", "actorName"}, what)
        return Actor(
            _choice(value.get("actorType", default), ACTOR_TYPES, f"{what} actorType"),
            _optional_str(value.get("actorId"), f"{what} actorId"),
            _optional_str(value.get("actorName"), f"{what} actorName"),
        )

    def transmission(self, item: Mapping[str, Any], what: str) -> Transmission:
        _check_keys(
            item,
            {
                "id",
                "type",
                "title",
                "summary",
                "createdAt",
                "sender",
                "attachments",
                "authorizationAttribute",
                "extendedType",
                "externalReference",
                "relatedTransmissionId",
                "contentReference",
            },
            what,
        )
        created = _time(item.get("createdAt"), f"{what} createdAt") or self._created
        parts = _Parts(self._ids, created)
        return Transmission(
            id=self._ids.next(created, item.get("id")),
            created_us=created,
            type=_choice(item.get("type", "Information"), TRANSMISSION_TYPES, f"{what} type"),
            sender=self.actor(item.get("sender"), f"{what} sender", "ServiceOwner"),
            title=texts(item.get("title"), f"{what} title", required=True) or (),
            summary=texts(item.get("summary"), f"{what} summary"),
            content_reference=(
                None
                if item.get("contentReference") is None
                else _url(item["contentReference"], f"{what} contentReference")
            ),
            authorization_attribute=_optional_str(item.get("authorizationAttribute"), what),
            extended_type=_optional_str(item.get("extendedType"), f"{what} extendedType"),
            external_reference=_optional_str(item.get("externalReference"), what),
            related_transmission_id=_optional_str(item.get("relatedTransmissionId"), what),
            attachments=[
                parts.attachment(a, f"{what} attachment {n}")
                for n, a in enumerate(item.get("attachments") or (), 1)
            ],
        )

    def activity(self, item: Mapping[str, Any], what: str) -> Activity:
        _check_keys(
            item,
            {
                "id",
                "type",
                "createdAt",
                "performedBy",
                "description",
                "transmissionId",
                "extendedType",
            },
            what,
        )
        created = _time(item.get("createdAt"), f"{what} createdAt") or self._created
        return Activity(
            id=self._ids.next(created, item.get("id")),
            created_us=created,
            type=_choice(item.get("type"), ACTIVITY_TYPES, f"{what} type"),
            performed_by=self.actor(item.get("performedBy"), f"{what} performedBy", "ServiceOwner"),
            description=texts(item.get("description"), f"{what} description"),
            transmission_id=_optional_str(item.get("transmissionId"), f"{what} transmissionId"),
            extended_type=_optional_str(item.get("extendedType"), f"{what} extendedType"),
        )


def _mark_opened(dialog: Dialog) -> None:
    opened = {a.transmission_id for a in dialog.activities if a.type == "TransmissionOpened"}
    for item in dialog.transmissions:
        item.opened = item.id in opened


class DialogSeeding:
    """Adds, changes and generates dialogs.

    Args:
        shared: the lock and the clock.
        store: the dialogs.
    """

    def __init__(self, shared: SharedState, store: DialogStore) -> None:
        self._shared = shared
        self._store = store

    def __repr__(self) -> str:
        return f"DialogSeeding({self._store!r})"

    def add_dialog(
        self,
        party: str,
        *,
        service_resource: str,
        org: str,
        service_resource_type: str,
        title: LocalizedInput,
        summary: LocalizedInput | None,
        sender_name: LocalizedInput | None,
        status: str,
        extended_status: str | None,
        external_reference: str | None,
        process: str | None,
        created_at: float | None,
        updated_at: float | None,
        content_updated_at: float | None,
        due_at: float | None,
        visible_from: float | None,
        expires_at: float | None,
        system_labels: Sequence[str],
        main_content_reference: str | None,
        attachments: Sequence[Mapping[str, Any]],
        api_actions: Sequence[Mapping[str, Any]],
        gui_actions: Sequence[Mapping[str, Any]],
        transmissions: Sequence[Mapping[str, Any]],
        activities: Sequence[Mapping[str, Any]],
        service_owner_labels: Sequence[str],
        dialog_id: str | None,
    ) -> str:
        """Validate and store one dialog; its id (see ``Emulator.add_dialog``)."""
        now = self._shared.clock()
        created = _time(now if created_at is None else created_at, "created_at")
        assert created is not None  # noqa: S101 - given a number
        updated = _time(updated_at, "updated_at")
        content_updated = _time(content_updated_at, "content_updated_at")
        updated = created if updated is None else updated
        if content_updated is None:
            content_updated = updated
        if not created <= content_updated <= updated:
            raise ValueError("times must satisfy created_at <= content_updated_at <= updated_at")
        if not org or not re.fullmatch(r"[a-z0-9-]+", org):
            raise ValueError(f"org must be a service owner code (ttd, skd), got {org!r}")
        ids = _Ids(lambda: secrets.randbits(74))
        parts = _Parts(ids, created)
        dialog = Dialog(
            id=ids.next(created, dialog_id),
            party=party_urn(party),
            org=org,
            service_resource=resource_urn(service_resource),
            service_resource_type=_choice(
                service_resource_type, RESOURCE_TYPES, "service_resource_type"
            ),
            status=_choice(status, STATUSES, "status"),
            created_us=created,
            updated_us=updated,
            content_updated_us=content_updated,
            title=texts(title, "title", required=True) or (),
            revision=str(uuid.uuid4()),
            end_user_revision=str(uuid.uuid4()),
            summary=texts(summary, "summary"),
            sender_name=texts(sender_name, "sender_name"),
            extended_status=_optional_str(extended_status, "extended_status"),
            external_reference=_optional_str(external_reference, "external_reference"),
            process=_optional_str(process, "process"),
            due_us=_time(due_at, "due_at"),
            visible_from_us=_time(visible_from, "visible_from"),
            expires_us=_time(expires_at, "expires_at"),
            main_content_reference=(
                None
                if main_content_reference is None
                else _url(main_content_reference, "main_content_reference")
            ),
            system_labels=_labels(system_labels),
            service_owner_labels=[str(x) for x in service_owner_labels],
        )
        self._fill(dialog, parts, attachments, api_actions, gui_actions, transmissions, activities)
        with self._shared.lock:
            if dialog.id in self._store.dialogs:
                raise ValueError(f"a dialog with id {dialog.id} exists already")
            self._store.put(dialog)
        return dialog.id

    @staticmethod
    def _fill(  # noqa: PLR0917 - the collections of a seed, each optional
        dialog: Dialog,
        parts: _Parts,
        attachments: Sequence[Mapping[str, Any]] | None,
        api_actions: Sequence[Mapping[str, Any]] | None,
        gui_actions: Sequence[Mapping[str, Any]] | None,
        transmissions: Sequence[Mapping[str, Any]] | None,
        activities: Sequence[Mapping[str, Any]] | None,
    ) -> None:
        if attachments is not None:
            dialog.attachments = [
                parts.attachment(a, f"attachment {n}") for n, a in enumerate(attachments, 1)
            ]
        if api_actions is not None:
            dialog.api_actions = [
                parts.api_action(a, f"api action {n}") for n, a in enumerate(api_actions, 1)
            ]
        if gui_actions is not None:
            dialog.gui_actions = [
                parts.gui_action(a, f"gui action {n}") for n, a in enumerate(gui_actions, 1)
            ]
        if transmissions is not None:
            dialog.transmissions = dialog.transmissions + [
                parts.transmission(t, f"transmission {n}") for n, t in enumerate(transmissions, 1)
            ]
        if activities is not None:
            dialog.activities = dialog.activities + [
                parts.activity(a, f"activity {n}") for n, a in enumerate(activities, 1)
            ]
        _mark_opened(dialog)

    def update_dialog(  # noqa: PLR0912 - one branch per kind of change
        self, dialog_id: str, changes: Mapping[str, Any]
    ) -> None:
        """Apply ``changes`` as a service-owner update (see ``Emulator.update_dialog``)."""
        unknown = sorted(set(changes) - UPDATABLE)
        if unknown:
            raise ValueError(
                f"update_dialog cannot change {', '.join(unknown)}; it changes "
                f"{', '.join(sorted(UPDATABLE))}"
            )
        now = micros(self._shared.clock())
        with self._shared.lock:
            current = self._store.dialogs.get(str(dialog_id).lower())
        if current is None:
            raise ValueError(f"no dialog with id {dialog_id!r}")
        new: dict[str, Any] = {}
        for name, value in changes.items():
            if name in ("title", "summary", "sender_name"):
                new[name] = texts(value, name, required=name == "title")
            elif name == "status":
                new[name] = _choice(value, STATUSES, "status")
            elif name in ("extended_status", "external_reference", "process"):
                new[name] = _optional_str(value, name)
            elif name in ("due_at", "visible_from", "expires_at"):
                new[
                    {"due_at": "due_us", "visible_from": "visible_from_us"}.get(name, "expires_us")
                ] = _time(value, name)
            elif name == "system_labels":
                new[name] = _labels(value)
            elif name == "main_content_reference":
                new[name] = None if value is None else _url(value, name)
            elif name == "service_owner_labels":
                new[name] = [str(x) for x in value]
        stamp = max(now, current.updated_us)
        parts = _Parts(_Ids(lambda: secrets.randbits(74)), stamp)
        with self._shared.lock:
            dialog = self._store.dialogs[current.id]
            for name, value in new.items():
                setattr(dialog, name, value)
            self._fill(
                dialog,
                parts,
                changes.get("attachments"),
                changes.get("api_actions"),
                changes.get("gui_actions"),
                changes.get("transmissions"),
                changes.get("activities"),
            )
            dialog.updated_us = stamp
            if _CONTENT & set(changes):
                dialog.content_updated_us = stamp
                dialog.content_seen = False
            if "system_labels" in changes:
                dialog.end_user_revision = str(uuid.uuid4())
            dialog.revision = str(uuid.uuid4())
            self._store.put(dialog)

    def delete_dialog(self, dialog_id: str) -> None:
        """Soft-delete a dialog (see ``Emulator.delete_dialog``)."""
        now = micros(self._shared.clock())
        with self._shared.lock:
            dialog = self._store.dialogs.get(str(dialog_id).lower())
            if dialog is None:
                raise ValueError(f"no dialog with id {dialog_id!r}")
            if dialog.deleted_us is None:
                dialog.deleted_us = now
                dialog.updated_us = max(now, dialog.updated_us)
                dialog.revision = str(uuid.uuid4())
                self._store.put(dialog)

    def set_min_auth_level(self, service_resource: str, level: int) -> None:
        """Require an authentication level for a service resource's dialogs."""
        checked: object = level
        if isinstance(checked, bool) or not isinstance(checked, int) or not 0 <= checked <= 4:
            raise ValueError(f"level must be 0 to 4, got {level!r}")
        with self._shared.lock:
            self._store.min_auth_levels[resource_urn(service_resource)] = level

    def seen_log(self, dialog_id: str) -> list[SeenEntry]:
        """The dialog's seen log, oldest first."""
        with self._shared.lock:
            dialog = self._store.dialogs.get(str(dialog_id).lower())
            if dialog is None:
                raise ValueError(f"no dialog with id {dialog_id!r}")
            return sorted(dialog.seen_log, key=lambda e: e.seen_us)

    def generate(
        self,
        party: str,
        count: int,
        *,
        seed: int,
        start: float | None,
        end: float | None,
        service_resource: str,
        org: str,
        attachments_per_dialog: tuple[int, int],
    ) -> list[str]:
        """Make ``count`` dialogs (see ``Emulator.generate_dialogs``); their ids, oldest first."""
        checked: tuple[object, object] = (count, seed)
        if isinstance(checked[0], bool) or not isinstance(checked[0], int) or count < 0:
            raise ValueError(f"count must be a whole number, 0 or more, got {count!r}")
        if isinstance(checked[1], bool) or not isinstance(checked[1], int):
            raise ValueError(f"seed must be an integer, got {seed!r}")  # noqa: TRY004
        low, high = attachments_per_dialog
        if not 0 <= low <= high:
            raise ValueError("attachments_per_dialog must be (low, high) with 0 <= low <= high")
        urn = party_urn(party)
        resource = resource_urn(service_resource)
        last = self._shared.clock() if end is None else float(end)
        first = last - 90 * 86_400 if start is None else float(start)
        if not first < last:
            raise ValueError("start must be before end")
        rng = random.Random(f"dialogs:{seed}:{urn}:{count}:{resource}")  # noqa: S311 - test data
        ids = _Ids(lambda: rng.getrandbits(74))
        start_us, span = micros(first), micros(last) - micros(first)
        step = span / max(count, 1)
        made: list[Dialog] = []
        senders = tuple(texts(name, "sender") or () for name in _SENDERS)
        for index in range(count):
            created = start_us + int(index * step + rng.random() * step * 0.5)
            changed = created + rng.randrange(0, max(1, int(step * 0.4)) + 1)
            subject = _SUBJECTS[rng.randrange(len(_SUBJECTS))]
            label = rng.random()
            dialog = Dialog(
                id=ids.next(created),
                party=urn,
                org=org,
                service_resource=resource,
                service_resource_type="GenericAccessResource",
                status=STATUSES[rng.randrange(len(STATUSES))],
                created_us=created,
                updated_us=changed,
                content_updated_us=changed,
                title=((("nb", f"{subject} {index + 1}"),)),
                revision=_uuid4(rng.getrandbits(128)),
                end_user_revision=_uuid4(rng.getrandbits(128)),
                summary=_SUMMARY,
                sender_name=senders[rng.randrange(len(senders))],
                due_us=changed + 30 * 86_400_000_000 if rng.random() < 0.2 else None,
                system_labels=["Archive" if label < 0.1 else "Bin" if label < 0.13 else "Default"],
                content_seen=rng.random() < 0.5,
            )
            dialog.attachments = [
                Attachment(
                    id=ids.next(created),
                    display_name=_ATTACHMENT_NAMES[n % len(_ATTACHMENT_NAMES)],
                    name=f"vedlegg-{n}.pdf",
                    expires_us=None,
                    urls=[
                        AttachmentUrl(
                            ids.next(created),
                            f"https://example.invalid/dialogs/{dialog.id}/{n}.pdf",
                            "application/pdf",
                            "Gui",
                        )
                    ],
                )
                for n in range(1, rng.randint(low, high) + 1)
            ]
            made.append(dialog)
        with self._shared.lock:
            for dialog in made:
                if dialog.id in self._store.dialogs:
                    raise ValueError(f"a dialog with id {dialog.id} exists already")
            for dialog in made:
                self._store.put(dialog)
        return [d.id for d in made]


def _labels(values: Sequence[str]) -> list[str]:
    if isinstance(values, str):
        raise ValueError("system_labels must be a sequence of labels, not one string")  # noqa: TRY004
    return system_labels(values)


_SUBJECTS = (
    "Vedtak om skatteoppgjør",
    "Melding om endring",
    "Purring på innsending",
    "Kvittering for innsendt skjema",
    "Varsel om tilsyn",
    "Bekreftelse på registrering",
)
_SENDERS = ("Skatteetaten", "Brønnøysundregistrene", "NAV", "Digitaliseringsdirektoratet")
_ATTACHMENT_NAMES: tuple[Texts, ...] = tuple(((("nb", f"Vedlegg {n}"),)) for n in range(10))
_SUMMARY: Texts = (("nb", "Generert dialog for tester av store innbokser."),)
