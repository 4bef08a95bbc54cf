"""ID-porten: log a person in (authorization code + PKCE), keep them logged in, call as them.

`IDPortenClient` is the registered client: its configuration, HTTP client, the provider's keys,
the session store, and the login itself. `IDPortenSession` is one person's login, handed out by
`IDPortenClient.session`: the ``httpx.Auth`` that calls as them, refreshes their token, and owns
everything derived from it (an exchanged Altinn token ends with the session).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal, Self

import anyio
import attrs
import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from ._auth import TokenAuth, origin_policy
from ._context import Closing, TokenContext
from ._environment import Environment
from ._httpcompat import AsyncClient
from ._jwks import JWKSCache
from ._jwt import sign_jwt, signer_header
from ._keys import Signer
from ._loopback import receive_callback
from ._oauth import Form, TokenEndpoint, TokenResponse, get_with_token
from ._origins import ForeignOrigins
from ._retry import RetryPolicy
from ._sessions import IDTokenClaims, LoginSession, MemoryTokenStore, TokenStore
from ._tokens import AccessToken, Clock, TokenCache
from .exceptions import (
    AuthorizationError,
    CallbackError,
    ConfigurationError,
    IDTokenError,
    LoginRequiredError,
    TokenRequestError,
)

__all__ = ["IDPortenClient", "IDPortenSession", "LoginRequest"]

logger = logging.getLogger("altinn_async")

ClientAuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_LOA_ORDER = {"idporten-loa-low": 0, "idporten-loa-substantial": 1, "idporten-loa-high": 2}
_ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512"]


def _registry() -> JWSRegistry:
    registry = JWSRegistry(algorithms=_ID_TOKEN_ALGORITHMS)
    # ID-porten puts its certificate chain (x5c) in the header: larger than joserfc's default.
    registry.max_header_length = 16_384
    return registry


@attrs.frozen
class LoginRequest:
    """A login in progress: the URL to send the browser to, and what checks the answer.

    Keep it server-side (in the web session) between `IDPortenAuth.start_login` and
    `IDPortenAuth.complete_login`: it holds the PKCE verifier. `to_dict` / `from_dict` turn it
    into plain data for a session store.

    Attributes:
        url: where to send the browser.
        state: the value the callback must return (against forged callbacks).
        nonce: the value the id_token must carry (against replayed id_tokens).
        code_verifier: the PKCE verifier (secret; not in ``repr``).
        redirect_uri: where the provider sends the browser back.
        acr_values: the levels of assurance asked for, if any.
    """

    url: str
    state: str
    nonce: str
    code_verifier: str = attrs.field(repr=False)
    redirect_uri: str
    acr_values: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain data for a server-side session store (it holds the PKCE verifier)."""
        return attrs.asdict(
            self, value_serializer=lambda _, __, v: list(v) if isinstance(v, tuple) else v
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The login `to_dict` made."""
        try:
            return cls(
                url=str(data["url"]),
                state=str(data["state"]),
                nonce=str(data["nonce"]),
                code_verifier=str(data["code_verifier"]),
                redirect_uri=str(data["redirect_uri"]),
                acr_values=tuple(str(v) for v in data.get("acr_values", ())),
            )
        except (KeyError, TypeError) as exc:
            raise ConfigurationError("a stored login request is malformed") from exc


def _token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


_REFUSED_REFRESH = ("invalid_grant", "invalid_token", "unauthorized_client")


class IDPortenClient(Closing):
    """An ID-porten client: logs people in, and hands out their sessions.

    Log a person in with `start_login` and `complete_login` (authorization code flow with PKCE
    S256, ``state`` and ``nonce``; `start_pushed_login` for pushed authorization requests), or
    with `login_in_browser` in a command-line program. The login is kept in ``store`` under a
    session key (a web backend's own session id, say); `session` hands out the ``httpx.Auth``
    for that person. Tokens are refreshed before they expire, once however many requests wait,
    also across the workers of a web application that share a store: one worker refreshes while
    the others wait for its lease and read the refreshed session. A rotated refresh token is
    stored before the new access token is used. When the refresh token has expired or been
    revoked, `LoginRequiredError` says to log in again.

    The client owns its HTTP client (unless one is given) and the token cache its sessions
    share: open it once per application and close it at shutdown (``async with``); sessions are
    cheap handles and close nothing.

    Example::

        idporten = altinn.IDPortenClient(
            client_id="...", client_secret="...", redirect_uri="https://app.example/callback",
            scopes=["openid", "altinn:instances.read"], environment=altinn.TEST,
            acr_values="idporten-loa-substantial")
        login = idporten.start_login()            # redirect the browser to login.url
        await idporten.complete_login(callback_url, login, session_key=web_session_id)
        auth = altinn.AltinnExchangeAuth(idporten.session(web_session_id))
        async with httpx.AsyncClient(auth=auth, base_url=altinn.TEST.platform) as http: ...

    Args:
        client_id: the ID-porten client id.
        redirect_uri: the registered redirect URI.
        scopes: the scopes to ask for (``openid`` is added if missing).
        environment: the environment whose ID-porten to use.
        client_secret: the secret, for ``client_secret_basic`` (default) or ``_post``.
        key: a signing key for ``private_key_jwt`` (with ``kid``, or a certificate for ``x5c``).
        token_endpoint_auth_method: how the client authenticates; chosen from ``client_secret``
            or ``key`` when omitted, ``none`` for a public client with neither.
        acr_values: the level(s) of assurance to require; the id_token's ``acr`` must reach the
            lowest of them.
        ui_locales: ``nb``, ``nn``, ``en`` or ``se``.
        prompt: e.g. ``login`` to force a new authentication.
        store: where sessions live (`MemoryTokenStore` by default; `FileTokenStore` for a CLI
            or several processes of one user; your own for a web application's workers).
        http_client: the client for token, JWKS, userinfo and revocation requests (one is made,
            and closed by `aclose`, if omitted).
        cache: a `TokenCache` to share.
        clock: the time source.
        leeway: seconds of clock skew accepted on the id_token's ``exp`` and ``iat``.
        retry: the `RetryPolicy` for requests to ID-porten. A refresh is retried only when it
            surely did not reach ID-porten: a refresh token it saw is spent.
        refresh_lease: seconds a worker may hold a session's refresh lease before another may
            take over (the worker may have died).
        allowed_origins: more origins to send the person's access token to (beside the
            environment's Altinn origins).
        foreign_origins: ``"refuse"`` (the default) or ``"omit"``: what a request to any other
            origin gets.
    """

    def __init__(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        scopes: Iterable[str],
        environment: Environment,
        client_secret: str | None = None,
        key: Signer | None = None,
        token_endpoint_auth_method: ClientAuthMethod | None = None,
        acr_values: str | Sequence[str] | None = None,
        ui_locales: str | None = None,
        prompt: str | None = None,
        store: TokenStore | None = None,
        http_client: AsyncClient | None = None,
        cache: TokenCache | None = None,
        clock: Clock | None = None,
        leeway: int = 30,
        retry: RetryPolicy | None = None,
        refresh_lease: float = 30.0,
        allowed_origins: Iterable[str] = (),
        foreign_origins: ForeignOrigins = "refuse",
    ) -> None:
        if not isinstance(environment, Environment):
            raise ConfigurationError(
                f"environment must be an altinn_async.Environment, got {type(environment).__name__}"
            )
        server = environment.idporten
        if server is None:
            raise ConfigurationError(f"environment {environment.name!r} has no ID-porten")
        if server.authorization_endpoint is None:
            raise ConfigurationError("the ID-porten server has no authorization_endpoint")
        if not client_id.strip():
            raise ConfigurationError("client_id must be a non-empty string")
        method = _auth_method(token_endpoint_auth_method, client_secret, key)
        if store is not None and not isinstance(store, TokenStore):
            raise ConfigurationError(
                "store must implement altinn_async.TokenStore (load, save, delete, lease)"
            )
        if not refresh_lease > 0:
            raise ConfigurationError("refresh_lease must be a positive number of seconds")
        scope_list = list(dict.fromkeys([scopes] if isinstance(scopes, str) else scopes))
        if any(not s or any(c.isspace() for c in s) for s in scope_list):
            raise ConfigurationError("every scope must be one non-empty word")
        if "openid" not in scope_list:
            scope_list.insert(0, "openid")
        acr = (acr_values,) if isinstance(acr_values, str) else tuple(acr_values or ())
        self._environment = environment
        self._server = server
        self._client_id = client_id
        self._client_secret = client_secret
        self._key = key
        self._method: ClientAuthMethod = method
        self._redirect_uri = redirect_uri
        self._scopes = tuple(scope_list)
        self._acr_values = acr
        self._ui_locales = ui_locales
        self._prompt = prompt
        self._store: TokenStore = store if store is not None else MemoryTokenStore()
        self._leeway = leeway
        self._lease_ttl = refresh_lease
        self._context = TokenContext(http_client=http_client, cache=cache, clock=clock, retry=retry)
        self._endpoint = TokenEndpoint(self._context, server="ID-porten")
        self._origins = origin_policy(
            environment,
            allowed_origins=allowed_origins,
            foreign_origins=foreign_origins,
            what="the ID-porten access token",
        )
        self._jwks = (
            JWKSCache(server.jwks_uri, clock=self._context.clock, retry=self._context.retry)
            if server.jwks_uri
            else None
        )

    def __repr__(self) -> str:
        return (
            f"IDPortenClient(client_id={self._client_id!r}, method={self._method!r}, "
            f"environment={self._environment.name!r}, store={self._store!r})"
        )

    @property
    def client_id(self) -> str:
        """The ID-porten client id."""
        return self._client_id

    @property
    def environment(self) -> Environment:
        """The environment whose ID-porten this is."""
        return self._environment

    @property
    def redirect_uri(self) -> str:
        """The registered redirect URI the provider sends the browser back to."""
        return self._redirect_uri

    @property
    def pushed_login_available(self) -> bool:
        """Whether the provider takes pushed authorization requests (`start_pushed_login`)."""
        return self._server.pushed_authorization_request_endpoint is not None

    @property
    def store(self) -> TokenStore:
        """Where the sessions are kept."""
        return self._store

    @property
    def cache(self) -> TokenCache:
        """The token cache every session of this client shares."""
        return self._context.cache

    def session(self, key: str = "default") -> IDPortenSession:
        """The session stored under ``key``, as an ``httpx.Auth`` (no I/O; a cheap handle).

        Every handle for one key shares the tokens (in this client's cache) and the stored
        session: make one per request if that suits you.
        """
        if not key:
            raise ConfigurationError("a session key must be a non-empty string")
        return IDPortenSession(self, key)

    async def aclose(self) -> None:
        """Close the HTTP client this client made (one given to it stays open)."""
        await self._context.aclose()

    # -- logging in --------------------------------------------------------------------------

    def _authorization_parameters(self, state: str, nonce: str, challenge: str) -> dict[str, str]:
        params = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": self._redirect_uri,
            "scope": " ".join(self._scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if self._acr_values:
            params["acr_values"] = " ".join(self._acr_values)
        if self._ui_locales:
            params["ui_locales"] = self._ui_locales
        if self._prompt:
            params["prompt"] = self._prompt
        return params

    def _new_login(self) -> tuple[str, str, str, str]:
        state, nonce, verifier = _token(), _token(), _token(48)
        # S256 of a 64-character verifier, base64url without padding (ID-porten refuses '=').
        challenge = create_s256_code_challenge(verifier)
        return state, nonce, verifier, challenge

    def start_login(self) -> LoginRequest:
        """Begin a login: the URL to send the browser to, and what checks the answer."""
        state, nonce, verifier, challenge = self._new_login()
        params = self._authorization_parameters(state, nonce, challenge)
        url = _with_query(str(self._server.authorization_endpoint), params)
        return LoginRequest(url, state, nonce, verifier, self._redirect_uri, self._acr_values)

    async def start_pushed_login(self) -> LoginRequest:
        """Begin a login with a pushed authorization request (``/par``).

        The parameters go to the provider over the back channel; the browser URL carries only
        ``client_id`` and ``request_uri``.

        Raises:
            ConfigurationError: the provider has no PAR endpoint.
            TokenRequestError: the provider refused the request.
        """
        endpoint = self._server.pushed_authorization_request_endpoint
        if endpoint is None:
            raise ConfigurationError(
                "the ID-porten server has no pushed_authorization_request_endpoint"
            )
        state, nonce, verifier, challenge = self._new_login()
        params = self._authorization_parameters(state, nonce, challenge)
        # A pushed request that reached ID-porten twice only makes an unused request_uri.
        response, _ = await self._endpoint.post(
            endpoint,
            self._form(params),
            what="pushed authorization request",
            idempotent=True,
            expect=(200, 201),
        )
        body = _json_object(response)
        request_uri = body.get("request_uri") if body else None
        if not isinstance(request_uri, str) or not request_uri:
            raise TokenRequestError(
                "the PAR endpoint answered without a request_uri", endpoint=endpoint
            )
        url = _with_query(
            str(self._server.authorization_endpoint),
            {"client_id": self._client_id, "request_uri": request_uri},
        )
        return LoginRequest(url, state, nonce, verifier, self._redirect_uri, self._acr_values)

    async def complete_login(
        self,
        callback: str | Mapping[str, str],
        login: LoginRequest,
        *,
        session_key: str = "default",
    ) -> LoginSession:
        """Finish a login from the callback (the full redirect URL, or its query parameters).

        Checks ``state`` and ``iss`` (RFC 9207), exchanges the code with the PKCE verifier,
        validates the id_token, and stores the session under ``session_key``, replacing (and
        ending) whatever session was there: tokens derived from an earlier login under that
        key, an exchanged Altinn token among them, are not used again.

        Raises:
            AuthorizationError: the provider answered with an error (``access_denied``, ...).
            CallbackError: the callback does not answer ``login``.
            TokenRequestError: the code exchange failed.
            IDTokenError: the id_token is not valid.
        """
        handle = self.session(session_key)
        params = _callback_params(callback, login)
        if not hmac.compare_digest(params.get("state", ""), login.state):
            raise CallbackError("the callback's state does not match this login (forged or stale)")
        issuer = params.get("iss")
        if issuer is not None and issuer != self._server.issuer:
            raise CallbackError(
                f"the callback comes from issuer {issuer!r}, not {self._server.issuer!r} (mix-up)"
            )
        if issuer is None and self._server.authorization_response_iss_parameter_supported:
            raise CallbackError("the callback has no iss although the provider always sends one")
        if "error" in params:
            error = params["error"]
            description = params.get("error_description")
            message = f"ID-porten refused the login: {error}"
            if description:
                message += f": {description}"
            raise AuthorizationError(message, error=error, error_description=description)
        code = params.get("code")
        if not code:
            raise CallbackError("the callback has neither a code nor an error")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": login.redirect_uri,
            "code_verifier": login.code_verifier,
        }
        # A code is single-use: sent twice, the second answer is invalid_grant.
        response = await self._endpoint.token(
            self._server.token_endpoint, self._form(form), what="code exchange", idempotent=False
        )
        session = await self._session_from(response, nonce=login.nonce, acr=login.acr_values)
        await self._store.save(session_key, session)
        self._context.cache.discard(handle.cache_key)
        logger.info(
            "logged in (%s, acr=%s)",
            handle.describe(),
            session.claims.acr,
            extra={**handle.log_extra(), "altinn_acr": session.claims.acr},
        )
        return session

    async def login_in_browser(
        self,
        *,
        session_key: str = "default",
        open_browser: bool = True,
        timeout: float = 300.0,  # noqa: ASYNC109 - a deadline for a person, not for I/O
        announce: Callable[[str], object] = print,
        pushed: bool = False,
    ) -> LoginSession:
        """Log in from a command-line or desktop program.

        Listens on the loopback address and port of ``redirect_uri`` (which must be
        ``http://127.0.0.1:<port>/...`` or ``http://localhost:<port>/...``, registered on the
        client), shows the login URL with ``announce`` and opens it in a browser if it can, and
        completes the login when the browser comes back.

        Raises:
            ConfigurationError: the redirect URI is not a loopback URL.
            TimeoutError: nobody came back within ``timeout`` seconds.
        """
        login = await self.start_pushed_login() if pushed else self.start_login()
        callback = await receive_callback(
            login.url,
            login.redirect_uri,
            open_browser=open_browser,
            timeout=timeout,
            announce=announce,
        )
        return await self.complete_login(callback, login, session_key=session_key)

    # -- a session's tokens -----------------------------------------------------------------

    def _access_token(self, session: LoginSession) -> AccessToken:
        return AccessToken(
            access_token=session.access_token,
            expires_at=session.expires_at,
            issued_at=session.issued_at,
            scopes=session.scopes,
        )

    async def _session_token(self, handle: IDPortenSession) -> AccessToken:
        """The access token of ``handle``'s session, refreshed if it is due (the cache's fetch)."""
        key = handle.key
        cache = self._context.cache
        session = await self._store.load(key)
        if session is None:
            raise LoginRequiredError(f"no login for {handle.describe()}: log in first")
        stored = self._access_token(session)
        if cache.fresh(stored):
            return stored  # e.g. a new process with a session from the store
        if session.refresh_token is None:
            if cache.usable(stored):
                return stored
            raise LoginRequiredError(
                f"the access token of {handle.describe()} expired and there is no refresh token"
            )
        async with self._store.lease(key, ttl=self._lease_ttl):
            # Read again now that no one else refreshes: another worker (or process) may have
            # refreshed while this one waited, and its refresh token is the one to use.
            current = await self._store.load(key)
            if current is None:
                raise LoginRequiredError(f"{handle.describe()} was logged out: log in again")
            if current.revision != session.revision and cache.fresh(self._access_token(current)):
                return self._access_token(current)
            # Done well within the lease: past it another worker may take over and spend the
            # same refresh token.
            with anyio.move_on_after(self._lease_ttl * 0.8):
                return await self._refresh(handle, current)
            raise TokenRequestError(
                f"the refresh of {handle.describe()} took longer than its lease "
                f"({self._lease_ttl:.0f} s); giving up rather than racing another worker",
                endpoint=self._server.token_endpoint,
            )

    async def _refresh(self, handle: IDPortenSession, current: LoginSession) -> AccessToken:
        key = handle.key
        if current.refresh_token is None:
            raise LoginRequiredError(f"{handle.describe()} has no refresh token: log in again")
        form = {"grant_type": "refresh_token", "refresh_token": current.refresh_token}
        try:
            # Not idempotent: once ID-porten saw a refresh token it is spent, and spending it
            # again makes a provider that detects reuse end the whole login.
            response = await self._endpoint.token(
                self._server.token_endpoint,
                self._form(form),
                what="token refresh",
                idempotent=False,
            )
        except TokenRequestError as exc:
            if exc.error in _REFUSED_REFRESH:
                # Only the session whose token was refused goes: not one another worker saved.
                await self._store.delete(key, if_revision=current.revision)
                self._context.cache.discard(handle.cache_key)
                raise LoginRequiredError(
                    f"ID-porten refused the refresh token of {handle.describe()} "
                    f"({exc.error}): log in again"
                ) from exc
            raise
        renewed = await self._session_from(response, previous=current)
        # Stored before anyone uses the new access token: with rotation the old refresh token is
        # spent now, and losing the new one would log the person out.
        if not await self._store.save(key, renewed, if_revision=current.revision):
            # The session changed under us although we held the lease (it expired, or a logout
            # or a new login does not take leases): what is stored now wins.
            latest = await self._store.load(key)
            if latest is None:
                raise LoginRequiredError(
                    f"{handle.describe()} was logged out during a refresh: log in again"
                )
            logger.info(
                "a refresh of %s lost to a newer session",
                handle.describe(),
                extra=handle.log_extra(),
            )
            return self._access_token(latest)
        logger.info("refreshed the access token (%s)", handle.describe(), extra=handle.log_extra())
        return self._access_token(renewed)

    async def _session_from(
        self,
        response: TokenResponse,
        *,
        nonce: str | None = None,
        acr: tuple[str, ...] = (),
        previous: LoginSession | None = None,
    ) -> LoginSession:
        id_token = response.id_token
        if id_token is not None:
            claims = await self._validate_id_token(id_token, nonce=nonce, acr=acr)
            if previous is not None and claims.sub != previous.claims.sub:
                raise IDTokenError("the refreshed id_token names another person")
        elif previous is not None:
            id_token, claims = previous.id_token, previous.claims
        else:
            raise IDTokenError("ID-porten answered the login without an id_token")
        refresh_token = response.refresh_token
        if refresh_token is None and previous is not None:
            # Without rotation the provider may not send it again: keep the one we have.
            refresh_token = previous.refresh_token
        return LoginSession(
            access_token=response.access_token,
            expires_at=response.expires_at,
            issued_at=response.sent_at,
            refresh_token=refresh_token,
            id_token=id_token,
            claims=claims,
            scopes=response.scopes or self._scopes,
        )

    async def _validate_id_token(
        self, id_token: str, *, nonce: str | None, acr: tuple[str, ...]
    ) -> IDTokenClaims:
        if self._jwks is None:
            raise IDTokenError("the ID-porten server has no jwks_uri to check id_tokens with")
        registry = _registry()
        kid = _unverified_kid(id_token)
        keys = await self._jwks.key_set(self._context.client(), kid=kid)
        try:
            token = jwt.decode(id_token, keys, registry=registry)
        except (JoseError, ValueError) as exc:
            raise IDTokenError(
                f"the id_token's signature does not verify ({type(exc).__name__})"
            ) from exc
        claims = dict(token.claims)
        if isinstance(claims.get("amr"), str):
            claims["amr"] = [claims["amr"]]  # the old platform's string form
        checker = CodeIDToken(
            claims,
            dict(token.header),
            options={
                "iss": {"essential": True, "value": self._server.issuer},
                "aud": {"essential": True, "value": self._client_id},
                "sub": {"essential": True},
            },
            params={"nonce": nonce, "client_id": self._client_id}
            if nonce
            else {"client_id": self._client_id},
        )
        try:
            checker.validate(now=int(self._context.clock()), leeway=self._leeway)
        except (JoseError, ValueError) as exc:
            raise IDTokenError(f"the id_token is not valid: {exc}") from exc
        if nonce is not None and claims.get("nonce") != nonce:
            raise IDTokenError("the id_token's nonce does not match this login")
        typed = IDTokenClaims.from_claims(claims)
        if acr and not _acr_reaches(typed.acr, acr):
            raise IDTokenError(
                f"the login reached acr {typed.acr!r}, less than the {' or '.join(acr)} asked for"
            )
        return typed

    # -- the token endpoint and friends --------------------------------------------------------

    def _form(self, params: Mapping[str, str]) -> Callable[[], Awaitable[Form]]:
        async def build() -> Form:
            form = dict(params)
            headers = await self._client_authentication(form)
            return form, headers

        return build

    async def _client_authentication(self, form: dict[str, str]) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self._method == "client_secret_basic":
            # RFC 6749 §2.3.1: both parts form-encoded before the Basic encoding.
            user = urllib.parse.quote(self._client_id, safe="")
            secret = urllib.parse.quote(self._client_secret or "", safe="")
            raw = f"{user}:{secret}"
            headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode()
        elif self._method == "client_secret_post":
            form["client_id"] = self._client_id
            form["client_secret"] = self._client_secret or ""
        elif self._method == "private_key_jwt":
            form["client_id"] = self._client_id  # ID-porten wants it beside the assertion
            form["client_assertion_type"] = _ASSERTION_TYPE
            form["client_assertion"] = await self.create_client_assertion()
        else:
            form["client_id"] = self._client_id
        return headers

    async def create_client_assertion(self) -> str:
        """A new ``private_key_jwt`` assertion: ``iss`` = ``sub`` = client id, ``aud`` = issuer."""
        if self._key is None:
            raise ConfigurationError("private_key_jwt needs key")
        iat = int(self._context.clock())
        claims = {
            "iss": self._client_id,
            "sub": self._client_id,
            "aud": self._server.issuer,
            "iat": iat,
            "exp": iat + 60,
            "jti": str(uuid.uuid4()),
        }
        return await sign_jwt(self._key, signer_header(self._key), claims)

    # -- userinfo, logout, revocation -----------------------------------------------------------

    async def _userinfo(self, handle: IDPortenSession) -> dict[str, Any]:
        endpoint = self._server.userinfo_endpoint
        if endpoint is None:
            raise ConfigurationError("the ID-porten server has no userinfo_endpoint")
        token = await handle.get_token()

        def unreachable(reason: str) -> TokenRequestError:
            return TokenRequestError(
                f"could not reach ID-porten's userinfo at {endpoint}: {reason}", endpoint=endpoint
            )

        response = await get_with_token(
            self._context,
            endpoint,
            token.access_token,
            accept="application/json",
            failure=unreachable,
        )
        body = _json_object(response) if response.status_code == 200 else None
        if body is None:
            raise TokenRequestError(
                f"ID-porten userinfo answered HTTP {response.status_code}"
                + ("" if response.status_code != 200 else " without a JSON object"),
                endpoint=endpoint,
                status_code=response.status_code,
            )
        return body

    async def _revoke(self, handle: IDPortenSession) -> None:
        session = await self._store.load(handle.key)
        endpoint = self._server.revocation_endpoint
        try:
            if session is not None and endpoint is not None:
                token, hint = (
                    (session.refresh_token, "refresh_token")
                    if session.refresh_token
                    else (session.access_token, "access_token")
                )
                # RFC 7009: 200 with an empty body; revoking twice is harmless.
                await self._endpoint.post(
                    endpoint,
                    self._form({"token": token, "token_type_hint": hint}),
                    what="revocation",
                    idempotent=True,
                )
        finally:
            await self._forget(handle)

    async def _logout_url(
        self,
        handle: IDPortenSession,
        *,
        post_logout_redirect_uri: str | None,
        state: str | None,
    ) -> str:
        endpoint = self._server.end_session_endpoint
        if endpoint is None:
            raise ConfigurationError("the ID-porten server has no end_session_endpoint")
        session = await self._store.load(handle.key)
        params = {"client_id": self._client_id}
        if session is not None:
            params["id_token_hint"] = session.id_token
        if post_logout_redirect_uri is not None:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        if state is not None:
            params["state"] = state
        await self._forget(handle)
        return _with_query(endpoint, params)

    async def _forget(self, handle: IDPortenSession) -> None:
        await self._store.delete(handle.key)
        self._context.cache.discard(handle.cache_key)
        logger.info("ended %s", handle.describe(), extra=handle.log_extra())


class IDPortenSession(TokenAuth):
    """One person's ID-porten login, as an ``httpx.Auth`` for any ``httpx.AsyncClient``.

    Handed out by `IDPortenClient.session` (and cheap to get again: every handle for a key shares
    the stored session and the client's token cache). Every request to the environment's Altinn
    origins carries the person's access token, refreshed when it is due. The session owns what is
    derived from it: when it ends (`revoke`, `logout_url`, a refused refresh token) or another
    person logs in under its key, an Altinn token exchanged from it is not used again.

    It closes nothing: the `IDPortenClient` owns the connections.
    """

    _flow = "idporten"

    def __init__(self, client: IDPortenClient, key: str) -> None:
        super().__init__(
            environment=client.environment,
            context=client._context,  # noqa: SLF001 - the client hands out its own sessions
            owns_context=False,
            origins=client._origins,  # noqa: SLF001
        )
        self._client = client
        self._key = key
        self._cache_key = ("idporten", client._server.issuer, client.client_id, key)  # noqa: SLF001

    def __repr__(self) -> str:
        return f"IDPortenSession(client_id={self._client.client_id!r}, session={self.label})"

    @property
    def client(self) -> IDPortenClient:
        """The client this session belongs to."""
        return self._client

    @property
    def key(self) -> str:
        """The key of this session in the store."""
        return self._key

    @property
    def label(self) -> str:
        """A digest of the key, for logs (a key may be a web session id or a national id)."""
        return hashlib.sha256(self._key.encode()).hexdigest()[:10]

    def describe(self) -> str:
        """This session in a message or log line (without its key)."""
        return f"ID-porten session {self.label} of client {self._client.client_id!r}"

    def _describe(self) -> str:
        return self.describe()

    def log_extra(self) -> dict[str, str]:
        """This session's fields for a structured log record (its label, not its key)."""
        return {
            "altinn_flow": self._flow,
            "altinn_session": self.label,
            "altinn_client_id": self._client.client_id,
        }

    @property
    def cache_key(self) -> Hashable:
        return self._cache_key

    @property
    def exchange_provider(self) -> str:
        return "id-porten"

    def _shares_tokens(self) -> bool:
        # The TokenStore is what processes share for a person: its revisions and leases keep a
        # logout or a new login under the key from being answered with another process's copy.
        return False

    async def _fetch(self) -> AccessToken:
        return await self._client._session_token(self)  # noqa: SLF001

    async def load(self) -> LoginSession | None:
        """The stored session, if there is one (it may have expired)."""
        return await self._client.store.load(self._key)

    async def userinfo(self) -> dict[str, Any]:
        """The person's userinfo (``sub``, ``pid``, ``locale``), with the current access token.

        Raises:
            ConfigurationError: the provider has no userinfo endpoint.
            LoginRequiredError: nobody is logged in.
            TokenRequestError: the endpoint refused.
        """
        return await self._client._userinfo(self)  # noqa: SLF001

    async def revoke(self) -> None:
        """Revoke the session's tokens at ID-porten (RFC 7009) and end the session.

        Revoking the refresh token ends every token of the grant, for this client only; the
        person's single sign-on session is untouched (use `logout_url` for that). The session
        ends here even if the revocation fails.
        """
        await self._client._revoke(self)  # noqa: SLF001

    async def end(self) -> None:
        """End the session here, without telling ID-porten (`revoke` tells it): the stored
        session and every token derived from it are gone."""
        await self._client._forget(self)  # noqa: SLF001

    async def logout_url(
        self, *, post_logout_redirect_uri: str | None = None, state: str | None = None
    ) -> str:
        """The URL that ends the person's ID-porten session (send the browser there).

        It carries the id_token as ``id_token_hint``; the local session ends now.

        Raises:
            ConfigurationError: the provider has no end_session endpoint.
        """
        return await self._client._logout_url(  # noqa: SLF001
            self, post_logout_redirect_uri=post_logout_redirect_uri, state=state
        )


def _auth_method(
    method: ClientAuthMethod | None, client_secret: str | None, key: Signer | None
) -> ClientAuthMethod:
    chosen: ClientAuthMethod = method or (
        "private_key_jwt" if key is not None else "client_secret_basic" if client_secret else "none"
    )
    if chosen in ("client_secret_basic", "client_secret_post") and not client_secret:
        raise ConfigurationError(f"{chosen} needs client_secret")
    if chosen == "private_key_jwt":
        if key is None:
            raise ConfigurationError("private_key_jwt needs key")
        if key.key_id is None and not key.certificate_chain:
            raise ConfigurationError("the key needs a kid (or a certificate) for private_key_jwt")
    if chosen not in ("client_secret_basic", "client_secret_post", "private_key_jwt", "none"):
        raise ConfigurationError(f"unknown token_endpoint_auth_method {chosen!r}")
    return chosen


def _unverified_kid(token: str) -> str | None:
    # Only to pick the key; the signature is verified with it right after.
    try:
        header = jws.extract_compact(token.encode("ascii"), registry=_registry()).headers()
    except (JoseError, ValueError, UnicodeError) as exc:
        raise IDTokenError("the id_token is not a JWT") from exc
    kid = header.get("kid")
    return kid if isinstance(kid, str) else None


def _acr_reaches(got: str | None, asked: tuple[str, ...]) -> bool:
    if got is None:
        return False
    if got in asked:
        return True
    levels = [_LOA_ORDER[a] for a in asked if a in _LOA_ORDER]
    return got in _LOA_ORDER and bool(levels) and _LOA_ORDER[got] >= min(levels)


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _with_query(url: str, params: Mapping[str, str]) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.urlencode(list(urllib.parse.parse_qsl(parts.query)) + list(params.items()))
    return urllib.parse.urlunsplit(parts._replace(query=query))


def _callback_params(callback: str | Mapping[str, str], login: LoginRequest) -> dict[str, str]:
    if not isinstance(callback, str):
        return {str(k): str(v) for k, v in callback.items()}
    parts = urllib.parse.urlsplit(callback)
    expected = urllib.parse.urlsplit(login.redirect_uri)
    if (parts.scheme, parts.netloc, parts.path) != (
        expected.scheme,
        expected.netloc,
        expected.path,
    ):
        raise CallbackError("the callback URL is not this login's redirect_uri")
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise CallbackError(f"the callback repeats the parameter {name!r}")
        params[name] = value
    return params
