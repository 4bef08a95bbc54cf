"""The vendor's list of the system users of one of its systems:
``GET /authentication/api/v1/systemuser/vendor/bysystem/{systemId}``.

Read from altinn-authentication (``Altinn/altinn-authentication`` at ``ad4f6f36``):

- ``src/Authentication/Controllers/SystemUserController.cs``, ``GetAllSystemUsersByVendorSystem``:
  policy ``ScopeSystemRegisterWrite``; the vendor is the token's ``consumer``
  (``RetrieveOrgNoFromToken``), ``Unauthorized()`` without one; ``?token=`` is an ``Opaque<long>``
  cursor; the next link is ``Url.Link`` to the same route with the next cursor.
- ``src/Authentication/AuthenticationHost.cs``: the policy needs the scope
  ``altinn:authentication/systemregister.write`` or ``.admin`` (``AuthzConstants.cs``); the
  ``JwtCookie`` scheme reads Bearer, then the ``AltinnStudioRuntime`` cookie, and accepts Altinn
  tokens and the issuers in ``OidcProviders`` (``JwtCookieHandler.cs``): in TT02 that includes
  Maskinporten, whose tokens the system integration tests send here (``Common.cs``).
- ``src/Authentication/Services/SystemUserService.cs``: an unknown system, or one whose
  ``SystemVendorOrgNumber`` is not the caller's, is ``Problem.SystemIdNotFound``
  (``AUTH-00011``, 404, ``src/Core/Problems/Problem.cs``).
- ``SystemUserRepository.GetAllSystemUsersByVendorSystem`` and ``src/Core/Models/Page.cs``: the
  system's users in ``sequence_no`` order from the cursor on, ``PaginationOptions.Size`` (50 in
  ``appsettings.json``) a page, the cursor being the first item of the next page.
- ``src/Authentication/Model/Paginated.cs``, ``ListObject.cs``, ``Opaque.cs`` and
  ``src/Core/Models/SystemUserExternalDTO.cs``: ``{"links": {"next": …}, "data": […]}``, nulls
  left out (``JsonIgnoreCondition.WhenWritingNull``), the cursor base64url-encoded JSON.
- ``Altinn.Authorization.ProblemDetails`` (``Altinn/altinn-authorization-utils``,
  ``AltinnProblemDetails.cs``): the 404's ``type`` ``urn:altinn:error:AUTH-00011``, ``code``,
  ``traceId`` and ``statusDescription``.

The emulator's system register has no separately registered systems: a system exists for a
vendor while one of its system users names it (see `SystemRegister`).
"""

from __future__ import annotations

import base64
import binascii
import json
import urllib.parse
from typing import Any

from .._maskinporten import ListedSystemUser, SystemRegister
from .._toolkit.asgi import Request, Response
from .._toolkit.claims import consumer_org_number, scopes
from .._toolkit.dotnet import format_utc
from .._toolkit.jose import IssuedTokens
from .._toolkit.responses import (
    PROBLEM_JSON,
    aspnet_trace_id,
    empty_response,
    json_response,
    problem_response,
    validation_problem,
)
from .._toolkit.router import Refusal, route
from .._toolkit.state import SharedState
from .tokens import API, RUNTIME_COOKIE, AltinnTokens

SYSTEMREGISTER_SCOPES = frozenset(
    {"altinn:authentication/systemregister.write", "altinn:authentication/systemregister.admin"}
)
PAGE_SIZE = 50


def _system_not_found() -> Refusal:
    code = "AUTH-00011"
    return Refusal(
        json_response(
            {
                "type": f"urn:altinn:error:{code}",
                "title": "The Id does not refer to a Registered System.",
                "status": 404,
                "code": code,
                "traceId": aspnet_trace_id(),
                "statusDescription": "Not Found",
            },
            404,
            content_type=PROBLEM_JSON,
        )
    )


def _cursor(request: Request) -> int:
    """The ``token`` parameter: an ``Opaque<long>``, base64url-encoded JSON."""
    raw = request.param("token")
    if raw is None or raw == "":
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeError):
        value = None
    if not isinstance(value, int) or isinstance(value, bool):
        # Model binding cannot make an Opaque<long> of it: [ApiController]'s automatic 400.
        raise Refusal(validation_problem("token", raw))
    return max(value, 0)


def _opaque(value: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _external(user: ListedSystemUser) -> dict[str, Any]:
    """``SystemUserExternalDTO`` (``productName`` and ``supplierName`` are not read from the
    database on this path, so they are empty)."""
    return {
        "id": user.id,
        "integrationTitle": user.integration_title or user.system_id,
        "systemId": user.system_id,
        "productName": "",
        "reporteeOrgNo": user.customer_org,
        "created": format_utc(user.created),
        "isDeleted": False,
        "supplierName": "",
        "supplierOrgno": user.vendor_org,
        "externalRef": user.external_ref or user.customer_org,
        "userType": "standard",
    }


class VendorSystemUsers:
    """``GET /systemuser/vendor/bysystem/{systemId}``."""

    def __init__(
        self,
        shared: SharedState,
        altinn: AltinnTokens,
        maskinporten: IssuedTokens,
        register: SystemRegister,
    ) -> None:
        self._shared = shared
        self._altinn = altinn
        self._maskinporten = maskinporten
        self._register = register

    @route(
        "GET",
        rf"{API}/systemuser/vendor/bysystem/(?P<system_id>[^/]+)",
        "authentication.vendor_system_users",
    )
    async def by_system(self, request: Request) -> Response:
        """The system users of the caller's system, 50 a page, paged by ``links.next``."""
        claims = self._caller(request)
        if not scopes(claims) & SYSTEMREGISTER_SCOPES:
            # The authorization policy's Forbid(): no body.
            return empty_response(403)
        # Authorization, then model binding, then the action's own checks.
        cursor = _cursor(request)
        vendor_org = consumer_org_number(claims)
        if vendor_org is None:
            raise Refusal(problem_response(401))
        system_id = request.path_params["system_id"]
        listed = self._register.of_system(system_id, vendor_org)
        if listed is None:
            raise _system_not_found()
        page = [user for user in listed if user.sequence >= cursor][: PAGE_SIZE + 1]
        links: dict[str, str] = {}
        if len(page) > PAGE_SIZE:
            path = f"{API}/systemuser/vendor/bysystem/{urllib.parse.quote(system_id, safe='')}"
            links["next"] = f"{request.origin}{path}?token={_opaque(page[PAGE_SIZE].sequence)}"
        return json_response({"links": links, "data": [_external(u) for u in page[:PAGE_SIZE]]})

    def _caller(self, request: Request) -> dict[str, Any]:
        """The claims of a valid Altinn or Maskinporten token (the ``JwtCookie`` scheme)."""
        now = self._shared.clock()
        claims = self._altinn.authenticate(request, now)
        if claims is None:
            token = request.bearer_token() or request.cookies().get(RUNTIME_COOKIE)
            if token:
                claims = self._maskinporten.claims(token, origin=request.origin, now=now)
        if claims is None:
            # The [Authorize] challenge: a bare 401.
            raise Refusal(empty_response(401))
        return claims
