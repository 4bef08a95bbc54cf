"""The emulated Maskinporten: clients, the JWT-bearer grant and its access tokens.

Other services use what is exported here and nothing else: `Maskinporten.tokens` to accept its
access tokens, `SystemRegister` to list system users, `issuer_for` for the issuer at an origin;
the self-service API manages the clients, their keys and the scope registry through the records
and the rule exported here.
"""

from .grant import JWT_BEARER
from .model import ClientKey, MaskinportenClient, MaskinportenStore
from .records import GrantRecord
from .scopes import APPROVED, DENIED, ApiScope, ScopeAccess, ScopeRefusal, scope_refusal
from .seeding import MaskinportenSeeding
from .service import HANDLERS, Maskinporten, issuer_for
from .system_register import ListedSystemUser, SystemRegister

__all__ = [
    "APPROVED",
    "DENIED",
    "HANDLERS",
    "JWT_BEARER",
    "ApiScope",
    "ClientKey",
    "GrantRecord",
    "ListedSystemUser",
    "Maskinporten",
    "MaskinportenClient",
    "MaskinportenSeeding",
    "MaskinportenStore",
    "ScopeAccess",
    "ScopeRefusal",
    "SystemRegister",
    "issuer_for",
    "scope_refusal",
]
