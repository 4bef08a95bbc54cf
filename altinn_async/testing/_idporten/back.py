"""ID-porten's back channel: ``/par``, ``/token`` (authorization code and refresh token),
``/token/revoke`` and ``/userinfo`` (``altinn-protocol.md`` §2.3-2.7, §7 items 6-10).

Where the documentation is silent (error codes and statuses of ``/token``, rotation for
confidential clients), the emulator does what RFC 6749, RFC 7009, RFC 7636, RFC 9126 and the
OAuth 2.0 Security BCP say, and says so at the code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from collections.abc import Mapping
from typing import Any

from .._toolkit.asgi import Request, Response
from .._toolkit.claims import iso6523, number, scope_list
from .._toolkit.claims import scopes as token_scopes
from .._toolkit.jose import b64url
from .._toolkit.responses import JSON_UTF8, NO_STORE, empty_response, json_response
from .._toolkit.router import route
from .authorize import PAR_URN_PREFIX, validate
from .client_auth import CLIENT_AUTH_PARAMS, ClientAuthenticator
from .core import (
    ID_TOKEN_LIFETIME,
    PAR_LIFETIME,
    PREFIX,
    IdportenCore,
    form_params,
    issuer_for,
    random_token,
    sha,
)
from .errors import OAuthError, RequestError, invalid_client, invalid_grant
from .model import AuthorizationRequest, IdportenClient, IdportenGrant, RefreshToken

_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
# The shape of Connect2id's encrypted refresh tokens (a "dir" JWE): opaque to clients either way.
_JWE_HEADER = b64url(b'{"enc":"A128CBC-HS256","alg":"dir"}')


def _opaque_refresh_token() -> str:
    return ".".join((_JWE_HEADER, "", random_token(16), random_token(64), random_token(16)))


class BackChannel:
    """``/par``, ``/token``, ``/token/revoke`` and ``/userinfo``."""

    def __init__(self, core: IdportenCore) -> None:
        self._core = core
        self._store = core.store
        self._clients = ClientAuthenticator(core)

    # -- /par --------------------------------------------------------------------------------

    @route("POST", rf"{PREFIX}/par", "idporten.par")
    async def par(self, request: Request) -> Response:
        """``POST /par``: store an authorization request, answer its ``request_uri``."""
        now = self._core.shared.clock()
        auth_request = self._pushed_request(request, now)
        request_uri = PAR_URN_PREFIX + random_token()
        with self._core.shared.lock:
            self._store.purge(now)
            self._store.par[sha(request_uri)] = (auth_request, now + PAR_LIFETIME)
        return json_response(
            {"expires_in": PAR_LIFETIME, "request_uri": request_uri},
            201,
            content_type=JSON_UTF8,
            headers=NO_STORE,
        )

    def _pushed_request(self, request: Request, now: float) -> AuthorizationRequest:
        issuer = issuer_for(request.origin)
        form = form_params(request)
        client, _ = self._clients.authenticate(request, form, now, issuer, f"{issuer}/par")
        params = {k: v for k, v in form.items() if k not in CLIENT_AUTH_PARAMS}
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
            return validate(params, client)
        except RequestError as exc:
            raise OAuthError(exc.error, exc.description) from None

    # -- /token ------------------------------------------------------------------------------

    @route("POST", rf"{PREFIX}/token", "idporten.token")
    async def token(self, request: Request) -> Response:
        """``POST /token``: ``authorization_code`` and ``refresh_token`` grants."""
        now = self._core.shared.clock()
        issuer = issuer_for(request.origin)
        form = form_params(request)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise OAuthError("invalid_request", "Missing grant_type.")
        if grant_type not in ("authorization_code", "refresh_token"):
            raise OAuthError("unsupported_grant_type", f"Unsupported grant_type: {grant_type}.")
        client, method = self._clients.authenticate(request, form, now, issuer, f"{issuer}/token")
        if grant_type == "authorization_code":
            body = self._redeem_code(form, client, method, issuer, now)
        else:
            body = self._refresh(form, client, method, issuer, now)
        return json_response(body, content_type=JSON_UTF8, headers=NO_STORE)

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
        with self._core.shared.lock:
            record = self._store.codes.get(sha(code))
            if record is None or record.expires < now:
                raise invalid_grant("Invalid or expired authorization code.")
            if record.grant_id is not None:
                # RFC 6749 §4.1.2: a replayed code revokes what it bought the first time.
                self._store.revoke_grant(record.grant_id)
                raise invalid_grant("The authorization code has already been used.")
            auth_request, session = record.request, record.session
            if auth_request.client_id != client.client_id:
                raise invalid_grant("The authorization code was issued to another client.")
            if auth_request.redirect_uri != redirect_uri:
                raise invalid_grant("redirect_uri does not match the authorization request.")
            if not hmac.compare_digest(challenge, auth_request.code_challenge):
                raise invalid_grant("PKCE verification failed: code_verifier does not match.")
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
            raise invalid_client("Client authentication is required for the refresh_token grant.")
        presented = form.get("refresh_token")
        if presented is None:
            raise OAuthError("invalid_request", "Missing refresh_token.")
        requested = scope_list(form.get("scope", ""))
        with self._core.shared.lock:
            record = self._store.refresh_tokens.get(sha(presented))
            if record is None or record.client_id != client.client_id:
                raise invalid_grant("Invalid refresh token.")
            grant = self._store.grants.get(record.grant_id)
            if grant is None or grant.revoked:
                raise invalid_grant("The authorization has been revoked.")
            if not record.active:
                # A rotated-out token came back: someone holds a copy. Revoke the authorization.
                self._store.revoke_grant(grant.id)
                raise invalid_grant(
                    "The refresh token has already been used; the authorization is revoked."
                )
            if now > grant.created + client.authorization_lifetime:
                raise invalid_grant("The authorization has expired.")
            if now > record.last_used + client.refresh_token_lifetime:
                raise invalid_grant("The refresh token has expired.")
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
        scopes = tuple(requested) if requested else grant.scopes
        return self._token_response(
            grant, client, method, issuer, now, scopes=scopes, refresh_token=refresh_token
        )

    def _new_refresh_token(self, grant: IdportenGrant, now: float) -> str:
        """Mint a refresh token for ``grant``. Call with the lock held."""
        token = _opaque_refresh_token()
        key = sha(token)
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
        access_jti = random_token(8)
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
            "consumer": iso6523(client.org_number),
        }
        if grant.resource is not None:
            claims["aud"] = grant.resource
        signer = self._core.key
        body: dict[str, Any] = {"access_token": signer.sign(claims)}
        with self._core.shared.lock:
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
                    "jti": random_token(8),
                }
            )
        body["token_type"] = "Bearer"
        body["expires_in"] = client.access_token_lifetime
        return body

    def _pairwise_subject(self, client_id: str, pid: str) -> str:
        message = f"{client_id}\x00{pid}".encode()
        return b64url(hmac.new(self._store.pairwise_salt, message, hashlib.sha256).digest())

    # -- tokens in use -----------------------------------------------------------------------

    def _access_token_claims(self, token: str, origin: str) -> dict[str, Any] | None:
        claims = self._core.tokens.claims(token, origin=origin)
        # id_tokens are signed by the same key; only access tokens carry client_id and scope.
        if claims is None or "client_id" not in claims or "scope" not in claims:
            return None
        return claims

    @route("POST", rf"{PREFIX}/token/revoke", "idporten.revoke")
    async def revoke(self, request: Request) -> Response:
        """``POST /token/revoke`` (RFC 7009): end the whole authorization the token belongs to."""
        now = self._core.shared.clock()
        issuer = issuer_for(request.origin)
        form = form_params(request)
        client, _ = self._clients.authenticate(request, form, now, issuer, f"{issuer}/token/revoke")
        token = form.get("token")
        if token is None:
            raise OAuthError("invalid_request", "Missing token.")
        with self._core.shared.lock:
            record = self._store.refresh_tokens.get(sha(token))
            grant_id = record.grant_id if record is not None else None
        if grant_id is None:
            claims = self._access_token_claims(token, request.origin)
            if claims is not None:
                with self._core.shared.lock:
                    grant_id = self._store.access_tokens.get(str(claims.get("jti")))
        with self._core.shared.lock:
            grant = self._store.grants.get(grant_id) if grant_id else None
            # Only the client's own authorizations; anything else is answered 200 all the same.
            if grant is not None and grant.client_id == client.client_id:
                self._store.revoke_grant(grant.id)
        return empty_response(200, headers=NO_STORE)

    @route(["GET", "POST"], rf"{PREFIX}/userinfo", "idporten.userinfo")
    async def userinfo(self, request: Request) -> Response:
        """``GET|POST /userinfo`` with a Bearer access token."""
        now = self._core.shared.clock()
        token = request.bearer_token()
        claims = self._access_token_claims(token, request.origin) if token else None
        exp = number(claims.get("exp")) if claims is not None else None
        grant: IdportenGrant | None = None
        if claims is not None and exp is not None and exp >= now:
            with self._core.shared.lock:
                grant_id = self._store.access_tokens.get(str(claims.get("jti")))
                grant = self._store.grants.get(grant_id) if grant_id else None
        if claims is None or grant is None or grant.revoked:
            challenge = 'Bearer error="invalid_token"' if token else "Bearer"
            raise OAuthError(
                "invalid_token",
                "The access token is missing, invalid, expired or revoked.",
                401,
                (("www-authenticate", challenge),),
            )
        if "openid" not in token_scopes(claims):
            raise OAuthError(
                "insufficient_scope",
                "The access token lacks the openid scope.",
                403,
                (("www-authenticate", 'Bearer error="insufficient_scope", scope="openid"'),),
            )
        return json_response(
            {"sub": claims.get("sub"), "pid": grant.pid, "locale": grant.locale},
            content_type=JSON_UTF8,
            headers=NO_STORE,
        )
