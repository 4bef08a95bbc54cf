"""The emulated Altinn 2 REST API (legacy; switched off in June 2026): the ApiKey, four logins,
the message box, reportees, service-owner reportees and consents, with HAL+JSON and the OData
query options ``$filter``, ``$orderby``, ``$top`` and ``$skip``."""

from .gate import COOKIE_NAMES, Bearers, Sessions
from .model import CORRESPONDENCE, Store
from .seeding import Altinn2Seeding
from .service import HANDLERS, Altinn2

__all__ = [
    "COOKIE_NAMES",
    "CORRESPONDENCE",
    "HANDLERS",
    "Altinn2",
    "Altinn2Seeding",
    "Bearers",
    "Sessions",
    "Store",
]
