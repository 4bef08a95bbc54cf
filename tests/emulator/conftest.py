"""Fixtures for the emulator tests: keys, a test CA, a frozen clock and grant builders.

Grants are built here with joserfc directly, never with the library's client code, so these
tests check the emulator against the protocol rather than against our own client.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import RSAKey

from altinn_async.testing import CertificateAuthority, Emulator, IssuedCertificate

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
READ = "altinn:serviceowner/instances.read"
WRITE = "altinn:serviceowner/instances.write"
DIGDIR = "991825827"
CLIENT_ID = "client-1"
ISSUER = "http://altinn.localhost/maskinporten/"
EXCHANGE = "/platform/authentication/api/v1/exchange/maskinporten"
INSTANCES = "/platform/storage/api/v1/instances"


class Clock:
    """A frozen clock the tests move by hand."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time())) if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def client_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "key-1"})


@pytest.fixture(scope="session")
def other_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "key-1"})


@pytest.fixture(scope="session")
def ca() -> CertificateAuthority:
    return CertificateAuthority()


@pytest.fixture(scope="session")
def enterprise_cert(ca: CertificateAuthority) -> IssuedCertificate:
    return ca.issue_enterprise_certificate(DIGDIR, "DIGITALISERINGSDIREKTORATET")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def emu(clock: Clock, client_key: RSAKey) -> Emulator:
    emulator = Emulator(clock=clock)
    emulator.add_maskinporten_client(
        CLIENT_ID,
        org_number=DIGDIR,
        scopes=[READ, WRITE, "test:scope"],
        jwks=[client_key.as_dict(private=False)],
    )
    return emulator


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as client:
        yield client


def make_grant(
    key: RSAKey,
    now: float,
    *,
    header: Mapping[str, Any] | None = None,
    drop: Iterable[str] = (),
    **claims: Any,
) -> str:
    """A Maskinporten JWT grant signed with ``key``; ``claims`` override the defaults."""
    body: dict[str, Any] = {
        "aud": ISSUER,
        "iss": CLIENT_ID,
        "iat": int(now),
        "exp": int(now) + 60,
        "jti": str(uuid.uuid4()),
        "scope": READ,
    }
    body.update(claims)
    for name in drop:
        body.pop(name, None)
    protected = {"alg": "RS256", "kid": key.kid} if header is None else dict(header)
    return jwt.encode(protected, body, key, algorithms=["RS256", "RS384", "RS512"])


def x5c_header(certificate: IssuedCertificate, *, chain: bool = True) -> dict[str, Any]:
    certs = [certificate.certificate, *(certificate.chain if chain else ())]
    return {
        "alg": "RS256",
        "x5c": [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in certs
        ],
    }


def certificate_key(certificate: IssuedCertificate) -> RSAKey:
    return RSAKey.import_key(certificate.private_key)


async def request_token(
    http: httpx.AsyncClient, assertion: str, *, grant_type: str = JWT_BEARER
) -> httpx.Response:
    return await http.post(
        "/maskinporten/token", data={"grant_type": grant_type, "assertion": assertion}
    )


def assert_mp_error(
    response: httpx.Response, *, status: int, error: str, code: str | None, text: str
) -> None:
    """A Maskinporten error body: error, described text + trace id, error_uri per code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    description = body["error_description"]
    assert text in description
    assert description.endswith(")")
    assert "(trace_id: " in description
    trace = description.rsplit("(trace_id: ", 1)[1][:-1]
    assert len(trace) == 32
    int(trace, 16)
    if code is None:
        assert "error_uri" not in body
    else:
        assert body["error_uri"] == f"https://maskinporten.no/errors/{code}"


async def maskinporten_token(
    http: httpx.AsyncClient, key: RSAKey, now: float, **claims: Any
) -> str:
    response = await request_token(http, make_grant(key, now, **claims))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def altinn_token(
    http: httpx.AsyncClient, key: RSAKey, now: float, *, scope: str = f"{READ} {WRITE}"
) -> str:
    token = await maskinporten_token(http, key, now, scope=scope)
    response = await http.get(EXCHANGE, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.text
