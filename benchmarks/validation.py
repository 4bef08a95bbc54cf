"""What `AltinnTokenValidator` costs on a token whose key is cached, against joserfc's own verify.

The same Altinn-like token (RS256, 2048-bit key, the claims an exchanged Altinn token has) is
validated by ``validator.validate`` (header checks, the cached key set, the signature through
joserfc, ``iss``/``exp``/``nbf``, a required scope, the typed principal) and verified by
joserfc's ``jwt.decode`` with the same key (the signature and the claims parsed, nothing
checked), interleaved in blocks, CPU per token. The keys are served from memory: after the
first token no request is made, which the figure checks too.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

import altinn_async as altinn

from ._context import Context
from ._measure import Sample, interleave, median, timed
from ._report import Figure, at_most

NAME = "validation"
SUMMARY = "AltinnTokenValidator on a cached key against joserfc's verify of the same token"

TOKENS = 400
BLOCKS = 15
# The issue's target: validating costs at most this much more than joserfc's verify.
TARGET_RATIO = 1.2
PLATFORM = "https://platform.bench.example"
ISSUER = f"{PLATFORM}/authentication/api/v1/openid/"
SCOPE = "altinn:serviceowner/instances.read"


def _key() -> RSAKey:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return RSAKey.import_key(pem, {"kid": "bench-kid", "use": "sig", "alg": "RS256"})


def _token(key: RSAKey) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "iat": now,
        "nbf": now,
        "exp": now + 1800,
        "scope": SCOPE,
        "urn:altinn:org": "ttd",
        "urn:altinn:orgNumber": "405003309",
        "urn:altinn:authenticatemethod": "maskinporten",
        "urn:altinn:authlevel": 3,
        "client_amr": "private_key_jwt",
        "token_type": "Bearer",
        "client_id": "bench-client",
        "consumer": {"authority": "iso6523-actorid-upis", "ID": "0192:405003309"},
        "jti": "bench-jti",
    }
    return jwt.encode({"alg": "RS256", "kid": "bench-kid", "typ": "JWT"}, claims, key)


def _served(key: RSAKey, fetched: list[str]) -> httpx.MockTransport:
    public = key.as_dict(private=False)

    def handler(request: httpx.Request) -> httpx.Response:
        fetched.append(request.url.path)
        if request.url.path.endswith("openid-configuration"):
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": f"{ISSUER}jwks"})
        return httpx.Response(200, json={"keys": [public]})

    return httpx.MockTransport(handler)


async def _measure() -> tuple[dict[str, list[Sample]], int]:
    key = _key()
    token = _token(key)
    public = KeySet([RSAKey.import_key(key.as_dict(private=False))])
    fetched: list[str] = []
    async with (
        httpx.AsyncClient(transport=_served(key, fetched)) as http,
        altinn.AltinnTokenValidator(ISSUER, http_client=http, scopes=[SCOPE]) as validator,
    ):
        principal = await validator.validate(token)  # warm: discovery and the keys
        if principal.org_number != "405003309":
            raise RuntimeError("the validator read the wrong organisation number")
        before = len(fetched)

        async def ours() -> None:
            for _ in range(TOKENS):
                await validator.validate(token)

        async def theirs() -> None:
            for _ in range(TOKENS):
                jwt.decode(token, public, algorithms=["RS256"])

        async def run_ours() -> Sample:
            return await timed(TOKENS, ours)

        async def run_theirs() -> Sample:
            return await timed(TOKENS, theirs)

        samples = await interleave({"joserfc": run_theirs, "validator": run_ours}, blocks=BLOCKS)
        return samples, len(fetched) - before


def run(context: Context) -> list[Figure]:
    """Measure and judge validation against joserfc's verify."""
    samples, refetches = anyio.run(_measure)
    theirs = median(samples["joserfc"], lambda s: s.cpu_per_item) * 1e6
    ours = median(samples["validator"], lambda s: s.cpu_per_item) * 1e6
    return [
        at_most(
            NAME,
            "cached_key_vs_joserfc_verify",
            ours / theirs,
            limit=TARGET_RATIO,
            medians={
                "validator.cpu_us_per_token": round(ours, 1),
                "joserfc.cpu_us_per_token": round(theirs, 1),
            },
            note=f"CPU per token, RS256 2048-bit, median of {BLOCKS} x {TOKENS}",
        ),
        at_most(
            NAME,
            "key_fetches_after_the_first_token",
            refetches,
            limit=0,
            medians={},
            unit="count",
            note=f"requests for keys or metadata over {BLOCKS * TOKENS * 2} validations",
        ),
    ]
