"""The emulator's mutable state, shared by the Maskinporten, authentication and Storage handlers.

Everything here is guarded by one `threading.Lock`: seeding happens from test code (any thread),
requests are served from an event loop (possibly uvicorn's own thread). The lock is never held
across an ``await``.
"""

from __future__ import annotations

import heapq
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from joserfc.jwk import RSAKey

from ._jose import AltinnSigningCertificate, MaskinportenSigningKey


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
    """A system user: a customer's grant to a vendor's system (client)."""

    id: str
    client_id: str
    customer_org: str
    system_id: str | None
    external_ref: str | None


@dataclass(slots=True)
class Fault:
    """An injected fault for the next ``remaining`` requests to one endpoint."""

    status: int
    remaining: int
    delay: float
    body: bytes
    headers: tuple[tuple[str, str], ...]


class State:
    """All mutable emulator state (see the module docstring for the locking rule)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        maskinporten_token_lifetime: int,
        altinn_token_lifetime: int,
    ) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.maskinporten_token_lifetime = maskinporten_token_lifetime
        self.altinn_token_lifetime = altinn_token_lifetime
        self.maskinporten_key = MaskinportenSigningKey()
        self.altinn_key = AltinnSigningCertificate(clock)
        self.clients: dict[str, MaskinportenClient] = {}
        self.trusted_certificates: list[x509.Certificate] = []
        self.scopes: dict[str, ScopeSettings] = {}
        self.delegations: set[tuple[str, str, str]] = set()
        self.system_users: list[SystemUser] = []
        self.service_owners: dict[str, str] = {}  # org number -> org code
        self.requests: Counter[str] = Counter()
        self.faults: dict[str, deque[Fault]] = {}
        # Replay protection: key -> forget-after time, with a heap to forget in time order.
        self._used_grants: dict[str, float] = {}
        self._used_heap: list[tuple[float, str]] = []
        # Verified-token cache: token string -> claims (signature already checked).
        self.verified_tokens: dict[str, dict[str, Any]] = {}

    def remember_grant(self, key: str, until: float, now: float) -> bool:
        """Record a grant as used; False if it was already used and not yet forgotten.

        Call with the lock held.
        """
        while self._used_heap and self._used_heap[0][0] < now:
            _, old = heapq.heappop(self._used_heap)
            if self._used_grants.get(old, now + 1) < now:
                del self._used_grants[old]
        if key in self._used_grants:
            return False
        self._used_grants[key] = until
        heapq.heappush(self._used_heap, (until, key))
        return True

    def take_fault(self, endpoint: str) -> Fault | None:
        """Pop one use of the next fault queued for ``endpoint``. Call with the lock held."""
        queue = self.faults.get(endpoint)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    def cache_verified(self, token: str, claims: dict[str, Any]) -> None:
        """Remember a token whose signature verified. Call with the lock held."""
        if len(self.verified_tokens) >= 4096:
            # Crude but bounded: tests rarely hold thousands of live tokens.
            self.verified_tokens.clear()
        self.verified_tokens[token] = claims
