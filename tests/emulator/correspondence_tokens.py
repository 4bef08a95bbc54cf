"""Tokens for the Correspondence tests, got by the protocol: a system user's Maskinporten grant
(exchanged or raw), a person's ID-porten login exchanged, a sender's raw Maskinporten token,
and Dialogporten dialog tokens signed with a test Ed25519 key and checked by a verifier of
that signature (the emulated Dialogporten is another package)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey, RSAKey

from altinn_async.testing import DEFAULT_PID, Emulator

from .conftest import (
    BASIC,
    DIGDIR,
    EXCHANGE,
    REDIRECT,
    SECRET,
    Clock,
    idporten_tokens,
    maskinporten_token,
    systemuser_details,
)

API = "/platform/correspondence/api/v1/correspondence"
RESOURCE = "skd-melding"
READ = "altinn:correspondence.read"
WRITE = "altinn:correspondence.write"
SERVICE_OWNER = "altinn:serviceowner"
SUBSCRIBE = "altinn:events.subscribe"
CUSTOMER = "310000001"
OTHER_CUSTOMER = "310000002"
VENDOR = "correspondence-vendor"
VENDOR_ORG = "312000004"
SENDER_CLIENT = "correspondence-sender"
IDPORTEN_EXCHANGE = "/platform/authentication/api/v1/exchange/id-porten"
PERSON_URN = f"urn:altinn:person:identifier-no:{DEFAULT_PID}"


def org_urn(org: str) -> str:
    return f"urn:altinn:organization:identifier-no:{org}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def system_user_token(
    emu: Emulator,
    http: httpx.AsyncClient,
    key: RSAKey,
    clock: Clock,
    customer: str = CUSTOMER,
    *,
    scope: str = READ,
    exchange: bool = True,
) -> str:
    """A token of a system user owned by ``customer`` (exchanged to an Altinn token, or the
    raw Maskinporten one)."""
    emu.add_maskinporten_client(
        VENDOR,
        org_number=VENDOR_ORG,
        scopes=[READ, WRITE, SERVICE_OWNER, SUBSCRIBE],
        jwks=[key.as_dict(private=False)],
    )
    emu.add_system_user(client_id=VENDOR, customer_org=customer)
    token = await maskinporten_token(
        http,
        key,
        clock.now,
        iss=VENDOR,
        scope=scope,
        authorization_details=systemuser_details(customer),
    )
    if not exchange:
        return token
    response = await http.get(EXCHANGE, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.text


async def sender_token(
    emu: Emulator,
    http: httpx.AsyncClient,
    key: RSAKey,
    clock: Clock,
    *,
    scope: str = f"{SERVICE_OWNER} {WRITE}",
    org: str = DIGDIR,
    exchange: bool = False,
) -> str:
    """The sender's (a service owner's) own Maskinporten token, raw by default."""
    emu.add_maskinporten_client(
        SENDER_CLIENT,
        org_number=org,
        scopes=[READ, WRITE, SERVICE_OWNER],
        jwks=[key.as_dict(private=False)],
    )
    token = await maskinporten_token(http, key, clock.now, iss=SENDER_CLIENT, scope=scope)
    if not exchange:
        return token
    response = await http.get(EXCHANGE, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.text


async def person_token(
    emu: Emulator,
    http: httpx.AsyncClient,
    key: RSAKey,
    clock: Clock,
    pid: str = DEFAULT_PID,
    *,
    scope: str = READ,
) -> str:
    """A person's ID-porten login, exchanged to an Altinn token."""
    emu.add_idporten_client(
        BASIC,
        redirect_uris=[REDIRECT],
        client_secret=SECRET,
        scopes=["openid", "profile", READ, SUBSCRIBE],
    )
    tokens = await idporten_tokens(
        emu, http, key, clock.now, BASIC, pid=pid, scope=f"openid profile {scope}"
    )
    response = await http.get(IDPORTEN_EXCHANGE, headers=bearer(tokens["access_token"]))
    assert response.status_code == 200, response.text
    return response.text


class DialogTokens:
    """A stand-in for Dialogporten's dialog tokens: Ed25519 JWS with its claims, and a verifier
    of exactly these tokens for the Correspondence service."""

    def __init__(self) -> None:
        self.key = OKPKey.generate_key("Ed25519")

    def issue(
        self,
        dialog_id: str,
        party: str,
        *,
        now: float,
        actions: str = "read",
        resource: str = RESOURCE,
        origin: str = "http://altinn.localhost",
        lifetime: int = 600,
    ) -> str:
        claims = {
            "jti": str(uuid.uuid4()),
            "c": party,
            "l": 3,
            "p": party,
            "s": f"urn:altinn:resource:{resource}",
            "i": dialog_id,
            "a": actions,
            "iss": f"{origin}/platform/dialogporten/api/v1",
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now) + lifetime,
        }
        return jwt.encode(
            {"alg": "Ed25519", "typ": "JWT"}, claims, self.key, algorithms=["Ed25519"]
        )

    def verify(self, token: str, origin: str, now: float) -> Mapping[str, Any] | None:
        try:
            claims = dict(jwt.decode(token, self.key, algorithms=["Ed25519"]).claims)
        except (JoseError, ValueError):
            return None
        if claims.get("iss") != f"{origin}/platform/dialogporten/api/v1":
            return None
        if not claims["nbf"] <= now <= claims["exp"]:
            return None
        return claims
