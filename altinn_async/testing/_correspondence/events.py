"""The Events API events of correspondences (``altinn3-messaging.md`` §1.8, ``AltinnEventBus.cs``):
``no.altinn.correspondence.`` + the event name lower-cased, ``source``
``{platform}/correspondence/api/v1/correspondence``, ``resource``
``urn:altinn:resource:{resourceId}``, ``resourceinstance`` the correspondence id, ``subject`` the
recipient's party URN and ``alternativesubject`` ``/organisation/{orgno}`` or ``/person/{pid}``.

Registered through the Events seeding, so the emulated Events API lists them (after its
visibility delay) to whoever may subscribe to the resource's events.
"""

from __future__ import annotations

from .._events import EventsSeeding
from .._toolkit.parties import ORGANIZATION_URN, PERSON_URN
from .model import US, Correspondence

PREFIX = "no.altinn.correspondence."
PUBLISHED = f"{PREFIX}correspondencepublished"
RECEIVER_READ = f"{PREFIX}correspondencereceiverread"


def alternative_subject(recipient: str) -> str | None:
    """``/organisation/{orgno}`` or ``/person/{pid}`` for a party URN."""
    if recipient.startswith(ORGANIZATION_URN):
        return f"/organisation/{recipient.removeprefix(ORGANIZATION_URN)}"
    if recipient.startswith(PERSON_URN):
        return f"/person/{recipient.removeprefix(PERSON_URN)}"
    return None


def register(
    events: EventsSeeding, item: Correspondence, type_: str, *, origin: str, at: int
) -> None:
    """Register one event about ``item`` (takes the shared lock: call without it)."""
    events.add_event(
        type_,
        source=f"{origin}/platform/correspondence/api/v1/correspondence",
        resource=f"urn:altinn:resource:{item.resource}",
        base_url=origin,
        subject=item.recipient,
        alternative_subject=alternative_subject(item.recipient),
        resource_instance=item.id,
        time=at / US,
        data=None,
        data_content_type=None,
        event_id=None,
    )
