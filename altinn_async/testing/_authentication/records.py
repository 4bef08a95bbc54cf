"""The record of a token exchange Altinn authentication made: what a test asserts its code
exchanged, and for what."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ExchangeRecord:
    """A token exchange (``GET /exchange/{provider}``) that issued an Altinn token: the claims
    of the token that came in and of the Altinn token that went out, never the tokens.

    Claims are read-only JSON: objects are mappings, arrays tuples.

    Attributes:
        provider: ``"maskinporten"`` or ``"id-porten"`` (lower case, however the path spelt it).
        token_claims: the claims of the Maskinporten or ID-porten access token exchanged.
        altinn_claims: the claims of the Altinn token issued (``urn:altinn:org``,
            ``urn:altinn:orgNumber``, ``urn:altinn:userid``, ``urn:altinn:authlevel``, ``exp``,
            ...).
        exchanged_at: when, on the emulator's clock (seconds since the epoch).
    """

    provider: str
    token_claims: Mapping[str, Any] = field(repr=False)
    altinn_claims: Mapping[str, Any] = field(repr=False)
    exchanged_at: float
