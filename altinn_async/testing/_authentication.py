"""Emulated Altinn 3 authentication: token exchange, refresh, OpenID configuration and JWKS.

Behaviour follows ``AuthenticationController`` / ``OpenIdController`` of altinn-authentication
(``altinn-protocol.md`` §3 and §7 items 11-15).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ._asgi import (
    Request,
    Response,
    Router,
    empty_response,
    json_response,
    negotiated_string,
    problem_response,
)
from ._idporten import issuer_for as idporten_issuer_for
from ._jose import MalformedJWTError, parse_jwt, signature_valid, token_registry
from ._maskinporten import ISO6523
from ._maskinporten import issuer_for as maskinporten_issuer_for
from ._state import State

API = "/platform/authentication/api/v1"
CLOCK_SKEW = 10  # ClockSkew = TimeSpan.FromSeconds(10) in the controller
RUNTIME_COOKIE = "AltinnStudioRuntime"
ENTERPRISE_USER_HEADER = "x-altinn-enterpriseuser-authentication"

_GONE = {
    "type": "https://docs.altinn.studio",
    "title": "Virksomhetsbruker is no longer available",
    "status": 410,
    "detail": (
        "Virksomhetsbruker (enterprise user) is no longer available. It has been replaced by "
        "Systembruker (system user) or ID-porten, depending on the use case. See "
        "https://docs.altinn.studio for migration guidance."
    ),
}
# Claims the exchange drops from a Maskinporten token before adding its own.
_DROPPED_CLAIMS = frozenset({"aud", "iss", "client_amr", "sid", "iat", "nbf", "exp"})
# ... and from an ID-porten token (iat, nbf and exp are set anew when the token is written).
_DROPPED_IDPORTEN_CLAIMS = frozenset({"aud", "iss", "at_hash", "sid", "sub", "iat", "nbf", "exp"})
_AUTH_LEVELS = {"idporten-loa-low": 0, "idporten-loa-substantial": 3, "idporten-loa-high": 4}


def altinn_issuer_for(origin: str) -> str:
    """The ``iss`` of Altinn tokens issued at ``origin``."""
    return f"{origin}{API}/openid/"


ProviderHandler = Callable[[Request, str], Awaitable[Response]]


class Authentication:
    """The Altinn authentication endpoints under ``/platform/authentication/api/v1``."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._registry = token_registry()
        # Token providers by lower-case name. Altinn Studio tokens cannot be validated (no
        # emulated issuer), so they are refused like an untrusted token.
        self._providers: dict[str, ProviderHandler] = {
            "maskinporten": self._exchange_maskinporten,
            "id-porten": self._exchange_idporten,
            "altinnstudio": self._unauthorized_provider,
        }

    def register(self, router: Router) -> None:
        """Add the routes to ``router``."""
        exchange = rf"{API}/exchange/(?P<provider>[^/]+)"
        router.add(["GET"], exchange, "authentication.exchange", self.exchange)
        router.add(["GET"], rf"{API}/refresh", "authentication.refresh", self.refresh)
        router.add(
            ["GET"],
            rf"{API}/openid/\.well-known/openid-configuration",
            "authentication.openid_configuration",
            self.openid_configuration,
        )
        router.add(
            ["GET"],
            rf"{API}/openid/\.well-known/openid-configuration/jwks",
            "authentication.jwks",
            self.jwks,
        )

    def set_provider(self, name: str, handler: ProviderHandler) -> None:
        """Install the exchange handler for a token provider (lower-case name)."""
        self._providers[name.lower()] = handler

    # -- exchange ----------------------------------------------------------------------------

    async def exchange(self, request: Request) -> Response:
        """``GET /exchange/{provider}``."""
        token = request.bearer_token()
        if not token:
            return problem_response(401)
        try:
            parse_jwt(token, self._registry)
        except MalformedJWTError:
            return problem_response(401)
        provider = request.path_params["provider"]
        handler = self._providers.get(provider.lower())
        if handler is None:
            return negotiated_string(
                request,
                f"Invalid token provider: {provider}. Trusted token providers are 'Maskinporten', "
                "'Id-porten' and 'AltinnStudio'.",
                400,
            )
        return await handler(request, token)

    async def _unauthorized_provider(self, request: Request, token: str) -> Response:
        return problem_response(401)

    async def _exchange_maskinporten(self, request: Request, token: str) -> Response:
        now = self._state.clock()
        claims = self._verified_maskinporten_claims(token, request.origin, now)
        if claims is None:
            return problem_response(401)
        consumer = claims.get("consumer")
        org_number = _consumer_org_number(consumer)
        if org_number is None:
            return problem_response(401)

        issued: dict[str, Any] = {k: v for k, v in claims.items() if k not in _DROPPED_CLAIMS}
        scope = claims.get("scope")
        if isinstance(scope, str) and "altinn:serviceowner" in scope:
            with self._state.lock:
                org = self._state.service_owners.get(org_number)
            if org == "digdir" and _query_flag(request, "test"):
                org = "ttd"
            if org:
                issued["urn:altinn:org"] = org
        if request.header(ENTERPRISE_USER_HEADER):
            return problem_response(410, problem=_GONE)
        issued["urn:altinn:orgNumber"] = org_number
        issued["urn:altinn:authenticatemethod"] = "maskinporten"
        issued["urn:altinn:authlevel"] = 3
        issued["iss"] = altinn_issuer_for(request.origin)
        issued["sid"] = str(uuid.uuid4())
        return negotiated_string(request, self._issue(issued, now))

    async def _exchange_idporten(self, request: Request, token: str) -> Response:
        now = self._state.clock()
        claims = self._verified_claims(token, "idporten")
        if (
            claims is None
            or not _lifetime_ok(claims, now)
            or claims.get("iss") != idporten_issuer_for(request.origin)
        ):
            return problem_response(401)
        scopes = str(claims.get("scope") or "").split(" ")
        with self._state.lock:
            partner_scopes = set(self._state.partner_scopes)
        # Altinn checks the scope before the person (AuthenticateIdPortenToken): Forbid() first.
        if not any(s.startswith("altinn:") for s in scopes) and not partner_scopes & set(scopes):
            return empty_response(403)
        pid, acr = claims.get("pid"), claims.get("acr")
        if not isinstance(pid, str) or not pid.strip() or not isinstance(acr, str) or not acr:
            return problem_response(401)
        with self._state.lock:
            person = self._state.persons.get(pid)
        if person is None:
            return problem_response(401)
        amr = claims.get("amr")
        method = amr[0] if isinstance(amr, list) and amr else amr
        if not isinstance(method, str) or not method:
            method = "NotDefined"  # AuthenticationMethod.NotDefined: access tokens carry no amr
        issued: dict[str, Any] = {
            "nameid": str(person.user_id),
            "urn:altinn:userid": str(person.user_id),
            "urn:altinn:username": person.username,
            "urn:altinn:partyid": person.party_id,
            "urn:altinn:party:uuid": person.party_uuid,
            "urn:altinn:authenticatemethod": method,
            "urn:altinn:authlevel": _auth_level(acr),
        }
        for name, value in claims.items():
            if name not in _DROPPED_IDPORTEN_CLAIMS:
                # .NET flattens a JSON array into one claim per value and writes a single value
                # back as a plain string: "amr": ["TestID"] becomes "amr": "TestID".
                issued[name] = value[0] if isinstance(value, list) and len(value) == 1 else value
        issued["iss"] = altinn_issuer_for(request.origin)
        issued["sid"] = str(uuid.uuid4())
        # GenerateToken(principal, token.ValidTo): the Altinn token ends with the ID-porten one.
        return negotiated_string(request, self._issue(issued, now, expires=int(claims["exp"])))

    def _verified_maskinporten_claims(
        self, token: str, origin: str, now: float
    ) -> dict[str, Any] | None:
        claims = self._verified_claims(token, "maskinporten")
        if claims is None or not _lifetime_ok(claims, now):
            return None
        if claims.get("iss") != maskinporten_issuer_for(origin):
            return None
        return claims

    # -- refresh -----------------------------------------------------------------------------

    async def refresh(self, request: Request) -> Response:
        """``GET /refresh``: a fresh Altinn token from a valid one (Bearer, then cookie)."""
        now = self._state.clock()
        claims = self.authenticate(request, now)
        if claims is None:
            # [Authorize] challenge from the JwtCookie handler: a bare 401.
            return empty_response(401)
        issued = {k: v for k, v in claims.items() if k not in ("iat", "nbf", "exp")}
        return negotiated_string(request, self._issue(issued, now))

    def authenticate(self, request: Request, now: float) -> dict[str, Any] | None:
        """The claims of the request's valid Altinn token (Bearer first, then the
        ``AltinnStudioRuntime`` cookie), or None."""
        token = request.bearer_token() or request.cookies().get(RUNTIME_COOKIE)
        if not token:
            return None
        claims = self._verified_claims(token, "altinn")
        if claims is None or not _lifetime_ok(claims, now):
            return None
        return claims

    def _issue(self, claims: dict[str, Any], now: float, *, expires: int | None = None) -> str:
        issued_at = int(now)
        body = {
            **claims,
            "nbf": issued_at,
            "exp": issued_at + self._state.altinn_token_lifetime if expires is None else expires,
            "iat": issued_at,
        }
        return self._state.altinn_key.sign(body)

    def verified_claims(self, token: str, which: str) -> dict[str, Any] | None:
        """The claims of a token signed by the emulator's ``which`` key (``"maskinporten"``,
        ``"idporten"`` or ``"altinn"``), or None; lifetime and issuer are not checked."""
        return self._verified_claims(token, which)

    def _verified_claims(self, token: str, which: str) -> dict[str, Any] | None:
        cache_key = f"{which}:{token}"
        with self._state.lock:
            cached = self._state.verified_tokens.get(cache_key)
        if cached is not None:
            return cached
        try:
            obj, header, claims = parse_jwt(token, self._registry)
        except MalformedJWTError:
            return None
        if which == "altinn":
            altinn = self._state.altinn_key
            key, kid = altinn.key, altinn.kid
        else:
            signer = (
                self._state.idporten_key if which == "idporten" else self._state.maskinporten_key
            )
            key, kid = signer.key, signer.kid
        if header.get("kid") not in (None, kid) or not signature_valid(obj, key, self._registry):
            return None
        with self._state.lock:
            self._state.cache_verified(cache_key, claims)
        return claims

    # -- discovery ---------------------------------------------------------------------------

    async def openid_configuration(self, request: Request) -> Response:
        """``GET /openid/.well-known/openid-configuration``."""
        base = f"{request.origin}{API}"
        issuer = altinn_issuer_for(request.origin)
        return json_response(
            {
                "issuer": issuer,
                "jwks_uri": f"{issuer}.well-known/openid-configuration/jwks",
                "authorization_endpoint": f"{base}/authorize/",
                "token_endpoint": f"{base}/token/",
                "end_session_endpoint": f"{issuer}logout/",
                "response_types_supported": ["token"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def jwks(self, request: Request) -> Response:
        """``GET /openid/.well-known/openid-configuration/jwks``."""
        return json_response({"keys": [self._state.altinn_key.jwk()]})


def _lifetime_ok(claims: dict[str, Any], now: float) -> bool:
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp + CLOCK_SKEW < now:
        return False
    nbf = claims.get("nbf")
    return not (
        nbf is not None
        and (not isinstance(nbf, int | float) or isinstance(nbf, bool) or nbf - CLOCK_SKEW > now)
    )


def _auth_level(acr: str) -> int:
    """``urn:altinn:authlevel`` from ``acr``: the idporten-loa-* names, else the last character
    (``Level3`` -> 3)."""
    if acr in _AUTH_LEVELS:
        return _AUTH_LEVELS[acr]
    last = acr[-1]
    return int(last) if last.isdigit() else 0


def _consumer_org_number(consumer: Any) -> str | None:
    if not isinstance(consumer, dict) or consumer.get("authority") != ISO6523:
        return None
    identifier = consumer.get("ID")
    if not isinstance(identifier, str):
        return None
    parts = identifier.split(":")
    if len(parts) < 2 or not parts[1]:
        return None
    return parts[1]


def _query_flag(request: Request, name: str) -> bool:
    for key, value in request.query():
        if key.lower() == name:
            return value.strip().lower() == "true"
    return False
