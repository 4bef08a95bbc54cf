"""The record of a grant Maskinporten accepted: what a test asserts its code sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class GrantRecord:
    """A JWT-bearer grant the emulated Maskinporten accepted, and the access token it issued
    for it: their claims, never the signed grant or the token.

    Claims are read-only JSON: objects are mappings, arrays tuples (``claims["resource"] ==
    ("https://api.example",)``).

    Attributes:
        client_id: the client that authenticated (the grant's ``iss``).
        scopes: the scopes granted, in the grant's order.
        client_amr: how the client authenticated: ``private_key_jwt`` (a registered key) or
            ``virksomhetssertifikat`` (an enterprise certificate in ``x5c``).
        kid: the grant's ``kid`` header (None for a certificate grant without one).
        algorithm: the grant's ``alg`` header (``RS256``, ...).
        claims: the grant's claims (``aud``, ``iss``, ``scope``, ``iat``, ``exp``, ``jti``, and
            ``resource``, ``consumer_org``, ``authorization_details`` when sent).
        token_claims: the claims of the access token Maskinporten issued (``consumer``,
            ``supplier``, ``scope``, ``exp``, ...).
        accepted_at: when, on the emulator's clock (seconds since the epoch).
    """

    client_id: str
    scopes: tuple[str, ...]
    client_amr: str
    kid: str | None
    algorithm: str
    claims: Mapping[str, Any] = field(repr=False)
    token_claims: Mapping[str, Any] = field(repr=False)
    accepted_at: float
