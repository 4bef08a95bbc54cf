"""What ID-porten's front channel, back channel and discovery share: the store, the signing key,
the Register (for the TestID page), and small helpers."""

from __future__ import annotations

import secrets

from .._toolkit.asgi import FormError, Request, unique_params
from .._toolkit.jose import IssuedTokens, RsaSigningKey, b64url, sha256_hex
from .._toolkit.register import Register
from .._toolkit.state import ReplayGuard, SharedState
from .errors import OAuthError, RequestError
from .model import IdportenClient, IdportenStore

PREFIX = "/idporten"
LOGIN_PATH = f"{PREFIX}/login"

CODE_LIFETIME = 60
PAR_LIFETIME = 120
LOGIN_PAGE_LIFETIME = 600
ID_TOKEN_LIFETIME = 120  # the documented id_token example has exp - iat = 120
SESSION_MAX_AGE = 7200  # SSO session: at most 120 min ...
SESSION_IDLE = 1800  # ... and 30 min of inactivity
SESSION_COOKIE = "idporten_sso"


def issuer_for(origin: str) -> str:
    """The ID-porten issuer for an origin (no trailing slash, as ID-porten writes it)."""
    return f"{origin}{PREFIX}"


def sha(value: str) -> str:
    """The key a secret is stored under."""
    return sha256_hex(value)


def random_token(size: int = 32) -> str:
    """A random base64url string of ``size`` bytes."""
    return b64url(secrets.token_bytes(size))


def query_params(request: Request) -> dict[str, str]:
    """The query parameters, each once, empty ones left out.

    Raises:
        RequestError: a repeated parameter.
    """
    try:
        params = unique_params(request.query())
    except FormError as exc:
        raise RequestError("invalid_request", str(exc)) from None
    return {k: v for k, v in params.items() if v != ""}


def form_params(request: Request) -> dict[str, str]:
    """The form body's parameters, each once, empty ones left out (an empty value is treated as
    absent, RFC 6749 §3.1).

    Raises:
        OAuthError: not a UTF-8 form post, or a repeated parameter.
    """
    try:
        form = request.form()
    except FormError as exc:
        raise OAuthError("invalid_request", str(exc)) from None
    return {k: v for k, v in form.items() if v != ""}


class IdportenCore:
    """The shared state of the ID-porten endpoints."""

    def __init__(self, shared: SharedState, store: IdportenStore, register: Register) -> None:
        self.shared = shared
        self.store = store
        self.register = register
        self.key = RsaSigningKey("idporten")
        self.tokens = IssuedTokens(self.key, issuer_for)
        self.replay = ReplayGuard()

    def client(self, client_id: str | None) -> IdportenClient | None:
        """The registered client, or None."""
        if not client_id:
            return None
        with self.shared.lock:
            return self.store.clients.get(client_id)

    def known_pids(self) -> list[str]:
        """The Register's person numbers (the TestID page offers them)."""
        with self.shared.lock:
            return list(self.register.persons)
