"""What the emulated Storage keeps: instances with their data elements, in query order, and
the generated sets whose instances exist only when asked for (``generated.py``)."""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._toolkit.dotnet import format_ticks, ticks_from_seconds

if TYPE_CHECKING:
    from .generated import Derived, GeneratedInstances

API = "/platform/storage/api/v1"

# Beyond any internal id: a key bound that sorts before or after every id of one lastChanged.
_ID_BOUND = 1 << 62


@dataclass(slots=True)
class StoredData:
    """One data element and its bytes."""

    id: str
    content: bytes = field(repr=False)
    document: dict[str, Any]


Content = tuple[dict[str, Any], dict[str, StoredData]]
"""An instance's JSON document (without self links) and its data elements by id."""


@dataclass(slots=True)
class StoredInstance:
    """One instance: the fields queries filter on, and its JSON document (without self links)
    and data elements.

    An instance of a generated set comes without its document: ``document`` and ``data`` are
    built from the set when first asked for, and until the instance changes its JSON is
    rendered straight from the set (`render.instance_bytes`), so that a page of generated
    instances builds no documents. (Each request gets its own fresh object for an unchanged
    generated instance, so building on first use races with no one.)
    """

    internal_id: int
    guid: str
    party_id: str
    org: str
    app: str
    created: int
    last_changed: int
    visible_after: int | None
    due_before: int | None
    ended: int | None
    current_task: str | None
    is_archived: bool
    is_soft_deleted: bool
    is_hard_deleted: bool
    confirmed_by: frozenset[str]
    owner_org_number: str | None  # instanceOwner.organisationNumber
    # The document and data elements; None until built (a generated instance's, on first use).
    content: Content | None = field(default=None, repr=False)
    # Serialized JSON per request origin; replaced (never mutated) when the document changes.
    rendered: dict[str, bytes] = field(default_factory=dict)
    # What this instance of a generated set was derived from, while it is unchanged.
    generated: Derived | None = None

    @property
    def document(self) -> dict[str, Any]:
        """The JSON document (without self links)."""
        return self._content()[0]

    @document.setter
    def document(self, document: dict[str, Any]) -> None:
        self.content = (document, self._content()[1])

    @property
    def data(self) -> dict[str, StoredData]:
        """The data elements by id."""
        return self._content()[1]

    def _content(self) -> Content:
        if self.content is None:
            if self.generated is None:
                raise AssertionError("an instance without content that is not generated")
            self.content = self.generated.content()
        return self.content

    @property
    def sort_key(self) -> tuple[int, int]:
        # Ascending order of this key is Storage's "desc:lastChanged", ties by id descending.
        return (-self.last_changed, -self.internal_id)


TickRange = tuple[int | None, int | None]
"""Inclusive bounds in ticks; None is open."""


@dataclass(slots=True)
class Selection:
    """What a page of the instance query wants: ``keep`` decides, the rest narrows the search.

    Attributes:
        keep: the exact filter.
        ranges: the date filters as inclusive tick ranges, per `StoredInstance` attribute
            (``created``, ``last_changed``, ``visible_after``, ``ended``, ``due_before``).
        org: ``org``, if given.
        app_id: ``appId``, if given.
        party_id: ``instanceOwner.partyId``, if given.
        current_task: ``process.currentTask``, if given.
        flags: the boolean filters by lower-case name.
    """

    keep: Callable[[StoredInstance], bool]
    ranges: Mapping[str, TickRange] = field(default_factory=dict)
    org: str | None = None
    app_id: str | None = None
    party_id: str | None = None
    current_task: str | None = None
    flags: Mapping[str, bool] = field(default_factory=dict)


class InstanceStore:
    """The instances, kept in query order, with an index on ``created``; and the generated sets.

    A page bisects to its cursor and to the bounds its date filters put on ``lastChanged``
    (``created`` is never after it), or takes its candidates from the ``created`` index when
    that window is smaller, so a window at the far end of the order costs what one at the near
    end does. ``examined`` counts the instances pages have tested.
    """

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._by_guid: dict[str, StoredInstance] = {}
        self._order: list[tuple[int, int]] = []
        self._by_key: dict[tuple[int, int], StoredInstance] = {}
        self._by_created: list[tuple[int, tuple[int, int]]] = []
        self._generated_sets: list[GeneratedInstances] = []
        self._next_id = 1
        self._generated = 0
        self.examined = 0
        """Instances tested by pages so far (stored and generated): the work they did."""

    def __repr__(self) -> str:
        return (
            f"InstanceStore(stored={len(self._order)}, "
            f"generated={sum(g.count for g in self._generated_sets)})"
        )

    def _insert(self, instance: StoredInstance) -> None:
        key = instance.sort_key
        bisect.insort(self._order, key)
        bisect.insort(self._by_created, (instance.created, key))
        self._by_key[key] = instance
        self._by_guid[instance.guid] = instance

    def _remove(self, instance: StoredInstance) -> None:
        key = instance.sort_key
        del self._order[bisect.bisect_left(self._order, key)]
        del self._by_created[bisect.bisect_left(self._by_created, (instance.created, key))]
        del self._by_key[key]

    def get(self, guid: str) -> StoredInstance | None:
        """The instance with this GUID, stored or generated (lock held by the caller)."""
        found = self._by_guid.get(guid)
        if found is not None:
            return found
        for generated in self._generated_sets:
            index = generated.index_of(guid)
            if index is not None and index not in generated.hidden:
                return generated.instance(index)
        return None

    def page(
        self, selection: Selection, after: tuple[int, int] | None, size: int
    ) -> list[StoredInstance]:
        """Up to ``size`` instances after the cursor that ``selection`` keeps, stored and
        generated, in Storage's order (lock held)."""
        found = self._stored_page(selection, after, size)
        counter = [0]
        sources = 1 if found else 0
        for generated in self._generated_sets:
            listed = generated.page(selection, after, size, counter)
            if listed:
                found.extend(listed)
                sources += 1
        self.examined += counter[0]
        if sources > 1:  # each source's page is in order already: only merging needs a sort
            found.sort(key=lambda instance: instance.sort_key)
        return found[:size]

    def _stored_page(
        self, selection: Selection, after: tuple[int, int] | None, size: int
    ) -> list[StoredInstance]:
        order = self._order
        start = 0 if after is None else bisect.bisect_right(order, (-after[0], -after[1]))
        least, most = _intersect(
            selection.ranges.get("last_changed", (None, None)),
            # lastChanged is never before created (nor, stored, before visibleAfter's default).
            (selection.ranges.get("created", (None, None))[0], None),
        )
        if most is not None:
            start = max(start, bisect.bisect_left(order, (-most, -_ID_BOUND)))
        end = len(order) if least is None else bisect.bisect_right(order, (-least, _ID_BOUND))
        created_least, created_most = selection.ranges.get("created", (None, None))
        if created_least is not None or created_most is not None:
            low = 0
            if created_least is not None:
                low = bisect.bisect_left(self._by_created, (created_least, (-_ID_BOUND, 0)))
            high = len(self._by_created)
            if created_most is not None:
                high = bisect.bisect_right(self._by_created, (created_most, (_ID_BOUND, 0)))
            if high - low < end - start:
                return self._created_page(selection, low, high, after, size)
        found: list[StoredInstance] = []
        for position in range(start, end):
            instance = self._by_key[order[position]]
            self.examined += 1
            if selection.keep(instance):
                found.append(instance)
                if len(found) >= size:
                    break
        return found

    def _created_page(
        self,
        selection: Selection,
        low: int,
        high: int,
        after: tuple[int, int] | None,
        size: int,
    ) -> list[StoredInstance]:
        """The page from the ``created`` index's window ``low:high`` (smaller than the scan)."""
        cursor = None if after is None else (-after[0], -after[1])
        matches: list[StoredInstance] = []
        for position in range(low, high):
            key = self._by_created[position][1]
            if cursor is not None and key <= cursor:
                continue
            instance = self._by_key[key]
            self.examined += 1
            if selection.keep(instance):
                matches.append(instance)
        return heapq.nsmallest(size, matches, key=lambda instance: instance.sort_key)

    def confirm(self, instance: StoredInstance, org: str, by: str, now: float) -> None:
        """Append a complete confirmation (lock held). Copy-on-write: documents being
        serialized by another request are never mutated. A generated instance is materialized:
        stored from now on, and hidden from its set."""
        ticks = ticks_from_seconds(now)
        if instance.generated is not None and instance.guid not in self._by_guid:
            instance.generated.source.hidden.add(instance.generated.index)
        else:
            self._remove(instance)
        confirmations = [
            *instance.document.get("completeConfirmations", []),
            {"stakeholderId": org, "confirmedOn": format_ticks(ticks)},
        ]
        document = dict(instance.document)
        document["completeConfirmations"] = confirmations
        document["lastChanged"] = format_ticks(ticks)
        document["lastChangedBy"] = by
        _reorder_confirmations(document)
        instance.document = document
        instance.rendered = {}
        instance.generated = None  # changed: from now on rendered from its document
        instance.confirmed_by = instance.confirmed_by | {org}
        instance.last_changed = ticks
        self._insert(instance)

    def add(self, org: str, app: str, spec: InstanceSpec) -> StoredInstance:
        """Store a new instance built from ``spec`` (takes the lock)."""
        with self._lock:
            instance = self._build(org, app, spec)
            self._insert(instance)
            return instance

    def add_many(self, org: str, app: str, specs: Iterable[InstanceSpec]) -> list[StoredInstance]:
        """Store many instances at once (takes the lock, sorts once)."""
        with self._lock:
            built = [self._build(org, app, spec) for spec in specs]
            for instance in built:
                self._by_key[instance.sort_key] = instance
                self._by_guid[instance.guid] = instance
                self._order.append(instance.sort_key)
                self._by_created.append((instance.created, instance.sort_key))
            self._order.sort()
            self._by_created.sort()
            return built

    def add_generated(
        self, org: str, app: str, count: int, *, seed: int, start_us: int, end_us: int
    ) -> GeneratedInstances:
        """Make a generated set of ``count`` instances (takes the lock); it reserves ``count``
        internal ids and builds nothing.

        Raises:
            ValueError: the window is too short for ``count`` instances.
        """
        from .generated import GeneratedInstances  # noqa: PLC0415 - generated imports this

        with self._lock:
            generated = GeneratedInstances(
                org,
                app,
                count,
                seed=seed,
                number=len(self._generated_sets),
                start_us=start_us,
                end_us=end_us,
                base_id=self._next_id,
            )
            self._next_id += count
            self._generated_sets.append(generated)
            return generated

    def next_generation_seed(self, org: str, app: str, seed: int) -> str:
        """A seed string that differs for every `add_instances` call (lock taken)."""
        with self._lock:
            self._generated += 1
            return f"{seed}:{org}/{app}:{self._generated}"

    def _build(self, org: str, app: str, spec: InstanceSpec) -> StoredInstance:
        if spec.guid in self._by_guid:
            raise ValueError(f"an instance with id {spec.guid} already exists")
        internal_id = self._next_id
        self._next_id += 1
        return spec.build(org, app, internal_id)


def _intersect(first: TickRange, second: TickRange) -> TickRange:
    lows = [v for v in (first[0], second[0]) if v is not None]
    highs = [v for v in (first[1], second[1]) if v is not None]
    return (max(lows) if lows else None, min(highs) if highs else None)


def _reorder_confirmations(document: dict[str, Any]) -> None:
    # Keep the documented member order: completeConfirmations comes right after status.
    if "completeConfirmations" not in document:
        return
    items = list(document.items())
    document.clear()
    confirmations = next(v for k, v in items if k == "completeConfirmations")
    for key, value in items:
        if key == "completeConfirmations":
            continue
        document[key] = value
        if key == "status":
            document["completeConfirmations"] = confirmations
    if "completeConfirmations" not in document:
        document["completeConfirmations"] = confirmations


@dataclass(slots=True)
class InstanceSpec:
    """Everything ``Emulator.add_instance`` accepts, resolved to concrete values."""

    guid: str
    party_id: str
    created: float
    last_changed: float
    data: bytes | None
    content_type: str
    filename: str | None
    data_type: str
    current_task: str | None
    completed: float | None
    archived: bool
    soft_deleted: float | None
    hard_deleted: float | None
    visible_after: float | None
    due_before: float | None
    confirmed_by: tuple[tuple[str, float], ...]
    person_number: str | None
    organisation_number: str | None
    created_by: str
    read_status: str
    data_guid: str

    def build(self, org: str, app: str, internal_id: int) -> StoredInstance:
        created = ticks_from_seconds(self.created)
        last_changed = ticks_from_seconds(max(self.last_changed, self.created))
        ended = ticks_from_seconds(self.completed) if self.completed is not None else None
        created_text = format_ticks(created)
        changed_text = format_ticks(last_changed)
        instance_id = f"{self.party_id}/{self.guid}"
        owner: dict[str, Any] = {"partyId": self.party_id}
        if self.person_number is not None:
            owner["personNumber"] = self.person_number
        if self.organisation_number is not None:
            owner["organisationNumber"] = self.organisation_number
        document: dict[str, Any] = {
            "id": instance_id,
            "instanceOwner": owner,
            "appId": f"{org}/{app}",
            "org": org,
        }
        if self.due_before is not None:
            document["dueBefore"] = format_ticks(ticks_from_seconds(self.due_before))
        visible_after = ticks_from_seconds(
            self.visible_after if self.visible_after is not None else self.created
        )
        document["visibleAfter"] = format_ticks(visible_after)
        process: dict[str, Any] = {"started": created_text, "startEvent": "StartEvent_1"}
        if ended is None and self.current_task is not None:
            process["currentTask"] = {
                "flow": 2,
                "started": created_text,
                "elementId": self.current_task,
                "name": "Utfylling",
                "altinnTaskType": "data",
                "flowType": "CompleteCurrentMoveToNext",
            }
        if ended is not None:
            process["ended"] = format_ticks(ended)
            process["endEvent"] = "EndEvent_1"
        document["process"] = process
        status: dict[str, Any] = {"isArchived": self.archived}
        if self.archived:
            status["archived"] = format_ticks(ended if ended is not None else last_changed)
        status["isSoftDeleted"] = self.soft_deleted is not None
        if self.soft_deleted is not None:
            status["softDeleted"] = format_ticks(ticks_from_seconds(self.soft_deleted))
        status["isHardDeleted"] = self.hard_deleted is not None
        if self.hard_deleted is not None:
            status["hardDeleted"] = format_ticks(ticks_from_seconds(self.hard_deleted))
        status["readStatus"] = self.read_status
        document["status"] = status
        if self.confirmed_by:
            document["completeConfirmations"] = [
                {"stakeholderId": who, "confirmedOn": format_ticks(ticks_from_seconds(when))}
                for who, when in self.confirmed_by
            ]
        data: dict[str, StoredData] = {}
        if self.data is not None:
            element: dict[str, Any] = {
                "id": self.data_guid,
                "instanceGuid": self.guid,
                "dataType": self.data_type,
            }
            if self.filename is not None:
                element["filename"] = self.filename
            element.update(
                {
                    "contentType": self.content_type,
                    "blobStoragePath": f"{org}/{app}/{self.guid}/data/{self.data_guid}",
                    "size": len(self.data),
                    "locked": ended is not None,
                    "refs": [],
                    "isRead": True,
                    "tags": [],
                    "fileScanResult": "NotApplicable",
                    "created": created_text,
                    "createdBy": self.created_by,
                    "lastChanged": created_text,
                    "lastChangedBy": self.created_by,
                }
            )
            data[self.data_guid] = StoredData(self.data_guid, self.data, element)
        document["data"] = [d.document for d in data.values()]
        document["created"] = created_text
        document["createdBy"] = self.created_by
        document["lastChanged"] = changed_text
        document["lastChangedBy"] = self.created_by
        return StoredInstance(
            internal_id=internal_id,
            guid=self.guid,
            party_id=self.party_id,
            org=org,
            app=app,
            content=(document, data),
            created=created,
            last_changed=last_changed,
            visible_after=visible_after,
            due_before=(
                ticks_from_seconds(self.due_before) if self.due_before is not None else None
            ),
            ended=ended,
            current_task=process.get("currentTask", {}).get("elementId"),
            is_archived=self.archived,
            is_soft_deleted=self.soft_deleted is not None,
            is_hard_deleted=self.hard_deleted is not None,
            confirmed_by=frozenset(who for who, _ in self.confirmed_by),
            owner_org_number=self.organisation_number,
        )
