"""Seeding Correspondence: one correspondence as the sender API would accept it, many generated
ones, the dialog id Dialogporten gave a correspondence, and what tests inspect.

The validation is the sender API's (``altinn3-messaging.md`` §1.7; numbers and texts from
``Errors.cs``), raised as `ValueError` with the error's number.
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from .._events import EventsSeeding
from .._toolkit.faults import finite_number
from .._toolkit.parties import organization_urn, person_urn
from .._toolkit.register import Register
from .._toolkit.state import SharedState
from . import errors
from .access import valid_pid
from .dialog import correspondence_dialog
from .events import PUBLISHED, register
from .model import (
    US,
    Attachment,
    Correspondence,
    CorrespondenceStore,
    Status,
    StatusEntry,
    seconds_to_us,
    uuid7,
)
from .render import ALLOWED_EXTENSIONS, extension

DEFAULT_SENDER = "991825827"
ATTACHMENT_LIFETIME = 14 * 86_400 * US
"""Attachments expire 14 days after publishing by default (production's minimum)."""

_ORG = re.compile(r"(?:0192:|urn:altinn:organization:identifier-no:)?(\d{9})")
_PERSON = re.compile(r"(?:urn:altinn:person:identifier-no:)?(\d{11})")
_RESOURCE = re.compile(r"[A-Za-z0-9_-]{1,255}")
_MAX_BODY = 30_000
_MAX_ATTACHMENTS = 100
_MAX_SIZE = 2 * 1024**3


def _refuse(error: errors.Error, what: str = "") -> ValueError:
    return ValueError(f"{error.message} ({error.code}){': ' + what if what else ''}")


def recipient_urn(value: str) -> str:
    """A recipient (org number, national identity number, ``0192:…`` or a party URN) as its
    party URN.

    Raises:
        ValueError: none of those, or a national identity number with wrong check digits.
    """
    found = _ORG.fullmatch(str(value))
    if found:
        return organization_urn(found.group(1))
    found = _PERSON.fullmatch(str(value))
    if found:
        if not valid_pid(found.group(1)):
            raise ValueError("recipient is not a valid national identity number (check digits)")
        return person_urn(found.group(1))
    raise ValueError(
        "recipient must be a 9-digit organisation number, an 11-digit national identity number, "
        f"or a party URN (urn:altinn:organization:identifier-no:…), got {value!r}"
    )


def _resource(resource: str) -> str:
    stripped = str(resource).removeprefix("urn:altinn:resource:")
    if not _RESOURCE.fullmatch(stripped):
        raise ValueError(
            f"resource must be a resource id (letters, digits, - and _), got {resource!r}"
        )
    return stripped


def _time(value: float | None, name: str) -> int | None:
    if value is None:
        return None
    if not finite_number(value):
        raise ValueError(f"{name} must be seconds since the epoch, got {value!r}")
    return seconds_to_us(float(value))


def _check_content(title: str, summary: str, body: str, language: str) -> None:
    if not title.strip():
        raise _refuse(errors.TITLE_EMPTY)
    if len(title) > 255:
        raise _refuse(errors.TITLE_TOO_LONG)
    if len(summary) > 255:
        raise _refuse(errors.SUMMARY_TOO_LONG)
    if not body.strip():
        raise _refuse(errors.BODY_EMPTY)
    if len(body) > _MAX_BODY:
        raise ValueError(f"Message body cannot exceed {_MAX_BODY} characters")
    if language not in ("nb", "nn", "en"):
        raise _refuse(errors.INVALID_LANGUAGE, repr(language))


def _check_file(name: str, size: int) -> None:
    if not name.strip():
        raise _refuse(errors.FILENAME_MISSING)
    if len(name) > 255:
        raise _refuse(errors.FILENAME_TOO_LONG, name[:40] + "…")
    if any(c in name for c in '/\\:*?"<>|') or any(ord(c) < 32 for c in name):
        raise ValueError(f"Filename contains invalid characters (2012): {name!r}")
    if extension(name) not in ALLOWED_EXTENSIONS:
        raise _refuse(
            errors.FILETYPE_NOT_ALLOWED, f"{name!r}; allowed: {' '.join(ALLOWED_EXTENSIONS)}"
        )
    if not 0 < size <= _MAX_SIZE:
        raise _refuse(errors.INVALID_FILE_SIZE, name)


def _check_replies(options: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    checked: list[tuple[str, str]] = []
    for option in options:
        if len(option) != 2:
            raise ValueError(f"reply_options must be (url, text) pairs, got {option!r}")
        url, text = option
        if not url.startswith("https://") or len(url) > 255:
            raise _refuse(errors.INVALID_REPLY_OPTIONS, repr(url))
        checked.append((url, text))
    return tuple(checked)


def _files(
    attachments: Mapping[str, bytes] | Sequence[tuple[str, bytes]],
) -> list[tuple[str, bytes]]:
    pairs = list(attachments.items()) if isinstance(attachments, Mapping) else list(attachments)
    if len(pairs) > _MAX_ATTACHMENTS:
        raise _refuse(errors.TOO_MANY_ATTACHMENTS)
    files: list[tuple[str, bytes]] = []
    for pair in pairs:
        if len(pair) != 2:
            raise ValueError(f"attachments must be (file name, bytes) pairs, got {pair!r}")
        name, data = pair
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"attachment {name!r} must be bytes")
        _check_file(name, len(data))
        files.append((name, bytes(data)))
    return files


def _tie(correspondence_id: str) -> bytes:
    # The list's order among equal publish times: neither id order nor insertion order.
    return hashlib.blake2b(correspondence_id.encode(), digest_size=8).digest()


def _history(created: int, published: int) -> list[StatusEntry]:
    return [
        StatusEntry(Status.Initialized, created, "sender"),
        StatusEntry(Status.ReadyForPublish, created, "sender"),
        StatusEntry(Status.Published, max(created, published), "altinn"),
    ]


_TITLES = (
    "Vedtak om skattefastsetting",
    "Varsel om tvangsmulkt",
    "Melding om endret adresse",
    "Kvittering for innsendt søknad",
    "Purring: ubetalt faktura",
    "Informasjon om nye regler",
    "Innkalling til møte",
    "Svar på klage",
)
_FILES = (
    ("vedtak", ".pdf"),
    ("vedlegg", ".pdf"),
    ("oversikt", ".xlsx"),
    ("brev", ".docx"),
    ("data", ".xml"),
    ("kvittering", ".txt"),
    ("bilde", ".png"),
    ("tabell", ".csv"),
    ("melding", ".json"),
)


class CorrespondenceSeeding:
    """Adds correspondences to the store (and their published events to the Events API).

    Args:
        shared: the lock and the clock.
        store: the correspondences.
        register: the service owners (the dialog's ``org``).
        events: the Events seeding.
        base_url: the origin seeded events' ``source`` names.
    """

    def __init__(
        self,
        shared: SharedState,
        store: CorrespondenceStore,
        register: Register,
        events: EventsSeeding,
        *,
        base_url: str,
    ) -> None:
        self._shared = shared
        self._store = store
        self._register = register
        self._events = events
        self._base_url = base_url

    def __repr__(self) -> str:
        return f"CorrespondenceSeeding({self._store!r})"

    def add(
        self,
        recipient: str,
        *,
        resource: str,
        sender: str = DEFAULT_SENDER,
        sender_name: str | None = None,
        title: str,
        summary: str = "",
        body: str,
        language: str = "nb",
        attachments: Mapping[str, bytes] | Sequence[tuple[str, bytes]] = (),
        published: float | None = None,
        confirmation_needed: bool = False,
        due: float | None = None,
        attachment_expires: float | None = None,
        senders_reference: str | None = None,
        reply_options: Sequence[tuple[str, str]] = (),
        altinn2_id: int | None = None,
        idempotent_key: str | None = None,
        correspondence_id: str | None = None,
    ) -> str:
        """Store one correspondence; return its id (see ``Emulator.add_correspondence``).

        Raises:
            ValueError: what the sender API refuses, or a malformed or duplicate id.
        """
        party = recipient_urn(recipient)
        resource_id = _resource(resource)
        if not re.fullmatch(r"\d{9}", sender):
            raise ValueError(f"sender must be a 9-digit organisation number, got {sender!r}")
        _check_content(title, summary, body, language)
        files = _files(attachments)
        replies = _check_replies(reply_options)
        now = seconds_to_us(self._shared.clock())
        publish = _time(published, "published")
        publish = now if publish is None else publish
        due_us = _time(due, "due")
        if confirmation_needed and due_us is None:
            raise _refuse(errors.DUE_REQUIRED)
        if due_us is not None and due_us < publish:
            raise _refuse(errors.DUE_BEFORE_PUBLISH)
        expires = _time(attachment_expires, "attachment_expires")
        expires = publish + ATTACHMENT_LIFETIME if expires is None else expires
        if altinn2_id is not None and (isinstance(altinn2_id, bool) or altinn2_id < 1):
            raise ValueError(f"altinn2_id must be a positive integer, got {altinn2_id!r}")
        if idempotent_key is not None:
            idempotent_key = _uuid(idempotent_key, "idempotent_key")
        created = min(now, publish)
        item_id = (
            uuid7(created // 1000)
            if correspondence_id is None
            else _uuid(correspondence_id, "correspondence_id")
        )
        item = Correspondence(
            id=item_id,
            order=0,
            tie=_tie(item_id),
            resource=resource_id,
            recipient=party,
            sender=sender,
            message_sender=sender_name,
            senders_reference=senders_reference or f"emulator-{item_id[-12:]}",
            title=title,
            summary=summary,
            body=body,
            language=language,
            attachments=[
                Attachment(
                    id=uuid7(created // 1000),
                    file_name=name,
                    display_name=name,
                    data=data,
                    size=len(data),
                    seed="",
                    created=created + index,
                    expires=expires,
                )
                for index, (name, data) in enumerate(files)
            ],
            created=created,
            requested_publish=publish,
            confirmation_needed=bool(confirmation_needed),
            due=due_us,
            reply_options=replies,
            altinn2_id=altinn2_id,
            idempotent_key=idempotent_key,
            statuses=_history(created, publish),
        )
        with self._shared.lock:
            if item_id in self._store.by_id:
                raise ValueError(f"correspondence {item_id} already exists")
            self._store.added += 1
            item.order = self._store.added
            self._store.add([item])
        register(self._events, item, PUBLISHED, origin=self._base_url, at=publish)
        return item_id

    def generate(
        self,
        recipient: str,
        count: int,
        *,
        resource: str,
        sender: str = DEFAULT_SENDER,
        seed: int = 0,
        start: float | None = None,
        end: float | None = None,
        attachments_per: tuple[int, int] = (0, 3),
        attachment_size: int | tuple[int, int] = (1_000, 100_000),
        events: bool = False,
    ) -> list[str]:
        """Store ``count`` generated correspondences; return their ids, oldest first (see
        ``Emulator.generate_correspondences``).

        Raises:
            ValueError: a malformed argument.
        """
        party = recipient_urn(recipient)
        resource_id = _resource(resource)
        if not re.fullmatch(r"\d{9}", str(sender)):
            raise ValueError(f"sender must be a 9-digit organisation number, got {sender!r}")
        if isinstance(count, bool) or count < 0:
            raise ValueError(f"count must be a whole number, 0 or more, got {count!r}")
        if isinstance(seed, bool):
            raise TypeError(f"seed must be an integer, got {seed!r}")
        low, high = _pair(attachments_per, "attachments_per", 0, _MAX_ATTACHMENTS)
        sizes = (
            (attachment_size, attachment_size)
            if isinstance(attachment_size, int)
            else attachment_size
        )
        smallest, largest = _pair(sizes, "attachment_size", 1, _MAX_SIZE)
        now = seconds_to_us(self._shared.clock())
        end_us = _time(end, "end")
        end_us = now if end_us is None else end_us
        start_us = _time(start, "start")
        start_us = end_us - 90 * 86_400 * US if start_us is None else start_us
        if start_us >= end_us:
            raise ValueError("start must be before end")
        rng = random.Random(f"correspondences:{seed}:{party}:{resource_id}:{count}")  # noqa: S311
        # Whole milliseconds, so a bulk send's items can share a publish time, as real ones do.
        span_ms = (end_us - start_us) // 1000
        times = sorted(start_us + rng.randrange(span_ms + 1) * 1000 for _ in range(count))
        items: list[Correspondence] = []
        for index, publish in enumerate(times):
            item_id = uuid7(publish // 1000, rng)
            confirm = rng.random() < 0.1
            files: list[Attachment] = []
            for number in range(rng.randint(low, high)):
                stem, ext = _FILES[rng.randrange(len(_FILES))]
                files.append(
                    Attachment(
                        id=uuid7(publish // 1000, rng),
                        file_name=f"{stem}-{index + 1}-{number + 1}{ext}",
                        display_name=f"{stem.capitalize()} {number + 1}",
                        data=None,
                        size=rng.randint(smallest, largest),
                        seed=f"{item_id}:{number}",
                        created=publish + number,
                        expires=publish + ATTACHMENT_LIFETIME,
                    )
                )
            statuses = _history(publish, publish)
            if rng.random() < 0.4:
                read_at = publish + rng.randrange(1, 7 * 86_400) * US
                if read_at <= now:
                    statuses.append(StatusEntry(Status.Fetched, read_at, party))
                    statuses.append(StatusEntry(Status.Read, read_at + US, party))
            title = _TITLES[rng.randrange(len(_TITLES))]
            items.append(
                Correspondence(
                    id=item_id,
                    order=0,
                    tie=_tie(item_id),
                    resource=resource_id,
                    recipient=party,
                    sender=sender,
                    message_sender=None,
                    senders_reference=f"gen-{seed}-{index + 1}",
                    title=title,
                    summary=f"{title} (nr. {index + 1})",
                    body=f"# {title}\n\nDette er melding nummer {index + 1}.",
                    language="nb",
                    attachments=files,
                    created=publish,
                    requested_publish=publish,
                    confirmation_needed=confirm,
                    due=publish + 30 * 86_400 * US if confirm else None,
                    reply_options=(),
                    altinn2_id=None,
                    idempotent_key=None,
                    statuses=statuses,
                )
            )
        with self._shared.lock:
            clash = next((i.id for i in items if i.id in self._store.by_id), None)
            if clash is not None:
                raise ValueError(f"correspondence {clash} already exists (same seed twice?)")
            for item in items:
                self._store.added += 1
                item.order = self._store.added
            self._store.add(items)
        if events:
            for item in items:
                register(
                    self._events, item, PUBLISHED, origin=self._base_url, at=item.requested_publish
                )
        return [item.id for item in items]

    # -- for tests and for Dialogporten ------------------------------------------------------

    def get(self, correspondence_id: str) -> Correspondence:
        """The stored correspondence.

        Raises:
            KeyError: no such correspondence.
        """
        key = _uuid(correspondence_id, "correspondence_id", error=KeyError)
        with self._shared.lock:
            return self._store.by_id[key]

    def statuses(self, correspondence_id: str) -> list[str]:
        """The status history's names, in order, as of now."""
        item = self.get(correspondence_id)
        now = seconds_to_us(self._shared.clock())
        with self._shared.lock:
            return [entry.status.name for entry in item.history(now)]

    def set_dialog_id(self, correspondence_id: str, dialog_id: str) -> None:
        """Record the Dialogporten dialog of a correspondence.

        Raises:
            KeyError: no such correspondence.
            ValueError: ``dialog_id`` is not a UUID.
        """
        item = self.get(correspondence_id)
        value = _uuid(dialog_id, "dialog_id")
        with self._shared.lock:
            item.dialog_id = value

    def dialog(self, correspondence_id: str) -> dict[str, Any]:
        """The ``add_dialog`` keyword arguments of a correspondence's dialog; ``org`` is the
        sender's service-owner code (its organisation number if it is none)."""
        item = self.get(correspondence_id)
        with self._shared.lock:
            org = self._register.service_owners.get(item.sender, item.sender)
            return correspondence_dialog(item, org=org)


def _uuid(value: str, name: str, *, error: type[Exception] = ValueError) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise error(f"{name} must be a UUID, got {value!r}") from None


def _pair(value: Any, name: str, least: int, most: int) -> tuple[int, int]:
    if (
        not isinstance(value, tuple | list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not least <= value[0] <= value[1] <= most
    ):
        raise ValueError(
            f"{name} must be (low, high) with {least} <= low <= high <= {most}, got {value!r}"
        )
    return int(value[0]), int(value[1])
