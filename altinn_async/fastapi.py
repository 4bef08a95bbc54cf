"""FastAPI backends: the validated caller of a request as a dependency, and the library's clients
opened once for the app (``pip install 'altinn-async[fastapi]'``).

Example::

    import altinn_async as altinn
    from altinn_async.fastapi import AltinnClients, RequireToken

    clients = AltinnClients()
    clients.add("validator", lambda: altinn.AltinnTokenValidator(altinn.TEST))
    app = FastAPI(lifespan=clients.lifespan)
    caller = RequireToken(clients.get("validator"), scopes=["altinn:instances.read"])

    @app.get("/mine")
    async def mine(principal: Annotated[altinn.AltinnPrincipal, Depends(caller)]) -> dict:
        return {"org": principal.org_number}
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from ._validator import AltinnPrincipal, AltinnTokenValidator
from .exceptions import ConfigurationError, DiscoveryError, InsufficientScopeError
from .exceptions import TokenValidationError as _Invalid

__all__ = ["AltinnClients", "RequireToken"]


def _challenge(error: str, description: str, *, scope: Sequence[str] = ()) -> dict[str, str]:
    # RFC 6750 §3: the description is for a developer, quoted, printable ASCII only (a claim
    # a forger wrote may be in it); no token in it, ever.
    text = "".join(c for c in description if " " <= c <= "~" and c not in '"\\')[:200]
    value = f'Bearer error="{error}", error_description="{text}"'
    if scope:
        value += f', scope="{" ".join(scope)}"'
    return {"WWW-Authenticate": value}


class AltinnClients:
    """The library's clients, opened once when the app starts and closed when it stops, and
    handed to routes with ``Depends`` (never one client per request).

    Register a factory per client (anything that is an async context manager, or has
    ``aclose``), pass `lifespan` to ``FastAPI(lifespan=...)``, and depend on `get`::

        clients = AltinnClients()
        clients.add("http", lambda: httpx.AsyncClient(auth=auth, base_url=TEST.platform))
        app = FastAPI(lifespan=clients.lifespan)

        @app.get("/instances")
        async def instances(http: Annotated[httpx.AsyncClient, Depends(clients.get("http"))]):
            ...
    """

    def __init__(self) -> None:
        self._factories: dict[str, Callable[[], Any]] = {}

    def __repr__(self) -> str:
        return f"AltinnClients({sorted(self._factories)})"

    def add(self, name: str, factory: Callable[[], Any]) -> None:
        """Open ``factory()`` under ``name`` when the app starts (in the order added).

        Raises:
            ConfigurationError: the name is taken.
        """
        if name in self._factories:
            raise ConfigurationError(f"a client named {name!r} is added already")
        self._factories[name] = factory

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """Open every client, serve, then close them (in reverse order), even on failure."""
        async with contextlib.AsyncExitStack() as stack:
            opened: dict[str, Any] = {}
            for name, factory in self._factories.items():
                client = factory()
                if isinstance(client, AbstractAsyncContextManager):
                    opened[name] = await stack.enter_async_context(client)
                else:
                    closer = getattr(client, "aclose", None)
                    if closer is not None:
                        stack.push_async_callback(closer)
                    opened[name] = client
            app.state.altinn_clients = opened
            try:
                yield
            finally:
                app.state.altinn_clients = {}

    def get(self, name: str) -> Callable[[Request], Any]:
        """A dependency giving the client opened under ``name``.

        Raises:
            ConfigurationError: (when the app starts serving a route) no such client, or the
                app was not started with `lifespan`.
        """
        if name not in self._factories:
            raise ConfigurationError(f"no client named {name!r}: add it first")

        def dependency(request: Request) -> Any:
            opened = getattr(request.app.state, "altinn_clients", None)
            if not opened or name not in opened:
                raise ConfigurationError(
                    "the Altinn clients are not open: give FastAPI(lifespan=clients.lifespan)"
                )
            return opened[name]

        dependency.__name__ = f"altinn_client_{name}"
        return dependency


class RequireToken:
    """A dependency that gives the request's validated caller (`AltinnPrincipal`).

    A request without a bearer token, or with one that is not valid, gets 401 with
    ``WWW-Authenticate: Bearer error="invalid_token"``; a valid token without a required scope
    gets 403 with ``error="insufficient_scope"``; if the issuer's keys cannot be had, 503.

    Args:
        validator: the validator, or a dependency giving it (`AltinnClients.get`).
        scopes: scopes the token must carry.
        audience: a value its ``aud`` must hold.
    """

    def __init__(
        self,
        validator: AltinnTokenValidator | Callable[[Request], Any],
        *,
        scopes: Sequence[str] = (),
        audience: str | None = None,
    ) -> None:
        self._validator = validator
        self._scopes = tuple(scopes)
        self._audience = audience

    def __repr__(self) -> str:
        return f"RequireToken(scopes={list(self._scopes)})"

    async def __call__(self, request: Request) -> AltinnPrincipal:
        validator = self._validator
        if not isinstance(validator, AltinnTokenValidator):
            validator = validator(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HTTPException(
                401,
                detail="a bearer token is needed",
                headers=_challenge("invalid_token", "a bearer token is needed"),
            )
        try:
            return await validator.validate(
                token.strip(), scopes=self._scopes, audience=self._audience
            )
        except InsufficientScopeError as exc:
            raise HTTPException(
                403,
                detail=str(exc),
                headers=_challenge("insufficient_scope", str(exc), scope=exc.missing),
            ) from None
        except _Invalid as exc:
            raise HTTPException(
                401, detail=str(exc), headers=_challenge("invalid_token", str(exc))
            ) from None
        except DiscoveryError:
            raise HTTPException(
                503, detail="the token issuer's keys cannot be fetched now"
            ) from None
