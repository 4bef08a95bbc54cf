"""A first smoke benchmark of the per-request auth path.

Timing targets are ratios measured in the same run, so they hold on a slow or a busy machine:
the cost of a request through `MaskinportenAuth` with a warm cache, against the same request with
a fixed ``Authorization`` header, both over an in-memory transport.
"""

from __future__ import annotations

import sys
import time

import anyio
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import altinn_async as altinn

REQUESTS = 3000
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


async def _time(client: httpx.AsyncClient) -> float:
    for _ in range(100):  # warm up: connection state, caches, the token
        await client.get("https://platform.example/")
    started = time.perf_counter()
    for _ in range(REQUESTS):
        await client.get("https://platform.example/")
    return time.perf_counter() - started


async def main() -> int:
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = altinn.SigningKey.from_pem(pem, kid="bench")
    auth = altinn.MaskinportenAuth(
        client_id="bench",
        key=key,
        scopes=["altinn:serviceowner/instances.read"],
        environment=ENV,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(_token_endpoint)),
    )
    transport = httpx.MockTransport(_api)
    async with (
        auth,
        httpx.AsyncClient(transport=transport, auth=auth) as with_auth,
        httpx.AsyncClient(
            transport=transport, headers={"Authorization": "Bearer bench-token"}
        ) as fixed,
    ):
        # Interleave the runs so that drift in machine load hits both sides alike.
        baseline = auth_time = 0.0
        for _ in range(3):
            baseline += await _time(fixed)
            auth_time += await _time(with_auth)
    ratio = auth_time / baseline
    print(
        f"warm-cache auth: {auth_time / (3 * REQUESTS) * 1e6:.1f} µs/request, fixed header: "
        f"{baseline / (3 * REQUESTS) * 1e6:.1f} µs/request, ratio {ratio:.2f} "
        f"(target ≤ {TARGET_RATIO})"
    )
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
