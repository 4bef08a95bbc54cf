"""What signing a Maskinporten grant costs, against the least it can cost.

``MaskinportenAuth.create_grant()`` (fresh ``jti`` and ``iat``, the header and claims encoded,
RS256 through joserfc with the key parsed once, when it was loaded) against a grant built by
hand with ``cryptography`` on an already-loaded key (the same claims, ``json.dumps``, base64url,
``private_key.sign``): target at most 1.3 times. And what it would cost to parse the key for
every grant (``load_pem_private_key`` then sign), which the library never does. CPU per grant,
interleaved in blocks; the instruction counts (callgrind) are the stable figures.
"""

from __future__ import annotations

import base64
import json
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import altinn_async as altinn

from . import _callgrind
from ._context import Context
from ._measure import Sample, interleave, median, timed
from ._report import Figure, at_most, info, skipped

NAME = "signing"
SUMMARY = "a Maskinporten grant: ours against raw cryptography RS256 on a cached key"

GRANTS = 100
BLOCKS = 11
LIMIT = 1.3
ENVIRONMENT = altinn.Environment(
    name="bench",
    maskinporten=altinn.AuthorizationServer(
        issuer="https://mp.bench.example/", token_endpoint="https://mp.bench.example/token"
    ),
    platform="https://platform.bench.example",
)
SCOPES = ["altinn:serviceowner/instances.read"]


def new_pem() -> bytes:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ours(pem: bytes) -> altinn.MaskinportenAuth:
    """The library's flow, whose `create_grant` is measured."""
    return altinn.MaskinportenAuth(
        client_id="bench",
        key=altinn.SigningKey.from_pem(pem, kid="bench"),
        scopes=SCOPES,
        environment=ENVIRONMENT,
    )


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def raw_grant(private_key: rsa.RSAPrivateKey) -> str:
    """The same grant by hand: what RS256 over these claims costs at the least."""
    now = int(time.time())
    header = {"alg": "RS256", "kid": "bench"}
    claims: dict[str, Any] = {
        "aud": "https://mp.bench.example/",
        "iss": "bench",
        "scope": " ".join(SCOPES),
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
    }
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")).encode())
        + b"."
        + _b64(json.dumps(claims, separators=(",", ":")).encode())
    )
    signature = private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + _b64(signature)).decode("ascii")


def parsed_each_time(pem: bytes) -> str:
    """A grant from a key parsed anew: what a library that loads its key per grant pays."""
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return raw_grant(key)


async def _measure(pem: bytes) -> dict[str, list[Sample]]:
    auth = ours(pem)
    loaded = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey)
    async with auth:

        async def run_ours() -> Sample:
            async def many() -> None:
                for _ in range(GRANTS):
                    await auth.create_grant()

            return await timed(GRANTS, many)

        async def run_raw() -> Sample:
            async def many() -> None:
                for _ in range(GRANTS):
                    raw_grant(loaded)

            return await timed(GRANTS, many)

        async def run_parsing() -> Sample:
            async def many() -> None:
                for _ in range(GRANTS):
                    parsed_each_time(pem)

            return await timed(GRANTS, many)

        return await interleave(
            {"ours": run_ours, "raw": run_raw, "parsed": run_parsing}, blocks=BLOCKS
        )


_CALLGRIND = """
from pathlib import Path

import anyio
from cryptography.hazmat.primitives import serialization
from benchmarks.signing import ours, raw_grant

PEM = Path({pem_file!r}).read_bytes()
AUTH = ours(PEM)
KEY = serialization.load_pem_private_key(PEM, password=None)


async def _ours(n):
    for _ in range(n):
        await AUTH.create_grant()


def work(n):
    if {which!r} == "ours":
        anyio.run(_ours, n)
    else:
        for _ in range(n):
            raw_grant(KEY)
"""


def _instructions(pem: bytes) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as directory:
        pem_file = Path(directory) / "key.pem"
        pem_file.write_bytes(pem)
        counts = [
            _callgrind.per_operation(
                _CALLGRIND.format(which=which, pem_file=str(pem_file)), small=20, large=120
            )
            for which in ("ours", "raw")
        ]
    return counts[0], counts[1]


def run(context: Context) -> list[Figure]:
    """Measure a grant's signing, ours against raw, and a key parsed per grant."""
    pem = new_pem()
    samples = anyio.run(_measure, pem)
    ours_us = median(samples["ours"], lambda s: s.cpu_per_item) * 1e6
    raw_us = median(samples["raw"], lambda s: s.cpu_per_item) * 1e6
    parsed_us = median(samples["parsed"], lambda s: s.cpu_per_item) * 1e6
    figures = [
        at_most(
            NAME,
            "grant_vs_raw_cryptography",
            ours_us / raw_us,
            limit=LIMIT,
            medians={
                "ours.cpu_us_per_grant": round(ours_us, 1),
                "raw.cpu_us_per_grant": round(raw_us, 1),
            },
            note=f"RS256, 2048-bit key, CPU per grant, median of {BLOCKS} x {GRANTS}",
        ),
        info(
            NAME,
            "key_parsed_per_grant_vs_cached",
            parsed_us / raw_us,
            unit="ratio",
            medians={"parsed.cpu_us_per_grant": round(parsed_us, 1)},
            note="what parsing the PEM for every grant would cost (the library parses it once)",
        ),
    ]
    if not _callgrind.available():
        figures.append(skipped(NAME, "grant_instructions", "valgrind is not installed"))
        return figures
    ours_i, raw_i = _instructions(pem)
    figures.append(
        at_most(
            NAME,
            "grant_instructions_vs_raw_cryptography",
            ours_i / raw_i,
            limit=LIMIT,
            medians={"ours.instructions": round(ours_i), "raw.instructions": round(raw_i)},
            note="callgrind, per grant: the same count run after run",
        )
    )
    return figures
