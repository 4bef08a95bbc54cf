"""A smoke benchmark of the per-request auth path.

The client CPU of a request through `MaskinportenAuth` with a warm cache, against the same
request with a fixed ``Authorization`` header, both over an in-memory transport (no sockets, no
emulator: only the client side's own work), interleaved in blocks.
"""

from __future__ import annotations

import anyio
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import altinn_async as altinn

from ._context import Context
from ._measure import Sample, interleave, median, timed
from ._report import Figure, at_most

NAME = "auth"
SUMMARY = "warm-cache MaskinportenAuth against a fixed header, in memory"

# Many short blocks: a change in the machine's load then hits both sides alike.
REQUESTS = 600
BLOCKS = 15
# A warm-cache request may cost at most this much more than one with a fixed header.
TARGET_RATIO = 1.5

ENV = altinn.Environment(
    name="bench",
    maskinporten=altinn.AuthorizationServer(
        issuer="https://mp.example/", token_endpoint="https://mp.example/token"
    ),
    platform="https://platform.example",
)


def _token_endpoint(request: httpx.Request) -> httpx.Response:
    body = {"access_token": "bench-token", "token_type": "Bearer", "expires_in": 3600}
    return httpx.Response(200, json=body)


def _api(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200 if request.headers.get("Authorization") else 401)


async def _requests(client: httpx.AsyncClient, count: int) -> None:
    for _ in range(count):
        response = await client.get("https://platform.example/")
        if response.status_code != 200:
            raise RuntimeError(f"the in-memory API answered {response.status_code}")


async def _measure() -> dict[str, list[Sample]]:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = altinn.SigningKey.from_pem(pem, kid="bench")
    token_http = httpx.AsyncClient(transport=httpx.MockTransport(_token_endpoint))
    auth = altinn.MaskinportenAuth(
        client_id="bench",
        key=key,
        scopes=["altinn:serviceowner/instances.read"],
        environment=ENV,
        http_client=token_http,
    )
    transport = httpx.MockTransport(_api)
    async with (
        token_http,
        auth,
        httpx.AsyncClient(transport=transport, auth=auth) as with_auth,
        httpx.AsyncClient(
            transport=transport, headers={"Authorization": "Bearer bench-token"}
        ) as fixed,
    ):
        for client in (fixed, with_auth):
            await _requests(client, 100)  # warm up: caches, the token

        async def run_fixed() -> Sample:
            return await timed(REQUESTS, lambda: _requests(fixed, REQUESTS))

        async def run_auth() -> Sample:
            return await timed(REQUESTS, lambda: _requests(with_auth, REQUESTS))

        return await interleave({"fixed": run_fixed, "auth": run_auth}, blocks=BLOCKS)


def run(context: Context) -> list[Figure]:
    """Measure and judge the warm-cache overhead."""
    samples = anyio.run(_measure)
    fixed = median(samples["fixed"], lambda s: s.cpu_per_item) * 1e6
    auth = median(samples["auth"], lambda s: s.cpu_per_item) * 1e6
    return [
        at_most(
            NAME,
            "warm_cache_vs_fixed_header",
            auth / fixed,
            limit=TARGET_RATIO,
            medians={
                "auth.cpu_us_per_request": round(auth, 1),
                "fixed.cpu_us_per_request": round(fixed, 1),
            },
            note=f"CPU per request, in memory, median of {BLOCKS} x {REQUESTS}",
        )
    ]
