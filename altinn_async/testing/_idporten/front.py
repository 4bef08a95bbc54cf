"""ID-porten's front channel, what the browser sees: ``/authorize`` with the TestID login page,
the login form's ``POST``, and ``/logout`` (``altinn-protocol.md`` §2.2, §2.6, §7 items 6 and 9).

An invalid request is reported to the client's ``redirect_uri`` only once that URI is verified;
before that (unknown client, unregistered URI, bad ``request_uri``) the person gets a page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from .._toolkit.asgi import Request, Response
from .._toolkit.register import PID
from .._toolkit.responses import html_response, redirect_response
from .._toolkit.router import route
from .authorize import acr_rank, validate
from .core import (
    CODE_LIFETIME,
    LOGIN_PAGE_LIFETIME,
    LOGIN_PATH,
    PREFIX,
    SESSION_COOKIE,
    SESSION_IDLE,
    SESSION_MAX_AGE,
    IdportenCore,
    form_params,
    issuer_for,
    query_params,
    random_token,
    sha,
)
from .errors import OAuthError, PageError, RequestError, error_redirect, with_params
from .model import AuthorizationCode, AuthorizationRequest, IdportenClient, PendingLogin, SsoSession

TESTID_AMR = ("TestID",)

_LOGOUT_STATE = re.compile(r"[\x20-\x7E]+")


class FrontChannel:
    """``/authorize``, the TestID form and ``/logout``."""

    def __init__(self, core: IdportenCore) -> None:
        self._core = core
        self._store = core.store

    @route("GET", rf"{PREFIX}/authorize", "idporten.authorize")
    async def authorize(self, request: Request) -> Response:
        """``GET /authorize``: validate, then show the TestID page (or answer from the SSO
        session)."""
        now = self._core.shared.clock()
        issuer = issuer_for(request.origin)
        auth_request = self._authorization_request(request, issuer, now)
        session = None if "login" in auth_request.prompt else self._session(request, now)
        if session is not None and acr_rank(session.acr) >= acr_rank(auth_request.acr):
            return self._issue_code(auth_request, session, issuer, now)
        if "none" in auth_request.prompt:
            raise error_redirect(
                auth_request.redirect_uri,
                "login_required",
                "The user is not logged in and prompt=none was requested.",
                auth_request.state,
                issuer,
            )
        transaction = random_token()
        with self._core.shared.lock:
            self._store.purge(now)
            self._store.pending[sha(transaction)] = PendingLogin(
                auth_request, now + LOGIN_PAGE_LIFETIME
            )
        return html_response(self._login_page(auth_request, transaction))

    def _authorization_request(
        self, request: Request, issuer: str, now: float
    ) -> AuthorizationRequest:
        try:
            params = query_params(request)
        except RequestError as exc:
            raise PageError(exc.error, exc.description) from None
        client = self._core.client(params.get("client_id"))
        if client is None:
            raise PageError("invalid_client", "Unknown client_id.")
        if "request_uri" in params:
            return self._take_pushed_request(params, client, now)
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            # Never redirect to an unverified URI: tell the person instead (RFC 6749 §4.1.2.1).
            raise PageError("invalid_request", "The redirect_uri is not registered for the client.")
        try:
            return validate(params, client)
        except RequestError as exc:
            raise error_redirect(
                redirect_uri, exc.error, exc.description, params.get("state"), issuer
            ) from None

    def _take_pushed_request(
        self, params: Mapping[str, str], client: IdportenClient, now: float
    ) -> AuthorizationRequest:
        extra = sorted(set(params) - {"client_id", "request_uri"})
        if extra:
            raise PageError(
                "invalid_request",
                "With a pushed authorization request only client_id and request_uri may be "
                f"sent; also got: {', '.join(extra)}.",
            )
        with self._core.shared.lock:
            # Popped even when refused below: a request_uri is good for one attempt.
            entry = self._store.par.pop(sha(params["request_uri"]), None)
        if entry is None or entry[1] < now or entry[0].client_id != client.client_id:
            raise PageError(
                "invalid_request_uri", "The request_uri is unknown, expired or already used."
            )
        return entry[0]

    @route("POST", LOGIN_PATH, "idporten.login")
    async def login(self, request: Request) -> Response:
        """``POST /login``: the TestID form (a person number, or cancel)."""
        now = self._core.shared.clock()
        issuer = issuer_for(request.origin)
        try:
            form = form_params(request)
        except OAuthError as exc:
            raise PageError(exc.error, exc.description) from None
        key = sha(form.get("transaction", ""))
        with self._core.shared.lock:
            pending = self._store.pending.get(key)
        if pending is None or pending.expires < now:
            raise PageError(
                "invalid_request",
                "This login has expired or is already completed. Start again from the service.",
            )
        auth_request = pending.request
        if form.get("action", "login") == "cancel":
            with self._core.shared.lock:
                self._store.pending.pop(key, None)
            raise error_redirect(
                auth_request.redirect_uri,
                "access_denied",
                "The user cancelled the login.",
                auth_request.state,
                issuer,
            )
        pid = form.get("pid", "").strip()
        if not PID.fullmatch(pid):
            page = self._login_page(
                auth_request, form.get("transaction", ""), error="Enter an 11-digit person number."
            )
            return html_response(page, 400)
        cookie = random_token()
        with self._core.shared.lock:
            if self._store.pending.pop(key, None) is None:
                raise PageError("invalid_request", "This login is already completed.")
            session = SsoSession(
                sid=random_token(),
                pid=pid,
                acr=auth_request.acr,
                amr=TESTID_AMR,
                auth_time=int(now),
                created=now,
                last_seen=now,
            )
            self._store.sessions[sha(cookie)] = session
        response = self._issue_code(auth_request, session, issuer, now)
        response.headers.append(
            ("set-cookie", f"{SESSION_COOKIE}={cookie}; Path={PREFIX}; HttpOnly; SameSite=Lax")
        )
        return response

    def _issue_code(
        self, auth_request: AuthorizationRequest, session: SsoSession, issuer: str, now: float
    ) -> Response:
        code = random_token()
        with self._core.shared.lock:
            self._store.codes[sha(code)] = AuthorizationCode(
                auth_request, session, now + CODE_LIFETIME
            )
        params = {"code": code, "state": auth_request.state, "iss": issuer}
        return redirect_response(with_params(auth_request.redirect_uri, params))

    def _session(self, request: Request, now: float) -> SsoSession | None:
        cookie = request.cookies().get(SESSION_COOKIE)
        if not cookie:
            return None
        key = sha(cookie)
        with self._core.shared.lock:
            session = self._store.sessions.get(key)
            if session is None:
                return None
            if now > session.created + SESSION_MAX_AGE or now > session.last_seen + SESSION_IDLE:
                del self._store.sessions[key]
                return None
            session.last_seen = now
            return session

    def _login_page(
        self, auth_request: AuthorizationRequest, transaction: str, error: str | None = None
    ) -> str:
        pids = self._core.known_pids()
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

    # -- /logout -----------------------------------------------------------------------------

    @route(["GET", "POST"], rf"{PREFIX}/logout", "idporten.logout")
    async def logout(self, request: Request) -> Response:
        """``GET|POST /logout``: end the SSO session; back to a registered URI with ``state``."""
        target, state, sid = self._logout_request(request)
        cookie = request.cookies().get(SESSION_COOKIE)
        with self._core.shared.lock:
            sessions = self._store.sessions
            if cookie:
                sessions.pop(sha(cookie), None)
            if sid is not None:
                for key in [k for k, s in sessions.items() if s.sid == sid]:
                    del sessions[key]
        expire = (
            "set-cookie",
            f"{SESSION_COOKIE}=; Path={PREFIX}; Max-Age=0; HttpOnly; SameSite=Lax",
        )
        if target is not None:
            location = with_params(target, {"state": state}) if state else target
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
            params = form_params(request) if request.method == "POST" else query_params(request)
        except (OAuthError, RequestError) as exc:
            raise PageError("invalid_request", exc.description) from None
        hint, client_id = params.get("id_token_hint"), params.get("client_id")
        if hint is None and client_id is None:
            raise PageError(
                "invalid_request", "Logout needs id_token_hint or client_id to know the client."
            )
        sid: str | None = None
        if hint is not None:
            # An expired id_token is still a fine hint; only the signature and issuer count.
            claims = self._core.tokens.claims(hint, origin=request.origin)
            if claims is None or not isinstance(claims.get("aud"), str):
                raise PageError("invalid_request", "Invalid id_token_hint.")
            if client_id is not None and client_id != claims["aud"]:
                raise PageError("invalid_request", "client_id does not match id_token_hint.")
            client_id = str(claims["aud"])
            sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
        client = self._core.client(client_id)
        if client is None:
            raise PageError("invalid_client", "Unknown client_id.")
        state = params.get("state")
        if state is not None and not _LOGOUT_STATE.fullmatch(state):
            raise PageError("invalid_request", "Invalid state.")
        target = params.get("post_logout_redirect_uri")
        if target is not None and target not in client.post_logout_redirect_uris:
            raise PageError(
                "invalid_request", "The post_logout_redirect_uri is not registered for the client."
            )
        return target, state, sid
