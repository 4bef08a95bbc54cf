"""The emulated Dialogporten: the end user's dialog search with keyset paging, dialogs with
their transmissions, activities and seen log, dialog tokens and their JWKS, the service
owner's search, and the open metadata; under ``/platform/dialogporten/api/v1``.

Other services use `DialogTokens.verify` (as ``Emulator``'s dialog-token check) to accept the
dialog tokens it issues.
"""

from .auth import Bearers
from .model import DialogStore
from .seeding import DialogSeeding
from .service import HANDLERS, Dialogporten
from .tokens import DialogTokens, dialogporten_issuer_for

__all__ = [
    "HANDLERS",
    "Bearers",
    "DialogSeeding",
    "DialogStore",
    "DialogTokens",
    "Dialogporten",
    "dialogporten_issuer_for",
]
