"""`altinn_async.fastapi` in a FastAPI app served by uvicorn on 127.0.0.1: the validated caller
(401 and 403 with their challenges), and the clients opened once for the app."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at runtime, and
# these routes' dependencies are local names.

import time
from collections.abc import Iterator
from typing import Annotated, Any

import attrs
import httpx
import pytest
from fastapi import Depends, FastAPI

import altinn_async as altinn
from altinn_async.fastapi import AltinnClients, RequireToken
from altinn_async.testing import Emulator

from .helpers import signing_key, uvicorn_serving

CLIENT = "backend-caller"
READ = "altinn:serviceowner/instances.read"
WRITE = "altinn:serviceowner/instances.write"


@attrs.define
class Served:
    emulator: Emulator
    environment: altinn.Environment
    app_url: str
    opened: list[str]
    closed: list[str]


class Counted:
    """A client that notes when it is opened and closed."""

    def __init__(self, served: list[str], closed: list[str]) -> None:
        self._opened, self._closed = served, closed

    async def __aenter__(self) -> "Counted":
        self._opened.append("counted")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._closed.append("counted")


def backend(environment: altinn.Environment, opened: list[str], closed: list[str]) -> FastAPI:
    clients = AltinnClients()
    clients.add("validator", lambda: altinn.AltinnTokenValidator(environment))
    clients.add("counted", lambda: Counted(opened, closed))
    app = FastAPI(lifespan=clients.lifespan)
    reader = RequireToken(clients.get("validator"), scopes=[READ])
    writer = RequireToken(clients.get("validator"), scopes=[WRITE])

    @app.get("/read")
    async def read(
        principal: Annotated[altinn.AltinnPrincipal, Depends(reader)],
        counted: Annotated[Counted, Depends(clients.get("counted"))],
    ) -> dict[str, Any]:
        return {"org": principal.org, "org_number": principal.org_number, "same": id(counted)}

    @app.get("/write")
    async def write(principal: Annotated[altinn.AltinnPrincipal, Depends(writer)]) -> str:
        return principal.org or ""

    return app


@pytest.fixture
def served() -> Iterator[Served]:
    emulator = Emulator()
    with emulator.serve() as url:
        environment = emulator.environment_for(url)
        opened: list[str] = []
        closed: list[str] = []
        with uvicorn_serving(lambda _: backend(environment, opened, closed)) as app_url:
            yield Served(emulator, environment, app_url, opened, closed)
        assert closed == ["counted"]  # closed once, when the app stopped


async def token(served: Served, *scopes: str) -> str:
    key = signing_key()
    served.emulator.add_maskinporten_client(
        CLIENT, org_number="405003309", scopes=list(scopes), jwks=[key.public_jwk]
    )
    async with (
        httpx.AsyncClient() as http,
        altinn.AltinnExchangeAuth(
            altinn.MaskinportenAuth(
                client_id=CLIENT,
                key=key,
                scopes=list(scopes),
                environment=served.environment,
                http_client=http,
            )
        ) as auth,
    ):
        return (await auth.get_token()).access_token


async def test_the_validated_caller_and_one_client_for_the_whole_app(served: Served) -> None:
    bearer = await token(served, READ)
    async with httpx.AsyncClient(base_url=served.app_url) as http:
        first = await http.get("/read", headers={"Authorization": f"Bearer {bearer}"})
        second = await http.get("/read", headers={"Authorization": f"Bearer {bearer}"})
    assert first.status_code == 200, first.text
    assert first.json()["org"] == "ttd"
    assert first.json()["org_number"] == "405003309"
    assert first.json()["same"] == second.json()["same"]  # one client, not one per request
    assert served.opened == ["counted"]
    assert served.emulator.requests["authentication.jwks"] == 1  # the keys, once


async def test_missing_or_invalid_tokens_get_401_and_a_missing_scope_403(served: Served) -> None:
    bearer = await token(served, READ)
    async with httpx.AsyncClient(base_url=served.app_url) as http:
        missing = await http.get("/read")
        forged = await http.get("/read", headers={"Authorization": f"Bearer {bearer[:-4]}AAAA"})
        basic = await http.get("/read", headers={"Authorization": "Basic dXNlcjpwdw=="})
        scope = await http.get("/write", headers={"Authorization": f"Bearer {bearer}"})
    for refused in (missing, forged, basic):
        assert refused.status_code == 401, refused.text
        assert refused.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert scope.status_code == 403
    challenge = scope.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer error="insufficient_scope"')
    assert f'scope="{WRITE}"' in challenge
    for response in (missing, forged, basic, scope):
        assert bearer not in response.text
        assert bearer not in response.headers.get("WWW-Authenticate", "")


def test_a_client_dependency_needs_its_client_added_first() -> None:
    clients = AltinnClients()
    with pytest.raises(altinn.ConfigurationError):
        clients.get("nothing")
    clients.add("x", object)
    with pytest.raises(altinn.ConfigurationError):
        clients.add("x", object)


async def test_a_forged_claim_cannot_write_into_the_challenge_header(served: Served) -> None:
    # A token signed by Altinn but for another issuer, whose iss a forger chose: the refusal
    # quotes it, and must not let it break the header (CR LF) or the quoting.
    tokens = served.emulator._authentication.tokens
    forged = tokens.issue({"iss": 'evil"\r\nSet-Cookie: x=1', "scope": READ}, time.time())
    async with httpx.AsyncClient(base_url=served.app_url) as http:
        refused = await http.get("/read", headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401
    assert "set-cookie" not in refused.headers
    challenge = refused.headers["WWW-Authenticate"]
    assert "\r" not in challenge
    assert challenge.count('"') == 4  # error="..." and error_description="..." only
