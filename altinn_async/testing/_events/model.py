"""What the emulated Events API keeps: CloudEvents in sequence, stored ones and those derived,
when asked for, from generated instances.

Read from altinn-events (``Altinn/altinn-events`` at ``d7232ac8``):
``src/Events/Migration/FunctionsAndProcedures/getappevents.sql`` and ``getevents.sql``. Both
order by the table's ``sequenceno`` and take ``size`` rows; ``after`` is an event id whose
lowest sequence number the page starts after, and an id that is not there (``count(*) = 0``)
starts from the beginning (``sequenceno > 0``). Only events registered at least 30 seconds ago
are listed (``registeredtime <= now() - interval '30 second'``). ``type`` is matched with
``ILIKE ANY`` (app events) or ``LIKE ANY`` (generic), ``source`` with ``ILIKE ANY``, and
``from``/``to`` against the event's ``time``.

The emulator's sequence is the events' registration order, and an event seeded with a time in
the past counts as registered at that time: the sequence orders events by ``time`` (ties by the
order they were added), and an event is listed once it is ``visibility_delay`` seconds old.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import itertools
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .._storage import COMPLETED_EVENT, CREATED_EVENT, GeneratedInstances, InstanceFacts

CREATED = "app.instance.created"
COMPLETED = "app.instance.process.completed"
APP_RESOURCE_PREFIX = "urn:altinn:resource:app_"

Key = tuple[int, int, int]
"""An event's place in the sequence: (time in ticks, source rank, order within the source)."""


def app_resource(org: str, app: str) -> str:
    """``urn:altinn:resource:app_{org}_{app}`` (``AuthorizationConstants.AppResourceTemplate``)."""
    return f"{APP_RESOURCE_PREFIX}{org}_{app}"


@dataclass(frozen=True, slots=True)
class AppInstance:
    """The instance an app event is about; its ``source`` follows the request's origin, as
    Storage's ``selfLinks.apps`` does."""

    org: str
    app: str
    party_id: str
    guid: str

    def source(self, origin: str) -> str:
        """The event's ``source``: the instance's URL in the app."""
        return f"{origin}/{self.org}/{self.app}/instances/{self.party_id}/{self.guid}"


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One CloudEvent 1.0 and its place in the sequence."""

    key: Key
    id: str
    type: str
    source: str | AppInstance
    subject: str | None = None
    alternative_subject: str | None = None
    resource: str | None = None
    resource_instance: str | None = None
    data: Any = None
    data_content_type: str | None = None

    @property
    def time(self) -> int:
        """``time``, in ticks."""
        return self.key[0]

    def source_at(self, origin: str) -> str:
        """``source`` as a request to ``origin`` sees it."""
        return self.source.source(origin) if isinstance(self.source, AppInstance) else self.source


def like(pattern: str, *, case_sensitive: bool) -> re.Pattern[str]:
    """A Postgres ``LIKE`` pattern (``%``, ``_``, ``\\`` escapes) as a regular expression."""
    parts: list[str] = []
    characters = iter(pattern)
    for character in characters:
        if character == "\\":
            parts.append(re.escape(next(characters, "\\")))
        elif character == "%":
            parts.append(".*")
        elif character == "_":
            parts.append(".")
        else:
            parts.append(re.escape(character))
    flags = re.DOTALL if case_sensitive else re.DOTALL | re.IGNORECASE
    return re.compile("".join(parts), flags)


@dataclass(frozen=True, slots=True)
class EventQuery:
    """One page's filters, as the repository functions take them.

    Attributes:
        size: the most events to return.
        origin: the request's origin (instance events' ``source``).
        visible_until: the newest ``time`` (ticks) that is listed yet.
        after: an event id to start after.
        least: ``from``, in ticks.
        most: ``to``, in ticks.
        subject: the exact ``subject``.
        alternative_subject: the exact ``alternativesubject``.
        resource: the exact ``resource``.
        types: ``type`` patterns (any may match).
        sources: ``source`` patterns (any may match).
    """

    size: int
    origin: str
    visible_until: int
    after: str | None = None
    least: int | None = None
    most: int | None = None
    subject: str | None = None
    alternative_subject: str | None = None
    resource: str | None = None
    types: tuple[re.Pattern[str], ...] = ()
    sources: tuple[re.Pattern[str], ...] = ()

    @property
    def newest(self) -> int:
        """The newest ``time`` a page may list."""
        return self.visible_until if self.most is None else min(self.most, self.visible_until)

    def accepts(self, event: CloudEvent) -> bool:
        """Whether ``event`` passes the filters (the sequence bounds aside)."""
        if self.subject is not None and event.subject != self.subject:
            return False
        if self.alternative_subject is not None and (
            event.alternative_subject != self.alternative_subject
        ):
            return False
        if self.resource is not None and event.resource != self.resource:
            return False
        if self.types and not any(p.fullmatch(event.type) for p in self.types):
            return False
        if self.sources:
            source = event.source_at(self.origin)
            return any(p.fullmatch(source) for p in self.sources)
        return True

    def wants_type(self, name: str) -> bool:
        """Whether events of type ``name`` may pass."""
        return not self.types or any(p.fullmatch(name) for p in self.types)


def _first(count: int, predicate: Callable[[int], bool]) -> int:
    """The smallest position in ``range(count)`` where a predicate that turns true once holds."""
    low, high = 0, count
    while low < high:
        middle = (low + high) // 2
        if predicate(middle):
            high = middle
        else:
            low = middle + 1
    return low


class _GeneratedEvents:
    """The events of one generated set: ``app.instance.created`` for every instance and
    ``app.instance.process.completed`` for completed ones; event ``2i + kind`` of the set is
    instance ``i``'s (kind 0 created, 1 completed), in time order."""

    def __init__(self, generated: GeneratedInstances, rank: int) -> None:
        self.generated = generated
        self.rank = rank

    def time(self, position: int) -> int:
        index, kind = divmod(position, 2)
        generated = self.generated
        return generated.last_changed(index) if kind else generated.created(index)

    def event(self, index: int, kind: int) -> CloudEvent:
        generated = self.generated
        owner = generated.owner(index)
        guid = generated.guid(index)
        party = str(owner.party_id)
        if owner.person_number is not None:
            alternative = f"/person/{owner.person_number}"
        else:
            alternative = f"/org/{owner.organisation_number}"
        position = 2 * index + kind
        return CloudEvent(
            key=(self.time(position), self.rank, position),
            id=generated.guid(index, COMPLETED_EVENT if kind else CREATED_EVENT),
            type=COMPLETED if kind else CREATED,
            source=AppInstance(generated.org, generated.app, party, guid),
            subject=f"/party/{party}",
            alternative_subject=alternative,
            resource=generated.resource,
            resource_instance=f"{party}/{guid}",
        )

    def key_of(self, event_id: str) -> Key | None:
        decoded = self.generated.decode(event_id)
        if decoded is None or decoded[1] not in (CREATED_EVENT, COMPLETED_EVENT):
            return None
        index, what = decoded
        kind = 1 if what == COMPLETED_EVENT else 0
        if kind and not self.generated.status(index).completed:
            return None
        position = 2 * index + kind
        return (self.time(position), self.rank, position)

    def _party_residue(self, query: EventQuery) -> tuple[bool, int | None]:
        """Whether the subject filters can match an owner of this set, and the residue they pin
        the owner to (None: any owner)."""
        generated = self.generated
        party: int | None = None
        if query.subject is not None:
            found = re.fullmatch(r"/party/(\d+)", query.subject)
            if found is None:
                return False, None
            party = int(found.group(1))
        if query.alternative_subject is not None:
            kind, _, number = query.alternative_subject.removeprefix("/").partition("/")
            owner = generated.party_of(
                number if kind == "person" else None, number if kind == "org" else None
            )
            if owner is None or (party is not None and owner != party):
                return False, None
            party = owner
        if party is None:
            return True, None
        residue = generated.residue(party)
        return residue is not None, residue

    def stream(self, query: EventQuery, after: Key | None) -> Iterator[CloudEvent]:
        """This set's events that pass ``query`` after ``after``, in sequence."""
        generated = self.generated
        if query.resource is not None and query.resource != generated.resource:
            return
        kinds = (query.wants_type(CREATED), query.wants_type(COMPLETED))
        possible, residue = self._party_residue(query)
        if not any(kinds) or not possible:
            return
        count = 2 * generated.count
        low = 0
        if query.least is not None:
            least = query.least
            low = _first(count, lambda p: self.time(p) >= least)
        if after is not None:
            low = max(low, _first(count, lambda p: (self.time(p), self.rank, p) > after))
        newest = query.newest
        high = _first(count, lambda p: self.time(p) > newest)
        if low >= high:
            return
        first, last = low // 2, (high - 1) // 2
        if residue is None:
            indices: Iterator[int] = iter(range(first, last + 1))
        else:
            start = first + (residue - first) % generated.parties
            indices = iter(range(start, last + 1, generated.parties))
        for index in indices:
            for kind in (0, 1):
                position = 2 * index + kind
                if not kinds[kind] or not low <= position < high:
                    continue
                if kind and not generated.status(index).completed:
                    continue
                event = self.event(index, kind)
                if query.accepts(event):
                    yield event


class EventLog:
    """The events in sequence: the stored ones (a sorted list of keys) and each generated set's.

    Guarded by the shared lock.
    """

    def __init__(self) -> None:
        self._keys: list[Key] = []
        self._by_key: dict[Key, CloudEvent] = {}
        self._first_by_id: dict[str, Key] = {}
        self._ids: set[tuple[str, str]] = set()  # (id, source): unique, as the table's index
        self._generated: list[_GeneratedEvents] = []
        self._owners: dict[tuple[str, str], int] = {}
        self._added = 0

    def __repr__(self) -> str:
        return f"EventLog(stored={len(self._keys)}, generated_sets={len(self._generated)})"

    def next_key(self, ticks: int) -> Key:
        """The key for an event registered now with ``time`` ``ticks`` (lock held)."""
        self._added += 1
        return (ticks, 0, self._added)

    def identity(self, event: CloudEvent) -> tuple[str, str]:
        """What must be unique: the id and the source."""
        source = event.source
        if isinstance(source, AppInstance):
            return (event.id, f"app:{source.org}/{source.app}/{source.party_id}/{source.guid}")
        return (event.id, source)

    def contains(self, event: CloudEvent) -> bool:
        """Whether an event with the same id and source is stored (lock held)."""
        return self.identity(event) in self._ids

    def add(self, events: Sequence[CloudEvent]) -> None:
        """Store events (lock held)."""
        for event in events:
            self._by_key[event.key] = event
            self._ids.add(self.identity(event))
            known = self._first_by_id.get(event.id)
            if known is None or event.key < known:
                self._first_by_id[event.id] = event.key
        if len(events) == 1:
            bisect.insort(self._keys, events[0].key)
        else:
            self._keys.extend(event.key for event in events)
            self._keys.sort()

    def add_instances(self, instances: Sequence[InstanceFacts]) -> None:
        """Store the events of stored instances, and remember their owners (lock held)."""
        events: list[CloudEvent] = []
        for facts in instances:
            if facts.person_number:
                self._owners["person", facts.person_number] = int(facts.party_id)
            if facts.organisation_number:
                self._owners["org", facts.organisation_number] = int(facts.party_id)
            events.append(_instance_event(facts, CREATED, facts.created, self.next_key))
            if facts.ended is not None:
                events.append(_instance_event(facts, COMPLETED, facts.ended, self.next_key))
        self.add(events)

    def add_generated(self, generated: GeneratedInstances) -> None:
        """Add a generated set's events (lock held); nothing is built."""
        self._generated.append(_GeneratedEvents(generated, len(self._generated) + 1))

    def party_of(self, person_number: str | None, organisation_number: str | None) -> int | None:
        """The party id of an instance owner, by person or organisation number (lock held)."""
        if person_number:
            found = self._owners.get(("person", person_number))
        else:
            found = self._owners.get(("org", organisation_number or ""))
        if found is not None:
            return found
        for source in self._generated:
            party = source.generated.party_of(person_number, organisation_number)
            if party is not None:
                return party
        return None

    def key_of(self, event_id: str) -> Key | None:
        """The lowest key of the event with this id, or None (lock held)."""
        found = self._first_by_id.get(event_id)
        if found is not None:
            return found
        for source in self._generated:
            key = source.key_of(event_id)
            if key is not None:
                return key
        return None

    def page(self, query: EventQuery) -> list[CloudEvent]:
        """Up to ``query.size`` events that pass ``query``, in sequence (lock held)."""
        after = self.key_of(query.after) if query.after else None
        streams = [self._stored(query, after)]
        streams.extend(source.stream(query, after) for source in self._generated)
        merged = heapq.merge(*streams, key=lambda event: event.key)
        return list(itertools.islice(merged, query.size))

    def _stored(self, query: EventQuery, after: Key | None) -> Iterator[CloudEvent]:
        keys = self._keys
        start = 0 if after is None else bisect.bisect_right(keys, after)
        if query.least is not None:
            start = max(start, bisect.bisect_left(keys, (query.least, -1, -1)))
        newest = query.newest
        for position in range(start, len(keys)):
            key = keys[position]
            if key[0] > newest:
                return
            event = self._by_key[key]
            if query.accepts(event):
                yield event


def _instance_event(
    facts: InstanceFacts, type_: str, ticks: int, next_key: Callable[[int], Key]
) -> CloudEvent:
    # The same instance always has the same event ids (add_instances is deterministic).
    digest = hashlib.blake2b(f"{facts.guid}\x1f{type_}".encode(), digest_size=16).digest()
    if facts.person_number:
        alternative = f"/person/{facts.person_number}"
    elif facts.organisation_number:
        alternative = f"/org/{facts.organisation_number}"
    else:
        alternative = None
    return CloudEvent(
        key=next_key(ticks),
        id=str(uuid.UUID(bytes=digest, version=4)),
        type=type_,
        source=AppInstance(facts.org, facts.app, facts.party_id, facts.guid),
        subject=f"/party/{facts.party_id}",
        alternative_subject=alternative,
        resource=app_resource(facts.org, facts.app),
        resource_instance=f"{facts.party_id}/{facts.guid}",
    )
