"""What the emulated Maskinporten knows: clients, scope settings, delegations in Altinn, and the
system users of Altinn's system register that system-user grants name."""

from __future__ import annotations

from dataclasses import dataclass, field

from joserfc.jwk import RSAKey


@dataclass(slots=True)
class MaskinportenClient:
    """A registered Maskinporten client (integration)."""

    client_id: str
    org_number: str
    scopes: frozenset[str]
    keys: dict[str, RSAKey] = field(repr=False)
    key_expires_at: float | None
    requires_registered_key: bool


@dataclass(frozen=True, slots=True)
class ScopeSettings:
    """What the API owner configured for a scope."""

    at_max_age: int | None
    maskinporten: bool


@dataclass(frozen=True, slots=True)
class SystemUser:
    """A system user: a customer's grant to a vendor's system, whose Maskinporten client is
    ``client_id``.

    ``system_id`` None means the system is named after the client (``{vendor orgno}_{client}``,
    the register's naming convention), resolved once the client is known.
    """

    id: str
    client_id: str
    customer_org: str
    system_id: str | None
    external_ref: str | None
    integration_title: str | None
    created: float
    sequence: int  # the register's sequence number: the vendor listing's order and cursor

    def system_for(self, client: MaskinportenClient) -> str:
        """The system id, for the user's client."""
        return self.system_id or f"{client.org_number}_{client.client_id}"


class MaskinportenStore:
    """Every Maskinporten record. Guarded by the shared lock."""

    def __init__(self) -> None:
        self.clients: dict[str, MaskinportenClient] = {}
        self.scopes: dict[str, ScopeSettings] = {}
        self.delegations: set[tuple[str, str, str]] = set()  # (consumer, supplier, scope)
        self.system_users: list[SystemUser] = []

    def __repr__(self) -> str:
        return f"MaskinportenStore(clients={len(self.clients)})"
