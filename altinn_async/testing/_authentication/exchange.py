"""Token exchange, refresh, and the OpenID configuration and JWKS Altinn tokens are checked
against.

Behaviour follows ``AuthenticationController`` / ``OpenIdController`` of altinn-authentication
(``altinn-protocol.md`` §3 and §7 items 11-15).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from .._toolkit.asgi import Request, Response
from .._toolkit.claims import consumer_org_number, pid, scopes
from .._toolkit.jose import IssuedTokens, MalformedJWTError, parse_jwt, token_registry
from .._toolkit.records import RecordLog, read_only
from .._toolkit.register import Register
from .._toolkit.responses import empty_response, json_response, negotiated_string, problem_response
from .._toolkit.router import Refusal, route
from .._toolkit.state import SharedState
from .records import ExchangeRecord
from .tokens import API, AltinnTokens, altinn_issuer_for

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
# Claims the exchange drops before adding its own (iat, nbf and exp are set anew when the token
# is written).
_DROPPED_CLAIMS = frozenset({"aud", "iss", "client_amr", "sid", "iat", "nbf", "exp"})
_DROPPED_IDPORTEN_CLAIMS = frozenset({"aud", "iss", "at_hash", "sid", "sub", "iat", "nbf", "exp"})
_AUTH_LEVELS = {"idporten-loa-low": 0, "idporten-loa-substantial": 3, "idporten-loa-high": 4}

ProviderHandler = Callable[[Request, dict[str, Any], float], Awaitable[Response]]


def _unauthorized() -> Refusal:
    """The controller's ``Unauthorized()``: under ``[ApiController]``, a ProblemDetails."""
    return Refusal(problem_response(401))


def _dotnet_claims(claims: dict[str, Any], dropped: frozenset[str]) -> dict[str, Any]:
    """The claims a .NET ``ClaimsPrincipal`` round trip keeps: a JSON array becomes one claim per
    value, and one value is written back on its own (``"amr": ["TestID"]`` becomes
    ``"amr": "TestID"``, a one-entry ``authorization_details`` becomes the entry)."""
    return {
        name: value[0] if isinstance(value, list) and len(value) == 1 else value
        for name, value in claims.items()
        if name not in dropped
    }


def _auth_level(acr: str) -> int:
    """``urn:altinn:authlevel`` from ``acr``: the idporten-loa-* names, else the last character
    (``Level3`` -> 3)."""
    if acr in _AUTH_LEVELS:
        return _AUTH_LEVELS[acr]
    last = acr[-1]
    return int(last) if last.isdigit() else 0


class TokenExchange:
    """``/exchange/{provider}``, ``/refresh`` and the OpenID documents.

    Args:
        shared: the lock and the clock.
        altinn: the Altinn tokens it issues.
        maskinporten: the Maskinporten access tokens it accepts.
        idporten: the ID-porten access tokens it accepts.
        register: the persons and service owners it maps claims from.
        partner_scopes: scopes that let an ID-porten token in without an ``altinn:`` scope.
        exchanges: where the exchanges made are recorded (guarded by the shared lock).
    """

    def __init__(
        self,
        shared: SharedState,
        altinn: AltinnTokens,
        *,
        maskinporten: IssuedTokens,
        idporten: IssuedTokens,
        register: Register,
        partner_scopes: set[str],
        exchanges: RecordLog[ExchangeRecord],
    ) -> None:
        self._shared = shared
        self._exchanges = exchanges
        self._altinn = altinn
        self._register = register
        self._partner_scopes = partner_scopes
        self._registry = token_registry()
        # Token providers by lower-case name: whose tokens, and how they are exchanged. Altinn
        # Studio tokens cannot be validated (no emulated issuer), so they are refused like an
        # untrusted token.
        self._providers: dict[str, tuple[IssuedTokens | None, ProviderHandler]] = {
            "maskinporten": (maskinporten, self._exchange_maskinporten),
            "id-porten": (idporten, self._exchange_idporten),
            "altinnstudio": (None, self._exchange_maskinporten),
        }

    # -- exchange ----------------------------------------------------------------------------

    @route("GET", rf"{API}/exchange/(?P<provider>[^/]+)", "authentication.exchange")
    async def exchange(self, request: Request) -> Response:
        """``GET /exchange/{provider}``."""
        token = request.bearer_token()
        if not token:
            raise _unauthorized()
        try:
            parse_jwt(token, self._registry)
        except MalformedJWTError:
            raise _unauthorized() from None
        provider = request.path_params["provider"]
        found = self._providers.get(provider.lower())
        if found is None:
            return negotiated_string(
                request,
                f"Invalid token provider: {provider}. Trusted token providers are 'Maskinporten', "
                "'Id-porten' and 'AltinnStudio'.",
                400,
            )
        issuer, handler = found
        now = self._shared.clock()
        claims = issuer.claims(token, origin=request.origin, now=now) if issuer else None
        if claims is None:
            raise _unauthorized()
        return await handler(request, claims, now)

    async def _exchange_maskinporten(
        self, request: Request, claims: dict[str, Any], now: float
    ) -> Response:
        org_number = consumer_org_number(claims)
        if org_number is None:
            raise _unauthorized()
        issued = _dotnet_claims(claims, _DROPPED_CLAIMS)
        # HasServiceOwnerScope: the scope claim contains "altinn:serviceowner".
        if any("altinn:serviceowner" in s for s in scopes(claims)):
            with self._shared.lock:
                org = self._register.service_owners.get(org_number)
            if org == "digdir" and (request.param("test") or "").strip().lower() == "true":
                org = "ttd"
            if org:
                issued["urn:altinn:org"] = org
        if request.header(ENTERPRISE_USER_HEADER):
            raise Refusal(problem_response(410, problem=_GONE))
        issued["urn:altinn:orgNumber"] = org_number
        issued["urn:altinn:authenticatemethod"] = "maskinporten"
        issued["urn:altinn:authlevel"] = 3
        issued["iss"] = altinn_issuer_for(request.origin)
        issued["sid"] = str(uuid.uuid4())
        return self._issue(request, "maskinporten", claims, issued, now)

    async def _exchange_idporten(
        self, request: Request, claims: dict[str, Any], now: float
    ) -> Response:
        granted = scopes(claims)
        with self._shared.lock:
            partner_scopes = set(self._partner_scopes)
        # Altinn checks the scope before the person (AuthenticateIdPortenToken): Forbid() first.
        if not any(s.startswith("altinn:") for s in granted) and not partner_scopes & granted:
            return empty_response(403)
        person_number, acr = pid(claims), claims.get("acr")
        if person_number is None or not isinstance(acr, str) or not acr:
            raise _unauthorized()
        with self._shared.lock:
            person = self._register.persons.get(person_number)
        if person is None:
            raise _unauthorized()
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
            **_dotnet_claims(claims, _DROPPED_IDPORTEN_CLAIMS),
        }
        issued["iss"] = altinn_issuer_for(request.origin)
        issued["sid"] = str(uuid.uuid4())
        # GenerateToken(principal, token.ValidTo): the Altinn token ends with the ID-porten one.
        expires = int(claims["exp"])
        return self._issue(request, "id-porten", claims, issued, now, expires=expires)

    def _issue(
        self,
        request: Request,
        provider: str,
        exchanged: dict[str, Any],
        issued: dict[str, Any],
        now: float,
        *,
        expires: int | None = None,
    ) -> Response:
        """The Altinn token with ``issued`` claims as the exchange's answer, recorded."""
        token, written = self._altinn.issue_with_claims(issued, now, expires=expires)
        record = ExchangeRecord(
            provider=provider,
            token_claims=read_only(exchanged),
            altinn_claims=read_only(written),
            exchanged_at=now,
        )
        with self._shared.lock:
            self._exchanges.add(record)
        return negotiated_string(request, token)

    # -- refresh -----------------------------------------------------------------------------

    @route("GET", rf"{API}/refresh", "authentication.refresh")
    async def refresh(self, request: Request) -> Response:
        """``GET /refresh``: a fresh Altinn token from a valid one (Bearer, then cookie)."""
        now = self._shared.clock()
        claims = self._altinn.authenticate(request, now)
        if claims is None:
            # [Authorize] challenge from the JwtCookie handler: a bare 401.
            return empty_response(401)
        issued = {k: v for k, v in claims.items() if k not in ("iat", "nbf", "exp")}
        return negotiated_string(request, self._altinn.issue(issued, now))

    # -- discovery ---------------------------------------------------------------------------

    @route(
        "GET",
        rf"{API}/openid/\.well-known/openid-configuration",
        "authentication.openid_configuration",
    )
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

    @route("GET", rf"{API}/openid/\.well-known/openid-configuration/jwks", "authentication.jwks")
    async def jwks(self, request: Request) -> Response:
        """``GET /openid/.well-known/openid-configuration/jwks``."""
        return json_response({"keys": self._altinn.key.jwks()})
