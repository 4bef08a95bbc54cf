"""Seeding the Events API: the events of the instances Storage is seeded with (it is Storage's
`InstanceListener`), and custom events (``Emulator.add_event``)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from .._storage import GeneratedInstances, InstanceFacts
from .._toolkit.dotnet import ticks_from_seconds
from .._toolkit.faults import finite_number
from .._toolkit.state import SharedState
from .model import CloudEvent, EventLog
from .render import event_bytes

# UriExtensions.IsValidUrn: "urn:", a namespace identifier, ":" and a specific string.
_URN = re.compile(r"urn:[a-z0-9][a-z0-9-]{0,31}:\S+", re.IGNORECASE)


def _text(value: object, name: str, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or value != value.strip():
        what = "a non-empty string" + ("" if required else " or None")
        raise ValueError(f"{name} must be {what} without surrounding spaces, got {value!r}")
    return value


class EventsSeeding:
    """Adds events to the log (Storage tells it about instances)."""

    def __init__(self, shared: SharedState, log: EventLog) -> None:
        self._shared = shared
        self._log = log

    def __repr__(self) -> str:
        return f"EventsSeeding({self._log!r})"

    def instances_added(self, instances: Sequence[InstanceFacts]) -> None:
        """Register the events of instances stored in Storage."""
        with self._shared.lock:
            self._log.add_instances(instances)

    def generated(self, generated: GeneratedInstances) -> None:
        """Register the events of a generated set (derived when asked for)."""
        with self._shared.lock:
            self._log.add_generated(generated)

    def add_event(
        self,
        type_: str,
        *,
        source: str,
        resource: str,
        base_url: str,
        subject: str | None,
        alternative_subject: str | None,
        resource_instance: str | None,
        time: float | None,
        data: Any,
        data_content_type: str | None,
        event_id: str | None,
    ) -> dict[str, Any]:
        """Register one custom event; return its JSON.

        Raises:
            ValueError: a malformed argument, data that is not JSON, or an event with the same
                id and source already registered.
        """
        _text(type_, "type", required=True)
        _text(source, "source", required=True)
        _text(resource, "resource", required=True)
        if not _URN.fullmatch(resource):
            raise ValueError(f"resource must be a URN (urn:…), got {resource!r}")
        for value, name in (
            (subject, "subject"),
            (alternative_subject, "alternative_subject"),
            (resource_instance, "resource_instance"),
            (data_content_type, "data_content_type"),
            (event_id, "id"),
        ):
            _text(value, name)
        if data is not None:
            try:
                json.dumps(data, allow_nan=False)
            except (TypeError, ValueError) as exc:
                message = f"data must be JSON (objects, arrays, strings, numbers): {exc}"
                raise ValueError(message) from None
        moment = self._shared.clock() if time is None else time
        if not finite_number(moment):
            raise ValueError(f"time must be seconds since the epoch, got {time!r}")
        with self._shared.lock:
            event = CloudEvent(
                key=self._log.next_key(ticks_from_seconds(moment)),
                id=event_id or str(uuid.uuid4()),
                type=type_,
                source=source,
                subject=subject,
                alternative_subject=alternative_subject,
                resource=resource,
                resource_instance=resource_instance,
                data=data,
                data_content_type=data_content_type,
            )
            if self._log.contains(event):
                raise ValueError(f"an event with id {event.id} and source {source} already exists")
            self._log.add([event])
        document: dict[str, Any] = json.loads(event_bytes(event, base_url))
        return document
