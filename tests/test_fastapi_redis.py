"""`IDPortenLogin` with its sessions and pending logins on a real Redis, behind a load balancer:
two app instances (each with its own stores and ID-porten client, sharing only Redis and the
cookie key) answer one public URL, and a person's requests land on either.

``redis.asyncio`` runs on asyncio only, so these tests do too.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at runtime.

import contextlib
import socket
import urllib.parse
from collections.abc import Iterator
from typing import Annotated, Any

import attrs
import httpx
import pytest
import redis.asyncio
from fastapi import Depends, FastAPI

import altinn_async as altinn
from altinn_async.fastapi import AltinnClients, IDPortenLogin
from altinn_async.redis import RedisPendingLoginStore, RedisTokenStore
from altinn_async.testing import Emulator

from .helpers import uvicorn_serving

WEB_CLIENT = "redis-web"
SECRET = "redis-web-secret"
COOKIE_KEY = "c" * 40
KEY = bytes(range(32))
SCOPES = ["openid", "altinn:instances.read"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_app(environment: altinn.Environment, public_url: str, redis_url: str) -> FastAPI:
    """One instance of the app; every instance has the same public URL (the balancer's)."""
    client = redis.asyncio.Redis.from_url(redis_url)
    clients = AltinnClients()
    clients.add("redis", lambda: client)  # closed when the app stops
    clients.add("altinn", lambda: httpx.AsyncClient(base_url=environment.platform))
    clients.add(
        "idporten",
        lambda: altinn.IDPortenClient(
            client_id=WEB_CLIENT,
            client_secret=SECRET,
            redirect_uri=f"{public_url}/auth/callback",
            scopes=SCOPES,
            environment=environment,
            store=RedisTokenStore(client, encryption_key=KEY),
        ),
    )
    login = IDPortenLogin(
        clients.get("idporten"),
        secret_key=COOKIE_KEY,
        pending=RedisPendingLoginStore(client, encryption_key=KEY),
    )
    app = FastAPI(lifespan=clients.lifespan)
    login.install(app)

    @app.get("/me")
    async def me(
        auth: Annotated[altinn.AltinnExchangeAuth, Depends(login.altinn_auth)],
        http: Annotated[httpx.AsyncClient, Depends(clients.get("altinn"))],
    ) -> dict[str, Any]:
        storage = altinn.StorageClient(http, auth=auth)
        return {"instances": len([i async for i in storage.instances(party_id=50002119)])}

    return app


@attrs.define
class Balanced:
    """A browser in front of two app instances: ``which`` says where a request lands."""

    emulator: Emulator
    urls: tuple[str, str]
    http: httpx.AsyncClient
    cookies: dict[str, str] = attrs.field(factory=dict)

    async def get(self, which: int, target: str) -> httpx.Response:
        path = urllib.parse.urlsplit(target)
        url = self.urls[which] + path.path + (f"?{path.query}" if path.query else "")
        return self._keep(await self.http.get(url, headers=self._headers()))

    async def post(self, which: int, path: str) -> httpx.Response:
        return self._keep(await self.http.post(self.urls[which] + path, headers=self._headers()))

    def _headers(self) -> dict[str, str]:
        if not self.cookies:
            return {}
        return {"cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            if "max-age=0" in header.lower():
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = rest.split(";", 1)[0]
        return response


@contextlib.contextmanager
def two_instances(emulator: Emulator, redis_url: str) -> Iterator[tuple[str, str]]:
    with emulator.serve() as emulator_url:
        environment = emulator.environment_for(emulator_url)
        public: list[str] = []

        def build(url: str) -> FastAPI:
            if not public:  # the first instance's URL stands for the balancer's
                public.append(url)
                emulator.add_idporten_client(
                    WEB_CLIENT, redirect_uris=[f"{url}/auth/callback"], client_secret=SECRET,
                    scopes=SCOPES,
                )  # fmt: skip
            return make_app(environment, public[0], redis_url)

        with uvicorn_serving(build) as first, uvicorn_serving(build) as second:
            yield first, second


async def test_a_login_started_on_one_instance_completes_and_lives_on_the_other(
    redis_url: str,
) -> None:
    emulator = Emulator()
    person = emulator.person()
    for _ in range(2):
        emulator.add_instance("ttd", "own-app", party_id=person.party_id)
    with two_instances(emulator, redis_url) as urls:
        async with httpx.AsyncClient() as http:
            browser = Balanced(emulator, urls, http)
            started = await browser.get(0, "/auth/login?next=/me")
            assert started.status_code == 303
            login_cookie = browser.cookies["altinn_session_login"]
            callback = await emulator.idporten_login(started.headers["location"])
            done = await browser.get(1, callback)  # the callback lands on the other one
            assert (done.status_code, done.headers["location"]) == (303, "/me")
            for which in (0, 1, 0):
                me = await browser.get(which, "/me")
                assert (me.status_code, me.json()) == (200, {"instances": 2})
            # The callback replayed with its login cookie, on the first instance: the pending
            # login was taken (GETDEL) by the second.
            browser.cookies["altinn_session_login"] = login_cookie
            replay = await browser.get(0, callback)
            assert replay.status_code == 400
            assert "expired" in replay.text
            cookie = browser.cookies["altinn_session"]
            logout = await browser.post(1, "/auth/logout")
            assert logout.status_code == 303
            browser.cookies["altinn_session"] = cookie  # logged out everywhere
            assert (await browser.get(0, "/me")).status_code == 401
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        assert await client.keys("*") == []  # the session and the pending login are gone
    finally:
        await client.aclose()


async def test_an_unreachable_redis_answers_503_not_500() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the block ends
    emulator = Emulator()
    with two_instances(emulator, f"redis://127.0.0.1:{port}/0") as urls:
        async with httpx.AsyncClient() as http:
            page = await http.get(f"{urls[0]}/auth/login", headers={"accept": "text/html"})
            assert page.status_code == 503
            assert page.headers["retry-after"] == "5"
            assert "try again" in page.text.lower()
            api = await http.get(f"{urls[1]}/auth/login", headers={"accept": "application/json"})
            assert api.status_code == 503
            assert api.json() == {
                "detail": {"message": "the login session store is unavailable; try again"}
            }
