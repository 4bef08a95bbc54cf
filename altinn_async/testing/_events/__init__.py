"""The emulated Altinn Events API: a service owner's and a party's app events, and the generic
events of a resource, as CloudEvents paged with a ``next`` header; the events of every instance
Storage is seeded with, and custom ones."""

from .model import EventLog
from .seeding import EventsSeeding
from .service import HANDLERS, Events

__all__ = ["HANDLERS", "EventLog", "Events", "EventsSeeding"]
