"""IDPortenClient and its sessions against the emulator's ID-porten: login, callback checks,
refresh, logout."""

from __future__ import annotations

import json
import logging
import stat
import urllib.parse
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws

import altinn_async as altinn
from altinn_async.testing import Emulator

from .helpers import Clock, private_pem

REDIRECT = "https://app.example/callback"
LOGOUT_REDIRECT = "https://app.example/logged-out"
SCOPES = ["openid", "altinn:instances.read"]


@attrs.define
class World:
    emulator: Emulator
    clock: Clock
    http: httpx.AsyncClient
    pid: str

    def auth(self, client_id: str = "web", **options: Any) -> altinn.IDPortenClient:
        defaults: dict[str, Any] = {
            "client_id": client_id,
            "client_secret": "s3cret-value" if client_id in ("web", "post") else None,
            "redirect_uri": REDIRECT,
            "scopes": SCOPES,
            "environment": self.emulator.environment,
            "http_client": self.http,
            "clock": self.clock,
        }
        if client_id == "post":
            defaults["token_endpoint_auth_method"] = "client_secret_post"
        if client_id == "jwt":
            defaults["key"] = altinn.SigningKey.from_pem(private_pem(5), kid="jwt-key")
        return altinn.IDPortenClient(**(defaults | options))

    async def login(
        self, auth: altinn.IDPortenClient, *, pushed: bool = False, key: str = "default"
    ) -> altinn.LoginSession:
        login = await auth.start_pushed_login() if pushed else auth.start_login()
        callback = await self.emulator.idporten_login(login.url, pid=self.pid)
        return await auth.complete_login(callback, login, session_key=key)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = Clock()
    emulator = Emulator(clock=clock)
    pid = "24917298544"
    emulator.add_person(pid, name="Test Testesen")
    for client_id, method in (
        ("web", "client_secret_basic"),
        ("post", "client_secret_post"),
        ("jwt", "private_key_jwt"),
    ):
        jwks = []
        if method == "private_key_jwt":
            jwks = [altinn.SigningKey.from_pem(private_pem(5), kid="jwt-key").public_jwk]
        emulator.add_idporten_client(
            client_id,
            redirect_uris=[REDIRECT],
            client_secret="s3cret-value" if method != "private_key_jwt" else None,
            jwks=jwks,
            token_endpoint_auth_method=method,
            scopes=["openid", "profile", "altinn:instances.read"],
            post_logout_redirect_uris=[LOGOUT_REDIRECT],
        )
    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        yield World(emulator, clock, http, pid)


def query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


async def test_the_authorization_request(world: World) -> None:
    auth = world.auth(acr_values="idporten-loa-substantial", ui_locales="nb", prompt="login")
    login = auth.start_login()
    params = query(login.url)
    server = world.emulator.environment.idporten
    assert server is not None
    assert login.url.startswith(f"{server.authorization_endpoint}?")
    assert params["response_type"] == "code"
    assert params["client_id"] == "web"
    assert params["redirect_uri"] == REDIRECT
    assert params["scope"].split() == SCOPES
    assert params["state"] == login.state
    assert params["nonce"] == login.nonce
    assert params["code_challenge_method"] == "S256"
    assert params["code_challenge"] == create_s256_code_challenge(login.code_verifier)
    assert "=" not in params["code_challenge"]
    assert len(params["code_challenge"]) == 43
    assert 43 <= len(login.code_verifier) <= 128
    assert params["acr_values"] == "idporten-loa-substantial"
    assert params["ui_locales"] == "nb"
    assert params["prompt"] == "login"
    # Every login is new: state, nonce and verifier never repeat.
    again = auth.start_login()
    assert {again.state, again.nonce, again.code_verifier}.isdisjoint(
        {login.state, login.nonce, login.code_verifier}
    )


async def test_openid_is_always_asked_for(world: World) -> None:
    params = query(world.auth(scopes=["altinn:instances.read"]).start_login().url)
    assert params["scope"].split() == ["openid", "altinn:instances.read"]


@pytest.mark.parametrize("client_id", ["web", "post", "jwt"])
async def test_login_with_each_client_authentication(world: World, client_id: str) -> None:
    auth = world.auth(client_id)
    session = await world.login(auth)
    assert session.claims.pid == world.pid
    assert session.claims.amr == ("TestID",)
    assert session.claims.acr is not None
    assert session.claims.acr.startswith("idporten-loa-")
    assert session.refresh_token is not None
    token = await auth.session().get_token()
    assert token.access_token == session.access_token
    assert world.emulator.requests["idporten.token"] == 1


async def test_pushed_authorization_request(world: World) -> None:
    auth = world.auth()
    login = await auth.start_pushed_login()
    assert set(query(login.url)) == {"client_id", "request_uri"}
    callback = await world.emulator.idporten_login(login.url, pid=world.pid)
    session = await auth.complete_login(callback, login)
    assert session.claims.pid == world.pid
    assert world.emulator.requests["idporten.par"] == 1


async def test_callback_as_query_parameters(world: World) -> None:
    auth = world.auth()
    login = auth.start_login()
    callback = await world.emulator.idporten_login(login.url, pid=world.pid)
    session = await auth.complete_login(query(callback), login)
    assert session.claims.pid == world.pid


async def test_access_denied_is_an_authorization_error(world: World) -> None:
    auth = world.auth()
    login = auth.start_login()
    callback = await world.emulator.idporten_login(login.url, deny=True)
    with pytest.raises(altinn.AuthorizationError) as info:
        await auth.complete_login(callback, login)
    assert info.value.error == "access_denied"
    assert world.emulator.requests["idporten.token"] == 0


async def test_forged_state_is_refused_before_the_code_is_used(world: World) -> None:
    auth = world.auth()
    login = auth.start_login()
    callback = await world.emulator.idporten_login(login.url, pid=world.pid)
    forged = callback.replace(f"state={login.state}", "state=attacker")
    with pytest.raises(altinn.CallbackError, match="state"):
        await auth.complete_login(forged, login)
    assert world.emulator.requests["idporten.token"] == 0


async def test_mixed_up_issuer_is_refused(world: World) -> None:
    auth = world.auth()
    login = auth.start_login()
    params = query(await world.emulator.idporten_login(login.url, pid=world.pid))
    with pytest.raises(altinn.CallbackError, match="issuer"):
        await auth.complete_login(params | {"iss": "https://evil.example"}, login)
    params.pop("iss")
    with pytest.raises(altinn.CallbackError, match="no iss"):
        await auth.complete_login(params, login)


async def test_callback_on_another_url_is_refused(world: World) -> None:
    auth = world.auth()
    login = auth.start_login()
    callback = await world.emulator.idporten_login(login.url, pid=world.pid)
    with pytest.raises(altinn.CallbackError, match="redirect_uri"):
        await auth.complete_login(callback.replace("/callback", "/other"), login)


async def test_nonce_mismatch_is_an_id_token_error(world: World) -> None:
    auth = world.auth()
    login = auth.start_login()
    callback = await world.emulator.idporten_login(login.url, pid=world.pid)
    with pytest.raises(altinn.IDTokenError, match="nonce"):
        await auth.complete_login(callback, attrs.evolve(login, nonce="another"))


async def test_a_lower_acr_than_asked_is_refused(world: World) -> None:
    auth = world.auth(acr_values="idporten-loa-substantial")
    login = auth.start_login()
    callback = await world.emulator.idporten_login(login.url, pid=world.pid)
    demanding = attrs.evolve(login, acr_values=("idporten-loa-high",))
    with pytest.raises(altinn.IDTokenError, match="acr"):
        await auth.complete_login(callback, demanding)


async def test_nobody_logged_in_is_login_required(world: World) -> None:
    with pytest.raises(altinn.LoginRequiredError):
        await world.auth().session().get_token()
    assert world.emulator.requests["idporten.token"] == 0


async def test_refresh_rotates_and_stores_the_new_refresh_token(world: World) -> None:
    store = altinn.MemoryTokenStore()
    auth = world.auth(store=store)
    first = await world.login(auth)
    world.clock.now += 200  # the 120 s access token expired
    token = await auth.session().get_token()
    assert token.access_token != first.access_token
    stored = await store.load("default")
    assert stored is not None
    assert stored.refresh_token not in (None, first.refresh_token)
    assert stored.access_token == token.access_token
    # The old refresh token is spent.
    spent = await world.http.post(
        world.emulator.environment.idporten.token_endpoint,  # type: ignore[union-attr]
        data={"grant_type": "refresh_token", "refresh_token": first.refresh_token},
        auth=("web", "s3cret-value"),
    )
    assert spent.status_code == 400


async def test_concurrent_requests_after_expiry_refresh_once(world: World) -> None:
    auth = world.auth(allowed_origins=["https://api.example"])
    await world.login(auth)
    world.clock.now += 200
    api = httpx.AsyncClient(
        auth=auth.session(), transport=httpx.MockTransport(lambda request: httpx.Response(200))
    )
    async with api, anyio.create_task_group() as group:
        for _ in range(200):
            group.start_soon(api.get, "https://api.example/")
    assert world.emulator.requests["idporten.token"] == 2  # the login, and one refresh


async def test_expired_refresh_token_means_log_in_again_not_a_loop(world: World) -> None:
    store = altinn.MemoryTokenStore()
    auth = world.auth(store=store)
    await world.login(auth)
    world.clock.now += 3600  # past the 600 s refresh inactivity lifetime
    with pytest.raises(altinn.LoginRequiredError, match="log in again"):
        await auth.session().get_token()
    assert await store.load("default") is None
    with pytest.raises(altinn.LoginRequiredError):
        await auth.session().get_token()
    assert world.emulator.requests["idporten.token"] == 2  # the login, one refused refresh


async def test_revoke_ends_the_session(world: World) -> None:
    auth = world.auth()
    session = await world.login(auth)
    await auth.session().revoke()
    assert world.emulator.requests["idporten.revoke"] == 1
    with pytest.raises(altinn.LoginRequiredError):
        await auth.session().get_token()
    refused = await world.http.post(
        world.emulator.environment.idporten.token_endpoint,  # type: ignore[union-attr]
        data={"grant_type": "refresh_token", "refresh_token": session.refresh_token},
        auth=("web", "s3cret-value"),
    )
    assert refused.status_code == 400


async def test_logout_url(world: World) -> None:
    auth = world.auth()
    session = await world.login(auth)
    url = await auth.session().logout_url(post_logout_redirect_uri=LOGOUT_REDIRECT, state="bye")
    params = query(url)
    assert params["id_token_hint"] == session.id_token
    assert params["post_logout_redirect_uri"] == LOGOUT_REDIRECT
    assert params["state"] == "bye"
    response = await world.http.get(url)
    assert response.status_code in (302, 303)
    assert response.headers["location"].startswith(LOGOUT_REDIRECT)
    assert "state=bye" in response.headers["location"]
    with pytest.raises(altinn.LoginRequiredError):
        await auth.session().get_token()


async def test_userinfo(world: World) -> None:
    auth = world.auth()
    await world.login(auth)
    info = await auth.session().userinfo()
    assert info["pid"] == world.pid


async def test_sessions_are_separate(world: World) -> None:
    client = world.auth()
    alice, bob = client.session("alice"), client.session("bob")
    await world.login(client, key="alice")
    assert (await alice.get_token()).access_token
    with pytest.raises(altinn.LoginRequiredError):
        await bob.get_token()
    assert alice.cache_key != bob.cache_key


async def test_file_store_survives_a_restart_with_0600(world: World, tmp_path: Path) -> None:
    path = tmp_path / "sessions" / "idporten.json"
    auth = world.auth(store=altinn.FileTokenStore(path))
    session = await world.login(auth)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A new process: a new auth object, no cache, the same file.
    again = world.auth(store=altinn.FileTokenStore(path))
    assert (await again.session().get_token()).access_token == session.access_token
    world.clock.now += 200
    renewed = await again.session().get_token()
    on_disk = json.loads(path.read_text())["sessions"]["default"]
    assert on_disk["access_token"] == renewed.access_token
    assert on_disk["refresh_token"] != session.refresh_token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_exchange_for_an_altinn_token_keeps_the_upstream_expiry(world: World) -> None:
    auth = world.auth()
    session = await world.login(auth)
    exchange = altinn.AltinnExchangeAuth(auth.session())
    token = await exchange.get_token()
    claims = json.loads(jws.extract_compact(token.access_token.encode()).payload)
    assert claims["pid"] == world.pid
    assert claims["urn:altinn:authlevel"] in (3, 4)
    assert token.expires_at == pytest.approx(session.expires_at, abs=2)
    assert world.emulator.requests["authentication.exchange"] == 1


async def test_no_secret_in_reprs_or_logs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    auth = world.auth()
    login = auth.start_login()
    callback = await world.emulator.idporten_login(login.url, pid=world.pid)
    session = await auth.complete_login(callback, login)
    world.clock.now += 200
    token = await auth.session().get_token()
    secrets = [
        "s3cret-value",
        login.code_verifier,
        session.access_token,
        session.id_token,
        session.refresh_token or "",
        token.access_token,
        query(callback)["code"],
    ]
    person = auth.session(f"web-session-cookie-{world.pid}")
    secrets.append(person.key)
    with pytest.raises(altinn.LoginRequiredError) as info:
        await person.get_token()
    texts = [repr(auth), repr(auth.session()), repr(login), repr(session), repr(session.claims)]
    texts += [repr(token)]
    texts += [repr(person), str(info.value)]
    assert world.pid[:6] + "*****" in repr(session.claims)
    assert world.pid not in repr(session)
    texts += [record.getMessage() for record in caplog.records]
    assert any("logged in" in text for text in texts)
    for text in texts:
        for secret in secrets:
            assert secret not in text


async def test_login_in_browser_for_a_command_line_program(
    world: World, free_port: Callable[[], int]
) -> None:
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    world.emulator.add_idporten_client(
        "cli", redirect_uris=[redirect], token_endpoint_auth_method="none", scopes=SCOPES
    )
    auth = world.auth("cli", redirect_uri=redirect)
    shown: list[str] = []
    announced = anyio.Event()
    result: list[altinn.LoginSession] = []

    def announce(text: str) -> None:
        shown.append(text)
        announced.set()

    async def log_in() -> None:
        result.append(await auth.login_in_browser(open_browser=False, announce=announce))

    async with anyio.create_task_group() as group:
        group.start_soon(log_in)
        await announced.wait()  # the listener is bound before the URL is announced
        url = shown[0].split(": ", 1)[1]
        callback = await world.emulator.idporten_login(url, pid=world.pid)
        # The browser follows the redirect to the program's loopback listener.
        async with httpx.AsyncClient() as browser:
            page = await browser.get(callback)
        assert page.status_code == 200
        assert "close this window" in page.text
    assert result[0].claims.pid == world.pid


async def test_login_in_browser_needs_a_loopback_redirect(world: World) -> None:
    with pytest.raises(altinn.ConfigurationError, match="loopback"):
        await world.auth().login_in_browser(open_browser=False, announce=lambda _: None)


async def test_configuration_errors(world: World) -> None:
    with pytest.raises(altinn.ConfigurationError, match="client_secret"):
        world.auth("x", token_endpoint_auth_method="client_secret_post")
    with pytest.raises(altinn.ConfigurationError, match="key"):
        world.auth("x", token_endpoint_auth_method="private_key_jwt")
    no_idporten = attrs.evolve(world.emulator.environment, idporten=None)
    with pytest.raises(altinn.ConfigurationError, match="no ID-porten"):
        world.auth(environment=no_idporten)


async def test_private_key_jwt_assertion(world: World) -> None:
    auth = world.auth("jwt")
    first = await auth.create_client_assertion()
    second = await auth.create_client_assertion()
    key = altinn.SigningKey.from_pem(private_pem(5), kid="jwt-key")
    from joserfc import jwt  # noqa: PLC0415
    from joserfc.jwk import RSAKey  # noqa: PLC0415

    decoded = [jwt.decode(a, RSAKey.import_key(key.public_jwk)) for a in (first, second)]
    claims = decoded[0].claims
    assert decoded[0].header["kid"] == "jwt-key"
    assert claims["iss"] == claims["sub"] == "jwt"
    assert claims["aud"] == world.emulator.environment.idporten.issuer  # type: ignore[union-attr]
    assert 0 < claims["exp"] - claims["iat"] <= 120
    assert claims["jti"] != decoded[1].claims["jti"]


async def test_sessions_share_the_clients_http_client_and_close_nothing(world: World) -> None:
    auth = world.auth(http_client=None)
    one, other = auth.session(), auth.session("someone")
    assert one.context.client() is other.context.client()
    made = one.context.client()
    await other.aclose()
    assert not made.is_closed  # a session closes nothing: the client owns the connections
    async with altinn.AltinnExchangeAuth(one):
        pass
    assert not made.is_closed  # nor does an exchange made from a session
    await auth.aclose()
    assert made.is_closed
