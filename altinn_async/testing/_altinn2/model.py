"""The Altinn 2 records: reportees, messages with forms and attachments, consents, users,
sessions and rights, and the store that holds them."""

from __future__ import annotations

import datetime as dt
import random
import threading
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .localtime import EPOCH, local_time
from .odata import BOOL, DATETIME, GUID, NUMBER, STRING

_CHUNK = 64 * 1024


PERSON, ENTERPRISE, BUSINESS = "Person", "Enterprise", "Business"


@dataclass(slots=True)
class Reportee:
    """A party in Altinn 2: a person, an enterprise (hovedenhet) or a business (underenhet)."""

    party_id: int
    name: str
    kind: str  # PERSON, ENTERPRISE or BUSINESS
    org_number: str | None = None
    pid: str | None = None
    parent_org_number: str | None = None
    organization_form: str | None = None
    active: bool = True

    @property
    def reportee_id(self) -> str:
        return f"r{self.party_id}"

    @property
    def party_uuid(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:altinn:party:{self.party_id}"))

    @property
    def status(self) -> str | None:
        if self.kind == PERSON:
            return None
        return "Active" if self.active else "Inactive"

    def end_user_json(self) -> dict[str, Any]:
        """The end-user API's reportee (``Type`` is ``Person`` or ``Foretak``)."""
        document: dict[str, Any] = {
            "ReporteeId": self.reportee_id,
            "Name": self.name,
            "Type": "Person" if self.kind == PERSON else "Foretak",
        }
        if self.kind == PERSON:
            if self.pid is not None:
                document["SocialSecurityNumber"] = self.pid
        else:
            document["OrganizationNumber"] = self.org_number
            document["Status"] = self.status
        return document

    def service_owner_json(self) -> dict[str, Any]:
        """The service-owner API's reportee (``Type`` Person, Enterprise or Business)."""
        document: dict[str, Any] = {"Name": self.name, "Type": self.kind}
        values = {
            "OrganizationNumber": self.org_number,
            "ParentOrganizationNumber": self.parent_org_number,
            "OrganizationForm": self.organization_form,
            "Status": self.status,
            "SocialSecurityNumber": self.pid,
            "ReporteeId": self.reportee_id,
            "PartyUUID": self.party_uuid,
        }
        document.update((k, v) for k, v in values.items() if v is not None)
        return document


END_USER_REPORTEE_SCHEMA = {
    "ReporteeId": STRING,
    "Name": STRING,
    "Type": STRING,
    "OrganizationNumber": STRING,
    "SocialSecurityNumber": STRING,
    "Status": STRING,
}
SERVICE_OWNER_REPORTEE_SCHEMA = {
    "Name": STRING,
    "Type": STRING,
    "OrganizationNumber": STRING,
    "ParentOrganizationNumber": STRING,
    "OrganizationForm": STRING,
    "Status": STRING,
    "SocialSecurityNumber": STRING,
    "ReporteeId": STRING,
    "PartyUUID": GUID,
}
MESSAGE_SCHEMA = {
    "MessageId": STRING,
    "Subject": STRING,
    "Status": STRING,
    "LastChangedDateTime": DATETIME,
    "CreatedDate": DATETIME,
    "LastChangedBy": STRING,
    "ServiceOwner": STRING,
    "Type": STRING,
    "MessageSender": STRING,
    "Summary": STRING,
    "Body": STRING,
    "ServiceCode": STRING,
    "ServiceEdition": NUMBER,
    "DueDate": DATETIME,
    "ArchiveReference": STRING,
    "MarkedUnread": BOOL,
}
CONSENT_SCHEMA = {
    "AuthorizationCode": GUID,
    "Status": STRING,
    "Created": DATETIME,
    "ValidTo": DATETIME,
    "LastChanged": DATETIME,
}

# Status values per language (1044 bokmål, 2068 nynorsk, 1033 English), keyed by the bokmål one.
_STATUS_TEXT = {
    "Ulest": {1033: "Unread", 2068: "Ulesen"},
    "Lest": {1033: "Read", 2068: "Lesen"},
    "Arkivert": {1033: "Archived", 2068: "Arkivert"},
    "Utfylling": {1033: "Filling in", 2068: "Utfylling"},
    "Signering": {1033: "Signing", 2068: "Signering"},
}
CORRESPONDENCE, FORM_TASK = "Correspondence", "FormTask"
STATUSES = {
    CORRESPONDENCE: ("Ulest", "Lest", "Arkivert"),
    FORM_TASK: ("Utfylling", "Signering", "Arkivert"),
}
LANGUAGES = (1044, 1033, 2068)


@dataclass(slots=True)
class Attachment:
    """An attachment; ``data`` None means ``size`` generated (deterministic) bytes."""

    id: int
    file_name: str
    name: str
    content_type: str
    data: bytes | None = field(repr=False)
    size: int
    encrypted: bool = False
    signing_locked: bool = False
    signed_by_default: bool = True

    def chunks(self) -> Iterator[bytes]:
        """The bytes, in chunks of 64 KiB (generated on the fly when not stored)."""
        if self.data is not None:
            for start in range(0, len(self.data), _CHUNK):
                yield self.data[start : start + _CHUNK]
            return
        rng = random.Random(f"altinn2-attachment:{self.id}:{self.size}")  # noqa: S311 - test data
        remaining = self.size
        while remaining > 0:
            size = min(_CHUNK, remaining)
            yield rng.randbytes(size)
            remaining -= size


@dataclass(slots=True)
class Form:
    """A form (main form or sub form) of a form task, with its XML."""

    id: int
    name: str
    type: str  # MainForm or SubForm
    data_format_id: str
    data_format_version: int
    xml: bytes = field(repr=False)


@dataclass(slots=True)
class Message:
    """One element in a reportee's message box."""

    number: int
    party_id: int
    type: str
    subject: str
    service_owner: str
    status: str  # bokmål; see STATUSES
    created: int  # UTC ms
    last_changed: int  # UTC ms
    last_changed_by: str
    service_code: str
    service_edition: int
    message_sender: str | None = None
    summary: str | None = None
    body: str | None = None
    due_date: int | None = None
    forms: list[Form] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    _props: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)

    @property
    def archived(self) -> bool:
        return self.status == "Arkivert"

    @property
    def message_id(self) -> str:
        return f"{'b' if self.archived else 'a'}{self.number}"

    @property
    def sort_key(self) -> tuple[int, int]:
        # Ascending order of this key is the message box order: newest change first.
        return (-self.last_changed, -self.number)

    def mark_read(self) -> None:
        """Correspondence read for the first time (call with the lock held)."""
        if self.type == CORRESPONDENCE and self.status == "Ulest":
            self.status = "Lest"
            self._props = {}

    def props(self, language: int) -> dict[str, Any]:
        """Every property with typed values (local times as naive datetimes), cached."""
        cached = self._props.get(language)
        if cached is not None:
            return cached
        status = self.status
        values: dict[str, Any] = {
            "MessageId": self.message_id,
            "Subject": self.subject,
            "Status": _STATUS_TEXT.get(status, {}).get(language, status),
            "LastChangedDateTime": local_time(self.last_changed),
            "CreatedDate": local_time(self.created),
            "LastChangedBy": self.last_changed_by,
            "ServiceOwner": self.service_owner,
            "Type": self.type,
            "MessageSender": self.message_sender,
            "Summary": self.summary,
            "Body": self.body,
            "ServiceCode": self.service_code,
            "ServiceEdition": self.service_edition,
            "DueDate": local_time(self.due_date) if self.due_date is not None else None,
            "ArchiveReference": f"AR{self.number}" if self.archived else None,
            "MarkedUnread": False,
        }
        self._props = {**self._props, language: values}
        return values


@dataclass(slots=True)
class Consent:
    """A consent (or power of attorney) given for a service."""

    id: int
    authorization_code: str
    service_code: str
    service_edition: int
    offered_by: int  # party ids
    covered_by: int
    handled_by: int | None
    revoked: bool
    created: int  # UTC ms
    valid_to: int
    last_changed: int

    @property
    def local_key(self) -> tuple[int, int]:
        """Ordering and continuation key: local last-changed milliseconds, then the id."""
        return ((local_time(self.last_changed) - EPOCH) // dt.timedelta(milliseconds=1), self.id)

    @property
    def continuation_token(self) -> str:
        local = local_time(self.last_changed)
        millis = local.microsecond // 1000
        return f"{local.strftime('%Y-%m-%dT%H:%M:%S')}.{millis:03d}_{self.id}"

    def props(self) -> dict[str, Any]:
        return {
            "AuthorizationCode": self.authorization_code,
            "Status": "Revoked" if self.revoked else "Active",
            "Created": local_time(self.created),
            "ValidTo": local_time(self.valid_to),
            "LastChanged": local_time(self.last_changed),
        }


@dataclass(frozen=True, slots=True)
class User:
    """An Altinn 2 user who can log in with a password."""

    username: str
    password: str = field(repr=False)
    pid: str | None
    party_id: int  # the user's own party: "my"
    enterprise_org: str | None  # set for enterprise users (virksomhetsbrukere)

    @property
    def key(self) -> str:
        return self.username.lower()

    @property
    def subject(self) -> str:
        """Whose rights the user exercises: the person number, else the username."""
        return self.pid if self.pid is not None else f"user:{self.key}"


@dataclass(slots=True)
class Session:
    """A password login: the auth cookie points at it (by hash)."""

    user_key: str
    enterprise_org: str | None
    last_seen: float


@dataclass(frozen=True, slots=True)
class Service:
    """A right is for one service (code, and edition or any), or for every service (None)."""

    code: str | None = None
    edition: int | None = None

    def covers(self, code: str | None, edition: int | None) -> bool:
        if self.code is None or code is None:
            return True
        return self.code == code and (self.edition is None or edition in (None, self.edition))


class Store:
    """Every Altinn 2 record. Guarded by the emulator's state lock (see ``_state.py``)."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        self.api_keys: dict[str, bool] = {}  # key -> may call the service-owner API
        self.users: dict[str, User] = {}  # lower-case username -> user
        self.users_by_pid: dict[str, User] = {}
        self.reportees: dict[int, Reportee] = {}
        self.by_org: dict[str, int] = {}
        self.by_pid: dict[str, int] = {}
        self.rights: dict[str, dict[int, set[Service]]] = {}  # subject -> party -> services
        self.boxes: dict[int, list[Message]] = {}
        self.unsorted: set[int] = set()
        self.messages: dict[int, Message] = {}
        self.consents: list[Consent] = []
        self.consents_sorted = True
        self.sessions: dict[str, Session] = {}  # SHA-256 of the cookie -> session
        self.failures: dict[str, deque[float]] = {}
        self.locked_until: dict[str, float] = {}
        self.next_party = 50_500_000
        self.next_message = 385_100
        self.next_item = 187_900  # forms and attachments
        self.next_consent = 1
        self.generated = 0

    def __repr__(self) -> str:
        return f"Altinn2Store(reportees={len(self.reportees)}, messages={len(self.messages)})"

    def new_party_id(self) -> int:
        self.next_party += 1
        while self.next_party in self.reportees:
            self.next_party += 1
        return self.next_party

    def add_reportee(self, reportee: Reportee) -> None:
        self.reportees[reportee.party_id] = reportee
        if reportee.org_number is not None:
            self.by_org[reportee.org_number] = reportee.party_id
        if reportee.pid is not None:
            self.by_pid[reportee.pid] = reportee.party_id

    def add_messages(self, messages: Sequence[Message]) -> None:
        for message in messages:
            self.messages[message.number] = message
            self.boxes.setdefault(message.party_id, []).append(message)
            self.unsorted.add(message.party_id)

    def box(self, party_id: int) -> list[Message]:
        """The party's messages, newest change first."""
        box = self.boxes.get(party_id, [])
        if party_id in self.unsorted:
            box.sort(key=lambda m: m.sort_key)
            self.unsorted.discard(party_id)
        return box

    def sorted_consents(self) -> list[Consent]:
        if not self.consents_sorted:
            self.consents.sort(key=lambda c: c.local_key)
            self.consents_sorted = True
        return self.consents

    def may_represent(self, subject: str, own_party: int, party_id: int) -> bool:
        return party_id == own_party or party_id in self.rights.get(subject, {})
