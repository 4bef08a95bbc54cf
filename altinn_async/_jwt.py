"""Reading a JWT's claims without verifying it (to learn a token's own ``exp``)."""

from __future__ import annotations

import json
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

from .exceptions import TokenError

__all__ = ["unverified_claims"]


def unverified_claims(token: str, *, what: str) -> dict[str, Any]:
    """The claims of a compact JWS, parsed with joserfc but not verified.

    Only for reading facts about a token we were just given over TLS by its issuer (its expiry),
    never for trusting it.

    Raises:
        TokenError: ``token`` is not a compact JWS with a JSON object payload. The message names
            ``what`` and never includes the token.
    """
    try:
        compact = jws.extract_compact(token.encode("ascii"))
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeError) as exc:
        raise TokenError(f"{what} is not a readable JWT") from exc
    if not isinstance(claims, dict):
        raise TokenError(f"{what} is not a JWT with a claims object")
    return claims
