"""What the emulated Maskinporten knows: clients and their keys, scope settings, the API scopes
and access lists of Digdir's scope registry, delegations in Altinn, and the system users of
Altinn's system register that system-user grants name."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import RSAKey

from .scopes import ApiScope, ScopeAccess


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A public key registered on a client, and when it expires (MP-121 after that).

    ``jwk`` is the public JWK as registered (what the self-service API's JWKS answers show).
    """

    kid: str
    key: RSAKey = field(repr=False)
    jwk: Mapping[str, Any] = field(repr=False)
    expires_at: float | None


@dataclass(frozen=True, slots=True)
class KeyRelease:
    """A client's key set as Maskinporten uses it from ``since`` on (a changed set reaches the
    token endpoint only after the self-service API's propagation delay)."""

    since: float
    keys: Mapping[str, ClientKey]


@dataclass(slots=True)
class MaskinportenClient:
    """A registered Maskinporten client (integration).

    ``releases`` are the client's key sets in the order they were registered, each with the
    time Maskinporten starts using it; the last one is the registered set.
    """

    client_id: str
    org_number: str
    scopes: frozenset[str]
    releases: list[KeyRelease] = field(repr=False)
    requires_registered_key: bool
    integration_type: str = "maskinporten"
    active: bool = True

    @property
    def keys(self) -> Mapping[str, ClientKey]:
        """The registered keys (the newest set, whether or not it is in use yet)."""
        return self.releases[-1].keys if self.releases else {}

    def keys_at(self, now: float) -> Mapping[str, ClientKey]:
        """The keys Maskinporten accepts at ``now``: the newest set released by then."""
        for release in reversed(self.releases):
            if release.since <= now:
                return release.keys
        return {}

    def had_key(self, kid: str, now: float) -> bool:
        """Whether a set in use at some time up to ``now`` held ``kid`` (a removed key)."""
        return any(r.since <= now and kid in r.keys for r in self.releases)

    def release(self, keys: Mapping[str, ClientKey], since: float) -> None:
        """Register a new key set, used from ``since`` on."""
        self.releases.append(KeyRelease(since, dict(keys)))


def seeded_release(keys: Mapping[str, ClientKey]) -> list[KeyRelease]:
    """The releases of a seeded client: its keys, in use from the start."""
    return [KeyRelease(-math.inf, dict(keys))] if keys else []


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
    """Every Maskinporten record. Guarded by the shared lock.

    ``api_scopes``, ``scope_access`` and ``prefixes`` are Digdir's scope registry, which the
    self-service API manages and the token endpoint consults.
    """

    def __init__(self) -> None:
        self.clients: dict[str, MaskinportenClient] = {}
        self.scopes: dict[str, ScopeSettings] = {}
        self.api_scopes: dict[str, ApiScope] = {}
        self.scope_access: dict[tuple[str, str], ScopeAccess] = {}  # (scope, consumer org)
        self.prefixes: dict[str, str] = {}  # prefix -> owner org
        self.delegations: set[tuple[str, str, str]] = set()  # (consumer, supplier, scope)
        self.system_users: list[SystemUser] = []

    def __repr__(self) -> str:
        return f"MaskinportenStore(clients={len(self.clients)})"
