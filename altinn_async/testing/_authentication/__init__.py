"""The emulated Altinn authentication: token exchange, refresh, the OpenID configuration and
JWKS, and the vendor's system-user listing.

Other services use what is exported here: `AltinnTokens` (as `Authentication.tokens`) to
authenticate requests that carry Altinn tokens, and `altinn_issuer_for`.
"""

from .records import ExchangeRecord
from .service import HANDLERS, Authentication
from .tokens import AltinnTokens, altinn_issuer_for

__all__ = ["HANDLERS", "AltinnTokens", "Authentication", "ExchangeRecord", "altinn_issuer_for"]
