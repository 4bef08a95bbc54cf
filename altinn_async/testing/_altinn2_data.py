"""The Altinn 2 emulator's records and their JSON: reportees, messages with forms and attachments,
consents, users and sessions; Norwegian local time; generated message boxes and PDFs.

Altinn 2 writes ``DateTime`` values in Norwegian local time without an offset
(``2013-11-11T13:41:01.703``) and ``DateTimeOffset`` values with one. The emulator keeps every
time as UTC milliseconds and converts with the EU summer-time rule (CET/CEST), so the output does
not depend on the host's time-zone database.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._odata import BOOL, DATETIME, GUID, NUMBER, STRING

_UTC = dt.UTC
_EPOCH = dt.datetime(1970, 1, 1)  # noqa: DTZ001 - naive on purpose: local wall-clock times
_CHUNK = 64 * 1024

# -- Norwegian local time ------------------------------------------------------------------------


def _last_sunday(year: int, month: int) -> int:
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    last = following - dt.timedelta(days=1)
    return last.day - (last.weekday() + 1) % 7


def oslo_offset(seconds: float) -> int:
    """Europe/Oslo's UTC offset in seconds at a moment: +2 h from the last Sunday of March
    01:00 UTC to the last Sunday of October 01:00 UTC, else +1 h."""
    moment = dt.datetime.fromtimestamp(seconds, _UTC)
    year = moment.year
    start = dt.datetime(year, 3, _last_sunday(year, 3), 1, tzinfo=_UTC)
    end = dt.datetime(year, 10, _last_sunday(year, 10), 1, tzinfo=_UTC)
    return 7200 if start <= moment < end else 3600


def local_time(ms: int) -> dt.datetime:
    """UTC milliseconds as naive Norwegian local time."""
    return _EPOCH + dt.timedelta(milliseconds=ms + oslo_offset(ms / 1000) * 1000)


def local_to_ms(local: dt.datetime) -> int:
    """Naive Norwegian local time to UTC milliseconds (the summer-time reading when ambiguous)."""
    naive_ms = (local - _EPOCH) // dt.timedelta(milliseconds=1)
    for offset in (7200, 3600):
        candidate = naive_ms - offset * 1000
        if oslo_offset(candidate / 1000) == offset:
            return candidate
    return naive_ms - 3600 * 1000  # inside the spring-forward gap


def to_local(moment: dt.datetime) -> dt.datetime:
    """An aware datetime as naive Norwegian local time."""
    return local_time(round(moment.timestamp() * 1000))


def net_datetime(local: dt.datetime) -> str:
    """A naive ``DateTime`` as Newtonsoft writes it: ``2013-11-20T19:50:54.86``."""
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if local.microsecond:
        text += "." + f"{local.microsecond:06d}".rstrip("0")
    return text


def net_datetime_offset(ms: int) -> str:
    """A ``DateTimeOffset`` in local time: ``2020-02-03T10:09:59.548+01:00``."""
    offset = oslo_offset(ms / 1000)
    return f"{net_datetime(local_time(ms))}+{offset // 3600:02d}:00"


def to_ms(seconds: float) -> int:
    """Seconds since the epoch to whole milliseconds."""
    return round(seconds * 1000)


# -- records -------------------------------------------------------------------------------------

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


_LIST_FIELDS = (
    "MessageId",
    "Subject",
    "Status",
    "LastChangedDateTime",
    "CreatedDate",
    "LastChangedBy",
    "ServiceOwner",
    "Type",
    "MessageSender",
    "ServiceCode",
    "ServiceEdition",
    "DueDate",
)
_DETAIL_FIELDS = (
    "MessageId",
    "Subject",
    "Status",
    "LastChangedDateTime",
    "CreatedDate",
    "LastChangedBy",
    "ServiceOwner",
    "Type",
    "MessageSender",
    "Summary",
    "Body",
    "ServiceCode",
    "ServiceEdition",
    "DueDate",
    "ArchiveReference",
)


def message_json(message: Message, language: int, *, detail: bool) -> dict[str, Any]:
    """A message's properties (nulls left out, times as .NET writes them), without links."""
    props = message.props(language)
    document: dict[str, Any] = {}
    for name in _DETAIL_FIELDS if detail else _LIST_FIELDS:
        value = props[name]
        if value is None:
            continue
        document[name] = net_datetime(value) if isinstance(value, dt.datetime) else value
    return document


def message_links(message: Message, base: str, origin: str, *, detail: bool) -> dict[str, Any]:
    """``_links`` of a message under ``base`` (``…/api/{who}/messages``)."""
    self_href = f"{base}/{message.message_id}"
    kind = "formtask" if message.type == FORM_TASK else "correspondence"
    links: dict[str, Any] = {"self": {"href": self_href}}
    if message.type == FORM_TASK:
        # "print" is only valid for FormTask messages (hente.md).
        links["print"] = {"href": f"{self_href}/print", "mime-type": "application/pdf"}
    links["metadata"] = {
        "href": f"{origin}/altinn2/api/metadata/{kind}/{message.service_code}/"
        f"{message.service_edition}"
    }
    links["portalview"] = {
        "href": f"{origin}/altinn2/Pages/ServiceEngine/Dispatcher/Dispatcher.aspx?"
        f"ReporteeElementID={message.number}&ErID={message.party_id}"
    }
    if detail:
        if message.forms:
            links["form"] = [
                {"href": f"{self_href}/forms/{form.id}", "name": form.name}
                for form in message.forms
            ]
        if message.attachments:
            links["attachment"] = [
                {
                    "href": f"{self_href}/attachments/{attachment.id}",
                    "name": attachment.name,
                    "fileName": attachment.file_name,
                    "encrypted": attachment.encrypted,
                    "signinglocked": attachment.signing_locked,
                    "signedbydefault": attachment.signed_by_default,
                    "filesize": attachment.size,
                }
                for attachment in message.attachments
            ]
    return links


def form_json(form: Form) -> dict[str, Any]:
    return {
        "Type": form.type,
        "DataFormatId": form.data_format_id,
        "DataFormatVersion": form.data_format_version,
        "ValidationStatus": "NotValidated",
        "Name": form.name,
    }


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "FileName": attachment.file_name,
        "Name": attachment.name,
        "AttachmentType": attachment.content_type,
        "Encrypted": attachment.encrypted,
        "SigningLocked": attachment.signing_locked,
        "SignedByDefault": attachment.signed_by_default,
        "FileSize": attachment.size,
    }


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
        return ((local_time(self.last_changed) - _EPOCH) // dt.timedelta(milliseconds=1), self.id)

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


def consent_party_json(reportee: Reportee) -> dict[str, Any]:
    document: dict[str, Any] = {"Name": reportee.name, "Type": reportee.kind}
    if reportee.kind == PERSON:
        if reportee.pid is not None:
            document["SocialSecurityNumber"] = reportee.pid
        return document
    document["OrganizationNumber"] = reportee.org_number
    if reportee.organization_form is not None:
        document["OrganizationForm"] = reportee.organization_form
    document["Status"] = reportee.status
    return document


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


# -- generated content ---------------------------------------------------------------------------

_CORRESPONDENCES = (
    ("Skatteetaten", "4503", 1, "Skattekort for {year}"),
    ("Skatteetaten", "4503", 2, "Skatteoppgjøret for {year} er klart"),
    ("NAV", "5261", 1, "Vedtak om foreldrepenger, saksnr {ref}"),
    ("Brønnøysundregistrene", "3606", 2, "Bekreftelse på registrert endring, ref {ref}"),
    ("Statens vegvesen", "5421", 1, "Påminnelse om EU-kontroll for kjøretøy {ref}"),
    ("Asker Kommune", "2479", 2, "Vedr. saksnr {ref}, journalnr {ref2}"),
    ("Digitaliseringsdirektoratet", "5633", 1, "Varsel om endring i tjeneste {ref}"),
)
_FORM_TASKS = (
    ("Skatteetaten", "2802", 2203, "RF-1015 Lønns- og trekkopplysninger for {year}", "213", 10422),
    (
        "Skatteetaten",
        "2933",
        120806,
        "RF-1028 Skattemelding for aksjeselskap {year}",
        "3181",
        11392,
    ),
    ("Statistisk sentralbyrå", "3606", 130731, "RA-0174 Omsetningsstatistikk {year}", "5521", 4012),
    ("NAV", "4936", 1, "Inntektsmelding for sykepenger, ref {ref}", "4936", 34011),
)
_PEOPLE = ("HÅKON TRANA", "KARI NORDMANN", "OLA NORDMANN", "INGRID BERG", "PER HANSEN")


def form_xml(name: str, reference: int, amount: int) -> bytes:
    """A small Oppgaveregisteret-style form document (``<Skjema>`` root)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Skjema skjemanummer="{reference}"><Tittel>{_xml_escape(name)}</Tittel>'
        f'<Beloep-datadef-5659 orid="5659">{amount}</Beloep-datadef-5659></Skjema>\n'
    ).encode()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """What a generated message needs, before it gets its numbers."""

    type: str
    subject: str
    service_owner: str
    service_code: str
    service_edition: int
    status: str
    created: int
    last_changed: int
    last_changed_by: str
    message_sender: str | None
    summary: str | None
    body: str | None
    forms: tuple[tuple[str, str, int, bytes], ...]  # name, data format id, version, xml
    attachments: tuple[tuple[str, bytes | int, str], ...]  # file name, data or size, type


def generate_specs(count: int, seed: str, now_ms: int) -> Iterator[MessageSpec]:
    """Deterministic, realistic message-box content: correspondences and form tasks from several
    service owners over the last year, some read or archived, some with forms and attachments."""
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    day = 86_400_000
    for _ in range(count):
        created = now_ms - rng.randrange(365 * day)
        last_changed = created + rng.randrange(max(1, min(now_ms - created, 7 * day)))
        year = local_time(created).year
        ref = rng.randrange(201_300_000, 202_699_999)
        person = rng.choice(_PEOPLE)
        if rng.random() < 0.65:
            owner, code, edition, template = rng.choice(_CORRESPONDENCES)
            subject = template.format(year=year - 1, ref=ref, ref2=ref + 7)
            roll = rng.random()
            status = "Ulest" if roll < 0.4 else ("Lest" if roll < 0.85 else "Arkivert")
            attachments: tuple[tuple[str, bytes | int, str], ...] = ()
            if rng.random() < 0.3:
                attachments = (
                    (f"Vedtak_{ref}.pdf", rng.randrange(2_000, 200_000), "application/pdf"),
                )
            yield MessageSpec(
                type=CORRESPONDENCE,
                subject=subject,
                service_owner=owner,
                service_code=code,
                service_edition=edition,
                status=status,
                created=created,
                last_changed=last_changed,
                last_changed_by=owner,
                message_sender=owner,
                summary=subject,
                body=f"<p>{_xml_escape(subject)}</p>\n<p>Klikk under for å åpne dokumentet.</p>\n",
                forms=(),
                attachments=attachments,
            )
        else:
            owner, code, edition, template, format_id, version = rng.choice(_FORM_TASKS)
            subject = template.format(year=year - 1, ref=ref)
            roll = rng.random()
            status = "Utfylling" if roll < 0.6 else ("Signering" if roll < 0.7 else "Arkivert")
            forms = (
                (subject, format_id, version, form_xml(subject, ref, rng.randrange(100, 99_999))),
            )
            yield MessageSpec(
                type=FORM_TASK,
                subject=subject,
                service_owner=owner,
                service_code=code,
                service_edition=edition,
                status=status,
                created=created,
                last_changed=last_changed,
                last_changed_by=person,
                message_sender=None,
                summary=None,
                body=None,
                forms=forms,
                attachments=(),
            )


def pdf_document(lines: Sequence[str]) -> bytes:
    """A minimal one-page PDF (Helvetica, WinAnsi) showing ``lines``."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    operations = ["BT", "/F1 12 Tf", "16 TL", "72 770 Td"]
    operations.extend(f"({escape(line)}) Tj T*" for line in lines)
    operations.append("ET")
    content = "\n".join(operations).encode("cp1252", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"
        ),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)
