"""Seeding Storage: one instance or many generated ones (the logic behind
``Emulator.add_instance`` and ``add_instances``)."""

from __future__ import annotations

import math
import random
import threading
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from .._toolkit.state import SharedState
from .generated import GeneratedInstances
from .listener import InstanceFacts, InstanceListener
from .model import InstanceSpec, InstanceStore
from .render import render_instance

_GENERATED_DAYS = 90  # generate_instances spreads instances over this many days by default


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _moment(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be seconds since the epoch, got {value!r}")
    return float(value)


_EXTENSIONS = {
    "application/xml": "xml",
    "text/xml": "xml",
    "application/json": "json",
    "application/pdf": "pdf",
    "text/plain": "txt",
}


def default_filename(data_type: str, content_type: str) -> str:
    """``model.xml`` and the like, for data elements given without a file name."""
    extension = _EXTENSIONS.get(content_type.split(";", maxsplit=1)[0].strip().lower(), "bin")
    return f"{data_type}.{extension}"


_FIRST_NAMES = ("Ola", "Kari", "Per", "Ingrid", "Nils", "Sigrid", "Lars", "Marit", "Ole", "Anne")
_LAST_NAMES = ("Nordmann", "Hansen", "Johansen", "Olsen", "Larsen", "Berg", "Haugen", "Dahl")


def generate_specs(count: int, seed: str, now: float) -> Iterator[InstanceSpec]:
    """Deterministic, realistic instances: persons and organisations, open and completed,
    some archived, soft-deleted or confirmed, each with one XML data element."""
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    day = 86_400.0
    for index in range(count):
        guid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        data_guid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = now - rng.uniform(0.0, 90 * day)
        last_changed = created + rng.uniform(0.0, min(now - created, 14 * day))
        is_person = rng.random() < 0.7
        party_id = str(50_000_000 + rng.randrange(10_000_000))
        person_number = organisation_number = None
        if is_person:
            day_month = f"{rng.randrange(1, 29):02d}{rng.randrange(1, 13):02d}"
            person_number = f"{day_month}{rng.randrange(10_000_000):07d}"
        else:
            organisation_number = str(rng.randrange(310_000_000, 999_999_999))
        roll = rng.random()
        completed = None
        archived = False
        current_task: str | None = "Task_1"
        if roll < 0.6:
            completed = last_changed
            archived = True
            current_task = None
        elif roll < 0.75:
            current_task = "Task_2"
        soft_deleted = last_changed if rng.random() < 0.03 else None
        confirmed: tuple[tuple[str, float], ...] = ()
        name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        content = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            f"<Skjema><Innsender>{name}</Innsender><Referanse>{index + 1}</Referanse>"
            f"<Beloep>{rng.randrange(100, 100_000)}</Beloep></Skjema>\n"
        ).encode()
        yield InstanceSpec(
            guid=guid,
            party_id=party_id,
            created=created,
            last_changed=last_changed,
            data=content,
            content_type="application/xml",
            filename="model.xml",
            data_type="model",
            current_task=current_task,
            completed=completed,
            archived=archived,
            soft_deleted=soft_deleted,
            hard_deleted=None,
            visible_after=created,
            due_before=(created + 30 * day) if rng.random() < 0.2 else None,
            confirmed_by=confirmed,
            person_number=person_number,
            organisation_number=organisation_number,
            created_by=party_id,
            read_status="Read" if completed is not None else "Unread",
            data_guid=data_guid,
        )


class StorageSeeding:
    """Builds instance specifications and stores them."""

    def __init__(
        self, shared: SharedState, store: InstanceStore, listener: InstanceListener | None = None
    ) -> None:
        self._shared = shared
        self._store = store
        self._listener = listener
        self._lock = threading.Lock()
        self._parties = 0

    def add_instance(
        self,
        org: str,
        app: str,
        *,
        base_url: str,
        party_id: str | int | None,
        data: bytes | None,
        content_type: str,
        created: float | None,
        last_changed: float | None,
        instance_guid: str | None,
        filename: str | None,
        data_type: str,
        current_task: str | None,
        completed: bool | float,
        archived: bool | None,
        soft_deleted: bool,
        hard_deleted: bool,
        visible_after: float | None,
        due_before: float | None,
        confirmed_by: Iterable[str],
        person_number: str | None,
        organisation_number: str | None,
    ) -> dict[str, Any]:
        """Store one instance; return its JSON with self links for ``base_url``."""
        now = self._shared.clock()
        created_at = now if created is None else created
        changed_at = created_at if last_changed is None else last_changed
        if completed is True:
            ended: float | None = changed_at
        elif completed is False:
            ended = None
        else:
            ended = float(completed)
        if party_id is None:
            with self._lock:
                self._parties += 1
                party_id = 51_000_000 + self._parties
        party = str(party_id)
        if not party.isdigit():
            raise ValueError(f"party_id must be numeric, got {party_id!r}")
        guid = str(uuid.UUID(instance_guid)) if instance_guid else str(uuid.uuid4())
        spec = InstanceSpec(
            guid=guid,
            party_id=str(int(party)),
            created=created_at,
            last_changed=changed_at,
            data=data,
            content_type=content_type,
            filename=default_filename(data_type, content_type) if filename is None else filename,
            data_type=data_type,
            current_task=current_task,
            completed=ended,
            archived=(ended is not None) if archived is None else archived,
            soft_deleted=changed_at if soft_deleted else None,
            hard_deleted=changed_at if hard_deleted else None,
            visible_after=visible_after,
            due_before=due_before,
            confirmed_by=tuple((who, changed_at) for who in confirmed_by),
            person_number=person_number,
            organisation_number=organisation_number,
            created_by=party,
            read_status="Read" if ended is not None else "Unread",
            data_guid=str(uuid.uuid4()),
        )
        stored = self._store.add(org, app, spec)
        if self._listener is not None:
            self._listener.instances_added([InstanceFacts.of(stored)])
        return render_instance(stored, base_url)

    def generate_instances(
        self,
        org: str,
        app: str,
        count: int,
        *,
        seed: int,
        start: float | None,
        end: float | None,
    ) -> GeneratedInstances:
        """Make a generated set (nothing is built until a request needs it).

        Raises:
            ValueError: a bad count, seed or window.
        """
        if not org or not app:
            raise ValueError("org and app must not be empty")
        if not _integer(count) or count < 0:
            raise ValueError(f"count must be a whole number, 0 or more, got {count!r}")
        if not _integer(seed):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        last = self._shared.clock() if end is None else _moment(end, "end")
        first = last - _GENERATED_DAYS * 86_400.0 if start is None else _moment(start, "start")
        if first >= last:
            raise ValueError("start must be before end")
        generated = self._store.add_generated(
            org,
            app,
            count,
            seed=seed,
            start_us=round(first * 1_000_000),
            end_us=round(last * 1_000_000),
        )
        if self._listener is not None:
            self._listener.generated(generated)
        return generated

    def add_instances(
        self, org: str, app: str, count: int, *, seed: int, base_url: str
    ) -> list[dict[str, Any]]:
        """Store ``count`` generated instances; return their JSON."""
        if count < 0:
            raise ValueError("count must not be negative")
        seed_text = self._store.next_generation_seed(org, app, seed)
        stored = self._store.add_many(
            org, app, generate_specs(count, seed_text, self._shared.clock())
        )
        if self._listener is not None:
            self._listener.instances_added([InstanceFacts.of(i) for i in stored])
        return [render_instance(instance, base_url) for instance in stored]
