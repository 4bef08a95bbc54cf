"""Seeding ID-porten: clients (the logic behind ``Emulator.add_idporten_client``)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from .._toolkit.jose import import_public_keys
from .._toolkit.register import check_org_number
from .._toolkit.state import SharedState
from .model import IdportenClient, IdportenStore

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.endswith(".localhost") or host.startswith("127.")


def check_redirect_uri(uri: str, what: str) -> str:
    """Absolute, no fragment; plain http only to loopback hosts (as ID-porten allows in test)."""
    parts = urllib.parse.urlsplit(uri)
    if (
        not parts.scheme
        or parts.fragment
        or (parts.scheme in ("http", "https") and not parts.netloc)
    ):
        raise ValueError(f"{what} must be absolute URIs without a fragment, got {uri!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        raise ValueError(f"{what} may use http only for localhost, got {uri!r}")
    return uri


class IdportenSeeding:
    """Validates and stores ID-porten clients."""

    def __init__(self, shared: SharedState, store: IdportenStore) -> None:
        self._shared = shared
        self._store = store

    def add_client(
        self,
        client_id: str,
        *,
        redirect_uris: Iterable[str],
        client_secret: str | None,
        jwks: Iterable[Mapping[str, Any]],
        token_endpoint_auth_method: str,
        scopes: Iterable[str],
        post_logout_redirect_uris: Iterable[str],
        org_number: str,
        rotate_refresh_tokens: bool,
        access_token_lifetime: int,
        refresh_token_lifetime: int,
        authorization_lifetime: int,
    ) -> None:
        """Register (or replace) a client.

        Raises:
            ValueError: an argument is malformed or does not fit the authentication method.
        """
        if not client_id:
            raise ValueError("client_id must not be empty")
        if token_endpoint_auth_method not in AUTH_METHODS:
            raise ValueError(
                f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}, "
                f"got {token_endpoint_auth_method!r}"
            )
        check_org_number(org_number, "org_number")
        redirects = tuple(check_redirect_uri(u, "redirect_uris") for u in redirect_uris)
        if not redirects:
            raise ValueError("an ID-porten client needs at least one redirect_uri")
        logouts = tuple(
            check_redirect_uri(u, "post_logout_redirect_uris") for u in post_logout_redirect_uris
        )
        keys = import_public_keys(jwks, "ID-porten")
        uses_secret = token_endpoint_auth_method.startswith("client_secret_")
        if uses_secret and not client_secret:
            raise ValueError(f"{token_endpoint_auth_method} needs a client_secret")
        if not uses_secret and client_secret is not None:
            raise ValueError(f"a {token_endpoint_auth_method} client has no client_secret")
        if token_endpoint_auth_method == "private_key_jwt" and not keys:
            raise ValueError("private_key_jwt needs at least one registered JWK")
        if min(access_token_lifetime, refresh_token_lifetime, authorization_lifetime) < 1:
            raise ValueError("token lifetimes must be positive")
        client = IdportenClient(
            client_id=client_id,
            client_secret=client_secret,
            keys=keys,
            token_endpoint_auth_method=token_endpoint_auth_method,
            redirect_uris=redirects,
            post_logout_redirect_uris=logouts,
            scopes=frozenset(scopes),
            org_number=org_number,
            rotate_refresh_tokens=rotate_refresh_tokens,
            access_token_lifetime=access_token_lifetime,
            refresh_token_lifetime=refresh_token_lifetime,
            authorization_lifetime=authorization_lifetime,
        )
        with self._shared.lock:
            self._store.clients[client_id] = client
