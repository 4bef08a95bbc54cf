"""The emulator's mutable state, shared by the Maskinporten, ID-porten, authentication and Storage
handlers.

Everything here is guarded by one `threading.Lock`: seeding happens from test code (any thread),
requests are served from an event loop (possibly uvicorn's own thread). The lock is never held
across an ``await``.
"""

from __future__ import annotations

import heapq
import secrets
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from joserfc.jwk import RSAKey

from ._jose import AltinnSigningCertificate, RsaSigningKey


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


@dataclass(frozen=True, slots=True)
class Person:
    """A person in the emulated Altinn Register, as the ID-porten exchange looks them up.

    Attributes:
        pid: the national identity number (fødselsnummer), 11 digits.
        name: the person's name, if given.
        party_id: the person's party id in Altinn (``urn:altinn:partyid``, instance owner).
        user_id: the person's Altinn user id (``urn:altinn:userid``).
        username: the Altinn username (``urn:altinn:username``; empty for most people).
        party_uuid: the party's UUID (``urn:altinn:party:uuid``).
    """

    pid: str
    name: str | None
    party_id: int
    user_id: int
    username: str
    party_uuid: str


@dataclass(slots=True)
class IdportenClient:
    """A registered ID-porten client (integration)."""

    client_id: str
    client_secret: str | None = field(repr=False)
    keys: dict[str, RSAKey] = field(repr=False)
    token_endpoint_auth_method: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    scopes: frozenset[str]
    org_number: str
    rotate_refresh_tokens: bool
    access_token_lifetime: int
    refresh_token_lifetime: int
    authorization_lifetime: int


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """A validated ID-porten authorization request (from ``/authorize`` or ``/par``)."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_challenge: str = field(repr=False)
    acr: str
    locale: str
    prompt: frozenset[str]
    resource: str | None


@dataclass(slots=True)
class PendingLogin:
    """An authorization request waiting for the person to log in on the TestID page."""

    request: AuthorizationRequest
    expires: float


@dataclass(slots=True)
class SsoSession:
    """An ID-porten single-sign-on session (the browser's session cookie points at it)."""

    sid: str
    pid: str
    acr: str
    amr: tuple[str, ...]
    auth_time: int
    created: float
    last_seen: float


@dataclass(slots=True)
class AuthorizationCode:
    """An issued authorization code: single use, short-lived."""

    request: AuthorizationRequest
    session: SsoSession
    expires: float
    grant_id: str | None = None  # set when redeemed, so a replay can revoke what it bought


@dataclass(slots=True)
class IdportenGrant:
    """One authorization: what a code bought, kept alive by refresh tokens until revoked."""

    id: str
    client_id: str
    pid: str
    scopes: tuple[str, ...]
    acr: str
    amr: tuple[str, ...]
    auth_time: int
    sid: str
    locale: str
    resource: str | None
    created: float
    revoked: bool = False
    refresh_tokens: list[str] = field(default_factory=list, repr=False)


@dataclass(slots=True)
class RefreshToken:
    """An issued refresh token (stored under its SHA-256, never in clear)."""

    grant_id: str
    client_id: str
    last_used: float
    active: bool = True


class IdportenStore:
    """ID-porten's transient records, keyed by the SHA-256 of the secret that names them (codes,
    refresh tokens, login transactions, PAR URNs, session cookies), so no secret sits in memory
    dumps or reprs. Guarded by the `State` lock."""

    def __init__(self) -> None:
        self.pending: dict[str, PendingLogin] = {}
        self.par: dict[str, tuple[AuthorizationRequest, float]] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.sessions: dict[str, SsoSession] = {}  # cookie hash -> session
        self.grants: dict[str, IdportenGrant] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, str] = {}  # access-token jti -> grant id
        # Pairwise subjects are a keyed hash of client and person; the key lives per emulator.
        self.pairwise_salt = secrets.token_bytes(16)

    def __repr__(self) -> str:
        return f"IdportenStore(grants={len(self.grants)})"

    def revoke_grant(self, grant_id: str | None) -> None:
        """Revoke a grant and every refresh token it issued. Call with the lock held."""
        grant = self.grants.get(grant_id) if grant_id else None
        if grant is None:
            return
        grant.revoked = True
        for key in grant.refresh_tokens:
            token = self.refresh_tokens.get(key)
            if token is not None:
                token.active = False

    def purge(self, now: float) -> None:
        """Forget expired transient records. Call with the lock held."""
        for table in (self.pending, self.codes):
            for key in [k for k, v in table.items() if v.expires < now]:
                del table[key]
        for key in [k for k, (_, expires) in self.par.items() if expires < now]:
            del self.par[key]


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
        self.maskinporten_key = RsaSigningKey("maskinporten")
        self.idporten_key = RsaSigningKey("idporten")
        self.altinn_key = AltinnSigningCertificate(clock)
        self.clients: dict[str, MaskinportenClient] = {}
        self.trusted_certificates: list[x509.Certificate] = []
        self.scopes: dict[str, ScopeSettings] = {}
        self.delegations: set[tuple[str, str, str]] = set()
        self.system_users: list[SystemUser] = []
        self.service_owners: dict[str, str] = {}  # org number -> org code
        self.idporten_clients: dict[str, IdportenClient] = {}
        self.idporten = IdportenStore()
        self.persons: dict[str, Person] = {}  # pid -> person (Altinn Register)
        self.partner_scopes: set[str] = set()
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
