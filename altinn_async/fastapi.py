"""FastAPI backends: the validated caller of a request as a dependency, the library's clients
opened once for the app, and people logged in with ID-porten (``pip install
'altinn-async[fastapi]'``).

Example::

    from typing import Annotated

    from fastapi import Depends, FastAPI

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

import base64
import contextlib
import hashlib
import hmac
import html
import logging
import secrets
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ._exchange import AltinnExchangeAuth
from ._idporten import IDPortenClient, IDPortenSession, LoginRequest
from ._pending import MemoryPendingLoginStore, PendingLoginStore
from ._validator import AltinnPrincipal, AltinnTokenValidator
from .exceptions import (
    AltinnError,
    AuthorizationError,
    CallbackError,
    ConfigurationError,
    DiscoveryError,
    InsufficientScopeError,
    LoginRequiredError,
    NetworkError,
    SharedStoreError,
    TokenError,
)
from .exceptions import TokenValidationError as _Invalid

__all__ = ["AltinnClients", "IDPortenLogin", "RequireToken"]

logger = logging.getLogger("altinn_async.fastapi")


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

        from typing import Annotated

        from fastapi import Depends, FastAPI

        clients = AltinnClients()
        clients.add("http", lambda: httpx.AsyncClient(auth=auth, base_url=altinn.TEST.platform))
        app = FastAPI(lifespan=clients.lifespan)

        @app.get("/instances")
        async def instances(http: Annotated[httpx.AsyncClient, Depends(clients.get("http"))]):
            ...

    An auth that owns connections of its own (a `MaskinportenAuth` without ``http_client``)
    must be closed too: open it and its client in one ``asynccontextmanager`` factory.
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


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _local_path(value: str | None, default: str) -> str:
    """``value`` if it is a path on this site (no scheme, no host, no ``//``), else ``default``:
    a ``next`` parameter must not make the login an open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(c < " " or c == "\\" for c in value):
        return default
    parts = urllib.parse.urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def _page(status: int, title: str, message: str, link: tuple[str, str] | None = None) -> Response:
    body = f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
    body += f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
    if link is not None:
        body += f'<p><a href="{html.escape(link[0])}">{html.escape(link[1])}</a></p>'
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _pending_login(data: dict[str, Any] | None) -> LoginRequest | None:
    """The login a pending entry holds, or ``None`` if it holds none readable (a store shared
    with another version, say): that is an expired login to the person, not a traceback."""
    if data is None or not isinstance(data.get("login"), dict):
        return None
    try:
        return LoginRequest.from_dict(data["login"])
    except ConfigurationError:
        return None


def _callback_params(request: Request) -> dict[str, str]:
    pairs = request.query_params.multi_items()
    params = dict(pairs)
    if len(params) != len(pairs):
        raise CallbackError("the callback repeats a parameter")
    return params


class _Signer:
    """HMAC-SHA256 over an opaque id, per purpose, so a cookie of one kind is not another."""

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else bytes(secret)
        if len(key) < 32:
            raise ConfigurationError(
                "secret_key must be at least 32 bytes (secrets.token_urlsafe(32) makes one)"
            )
        self._key = key

    def _mac(self, purpose: str, value: str) -> str:
        mac = hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def sign(self, purpose: str, value: str) -> str:
        return f"{value}.{self._mac(purpose, value)}"

    def unsign(self, purpose: str, cookie: str | None) -> str | None:
        if not cookie:
            return None
        value, _, mac = cookie.rpartition(".")
        if not value or not hmac.compare_digest(mac, self._mac(purpose, value)):
            return None
        return value


class IDPortenLogin:
    """People log in with ID-porten: ``/login``, ``/callback`` and ``/logout`` routes, and the
    logged-in person as a dependency.

    The browser carries only opaque ids in signed cookies (``HttpOnly``, ``Secure``,
    ``SameSite=Lax``): one for the login in progress (its PKCE verifier, ``state`` and
    ``nonce`` stay server-side in ``pending``), one for the person's session (their tokens stay
    in the `IDPortenClient`'s store, under a digest of the id, so a leaked store holds no
    cookie). Every login gets a new session id (no session fixation); a callback is good once.

    Example::

        import os
        from typing import Annotated

        from fastapi import Depends, FastAPI

        clients = AltinnClients()
        clients.add("idporten", lambda: altinn.IDPortenClient(
            client_id="...", client_secret="...",
            redirect_uri="https://app.example/auth/callback",
            scopes=["openid", "altinn:instances.read"], environment=altinn.TEST))
        login = IDPortenLogin(clients.get("idporten"), secret_key=os.environ["SESSION_KEY"])
        app = FastAPI(lifespan=clients.lifespan)
        login.install(app)

        @app.get("/mine")
        async def mine(auth: Annotated[altinn.AltinnExchangeAuth, Depends(login.altinn_auth)]):
            storage = altinn.StorageClient(http, auth=auth)   # the app's shared client
            ...

    ``/login?next=/mine`` starts a login (a pushed authorization request when the provider
    takes them, unless ``pushed=False``) and comes back to ``next`` (a path on this site only).
    ``POST /logout`` ends the session, at ID-porten too when ``post_logout_redirect_uri`` is
    given. A route that needs a person and has none redirects a browser to ``/login`` (and
    answers 401 to a script); so does a `LoginRequiredError` from any route, once `install`
    added its handler.

    Args:
        idporten: the client, or a dependency giving it (`AltinnClients.get`). Its
            ``redirect_uri`` must end in ``{prefix}/callback``.
        secret_key: the key that signs the cookies (32 bytes or more; the same in every worker).
        prefix: where the routes live.
        home: where to go after login and logout when no ``next`` is given.
        pushed: use PAR; by default when the provider has it.
        post_logout_redirect_uri: a registered URI ID-porten sends the browser to after ending
            its single sign-on session; without it, logout revokes the tokens and ends the
            session here only.
        pending: where logins in progress are kept (`MemoryPendingLoginStore` by default; a
            shared one for several processes).
        login_timeout: seconds a person has to finish logging in.
        session_max_age: the session cookie's ``Max-Age`` (``None``: until the browser closes).
        cookie_name: the session cookie's name (the login cookie adds ``_login``).
        secure: set ``Secure`` on the cookies (browsers allow it on ``http://localhost``).
    """

    def __init__(
        self,
        idporten: IDPortenClient | Callable[[Request], Any],
        *,
        secret_key: str | bytes,
        prefix: str = "/auth",
        home: str = "/",
        pushed: bool | None = None,
        post_logout_redirect_uri: str | None = None,
        pending: PendingLoginStore | None = None,
        login_timeout: float = 600.0,
        session_max_age: int | None = 8 * 3600,
        cookie_name: str = "altinn_session",
        secure: bool = True,
    ) -> None:
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ConfigurationError("prefix must start with '/' and not end with one: '/auth'")
        if _local_path(home, "") != home:
            raise ConfigurationError("home must be a path on this site, such as '/'")
        if pending is not None and not isinstance(pending, PendingLoginStore):
            raise ConfigurationError("pending must implement altinn_async.PendingLoginStore")
        if not login_timeout > 0:
            raise ConfigurationError("login_timeout must be a positive number of seconds")
        self._idporten = idporten
        self._signer = _Signer(secret_key)
        self._prefix = prefix
        self._home = home
        self._pushed = pushed
        self._post_logout = post_logout_redirect_uri
        self._pending: PendingLoginStore = (
            pending if pending is not None else MemoryPendingLoginStore()
        )
        self._timeout = login_timeout
        self._max_age = session_max_age
        self._cookie = cookie_name
        self._login_cookie = f"{cookie_name}_login"
        self._secure = secure
        self._router = APIRouter(prefix=prefix)
        self._router.add_api_route("/login", self._login, methods=["GET"], include_in_schema=False)
        self._router.add_api_route(
            "/callback", self._callback, methods=["GET"], include_in_schema=False
        )
        self._router.add_api_route(
            "/logout", self._logout, methods=["POST"], include_in_schema=False
        )

    def __repr__(self) -> str:
        return f"IDPortenLogin(prefix={self._prefix!r}, pending={self._pending!r})"

    @property
    def router(self) -> APIRouter:
        """The ``/login``, ``/callback`` and ``/logout`` routes (`install` includes them)."""
        return self._router

    @property
    def login_path(self) -> str:
        """The path of the login route."""
        return f"{self._prefix}/login"

    @property
    def logout_path(self) -> str:
        """The path of the logout route (``POST``)."""
        return f"{self._prefix}/logout"

    def install(self, app: FastAPI) -> None:
        """Add the routes to ``app``, turn a `LoginRequiredError` from any route into a new
        login, and a `SharedStoreError` (the session or pending-login store on Redis could not
        be reached) into a 503 that asks to try again, not a 500."""
        app.include_router(self._router)
        app.add_exception_handler(LoginRequiredError, self._login_required)
        app.add_exception_handler(SharedStoreError, self._store_unavailable)

    # -- dependencies ----------------------------------------------------------------------

    async def person(self, request: Request) -> IDPortenSession:
        """A dependency: the logged-in person's session (an ``httpx.Auth`` for their
        ID-porten token); a browser without one is sent to log in."""
        session = await self.current(request)
        if session is None:
            raise self._needs_login(request)
        return session

    async def altinn_auth(self, request: Request) -> AltinnExchangeAuth:
        """A dependency: the logged-in person's auth for Altinn (their ID-porten token
        exchanged for an Altinn token, cached by its expiry); a browser without a login is
        sent to log in."""
        return AltinnExchangeAuth(await self.person(request))

    async def current(self, request: Request) -> IDPortenSession | None:
        """The logged-in person's session, or ``None`` (for a page that works either way)."""
        key = self._session_key(request)
        if key is None:
            return None
        idporten = self._client(request)
        if await idporten.store.load(key) is None:
            return None
        return idporten.session(key)

    # -- the routes ------------------------------------------------------------------------

    async def _login(self, request: Request, next: str | None = None) -> Response:  # noqa: A002
        idporten = self._client(request)
        self._check_redirect_uri(idporten)
        pushed = idporten.pushed_login_available if self._pushed is None else self._pushed
        try:
            login = await idporten.start_pushed_login() if pushed else idporten.start_login()
        except (NetworkError, TokenError) as exc:
            logger.warning("could not start a login: %s", exc)
            return _page(502, "ID-porten is not answering", "Try again in a moment.")
        pending_id = secrets.token_urlsafe(32)
        target = _local_path(next, self._home)
        await self._pending.put(
            _digest(pending_id), {"login": login.to_dict(), "next": target}, ttl=self._timeout
        )
        response = RedirectResponse(login.url, status_code=303)
        response.headers["Cache-Control"] = "no-store"
        self._set_cookie(
            response,
            self._login_cookie,
            self._signer.sign("login", pending_id),
            max_age=int(self._timeout),
            path=self._prefix,
        )
        return response

    async def _callback(self, request: Request) -> Response:
        idporten = self._client(request)
        again = (self.login_path, "Log in again")
        pending_id = self._signer.unsign("login", request.cookies.get(self._login_cookie))
        data = await self._pending.take(_digest(pending_id)) if pending_id else None
        login = _pending_login(data)
        if data is None or login is None:
            response = _page(
                400,
                "This login has expired",
                "It took too long, was finished already, or was started in another browser.",
                again,
            )
            self._clear_cookie(response, self._login_cookie, path=self._prefix)
            return response
        target = _local_path(str(data.get("next") or ""), self._home)
        old = self._session_key(request)
        session_id = secrets.token_urlsafe(32)
        try:
            params = _callback_params(request)
            await idporten.complete_login(params, login, session_key=self._key_of(session_id))
        except AuthorizationError as exc:
            response = _page(403, "You were not logged in", f"ID-porten said: {exc.error}.", again)
        except CallbackError as exc:
            response = _page(400, "This login cannot be completed", str(exc), again)
        except AltinnError as exc:
            logger.warning("could not complete a login: %s", exc)
            response = _page(502, "The login failed", "ID-porten's answer was not usable.", again)
        else:
            if old is not None:
                await idporten.session(old).end()
            response = RedirectResponse(target, status_code=303)
            response.headers["Cache-Control"] = "no-store"
            self._set_cookie(
                response,
                self._cookie,
                self._signer.sign("session", session_id),
                max_age=self._max_age,
                path="/",
            )
        self._clear_cookie(response, self._login_cookie, path=self._prefix)
        return response

    async def _logout(self, request: Request) -> Response:
        session = await self.current(request)
        target = self._home
        if session is not None:
            try:
                if (
                    self._post_logout is not None
                    and session.client.environment.idporten
                    and (session.client.environment.idporten.end_session_endpoint)
                ):
                    target = await session.logout_url(post_logout_redirect_uri=self._post_logout)
                else:
                    await session.revoke()
            except AltinnError as exc:
                # The session has ended here whatever ID-porten answered.
                logger.warning("logout: ID-porten did not take part: %s", exc)
        response = RedirectResponse(target, status_code=303)
        response.headers["Cache-Control"] = "no-store"
        self._clear_cookie(response, self._cookie, path="/")
        return response

    async def _login_required(self, request: Request, exc: Exception) -> Response:
        failure = self._needs_login(request)
        location = (failure.headers or {}).get("Location")
        if location is not None:
            response: Response = RedirectResponse(location, status_code=303)
        else:
            response = JSONResponse({"detail": failure.detail}, status_code=failure.status_code)
        self._clear_cookie(response, self._cookie, path="/")
        return response

    async def _store_unavailable(self, request: Request, exc: Exception) -> Response:
        logger.error("%s", exc, extra={"altinn_error": type(exc).__name__})
        headers = {"Retry-After": "5", "Cache-Control": "no-store"}
        if "text/html" in request.headers.get("accept", ""):
            response = _page(503, "Logins are unavailable", "Try again in a moment.")
            response.headers.update(headers)
            return response
        detail = {"message": "the login session store is unavailable; try again"}
        return JSONResponse({"detail": detail}, status_code=503, headers=headers)

    # -- helpers ---------------------------------------------------------------------------

    def _client(self, request: Request) -> IDPortenClient:
        client = self._idporten
        if not isinstance(client, IDPortenClient):
            client = client(request)
            if not isinstance(client, IDPortenClient):
                raise ConfigurationError("the idporten dependency did not give an IDPortenClient")
        return client

    def _check_redirect_uri(self, idporten: IDPortenClient) -> None:
        path = urllib.parse.urlsplit(idporten.redirect_uri).path
        if path != f"{self._prefix}/callback":
            raise ConfigurationError(
                f"the ID-porten client's redirect_uri ends in {path!r}, "
                f"but the callback route is {self._prefix}/callback"
            )

    def _session_key(self, request: Request) -> str | None:
        session_id = self._signer.unsign("session", request.cookies.get(self._cookie))
        return None if session_id is None else self._key_of(session_id)

    @staticmethod
    def _key_of(session_id: str) -> str:
        return f"web:{_digest(session_id)}"

    def _needs_login(self, request: Request) -> HTTPException:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"{self.login_path}?{urllib.parse.urlencode({'next': here})}"
        browser = request.method in ("GET", "HEAD") and "text/html" in request.headers.get(
            "accept", ""
        )
        if browser:
            return HTTPException(303, headers={"Location": login, "Cache-Control": "no-store"})
        return HTTPException(
            401, detail={"message": "log in with ID-porten first", "login": self.login_path}
        )

    def _set_cookie(
        self, response: Response, name: str, value: str, *, max_age: int | None, path: str
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )

    def _clear_cookie(self, response: Response, name: str, *, path: str) -> None:
        response.delete_cookie(name, path=path, secure=self._secure, httponly=True, samesite="lax")
