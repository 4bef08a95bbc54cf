"""The emulated Digdir self-service API (``/samarbeid/api/v1``): Maskinporten clients, their keys
and secrets, API scopes and their access lists, for the organisation of a Maskinporten admin
token. Its clients and scope registry are the emulated Maskinporten's own records."""

from .model import SelfServiceStore
from .seeding import SelfServiceSeeding
from .service import HANDLERS, SelfService, api_base_for

__all__ = ["HANDLERS", "SelfService", "SelfServiceSeeding", "SelfServiceStore", "api_base_for"]
