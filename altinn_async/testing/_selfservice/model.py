"""What only the self-service API keeps about a client: its registration (name, description,
types, lifetimes, timestamps, secret). A Maskinporten client's scopes and keys are the emulated
Maskinporten's own record (`MaskinportenClient`), changed under the shared lock, so a client
created here can get tokens at once; clients of other integration types keep theirs here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._maskinporten import ClientKey


@dataclass(slots=True)
class ClientRegistration:
    """A client as the self-service API knows it.

    ``fields`` are the validated model fields other than the identity, ``scopes`` and the
    server-set ones. ``scopes`` and ``keys`` are used only for clients the emulated Maskinporten
    does not know (ID-porten and other login types).
    """

    client_id: str
    client_orgno: str
    supplier_orgno: str | None
    integration_type: str
    fields: dict[str, Any]
    created: float
    last_updated: float
    scopes: tuple[str, ...] = ()
    keys: Mapping[str, ClientKey] = field(default_factory=dict, repr=False)
    active: bool = True
    secret_digest: str | None = field(default=None, repr=False)
    jwks_created: float | None = None
    jwks_updated: float | None = None


class SelfServiceStore:
    """The registrations, by client id. Guarded by the shared lock."""

    def __init__(self, created: float) -> None:
        self.registrations: dict[str, ClientRegistration] = {}
        self.created = created
        """When the registry came up: the delegation sources' timestamps."""

    def __repr__(self) -> str:
        return f"SelfServiceStore(registrations={len(self.registrations)})"
