"""Altinn's system register as the emulator keeps it: system users of vendors' systems.

The register is Altinn's, but Maskinporten consults it on every system-user grant and the
system's vendor is the organisation of the Maskinporten client, so the emulator keeps it beside
the clients. Altinn authentication lists it for vendors through `SystemRegister`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .model import MaskinportenClient, MaskinportenStore, SystemUser


@dataclass(frozen=True, slots=True)
class ListedSystemUser:
    """A system user as the vendor listing shows it."""

    id: str
    system_id: str
    customer_org: str
    vendor_org: str
    external_ref: str | None
    integration_title: str | None
    created: float
    sequence: int


class SystemRegister:
    """Who the system users are: for a client's grant, and for a vendor's system."""

    def __init__(self, lock: threading.Lock, store: MaskinportenStore) -> None:
        self._lock = lock
        self._store = store

    def __repr__(self) -> str:
        return f"SystemRegister(system_users={len(self._store.system_users)})"

    def for_grant(
        self, client: MaskinportenClient, customer_org: str, external_ref: str | None
    ) -> SystemUser | None:
        """The system user a grant of ``client`` for ``customer_org`` names (with the grant's
        ``externalRef``, if it has one), or None."""
        with self._lock:
            return next(
                (
                    user
                    for user in self._store.system_users
                    if user.client_id == client.client_id
                    and user.customer_org == customer_org
                    and (external_ref is None or user.external_ref == external_ref)
                ),
                None,
            )

    def of_system(self, system_id: str, vendor_org: str) -> list[ListedSystemUser] | None:
        """The system users of ``vendor_org``'s system ``system_id``, in sequence order; None
        when the vendor has no such system (no system user of one of its clients names it)."""
        with self._lock:
            clients = dict(self._store.clients)
            users = list(self._store.system_users)
        listed: list[ListedSystemUser] = []
        for user in users:
            client = clients.get(user.client_id)
            if client is None or client.org_number != vendor_org:
                continue
            if user.system_for(client) != system_id:
                continue
            listed.append(
                ListedSystemUser(
                    id=user.id,
                    system_id=system_id,
                    customer_org=user.customer_org,
                    vendor_org=vendor_org,
                    external_ref=user.external_ref,
                    integration_title=user.integration_title,
                    created=user.created,
                    sequence=user.sequence,
                )
            )
        if not listed:
            return None
        listed.sort(key=lambda u: u.sequence)
        return listed
