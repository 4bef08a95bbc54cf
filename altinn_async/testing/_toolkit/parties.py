"""Who may act for whom: the organisations of the emulated Register (with their sub-units), the
roles people have in them, and the parties a caller is authorised for.

Reference data shared by the emulated Access Management (authorized parties), Dialogporten
(which parties a search may see) and Correspondence (which recipients a caller may read for).
One rule for all three, as in Altinn, where they all ask the same authorization service:

- a person acts for themselves, and for every organisation they have a role in (with its
  sub-units), limited to the resources the role was given for (all when none are named);
- a system user acts for the organisation that owns it (the customer, ``systemuser_org``), with
  its sub-units, for every resource;
- an organisation's own enterprise token (no system user) acts for that organisation.

Guarded by the shared lock, like the `Register` it sits beside.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .claims import altinn_org_number, altinn_user_id, pid, system_user
from .register import PID, Person, Register, check_org_number, party_uuid

__all__ = [
    "AuthorizedParty",
    "Caller",
    "Organization",
    "PartyDirectory",
    "date_of_birth",
    "organization_urn",
    "person_urn",
]

ORGANIZATION_URN = "urn:altinn:organization:identifier-no:"
PERSON_URN = "urn:altinn:person:identifier-no:"


def organization_urn(org_number: str) -> str:
    """``urn:altinn:organization:identifier-no:{org_number}``."""
    return f"{ORGANIZATION_URN}{org_number}"


def date_of_birth(person_number: str) -> str | None:
    """``YYYY-MM-DD`` of a Norwegian national identity number (D-numbers and the synthetic
    test population's month + 40 / + 80 included), or None."""
    day, month, year = int(person_number[:2]), int(person_number[2:4]), int(person_number[4:6])
    individual = int(person_number[6:9])
    day -= 40 if day > 40 else 0
    month -= 80 if month > 80 else 40 if month > 40 else 0
    if individual < 500:
        century = 1900
    elif individual < 750 and year >= 54:
        century = 1800
    elif year < 40:
        century = 2000
    else:
        century = 1900
    try:
        return datetime.date(century + year, month, day).isoformat()
    except ValueError:
        return None


def person_urn(person_number: str) -> str:
    """``urn:altinn:person:identifier-no:{pid}``."""
    return f"{PERSON_URN}{person_number}"


@dataclass(frozen=True, slots=True)
class Organization:
    """An organisation in the Register.

    Attributes:
        org_number: 9 digits.
        name: the registered name.
        unit_type: ``AS``, ``ASA``, ``ENK``, ... for a main unit; ``BEDR`` or ``AAFY`` for a
            sub-unit.
        parent: the main unit's organisation number, for a sub-unit.
        party_id: the Altinn party id.
        party_uuid: the party's UUID.
    """

    org_number: str
    name: str
    unit_type: str
    parent: str | None
    party_id: int
    party_uuid: str

    @property
    def urn(self) -> str:
        """The party URN Dialogporten and Correspondence use."""
        return organization_urn(self.org_number)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a verified token names, as the authorization service sees them.

    Attributes:
        pid: a person's national identity number.
        user_id: a person's Altinn user id (from an Altinn token).
        system_user_org: the owner of a system user.
        system_user_id: the system user's id.
        org_number: the organisation of an enterprise (or a system user's vendor).
    """

    pid: str | None = None
    user_id: str | None = None
    system_user_org: str | None = None
    system_user_id: str | None = None
    org_number: str | None = None

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Caller:
        """The caller of an Altinn, Maskinporten or ID-porten token's claims."""
        user = system_user(claims)
        if user is not None:
            return cls(
                system_user_org=user.org_number,
                system_user_id=user.ids[0],
                org_number=altinn_org_number(claims) or _consumer(claims),
            )
        person = pid(claims)
        if person is not None:
            return cls(pid=person, user_id=altinn_user_id(claims))
        return cls(org_number=altinn_org_number(claims) or _consumer(claims))

    @property
    def is_person(self) -> bool:
        """A person (not an organisation or system user)."""
        return self.pid is not None

    @property
    def is_system_user(self) -> bool:
        """A system user."""
        return self.system_user_org is not None


def _consumer(claims: Mapping[str, Any]) -> str | None:
    consumer = claims.get("consumer")
    if isinstance(consumer, Mapping):
        value = consumer.get("ID")
        if isinstance(value, str) and ":" in value:
            return value.rpartition(":")[2]
    return None


@dataclass(slots=True)
class AuthorizedParty:
    """One party a caller may act for, with the sub-units they reach through it.

    Attributes:
        urn: the party URN.
        organization: the organisation, for an organisation.
        person_pid: the person's national identity number, for a person.
        name: the party's name.
        party_id: the Altinn party id.
        party_uuid: the party's UUID.
        roles: the role codes that give the access (``DAGL``, ...).
        resources: the resources the access is for; ``None``: every resource.
        subunits: the sub-units, for a main unit.
    """

    urn: str
    name: str
    party_id: int
    party_uuid: str
    organization: Organization | None = None
    person_pid: str | None = None
    roles: list[str] = field(default_factory=list)
    resources: set[str] | None = None
    subunits: list[AuthorizedParty] = field(default_factory=list)

    def allows(self, resource: str | None) -> bool:
        """Whether the access covers ``resource`` (a resource id, with or without the
        ``urn:altinn:resource:`` prefix; ``None``: any)."""
        if self.resources is None or resource is None:
            return True
        return resource.removeprefix("urn:altinn:resource:") in self.resources

    def flattened(self) -> list[AuthorizedParty]:
        """This party and its sub-units, in order."""
        return [self, *(unit for sub in self.subunits for unit in sub.flattened())]


@dataclass(slots=True)
class _Role:
    org_number: str
    roles: list[str]
    resources: set[str] | None


class PartyDirectory:
    """The Register's organisations and people's roles in them; the authorized parties of a
    caller. Read with the shared lock held; the seeding methods take it."""

    def __init__(self, lock: threading.Lock, register: Register) -> None:
        self._lock = lock
        self._register = register
        self.organizations: dict[str, Organization] = {}
        self._roles: dict[str, dict[str, _Role]] = {}  # pid -> org number -> role
        self._added = 0

    def __repr__(self) -> str:
        return f"PartyDirectory(organizations={len(self.organizations)})"

    # -- seeding -------------------------------------------------------------------------------

    def add_organization(
        self,
        org_number: str,
        *,
        name: str | None = None,
        unit_type: str | None = None,
        parent: str | None = None,
        party_id: int | None = None,
    ) -> Organization:
        """Add (or replace) an organisation; a ``parent`` makes it a sub-unit.

        Raises:
            ValueError: a malformed number, an unknown or sub-unit parent, or a bad party id.
        """
        check_org_number(org_number, "org_number")
        with self._lock:
            if parent is not None:
                check_org_number(parent, "parent")
                main = self.organizations.get(parent)
                if main is None:
                    raise ValueError(f"add the main unit {parent} before its sub-units")
                if main.parent is not None:
                    raise ValueError(f"{parent} is itself a sub-unit")
            self._added += 1
            number = party_id if party_id is not None else 51_000_000 + self._added
            if number < 1:
                raise ValueError("party_id must be positive")
            organization = Organization(
                org_number=org_number,
                name=name or f"ORGANISASJON {org_number}",
                unit_type=unit_type or ("BEDR" if parent is not None else "AS"),
                parent=parent,
                party_id=number,
                party_uuid=party_uuid(number),
            )
            self.organizations[org_number] = organization
            return organization

    def add_role(
        self,
        person: str,
        org_number: str,
        *,
        role: str = "DAGL",
        resources: Iterable[str] | None = None,
    ) -> None:
        """Give a person a role in an organisation (and so access to act for it).

        Args:
            person: the person's national identity number (in the Register).
            org_number: the organisation (added first).
            role: the role code.
            resources: the resource ids the role covers (``None``: every resource).

        Raises:
            ValueError: an unknown person or organisation.
        """
        if not PID.fullmatch(person):
            raise ValueError(f"person must be an 11-digit national identity number: {person!r}")
        with self._lock:
            if person not in self._register.persons:
                raise ValueError(f"add the person {person[:6]}***** to the Register first")
            if org_number not in self.organizations:
                raise ValueError(f"add the organisation {org_number} first")
            roles = self._roles.setdefault(person, {})
            existing = roles.get(org_number)
            wanted = (
                None
                if resources is None
                else {r.removeprefix("urn:altinn:resource:") for r in resources}
            )
            if existing is None:
                roles[org_number] = _Role(org_number, [role], wanted)
                return
            if role not in existing.roles:
                existing.roles.append(role)
            if existing.resources is None or wanted is None:
                existing.resources = None
            else:
                existing.resources |= wanted

    def ensure_organization(self, org_number: str) -> Organization:
        """The organisation, added with a generated name if it is not in the Register.
        Lock held."""
        organization = self.organizations.get(org_number)
        if organization is None:
            self._added += 1
            number = 51_000_000 + self._added
            organization = Organization(
                org_number=org_number,
                name=f"ORGANISASJON {org_number}",
                unit_type="AS",
                parent=None,
                party_id=number,
                party_uuid=party_uuid(number),
            )
            self.organizations[org_number] = organization
        return organization

    # -- reading (lock held) -------------------------------------------------------------------

    def authorized_parties(self, caller: Caller) -> list[AuthorizedParty]:
        """The parties ``caller`` may act for, main units with their sub-units nested.
        Lock held."""
        if caller.system_user_org is not None:
            return [self._organization_party(caller.system_user_org, [], None)]
        if caller.pid is not None:
            parties: list[AuthorizedParty] = []
            person = self._register.persons.get(caller.pid)
            if person is not None:
                parties.append(
                    AuthorizedParty(
                        urn=person_urn(person.pid),
                        name=person.name or person.pid[:6],
                        party_id=person.party_id,
                        party_uuid=person.party_uuid,
                        person_pid=person.pid,
                        roles=["PRIV"],
                    )
                )
            parties.extend(
                self._organization_party(role.org_number, list(role.roles), role.resources)
                for role in self._roles.get(caller.pid, {}).values()
            )
            return parties
        if caller.org_number is not None:
            return [self._organization_party(caller.org_number, [], None)]
        return []

    def party(self, kind: str, value: str) -> Organization | Person | None:
        """The organisation or person a party identifier names, or None. ``kind`` is
        ``"uuid"`` (a party UUID), ``"party_id"``, ``"user_id"`` (a person's Altinn user id),
        ``"org_number"`` or ``"pid"``. Lock held."""
        if kind == "org_number":
            return self.organizations.get(value)
        if kind == "pid":
            return self._register.persons.get(value)
        people: Iterable[Person] = self._register.persons.values()
        if kind == "user_id":
            return next((p for p in people if str(p.user_id) == value), None)
        if kind == "uuid":
            wanted = value.lower()
            return next(
                (o for o in self.organizations.values() if o.party_uuid == wanted), None
            ) or next((p for p in people if p.party_uuid == wanted), None)
        if kind == "party_id":
            return next(
                (o for o in self.organizations.values() if str(o.party_id) == value), None
            ) or next((p for p in people if str(p.party_id) == value), None)
        raise ValueError(f"unknown party identifier kind {kind!r}")

    def party_urns(self, caller: Caller, resource: str | None = None) -> set[str]:
        """The URNs of every party (sub-units included) ``caller`` may act for on
        ``resource``. Lock held."""
        return {
            party.urn
            for top in self.authorized_parties(caller)
            for party in top.flattened()
            if party.allows(resource)
        }

    def _organization_party(
        self, org_number: str, roles: list[str], resources: set[str] | None
    ) -> AuthorizedParty:
        organization = self.ensure_organization(org_number)
        subunits = [
            AuthorizedParty(
                urn=unit.urn,
                name=unit.name,
                party_id=unit.party_id,
                party_uuid=unit.party_uuid,
                organization=unit,
                roles=list(roles),
                resources=None if resources is None else set(resources),
            )
            for unit in sorted(self.organizations.values(), key=lambda o: o.org_number)
            if unit.parent == organization.org_number
        ]
        return AuthorizedParty(
            urn=organization.urn,
            name=organization.name,
            party_id=organization.party_id,
            party_uuid=organization.party_uuid,
            organization=organization,
            roles=roles,
            resources=resources,
            subunits=subunits,
        )
