"""Altinn's system register as the emulator keeps it: system users of vendors' systems.

The register is Altinn's, but Maskinporten consults it on every system-user grant and the
system's vendor is the organisation of the Maskinporten client, so the emulator keeps it beside
the clients.
"""

from __future__ import annotations

import threading

from .model import MaskinportenClient, MaskinportenStore, SystemUser


class SystemRegister:
    """Who the system users are."""

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
