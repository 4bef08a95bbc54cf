"""Fixtures for the emulator tests: keys, a test CA, a frozen clock, grant builders and an
ID-porten client's side of the code flow.

Grants, assertions and PKCE are built here with joserfc and authlib directly, never with the
library's client code, so these tests check the emulator against the protocol rather than against
our own client.
"""

from __future__ import annotations

import base64
import secrets
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from cryptography.hazmat.primitives import serialization
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from altinn_async.testing import CertificateAuthority, Emulator, IssuedCertificate

from ..helpers import Clock

__all__ = ["Clock"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
READ = "altinn:serviceowner/instances.read"
WRITE = "altinn:serviceowner/instances.write"
DIGDIR = "991825827"
CLIENT_ID = "client-1"
ISSUER = "http://altinn.localhost/maskinporten/"
EXCHANGE = "/platform/authentication/api/v1/exchange/maskinporten"
INSTANCES = "/platform/storage/api/v1/instances"


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
    http: httpx.AsyncClient,
    key: RSAKey,
    now: float,
    *,
    scope: str = f"{READ} {WRITE}",
    **claims: Any,
) -> str:
    token = await maskinporten_token(http, key, now, scope=scope, **claims)
    response = await http.get(EXCHANGE, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.text


def systemuser_details(org: str, **extra: Any) -> list[dict[str, Any]]:
    """A grant's ``authorization_details`` asking for the system user at ``org``."""
    return [
        {
            "type": "urn:altinn:systemuser",
            "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": f"0192:{org}"},
            **extra,
        }
    ]


# -- ID-porten -----------------------------------------------------------------------------------

IDP = "http://altinn.localhost/idporten"
REDIRECT = "http://localhost:8080/callback"
LOGGED_OUT = "http://localhost:8080/logged-out"
ALTINN_SCOPE = "altinn:instances.read"
SECRET = "a-client-secret-of-some-length"
BASIC, POST, JWT, PUBLIC = "basic-client", "post-client", "jwt-client", "public-client"
IDP_CLIENTS = {
    BASIC: "client_secret_basic",
    POST: "client_secret_post",
    JWT: "private_key_jwt",
    PUBLIC: "none",
}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="session")
def idp_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "idp-key-1"})


def add_idporten_clients(emu: Emulator, key: RSAKey, **options: Any) -> None:
    """One client per authentication method, each allowed openid, profile and an altinn scope."""
    for client_id, method in IDP_CLIENTS.items():
        emu.add_idporten_client(
            client_id,
            redirect_uris=[REDIRECT],
            client_secret=SECRET if method.startswith("client_secret") else None,
            jwks=[key.as_dict(private=False)] if method == "private_key_jwt" else (),
            token_endpoint_auth_method=method,
            scopes=["openid", "profile", ALTINN_SCOPE],
            post_logout_redirect_uris=[LOGGED_OUT],
            **options,
        )


@pytest.fixture
def idp(emu: Emulator, idp_key: RSAKey) -> Emulator:
    """The emulator with the four ID-porten clients registered."""
    add_idporten_clients(emu, idp_key)
    return emu


class Login:
    """One authorization request and what the client keeps to redeem it."""

    def __init__(self, client_id: str = BASIC, **params: str) -> None:
        self.client_id = client_id
        self.verifier = secrets.token_urlsafe(48)
        self.state = secrets.token_urlsafe(16)
        self.nonce = secrets.token_urlsafe(16)
        self.params: dict[str, str] = {
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": f"openid profile {ALTINN_SCOPE}",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": create_s256_code_challenge(self.verifier),
            "code_challenge_method": "S256",
            "acr_values": "idporten-loa-substantial",
            "ui_locales": "nb",
        }
        self.params.update(params)
        self.params = {k: v for k, v in self.params.items() if v != ""}

    @property
    def url(self) -> str:
        return f"{IDP}/authorize?{urllib.parse.urlencode(self.params)}"


def callback_params(location: str) -> dict[str, str]:
    """The query of a redirect back to the client (asserting it goes to REDIRECT)."""
    parts = urllib.parse.urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == REDIRECT, location
    return dict(urllib.parse.parse_qsl(parts.query))


def client_assertion(
    key: RSAKey, now: float, client_id: str = JWT, *, drop: Iterable[str] = (), **claims: Any
) -> str:
    body: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": IDP,
        "iat": int(now),
        "exp": int(now) + 60,
        "jti": str(uuid.uuid4()),
    }
    body.update(claims)
    for name in drop:
        body.pop(name, None)
    return jwt.encode({"alg": "RS256", "kid": key.kid}, body, key)


def client_auth(client_id: str, key: RSAKey, now: float) -> tuple[dict[str, str], dict[str, str]]:
    """Form fields and headers that authenticate ``client_id`` the way it is registered."""
    method = IDP_CLIENTS[client_id]
    if method == "client_secret_basic":
        raw = base64.b64encode(f"{client_id}:{SECRET}".encode()).decode()
        return {}, {"Authorization": f"Basic {raw}"}
    if method == "client_secret_post":
        return {"client_id": client_id, "client_secret": SECRET}, {}
    if method == "private_key_jwt":
        return {
            "client_id": client_id,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion(key, now, client_id),
        }, {}
    return {"client_id": client_id}, {}


async def idp_post(
    http: httpx.AsyncClient,
    path: str,
    client_id: str,
    key: RSAKey,
    now: float,
    *,
    data: Mapping[str, str],
) -> httpx.Response:
    form, headers = client_auth(client_id, key, now)
    return await http.post(f"{IDP}{path}", data={**form, **data}, headers=headers)


async def redeem(
    http: httpx.AsyncClient, login: Login, code: str, key: RSAKey, now: float, /, **extra: str
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": login.verifier,
        **extra,
    }
    return await idp_post(http, "/token", login.client_id, key, now, data=data)


async def idporten_tokens(
    emu: Emulator,
    http: httpx.AsyncClient,
    key: RSAKey,
    now: float,
    client_id: str = BASIC,
    *,
    pid: str | None = None,
    **params: str,
) -> dict[str, Any]:
    """Log in with TestID and redeem the code: the token response."""
    login = Login(client_id, **params)
    callback = callback_params(await emu.idporten_login(login.url, pid=pid))
    response = await redeem(http, login, callback["code"], key, now)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def idporten_jwks(http: httpx.AsyncClient) -> KeySet:
    return KeySet.import_key_set((await http.get(f"{IDP}/jwks.json")).json())


async def idporten_claims(http: httpx.AsyncClient, token: str) -> dict[str, Any]:
    """The claims of an ID-porten JWT, verified against the published JWKS."""
    return dict(jwt.decode(token, await idporten_jwks(http), algorithms=["RS256"]).claims)
