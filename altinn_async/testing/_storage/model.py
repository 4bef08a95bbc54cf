"""What the emulated Storage keeps: instances with their data elements, in query order."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .._toolkit.dotnet import format_ticks, ticks_from_seconds

API = "/platform/storage/api/v1"


@dataclass(slots=True)
class StoredData:
    """One data element and its bytes."""

    id: str
    content: bytes = field(repr=False)
    document: dict[str, Any]


@dataclass(slots=True)
class StoredInstance:
    """One instance: its JSON document (without self links) and the fields queries filter on."""

    internal_id: int
    guid: str
    party_id: str
    org: str
    app: str
    document: dict[str, Any]
    data: dict[str, StoredData]
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
    # Serialized JSON per request origin; replaced (never mutated) when the document changes.
    rendered: dict[str, bytes] = field(default_factory=dict)

    @property
    def sort_key(self) -> tuple[int, int]:
        # Ascending order of this key is Storage's "desc:lastChanged", ties by id descending.
        return (-self.last_changed, -self.internal_id)


class InstanceStore:
    """The instances, kept in query order so a page costs O(size + skipped)."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._by_guid: dict[str, StoredInstance] = {}
        self._order: list[tuple[int, int]] = []
        self._by_key: dict[tuple[int, int], StoredInstance] = {}
        self._next_id = 1
        self._generated = 0

    def _insert(self, instance: StoredInstance) -> None:
        key = instance.sort_key
        bisect.insort(self._order, key)
        self._by_key[key] = instance
        self._by_guid[instance.guid] = instance

    def _remove(self, instance: StoredInstance) -> None:
        key = instance.sort_key
        index = bisect.bisect_left(self._order, key)
        del self._order[index]
        del self._by_key[key]

    def get(self, guid: str) -> StoredInstance | None:
        """The instance with this GUID (lock held by the caller)."""
        return self._by_guid.get(guid)

    def page(
        self,
        after: tuple[int, int] | None,
        size: int,
        keep: Callable[[StoredInstance], bool],
    ) -> list[StoredInstance]:
        """Up to ``size`` instances after the cursor that pass ``keep`` (lock held)."""
        start = 0 if after is None else bisect.bisect_right(self._order, (-after[0], -after[1]))
        found: list[StoredInstance] = []
        for key in self._order[start:]:
            instance = self._by_key[key]
            if keep(instance):
                found.append(instance)
                if len(found) >= size:
                    break
        return found

    def confirm(self, instance: StoredInstance, org: str, by: str, now: float) -> None:
        """Append a complete confirmation (lock held). Copy-on-write: documents being
        serialized by another request are never mutated."""
        ticks = ticks_from_seconds(now)
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
            self._order.sort()
            return built

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
            document=document,
            data=data,
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
