"""Dialog tokens: the EdDSA (Ed25519) compact JWS Dialogporten hands out with every dialog, the
JWKS that publishes its keys, and `DialogTokens.verify`, how other emulated services (the
Correspondence API) accept one.

From ``Common/IDialogTokenGenerator.cs`` and ``Features/V1/WellKnown/**`` of
``Altinn/dialogporten``: the claims ``jti, c, [y, o], [u], l, p, s, i, a, iss, iat, nbf, exp``,
ten minutes of life (``nbf = iat``), ``iss = {BaseUri}/api/v1``; the JWKS always lists two
keys (a primary, which signs, and a secondary), each ``{"kty": "OKP", "use": "sig", "kid",
"crv": "Ed25519", "x", "alg": "EdDSA"}``.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError, UnsupportedAlgorithmError
from joserfc.jwk import OKPKey

from .._toolkit.claims import number

API = "/platform/dialogporten/api/v1"
LIFETIME = 600


def dialogporten_issuer_for(origin: str) -> str:
    """The ``iss`` of dialog tokens issued at ``origin``
    (``{origin}/platform/dialogporten/api/v1``)."""
    return f"{origin}{API}"


class _EdDSARegistry(jws.JWSRegistry):
    # joserfc warns on every use of "EdDSA" (RFC 9864 prefers "Ed25519"); Dialogporten writes
    # "EdDSA", and the emulator must not warn while it does its job.
    def get_alg(self, name: str) -> Any:
        if name != "EdDSA":
            raise UnsupportedAlgorithmError(f"Algorithm of '{name}' is not allowed")
        return self.algorithms[name]


class DialogTokens:
    """The dialog-token keys (generated on first use) and the tokens they sign."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: list[tuple[str, OKPKey]] = []
        self._registry = _EdDSARegistry(algorithms=["EdDSA"])

    def __repr__(self) -> str:
        return "DialogTokens(<private>)"

    def _ensure(self) -> list[tuple[str, OKPKey]]:
        with self._lock:
            if not self._keys:
                for role in ("primary", "secondary"):
                    kid = f"dp-emulator-{role}-{uuid.uuid4().hex[:8]}"
                    self._keys.append((kid, OKPKey.generate_key("Ed25519")))
            return list(self._keys)

    def jwks(self) -> dict[str, Any]:
        """``GET /.well-known/jwks.json``."""
        keys = []
        for kid, key in self._ensure():
            public = key.as_dict(private=False)
            keys.append(
                {
                    "kty": "OKP",
                    "use": "sig",
                    "kid": kid,
                    "crv": "Ed25519",
                    "x": public["x"],
                    "alg": "EdDSA",
                }
            )
        return {"keys": keys}

    def issue(self, claims: Mapping[str, Any], origin: str, now: float) -> str:
        """A dialog token of ``claims`` (``jti``, ``iss``, ``iat``, ``nbf`` and ``exp`` added),
        signed with the primary key."""
        kid, key = self._ensure()[0]
        issued_at = int(now)
        body = {
            "jti": str(uuid.uuid4()),
            **claims,
            "iss": dialogporten_issuer_for(origin),
            "iat": issued_at,
            "nbf": issued_at,
            "exp": issued_at + LIFETIME,
        }
        header = {"alg": "EdDSA", "typ": "JWT", "kid": kid}
        return jwt.encode(header, body, key, registry=self._registry, default_type=None)

    def verify(self, token: str, origin: str, now: float) -> dict[str, Any] | None:
        """The claims of a valid dialog token issued at ``origin`` that is live at ``now``
        (``nbf <= now < exp``, no clock skew), or None.

        Other emulated services take this method as their dialog-token check.
        """
        keys = dict(self._ensure())
        try:
            obj = jws.extract_compact(token.encode("ascii"), registry=self._registry)
            header = obj.headers()
            key = keys.get(str(header.get("kid")))
            if key is None or header.get("alg") != "EdDSA":
                return None
            if not jws.validate_compact(obj, key, registry=self._registry):
                return None
            claims = json.loads(obj.payload)
        except (JoseError, ValueError, TypeError, UnicodeError):
            return None
        if not isinstance(claims, dict) or claims.get("iss") != dialogporten_issuer_for(origin):
            return None
        exp, nbf = number(claims.get("exp")), number(claims.get("nbf"))
        if exp is None or exp <= now or (nbf is not None and nbf > now):
            return None
        return claims
