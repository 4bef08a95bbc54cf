"""The Maskinporten endpoints under ``/maskinporten``: metadata, JWKS and the token endpoint."""

from __future__ import annotations

import secrets
from typing import Any

from .._toolkit.asgi import Request, Response
from .._toolkit.claims import CONSENT_TYPE, SYSTEMUSER_TYPE, iso6523
from .._toolkit.jose import RSA_ALGORITHMS, IssuedTokens, RsaSigningKey, b64url
from .._toolkit.pki import TrustStore
from .._toolkit.records import RecordLog, read_only
from .._toolkit.responses import NO_STORE, json_response
from .._toolkit.router import route
from .._toolkit.state import SharedState
from .grant import JWT_BEARER, GrantValidator, ValidGrant
from .model import MaskinportenStore
from .records import GrantRecord
from .system_register import SystemRegister

PREFIX = "/maskinporten"


def issuer_for(origin: str) -> str:
    """The Maskinporten issuer for an origin (with the trailing slash Maskinporten uses)."""
    return f"{origin}{PREFIX}/"


class Maskinporten:
    """The emulated Maskinporten.

    Args:
        shared: the lock, the clock and the counters.
        store: clients, scopes, delegations and system users.
        trust: the CAs enterprise certificates in ``x5c`` must chain to.
        token_lifetime: ``expires_in`` before the scopes' ``at_max_age`` caps.
    """

    def __init__(
        self,
        shared: SharedState,
        store: MaskinportenStore,
        trust: TrustStore,
        *,
        token_lifetime: int,
    ) -> None:
        self._shared = shared
        self._store = store
        self._token_lifetime = token_lifetime
        self.system_register = SystemRegister(shared.lock, store)
        self._grants = GrantValidator(shared, store, trust, self.system_register)
        self._key = RsaSigningKey("maskinporten")
        self.tokens = IssuedTokens(self._key, issuer_for)
        """The access tokens this Maskinporten issues, for the services that accept them."""
        self.grants: RecordLog[GrantRecord] = RecordLog()
        """The grants accepted (guarded by the shared lock), for tests to assert on."""
        self.handlers: tuple[object, ...] = (self,)
        """The objects to mount on the router (one of each of `HANDLERS`)."""

    def __repr__(self) -> str:
        return f"Maskinporten({self._store!r})"

    @route("GET", rf"{PREFIX}/\.well-known/oauth-authorization-server", "maskinporten.metadata")
    async def metadata(self, request: Request) -> Response:
        """``GET /.well-known/oauth-authorization-server`` (the TEST document's shape)."""
        issuer = issuer_for(request.origin)
        return json_response(
            {
                "authorization_details_types_supported": [SYSTEMUSER_TYPE, CONSENT_TYPE],
                "grant_types_supported": [JWT_BEARER],
                "issuer": issuer,
                "jwks_uri": f"{issuer}jwk",
                "token_endpoint": f"{issuer}token",
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": list(RSA_ALGORITHMS),
            },
            content_type="application/json",
        )

    @route("GET", rf"{PREFIX}/jwk", "maskinporten.jwk")
    async def jwk(self, request: Request) -> Response:
        """``GET /jwk``: the key that signs access tokens."""
        return json_response({"keys": [self._key.public_jwk()]}, content_type="application/json")

    @route("POST", rf"{PREFIX}/token", "maskinporten.token")
    async def token(self, request: Request) -> Response:
        """``POST /token`` with a JWT-bearer grant: a self-contained access token."""
        now = self._shared.clock()
        issuer = issuer_for(request.origin)
        grant = self._grants.validate(request, issuer, now)
        expires_in = self._expires_in(grant.scopes)
        scope = " ".join(grant.scopes)
        claims = self._claims(grant, request.origin, now, expires_in)
        access_token = self._key.sign(claims)
        record = GrantRecord(
            client_id=grant.client.client_id,
            scopes=tuple(grant.scopes),
            client_amr=grant.client_amr,
            kid=grant.kid,
            algorithm=grant.algorithm,
            claims=read_only(grant.claims),
            token_claims=read_only(claims),
            accepted_at=now,
        )
        with self._shared.lock:
            self.grants.add(record)
        return json_response(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "scope": scope,
            },
            content_type="application/json",
            headers=NO_STORE,
        )

    def _expires_in(self, scopes: list[str]) -> int:
        """The configured lifetime, capped by the lowest ``at_max_age`` of the scopes (seeded
        with ``add_scope`` or registered in the scope registry)."""
        with self._shared.lock:
            settings = [self._store.scopes.get(scope) for scope in scopes]
            registered = [self._store.api_scopes.get(scope) for scope in scopes]
        caps = [s.at_max_age for s in settings if s is not None and s.at_max_age is not None]
        # A registered scope's at_max_age of 0 means "the default".
        caps += [r.at_max_age for r in registered if r is not None and r.at_max_age > 0]
        return min([self._token_lifetime, *caps])

    @staticmethod
    def _claims(grant: ValidGrant, origin: str, now: float, expires_in: int) -> dict[str, Any]:
        iat = int(now)
        claims: dict[str, Any] = {}
        if grant.authorization_details is not None:
            claims["authorization_details"] = grant.authorization_details
        claims.update(
            {
                "scope": " ".join(grant.scopes),
                "iss": issuer_for(origin),
                "client_amr": grant.client_amr,
                "token_type": "Bearer",
                "exp": iat + expires_in,
                "iat": iat,
                "client_id": grant.client.client_id,
                "jti": b64url(secrets.token_bytes(32)),
                "aud": grant.audience,
            }
        )
        own = iso6523(grant.client.org_number)
        if grant.consumer_org is not None:
            claims["supplier"] = own
            claims["delegation_source"] = f"{origin}/"
            claims["consumer"] = iso6523(grant.consumer_org)
        else:
            claims["consumer"] = own
        if grant.pid is not None:
            claims["pid"] = grant.pid
        return claims


HANDLERS = (Maskinporten,)
"""The classes that declare Maskinporten's routes."""
