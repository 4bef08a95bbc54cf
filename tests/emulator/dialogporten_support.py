"""What the Dialogporten and Authorized Parties tests share: tokens got by the protocol (a grant
to Maskinporten, an ID-porten login, an exchange), and small request helpers."""

from __future__ import annotations

from typing import Any

import httpx
from joserfc.jwk import RSAKey

from altinn_async.testing import Emulator

from .conftest import (
    BASIC,
    DIGDIR,
    REDIRECT,
    SECRET,
    Clock,
    idporten_tokens,
    make_grant,
    request_token,
    systemuser_details,
)

DP = "/platform/dialogporten/api/v1"
SEARCH = f"{DP}/enduser/dialogs"
AM = "/platform/accessmanagement/api/v1"
DP_SCOPE = "digdir:dialogporten"
CUSTOMER = "310000001"
CUSTOMER_URN = f"urn:altinn:organization:identifier-no:{CUSTOMER}"
RESOURCE = "urn:altinn:resource:super-simple-service"
PROBLEM = "application/problem+json; charset=utf-8"
EXCHANGE_MP = "/platform/authentication/api/v1/exchange/maskinporten"
EXCHANGE_IDP = "/platform/authentication/api/v1/exchange/id-porten"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def maskinporten(
    emu: Emulator,
    http: httpx.AsyncClient,
    key: RSAKey,
    clock: Clock,
    *,
    scope: str = DP_SCOPE,
    customer: str | None = CUSTOMER,
    client_id: str = "dp-client",
    org_number: str = DIGDIR,
) -> str:
    """A raw Maskinporten token of ``client_id`` (digdir's), for the system user at
    ``customer`` (None: no system user)."""
    emu.add_maskinporten_client(
        client_id, org_number=org_number, scopes=scope.split(), jwks=[key.as_dict(private=False)]
    )
    origin = f"{http.base_url.scheme}://{http.base_url.netloc.decode()}"
    claims: dict[str, Any] = {
        "iss": client_id,
        "scope": scope,
        "aud": emu.maskinporten_issuer_for(origin),
    }
    if customer is not None:
        emu.add_system_user(client_id=client_id, customer_org=customer)
        claims["authorization_details"] = systemuser_details(customer)
    response = await request_token(http, make_grant(key, clock.now, **claims))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def exchanged(http: httpx.AsyncClient, token: str, path: str = EXCHANGE_MP) -> str:
    """The Altinn token exchanged for ``token``."""
    response = await http.get(path, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.text


async def person(
    emu: Emulator,
    http: httpx.AsyncClient,
    key: RSAKey,
    clock: Clock,
    *,
    scope: str = f"openid {DP_SCOPE}",
    pid: str | None = None,
) -> str:
    """A raw ID-porten access token of a person (the default person unless ``pid``)."""
    emu.add_idporten_client(
        BASIC,
        redirect_uris=[REDIRECT],
        client_secret=SECRET,
        scopes=[
            "openid",
            "profile",
            DP_SCOPE,
            "altinn:portal/enduser",
            "altinn:accessmanagement/authorizedparties",
            "altinn:instances.read",
        ],
    )
    tokens = await idporten_tokens(emu, http, key, clock.now, BASIC, pid=pid, scope=scope)
    return str(tokens["access_token"])


async def search(
    http: httpx.AsyncClient, token: str, params: Any = None, **headers: str
) -> httpx.Response:
    return await http.get(SEARCH, params=params, headers={**bearer(token), **headers})


async def page_of(http: httpx.AsyncClient, token: str, params: Any) -> dict[str, Any]:
    response = await search(http, token, params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int, key: str, text: str) -> dict[str, Any]:
    """A Dialogporten ProblemDetails with ``text`` among the messages of ``errors[key]``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://datatracker.ietf.org/doc/html/rfc")
    assert body["instance"] == response.request.url.path.removeprefix("/platform/dialogporten")
    assert body["traceId"].startswith("00-")
    assert any(text in message for message in body["errors"][key]), body
    return body
