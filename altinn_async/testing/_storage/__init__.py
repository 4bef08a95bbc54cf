"""The emulated Altinn Storage for service owners, end users and system users: the instance
query and its paging language, instances, data elements, data and completion; generated sets of
instances that exist only when asked for; and what the Events API learns of the instances."""

from .generated import COMPLETED_EVENT, CREATED_EVENT, GeneratedInstances
from .listener import InstanceFacts, InstanceListener
from .model import InstanceStore
from .seeding import StorageSeeding
from .service import HANDLERS, Storage

__all__ = [
    "COMPLETED_EVENT",
    "CREATED_EVENT",
    "HANDLERS",
    "GeneratedInstances",
    "InstanceFacts",
    "InstanceListener",
    "InstanceStore",
    "Storage",
    "StorageSeeding",
]
