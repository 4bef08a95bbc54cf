"""Emulated ID-porten (OpenID Connect): discovery, JWKS, ``/authorize`` with a TestID login page,
``/par``, ``/token``, ``/userinfo``, ``/logout`` and ``/token/revoke``.

Behaviour follows Digdir's documentation of the ID-porten platform on Connect2id
(``altinn-protocol.md`` §2 and §7 items 6-10). Where the documentation is silent (error codes and
statuses of ``/token``, rotation for confidential clients), the emulator does what RFC 6749, RFC
7009, RFC 7636, RFC 9126 and OAuth 2.0 Security BCP say and the choice is noted at the code.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import re
import secrets
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from ._asgi import (
    JSON_UTF8,
    Request,
    Response,
    Router,
    empty_response,
    html_response,
    json_response,
    redirect_response,
)
from ._jose import MalformedJWTError, b64url, parse_jwt, sha256_hex, signature_valid, token_registry
from ._maskinporten import ISO6523
from ._state import (
    AuthorizationCode,
    AuthorizationRequest,
    IdportenClient,
    IdportenGrant,
    PendingLogin,
    RefreshToken,
    SsoSession,
    State,
)

PREFIX = "/idporten"
LOGIN_PATH = f"{PREFIX}/login"

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
ACR_VALUES = ("idporten-loa-substantial", "idporten-loa-high")
UI_LOCALES = ("nb", "nn", "en", "se")
PROMPTS = frozenset({"none", "login", "consent"})
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PAR_URN_PREFIX = "urn:idporten:"
TESTID_AMR = ("TestID",)

CODE_LIFETIME = 60
PAR_LIFETIME = 120
LOGIN_PAGE_LIFETIME = 600
ID_TOKEN_LIFETIME = 120  # the documented id_token example has exp - iat = 120
SESSION_MAX_AGE = 7200  # SSO session: at most 120 min ...
SESSION_IDLE = 1800  # ... and 30 min of inactivity
MAX_ASSERTION_LIFETIME = 120
CLOCK_SKEW = 10
SESSION_COOKIE = "idporten_sso"

_CLIENT_AUTH_PARAMS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_LOGOUT_STATE = re.compile(r"[\x20-\x7E]+")
_PID = re.compile(r"\d{11}")
_NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))
# The shape of Connect2id's encrypted refresh tokens (a "dir" JWE): opaque to clients either way.
_JWE_HEADER = b64url(b'{"enc":"A128CBC-HS256","alg":"dir"}')


def issuer_for(origin: str) -> str:
    """The ID-porten issuer for an origin (no trailing slash, as ID-porten writes it)."""
    return f"{origin}{PREFIX}"


class OAuthError(Exception):
    """A refused back-channel request: an OAuth JSON error body."""

    def __init__(
        self,
        error: str,
        description: str,
        status: int = 400,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = tuple(headers)

    def response(self) -> Response:
        return json_response(
            {"error": self.error, "error_description": self.description},
            self.status,
            content_type=JSON_UTF8,
            headers=(*_NO_STORE, *self.headers),
        )


def _invalid_client(description: str, *, basic: bool = False) -> OAuthError:
    # RFC 6749 §5.2: a client that tried HTTP Basic gets the Basic challenge with the 401.
    headers = (("www-authenticate", 'Basic realm="idporten"'),) if basic else ()
    return OAuthError("invalid_client", description, 401, headers)


def _invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


class _RequestError(Exception):
    """An invalid authorization request that can be reported to the client's redirect_uri."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class _RedirectError(Exception):
    """An invalid authorization request, reported to the (already verified) redirect_uri."""

    def __init__(self, redirect_uri: str, state: str | None, error: str, description: str) -> None:
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.state = state
        self.error = error
        self.description = description


class _PageError(Exception):
    """An error shown to the person in the browser (no trustworthy redirect_uri)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> Response:
        return html_response(_error_page(self.error, self.description), self.status)


def _sha(value: str) -> str:
    return sha256_hex(value)


def _with_params(uri: str, params: Mapping[str, str]) -> str:
    """``uri`` with ``params`` added to its query (an existing query stays, RFC 6749 §3.1.2)."""
    parts = urllib.parse.urlsplit(uri)
    extra = urllib.parse.urlencode(params)
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urllib.parse.urlunsplit(parts._replace(query=query))


def _single(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Parameters as a dict; a repeated parameter is an error (RFC 6749 §3.1)."""
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise _RequestError("invalid_request", f"Duplicate parameter: {name}")
        params[name] = value
    return params


def _form(request: Request) -> dict[str, str]:
    content_type = (request.header("content-type") or "").split(";", maxsplit=1)[0]
    if content_type.strip().lower() != "application/x-www-form-urlencoded":
        raise OAuthError(
            "invalid_request", "Content-Type must be application/x-www-form-urlencoded"
        )
    try:
        pairs = urllib.parse.parse_qsl(request.body.decode("utf-8"), keep_blank_values=True)
        return {k: v for k, v in _single(pairs).items() if v != ""}
    except UnicodeDecodeError:
        raise OAuthError("invalid_request", "The request body is not UTF-8") from None
    except _RequestError as exc:
        raise OAuthError(exc.error, exc.description) from None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _acr_rank(acr: str) -> int:
    return ACR_VALUES.index(acr) if acr in ACR_VALUES else -1


def _random_token(size: int = 32) -> str:
    return b64url(secrets.token_bytes(size))


def _opaque_refresh_token() -> str:
    return ".".join(
        (
            _JWE_HEADER,
            "",
            _random_token(16),
            _random_token(64),
            _random_token(16),
        )
    )


class Idporten:
    """The ID-porten endpoints, mounted under ``/idporten``."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._store = state.idporten
        self._registry = token_registry()

    def register(self, router: Router) -> None:
        """Add the routes to ``router``."""
        router.add(
            ["GET"],
            rf"{PREFIX}/\.well-known/openid-configuration",
            "idporten.metadata",
            self.metadata,
        )
        router.add(["GET"], rf"{PREFIX}/jwks\.json", "idporten.jwks", self.jwks)
        router.add(["GET"], rf"{PREFIX}/authorize", "idporten.authorize", self.authorize)
        router.add(["POST"], LOGIN_PATH, "idporten.login", self.login)
        router.add(["POST"], rf"{PREFIX}/par", "idporten.par", self.par)
        router.add(["POST"], rf"{PREFIX}/token", "idporten.token", self.token)
        router.add(["GET", "POST"], rf"{PREFIX}/userinfo", "idporten.userinfo", self.userinfo)
        router.add(["GET", "POST"], rf"{PREFIX}/logout", "idporten.logout", self.logout)
        router.add(["POST"], rf"{PREFIX}/token/revoke", "idporten.revoke", self.revoke)

    # -- discovery ---------------------------------------------------------------------------

    async def metadata(self, request: Request) -> Response:
        """``GET /.well-known/openid-configuration`` (the TEST document's shape, listing only what
        the emulator implements)."""
        issuer = issuer_for(request.origin)
        return json_response(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{issuer}/authorize",
                "pushed_authorization_request_endpoint": f"{issuer}/par",
                "token_endpoint": f"{issuer}/token",
                "userinfo_endpoint": f"{issuer}/userinfo",
                "jwks_uri": f"{issuer}/jwks.json",
                "end_session_endpoint": f"{issuer}/logout",
                "revocation_endpoint": f"{issuer}/token/revoke",
                "authorization_response_iss_parameter_supported": True,
                "request_parameter_supported": False,
                "request_uri_parameter_supported": False,
                "claims_parameter_supported": False,
                "scopes_supported": ["openid", "profile"],
                "acr_values_supported": list(ACR_VALUES),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
                "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "prompt_values_supported": ["consent", "login", "none"],
                "ui_locales_supported": list(UI_LOCALES),
                "display_values_supported": ["page"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "authorization_signing_alg_values_supported": ["RS256"],
                "frontchannel_logout_supported": True,
                "frontchannel_logout_session_supported": True,
            },
            content_type="application/json",
        )

    async def jwks(self, request: Request) -> Response:
        """``GET /jwks.json``: the key that signs id_tokens and access tokens."""
        return json_response(
            {"keys": [self._state.idporten_key.public_jwk()]}, content_type="application/json"
        )

    # -- the front channel: /authorize and the TestID login ----------------------------------

    async def authorize(self, request: Request) -> Response:
        """``GET /authorize``: validate, then show the TestID page (or answer from the SSO
        session)."""
        now = self._state.clock()
        issuer = issuer_for(request.origin)
        try:
            auth_request = self._authorization_request(request, now)
        except _PageError as exc:
            return exc.response()
        except _RedirectError as exc:
            return self._error_redirect(
                exc.redirect_uri, exc.error, exc.description, exc.state, issuer
            )
        session = None if "login" in auth_request.prompt else self._session(request, now)
        if session is not None and _acr_rank(session.acr) >= _acr_rank(auth_request.acr):
            return self._issue_code(auth_request, session, issuer, now)
        if "none" in auth_request.prompt:
            return self._error_redirect(
                auth_request.redirect_uri,
                "login_required",
                "The user is not logged in and prompt=none was requested.",
                auth_request.state,
                issuer,
            )
        transaction = _random_token()
        with self._state.lock:
            self._store.purge(now)
            self._store.pending[_sha(transaction)] = PendingLogin(
                auth_request, now + LOGIN_PAGE_LIFETIME
            )
        return html_response(self._login_page(auth_request, transaction))

    def _authorization_request(self, request: Request, now: float) -> AuthorizationRequest:
        try:
            params = {k: v for k, v in _single(request.query()).items() if v != ""}
        except _RequestError as exc:
            raise _PageError(exc.error, exc.description) from None
        client = self._client(params.get("client_id"))
        if client is None:
            raise _PageError("invalid_client", "Unknown client_id.")
        if "request_uri" in params:
            return self._take_pushed_request(params, client, now)
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            # Never redirect to an unverified URI: tell the person instead (RFC 6749 §4.1.2.1).
            raise _PageError(
                "invalid_request", "The redirect_uri is not registered for the client."
            )
        try:
            return self._validate(params, client)
        except _RequestError as exc:
            raise _RedirectError(
                redirect_uri, params.get("state"), exc.error, exc.description
            ) from None

    async def login(self, request: Request) -> Response:
        """``POST /login``: the TestID form (a person number, or cancel)."""
        now = self._state.clock()
        issuer = issuer_for(request.origin)
        try:
            form = _form(request)
        except OAuthError as exc:
            return _PageError(exc.error, exc.description).response()
        key = _sha(form.get("transaction", ""))
        with self._state.lock:
            pending = self._store.pending.get(key)
        if pending is None or pending.expires < now:
            return _PageError(
                "invalid_request",
                "This login has expired or is already completed. Start again from the service.",
            ).response()
        auth_request = pending.request
        if form.get("action", "login") == "cancel":
            with self._state.lock:
                self._store.pending.pop(key, None)
            return self._error_redirect(
                auth_request.redirect_uri,
                "access_denied",
                "The user cancelled the login.",
                auth_request.state,
                issuer,
            )
        pid = form.get("pid", "").strip()
        if not _PID.fullmatch(pid):
            page = self._login_page(
                auth_request, form.get("transaction", ""), error="Enter an 11-digit person number."
            )
            return html_response(page, 400)
        cookie = _random_token()
        with self._state.lock:
            if self._store.pending.pop(key, None) is None:
                return _PageError("invalid_request", "This login is already completed.").response()
            session = SsoSession(
                sid=_random_token(),
                pid=pid,
                acr=auth_request.acr,
                amr=TESTID_AMR,
                auth_time=int(now),
                created=now,
                last_seen=now,
            )
            self._store.sessions[_sha(cookie)] = session
        response = self._issue_code(auth_request, session, issuer, now)
        response.headers.append(
            ("set-cookie", f"{SESSION_COOKIE}={cookie}; Path={PREFIX}; HttpOnly; SameSite=Lax")
        )
        return response

    def _issue_code(
        self, auth_request: AuthorizationRequest, session: SsoSession, issuer: str, now: float
    ) -> Response:
        code = _random_token()
        with self._state.lock:
            self._store.codes[_sha(code)] = AuthorizationCode(
                auth_request, session, now + CODE_LIFETIME
            )
        params = {"code": code, "state": auth_request.state, "iss": issuer}
        return redirect_response(_with_params(auth_request.redirect_uri, params))

    @staticmethod
    def _error_redirect(
        redirect_uri: str, error: str, description: str, state: str | None, issuer: str
    ) -> Response:
        params = {"error": error, "error_description": description}
        if state:
            params["state"] = state
        params["iss"] = issuer
        return redirect_response(_with_params(redirect_uri, params))

    def _client(self, client_id: str | None) -> IdportenClient | None:
        if not client_id:
            return None
        with self._state.lock:
            return self._state.idporten_clients.get(client_id)

    def _session(self, request: Request, now: float) -> SsoSession | None:
        cookie = request.cookies().get(SESSION_COOKIE)
        if not cookie:
            return None
        key = _sha(cookie)
        with self._state.lock:
            session = self._store.sessions.get(key)
            if session is None:
                return None
            if now > session.created + SESSION_MAX_AGE or now > session.last_seen + SESSION_IDLE:
                del self._store.sessions[key]
                return None
            session.last_seen = now
            return session

    def _take_pushed_request(
        self, params: Mapping[str, str], client: IdportenClient, now: float
    ) -> AuthorizationRequest:
        extra = sorted(set(params) - {"client_id", "request_uri"})
        if extra:
            raise _PageError(
                "invalid_request",
                "With a pushed authorization request only client_id and request_uri may be "
                f"sent; also got: {', '.join(extra)}.",
            )
        with self._state.lock:
            # Popped even when refused below: a request_uri is good for one attempt.
            entry = self._store.par.pop(_sha(params["request_uri"]), None)
        if entry is None or entry[1] < now or entry[0].client_id != client.client_id:
            raise _PageError(
                "invalid_request_uri", "The request_uri is unknown, expired or already used."
            )
        return entry[0]

    def _validate(self, params: Mapping[str, str], client: IdportenClient) -> AuthorizationRequest:
        """Check an authorization request's parameters (redirect_uri already checked)."""
        if "request" in params:
            raise _RequestError("request_not_supported", "Request objects are not supported.")
        response_type = params.get("response_type")
        if response_type is None:
            raise _RequestError("invalid_request", "Missing response_type.")
        if response_type != "code":
            raise _RequestError(
                "unsupported_response_type", f"Unsupported response_type: {response_type}."
            )
        response_mode = params.get("response_mode", "query")
        if response_mode != "query":
            raise _RequestError("invalid_request", f"Unsupported response_mode: {response_mode}.")
        scopes = tuple(dict.fromkeys(s for s in params.get("scope", "").split(" ") if s))
        if not scopes:
            raise _RequestError("invalid_request", "Missing scope.")
        not_allowed = [s for s in scopes if s not in client.scopes]
        if not_allowed:
            raise _RequestError(
                "invalid_scope", f"Scope not allowed for the client: {' '.join(not_allowed)}."
            )
        state = params.get("state")
        if state is None:
            raise _RequestError("invalid_request", "Missing state.")
        nonce = params.get("nonce")
        if nonce is None:
            raise _RequestError("invalid_request", "Missing nonce.")
        challenge = _code_challenge(params)
        acr, prompt = _acr_and_prompt(params)
        locales = [v for v in params.get("ui_locales", "").split(" ") if v in UI_LOCALES]
        resource = params.get("resource")
        if resource is not None:
            parts = urllib.parse.urlsplit(resource)
            if not parts.scheme or parts.fragment:
                raise _RequestError("invalid_target", "resource must be an absolute URI.")
        return AuthorizationRequest(
            client_id=client.client_id,
            redirect_uri=params["redirect_uri"],
            scopes=scopes,
            state=state,
            nonce=nonce,
            code_challenge=challenge,
            acr=acr,
            locale=locales[0] if locales else "nb",
            prompt=prompt,
            resource=resource,
        )

    def _login_page(
        self, auth_request: AuthorizationRequest, transaction: str, error: str | None = None
    ) -> str:
        with self._state.lock:
            pids = list(self._state.persons)
        default = pids[0] if pids else ""
        esc = html.escape
        options = "".join(f'<option value="{esc(p)}"></option>' for p in pids)
        message = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
        return (
            "<!doctype html>\n"
            f'<html lang="{esc(auth_request.locale)}"><head><meta charset="utf-8">'
            "<title>TestID - ID-porten (emulator)</title></head><body>"
            "<h1>TestID</h1>"
            f"<p>Log in to <b>{esc(auth_request.client_id)}</b> "
            f"({esc(auth_request.acr)}).</p>{message}"
            f'<form method="post" action="{LOGIN_PATH}">'
            f'<input type="hidden" name="transaction" value="{esc(transaction)}">'
            '<label for="pid">Person number (fødselsnummer)</label> '
            f'<input id="pid" name="pid" value="{esc(default)}" list="persons" '
            'inputmode="numeric" pattern="[0-9]{11}" autocomplete="off" required>'
            f'<datalist id="persons">{options}</datalist> '
            '<button type="submit" name="action" value="login">Log in</button> '
            '<button type="submit" name="action" value="cancel" formnovalidate>Cancel</button>'
            "</form></body></html>\n"
        )

    # -- the back channel: /par, /token, /token/revoke ---------------------------------------

    async def par(self, request: Request) -> Response:
        """``POST /par``: store an authorization request, answer its ``request_uri``."""
        now = self._state.clock()
        try:
            auth_request = self._pushed_request(request, now)
        except OAuthError as exc:
            return exc.response()
        request_uri = PAR_URN_PREFIX + _random_token()
        with self._state.lock:
            self._store.purge(now)
            self._store.par[_sha(request_uri)] = (auth_request, now + PAR_LIFETIME)
        return json_response(
            {"expires_in": PAR_LIFETIME, "request_uri": request_uri},
            201,
            content_type=JSON_UTF8,
            headers=_NO_STORE,
        )

    def _pushed_request(self, request: Request, now: float) -> AuthorizationRequest:
        issuer = issuer_for(request.origin)
        form = _form(request)
        client, _ = self._authenticate_client(request, form, now, issuer, f"{issuer}/par")
        params = {k: v for k, v in form.items() if k not in _CLIENT_AUTH_PARAMS}
        if params.get("client_id", client.client_id) != client.client_id:
            raise OAuthError("invalid_request", "client_id does not match the client.")
        if "request_uri" in params:
            raise OAuthError("invalid_request", "request_uri cannot be pushed.")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            raise OAuthError(
                "invalid_request", "The redirect_uri is not registered for the client."
            )
        try:
            return self._validate(params, client)
        except _RequestError as exc:
            raise OAuthError(exc.error, exc.description) from None

    async def token(self, request: Request) -> Response:
        """``POST /token``: ``authorization_code`` and ``refresh_token`` grants."""
        now = self._state.clock()
        try:
            body = self._token(request, now)
        except OAuthError as exc:
            return exc.response()
        return json_response(body, content_type=JSON_UTF8, headers=_NO_STORE)

    def _token(self, request: Request, now: float) -> dict[str, Any]:
        issuer = issuer_for(request.origin)
        form = _form(request)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "Missing grant_type.")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError("unsupported_grant_type", f"Unsupported grant_type: {grant_type}.")
        client, method = self._authenticate_client(request, form, now, issuer, f"{issuer}/token")
        if grant_type == "authorization_code":
            return self._redeem_code(form, client, method, issuer, now)
        return self._refresh(form, client, method, issuer, now)

    def _redeem_code(
        self, form: Mapping[str, str], client: IdportenClient, method: str, issuer: str, now: float
    ) -> dict[str, Any]:
        code, redirect_uri = form.get("code"), form.get("redirect_uri")
        verifier = form.get("code_verifier")
        if code is None:
            raise OAuthError("invalid_request", "Missing code.")
        if redirect_uri is None:
            raise OAuthError("invalid_request", "Missing redirect_uri.")
        if verifier is None:
            raise OAuthError("invalid_request", "Missing code_verifier (PKCE is required).")
        if not _VERIFIER.fullmatch(verifier):
            raise OAuthError(
                "invalid_request", "code_verifier must be 43-128 characters of [A-Za-z0-9-._~]."
            )
        challenge = b64url(hashlib.sha256(verifier.encode("ascii")).digest())
        with self._state.lock:
            record = self._store.codes.get(_sha(code))
            if record is None or record.expires < now:
                raise _invalid_grant("Invalid or expired authorization code.")
            if record.grant_id is not None:
                # RFC 6749 §4.1.2: a replayed code revokes what it bought the first time.
                self._store.revoke_grant(record.grant_id)
                raise _invalid_grant("The authorization code has already been used.")
            auth_request, session = record.request, record.session
            if auth_request.client_id != client.client_id:
                raise _invalid_grant("The authorization code was issued to another client.")
            if auth_request.redirect_uri != redirect_uri:
                raise _invalid_grant("redirect_uri does not match the authorization request.")
            if not hmac.compare_digest(challenge, auth_request.code_challenge):
                raise _invalid_grant("PKCE verification failed: code_verifier does not match.")
            grant = IdportenGrant(
                id=str(uuid.uuid4()),
                client_id=client.client_id,
                pid=session.pid,
                scopes=auth_request.scopes,
                acr=session.acr,
                amr=session.amr,
                auth_time=session.auth_time,
                sid=session.sid,
                locale=auth_request.locale,
                resource=auth_request.resource,
                created=now,
            )
            self._store.grants[grant.id] = grant
            record.grant_id = grant.id
            # Public clients cannot refresh (client authentication is required), so they get none.
            refresh_token = None if method == "none" else self._new_refresh_token(grant, now)
        return self._token_response(
            grant,
            client,
            method,
            issuer,
            now,
            scopes=grant.scopes,
            refresh_token=refresh_token,
            nonce=auth_request.nonce,
        )

    def _refresh(
        self, form: Mapping[str, str], client: IdportenClient, method: str, issuer: str, now: float
    ) -> dict[str, Any]:
        if method == "none":
            raise _invalid_client("Client authentication is required for the refresh_token grant.")
        presented = form.get("refresh_token")
        if presented is None:
            raise OAuthError("invalid_request", "Missing refresh_token.")
        requested = [s for s in form.get("scope", "").split(" ") if s]
        with self._state.lock:
            record = self._store.refresh_tokens.get(_sha(presented))
            if record is None or record.client_id != client.client_id:
                raise _invalid_grant("Invalid refresh token.")
            grant = self._store.grants.get(record.grant_id)
            if grant is None or grant.revoked:
                raise _invalid_grant("The authorization has been revoked.")
            if not record.active:
                # A rotated-out token came back: someone holds a copy. Revoke the authorization.
                self._store.revoke_grant(grant.id)
                raise _invalid_grant(
                    "The refresh token has already been used; the authorization is revoked."
                )
            if now > grant.created + client.authorization_lifetime:
                raise _invalid_grant("The authorization has expired.")
            if now > record.last_used + client.refresh_token_lifetime:
                raise _invalid_grant("The refresh token has expired.")
            widened = [s for s in requested if s not in grant.scopes]
            if widened:
                raise OAuthError(
                    "invalid_scope", f"Scope not in the authorization: {' '.join(widened)}."
                )
            if client.rotate_refresh_tokens:
                record.active = False
                refresh_token: str | None = self._new_refresh_token(grant, now)
            else:
                record.last_used = now
                refresh_token = None
        scopes = tuple(dict.fromkeys(requested)) if requested else grant.scopes
        return self._token_response(
            grant, client, method, issuer, now, scopes=scopes, refresh_token=refresh_token
        )

    def _new_refresh_token(self, grant: IdportenGrant, now: float) -> str:
        """Mint a refresh token for ``grant``. Call with the lock held."""
        token = _opaque_refresh_token()
        key = _sha(token)
        self._store.refresh_tokens[key] = RefreshToken(grant.id, grant.client_id, now)
        grant.refresh_tokens.append(key)
        return token

    def _token_response(
        self,
        grant: IdportenGrant,
        client: IdportenClient,
        method: str,
        issuer: str,
        now: float,
        *,
        scopes: tuple[str, ...],
        refresh_token: str | None,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        iat = int(now)
        subject = self._pairwise_subject(client.client_id, grant.pid)
        scope = " ".join(scopes)
        access_jti = _random_token(8)
        claims: dict[str, Any] = {
            "sub": subject,
            "acr": grant.acr,
            "scope": scope,
            "iss": issuer,
            "client_amr": method,
            "pid": grant.pid,
            "exp": iat + client.access_token_lifetime,
            "iat": iat,
            "jti": access_jti,
            "client_id": client.client_id,
            "consumer": {"authority": ISO6523, "ID": f"0192:{client.org_number}"},
        }
        if grant.resource is not None:
            claims["aud"] = grant.resource
        signer = self._state.idporten_key
        body: dict[str, Any] = {"access_token": signer.sign(claims)}
        with self._state.lock:
            self._store.access_tokens[access_jti] = grant.id
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        body["scope"] = scope
        if nonce is not None and "openid" in scopes:
            body["id_token"] = signer.sign(
                {
                    "sub": subject,
                    "amr": list(grant.amr),
                    "iss": issuer,
                    "pid": grant.pid,
                    "locale": grant.locale,
                    "nonce": nonce,
                    "sid": grant.sid,
                    "aud": client.client_id,
                    "acr": grant.acr,
                    "auth_time": grant.auth_time,
                    "exp": iat + ID_TOKEN_LIFETIME,
                    "iat": iat,
                    "jti": _random_token(8),
                }
            )
        body["token_type"] = "Bearer"
        body["expires_in"] = client.access_token_lifetime
        return body

    def _pairwise_subject(self, client_id: str, pid: str) -> str:
        message = f"{client_id}\x00{pid}".encode()
        return b64url(hmac.new(self._store.pairwise_salt, message, hashlib.sha256).digest())

    async def revoke(self, request: Request) -> Response:
        """``POST /token/revoke`` (RFC 7009): end the whole authorization the token belongs to."""
        now = self._state.clock()
        issuer = issuer_for(request.origin)
        try:
            form = _form(request)
            client, _ = self._authenticate_client(
                request, form, now, issuer, f"{issuer}/token/revoke"
            )
        except OAuthError as exc:
            return exc.response()
        token = form.get("token")
        if token is None:
            return OAuthError("invalid_request", "Missing token.").response()
        with self._state.lock:
            record = self._store.refresh_tokens.get(_sha(token))
            grant_id = record.grant_id if record is not None else None
        if grant_id is None:
            claims = self._access_token_claims(token, issuer)
            if claims is not None:
                with self._state.lock:
                    grant_id = self._store.access_tokens.get(str(claims.get("jti")))
        with self._state.lock:
            grant = self._store.grants.get(grant_id) if grant_id else None
            # Only the client's own authorizations; anything else is answered 200 all the same.
            if grant is not None and grant.client_id == client.client_id:
                self._store.revoke_grant(grant.id)
        return empty_response(200, headers=_NO_STORE)

    # -- client authentication ---------------------------------------------------------------

    def _authenticate_client(
        self, request: Request, form: Mapping[str, str], now: float, issuer: str, endpoint: str
    ) -> tuple[IdportenClient, str]:
        """The authenticated client and the method it used (its ``client_amr``)."""
        method, client_id, secret = _client_credentials(request, form)
        basic = method == "client_secret_basic"
        client = self._client(client_id)
        if client is None:
            raise _invalid_client("Unknown client.", basic=basic)
        if client.token_endpoint_auth_method != method:
            raise _invalid_client(
                f"Client authentication method {method} is not allowed for this client.",
                basic=basic,
            )
        if method in ("client_secret_basic", "client_secret_post"):
            expected = (client.client_secret or "").encode()
            if not secret or not hmac.compare_digest(secret.encode(), expected):
                raise _invalid_client("Invalid client secret.", basic=basic)
        elif method == "private_key_jwt":
            # Digdir documents the issuer or the token endpoint; RFC 9126 adds the endpoint used.
            audiences = {issuer, f"{issuer}/token", endpoint}
            self._verify_assertion(client, form, now, audiences)
        return client, method

    def _verify_assertion(
        self, client: IdportenClient, form: Mapping[str, str], now: float, audiences: set[str]
    ) -> None:
        def refused(why: str) -> OAuthError:
            return _invalid_client(f"Invalid client assertion: {why}.")

        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise refused(f"client_assertion_type must be {ASSERTION_TYPE}")
        try:
            obj, header, claims = parse_jwt(form.get("client_assertion", ""), self._registry)
        except MalformedJWTError:
            raise refused("not a signed JWT") from None
        if header.get("alg") != "RS256":
            raise refused("alg must be RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise refused("kid is required (the emulator knows keys only by kid)")
        key = client.keys.get(kid)
        if key is None:
            raise refused(f"unknown kid {kid}")
        if not signature_valid(obj, key, self._registry):
            raise refused("invalid signature")
        self._check_assertion_claims(client, claims, now, audiences)

    def _check_assertion_claims(
        self, client: IdportenClient, claims: dict[str, Any], now: float, audiences: set[str]
    ) -> None:
        def refused(why: str) -> OAuthError:
            return _invalid_client(f"Invalid client assertion: {why}.")

        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise refused("iss and sub must both be the client_id")
        aud = claims.get("aud")
        values = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(v, str) and v in audiences for v in values):
            raise refused("aud must be the issuer or the token endpoint")
        iat, exp = _number(claims.get("iat")), _number(claims.get("exp"))
        if iat is None or exp is None:
            raise refused("iat and exp are required")
        if exp - iat > MAX_ASSERTION_LIFETIME:
            raise refused(f"exp - iat must be at most {MAX_ASSERTION_LIFETIME} seconds")
        if iat > now + CLOCK_SKEW:
            raise refused("issued in the future")
        if exp < now:
            raise refused("expired")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise refused("jti is required")
        with self._state.lock:
            fresh = self._state.remember_grant(
                f"idporten:{client.client_id}:{jti}", exp + CLOCK_SKEW, now
            )
        if not fresh:
            raise refused("jti has been used before")

    # -- tokens in use: /userinfo, /logout ---------------------------------------------------

    def _signed_claims(self, token: str, issuer: str) -> dict[str, Any] | None:
        """Claims of a JWT this ID-porten signed for ``issuer`` (lifetime not checked)."""
        try:
            obj, header, claims = parse_jwt(token, self._registry)
        except MalformedJWTError:
            return None
        signer = self._state.idporten_key
        if header.get("kid") != signer.kid or not signature_valid(obj, signer.key, self._registry):
            return None
        if claims.get("iss") != issuer:
            return None
        return claims

    def _access_token_claims(self, token: str, issuer: str) -> dict[str, Any] | None:
        claims = self._signed_claims(token, issuer)
        # id_tokens are signed by the same key; only access tokens carry client_id and scope.
        if claims is None or "client_id" not in claims or "scope" not in claims:
            return None
        return claims

    async def userinfo(self, request: Request) -> Response:
        """``GET|POST /userinfo`` with a Bearer access token."""
        now = self._state.clock()
        token = request.bearer_token()
        claims = self._access_token_claims(token, issuer_for(request.origin)) if token else None
        exp = _number(claims.get("exp")) if claims is not None else None
        grant: IdportenGrant | None = None
        if claims is not None and exp is not None and exp >= now:
            with self._state.lock:
                grant_id = self._store.access_tokens.get(str(claims.get("jti")))
                grant = self._store.grants.get(grant_id) if grant_id else None
        if claims is None or grant is None or grant.revoked:
            challenge = 'Bearer error="invalid_token"' if token else "Bearer"
            error = OAuthError(
                "invalid_token",
                "The access token is missing, invalid, expired or revoked.",
                401,
                (("www-authenticate", challenge),),
            )
            return error.response()
        if "openid" not in str(claims.get("scope", "")).split(" "):
            return OAuthError(
                "insufficient_scope",
                "The access token lacks the openid scope.",
                403,
                (("www-authenticate", 'Bearer error="insufficient_scope", scope="openid"'),),
            ).response()
        return json_response(
            {"sub": claims.get("sub"), "pid": grant.pid, "locale": grant.locale},
            content_type=JSON_UTF8,
            headers=_NO_STORE,
        )

    async def logout(self, request: Request) -> Response:
        """``GET|POST /logout``: end the SSO session; back to a registered URI with ``state``."""
        try:
            target, state, sid = self._logout_request(request)
        except _PageError as exc:
            return exc.response()
        cookie = request.cookies().get(SESSION_COOKIE)
        with self._state.lock:
            sessions = self._store.sessions
            if cookie:
                sessions.pop(_sha(cookie), None)
            if sid is not None:
                for key in [k for k, s in sessions.items() if s.sid == sid]:
                    del sessions[key]
        expire = (
            "set-cookie",
            f"{SESSION_COOKIE}=; Path={PREFIX}; Max-Age=0; HttpOnly; SameSite=Lax",
        )
        if target is not None:
            location = _with_params(target, {"state": state}) if state else target
            return redirect_response(location, headers=[expire])
        page = (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>ID-porten (emulator)</title></head><body>"
            "<h1>You are logged out</h1></body></html>\n"
        )
        return html_response(page, headers=[expire])

    def _logout_request(self, request: Request) -> tuple[str | None, str | None, str | None]:
        """Validate a logout request: the redirect target, the state and the hint's ``sid``."""
        try:
            if request.method == "POST":
                params = _form(request)
            else:
                params = {k: v for k, v in _single(request.query()).items() if v != ""}
        except (OAuthError, _RequestError) as exc:
            raise _PageError("invalid_request", str(exc)) from None
        hint, client_id = params.get("id_token_hint"), params.get("client_id")
        if hint is None and client_id is None:
            raise _PageError(
                "invalid_request", "Logout needs id_token_hint or client_id to know the client."
            )
        sid: str | None = None
        if hint is not None:
            # An expired id_token is still a fine hint; only the signature and issuer count.
            claims = self._signed_claims(hint, issuer_for(request.origin))
            if claims is None or not isinstance(claims.get("aud"), str):
                raise _PageError("invalid_request", "Invalid id_token_hint.")
            if client_id is not None and client_id != claims["aud"]:
                raise _PageError("invalid_request", "client_id does not match id_token_hint.")
            client_id = str(claims["aud"])
            sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
        client = self._client(client_id)
        if client is None:
            raise _PageError("invalid_client", "Unknown client_id.")
        state = params.get("state")
        if state is not None and not _LOGOUT_STATE.fullmatch(state):
            raise _PageError("invalid_request", "Invalid state.")
        target = params.get("post_logout_redirect_uri")
        if target is not None and target not in client.post_logout_redirect_uris:
            raise _PageError(
                "invalid_request", "The post_logout_redirect_uri is not registered for the client."
            )
        return target, state, sid


def _code_challenge(params: Mapping[str, str]) -> str:
    challenge = params.get("code_challenge")
    if challenge is None:
        raise _RequestError("invalid_request", "PKCE is required: missing code_challenge.")
    if params.get("code_challenge_method") != "S256":
        raise _RequestError("invalid_request", "code_challenge_method must be S256.")
    if not _CHALLENGE.fullmatch(challenge):
        raise _RequestError(
            "invalid_request",
            "code_challenge must be 43 base64url characters (SHA-256, no padding).",
        )
    return challenge


def _acr_and_prompt(params: Mapping[str, str]) -> tuple[str, frozenset[str]]:
    acr_values = [a for a in params.get("acr_values", ACR_VALUES[0]).split(" ") if a]
    unsupported = [a for a in acr_values if a not in ACR_VALUES]
    if not acr_values or unsupported:
        raise _RequestError("invalid_request", f"Unsupported acr_values: {' '.join(unsupported)}.")
    prompt = frozenset(p for p in params.get("prompt", "").split(" ") if p)
    if prompt - PROMPTS:
        raise _RequestError(
            "invalid_request", f"Unsupported prompt: {' '.join(sorted(prompt - PROMPTS))}."
        )
    if "none" in prompt and len(prompt) > 1:
        raise _RequestError("invalid_request", "prompt=none cannot be combined.")
    # acr_values lists the acceptable levels in order of preference; TestID gives the first.
    return acr_values[0], prompt


def _client_credentials(request: Request, form: Mapping[str, str]) -> tuple[str, str, str | None]:
    """The authentication method a token request uses, its client_id and any secret."""
    authorization = request.header("authorization") or ""
    methods = []
    if authorization[:6].lower() == "basic ":
        methods.append("client_secret_basic")
    if "client_secret" in form:
        methods.append("client_secret_post")
    if "client_assertion" in form or "client_assertion_type" in form:
        methods.append("private_key_jwt")
    if len(methods) > 1:
        raise OAuthError("invalid_request", "More than one client authentication method.")
    method = methods[0] if methods else "none"
    if method == "client_secret_basic":
        client_id, secret = _basic_credentials(authorization)
        if form.get("client_id", client_id) != client_id:
            raise _invalid_client("client_id does not match the credentials.", basic=True)
        return method, client_id, secret
    client_id = form.get("client_id", "")
    if not client_id:
        if method == "private_key_jwt":
            # The new platform wants client_id in the body as well (oidc_protocol_new_idporten).
            raise OAuthError(
                "invalid_request", "client_id is required along with client_assertion."
            )
        raise _invalid_client("Missing client authentication.")
    return method, client_id, form.get("client_secret")


def _basic_credentials(authorization: str) -> tuple[str, str]:
    """``client_id`` and secret from HTTP Basic; both are form-encoded first (RFC 6749 §2.3.1)."""
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _invalid_client("Malformed Basic credentials.", basic=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise _invalid_client("Malformed Basic credentials.", basic=True)
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)


def _error_page(error: str, description: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>ID-porten (emulator): error</title></head><body>"
        "<h1>Something went wrong</h1>"
        f'<p class="error" role="alert">{html.escape(error)}: {html.escape(description)}</p>'
        "</body></html>\n"
    )
