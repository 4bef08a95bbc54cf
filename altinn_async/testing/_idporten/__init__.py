"""The emulated ID-porten: OpenID Connect with PKCE, PAR, a scripted TestID login, four client
authentication methods, refresh-token rotation, userinfo, logout and revocation.

Other services use what is exported here: `Idporten.tokens` to accept its access tokens and
`issuer_for` for the issuer at an origin.
"""

from .browser import testid_login
from .core import issuer_for
from .model import IdportenStore
from .seeding import AUTH_METHODS, IdportenSeeding
from .service import HANDLERS, Idporten

__all__ = [
    "AUTH_METHODS",
    "HANDLERS",
    "Idporten",
    "IdportenSeeding",
    "IdportenStore",
    "issuer_for",
    "testid_login",
]
