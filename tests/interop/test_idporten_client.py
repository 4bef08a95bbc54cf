"""IDPortenClient against a real OpenID provider (oidc-provider, set up as ID-porten)."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import attrs
import httpx
import pytest

import altinn_async as altinn

from ..helpers import Clock
from .conftest import OidcClient, OidcProvider, ProviderSettings

SCOPES = ["openid", "profile", "altinn:instances.read"]


@pytest.fixture(scope="module")
def oidc_provider_settings() -> ProviderSettings:
    # Opaque access tokens: oidc-provider answers userinfo and revocation only for those.
    return ProviderSettings(access_token_format="opaque")


@attrs.define
class Setup:
    provider: OidcProvider
    environment: altinn.Environment
    http: httpx.AsyncClient
    token_requests: list[httpx.Request]

    def auth(self, name: str, **options: Any) -> altinn.IDPortenClient:
        client: OidcClient = self.provider.clients[name]
        settings: dict[str, Any] = {
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uri,
            "scopes": SCOPES,
            "environment": self.environment,
            "http_client": self.http,
            "token_endpoint_auth_method": client.token_endpoint_auth_method,
        }
        if client.client_secret is not None:
            settings["client_secret"] = client.client_secret
        if client.private_key_pem is not None:
            settings["key"] = altinn.SigningKey.from_pem(client.private_key_pem, kid=client.kid)
        return altinn.IDPortenClient(**(settings | options))

    async def login(self, auth: altinn.IDPortenClient, **options: Any) -> altinn.LoginSession:
        login = auth.start_login()
        callback = await self.provider.login(login.url, **options)
        return await auth.complete_login(callback, login)


@pytest.fixture
async def setup(oidc_provider: OidcProvider) -> AsyncIterator[Setup]:
    token_requests: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path == "/token":
            token_requests.append(request)

    async with httpx.AsyncClient(event_hooks={"request": [record]}) as http:
        server = await altinn.AuthorizationServer.discover(oidc_provider.issuer, http_client=http)
        environment = altinn.Environment(
            name="oidc-provider",
            maskinporten=altinn.TEST.maskinporten,
            platform="https://platform.example",
            idporten=server,
        )
        yield Setup(oidc_provider, environment, http, token_requests)


async def test_discovery_reads_the_endpoints(setup: Setup) -> None:
    server = setup.environment.idporten
    assert server is not None
    assert server.issuer == setup.provider.issuer
    assert server.pushed_authorization_request_endpoint is not None
    assert server.end_session_endpoint is not None
    assert server.authorization_response_iss_parameter_supported


@pytest.mark.parametrize("name", ["basic", "post", "private_key_jwt", "public"])
async def test_login_with_each_client_authentication(setup: Setup, name: str) -> None:
    auth = setup.auth(name)
    person = next(iter(setup.provider.persons))
    session = await setup.login(auth, person=person)
    assert session.claims.pid == person
    assert session.claims.amr == ("TestID",)
    assert session.claims.acr == "idporten-loa-substantial"
    assert (await auth.session().get_token()).access_token == session.access_token


async def test_acr_high_when_asked(setup: Setup) -> None:
    session = await setup.login(setup.auth("basic", acr_values="idporten-loa-high"))
    assert session.claims.acr == "idporten-loa-high"


async def test_pushed_authorization_request(setup: Setup) -> None:
    auth = setup.auth("private_key_jwt")
    login = await auth.start_pushed_login()
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(login.url).query))
    assert set(params) == {"client_id", "request_uri"}
    session = await auth.complete_login(await setup.provider.login(login.url), login)
    assert session.claims.pid is not None


async def test_denied_login(setup: Setup) -> None:
    auth = setup.auth("basic")
    login = auth.start_login()
    with pytest.raises(altinn.AuthorizationError) as info:
        await auth.complete_login(await setup.provider.login(login.url, deny=True), login)
    assert info.value.error == "access_denied"


async def test_refresh_rotates_once_for_many_waiting_requests(setup: Setup) -> None:
    clock = Clock(ticking=True)
    store = altinn.MemoryTokenStore()
    auth = setup.auth("basic", store=store, clock=clock, allowed_origins=["https://api.example"])
    first = await setup.login(auth)
    before = len(setup.token_requests)
    clock.advance(110)  # inside the refresh margin of the 120 s access token
    api = httpx.AsyncClient(
        auth=auth.session(), transport=httpx.MockTransport(lambda request: httpx.Response(200))
    )
    async with api, anyio.create_task_group() as group:
        for _ in range(100):
            group.start_soon(api.get, "https://api.example/")
    assert len(setup.token_requests) == before + 1
    stored = await store.load("default")
    assert stored is not None
    assert stored.refresh_token not in (None, first.refresh_token)
    # oidc-provider rotates: the spent refresh token is refused.
    client = setup.provider.clients["basic"]
    assert client.client_secret is not None
    spent = await setup.http.post(
        setup.environment.idporten.token_endpoint,  # type: ignore[union-attr]
        data={"grant_type": "refresh_token", "refresh_token": first.refresh_token},
        auth=(client.client_id, client.client_secret),
    )
    assert spent.status_code == 400
    assert spent.json()["error"] == "invalid_grant"


async def test_a_refused_refresh_token_means_log_in_again(setup: Setup) -> None:
    clock = Clock(ticking=True)
    auth = setup.auth("post", clock=clock)
    await setup.login(auth)
    await auth.session().revoke()  # revokes the grant at the provider and forgets it here
    with pytest.raises(altinn.LoginRequiredError):
        await auth.session().get_token()
    # Revoked at the provider, but kept locally: the refresh is refused and the session dropped.
    other = setup.auth("post", clock=clock)
    session = await setup.login(other)
    copy = altinn.MemoryTokenStore()
    await copy.save("default", session)  # the same tokens, kept by another process
    second = setup.auth("post", clock=clock, store=copy)
    await other.session().revoke()
    clock.advance(200)
    with pytest.raises(altinn.LoginRequiredError, match="log in again"):
        await second.session().get_token()
    assert await second.session().load() is None


async def test_userinfo(setup: Setup) -> None:
    auth = setup.auth("basic")
    session = await setup.login(auth)
    info = await auth.session().userinfo()
    assert info["sub"] == session.claims.sub


async def test_logout_returns_to_the_app_with_state(setup: Setup) -> None:
    auth = setup.auth("basic")
    await setup.login(auth)
    client = setup.provider.clients["basic"]
    url = await auth.session().logout_url(
        post_logout_redirect_uri=client.post_logout_redirect_uri, state="bye"
    )
    back = await setup.provider.logout(url)
    assert back.startswith(client.post_logout_redirect_uri)
    assert "state=bye" in back
    with pytest.raises(altinn.LoginRequiredError):
        await auth.session().get_token()


async def test_login_in_browser(setup: Setup, free_port: Callable[[], int]) -> None:
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    auth = setup.auth("public", redirect_uri=redirect)
    announced = anyio.Event()
    shown: list[str] = []
    result: list[altinn.LoginSession] = []

    def announce(text: str) -> None:
        shown.append(text)
        announced.set()

    async def log_in() -> None:
        result.append(await auth.login_in_browser(open_browser=False, announce=announce))

    async with anyio.create_task_group() as group:
        group.start_soon(log_in)
        await announced.wait()
        callback = await setup.provider.login(shown[0].split(": ", 1)[1])
        async with httpx.AsyncClient() as browser:
            assert (await browser.get(callback)).status_code == 200
    assert result[0].claims.pid is not None
