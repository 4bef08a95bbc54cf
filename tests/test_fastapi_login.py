"""`altinn_async.fastapi.IDPortenLogin` in a FastAPI app served by uvicorn on 127.0.0.1, against
the served emulator: logging in (PAR), calling Altinn as the person, the cookies, replayed and
forged callbacks, open redirects, logout, a refused refresh, and what the logs never show."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at runtime, and
# these routes' dependencies are local names.

import logging
import urllib.parse
from collections.abc import AsyncIterator
from typing import Annotated, Any

import attrs
import httpx
import pytest
from fastapi import Depends, FastAPI

import altinn_async as altinn
from altinn_async.fastapi import AltinnClients, IDPortenLogin
from altinn_async.testing import Emulator

from .helpers import Clock, uvicorn_serving

WEB_CLIENT = "login-web"
SECRET = "login-web-secret"
SESSION_KEY = "k" * 40
OWN_INSTANCES = 3


@attrs.define
class Site:
    """The app, the emulator, and a browser's cookie jar (by hand: the cookies are ``Secure``,
    which http.cookiejar sends only over https; browsers send them to http://127.0.0.1 too)."""

    emulator: Emulator
    url: str
    http: httpx.AsyncClient
    clock: Clock
    store: altinn.MemoryTokenStore
    pending: altinn.MemoryPendingLoginStore
    cookies: dict[str, str] = attrs.field(factory=dict)
    set_cookies: list[str] = attrs.field(factory=list)

    async def get(self, path_or_url: str, **headers: str) -> httpx.Response:
        return self._keep(await self.http.get(self._url(path_or_url), headers=self._with(headers)))

    async def post(self, path: str) -> httpx.Response:
        return self._keep(await self.http.post(self._url(path), headers=self._with({})))

    def _url(self, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else self.url + path_or_url

    def _with(self, headers: dict[str, str]) -> dict[str, str]:
        if self.cookies:
            headers["cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            self.set_cookies.append(header)
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in header.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        return response

    async def start_login(self, next_path: str | None = "/me") -> str:
        path = "/auth/login" + (
            f"?{urllib.parse.urlencode({'next': next_path})}" if next_path else ""
        )
        response = await self.get(path)
        assert response.status_code == 303
        return response.headers["location"]

    async def log_in(self, next_path: str | None = "/me") -> httpx.Response:
        callback = await self.emulator.idporten_login(await self.start_login(next_path))
        return await self.get(callback)


def make_app(world: "World", base_url: str) -> FastAPI:
    clients = AltinnClients()
    environment = world.environment
    clients.add("altinn", lambda: httpx.AsyncClient(base_url=environment.platform))
    clients.add(
        "idporten",
        lambda: altinn.IDPortenClient(
            client_id=WEB_CLIENT,
            client_secret=SECRET,
            redirect_uri=f"{base_url}/auth/callback",
            scopes=["openid", "altinn:instances.read"],
            environment=environment,
            store=world.store,
            clock=world.clock,
        ),
    )
    login = IDPortenLogin(
        clients.get("idporten"),
        secret_key=SESSION_KEY,
        pending=world.pending,
        post_logout_redirect_uri=f"{base_url}/bye",
    )
    app = FastAPI(lifespan=clients.lifespan)
    login.install(app)

    @app.get("/me")
    async def me(
        auth: Annotated[altinn.AltinnExchangeAuth, Depends(login.altinn_auth)],
        http: Annotated[httpx.AsyncClient, Depends(clients.get("altinn"))],
    ) -> dict[str, Any]:
        storage = altinn.StorageClient(http, auth=auth)
        return {"instances": len([i async for i in storage.instances(party_id=world.party_id)])}

    @app.get("/")
    async def home(
        person: Annotated[altinn.IDPortenSession | None, Depends(login.current)],
    ) -> dict[str, bool]:
        return {"logged_in": person is not None}

    return app


@attrs.define
class World:
    emulator: Emulator
    environment: altinn.Environment
    clock: Clock
    store: altinn.MemoryTokenStore
    pending: altinn.MemoryPendingLoginStore
    party_id: int


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    clock = Clock(ticking=True)
    emulator = Emulator(clock=clock)
    person = emulator.person()
    for _ in range(OWN_INSTANCES):
        emulator.add_instance("ttd", "own-app", party_id=person.party_id)
    emulator.add_instances("ttd", "other-app", 5)
    with emulator.serve() as emulator_url:
        world = World(
            emulator,
            emulator.environment_for(emulator_url),
            clock,
            altinn.MemoryTokenStore(),
            altinn.MemoryPendingLoginStore(clock=clock),
            person.party_id,
        )

        def build(url: str) -> FastAPI:
            emulator.add_idporten_client(
                WEB_CLIENT,
                redirect_uris=[f"{url}/auth/callback"],
                post_logout_redirect_uris=[f"{url}/bye"],
                client_secret=SECRET,
                scopes=["openid", "altinn:instances.read"],
            )
            return make_app(world, url)

        with uvicorn_serving(build) as url:
            async with httpx.AsyncClient() as http:
                yield Site(emulator, url, http, clock, world.store, world.pending)


def cookie_attributes(site: Site, name: str) -> set[str]:
    header = next(h for h in reversed(site.set_cookies) if h.startswith(f"{name}="))
    return {part.strip().lower() for part in header.split(";")[1:]}


async def test_a_person_logs_in_with_par_and_altinn_is_called_as_them(site: Site) -> None:
    response = await site.log_in("/me")
    assert response.status_code == 303
    assert response.headers["location"] == "/me"
    assert site.emulator.requests["idporten.par"] == 1
    # Both cookies were HttpOnly, Secure, SameSite=Lax; the login cookie is gone now.
    for name in ("altinn_session", "altinn_session_login"):
        assert {"httponly", "secure", "samesite=lax"} <= cookie_attributes(site, name)
    assert set(site.cookies) == {"altinn_session"}
    # The cookie is an opaque id: the store keeps the session under a digest of it.
    session_id = site.cookies["altinn_session"].rpartition(".")[0]
    (key,) = site.store._sessions
    assert session_id not in key
    stored = await site.store.load(key)
    assert stored is not None
    assert stored.access_token not in site.cookies["altinn_session"]

    me = await site.get("/me")
    assert me.status_code == 200
    assert me.json() == {"instances": OWN_INSTANCES}
    assert (await site.get("/me")).json() == {"instances": OWN_INSTANCES}
    # One exchange for both requests (cached by the Altinn token's expiry).
    assert site.emulator.requests["authentication.exchange"] == 1
    assert (await site.get("/")).json() == {"logged_in": True}


async def test_without_a_session_a_browser_goes_to_login_and_a_script_gets_401(
    site: Site,
) -> None:
    page = await site.get("/me?x=1", accept="text/html,application/xhtml+xml")
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login?next=%2Fme%3Fx%3D1"
    script = await site.get("/me", accept="application/json")
    assert script.status_code == 401
    assert script.json()["detail"]["login"] == "/auth/login"
    # A forged or re-signed cookie is no session.
    await site.log_in()
    value = site.cookies["altinn_session"]
    session_id, _, mac = value.rpartition(".")
    for forged in (f"{session_id}x.{mac}", f"{session_id}.{mac[:-2]}AA", session_id, "."):
        site.cookies["altinn_session"] = forged
        assert (await site.get("/me")).status_code == 401
    site.cookies["altinn_session"] = value
    assert (await site.get("/me")).status_code == 200


async def test_a_callback_counts_once_and_only_in_the_browser_that_started_it(
    site: Site,
) -> None:
    callback = await site.emulator.idporten_login(await site.start_login())
    login_cookie = site.cookies["altinn_session_login"]
    assert (await site.get(callback)).status_code == 303
    # Replayed: the pending login is spent.
    site.cookies["altinn_session_login"] = login_cookie
    replay = await site.get(callback)
    assert replay.status_code == 400
    assert "expired" in replay.text
    # Another browser (no login cookie), or a login cookie forged from a session cookie.
    other = await site.emulator.idporten_login(await site.start_login())
    site.cookies.pop("altinn_session_login")
    assert (await site.get(other)).status_code == 400
    session_id = site.cookies["altinn_session"]
    site.cookies["altinn_session_login"] = session_id
    assert (await site.get(other)).status_code == 400
    # A callback whose state is not the login's (CSRF), with a real pending login.
    forged = await site.emulator.idporten_login(await site.start_login())
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(forged).query))
    query["state"] = "attacker"
    wrong = await site.get(f"{site.url}/auth/callback?{urllib.parse.urlencode(query)}")
    assert wrong.status_code == 400
    assert "state" in wrong.text


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", ""],
)
async def test_next_is_a_path_on_this_site_or_home(site: Site, target: str) -> None:
    response = await site.log_in(target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_logging_in_again_ends_the_earlier_session(site: Site) -> None:
    await site.log_in()
    first = site.cookies["altinn_session"]
    await site.log_in()
    assert site.cookies["altinn_session"] != first  # a new id at every login
    assert len(site.store._sessions) == 1
    site.cookies["altinn_session"] = first
    assert (await site.get("/me")).status_code == 401


async def test_logout_ends_the_session_here_and_at_idporten(site: Site) -> None:
    await site.log_in()
    assert (await site.get("/me")).status_code == 200
    cookie = site.cookies["altinn_session"]
    response = await site.post("/auth/logout")
    assert response.status_code == 303
    target = urllib.parse.urlsplit(response.headers["location"])
    assert target.path.endswith("/idporten/logout")
    query = dict(urllib.parse.parse_qsl(target.query))
    assert query["post_logout_redirect_uri"] == f"{site.url}/bye"
    assert "id_token_hint" in query
    assert "altinn_session" not in site.cookies
    assert len(site.store._sessions) == 0
    site.cookies["altinn_session"] = cookie  # a copy of the old cookie is worth nothing
    assert (await site.get("/me")).status_code == 401
    assert (await site.get("/")).json() == {"logged_in": False}
    # Logging out without a session just goes home.
    site.cookies.clear()
    bare = await site.post("/auth/logout")
    assert (bare.status_code, bare.headers["location"]) == (303, "/")


async def test_a_refused_refresh_sends_the_browser_to_log_in_again(site: Site) -> None:
    await site.log_in()
    assert (await site.get("/me")).status_code == 200
    site.clock.advance(3600)  # the access, Altinn and refresh tokens have all expired
    page = await site.get("/me", accept="text/html")
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login?next=%2Fme"
    assert "altinn_session" not in site.cookies
    assert (await site.get("/me", accept="application/json")).status_code == 401


async def test_a_cancelled_login_gets_a_page_not_a_traceback(site: Site) -> None:
    callback = await site.emulator.idporten_login(await site.start_login(), deny=True)
    response = await site.get(callback)
    assert response.status_code == 403
    assert "access_denied" in response.text
    assert "altinn_session" not in site.cookies


async def test_no_token_code_or_cookie_in_any_log_line(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    callback = await site.emulator.idporten_login(await site.start_login())
    await site.get(callback)
    await site.get("/me")
    key = next(iter(site.store._sessions))
    stored = await site.store.load(key)
    assert stored is not None
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))["code"]
    secrets = [
        stored.access_token,
        stored.id_token,
        stored.refresh_token or "-",
        code,
        site.cookies["altinn_session"].rpartition(".")[0],
        SESSION_KEY,
    ]
    # Every line of the app, the library and httpx, but the test's own browser logging the URLs
    # it asks the app for (httpcore's traces are left out: they show the browser's cookies).
    browser = f"HTTP Request: GET {site.url}/"
    logged = "\n".join(
        r.getMessage()
        for r in caplog.records
        if not r.getMessage().startswith(browser) and not r.name.startswith("httpcore")
    )
    assert "altinn_async" in {r.name.partition(".")[0] for r in caplog.records}
    assert logged
    for index, secret in enumerate(secrets):
        assert secret not in logged, index


async def test_pending_logins_are_taken_once_expire_and_are_bounded() -> None:
    clock = Clock()
    store = altinn.MemoryPendingLoginStore(max_pending=3, clock=clock)
    for index in range(5):
        await store.put(f"k{index}", {"n": index}, ttl=60)
    assert len(store) == 3
    assert await store.take("k0") is None  # the oldest gave way
    assert await store.take("k4") == {"n": 4}
    assert await store.take("k4") is None  # once
    clock.advance(61)
    assert await store.take("k3") is None  # expired
    with pytest.raises(altinn.ConfigurationError):
        await store.put("k", {}, ttl=0)
    with pytest.raises(altinn.ConfigurationError):
        altinn.MemoryPendingLoginStore(max_pending=0)


def test_bad_configuration_is_refused_when_made() -> None:
    client = altinn.IDPortenClient(
        client_id="c",
        client_secret="s",
        redirect_uri="https://app.example/auth/callback",
        scopes=["openid"],
        environment=altinn.TEST,
    )
    with pytest.raises(altinn.ConfigurationError, match="32 bytes"):
        IDPortenLogin(client, secret_key="short")
    with pytest.raises(altinn.ConfigurationError, match="prefix"):
        IDPortenLogin(client, secret_key=SESSION_KEY, prefix="auth/")
    with pytest.raises(altinn.ConfigurationError, match="home"):
        IDPortenLogin(client, secret_key=SESSION_KEY, home="https://evil.example/")


async def test_a_redirect_uri_that_is_not_the_callback_route_is_a_configuration_error() -> None:
    client = altinn.IDPortenClient(
        client_id="c",
        client_secret="s",
        redirect_uri="https://app.example/oauth/return",
        scopes=["openid"],
        environment=altinn.TEST,
    )
    app = FastAPI()
    IDPortenLogin(client, secret_key=SESSION_KEY).install(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://app.example") as http:
        with pytest.raises(altinn.ConfigurationError, match="/auth/callback"):
            await http.get("/auth/login")
    await client.aclose()


async def test_an_unreadable_pending_login_is_an_expired_login_not_a_traceback(
    site: Site,
) -> None:
    callback = await site.emulator.idporten_login(await site.start_login())
    (key,) = site.pending._entries
    await site.pending.take(key)
    await site.pending.put(key, {"login": {"state": "only"}}, ttl=60)
    response = await site.get(callback)
    assert response.status_code == 400
    assert "expired" in response.text
