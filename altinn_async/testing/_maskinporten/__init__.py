"""The emulated Maskinporten: clients, the JWT-bearer grant and its access tokens.

Other services use what is exported here and nothing else: `Maskinporten.tokens` to accept its
access tokens, `SystemRegister` to list system users, `issuer_for` for the issuer at an origin.
"""

from .model import MaskinportenStore
from .seeding import MaskinportenSeeding
from .service import HANDLERS, Maskinporten, issuer_for
from .system_register import ListedSystemUser, SystemRegister

__all__ = [
    "HANDLERS",
    "ListedSystemUser",
    "Maskinporten",
    "MaskinportenSeeding",
    "MaskinportenStore",
    "SystemRegister",
    "issuer_for",
]
