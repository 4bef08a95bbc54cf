"""Seeding Maskinporten: clients, scope settings, delegations and system users (the logic behind
``Emulator.add_maskinporten_client``, ``add_scope``, ``add_delegation`` and
``add_system_user``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from .._toolkit.jose import import_public_keys
from .._toolkit.register import check_org_number
from .._toolkit.state import SharedState
from .model import (
    ClientKey,
    MaskinportenClient,
    MaskinportenStore,
    ScopeSettings,
    SystemUser,
    seeded_release,
)


class MaskinportenSeeding:
    """Validates and stores what tests seed into Maskinporten."""

    def __init__(self, shared: SharedState, store: MaskinportenStore) -> None:
        self._shared = shared
        self._store = store

    def add_client(
        self,
        client_id: str,
        *,
        org_number: str,
        scopes: Iterable[str],
        jwks: Iterable[Mapping[str, Any]],
        key_expires_at: float | None,
        requires_registered_key: bool,
    ) -> None:
        """Register (or replace) a client; ``key_expires_at`` is every key's expiry."""
        if not client_id:
            raise ValueError("client_id must not be empty")
        check_org_number(org_number, "org_number")
        keys = {
            kid: ClientKey(kid, key, key.as_dict(private=False), key_expires_at)
            for kid, key in import_public_keys(jwks, "Maskinporten").items()
        }
        client = MaskinportenClient(
            client_id=client_id,
            org_number=org_number,
            scopes=frozenset(scopes),
            releases=seeded_release(keys),
            requires_registered_key=requires_registered_key,
        )
        with self._shared.lock:
            self._store.clients[client_id] = client

    def add_scope(self, scope: str, *, at_max_age: int | None, maskinporten: bool) -> None:
        """Configure a scope."""
        if not scope:
            raise ValueError("scope must not be empty")
        if at_max_age is not None and at_max_age < 1:
            raise ValueError("at_max_age must be positive")
        with self._shared.lock:
            self._store.scopes[scope] = ScopeSettings(at_max_age, maskinporten)

    def add_delegation(self, *, consumer_org: str, supplier_org: str, scope: str) -> None:
        """Record a delegation of ``scope`` from a consumer to a supplier."""
        check_org_number(consumer_org, "consumer_org")
        check_org_number(supplier_org, "supplier_org")
        with self._shared.lock:
            self._store.delegations.add((consumer_org, supplier_org, scope))

    def add_system_user(
        self,
        *,
        client_id: str,
        customer_org: str,
        system_id: str | None,
        external_ref: str | None,
        integration_title: str | None,
        created: float | None,
    ) -> str:
        """Create a system user; return its id (a UUID)."""
        check_org_number(customer_org, "customer_org")
        if system_id is not None and not system_id:
            raise ValueError("system_id must not be empty")
        when = self._shared.clock() if created is None else created
        with self._shared.lock:
            sequence = len(self._store.system_users) + 1
            user = SystemUser(
                id=str(uuid.uuid4()),
                client_id=client_id,
                customer_org=customer_org,
                system_id=system_id,
                external_ref=external_ref,
                integration_title=integration_title,
                created=when,
                sequence=sequence,
            )
            self._store.system_users.append(user)
        return user.id
