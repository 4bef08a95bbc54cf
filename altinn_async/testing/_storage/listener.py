"""What Storage tells about the instances it is given, for the Events API to derive their events
from (without Storage knowing Events)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from .generated import GeneratedInstances
from .model import StoredInstance


@dataclass(frozen=True, slots=True)
class InstanceFacts:
    """One stored instance, as far as its events go.

    Attributes:
        org: the service owner.
        app: the app.
        party_id: the instance owner's party id.
        guid: the instance GUID.
        created: ``created``, in ticks.
        ended: ``process.ended``, in ticks, if the process ended.
        person_number: the owner's national identity number, if a person.
        organisation_number: the owner's organisation number, if an organisation.
    """

    org: str
    app: str
    party_id: str
    guid: str
    created: int
    ended: int | None
    person_number: str | None
    organisation_number: str | None

    @classmethod
    def of(cls, instance: StoredInstance) -> InstanceFacts:
        """The facts of a stored instance."""
        owner = instance.document.get("instanceOwner", {})
        person = owner.get("personNumber")
        return cls(
            org=instance.org,
            app=instance.app,
            party_id=instance.party_id,
            guid=instance.guid,
            created=instance.created,
            ended=instance.ended,
            person_number=person if isinstance(person, str) else None,
            organisation_number=instance.owner_org_number,
        )


class InstanceListener(Protocol):
    """Told about every instance Storage is seeded with."""

    def instances_added(self, instances: Sequence[InstanceFacts]) -> None:
        """Instances were stored."""

    def generated(self, generated: GeneratedInstances) -> None:
        """A generated set was made."""
