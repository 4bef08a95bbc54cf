"""Digdir's scope registry as Maskinporten enforces it: API scopes owned by an organisation under
its prefix, their access lists, and the one rule both the token endpoint and the self-service
API apply (``maskinporten-selfservice.md`` §6, §9.5): may an organisation use a scope in an
integration of a given type?"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

APPROVED = "APPROVED"
DENIED = "DENIED"
REQUESTED = "REQUESTED"


@dataclass(slots=True)
class ApiScope:
    """A scope an API provider registered (``name`` is ``prefix:subscope``).

    ``extra`` holds what is only shown, not enforced: the localised descriptions
    (``description#en``), ``token_type``, ``authorization_max_lifetime``, the ``requires_*``
    flags, ``protected``, ``supports_european_businesses`` and ``enforced_aud_for_access_token``.
    """

    prefix: str
    subscope: str
    owner_org: str
    description: str
    long_description: str | None
    visibility: str
    accessible_for_all: bool
    allowed_integration_types: tuple[str, ...]
    at_max_age: int
    delegation_source: str | None
    active: bool
    created: float
    last_updated: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``prefix:subscope``."""
        return f"{self.prefix}:{self.subscope}"

    def allows(self, integration_type: str) -> bool:
        """Whether clients of ``integration_type`` may carry the scope (an empty
        ``allowed_integration_types`` allows every type)."""
        return not self.allowed_integration_types or integration_type in (
            self.allowed_integration_types
        )


@dataclass(slots=True)
class ScopeAccess:
    """A consumer organisation's access to a scope (a ConsumerRegistration)."""

    scope: str
    consumer_org: str
    state: str
    created: float
    last_updated: float


class ScopeRefusal(enum.Enum):
    """Why an organisation may not use a registered scope."""

    INACTIVE = "inactive"
    INCOMPATIBLE = "incompatible"
    NO_ACCESS = "no access"


def scope_refusal(
    scope: ApiScope,
    access: Mapping[tuple[str, str], ScopeAccess],
    org_number: str,
    integration_type: str,
) -> ScopeRefusal | None:
    """Why ``org_number`` may not use ``scope`` in an integration of ``integration_type``, or
    None when it may: the scope is active, allows the type, and is ``accessible_for_all`` or
    APPROVED for the organisation (read with the shared lock held).

    The owner is no exception: §9.5 asks for access for every organisation.
    """
    if not scope.active:
        return ScopeRefusal.INACTIVE
    if not scope.allows(integration_type):
        return ScopeRefusal.INCOMPATIBLE
    if scope.accessible_for_all:
        return None
    entry = access.get((scope.name, org_number))
    if entry is None or entry.state != APPROVED:
        return ScopeRefusal.NO_ACCESS
    return None
