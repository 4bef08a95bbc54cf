"""Who a Dialogporten request is: the three token schemes (``JwtBearerTokenSchemas`` in the
WebApi's ``appsettings.json``: Maskinporten raw, Altinn exchanged, ID-porten raw) and the
policies of ``AuthorizationOptionsSetup.cs``.

- No token, or one no scheme accepts: the JwtBearer challenge, ``401`` with no body and
  ``WWW-Authenticate: Bearer`` (``error="invalid_token"`` when a token was sent).
- The end-user policy needs ``digdir:dialogporten`` or ``digdir:dialogporten.noconsent`` in
  ``scope``; the service-owner search policy needs ``digdir:dialogporten.serviceprovider`` and
  ``digdir:dialogporten.serviceprovider.search``. A failed policy is ``403`` with no body (a
  forbid, not an endpoint's error response).
- The end user is a person (``pid``) or a system user (``authorization_details``); a token
  naming neither (a plain Maskinporten or enterprise token on the end-user API) is refused
  with ``403`` (inferred: the source cannot build an end-user id from it).
- Authentication level: Altinn's ``urn:altinn:authlevel``; for ID-porten ``acr``
  (``idporten-loa-substantial`` 3, ``-high`` 4); a system user counts as 3.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._toolkit.asgi import Request
from .._toolkit.claims import (
    altinn_org_number,
    consumer_org_number,
    iso6523_org_number,
    pid,
    scopes,
    system_user,
)
from .._toolkit.jose import IssuedTokens
from .._toolkit.parties import Caller
from .._toolkit.responses import empty_response
from .._toolkit.router import Refusal

END_USER_SCOPES = frozenset({"digdir:dialogporten", "digdir:dialogporten.noconsent"})
SERVICE_OWNER_SCOPE = "digdir:dialogporten.serviceprovider"
SEARCH_SCOPE = "digdir:dialogporten.serviceprovider.search"
_LEVELS = {"idporten-loa-low": 0, "idporten-loa-substantial": 3, "idporten-loa-high": 4}


@dataclass(frozen=True, slots=True)
class Bearers:
    """The issuers whose tokens Dialogporten accepts."""

    maskinporten: IssuedTokens
    altinn: IssuedTokens
    idporten: IssuedTokens


@dataclass(frozen=True, slots=True)
class EndUser:
    """The end user of a request.

    Attributes:
        caller: who they are, as the party directory sees them.
        actor_id: the end-user id with its prefix (``urn:altinn:person:identifier-no:…`` or
            ``urn:altinn:systemuser:uuid:…``), as seen logs record it.
        auth_level: the authentication level.
        consumer_org: the token's ``consumer`` organisation.
        supplier_org: the token's ``supplier`` organisation (a delegated Maskinporten token).
    """

    caller: Caller
    actor_id: str
    auth_level: int
    consumer_org: str | None
    supplier_org: str | None


def unauthorized(*, invalid: bool) -> Refusal:
    """The JwtBearer challenge."""
    value = 'Bearer error="invalid_token"' if invalid else "Bearer"
    return Refusal(empty_response(401, headers=[("www-authenticate", value)]))


def authenticate(request: Request, bearers: Bearers, now: float) -> dict[str, Any]:
    """The claims of the request's token, if one of the schemes accepts it.

    Raises:
        Refusal: 401 without a token, or with one no scheme accepts.
    """
    token = request.bearer_token()
    if not token:
        raise unauthorized(invalid=False)
    for issuer in (bearers.maskinporten, bearers.altinn, bearers.idporten):
        claims = issuer.claims(token, origin=request.origin, now=now)
        if claims is None:
            continue
        if issuer is bearers.idporten and "client_id" not in claims:
            break  # an id_token, signed by the same key: no access token
        return claims
    raise unauthorized(invalid=True)


def end_user(claims: Mapping[str, Any]) -> EndUser:
    """The end user the claims name, once the end-user policy let them in.

    Raises:
        Refusal: 403 when the scope is missing or the token names no end user.
    """
    if not scopes(claims) & END_USER_SCOPES:
        raise Refusal(empty_response(403))
    caller = Caller.from_claims(claims)
    consumer = consumer_org_number(claims)
    supplier = iso6523_org_number(claims.get("supplier"))
    user = system_user(claims)
    if user is not None:
        return EndUser(
            caller,
            f"urn:altinn:systemuser:uuid:{user.ids[0]}",
            3,
            consumer or altinn_org_number(claims),
            supplier,
        )
    person = pid(claims)
    if person is None:
        raise Refusal(empty_response(403))
    return EndUser(
        caller, f"urn:altinn:person:identifier-no:{person}", _level(claims), consumer, supplier
    )


def service_owner(claims: Mapping[str, Any], service_owners: Mapping[str, str]) -> str:
    """The org code of the service owner a token names, for the service-owner search.

    Raises:
        Refusal: 403 when a scope is missing or the consumer is no registered service owner.
    """
    granted = scopes(claims)
    if SERVICE_OWNER_SCOPE not in granted or SEARCH_SCOPE not in granted:
        raise Refusal(empty_response(403))
    org_number = consumer_org_number(claims) or altinn_org_number(claims)
    org = service_owners.get(org_number) if org_number is not None else None
    if org is None:
        raise Refusal(empty_response(403))
    return org


def _level(claims: Mapping[str, Any]) -> int:
    level = claims.get("urn:altinn:authlevel")
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    if isinstance(level, str) and level.isdigit():
        return int(level)
    acr = claims.get("acr")
    if isinstance(acr, str):
        if acr in _LEVELS:
            return _LEVELS[acr]
        if acr[-1:].isdigit():
            return int(acr[-1])
    return 0
