"""Reading a JWT's claims without verifying it (to learn a token's own ``exp``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.util import json_b64encode, urlsafe_b64encode

from .exceptions import TokenError

if TYPE_CHECKING:
    from ._keys import Signer

__all__ = ["sign_jwt", "signer_header", "unverified_claims"]


def signer_header(signer: Signer) -> dict[str, Any]:
    """The JOSE header for ``signer``: ``kid`` for a registered key, else the ``x5c`` chain."""
    if signer.key_id is not None:
        return {"alg": signer.algorithm, "kid": signer.key_id}
    return {"alg": signer.algorithm, "x5c": list(signer.certificate_chain or ())}


async def sign_jwt(signer: Signer, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A compact JWS of ``claims`` signed by ``signer`` (a secret until it expires)."""
    signing_input = json_b64encode(header) + b"." + json_b64encode(claims)
    signature = await signer.sign(signing_input)
    return (signing_input + b"." + urlsafe_b64encode(signature)).decode("ascii")


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
