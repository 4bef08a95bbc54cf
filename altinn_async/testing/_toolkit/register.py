"""The Altinn Register as the emulated services consult it: persons by national identity number,
and the service owners (Altinn's ``altinn-orgs.json``, organisation number to org code).

Reference data, not a service: the ID-porten exchange looks people up here, Altinn 2 turns them
into reportees, the TestID page offers their numbers, and the exchange and Altinn 2 recognise
service owners. Guarded by the shared lock.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass

PID = re.compile(r"\d{11}")
ORG_NUMBER = re.compile(r"\d{9}")

DEFAULT_SERVICE_OWNERS = {"991825827": "digdir", "405003309": "ttd"}


def check_org_number(value: str, what: str) -> str:
    """``value`` if it is a 9-digit organisation number.

    Raises:
        ValueError: it is not.
    """
    if not ORG_NUMBER.fullmatch(str(value)):
        raise ValueError(f"{what} must be a 9-digit organisation number, got {value!r}")
    return value


def party_uuid(party_id: int) -> str:
    """A party's UUID (``urn:altinn:party:uuid``): stable for a party id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:altinn:party:{party_id}"))


@dataclass(frozen=True, slots=True)
class Person:
    """A person in the emulated Altinn Register, as the ID-porten exchange looks them up.

    Attributes:
        pid: the national identity number (fødselsnummer), 11 digits.
        name: the person's name, if given.
        party_id: the person's party id in Altinn (``urn:altinn:partyid``, instance owner).
        user_id: the person's Altinn user id (``urn:altinn:userid``).
        username: the Altinn username (``urn:altinn:username``; empty for most people).
        party_uuid: the party's UUID (``urn:altinn:party:uuid``).
    """

    pid: str
    name: str | None
    party_id: int
    user_id: int
    username: str
    party_uuid: str


class Register:
    """Persons and service owners. Read with the shared lock held; the seeding methods take it."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self.persons: dict[str, Person] = {}
        self.service_owners: dict[str, str] = dict(DEFAULT_SERVICE_OWNERS)  # org number -> org
        self._added = 0

    def __repr__(self) -> str:
        return f"Register(persons={len(self.persons)}, service_owners={len(self.service_owners)})"

    def add_person(
        self,
        pid: str,
        *,
        name: str | None,
        party_id: int | None,
        user_id: int | None,
        username: str,
    ) -> Person:
        """Add (or replace) a person; party and user ids are generated when not given.

        Raises:
            ValueError: ``pid`` is not 11 digits, or an id is not positive.
        """
        if not PID.fullmatch(pid):
            raise ValueError(f"pid must be an 11-digit national identity number, got {pid!r}")
        with self._lock:
            self._added += 1
            number = self._added
        party = 50_100_000 + number if party_id is None else int(party_id)
        user = 20_100_000 + number if user_id is None else int(user_id)
        if party < 1 or user < 1:
            raise ValueError("party_id and user_id must be positive")
        person = Person(
            pid=pid,
            name=name,
            party_id=party,
            user_id=user,
            username=username,
            party_uuid=party_uuid(party),
        )
        with self._lock:
            self.persons[pid] = person
        return person

    def person(self, pid: str) -> Person:
        """The person with ``pid``.

        Raises:
            KeyError: no such person.
        """
        with self._lock:
            return self.persons[pid]

    def add_service_owner(self, org: str, org_number: str) -> None:
        """Map an organisation number to a service-owner code.

        Raises:
            ValueError: a malformed org number or an empty code.
        """
        check_org_number(org_number, "org_number")
        if not org:
            raise ValueError("org must not be empty")
        with self._lock:
            self.service_owners[org_number] = org
