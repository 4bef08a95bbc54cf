"""A login session owns what is derived from it; sharing along a chain is the default.

Defects 1 (wrong person), 4 (a per-request exchange exchanged again), 8 (a token client carrying
the same auth hung) of the request-path issue.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import attrs
import httpx
import pytest
from joserfc import jws

import altinn_async as altinn
from altinn_async.testing import DEFAULT_PID, Emulator

from .helpers import Clock, signing_key

REDIRECT = "https://app.example/callback"
SCOPES = ["openid", "altinn:instances.read"]
OTHER_PID = "21879498012"  # Digdir's own synthetic example (valid check digits)


@attrs.define
class World:
    emulator: Emulator
    clock: Clock
    http: httpx.AsyncClient

    def idporten(self, **options: Any) -> altinn.IDPortenClient:
        settings: dict[str, Any] = {
            "client_id": "web",
            "client_secret": "s3cret-value",
            "redirect_uri": REDIRECT,
            "scopes": SCOPES,
            "environment": self.emulator.environment,
            "http_client": self.http,
            "clock": self.clock,
        }
        return altinn.IDPortenClient(**(settings | options))

    async def login(self, client: altinn.IDPortenClient, pid: str, key: str) -> None:
        login = client.start_login()
        callback = await self.emulator.idporten_login(login.url, pid=pid)
        await client.complete_login(callback, login, session_key=key)

    def api(self, auth: httpx.Auth) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.emulator.transport(),
            auth=auth,
            base_url=self.emulator.environment.platform,
        )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = Clock()
    emulator = Emulator(clock=clock)
    emulator.add_person(OTHER_PID, name="Kari Nordmann")
    emulator.add_idporten_client(
        "web",
        redirect_uris=[REDIRECT],
        client_secret="s3cret-value",
        scopes=["openid", "profile", "altinn:instances.read"],
        post_logout_redirect_uris=["https://app.example/bye"],
    )
    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        yield World(emulator, clock, http)


def pid_of(token: altinn.AccessToken) -> str:
    claims = json.loads(jws.extract_compact(token.access_token.encode()).payload)
    return str(claims["pid"])


async def test_another_persons_login_under_the_key_is_not_served_the_first_persons_token(
    world: World,
) -> None:
    idporten = world.idporten()
    exchange = altinn.AltinnExchangeAuth(idporten.session("browser-session"))
    await world.login(idporten, DEFAULT_PID, "browser-session")
    assert pid_of(await exchange.get_token()) == DEFAULT_PID
    # Person B logs in on the same browser session (the same key): calls are now B's.
    await world.login(idporten, OTHER_PID, "browser-session")
    assert pid_of(await exchange.get_token()) == OTHER_PID
    assert pid_of(await idporten.session("browser-session").get_token()) != DEFAULT_PID
    assert world.emulator.requests["authentication.exchange"] == 2


@pytest.mark.parametrize("ending", ["revoke", "logout"])
async def test_the_exchanged_token_ends_with_its_session(world: World, ending: str) -> None:
    idporten = world.idporten()
    session = idporten.session()
    await world.login(idporten, DEFAULT_PID, "default")
    party = str(world.emulator.person(DEFAULT_PID).party_id)
    async with world.api(altinn.AltinnExchangeAuth(session)) as http:
        response = await http.get(
            "/storage/api/v1/instances", params={"instanceOwner.partyId": party}
        )
        assert response.status_code == 200  # it called Altinn as the person
        if ending == "revoke":
            await session.revoke()
        else:
            await session.logout_url(post_logout_redirect_uri="https://app.example/bye")
        with pytest.raises(altinn.LoginRequiredError):
            await http.get("/storage/api/v1/instances")
    assert len(idporten.cache) == 0  # nothing of the session is left


async def test_a_refused_refresh_ends_the_derived_token_too(world: World) -> None:
    idporten = world.idporten()
    exchange = altinn.AltinnExchangeAuth(idporten.session())
    await world.login(idporten, DEFAULT_PID, "default")
    await exchange.get_token()
    world.clock.advance(3600)  # past the refresh token's inactivity lifetime
    with pytest.raises(altinn.LoginRequiredError, match="log in again"):
        await exchange.get_token()
    assert len(idporten.cache) == 0


async def test_a_login_during_an_exchange_in_flight_does_not_keep_the_old_result() -> None:
    cache = altinn.TokenCache(clock=Clock(1_700_000_000.0))
    release, started = anyio.Event(), anyio.Event()
    calls = 0

    async def exchange() -> altinn.AccessToken:
        # The first exchange is for the person logged in when it started; any later one is for
        # whoever is logged in then.
        nonlocal calls
        calls += 1
        if calls == 1:
            started.set()
            await release.wait()
            return altinn.AccessToken("old-persons-token", 1_700_003_600.0, 1_700_000_000.0)
        return altinn.AccessToken("new-persons-token", 1_700_003_600.0, 1_700_000_000.0)

    results: list[str] = []

    async def caller() -> None:
        token = await cache.get("exchange", exchange, derived_from="session")
        results.append(token.access_token)

    async with anyio.create_task_group() as group:
        group.start_soon(caller)
        group.start_soon(caller)  # waits for the same flight
        await started.wait()
        cache.discard("session")  # another person logged in under the session's key
        release.set()
    assert results == ["new-persons-token", "new-persons-token"]
    token = cache.peek("exchange")
    assert token is not None
    assert token.access_token == "new-persons-token"
    assert calls == 2


async def test_a_new_exchange_per_request_still_exchanges_once(world: World) -> None:
    idporten = world.idporten()
    await world.login(idporten, DEFAULT_PID, "web-session-1")
    for _ in range(20):
        # What a FastAPI handler writes: a new session handle and exchange per request.
        auth = altinn.AltinnExchangeAuth(idporten.session("web-session-1"))
        async with world.api(auth) as http:
            await http.get("/storage/api/v1/instances", params={"instanceOwner.partyId": "1"})
    assert world.emulator.requests["authentication.exchange"] == 1
    assert world.emulator.requests["idporten.token"] == 1  # the login only


async def test_a_new_exchange_per_request_of_one_maskinporten_flow_exchanges_once() -> None:
    emulator = Emulator()
    key = signing_key("k1")
    emulator.add_maskinporten_client(
        "c", org_number="405003309", scopes=["altinn:serviceowner/instances.read"],
        jwks=[key.public_jwk],
    )  # fmt: skip
    async with httpx.AsyncClient(transport=emulator.transport()) as token_http:
        maskinporten = altinn.MaskinportenAuth(
            client_id="c", key=key, scopes=["altinn:serviceowner/instances.read"],
            environment=emulator.environment, http_client=token_http,
        )  # fmt: skip
        for _ in range(10):
            await altinn.AltinnExchangeAuth(maskinporten).get_token()
    assert emulator.requests["maskinporten.token"] == 1
    assert emulator.requests["authentication.exchange"] == 1


def test_an_exchange_must_share_its_upstreams_cache() -> None:
    maskinporten = altinn.MaskinportenAuth(
        client_id="c", key=signing_key(), scopes=["altinn:serviceowner/instances.read"],
        environment=altinn.TEST,
    )  # fmt: skip
    with pytest.raises(altinn.ConfigurationError, match="TokenCache"):
        altinn.AltinnExchangeAuth(maskinporten, cache=altinn.TokenCache())


async def test_a_token_client_that_carries_the_same_auth_does_not_hang() -> None:
    emulator = Emulator()
    key = signing_key("k1")
    emulator.add_maskinporten_client(
        "c", org_number="405003309", scopes=["altinn:serviceowner/instances.read"],
        jwks=[key.public_jwk],
    )  # fmt: skip
    emulator.add_instances("ttd", "app", 3)
    http = httpx.AsyncClient(transport=emulator.transport(), base_url=emulator.environment.platform)
    maskinporten = altinn.MaskinportenAuth(
        client_id="c", key=key, scopes=["altinn:serviceowner/instances.read"],
        environment=emulator.environment, http_client=http,
    )  # fmt: skip
    # The same client for the API calls and (through the chain) for the token requests.
    http.auth = altinn.AltinnExchangeAuth(maskinporten, http_client=http)
    async with http:
        with anyio.fail_after(10):
            response = await http.get("/storage/api/v1/instances", params={"org": "ttd"})
    assert response.status_code == 200
    assert len(response.json()["instances"]) == 3
    # The token requests went without the client's auth: no Altinn token at Maskinporten.
    assert emulator.requests["maskinporten.token"] == 1


async def test_closing_the_outer_flow_closes_the_chain() -> None:
    maskinporten = altinn.MaskinportenAuth(
        client_id="c", key=signing_key(), scopes=["altinn:serviceowner/instances.read"],
        environment=altinn.TEST,
    )  # fmt: skip
    exchange = altinn.AltinnExchangeAuth(maskinporten)
    made = exchange.context.client()
    assert made is maskinporten.context.client()  # one token client for the chain
    async with exchange:
        pass
    assert made.is_closed
    given = httpx.AsyncClient()
    async with (
        given,
        altinn.AltinnExchangeAuth(
            altinn.MaskinportenAuth(
                client_id="c", key=signing_key(), scopes=["altinn:serviceowner/instances.read"],
                environment=altinn.TEST, http_client=given,
            )
        ),
    ):  # fmt: skip
        pass
    assert given.is_closed  # closed by its own async with, not by the chain
