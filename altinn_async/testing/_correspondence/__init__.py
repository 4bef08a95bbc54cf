"""The emulated Altinn 3 Correspondence API: the recipient's list, overview, details, content,
markasread, confirm, purge and attachment downloads, the sender's list and overview; seeding
(one correspondence as the sender API accepts it, or thousands generated), and the mapping of a
correspondence to its Dialogporten dialog."""

from .access import DialogTokenVerifier, no_dialog_tokens
from .dialog import correspondence_dialog
from .model import Correspondence, CorrespondenceStore
from .seeding import CorrespondenceSeeding
from .service import HANDLERS, CorrespondenceService

__all__ = [
    "HANDLERS",
    "Correspondence",
    "CorrespondenceSeeding",
    "CorrespondenceService",
    "CorrespondenceStore",
    "DialogTokenVerifier",
    "correspondence_dialog",
    "no_dialog_tokens",
]
