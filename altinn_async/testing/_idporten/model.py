"""What the emulated ID-porten keeps: registered clients, and the transient records of logins,
codes, sessions, grants and refresh tokens (keyed by the SHA-256 of the secret that names them,
so no secret sits in memory dumps or reprs)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from joserfc.jwk import RSAKey


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
    """ID-porten's clients and transient records (codes, refresh tokens, login transactions,
    PAR URNs, session cookies by the SHA-256 of the secret). Guarded by the shared lock."""

    def __init__(self) -> None:
        self.clients: dict[str, IdportenClient] = {}
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
        return f"IdportenStore(clients={len(self.clients)}, grants={len(self.grants)})"

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
