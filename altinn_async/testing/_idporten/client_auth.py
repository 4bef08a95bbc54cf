"""Client authentication at ``/par``, ``/token`` and ``/token/revoke``: ``client_secret_basic``,
``client_secret_post``, ``private_key_jwt`` (``iss`` = ``sub`` = client_id, and client_id in
the body as well) and ``none`` (``altinn-protocol.md`` §2.4, §7 item 7)."""

from __future__ import annotations

import base64
import binascii
import hmac
import urllib.parse
from collections.abc import Mapping
from typing import Any

from .._toolkit.asgi import Request
from .._toolkit.claims import CLOCK_SKEW, number
from .._toolkit.jose import MalformedJWTError, parse_jwt, signature_valid, token_registry
from .core import IdportenCore
from .errors import OAuthError, invalid_client
from .model import IdportenClient

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 120

CLIENT_AUTH_PARAMS = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


def _refused(why: str) -> OAuthError:
    return invalid_client(f"Invalid client assertion: {why}.")


class ClientAuthenticator:
    """Authenticates the client of a back-channel request the way it is registered."""

    def __init__(self, core: IdportenCore) -> None:
        self._core = core
        self._registry = token_registry()

    def authenticate(
        self, request: Request, form: Mapping[str, str], now: float, issuer: str, endpoint: str
    ) -> tuple[IdportenClient, str]:
        """The authenticated client and the method it used (its ``client_amr``).

        Raises:
            OAuthError: ``invalid_client`` (401), or ``invalid_request`` for ambiguous
                credentials.
        """
        method, client_id, secret = _client_credentials(request, form)
        basic = method == "client_secret_basic"
        client = self._core.client(client_id)
        if client is None:
            raise invalid_client("Unknown client.", basic=basic)
        if client.token_endpoint_auth_method != method:
            raise invalid_client(
                f"Client authentication method {method} is not allowed for this client.",
                basic=basic,
            )
        if method in ("client_secret_basic", "client_secret_post"):
            expected = (client.client_secret or "").encode()
            if not secret or not hmac.compare_digest(secret.encode(), expected):
                raise invalid_client("Invalid client secret.", basic=basic)
        elif method == "private_key_jwt":
            # Digdir documents the issuer or the token endpoint; RFC 9126 adds the endpoint used.
            audiences = {issuer, f"{issuer}/token", endpoint}
            self._verify_assertion(client, form, now, audiences)
        return client, method

    def _verify_assertion(
        self, client: IdportenClient, form: Mapping[str, str], now: float, audiences: set[str]
    ) -> None:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _refused(f"client_assertion_type must be {ASSERTION_TYPE}")
        try:
            obj, header, claims = parse_jwt(form.get("client_assertion", ""), self._registry)
        except MalformedJWTError:
            raise _refused("not a signed JWT") from None
        if header.get("alg") != "RS256":
            raise _refused("alg must be RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise _refused("kid is required (the emulator knows keys only by kid)")
        key = client.keys.get(kid)
        if key is None:
            raise _refused(f"unknown kid {kid}")
        if not signature_valid(obj, key, self._registry):
            raise _refused("invalid signature")
        self._check_assertion_claims(client, claims, now, audiences)

    def _check_assertion_claims(
        self, client: IdportenClient, claims: dict[str, Any], now: float, audiences: set[str]
    ) -> None:
        if claims.get("iss") != client.client_id or claims.get("sub") != client.client_id:
            raise _refused("iss and sub must both be the client_id")
        aud = claims.get("aud")
        values = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(v, str) and v in audiences for v in values):
            raise _refused("aud must be the issuer or the token endpoint")
        iat, exp = number(claims.get("iat")), number(claims.get("exp"))
        if iat is None or exp is None:
            raise _refused("iat and exp are required")
        if exp - iat > MAX_ASSERTION_LIFETIME:
            raise _refused(f"exp - iat must be at most {MAX_ASSERTION_LIFETIME} seconds")
        if iat > now + CLOCK_SKEW:
            raise _refused("issued in the future")
        if exp < now:
            raise _refused("expired")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise _refused("jti is required")
        with self._core.shared.lock:
            fresh = self._core.replay.remember(f"{client.client_id}:{jti}", exp + CLOCK_SKEW, now)
        if not fresh:
            raise _refused("jti has been used before")


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
            raise invalid_client("client_id does not match the credentials.", basic=True)
        return method, client_id, secret
    client_id = form.get("client_id", "")
    if not client_id:
        if method == "private_key_jwt":
            # The new platform wants client_id in the body as well (oidc_protocol_new_idporten).
            raise OAuthError(
                "invalid_request", "client_id is required along with client_assertion."
            )
        raise invalid_client("Missing client authentication.")
    return method, client_id, form.get("client_secret")


def _basic_credentials(authorization: str) -> tuple[str, str]:
    """``client_id`` and secret from HTTP Basic; both are form-encoded first (RFC 6749 §2.3.1)."""
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise invalid_client("Malformed Basic credentials.", basic=True) from None
    client_id, sep, secret = decoded.partition(":")
    if not sep or not client_id:
        raise invalid_client("Malformed Basic credentials.", basic=True)
    return urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)
