"""An example FastAPI service on altinn_async, against the emulator.

It does what a backend of a Norwegian agency or vendor does, in three directions:

- it **receives** Altinn tokens: ``GET /api/caller`` validates the caller's bearer token against
  Altinn's published keys and answers who called (401 or 403 otherwise);
- it **calls Altinn as its organisation**: ``GET /api/org/instances`` lists the instances of its
  app with a Maskinporten token exchanged for an Altinn token (fetched once, then cached);
- it lets **a person log in** with ID-porten (``/auth/login``, ``/auth/callback``,
  ``POST /auth/logout``) and shows them their own instances on ``GET /me``, read from Altinn as
  them through the exchange.

Every client is opened once when the app starts and closed when it stops. Run it with::

    .venv/bin/pip install -e '.[fastapi,emulator]' && .venv/bin/python examples/service.py

which serves a seeded emulator on 127.0.0.1 and the service on http://127.0.0.1:8000: open it in
a browser and log in on the emulator's TestID page with the person number it offers.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at runtime, and
# their dependencies are local names.

import argparse
import contextlib
import html
import secrets
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import attrs
import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

import altinn_async as altinn
from altinn_async.fastapi import AltinnClients, IDPortenLogin, RequireToken
from altinn_async.testing import DEFAULT_PID, Emulator

ORG = "ttd"
APP = "ttd/example-app"
ORG_NUMBER = "405003309"
MASKINPORTEN_CLIENT = "example-service"
SERVICE_OWNER_READ = "altinn:serviceowner/instances.read"
IDPORTEN_CLIENT = "example-service-web"
PERSON_SCOPES = ["openid", "profile", "altinn:instances.read"]


def create_app(
    environment: altinn.Environment,
    *,
    key: altinn.SigningKey,
    idporten_secret: str,
    base_url: str,
    session_secret: str,
    secure_cookies: bool = True,
) -> FastAPI:
    """The service, for an environment (the emulator's here; ``altinn.TEST`` in real life)."""
    clients = AltinnClients()
    clients.add("validator", lambda: altinn.AltinnTokenValidator(environment))

    @contextlib.asynccontextmanager
    async def as_the_organisation() -> AsyncIterator[httpx.AsyncClient]:
        # The auth owns the connections to Maskinporten: opened and closed with the client.
        maskinporten = altinn.MaskinportenAuth(
            client_id=MASKINPORTEN_CLIENT,
            key=key,
            scopes=[SERVICE_OWNER_READ],
            environment=environment,
        )
        async with (
            altinn.AltinnExchangeAuth(maskinporten) as auth,
            httpx.AsyncClient(auth=auth, base_url=environment.platform) as http,
        ):
            yield http

    clients.add("org", as_the_organisation)
    # One client for everyone's requests as themselves: each request brings the person's auth.
    clients.add("altinn", lambda: httpx.AsyncClient(base_url=environment.platform))
    clients.add(
        "idporten",
        lambda: altinn.IDPortenClient(
            client_id=IDPORTEN_CLIENT,
            client_secret=idporten_secret,
            redirect_uri=f"{base_url}/auth/callback",
            scopes=PERSON_SCOPES,
            environment=environment,
            acr_values="idporten-loa-substantial",
        ),
    )
    login = IDPortenLogin(
        clients.get("idporten"),
        secret_key=session_secret,
        post_logout_redirect_uri=f"{base_url}/",
        secure=secure_cookies,
    )
    app = FastAPI(title="altinn_async example service", lifespan=clients.lifespan)
    login.install(app)
    caller = RequireToken(clients.get("validator"), scopes=[SERVICE_OWNER_READ])

    @app.get("/api/caller")
    async def who_called(
        principal: Annotated[altinn.AltinnPrincipal, Depends(caller)],
    ) -> dict[str, Any]:
        """Who sent this request, from their validated Altinn token."""
        return {
            "org": principal.org,
            "org_number": principal.org_number,
            "authentication_level": principal.authentication_level,
            "scopes": sorted(principal.scopes),
        }

    @app.get("/api/org/instances")
    async def org_instances(
        http: Annotated[httpx.AsyncClient, Depends(clients.get("org"))],
    ) -> dict[str, Any]:
        """The app's instances, read from Altinn as the organisation."""
        storage = altinn.StorageClient(http)
        ids = [instance["id"] async for instance in storage.instances(app_id=APP)]
        return {"app": APP, "instances": len(ids), "first": ids[:3]}

    @app.get("/", response_class=HTMLResponse)
    async def home(
        person: Annotated[altinn.IDPortenSession | None, Depends(login.current)],
    ) -> str:
        if person is None:
            action = f'<a id="login" href="{login.login_path}?next=/me">Log in with ID-porten</a>'
        else:
            action = '<a id="mine" href="/me">Your instances</a>' + _logout_form(login)
        return _page("altinn_async example", f"<p>{action}</p>")

    @app.get("/me", response_class=HTMLResponse)
    async def me(
        auth: Annotated[altinn.AltinnExchangeAuth, Depends(login.altinn_auth)],
        http: Annotated[httpx.AsyncClient, Depends(clients.get("altinn"))],
        validator: Annotated[altinn.AltinnTokenValidator, Depends(clients.get("validator"))],
    ) -> str:
        """The person's own instances, read from Altinn as them."""
        # Their Altinn token says which party they are; the app's validator reads it.
        token = await auth.get_token()
        principal = await validator.validate(token.access_token)
        storage = altinn.StorageClient(http, auth=auth)
        rows = [
            f"<li class=instance>{html.escape(i['id'])} ({html.escape(i['appId'])})</li>"
            async for i in storage.instances(party_id=principal.party_id)
        ]
        body = (
            f"<p id=party>Party {html.escape(str(principal.party_id))}, "
            f"authentication level {principal.authentication_level}: "
            f"<span id=count>{len(rows)}</span> instances</p><ul>{''.join(rows)}</ul>"
        )
        return _page("Your instances", body + _logout_form(login))

    return app


def _logout_form(login: IDPortenLogin) -> str:
    return (
        f'<form method=post action="{login.logout_path}">'
        '<button id="logout" type=submit>Log out</button></form>'
    )


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<h1>{html.escape(title)}</h1>{body}"
    )


def new_key() -> altinn.SigningKey:
    """A fresh RSA key (a real service loads its registered key or enterprise certificate)."""
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return altinn.SigningKey.from_pem(pem, kid="example-key")


def seed(
    emulator: Emulator,
    *,
    key: altinn.SigningKey,
    base_url: str,
    idporten_secret: str,
    instances: int,
) -> None:
    """Register the service's clients in the emulator, and give the person and the app
    instances."""
    emulator.add_maskinporten_client(
        MASKINPORTEN_CLIENT,
        org_number=ORG_NUMBER,
        scopes=[SERVICE_OWNER_READ],
        jwks=[key.public_jwk],
    )
    emulator.add_idporten_client(
        IDPORTEN_CLIENT,
        redirect_uris=[f"{base_url}/auth/callback"],
        post_logout_redirect_uris=[f"{base_url}/"],
        client_secret=idporten_secret,
        scopes=PERSON_SCOPES,
    )
    person = emulator.person()
    org, app = APP.split("/")
    for _ in range(instances):
        emulator.add_instance(org, app, party_id=person.party_id)
    emulator.add_instances(org, app, 40, seed=1)


@attrs.frozen
class Example:
    """The service and the emulator it runs against."""

    app: FastAPI
    emulator: Emulator
    emulator_url: str
    environment: altinn.Environment


@contextlib.contextmanager
def emulated(base_url: str, *, instances: int = 5) -> Iterator[Example]:
    """A seeded emulator served on 127.0.0.1, and the service for ``base_url`` on it."""
    key = new_key()
    secret = secrets.token_urlsafe(24)
    emulator = Emulator()
    seed(emulator, key=key, base_url=base_url, idporten_secret=secret, instances=instances)
    with emulator.serve() as emulator_url:
        environment = emulator.environment_for(emulator_url)
        app = create_app(
            environment,
            key=key,
            idporten_secret=secret,
            base_url=base_url,
            session_secret=secrets.token_urlsafe(32),
        )
        yield Example(app, emulator, emulator_url, environment)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535; 0 picks a free one)")
    return port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=_port, default=8000, help="the service's port (8000)")
    args = parser.parse_args(argv)
    listener = socket.socket()
    try:
        listener.bind(("127.0.0.1", args.port))
    except OSError as exc:
        print(f"error: cannot serve on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        listener.close()
        return 1
    base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        with emulated(base_url) as example:
            print(f"emulator: {example.emulator_url}")
            print(f"service:  {base_url}  (log in as {DEFAULT_PID})", flush=True)
            config = uvicorn.Config(example.app, log_level="warning")
            uvicorn.Server(config).run(sockets=[listener])
    except KeyboardInterrupt:
        return 130
    finally:
        listener.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
