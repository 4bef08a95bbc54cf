"""The emulated Altinn Storage for service owners, end users and system users: the instance
query and its paging language, instances, data elements, data and completion."""

from .model import InstanceStore
from .seeding import StorageSeeding
from .service import HANDLERS, Storage

__all__ = ["HANDLERS", "InstanceStore", "Storage", "StorageSeeding"]
