"""ID-porten: log a person in (authorization code + PKCE), keep them logged in, call as them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import urllib.parse
import uuid
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal, Self

import attrs
import httpx
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from ._auth import TokenAuth
from ._environment import Environment
from ._jwks import JWKSCache
from ._jwt import sign_jwt, signer_header
from ._keys import Signer
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

__all__ = ["IDPortenAuth", "LoginRequest"]

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


class IDPortenAuth(TokenAuth):
    """A person logged in with ID-porten, as an ``httpx.Auth`` for any ``httpx.AsyncClient``.

    Log in with `start_login` and `complete_login` (authorization code flow with PKCE S256,
    ``state`` and ``nonce``; `start_pushed_login` for pushed authorization requests), or with
    `login_in_browser` in a command-line program. Afterwards every request carries the person's
    access token; it is refreshed before it expires, once however many requests wait, and a
    rotated refresh token is stored before the new access token is used. When the refresh token
    has expired or been revoked, `LoginRequiredError` says to log in again.

    One object is one login session, kept in ``store`` under ``session_key``; `for_session`
    makes another session sharing the configuration, store, cache and HTTP client (one per user
    of a web backend).

    Example::

        idporten = altinn.IDPortenAuth(
            client_id="...", client_secret="...", redirect_uri="https://app.example/callback",
            scopes=["openid", "altinn:instances.read"], environment=altinn.TEST,
            acr_values="idporten-loa-substantial")
        login = idporten.start_login()            # redirect the browser to login.url
        await idporten.complete_login(callback_url, login)
        async with httpx.AsyncClient(auth=altinn.AltinnExchangeAuth(idporten)) as http: ...

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
        store: where sessions live (`MemoryTokenStore` by default; `FileTokenStore` for a CLI).
        session_key: the key of this session in ``store``.
        http_client: the client for token, JWKS and revocation requests.
        cache: a `TokenCache` to share.
        clock: the time source.
        leeway: seconds of clock skew accepted on the id_token's ``exp`` and ``iat``.
        max_attempts: tries per token request on network errors, 429 and 5xx.
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
        session_key: str = "default",
        http_client: httpx.AsyncClient | None = None,
        cache: TokenCache | None = None,
        clock: Clock | None = None,
        leeway: int = 30,
        max_attempts: int = 3,
    ) -> None:
        super().__init__(
            environment=environment,
            http_client=http_client,
            cache=cache,
            clock=clock,
            max_attempts=max_attempts,
        )
        server = environment.idporten
        if server is None:
            raise ConfigurationError(f"environment {environment.name!r} has no ID-porten")
        if server.authorization_endpoint is None:
            raise ConfigurationError("the ID-porten server has no authorization_endpoint")
        if not client_id.strip():
            raise ConfigurationError("client_id must be a non-empty string")
        method = token_endpoint_auth_method or (
            "private_key_jwt"
            if key is not None
            else "client_secret_basic"
            if client_secret
            else "none"
        )
        if method in ("client_secret_basic", "client_secret_post") and not client_secret:
            raise ConfigurationError(f"{method} needs client_secret")
        if method == "private_key_jwt":
            if key is None:
                raise ConfigurationError("private_key_jwt needs key")
            if key.key_id is None and not key.certificate_chain:
                raise ConfigurationError(
                    "the key needs a kid (or a certificate) for private_key_jwt"
                )
        if method not in ("client_secret_basic", "client_secret_post", "private_key_jwt", "none"):
            raise ConfigurationError(f"unknown token_endpoint_auth_method {method!r}")
        scope_list = list(dict.fromkeys(scopes))
        if any(not s or any(c.isspace() for c in s) for s in scope_list):
            raise ConfigurationError("every scope must be one non-empty word")
        if "openid" not in scope_list:
            scope_list.insert(0, "openid")
        acr = (acr_values,) if isinstance(acr_values, str) else tuple(acr_values or ())
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
        self._session_key = session_key
        self._leeway = leeway
        self._jwks = (
            JWKSCache(server.jwks_uri, clock=self._cache.clock) if server.jwks_uri else None
        )

    def for_session(self, session_key: str) -> IDPortenAuth:
        """The same client for another session (another person), sharing store, cache and HTTP."""
        self._client()  # made now, so that every session shares it and this one closes it
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other._session_key = session_key
        other._owns_client = False  # the original closes it
        return other

    def __repr__(self) -> str:
        return (
            f"IDPortenAuth(client_id={self._client_id!r}, session={self._session_label()}, "
            f"method={self._method!r}, environment={self.environment.name!r})"
        )

    def _session_label(self) -> str:
        # The key may be a web session id or a national id number: logs get a digest of it.
        return hashlib.sha256(self._session_key.encode()).hexdigest()[:10]

    @property
    def client_id(self) -> str:
        """The ID-porten client id."""
        return self._client_id

    @property
    def session_key(self) -> str:
        """The key of this session in the token store."""
        return self._session_key

    @property
    def cache_key(self) -> Hashable:
        return ("idporten", self._server.issuer, self._client_id, self._session_key)

    @property
    def exchange_provider(self) -> str:
        return "id-porten"

    def _describe(self) -> str:
        return f"ID-porten session {self._session_label()} of client {self._client_id!r}"

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
        body = await self._post(
            endpoint, params, what="pushed authorization request", expect=(200, 201)
        )
        request_uri = body.get("request_uri")
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
        self, callback: str | Mapping[str, str], login: LoginRequest
    ) -> LoginSession:
        """Finish a login from the callback (the full redirect URL, or its query parameters).

        Checks ``state`` and ``iss`` (RFC 9207), exchanges the code with the PKCE verifier,
        validates the id_token, and stores the session.

        Raises:
            AuthorizationError: the provider answered with an error (``access_denied``, ...).
            CallbackError: the callback does not answer ``login``.
            TokenRequestError: the code exchange failed.
            IDTokenError: the id_token is not valid.
        """
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
        sent_at = self._cache.clock()
        body = await self._post(self._server.token_endpoint, form, what="code exchange")
        session = await self._session_from(body, sent_at, nonce=login.nonce, acr=login.acr_values)
        await self._store.save(self._session_key, session)
        self._drop_cached()  # a token of an earlier login must not outlive this one
        logger.info("logged in (%s, acr=%s)", self._describe(), session.claims.acr)
        return session

    async def session(self) -> LoginSession | None:
        """The stored session, if there is one (it may have expired)."""
        return await self._store.load(self._session_key)

    # -- tokens ------------------------------------------------------------------------------

    async def _fetch(self) -> AccessToken:
        session = await self._store.load(self._session_key)
        if session is None:
            raise LoginRequiredError(f"no login for {self._describe()}: log in first")
        now = self._cache.clock()
        stored = _access_token(session)
        if stored.expires_at - now > self._cache.refresh_margin(stored):
            return stored  # e.g. a new process with a session from the store
        if session.refresh_token is None:
            raise LoginRequiredError(
                f"the access token of {self._describe()} expired and there is no refresh token"
            )
        form = {"grant_type": "refresh_token", "refresh_token": session.refresh_token}
        try:
            body = await self._post(self._server.token_endpoint, form, what="token refresh")
        except TokenRequestError as exc:
            if exc.error in ("invalid_grant", "invalid_token", "unauthorized_client"):
                await self._store.delete(self._session_key)
                raise LoginRequiredError(
                    f"ID-porten refused the refresh token of {self._describe()} "
                    f"({exc.error}): log in again"
                ) from exc
            raise
        renewed = await self._session_from(body, now, previous=session)
        # Stored before anyone uses the new access token: with rotation the old refresh token is
        # spent now, and losing the new one would log the person out.
        await self._store.save(self._session_key, renewed)
        logger.info("refreshed the access token (%s)", self._describe())
        return _access_token(renewed)

    async def _session_from(
        self,
        body: Mapping[str, Any],
        sent_at: float,
        *,
        nonce: str | None = None,
        acr: tuple[str, ...] = (),
        previous: LoginSession | None = None,
    ) -> LoginSession:
        endpoint = self._server.token_endpoint
        access_token = body.get("access_token")
        expires_in = body.get("expires_in")
        if not isinstance(access_token, str) or not access_token:
            raise TokenRequestError("ID-porten answered without an access_token", endpoint=endpoint)
        if str(body.get("token_type", "Bearer")).lower() != "bearer":
            raise TokenRequestError("ID-porten gave a token that is not Bearer", endpoint=endpoint)
        if (
            not isinstance(expires_in, int | float)
            or isinstance(expires_in, bool)
            or expires_in <= 0
        ):
            raise TokenRequestError("ID-porten gave no usable expires_in", endpoint=endpoint)
        id_token = body.get("id_token")
        if isinstance(id_token, str) and id_token:
            claims = await self._validate_id_token(id_token, nonce=nonce, acr=acr)
            if previous is not None and claims.sub != previous.claims.sub:
                raise IDTokenError("the refreshed id_token names another person")
        elif previous is not None:
            id_token, claims = previous.id_token, previous.claims
        else:
            raise IDTokenError("ID-porten answered the login without an id_token")
        refresh_token = body.get("refresh_token")
        if not isinstance(refresh_token, str) or not refresh_token:
            # Without rotation the provider may not send it again: keep the one we have.
            refresh_token = previous.refresh_token if previous is not None else None
        scope = body.get("scope")
        return LoginSession(
            access_token=access_token,
            expires_at=sent_at + float(expires_in),
            issued_at=sent_at,
            refresh_token=refresh_token,
            id_token=id_token,
            claims=claims,
            scopes=tuple(scope.split()) if isinstance(scope, str) else self._scopes,
        )

    async def _validate_id_token(
        self, id_token: str, *, nonce: str | None, acr: tuple[str, ...]
    ) -> IDTokenClaims:
        if self._jwks is None:
            raise IDTokenError("the ID-porten server has no jwks_uri to check id_tokens with")
        registry = _registry()
        kid = _unverified_kid(id_token)
        keys = await self._jwks.key_set(self._client(), kid=kid)
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
            checker.validate(now=int(self._cache.clock()), leeway=self._leeway)
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

    async def _client_authentication(self, form: dict[str, str]) -> dict[str, str]:
        headers = {"Accept": "application/json"}
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
        iat = int(self._cache.clock())
        claims = {
            "iss": self._client_id,
            "sub": self._client_id,
            "aud": self._server.issuer,
            "iat": iat,
            "exp": iat + 60,
            "jti": str(uuid.uuid4()),
        }
        return await sign_jwt(self._key, signer_header(self._key), claims)

    async def _post(
        self,
        endpoint: str,
        params: Mapping[str, str],
        *,
        what: str,
        expect: tuple[int, ...] = (200,),
        body_expected: bool = True,
    ) -> dict[str, Any]:
        async def build(client: httpx.AsyncClient) -> httpx.Request:
            form = dict(params)
            headers = await self._client_authentication(form)
            return client.build_request("POST", endpoint, data=form, headers=headers)

        outcome = await self._send_with_retries(build, what=f"ID-porten {what}")
        if isinstance(outcome, httpx.TransportError):
            raise TokenRequestError(
                f"could not reach ID-porten at {endpoint}: {type(outcome).__name__}",
                endpoint=endpoint,
            ) from outcome
        await outcome.aread()
        try:
            body = outcome.json()
        except ValueError:
            body = None
        if outcome.status_code in expect and (isinstance(body, dict) or not body_expected):
            return body if isinstance(body, dict) else {}
        error = body.get("error") if isinstance(body, dict) else None
        description = body.get("error_description") if isinstance(body, dict) else None
        message = f"ID-porten {what} answered HTTP {outcome.status_code}"
        if isinstance(error, str):
            message += f": {error}"
            if isinstance(description, str):
                message += f": {description}"
        raise TokenRequestError(
            message,
            endpoint=endpoint,
            status_code=outcome.status_code,
            error=error if isinstance(error, str) else None,
            error_description=description if isinstance(description, str) else None,
        )

    # -- userinfo, logout, revocation -----------------------------------------------------------

    async def userinfo(self) -> dict[str, Any]:
        """The person's userinfo (``sub``, ``pid``, ``locale``), with the current access token.

        Raises:
            ConfigurationError: the provider has no userinfo endpoint.
            LoginRequiredError: nobody is logged in.
            TokenRequestError: the endpoint refused.
        """
        endpoint = self._server.userinfo_endpoint
        if endpoint is None:
            raise ConfigurationError("the ID-porten server has no userinfo_endpoint")
        token = await self.get_token()
        response = await self._client().get(
            endpoint,
            headers={"Authorization": f"Bearer {token.access_token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            raise TokenRequestError(
                f"ID-porten userinfo answered HTTP {response.status_code}",
                endpoint=endpoint,
                status_code=response.status_code,
            )
        body: dict[str, Any] = response.json()
        return body

    async def revoke(self) -> None:
        """Revoke the session's tokens at ID-porten (RFC 7009) and forget the session.

        Revoking the refresh token ends every token of the grant, for this client only; the
        person's single sign-on session is untouched (use `logout_url` for that).
        """
        session = await self._store.load(self._session_key)
        endpoint = self._server.revocation_endpoint
        if session is not None and endpoint is not None:
            token, hint = (
                (session.refresh_token, "refresh_token")
                if session.refresh_token
                else (session.access_token, "access_token")
            )
            # RFC 7009: 200 with an empty body.
            await self._post(
                endpoint,
                {"token": token, "token_type_hint": hint},
                what="revocation",
                body_expected=False,
            )
        await self._forget()

    async def logout_url(
        self, *, post_logout_redirect_uri: str | None = None, state: str | None = None
    ) -> str:
        """The URL that ends the person's ID-porten session (send the browser there).

        It carries the id_token as ``id_token_hint``; the local session is forgotten.

        Raises:
            ConfigurationError: the provider has no end_session endpoint.
        """
        endpoint = self._server.end_session_endpoint
        if endpoint is None:
            raise ConfigurationError("the ID-porten server has no end_session_endpoint")
        session = await self._store.load(self._session_key)
        params = {"client_id": self._client_id}
        if session is not None:
            params["id_token_hint"] = session.id_token
        if post_logout_redirect_uri is not None:
            params["post_logout_redirect_uri"] = post_logout_redirect_uri
        if state is not None:
            params["state"] = state
        await self._forget()
        return _with_query(endpoint, params)

    async def _forget(self) -> None:
        await self._store.delete(self._session_key)
        self._drop_cached()

    def _drop_cached(self) -> None:
        cached = self._cache.peek(self.cache_key)
        if cached is not None:
            self._cache.invalidate(self.cache_key, cached)

    # -- a login from a command-line program ---------------------------------------------------

    async def login_in_browser(
        self,
        *,
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
        from ._loopback import receive_callback  # noqa: PLC0415 - only CLIs need it

        login = await self.start_pushed_login() if pushed else self.start_login()
        callback = await receive_callback(
            login, open_browser=open_browser, timeout=timeout, announce=announce
        )
        return await self.complete_login(callback, login)


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


def _access_token(session: LoginSession) -> AccessToken:
    return AccessToken(
        access_token=session.access_token,
        expires_at=session.expires_at,
        issued_at=session.issued_at,
        scopes=session.scopes,
    )


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
