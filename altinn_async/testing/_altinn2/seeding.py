"""Seeding Altinn 2: API keys, reportees, users and their rights, messages and consents (the logic
behind ``Emulator.add_api_key``, ``add_reportee``, ``add_altinn2_*`` and ``add_consent``)."""

from __future__ import annotations

import html
import uuid
from collections.abc import Iterable
from typing import Any

from .._toolkit.register import ORG_NUMBER, PID, Register, check_org_number
from .._toolkit.state import SharedState
from .gate import PREFIX, display_name
from .generate import MessageSpec, form_xml, generate_specs
from .localtime import to_ms
from .model import (
    BUSINESS,
    CORRESPONDENCE,
    ENTERPRISE,
    FORM_TASK,
    PERSON,
    STATUSES,
    Attachment,
    Consent,
    Form,
    Message,
    Reportee,
    Service,
    Store,
    User,
)
from .render import consent_json, message_json, message_links


class Altinn2Seeding:
    """Validates and stores what tests seed into Altinn 2."""

    def __init__(self, shared: SharedState, store: Store, register: Register) -> None:
        self._shared = shared
        self._store = store
        self._register = register

    def add_api_key(self, key: str, *, service_owner: bool) -> None:
        """Register an API key."""
        if not key or key != key.strip():
            raise ValueError("an API key must be non-empty, without surrounding spaces")
        with self._shared.lock:
            self._store.api_keys[key] = service_owner

    def add_reportee(
        self,
        name: str,
        *,
        org_number: str | None,
        pid: str | None,
        party_id: int | None,
        parent_org_number: str | None,
        organization_form: str | None,
        active: bool,
    ) -> dict[str, Any]:
        """Add (or update) a reportee; return it as the service-owner API shows it."""
        if (org_number is None) == (pid is None):
            raise ValueError("give exactly one of org_number and pid")
        if not name:
            raise ValueError("name must not be empty")
        if parent_org_number is not None:
            check_org_number(parent_org_number, "parent_org_number")
        if pid is not None:
            if not PID.fullmatch(pid):
                raise ValueError(f"pid must be 11 digits, got {pid!r}")
            with self._shared.lock:
                person = self._register.persons.get(pid)
            if person is None or (party_id is not None and person.party_id != party_id):
                person = self._register.add_person(
                    pid, name=name, party_id=party_id, user_id=None, username=""
                )
            reportee = Reportee(person.party_id, name, PERSON, pid=pid, active=active)
        else:
            org = check_org_number(org_number or "", "org_number")
            kind = BUSINESS if parent_org_number is not None else ENTERPRISE
            with self._shared.lock:
                known = self._store.by_org.get(org)
                number = party_id or known or self._store.new_party_id()
            reportee = Reportee(
                number,
                name,
                kind,
                org_number=org,
                parent_org_number=parent_org_number,
                organization_form=organization_form,
                active=active,
            )
        with self._shared.lock:
            self._store.add_reportee(reportee)
        return reportee.service_owner_json()

    def add_user(
        self,
        username: str,
        password: str,
        *,
        pid: str | None,
        name: str | None,
        enterprise_org: str | None,
        reportees: Iterable[str | int],
    ) -> str:
        """Add (or replace) a password-login user; return their own ``r<party id>``."""
        if not username or not password:
            raise ValueError("username and password must not be empty")
        if pid is not None and enterprise_org is not None:
            raise ValueError("an enterprise user is not a person: give pid or enterprise_org")
        if pid is not None:
            if not PID.fullmatch(pid):
                raise ValueError(f"pid must be 11 digits, got {pid!r}")
            with self._shared.lock:
                known = pid in self._register.persons
            if not known:
                self._register.add_person(pid, name=name, party_id=None, user_id=None, username="")
            party = self.party(pid)
        elif enterprise_org is not None:
            party = self.party(check_org_number(enterprise_org, "enterprise_org"))
        else:
            with self._shared.lock:
                party = self._store.new_party_id()
                self._store.add_reportee(Reportee(party, name or username, PERSON))
        user = User(username, password, pid, party, enterprise_org)
        with self._shared.lock:
            previous = self._store.users.get(user.key)
            if previous is not None and previous.pid is not None:
                self._store.users_by_pid.pop(previous.pid, None)
            self._store.users[user.key] = user
            if pid is not None:
                self._store.users_by_pid[pid] = user
        for reportee in reportees:
            self._grant(user.subject, reportee, Service())
        return f"r{party}"

    def add_right(
        self,
        subject: str,
        reportee: str | int,
        *,
        service_code: str | None,
        service_edition: int | None,
    ) -> None:
        """Let ``subject`` (a person number or a username) represent ``reportee``."""
        if PID.fullmatch(subject):
            key = subject
        else:
            with self._shared.lock:
                user = self._store.users.get(subject.lower())
            if user is None:
                raise ValueError(f"unknown Altinn 2 user {subject!r} (add_altinn2_user first)")
            key = user.subject
        service = Service(service_code, service_edition if service_code is not None else None)
        self._grant(key, reportee, service)

    def _grant(self, subject_key: str, reportee: str | int, service: Service) -> None:
        party = self.party(reportee)
        with self._shared.lock:
            rights = self._store.rights.setdefault(subject_key, {})
            rights.setdefault(party, set()).add(service)

    def add_message(
        self,
        reportee: str | int,
        *,
        base_url: str,
        subject: str,
        service_owner: str,
        type: str,  # noqa: A002 - the wire name (Message.Type)
        status: str | None,
        created: float | None,
        last_changed: float | None,
        service_code: str | None,
        service_edition: int,
        message_sender: str | None,
        summary: str | None,
        body: str | None,
        last_changed_by: str | None,
        forms: Iterable[tuple[str, bytes | str]],
        attachments: Iterable[tuple[str, bytes | int, str]],
    ) -> dict[str, Any]:
        """Put one message in a box; return it as ``GET …/messages/{id}`` shows it."""
        if type not in STATUSES:
            raise ValueError(f"type must be {CORRESPONDENCE!r} or {FORM_TASK!r}, got {type!r}")
        status = STATUSES[type][0] if status is None else status
        if status not in STATUSES[type]:
            raise ValueError(f"status of a {type} must be one of {STATUSES[type]}, got {status!r}")
        form_list = [(n, x.encode() if isinstance(x, str) else bytes(x)) for n, x in forms]
        if form_list and type != FORM_TASK:
            raise ValueError("only a FormTask has forms")
        if type == FORM_TASK and not form_list:
            form_list = [(subject, form_xml(subject, 1, 0))]
        attachment_list: list[tuple[str, bytes | int, str]] = []
        for file_name, data, content_type in attachments:
            if not file_name or not content_type:
                raise ValueError("an attachment needs a file name and a content type")
            if isinstance(data, int) and (isinstance(data, bool) or data < 0):
                raise ValueError("an attachment's size must be a non-negative int")
            attachment_list.append(
                (file_name, data if isinstance(data, int) else bytes(data), content_type)
            )
        correspondence = type == CORRESPONDENCE
        created_ms = to_ms(self._shared.clock() if created is None else created)
        spec = MessageSpec(
            type=type,
            subject=subject,
            service_owner=service_owner,
            service_code=service_code or ("4503" if correspondence else "2802"),
            service_edition=service_edition,
            status=status,
            created=created_ms,
            last_changed=max(created_ms, to_ms(last_changed)) if last_changed else created_ms,
            last_changed_by=last_changed_by or service_owner,
            message_sender=message_sender or (service_owner if correspondence else None),
            summary=summary if summary is not None else (subject if correspondence else None),
            body=body
            if body is not None
            else (f"<p>{html.escape(subject)}</p>" if correspondence else None),
            forms=tuple((n, "213", 10422, x) for n, x in form_list),
            attachments=tuple(attachment_list),
        )
        party = self.party(reportee)
        with self._shared.lock:
            [message] = self._store_messages(party, [spec])
        return _message_document(message, base_url, detail=True)

    def add_messages(
        self, reportee: str | int, count: int, *, seed: int, base_url: str
    ) -> list[dict[str, Any]]:
        """Fill a box with generated messages; return them as the box lists them."""
        if count < 0:
            raise ValueError("count must not be negative")
        party = self.party(reportee)
        with self._shared.lock:
            self._store.generated += 1
            seed_text = f"{seed}:altinn2:{party}:{self._store.generated}"
        specs = list(generate_specs(count, seed_text, to_ms(self._shared.clock())))
        with self._shared.lock:
            messages = self._store_messages(party, specs)
        return [_message_document(m, base_url, detail=False) for m in messages]

    def add_consent(
        self,
        *,
        service_code: str,
        service_edition: int,
        offered_by: str | int,
        covered_by: str | int,
        handled_by: str | int | None,
        status: str,
        created: float | None,
        valid_to: float | None,
        last_changed: float | None,
        authorization_code: str | None,
    ) -> dict[str, Any]:
        """Record a consent; return it as the list shows it."""
        if status not in ("Active", "Revoked"):
            raise ValueError(f"status must be 'Active' or 'Revoked', got {status!r}")
        offered, covered = self.party(offered_by), self.party(covered_by)
        handler = self.party(handled_by) if handled_by is not None else None
        created_ms = to_ms(self._shared.clock() if created is None else created)
        valid_ms = to_ms(valid_to) if valid_to is not None else created_ms + 90 * 86_400_000
        changed_ms = to_ms(last_changed) if last_changed is not None else created_ms
        code = str(uuid.UUID(authorization_code)) if authorization_code else str(uuid.uuid4())
        with self._shared.lock:
            store = self._store
            consent = Consent(
                id=store.next_consent,
                authorization_code=code,
                service_code=service_code,
                service_edition=service_edition,
                offered_by=offered,
                covered_by=covered,
                handled_by=handler,
                revoked=status == "Revoked",
                created=created_ms,
                valid_to=valid_ms,
                last_changed=max(changed_ms, created_ms),
            )
            store.next_consent += 1
            store.consents.append(consent)
            store.consents_sorted = False
            return consent_json(consent, store.reportees)

    def party(self, reportee: str | int) -> int:
        """The party id of an org number, person number, party id or ``r<id>``; unknown org
        and person numbers are added (persons to the Register too)."""
        text = str(reportee).strip()
        if text[:1] in ("r", "R") and text[1:].isdigit():
            text = text[1:]
        store = self._store
        if ORG_NUMBER.fullmatch(text):
            with self._shared.lock:
                known = store.by_org.get(text)
            if known is None:
                self.add_reportee(
                    f"TESTORGANISASJON {text}",
                    org_number=text,
                    pid=None,
                    party_id=None,
                    parent_org_number=None,
                    organization_form="AS",
                    active=True,
                )
                with self._shared.lock:
                    known = store.by_org[text]
            return known
        if PID.fullmatch(text):
            with self._shared.lock:
                known = store.by_pid.get(text)
                person = self._register.persons.get(text)
            if known is not None:
                return known
            name = display_name(person.name if person is not None else None, text)
            self.add_reportee(
                name,
                org_number=None,
                pid=text,
                party_id=None,
                parent_org_number=None,
                organization_form=None,
                active=True,
            )
            with self._shared.lock:
                return store.by_pid[text]
        if text.isdigit():
            party = int(text)
            with self._shared.lock:
                if party in store.reportees:
                    return party
                person = next(
                    (p for p in self._register.persons.values() if p.party_id == party), None
                )
            if person is not None:
                return self.party(person.pid)
        raise ValueError(f"unknown Altinn 2 reportee {reportee!r}")

    def _store_messages(self, party: int, specs: Iterable[MessageSpec]) -> list[Message]:
        """Number and store messages (lock held)."""
        store = self._store
        messages: list[Message] = []
        for spec in specs:
            store.next_message += 1
            forms: list[Form] = []
            for index, (name, format_id, version, xml) in enumerate(spec.forms):
                store.next_item += 1
                kind = "MainForm" if index == 0 else "SubForm"
                forms.append(Form(store.next_item, name, kind, format_id, version, xml))
            attachments: list[Attachment] = []
            for file_name, data, content_type in spec.attachments:
                store.next_item += 1
                stored = None if isinstance(data, int) else data
                size = data if isinstance(data, int) else len(data)
                name = file_name.rsplit(".", 1)[0] if "." in file_name else file_name
                attachments.append(
                    Attachment(store.next_item, file_name, name, content_type, stored, size)
                )
            messages.append(
                Message(
                    number=store.next_message,
                    party_id=party,
                    type=spec.type,
                    subject=spec.subject,
                    service_owner=spec.service_owner,
                    status=spec.status,
                    created=spec.created,
                    last_changed=max(spec.last_changed, spec.created),
                    last_changed_by=spec.last_changed_by,
                    service_code=spec.service_code,
                    service_edition=spec.service_edition,
                    message_sender=spec.message_sender,
                    summary=spec.summary,
                    body=spec.body,
                    forms=forms,
                    attachments=attachments,
                )
            )
        store.add_messages(messages)
        return messages


def _message_document(message: Message, base_url: str, *, detail: bool) -> dict[str, Any]:
    base = f"{base_url}{PREFIX}/r{message.party_id}/messages"
    document = message_json(message, 1044, detail=detail)
    document["_links"] = message_links(message, base, base_url, detail=detail)
    return document
