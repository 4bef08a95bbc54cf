"""The emulated Access Management: the Authorized Parties API (who the caller, or a resource
owner's subject, may act for), under ``/platform/accessmanagement/api/v1``."""

from .service import HANDLERS, AccessManagement

__all__ = ["HANDLERS", "AccessManagement"]
