"""MaskinportenAdmin against a fake of Digdir's self-service API (tests/selfservice_fake.py): the
admin token, every request and its parsing, the errors, the key rotation and the CLI."""

from __future__ import annotations

import base64
import json
import logging
import signal
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import attrs
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws, jwt
from joserfc.jwk import RSAKey

import altinn_async as altinn
from altinn_async import (
    ApiScope,
    ClientKey,
    ClientKeys,
    ClientRegistration,
    ConfigurationError,
    ForeignOriginError,
    KeyLoadError,
    KeyRotation,
    KeyRotationError,
    MaskinportenAdmin,
    MaskinportenAuth,
    RetryPolicy,
    SelfServiceError,
    SigningKey,
)
from altinn_async._cli import main
from altinn_async.testing import CertificateAuthority, Emulator

from .helpers import (
    MOCK_ENV,
    Clock,
    ScriptedMaskinporten,
    private_pem,
    signing_key,
    uvicorn_serving,
)
from .selfservice_fake import (
    JWT_BEARER,
    READ,
    SCOPES_WRITE,
    WRITE,
    SelfServiceFake,
    Served,
    error_body,
)

ENV = attrs.evolve(MOCK_ENV, selfservice="https://selfservice.example/api/v1")
BASE = "https://selfservice.example/api/v1"
ORGNO = "991825827"
FAST = RetryPolicy(backoff=0.001)


def public_jwk(kid: str, index: int, **extra: Any) -> dict[str, Any]:
    return {**signing_key(kid, index).public_jwk, **extra}


@attrs.define
class World:
    fake: SelfServiceFake
    maskinporten: ScriptedMaskinporten
    elsewhere: list[httpx.Request]
    http: httpx.AsyncClient
    auth: MaskinportenAuth
    admin: MaskinportenAdmin
    clock: Clock


def transport(
    fake: SelfServiceFake, maskinporten: ScriptedMaskinporten, elsewhere: list[httpx.Request]
) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "mp.example":
            return maskinporten(request)
        if request.url.host == "selfservice.example":
            return fake(request)
        elsewhere.append(request)
        return httpx.Response(200, json={})

    return httpx.MockTransport(handle)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = Clock()
    fake = SelfServiceFake(clock=clock)
    maskinporten = ScriptedMaskinporten(200)
    elsewhere: list[httpx.Request] = []
    mock = transport(fake, maskinporten, elsewhere)
    async with httpx.AsyncClient(transport=mock) as token_http:
        auth = MaskinportenAdmin.auth(
            client_id="admin-client",
            key=signing_key("admin-kid", 5),
            environment=ENV,
            http_client=token_http,
            clock=clock,
        )
        async with httpx.AsyncClient(transport=mock, auth=auth) as http:
            yield World(fake, maskinporten, elsewhere, http, auth, MaskinportenAdmin(http), clock)


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


# --- the admin token ---------------------------------------------------------------------------


async def test_the_admin_grant_has_no_resource_and_aud_is_the_issuer(world: World) -> None:
    await world.admin.clients()
    header, claims = world.maskinporten.decoded(0, signing_key("admin-kid", 5))
    assert header == {"alg": "RS256", "kid": "admin-kid"}
    assert claims["aud"] == "https://mp.example/"
    assert claims["iss"] == "admin-client"
    assert claims["scope"] == "idporten:dcr.read idporten:dcr.write"
    assert "resource" not in claims
    assert set(claims) == {"aud", "iss", "scope", "iat", "exp", "jti"}
    (request,) = world.fake.requests
    assert request.headers["Authorization"] == "Bearer access-token-1"
    # Maskinporten's token itself: no exchange at the Altinn platform.
    assert world.elsewhere == []
    assert [str(r.url) for r in world.maskinporten.requests] == ["https://mp.example/token"]


async def test_the_admin_grant_with_an_enterprise_certificate_carries_x5c() -> None:
    issued = CertificateAuthority().issue_enterprise_certificate(ORGNO)
    key = SigningKey.from_pkcs12(issued.pkcs12(b"pw"), b"pw")
    maskinporten = ScriptedMaskinporten(200)
    mock = transport(SelfServiceFake(), maskinporten, [])
    async with httpx.AsyncClient(transport=mock) as token_http:
        auth = MaskinportenAdmin.auth(
            client_id="admin", key=key, environment=ENV, http_client=token_http,
            scopes=[*altinn.ADMIN_SCOPES, SCOPES_WRITE],
        )  # fmt: skip
        async with httpx.AsyncClient(transport=mock, auth=auth) as http:
            await MaskinportenAdmin(http).scopes()
    header, claims = maskinporten.decoded(0, key)
    assert "kid" not in header
    assert header["x5c"] == list(key.certificate_chain or ())
    assert claims["scope"] == "idporten:dcr.read idporten:dcr.write idporten:scopes.write"
    assert "resource" not in claims


async def test_the_admin_token_goes_to_the_selfservice_origin_only(world: World) -> None:
    for url in ("https://platform.example/storage/api/v1/instances", "https://evil.example/x"):
        with pytest.raises(ForeignOriginError, match="self-service admin token"):
            await world.http.get(url)
    assert world.elsewhere == []
    assert world.auth.origins == frozenset({"https://selfservice.example"})
    # A plain Maskinporten token goes to the platform, not to the self-service API.
    plain = MaskinportenAuth(client_id="c", key=signing_key(), scopes=["a:b"], environment=ENV)
    assert "https://selfservice.example" not in plain.origins
    async with httpx.AsyncClient(auth=plain) as http:
        with pytest.raises(ConfigurationError, match=r"MaskinportenAdmin\.auth"):
            MaskinportenAdmin(http)


def test_the_admin_auth_needs_a_selfservice_url() -> None:
    with pytest.raises(ConfigurationError, match="selfservice"):
        MaskinportenAdmin.auth(client_id="admin", key=signing_key(), environment=MOCK_ENV)


async def test_the_base_url_comes_from_the_auth_then_the_argument() -> None:
    auth = MaskinportenAdmin.auth(client_id="admin", key=signing_key(), environment=altinn.TEST)
    async with httpx.AsyncClient(auth=auth) as http:
        assert MaskinportenAdmin(http).base_url == "https://api.test.samarbeid.digdir.no/api/v1"
        bare = MaskinportenAdmin(http, base_url="https://api.test.samarbeid.digdir.no/")
        assert bare.base_url == "https://api.test.samarbeid.digdir.no/api/v1"
        assert repr(bare) == (
            "MaskinportenAdmin(base_url='https://api.test.samarbeid.digdir.no/api/v1')"
        )
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigurationError, match="base_url="):
            MaskinportenAdmin(http)
        with pytest.raises(ConfigurationError, match="https"):
            MaskinportenAdmin(http, base_url="http://api.samarbeid.digdir.no/api/v1")
        loopback = MaskinportenAdmin(http, base_url="http://127.0.0.1:8080/samarbeid/api/v1")
        assert loopback.base_url == "http://127.0.0.1:8080/samarbeid/api/v1"


# --- clients ----------------------------------------------------------------------------------


async def test_clients_lists_and_keeps_unknown_fields(world: World) -> None:
    seeded = world.fake.add_client(
        client_name="one", onbehalfof=[], new_field_2026={"a": 1}, redirect_uris=None
    )
    (client,) = await world.admin.clients()
    (request,) = world.fake.requests
    assert (request.method, str(request.url)) == ("GET", f"{BASE}/clients")
    assert request.headers["Accept"] == "application/json"
    assert client.client_id == seeded["client_id"]
    assert client.client_name == "one"
    assert client.scopes == ("myorg:thing.read",)
    assert client.grant_types == (JWT_BEARER,)
    assert client.access_token_lifetime == 120
    assert client.active is True
    assert client.created is not None
    assert client.created.tzinfo is not None
    assert client.extra == {"onbehalfof": [], "new_field_2026": {"a": 1}}
    assert client.redirect_uris is None
    assert "redirect_uris" not in client.to_json()  # a null is as good as left out


async def test_create_client_posts_the_model_without_an_id(world: World) -> None:
    new = ClientRegistration.maskinporten(
        client_name="my integration",
        description="reads instances",
        scopes=["altinn:serviceowner/instances.read"],
        access_token_lifetime=0,  # "the default": left out, since the API refuses 0
    )
    created = await world.admin.create_client(new)
    (request,) = world.fake.requests
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/clients")
    assert request.headers["Content-Type"] == "application/json"
    assert body(request) == {
        "integration_type": "maskinporten",
        "application_type": "web",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": [JWT_BEARER],
        "client_name": "my integration",
        "description": "reads instances",
        "scopes": ["altinn:serviceowner/instances.read"],
    }
    assert created.client_id in world.fake.clients
    assert created.client_orgno == ORGNO
    assert created.access_token_lifetime == 120
    assert created.client_secret is None


async def test_create_client_refuses_an_id_and_a_maskinporten_client_without_scopes(
    world: World,
) -> None:
    with pytest.raises(ConfigurationError, match="client_id"):
        await world.admin.create_client(ClientRegistration(client_id="x", client_name="n"))
    with pytest.raises(ConfigurationError, match="at least one scope"):
        await world.admin.create_client(
            ClientRegistration.maskinporten(client_name="n", description="d", scopes=[])
        )
    with pytest.raises(ConfigurationError, match="list of strings"):
        ClientRegistration.maskinporten(client_name="n", description="d", scopes="a:b")
    with pytest.raises(ConfigurationError, match="ClientRegistration"):
        ClientRegistration.maskinporten(client_name="n", description="d", scopes=["a:b"], x=1)
    assert world.fake.requests == []


async def test_a_client_secret_is_kept_out_of_reprs_bodies_and_logs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    created = await world.admin.create_client(
        ClientRegistration(
            integration_type="api_klient",
            application_type="web",
            token_endpoint_auth_method="client_secret_basic",
            grant_types=["authorization_code"],
            client_name="web",
            description="d",
            scopes=["openid"],
        )
    )
    secret = world.fake.secrets[created.client_id or ""]
    assert created.client_secret == secret
    assert secret not in repr(created)
    assert secret not in str(created.to_json())
    updated = await world.admin.update_client(created, description="changed")
    assert "client_secret" not in body(world.fake.requests[-1])
    assert updated.client_secret is None
    assert secret not in caplog.text
    assert all(secret not in str(record.args) for record in caplog.records)


async def test_get_client_quotes_the_id_and_tells_not_found(world: World) -> None:
    seeded = world.fake.add_client(client_id="oidc_difi_jb_test")
    client = await world.admin.get_client("oidc_difi_jb_test")
    assert client.client_id == seeded["client_id"]
    with pytest.raises(SelfServiceError) as info:
        await world.admin.get_client("../scopes?x=1")
    assert str(world.fake.requests[-1].url) == f"{BASE}/clients/..%2Fscopes%3Fx%3D1"
    assert info.value.status_code == 404
    assert info.value.reason == "not found"


async def test_update_client_puts_the_full_model_back(world: World) -> None:
    seeded = world.fake.add_client(
        access_token_lifetime=0,  # how the API wrote "the default" in 2021 answers
        authorization_lifetime=0,
        refresh_token_usage="ONETIME",
        sso_disabled=False,
        onbehalfof=[],
    )
    client_id = seeded["client_id"]
    updated = await world.admin.update_client(client_id, scopes=["myorg:a", "myorg:b"])
    get, put = world.fake.requests
    assert (get.method, str(get.url)) == ("GET", f"{BASE}/clients/{client_id}")
    assert (put.method, str(put.url)) == ("PUT", f"{BASE}/clients/{client_id}")
    sent = body(put)
    expected = {
        k: v
        for k, v in seeded.items()
        if k not in ("created", "last_updated", "access_token_lifetime", "authorization_lifetime")
    }
    assert sent == {**expected, "scopes": ["myorg:a", "myorg:b"]}
    assert updated.scopes == ("myorg:a", "myorg:b")
    assert updated.extra["sso_disabled"] is False


async def test_update_client_refuses_what_cannot_change(world: World) -> None:
    client = ClientRegistration.from_json(world.fake.add_client())
    with pytest.raises(ConfigurationError, match="integration_type"):
        await world.admin.update_client(client, integration_type="idporten")
    with pytest.raises(ConfigurationError, match="no field colour"):
        await world.admin.update_client(client, colour="blue")
    with pytest.raises(ConfigurationError, match="get_client"):
        await world.admin.update_client(ClientRegistration(client_name="x"), description="d")
    assert world.fake.requests == []


async def test_delete_client(world: World) -> None:
    client_id = world.fake.add_client()["client_id"]
    await world.admin.delete_client(client_id)
    (request,) = world.fake.requests
    assert (request.method, str(request.url)) == ("DELETE", f"{BASE}/clients/{client_id}")
    assert await world.admin.clients() == []
    with pytest.raises(SelfServiceError, match="not found"):
        await world.admin.get_client(client_id)


# --- keys ----------------------------------------------------------------------------------


async def test_keys_of_a_client_without_keys_is_an_empty_set(world: World) -> None:
    client_id = world.fake.add_client()["client_id"]
    keys = await world.admin.keys(client_id)
    assert keys == ClientKeys()
    assert len(keys) == 0
    (request,) = world.fake.requests
    assert str(request.url) == f"{BASE}/clients/{client_id}/jwks"
    # A 404 for the client itself is not "no keys".
    world.fake.add_keys(client_id, [public_jwk("k1", 1, exp=1_900_000_000)])
    keys = await world.admin.keys(client_id)
    assert keys.kids == ("k1",)
    assert "k1" in keys
    (key,) = keys
    assert key.exp == 1_900_000_000
    assert key.alg == "RS256"
    assert keys.created is not None


async def test_replace_keys_posts_public_keys_with_use_sig(world: World) -> None:
    client_id = world.fake.add_client()["client_id"]
    old = ClientKey.from_json({k: v for k, v in public_jwk("old", 1).items() if k != "use"})
    keys = await world.admin.replace_keys(client_id, [signing_key("new", 2), old])
    (request,) = world.fake.requests
    assert (request.method, str(request.url)) == ("POST", f"{BASE}/clients/{client_id}/jwks")
    sent = body(request)["keys"]
    assert [k["kid"] for k in sent] == ["new", "old"]
    assert all(k["use"] == "sig" for k in sent)
    assert all(set(k) == {"kty", "n", "e", "use", "alg", "kid"} for k in sent)
    assert keys.kids == ("new", "old")
    assert all(k.exp is not None for k in keys)


async def test_replace_keys_refuses_before_sending(world: World) -> None:
    client_id = world.fake.add_client()["client_id"]
    with pytest.raises(ConfigurationError, match="delete_keys"):
        await world.admin.replace_keys(client_id, [])
    with pytest.raises(ConfigurationError, match="at most 5"):
        await world.admin.replace_keys(client_id, [signing_key(f"k{i}", i) for i in range(6)])
    with pytest.raises(ConfigurationError, match="kid of its own"):
        await world.admin.replace_keys(client_id, [signing_key("k", 1), signing_key("k", 2)])
    private = RSAKey.import_key(private_pem(1)).as_dict(private=True)
    with pytest.raises(KeyLoadError, match="private"):
        await world.admin.replace_keys(client_id, [{**private, "kid": "p", "alg": "RS256"}])
    with pytest.raises(ConfigurationError, match="kid"):
        await world.admin.replace_keys(client_id, [SigningKey.from_pem(private_pem(1))])
    assert world.fake.requests == []


async def test_delete_keys_and_one_key(world: World) -> None:
    client_id = world.fake.add_client()["client_id"]
    world.fake.add_keys(client_id, [public_jwk("k1", 1), public_jwk("k.2", 2)])
    await world.admin.delete_key(client_id, "k.2")
    assert str(world.fake.requests[-1].url) == f"{BASE}/clients/{client_id}/jwks/k.2"
    assert world.fake.requests[-1].method == "DELETE"
    assert (await world.admin.keys(client_id)).kids == ("k1",)
    with pytest.raises(KeyLoadError, match="kid"):
        await world.admin.delete_key(client_id, "../x")
    await world.admin.delete_keys(client_id)
    assert (world.fake.requests[-1].method, str(world.fake.requests[-1].url)) == (
        "DELETE",
        f"{BASE}/clients/{client_id}/jwks",
    )
    assert len(await world.admin.keys(client_id)) == 0


async def test_add_key_keeps_every_existing_key(world: World) -> None:
    client_id = world.fake.add_client()["client_id"]
    # Stored before 2025: no "use"; its own exp, which must survive the re-post.
    stored = {k: v for k, v in public_jwk("old", 1, exp=1_800_000_000).items() if k != "use"}
    world.fake.add_keys(client_id, [stored])
    keys = await world.admin.add_key(client_id, signing_key("new", 2))
    get, post = world.fake.requests
    assert (get.method, post.method) == ("GET", "POST")
    sent = body(post)["keys"]
    assert sent[0] == signing_key("new", 2).public_jwk
    assert sent[1] == {**stored, "use": "sig"}
    assert keys.kids == ("new", "old")
    assert keys.get("old") is not None
    assert keys.get("old").exp == 1_800_000_000  # type: ignore[union-attr]


async def test_add_key_refuses_a_sixth_key_and_a_taken_kid(world: World) -> None:
    client_id = world.fake.add_client()["client_id"]
    world.fake.add_keys(client_id, [public_jwk(f"k{i}", i) for i in range(5)])
    with pytest.raises(KeyRotationError, match="5 keys") as info:
        await world.admin.add_key(client_id, signing_key("new", 6))
    assert info.value.reason == "full"
    assert info.value.kids == ("k0", "k1", "k2", "k3", "k4")
    world.fake.add_keys(client_id, [public_jwk("k0", 0)])
    with pytest.raises(KeyRotationError, match="renew_keys") as info:
        await world.admin.add_key(client_id, signing_key("k0", 6))
    assert info.value.reason == "kid taken"
    assert world.fake.sent("POST") == []


async def test_remove_key_posts_the_rest_and_deletes_the_last(world: World) -> None:
    client_id = world.fake.add_client()["client_id"]
    world.fake.add_keys(client_id, [public_jwk("k1", 1), public_jwk("k2", 2)])
    keys = await world.admin.remove_key(client_id, "k1")
    assert keys.kids == ("k2",)
    assert [k["kid"] for k in body(world.fake.sent("POST")[-1])["keys"]] == ["k2"]
    with pytest.raises(KeyRotationError, match="no key 'k1'") as info:
        await world.admin.remove_key(client_id, "k1")
    assert info.value.reason == "unknown kid"
    assert await world.admin.remove_key(client_id, "k2") == ClientKeys()
    assert world.fake.requests[-1].method == "DELETE"
    assert client_id not in world.fake.jwks


async def test_renew_keys_posts_them_without_exp(world: World) -> None:
    client_id = world.fake.add_client()["client_id"]
    soon = int(world.clock.now) + 3600
    world.fake.add_keys(client_id, [public_jwk("k1", 1, exp=soon), public_jwk("k2", 2, exp=soon)])
    keys = await world.admin.renew_keys(client_id, ["k1"])
    sent = body(world.fake.sent("POST")[-1])["keys"]
    assert "exp" not in sent[0]
    assert sent[1]["exp"] == soon
    assert keys.get("k1").exp == int(world.clock.now) + 365 * 24 * 3600  # type: ignore[union-attr]
    assert keys.get("k2").exp == soon  # type: ignore[union-attr]
    with pytest.raises(KeyRotationError, match="k9"):
        await world.admin.renew_keys(client_id, ["k9"])


def test_client_key_load_derives_the_public_key_and_never_keeps_private_parts(
    tmp_path: Any,
) -> None:
    private = serialization.load_pem_private_key(private_pem(3), None)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encrypted = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    )
    private_jwk = RSAKey.import_key(private_pem(3)).as_dict(private=True)
    expected = {k: v for k, v in signing_key("x", 3).public_jwk.items() if k != "kid"}
    cases: list[tuple[bytes | str, dict[str, Any]]] = [
        (public_pem, {}),
        (private_pem(3), {}),
        (encrypted, {"password": "pw"}),
        (json.dumps(private_jwk), {}),
        (json.dumps({**private_jwk, "kid": "from-jwk", "key_ops": ["sign"]}), {}),
        (json.dumps(expected), {}),
    ]
    for data, options in cases:
        key = ClientKey.load(data, **options)
        sent = key.to_json()
        assert {k: v for k, v in sent.items() if k != "kid"} == expected
        assert not set(sent) & {"d", "p", "q", "dp", "dq", "qi", "key_ops"}
    assert ClientKey.load(public_pem).kid == RSAKey.import_key(expected).thumbprint()
    assert ClientKey.load(public_pem, kid="mine").kid == "mine"
    assert ClientKey.load(json.dumps({**private_jwk, "kid": "from-jwk"})).kid == "from-jwk"
    issued = CertificateAuthority().issue_enterprise_certificate(ORGNO)
    from_certificate = ClientKey.load(issued.certificate_pem(), kid="cert")
    assert "x5c" not in from_certificate.to_json()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not a key", "no key"),
        (b"{not json", "not valid JSON"),
        (b'{"keys": []}', "JWK Set"),
        (b'{"kty": "EC", "crv": "P-256"}', "not an RSA key"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "could not be read"),
    ],
)
def test_client_key_load_says_what_is_wrong(data: bytes, words: str) -> None:
    with pytest.raises(KeyLoadError, match=words):
        ClientKey.load(data)


def test_client_key_from_jwk_checks_like_digdir() -> None:
    good = public_jwk("k", 1)
    small = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the key Digdir refuses
    numbers = small.public_key().public_numbers()
    n = base64.urlsafe_b64encode(numbers.n.to_bytes(128, "big")).rstrip(b"=").decode()
    for jwk, words in [
        ({**good, "kid": "has space"}, "kid"),
        ({k: v for k, v in good.items() if k != "kid"}, "kid"),
        ({**good, "alg": "ES256"}, "alg"),
        ({**good, "use": "enc"}, "sig"),
        ({**good, "exp": "soon"}, "exp"),
        ({**good, "n": n}, "1024 bits"),
    ]:
        with pytest.raises(KeyLoadError, match=words):
            ClientKey.from_jwk(jwk)
    key = ClientKey.from_jwk({k: v for k, v in good.items() if k != "use"})
    assert key.use == "sig"
    assert "n=" not in repr(key)


# --- scopes and access ------------------------------------------------------------------------


async def test_scopes_list_get_create_update_deactivate(world: World) -> None:
    name = "myorg:records/archive.read"
    created = await world.admin.create_scope(
        ApiScope(
            prefix="myorg",
            subscope="records/archive.read",
            description="Read the archive",
            extra={"description#en": "Read the archive"},
        )
    )
    post = world.fake.requests[-1]
    assert (post.method, str(post.url)) == ("POST", f"{BASE}/scopes")
    assert body(post) == {
        "prefix": "myorg",
        "subscope": "records/archive.read",
        "description": "Read the archive",
        "description#en": "Read the archive",
    }
    assert created.name == name
    assert created.owner_orgno == ORGNO
    assert created.extra["description#en"] == "Read the archive"

    scope = await world.admin.get_scope(name)
    get = world.fake.requests[-1]
    assert get.url.raw_path == b"/api/v1/scopes?scope=myorg%3Arecords%2Farchive.read&inactive=true"
    assert scope == created

    updated = await world.admin.update_scope(scope, description="Read it", at_max_age=600)
    put = world.fake.requests[-1]
    assert put.method == "PUT"
    assert put.url.raw_path == b"/api/v1/scopes?scope=myorg%3Arecords%2Farchive.read"
    sent = body(put)
    assert "created" not in sent
    assert "last_updated" not in sent
    assert sent["description"] == "Read it"
    assert sent["description#en"] == "Read the archive"
    assert updated.at_max_age == 600

    deactivated = await world.admin.deactivate_scope(name)
    delete = world.fake.requests[-1]
    assert delete.method == "DELETE"
    assert delete.url.raw_path == b"/api/v1/scopes?scope=myorg%3Arecords%2Farchive.read"
    assert deactivated.active is False
    assert await world.admin.scopes() == []
    assert world.fake.requests[-1].url.params.get("inactive") is None
    assert [s.name for s in await world.admin.scopes(inactive=True)] == [name]
    assert world.fake.requests[-1].url.params["inactive"] == "true"

    with pytest.raises(SelfServiceError, match="update_scope") as info:
        await world.admin.create_scope(
            ApiScope(prefix="myorg", subscope="records/archive.read", description="again")
        )
    assert info.value.reason == "conflict"
    reactivated = await world.admin.update_scope(name, active=True)
    assert reactivated.active is True


async def test_scope_changes_that_cannot_be_are_refused_before_sending(world: World) -> None:
    with pytest.raises(ConfigurationError, match="subscope"):
        await world.admin.create_scope(ApiScope(prefix="myorg", description="d"))
    scope = ApiScope.from_json(world.fake.add_scope(prefix="myorg", subscope="a", description="d"))
    with pytest.raises(ConfigurationError, match="subscope"):
        await world.admin.update_scope(scope, subscope="b")
    with pytest.raises(ConfigurationError, match="prefix:subscope"):
        await world.admin.get_scope("no-colon")
    assert world.fake.requests == []


async def test_get_scope_takes_a_filtered_list_too(world: World) -> None:
    answers = [
        {"name": "myorg:b", "prefix": "myorg", "subscope": "b"},
        {"name": "myorg:a", "prefix": "myorg", "subscope": "a", "active": True},
    ]

    def listing(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=answers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(listing)) as http:
        admin = MaskinportenAdmin(http, base_url=BASE)
        assert (await admin.get_scope("myorg:a")).active is True
        with pytest.raises(SelfServiceError, match="no scope 'myorg:c'") as info:
            await admin.get_scope("myorg:c")
    assert info.value.reason == "not found"


async def test_access_grant_revoke_and_lists(world: World) -> None:
    name = world.fake.add_scope(prefix="myorg", subscope="api/x.read", description="d")["name"]
    granted = await world.admin.grant_access(name, "889640782")
    put = world.fake.requests[-1]
    assert put.method == "PUT"
    assert put.url.raw_path == b"/api/v1/scopes/access/889640782?scope=myorg%3Aapi%2Fx.read"
    assert put.content == b""
    assert granted.approved
    assert granted.consumer_orgno == "889640782"
    assert granted.prefix is None

    (entry,) = await world.admin.accesses(name)
    assert (
        world.fake.requests[-1].url.raw_path == b"/api/v1/scopes/access?scope=myorg%3Aapi%2Fx.read"
    )
    assert entry.state == "APPROVED"

    revoked = await world.admin.revoke_access(name, "889640782")
    assert world.fake.requests[-1].method == "DELETE"
    assert revoked.state == "DENIED"
    assert not revoked.approved
    assert (await world.admin.grant_access(name, "889640782")).approved

    world.fake.received.append(
        {"scope": "other:api", "state": "APPROVED", "consumer_orgno": ORGNO, "owner_orgno": "1"}
    )
    (mine,) = await world.admin.received_accesses(integration_type="maskinporten", inactive=False)
    request = world.fake.requests[-1]
    assert request.url.path == "/api/v1/scopes/access/all"
    assert dict(request.url.params) == {"integration_type": "maskinporten", "inactive": "false"}
    assert mine.scope == "other:api"

    for orgno in ("12345678", "98765432x", "../access"):
        with pytest.raises(ConfigurationError, match="9 digits"):
            await world.admin.grant_access(name, orgno)


async def test_public_scopes_prefixes_and_delegation_sources(world: World) -> None:
    world.fake.add_scope(prefix="myorg", subscope="open", description="d", accessible_for_all=True)
    world.fake.add_scope(prefix="myorg", subscope="hidden", description="d", visibility="PRIVATE")
    scopes = await world.admin.public_scopes(
        integration_type="MASKINPORTEN", accessible_for_all=True
    )
    request = world.fake.requests[-1]
    assert request.url.path == "/api/v1/scopes/all"
    assert dict(request.url.params) == {
        "accessible_for_all": "true",
        "integration_type": "MASKINPORTEN",
    }
    assert [s.name for s in scopes] == ["myorg:open"]
    assert await world.admin.prefixes() == ["myorg"]
    (source,) = await world.admin.delegation_sources()
    assert (source.name, source.issuer) == ("altinn", "https://tt02.altinn.no/")
    assert source.created is not None


async def test_prefixes_as_objects() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=[{"prefix": "a"}, {"name": "b"}, "c"])

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        assert await MaskinportenAdmin(http, base_url=BASE).prefixes() == ["a", "b", "c"]


async def test_does_not_have_any_is_an_empty_list(world: World) -> None:
    world.fake.empty_as_error = True
    world.fake.add_scope(prefix="myorg", subscope="a", description="d")
    assert await world.admin.prefixes() != []
    world.fake.prefixes = []
    world.fake.scopes.clear()
    assert await world.admin.prefixes() == []
    assert await world.admin.scopes() == []
    assert await world.admin.received_accesses() == []
    assert world.fake.statuses[-3:] == [404, 404, 404]  # each a "does not have any"
    # Any other 404 is an error.
    with pytest.raises(SelfServiceError, match="not found"):
        await world.admin.accesses("myorg:gone")


# --- errors ---------------------------------------------------------------------------------


def answering(
    status: int, payload: Any, content_type: str = "application/json"
) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return httpx.Response(status, content=content, headers={"Content-Type": content_type})

    return httpx.MockTransport(handle)


async def test_the_error_body_is_parsed() -> None:
    payload = error_body(400, ("client_name", "must not be blank"), ("scopes", "unknown scope x:y"))
    async with httpx.AsyncClient(transport=answering(400, payload)) as http:
        admin = MaskinportenAdmin(http, base_url=BASE, retry=RetryPolicy.NEVER)
        with pytest.raises(SelfServiceError) as info:
            await admin.create_client(
                ClientRegistration.maskinporten(client_name="", description="d", scopes=["x:y"])
            )
    error = info.value
    assert isinstance(error, altinn.APIError)
    assert error.status_code == 400
    assert error.reason == "invalid"
    assert error.errors == (("client_name", "must not be blank"), ("scopes", "unknown scope x:y"))
    assert error.error_description == ", must not be blank, unknown scope x:y"
    assert error.correlation_id == payload["correlation_id"]
    assert error.method == "POST"
    assert str(error) == (
        f"POST {BASE}/clients answered HTTP 400 Bad Request: client_name: must not be blank; "
        f"scopes: unknown scope x:y [correlation_id {payload['correlation_id']}]"
    )


@pytest.mark.parametrize(
    ("status", "reason", "words"),
    [
        (401, "unauthorized", "admin token was refused"),
        (403, "forbidden", "lacks a scope"),
        (404, "not found", "Not Found: Client x not found"),
        (409, "conflict", "reactivate it"),
        (500, "error", "Internal Server Error: Client x not found"),
    ],
)
async def test_statuses_are_told_apart(status: int, reason: str, words: str) -> None:
    payload = error_body(status, (None, "Client x not found"))
    async with httpx.AsyncClient(transport=answering(status, payload)) as http:
        admin = MaskinportenAdmin(http, base_url=BASE, retry=RetryPolicy.NEVER)
        with pytest.raises(SelfServiceError, match=words) as info:
            await admin.get_client("x")
    assert info.value.status_code == status
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("payload", "content_type", "words"),
    [
        (
            {"error": "invalid_token", "error_description": "Token expired"},
            "application/json",
            "Token expired",
        ),
        ({"error": ", only error"}, "application/json", ": only error"),
        (b"upstream went away", "text/plain", "upstream went away"),
        (b"<html>502</html>", "text/html", r"Forbidden \(hint"),
    ],
)
async def test_other_error_bodies(payload: Any, content_type: str, words: str) -> None:
    async with httpx.AsyncClient(transport=answering(403, payload, content_type)) as http:
        admin = MaskinportenAdmin(http, base_url=BASE, retry=RetryPolicy.NEVER)
        with pytest.raises(SelfServiceError, match=words) as info:
            await admin.clients()
    assert "html" not in str(info.value)


async def test_a_refused_admin_token_is_dropped_and_fetched_once_more(world: World) -> None:
    world.fake.token = "access-token-2"  # the first token is refused, the second accepted
    assert await world.admin.clients() == []
    assert len(world.maskinporten.requests) == 2
    world.fake.token = "never"
    with pytest.raises(SelfServiceError, match="admin token was refused") as info:
        await world.admin.clients()
    assert info.value.reason == "unauthorized"
    assert len(world.maskinporten.requests) == 3  # one more try, never a loop


async def test_a_missing_admin_scope_is_forbidden(world: World) -> None:
    world.fake.granted = {READ}
    with pytest.raises(SelfServiceError, match="lacks a scope") as info:
        await world.admin.create_client(
            ClientRegistration.maskinporten(client_name="n", description="d", scopes=["a:b"])
        )
    assert info.value.reason == "forbidden"
    assert info.value.errors == ((None, f"Missing scope, one of: {WRITE}"),)


async def test_a_malformed_answer_is_a_response_format_error(world: World) -> None:
    world.fake.add_client(scopes="not-a-list")
    with pytest.raises(altinn.ResponseFormatError, match=r"\$\[0\]\.scopes") as info:
        await world.admin.clients()
    assert info.value.path == "$[0].scopes"
    async with httpx.AsyncClient(transport=answering(200, {"a": 1})) as http:
        with pytest.raises(altinn.ResponseFormatError, match="not an array"):
            await MaskinportenAdmin(http, base_url=BASE).clients()
    async with httpx.AsyncClient(transport=answering(200, b"<html>", "text/html")) as http:
        with pytest.raises(altinn.ResponseFormatError, match="without JSON"):
            await MaskinportenAdmin(http, base_url=BASE).get_client("x")


async def test_an_unreadable_time_is_kept_as_sent(world: World) -> None:
    world.fake.add_client(client_id="c", created="2021-09-15 10:20", last_updated=None)
    client = await world.admin.get_client("c")
    assert client.created is None
    assert client.extra["created"] == "2021-09-15 10:20"
    assert client.to_json()["created"] == "2021-09-15 10:20"


async def test_retries_follow_the_policy(world: World) -> None:
    answers = [503, 503, 200]

    def flaky(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0)
        return httpx.Response(status, json=[] if status == 200 else {})

    async with httpx.AsyncClient(transport=httpx.MockTransport(flaky)) as http:
        assert await MaskinportenAdmin(http, base_url=BASE, retry=FAST).clients() == []
    # A new client is a POST: a 503 (it may have reached the API) is not sent again.
    answers[:] = [503, 200]
    async with httpx.AsyncClient(transport=httpx.MockTransport(flaky)) as http:
        with pytest.raises(SelfServiceError):
            await MaskinportenAdmin(http, base_url=BASE, retry=FAST).create_client(
                ClientRegistration.maskinporten(client_name="n", description="d", scopes=["a:b"])
            )
    assert answers == [200]


async def test_no_secret_in_reprs_logs_or_errors(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client_id = world.fake.add_client()["client_id"]
    key = signing_key("new", 2)
    await world.admin.add_key(client_id, key)
    token = await world.auth.get_token()
    world.fake.token = "never"
    with pytest.raises(SelfServiceError) as info:
        await world.admin.keys(client_id)
    private = key.public_jwk["n"]  # public, but: no key material in logs either
    texts = [caplog.text, repr(world.auth), repr(world.admin), str(info.value), repr(info.value)]
    texts += [str(record.args) for record in caplog.records]
    grants = world.maskinporten.grants
    pem = private_pem(2).decode()
    for text in texts:
        assert token.access_token not in text
        assert all(grant not in text for grant in grants)
        assert pem.splitlines()[1] not in text
        assert private not in text
    assert repr(world.auth).startswith("MaskinportenAdmin.auth(client_id='admin-client'")


# --- switching the signer -------------------------------------------------------------------


class SlowSigner:
    """A signer that takes its time (an HSM): other tasks run while it signs. ``busy`` is set
    once ``busy_at`` signatures are under way."""

    def __init__(self, key: SigningKey, *, busy_at: int = 1) -> None:
        self._key = key
        self.algorithm = key.algorithm
        self.key_id = key.key_id
        self.certificate_chain = key.certificate_chain
        self._signing = 0
        self._busy_at = busy_at
        self.busy = anyio.Event()

    async def sign(self, message: bytes) -> bytes:
        self._signing += 1
        if self._signing >= self._busy_at:
            self.busy.set()
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        return await self._key.sign(message)


async def test_use_key_switches_the_signer_while_grants_are_signed() -> None:
    old, new = signing_key("old", 1), signing_key("new", 2)
    slow_old = SlowSigner(old, busy_at=20)
    endpoint = ScriptedMaskinporten(200)
    async with httpx.AsyncClient(transport=endpoint.transport()) as http:
        auth = MaskinportenAuth(
            client_id="c", key=slow_old, scopes=["a:b"], environment=MOCK_ENV, http_client=http
        )
        grants: list[str] = []

        async def sign() -> None:
            grants.append(await auth.create_grant())

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(sign)
            await slow_old.busy.wait()  # every one of them is inside the old key's sign
            previous = auth.use_key(SlowSigner(new))
            assert previous is slow_old
            for _ in range(20):
                group.start_soon(sign)
        assert auth.key.key_id == "new"
    keys = {"old": RSAKey.import_key(old.public_jwk), "new": RSAKey.import_key(new.public_jwk)}
    named = []
    for grant in grants:
        kid = jws.extract_compact(grant.encode()).headers()["kid"]
        jwt.decode(grant, keys[kid], algorithms=["RS256"])  # signed by the key it names
        named.append(kid)
    # The 20 started before the switch finish with the old key, however long it took.
    assert sorted(named) == ["new"] * 20 + ["old"] * 20


async def test_use_key_back_and_forth_while_grants_are_built() -> None:
    # Switches between any two steps of building a grant: a grant that read the key twice
    # (a header from one key, a signature from the other) would not verify.
    keys = [signing_key("a", 1), signing_key("b", 2)]
    endpoint = ScriptedMaskinporten(200)
    async with httpx.AsyncClient(transport=endpoint.transport()) as http:
        auth = MaskinportenAuth(
            client_id="c", key=SlowSigner(keys[0]), scopes=["a:b"], environment=MOCK_ENV,
            http_client=http,
        )  # fmt: skip
        grants: list[str] = []

        async def sign() -> None:
            grants.append(await auth.create_grant())

        async with anyio.create_task_group() as group:
            for _ in range(30):
                group.start_soon(sign)
            for index in range(1, 30):
                await anyio.lowlevel.checkpoint()
                auth.use_key(SlowSigner(keys[index % 2]))
    public = {key.key_id: RSAKey.import_key(key.public_jwk) for key in keys}
    for grant in grants:
        kid = jws.extract_compact(grant.encode()).headers()["kid"]
        jwt.decode(grant, public[kid], algorithms=["RS256"])
    assert len(grants) == 30


async def test_use_key_keeps_the_cached_token_and_the_next_fetch_uses_the_new_key() -> None:
    clock = Clock()
    endpoint = ScriptedMaskinporten(200)
    async with httpx.AsyncClient(transport=endpoint.transport()) as http:
        auth = MaskinportenAuth(
            client_id="c", key=signing_key("old", 1), scopes=["a:b"], environment=MOCK_ENV,
            http_client=http, clock=clock,
        )  # fmt: skip
        first = await auth.get_token()
        auth.use_key(signing_key("new", 2))
        assert await auth.get_token() == first  # valid until it expires
        assert len(endpoint.grants) == 1
        clock.advance(120)
        await auth.get_token()
    header, _ = endpoint.decoded(1, signing_key("new", 2))
    assert header["kid"] == "new"
    with pytest.raises(ConfigurationError, match="kid"):
        auth.use_key(SigningKey.from_pem(private_pem(3)))
    with pytest.raises(ConfigurationError, match="Signer"):
        auth.use_key("not a key")  # type: ignore[arg-type]
    assert auth.key.key_id == "new"


# --- rotation -------------------------------------------------------------------------------


@attrs.define
class Waits:
    """A sleep that moves the test clock instead of waiting."""

    clock: Clock
    slept: list[float] = attrs.field(factory=list)

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds)


@attrs.define
class Rotating:
    world: World
    client_id: str
    auth: MaskinportenAuth
    endpoint: ScriptedMaskinporten
    waits: Waits

    def rotation(self, new: Any = None, **options: Any) -> KeyRotation:
        settings: dict[str, Any] = {"auth": self.auth, "sleep": self.waits}
        return self.world.admin.key_rotation(
            self.client_id, new or signing_key("new", 2), **(settings | options)
        )

    def kids(self) -> list[str]:
        return [k["kid"] for k in self.world.fake.jwks[self.client_id]["keys"]]


def token_answer(lifetime: int) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={"access_token": "client-token", "token_type": "Bearer", "expires_in": lifetime},
        )

    return answer


@pytest.fixture
async def rotating(world: World) -> AsyncIterator[Rotating]:
    client_id = world.fake.add_client()["client_id"]
    world.fake.add_keys(client_id, [public_jwk("old", 1, exp=int(world.clock.now) + 86400)])
    endpoint = ScriptedMaskinporten(token_answer(3600))
    async with httpx.AsyncClient(transport=endpoint.transport()) as http:
        auth = MaskinportenAuth(
            client_id=client_id, key=signing_key("old", 1), scopes=["myorg:thing.read"],
            environment=ENV, http_client=http, clock=world.clock,
        )  # fmt: skip
        yield Rotating(world, client_id, auth, endpoint, Waits(world.clock))


async def test_a_rotation_step_by_step(rotating: Rotating) -> None:
    fake, clock, waits = rotating.world.fake, rotating.world.clock, rotating.waits
    await rotating.auth.get_token()  # a token got with the old key, cached for an hour
    fetched_at = clock.now
    rotation = rotating.rotation()
    assert rotation.step == "new"
    assert (rotation.old_kid, rotation.new_kid) == ("old", "new")

    await rotation.add()
    get, post = fake.requests
    assert (get.method, post.method) == ("GET", "POST")
    sent = body(post)["keys"]
    assert [k["kid"] for k in sent] == ["new", "old"]
    assert sent[1]["exp"] == int(fetched_at) + 86400  # kept
    assert all(k["use"] == "sig" for k in sent)
    assert rotation.step == "added"
    assert rotating.auth.key.key_id == "old"  # not before Maskinporten knows the new key
    assert waits.slept == []

    await rotation.switch()
    assert waits.slept == [120.0]
    assert fake.requests[-1].method == "GET"  # the new key is still there
    assert rotating.auth.key.key_id == "new"
    switched_at = clock.now
    # Until the token got with the old key has expired, and a lifetime (its own, an hour) and
    # a grant's lifetime after the switch for a fetch that was under way.
    assert rotation.retire_at == switched_at + 3600 + 60
    assert rotating.kids() == ["new", "old"]

    keys = await rotation.retire()
    assert waits.slept == [120.0, 3660.0]
    assert rotation.step == "retired"
    assert keys.kids == ("new",)
    assert rotating.kids() == ["new"]
    assert [k["kid"] for k in body(fake.sent("POST")[-1])["keys"]] == ["new"]
    # The next token is got with the new key.
    clock.advance(3600)
    await rotating.auth.get_token()
    header, _ = rotating.endpoint.decoded(1, signing_key("new", 2))
    assert header["kid"] == "new"
    assert "KeyRotation(client_id=" in repr(rotation)
    assert "step='retired'" in repr(rotation)


async def test_the_grace_without_a_cached_token_is_a_lifetime_and_a_grant(
    rotating: Rotating,
) -> None:
    rotation = rotating.rotation()
    await rotation.run()
    assert rotating.waits.slept == [120.0, 120.0 + 60.0]
    explicit = rotating.rotation(signing_key("newer", 3), grace=30, propagation=0)
    await explicit.run()
    assert rotating.waits.slept[2:] == [30.0]
    assert rotating.kids() == ["newer"]


async def test_the_propagation_wait_counts_from_the_post(rotating: Rotating) -> None:
    rotation = rotating.rotation(grace=0)
    await rotation.add()
    rotating.world.clock.advance(100)
    await rotation.switch()
    assert rotating.waits.slept == [20.0]
    later = rotating.rotation(signing_key("newer", 3), grace=0, old_kid="new")
    await later.add()
    rotating.world.clock.advance(500)
    await later.switch()
    assert rotating.waits.slept == [20.0]  # no wait: the time has passed


async def test_a_rotation_refuses_a_full_set_an_unknown_old_key_and_a_taken_kid(
    rotating: Rotating,
) -> None:
    fake = rotating.world.fake
    fake.add_keys(
        rotating.client_id, [public_jwk("old", 1), *(public_jwk(f"k{i}", i + 5) for i in range(4))]
    )
    with pytest.raises(KeyRotationError, match="5 keys") as info:
        await rotating.rotation().add()
    assert info.value.reason == "full"
    assert info.value.client_id == rotating.client_id
    fake.add_keys(rotating.client_id, [public_jwk("old", 1)])
    with pytest.raises(KeyRotationError, match="no key 'gone' to retire") as info:
        await rotating.rotation(old_kid="gone").add()
    assert info.value.reason == "unknown kid"
    fake.add_keys(rotating.client_id, [public_jwk("old", 1), public_jwk("new", 7)])
    with pytest.raises(KeyRotationError, match="has a key 'new' already") as info:
        await rotating.rotation().add()
    assert info.value.reason == "kid taken"
    assert fake.sent("POST") == []
    assert rotating.auth.key.key_id == "old"


async def test_a_rotation_refuses_to_retire_when_the_new_key_is_gone(rotating: Rotating) -> None:
    fake = rotating.world.fake
    rotation = rotating.rotation()
    await rotation.add()
    fake.add_keys(rotating.client_id, [public_jwk("old", 1)])  # the web UI replaced the set
    with pytest.raises(KeyRotationError, match="no longer registered") as info:
        await rotation.switch()
    assert info.value.reason == "new key missing"
    assert rotating.auth.key.key_id == "old"  # not switched to a key Maskinporten refuses

    again = rotating.rotation()
    await again.add()
    await again.switch()
    fake.add_keys(rotating.client_id, [public_jwk("old", 1)])
    posts = len(fake.sent("POST"))
    with pytest.raises(KeyRotationError, match="the old key stays"):
        await again.retire()
    assert len(fake.sent("POST")) == posts
    assert rotating.kids() == ["old"]


async def test_a_rotation_can_be_run_again_after_a_failure(rotating: Rotating) -> None:
    first = rotating.rotation()
    await first.add()
    # This process died before the switch; a new run with the same key goes on.
    keys = await rotating.rotation().run()
    assert keys.kids == ("new",)
    assert len(rotating.world.fake.sent("POST")) == 2  # the add, once, and the retire
    # The old key already gone: retiring it again posts nothing.
    done = rotating.rotation(grace=0, old_kid="old")
    done._step, done._retire_at = "switched", 0.0  # at the last step
    assert (await done.retire()).kids == ("new",)
    assert len(rotating.world.fake.sent("POST")) == 2


async def test_rotate_key_with_a_public_key_and_a_signer(rotating: Rotating) -> None:
    new = signing_key("hsm-key", 4)
    keys = await rotating.world.admin.rotate_key(
        rotating.client_id,
        ClientKey.from_jwk(new.public_jwk),
        auth=rotating.auth,
        signer=SlowSigner(new),
        sleep=rotating.waits,
    )
    assert keys.kids == ("hsm-key",)
    assert rotating.auth.key.key_id == "hsm-key"


async def test_a_rotation_without_auth_needs_the_grace(rotating: Rotating) -> None:
    admin = rotating.world.admin
    with pytest.raises(ConfigurationError, match="grace="):
        admin.key_rotation(rotating.client_id, public_jwk("new", 2), old_kid="old")
    rotation = admin.key_rotation(
        rotating.client_id, public_jwk("new", 2), old_kid="old", grace=600,
        sleep=rotating.waits, clock=rotating.world.clock,
    )  # fmt: skip
    await rotation.run()
    assert rotating.waits.slept == [120.0, 600.0]
    assert rotating.kids() == ["new"]


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"auth": None, "old_kid": None, "grace": 1}, "old_kid="),
        ({"new": signing_key("old", 2)}, "own"),
        ({"new": public_jwk("new", 2)}, "signer="),
        ({"signer": SlowSigner(signing_key("other", 3))}, "'other' is not the new key's"),
        ({"propagation": -1}, "propagation"),
        ({"grace": float("nan")}, "grace"),
        ({"new": SigningKey.from_pem(private_pem(2))}, "kid="),
        ({"auth": "token"}, "MaskinportenAuth"),
    ],
)
async def test_a_rotation_checks_its_arguments(
    rotating: Rotating, arguments: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigurationError, match=words):
        rotating.rotation(**arguments)


async def test_a_rotation_runs_its_steps_in_order(rotating: Rotating) -> None:
    rotation = rotating.rotation()
    with pytest.raises(ConfigurationError, match="follows added"):
        await rotation.switch()
    with pytest.raises(ConfigurationError, match="follows switched"):
        await rotation.retire()
    await rotation.add()
    with pytest.raises(ConfigurationError, match="follows new"):
        await rotation.add()


async def test_key_changes_at_once_do_not_lose_each_others_keys(world: World) -> None:
    client_id = world.fake.add_client()["client_id"]
    world.fake.add_keys(client_id, [public_jwk("k0", 0)])

    async def slow(request: httpx.Request) -> httpx.Response:
        await anyio.sleep(0.001)  # the answer takes a while: the other change runs meanwhile
        return world.fake(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow), auth=world.auth) as http:
        admin = MaskinportenAdmin(http)
        async with anyio.create_task_group() as group:
            for index in range(1, 4):
                group.start_soon(admin.add_key, client_id, signing_key(f"k{index}", index))
    assert sorted(k["kid"] for k in world.fake.jwks[client_id]["keys"]) == ["k0", "k1", "k2", "k3"]


# --- the command line ---------------------------------------------------------------------------


@attrs.define
class Site:
    url: str
    fake: SelfServiceFake
    maskinporten: ScriptedMaskinporten
    admin: list[str]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The fake API and a Maskinporten token endpoint on a loopback port, for the CLI."""
    made: dict[str, Any] = {}

    def make(url: str) -> Served:
        fake = SelfServiceFake(base=f"{url}/api/v1")
        maskinporten = ScriptedMaskinporten(200)
        metadata = {"issuer": f"{url}/mp/", "token_endpoint": f"{url}/mp/token"}

        def handle(request: httpx.Request) -> httpx.Response:
            if request.url.path.startswith("/mp/.well-known/"):
                return httpx.Response(200, json=metadata)
            if request.url.path == "/mp/token":
                return maskinporten(request)
            return fake(request)

        made.update(fake=fake, maskinporten=maskinporten)
        return Served(handle)

    pem = tmp_path / "admin.pem"
    pem.write_bytes(private_pem(5))
    with uvicorn_serving(make) as url:
        admin = [
            "--admin-client-id", "admin", "--key", str(pem), "--kid", "admin-kid",
            "--env", f"{url}/mp/", "--selfservice", f"{url}/api/v1",
        ]  # fmt: skip
        yield Site(url, made["fake"], made["maskinporten"], admin)


def one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("altinn-async: error: ")
    return lines[0]


def test_cli_clients_list_as_a_table_and_as_json(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    site.fake.add_client(client_id="c-1", client_name="first", scopes=["a:b", "a:c"])
    site.fake.add_client(client_id="c-2", client_name="second")
    assert main(["clients", "list", *site.admin]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["CLIENT", "ID", "NAME", "TYPE", "SCOPES"]
    assert lines[1].split() == ["c-1", "first", "maskinporten", "a:b", "a:c"]
    assert lines[2].split()[:2] == ["c-2", "second"]
    assert main(["clients", "list", *site.admin, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [c["client_id"] for c in listed] == ["c-1", "c-2"]
    _, claims = site.maskinporten.decoded(0, signing_key("admin-kid", 5))
    assert claims["aud"] == f"{site.url}/mp/"
    assert "resource" not in claims


def test_cli_clients_create(site: Site, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["clients", "create", "--name", "n", "--description", "d", "--scope", "a:b"]
    assert (
        main([*args, "--scope", "a:c", "--access-token-lifetime", "300", *site.admin, "--json"])
        == 0
    )
    created = json.loads(capsys.readouterr().out)
    stored = site.fake.clients[created["client_id"]]
    assert stored["scopes"] == ["a:b", "a:c"]
    assert stored["access_token_lifetime"] == 300
    assert stored["grant_types"] == [JWT_BEARER]


def test_cli_keys_add_registers_the_public_part_only(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client_id = site.fake.add_client()["client_id"]
    site.fake.add_keys(client_id, [public_jwk("old", 1)])
    keyfile = tmp_path / "new.pem"
    keyfile.write_bytes(private_pem(2))
    code = main(
        ["clients", "keys", "add", client_id, str(keyfile), "--new-kid", "new", *site.admin]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert [line.split()[0] for line in captured.out.splitlines()] == ["KID", "new", "old"]
    assert "registered key new" in captured.err
    stored = site.fake.jwks[client_id]["keys"]
    assert stored[0] == {**signing_key("new", 2).public_jwk, "exp": stored[0]["exp"]}
    body_text = site.fake.sent("POST")[-1].content.decode()
    private = RSAKey.import_key(private_pem(2)).as_dict(private=True)
    for member in ("d", "p", "q"):
        assert str(private[member]) not in body_text
        assert str(private[member]) not in captured.out + captured.err
    # A JWK file, public, with its own kid.
    jwk = tmp_path / "other.json"
    jwk.write_text(json.dumps(public_jwk("from-file", 3)))
    assert main(["clients", "keys", "add", client_id, str(jwk), *site.admin, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [k["kid"] for k in shown["keys"]] == ["from-file", "new", "old"]


def test_cli_keys_rotate_writes_the_new_key_for_its_owner_alone(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client_id = site.fake.add_client()["client_id"]
    site.fake.add_keys(client_id, [public_jwk("old", 1)])
    out = tmp_path / "new.pem"
    args = ["clients", "keys", "rotate", client_id, "--old-kid", "old", "--out", str(out)]
    code = main(
        [*args, "--new-kid", "k2", "--propagation", "0", "--grace", "0", *site.admin, "--json"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    key = SigningKey.from_pem_file(out, kid="k2")
    assert [k["kid"] for k in site.fake.jwks[client_id]["keys"]] == ["k2"]
    assert site.fake.jwks[client_id]["keys"][0]["n"] == key.public_jwk["n"]
    result = json.loads(captured.out)
    assert (result["new_kid"], result["removed_kid"]) == ("k2", "old")
    assert "PRIVATE KEY" not in captured.out + captured.err
    assert "sign with key k2" in captured.err
    # Never over an existing file; said before any request.
    requests = len(site.fake.requests)
    assert main([*args, *site.admin]) == 2  # wrong input
    assert "--out" in one_error(capsys)
    assert len(site.fake.requests) == requests


def test_cli_keys_rotate_keep_old_and_remove(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client_id = site.fake.add_client()["client_id"]
    site.fake.add_keys(client_id, [public_jwk("old", 1)])
    keyfile = tmp_path / "new.json"
    keyfile.write_text(json.dumps(RSAKey.import_key(private_pem(2)).as_dict(private=True)))
    args = ["clients", "keys", "rotate", client_id, "--old-kid", "old", "--new-key", str(keyfile)]
    assert main([*args, "--new-kid", "k2", "--keep-old", "--propagation", "0", *site.admin]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines()] == ["KID", "k2", "old"]
    assert main(["clients", "keys", "remove", client_id, "old", *site.admin]) == 0
    assert "removed key old" in capsys.readouterr().err
    assert [k["kid"] for k in site.fake.jwks[client_id]["keys"]] == ["k2"]
    assert main(["clients", "keys", "list", client_id, *site.admin]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == ["KID", "k2"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["clients", "list", "--env", "staging"], ["--env staging", "test", "production"]),
        (
            ["clients", "list", "--selfservice", "https://x.example/api/v1", "--env", "test"],
            ["--selfservice"],
        ),
        (["clients", "list", "--key", "{tmp}/missing.pem"], ["missing.pem", "does not exist"]),
        (["clients", "create", "--name", " ", "--description", "d", "--scope", "a:b"], ["--name"]),
        (
            ["clients", "create", "--name", "n", "--description", "d", "--scope", "nocolon"],
            ["--scope nocolon"],
        ),
        (
            [
                "clients",
                "create",
                "--name",
                "n",
                "--description",
                "d",
                "--scope",
                "a:b",
                "--access-token-lifetime",
                "0",
            ],
            ["--access-token-lifetime"],
        ),
        (["clients", "keys", "add", "c", "{tmp}/missing.pem"], ["KEYFILE", "cannot read"]),
        (["clients", "keys", "add", "c", "{tmp}/garbage.pem"], ["KEYFILE", "no key"]),
        (["clients", "keys", "add", "c", "{tmp}/encrypted.pem"], ["--new-password-env"]),
        (["clients", "keys", "add", "c", "{tmp}/small.json"], ["KEYFILE", "2048"]),
        (
            ["clients", "keys", "rotate", "c", "--old-kid", "o", "--out", "{tmp}/no/dir/k.pem"],
            ["--out", "does not exist"],
        ),
        (
            [
                "clients",
                "keys",
                "rotate",
                "c",
                "--old-kid",
                "o",
                "--out",
                "{tmp}/k.pem",
                "--grace",
                "-1",
            ],
            ["--grace"],
        ),
        (
            [
                "clients",
                "keys",
                "rotate",
                "c",
                "--old-kid",
                "o",
                "--out",
                "{tmp}/k.pem",
                "--new-kid",
                "o",
            ],
            ["--new-kid"],
        ),
    ],
)
def test_cli_wrong_input_is_one_line_before_any_request(
    site: Site,
    tmp_path: Path,
    args: list[str],
    words: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "garbage.pem").write_text("hello")
    private = serialization.load_pem_private_key(private_pem(2), None)
    (tmp_path / "encrypted.pem").write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    small = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the key Digdir refuses
    numbers = small.public_key().public_numbers()
    n = base64.urlsafe_b64encode(numbers.n.to_bytes(128, "big")).rstrip(b"=").decode()
    (tmp_path / "small.json").write_text(json.dumps({**public_jwk("s", 1), "n": n}))
    given = [a.replace("{tmp}", str(tmp_path)) for a in args]
    # The site's flags after the command's words, the case's after them (the last one wins).
    words_end = 3 if given[1] == "keys" else 2
    code = main([*given[:words_end], *site.admin, *given[words_end:]])
    line = one_error(capsys)
    assert code == 2
    for word in words:
        assert word in line
    assert site.fake.requests == []


def test_cli_an_issuer_url_needs_the_selfservice_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pem = tmp_path / "admin.pem"
    pem.write_bytes(private_pem(5))
    args = ["--admin-client-id", "a", "--key", str(pem), "--kid", "k"]
    assert main(["clients", "list", *args, "--env", "https://mp.example/"]) == 2
    assert "--selfservice" in one_error(capsys)


@pytest.mark.parametrize(
    "args",
    [
        ["clients"],
        ["clients", "keys", "rotate", "c"],
        ["clients", "keys", "rotate", "c", "--old-kid", "o", "--out", "a", "--new-key", "b"],
        ["clients", "list", "--p12", "a.p12", "--key", "k.pem"],
    ],
)
def test_cli_usage_errors(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([*args, "--admin-client-id", "a"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error:" in err


def test_cli_the_api_refusing_is_one_line(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clients", "keys", "list", "unknown", *site.admin]) == 0  # no keys: none
    assert capsys.readouterr().out.strip() == "(none)"
    assert main(["clients", "keys", "remove", "unknown", "k", *site.admin]) == 1
    assert "no key 'k' to remove" in one_error(capsys)
    client_id = site.fake.add_client()["client_id"]
    site.fake.add_keys(client_id, [public_jwk(f"k{i}", i) for i in range(5)])
    keyfile = tmp_path / "new.pem"
    keyfile.write_bytes(private_pem(6))
    assert main(["clients", "keys", "add", client_id, str(keyfile), *site.admin]) == 1
    assert "5 keys" in one_error(capsys)
    site.fake.granted = {READ}
    assert (
        main(
            [
                "clients",
                "create",
                "--name",
                "n",
                "--description",
                "d",
                "--scope",
                "a:b",
                *site.admin,
            ]
        )
        == 1
    )
    line = one_error(capsys)
    assert "HTTP 403" in line
    assert "lacks a scope" in line


def test_cli_ctrl_c_during_a_rotation_says_what_the_client_holds(
    site: Site, tmp_path: Path
) -> None:
    client_id = site.fake.add_client()["client_id"]
    site.fake.add_keys(client_id, [public_jwk("old", 1)])
    out = tmp_path / "new.pem"
    process = subprocess.Popen(
        [sys.executable, "-m", "altinn_async", "clients", "keys", "rotate", client_id,
         "--old-kid", "old", "--out", str(out), "--new-kid", "k2", "--propagation", "60",
         *site.admin],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stderr is not None
    seen = []
    for line in process.stderr:
        seen.append(line)
        if "waiting 60 s" in line:
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=30)
    err = "".join(seen) + rest
    assert process.returncode == 130, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1] == "altinn-async: interrupted"
    assert "stopped with both keys" in lines[-2]
    assert f"clients keys remove {client_id} old" in lines[-2]
    assert [k["kid"] for k in site.fake.jwks[client_id]["keys"]] == ["k2", "old"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


# --- end to end, against the emulator ---------------------------------------------------------
#
# The emulator's side of the self-service API is built apart from this client, from the same
# reference, and is merged after it: these run against it then. What they assume of it:
# ``emulator.environment.selfservice`` is ``{origin}/samarbeid/api/v1``, an admin client is a
# Maskinporten client seeded with the admin scopes, its organisation (the token's consumer) owns
# what it creates, and keys it registers reach the emulated Maskinporten (propagation 0 by
# default).

E2E_ORGNO = "310000001"


@attrs.define
class Emulated:
    emulator: Emulator
    http: httpx.AsyncClient
    admin: MaskinportenAdmin


@pytest.fixture
async def emulated() -> AsyncIterator[Emulated]:
    emulator = Emulator()
    admin_key = signing_key("admin-kid", 5)
    emulator.add_maskinporten_client(
        "selfservice-admin",
        org_number=E2E_ORGNO,
        scopes=[*altinn.ADMIN_SCOPES, SCOPES_WRITE],
        jwks=[admin_key.public_jwk],
    )
    emulator.add_scope_prefix(E2E_ORGNO, "e2e")  # Digdir assigns prefixes by hand
    environment = emulator.environment
    assert environment.selfservice is not None
    assert environment.selfservice.endswith("/samarbeid/api/v1")
    async with httpx.AsyncClient(transport=emulator.transport()) as token_http:
        auth = MaskinportenAdmin.auth(
            client_id="selfservice-admin",
            key=admin_key,
            environment=environment,
            scopes=[*altinn.ADMIN_SCOPES, SCOPES_WRITE],
            http_client=token_http,
        )
        async with httpx.AsyncClient(transport=emulator.transport(), auth=auth) as http:
            yield Emulated(emulator, token_http, MaskinportenAdmin(http))


async def _own_scope(admin: MaskinportenAdmin, subscope: str) -> str:
    (prefix, *_) = await admin.prefixes()
    scope = await admin.create_scope(ApiScope(prefix=prefix, subscope=subscope, description="e2e"))
    assert scope.name == f"{prefix}:{subscope}"
    await admin.grant_access(scope.name, E2E_ORGNO)
    return scope.name


async def _client_token(emulated: Emulated, client_id: str, key: SigningKey, scope: str) -> str:
    async with MaskinportenAuth(
        client_id=client_id, key=key, scopes=[scope], environment=emulated.emulator.environment,
        http_client=emulated.http,
    ) as auth:  # fmt: skip
        return (await auth.get_token()).access_token


async def test_e2e_a_new_client_with_its_key_gets_a_token(emulated: Emulated) -> None:
    admin = emulated.admin
    scope = await _own_scope(admin, "e2e.read")
    created = await admin.create_client(
        ClientRegistration.maskinporten(client_name="e2e", description="e2e", scopes=[scope])
    )
    assert created.client_id is not None
    assert created.client_orgno == E2E_ORGNO
    assert created.client_secret is None
    # Every client of the organisation: the admin client is one of them.
    listed = {c.client_id for c in await admin.clients()}
    assert listed == {"selfservice-admin", created.client_id}
    assert len(await admin.keys(created.client_id)) == 0  # a 404: no keys yet
    key = signing_key("e2e-1", 2)
    keys = await admin.add_key(created.client_id, key)
    assert keys.kids == ("e2e-1",)
    assert all(k.exp is not None for k in keys)
    assert await _client_token(emulated, created.client_id, key, scope)

    updated = await admin.update_client(created.client_id, description="changed")
    assert updated.description == "changed"
    assert updated.integration_type == "maskinporten"
    await admin.delete_client(created.client_id)
    assert [c.client_id for c in await admin.clients()] == ["selfservice-admin"]
    with pytest.raises(SelfServiceError) as info:
        await admin.get_client(created.client_id)
    assert info.value.reason == "not found"


async def test_e2e_a_rotation_without_downtime(emulated: Emulated) -> None:
    admin = emulated.admin
    scope = await _own_scope(admin, "rotate.read")
    created = await admin.create_client(
        ClientRegistration.maskinporten(client_name="rot", description="rot", scopes=[scope])
    )
    client_id = created.client_id or ""
    old, new = signing_key("old", 1), signing_key("new", 2)
    await admin.add_key(client_id, old)
    tokens: list[str] = []
    async with MaskinportenAuth(
        client_id=client_id, key=old, scopes=[scope], environment=emulated.emulator.environment,
        http_client=emulated.http,
    ) as auth:  # fmt: skip

        async def use() -> None:
            token = await auth.get_token()
            tokens.append(token.access_token)
            await auth.invalidate(token)  # every use a new grant: each step is tried

        rotation = admin.key_rotation(client_id, new, auth=auth, propagation=0, grace=0)
        await use()
        await rotation.add()
        await use()
        await rotation.switch()
        await use()
        keys = await rotation.retire()
        await use()
    assert keys.kids == ("new",)
    assert len(tokens) == 4
    with pytest.raises(altinn.MaskinportenError):  # the old key is gone from Maskinporten
        await _client_token(emulated, client_id, old, scope)


async def test_e2e_refusals(emulated: Emulated) -> None:
    admin = emulated.admin
    with pytest.raises(SelfServiceError) as info:
        await admin.create_client(
            ClientRegistration.maskinporten(client_name="x", description="x", scopes=["no:such"])
        )
    assert info.value.reason == "invalid"
    assert info.value.errors
    scope = await _own_scope(admin, "refuse.read")
    created = await admin.create_client(
        ClientRegistration.maskinporten(client_name="x", description="x", scopes=[scope])
    )
    client_id = created.client_id or ""
    await admin.replace_keys(client_id, [signing_key(f"k{i}", i) for i in range(5)])
    with pytest.raises(KeyRotationError, match="5 keys"):
        await admin.add_key(client_id, signing_key("k5", 6))
    with pytest.raises(SelfServiceError) as info:
        await admin.get_client("no-such-client")
    assert info.value.reason == "not found"


async def test_e2e_scopes_and_access(emulated: Emulated) -> None:
    admin = emulated.admin
    name = await _own_scope(admin, "access/list.read")
    scope = await admin.get_scope(name)
    assert scope.owner_orgno == E2E_ORGNO
    granted = await admin.grant_access(name, "889640782")
    assert granted.approved
    assert {a.consumer_orgno for a in await admin.accesses(name)} >= {"889640782"}
    assert not (await admin.revoke_access(name, "889640782")).approved
    deactivated = await admin.deactivate_scope(name)
    assert deactivated.active is False
    assert name not in [s.name for s in await admin.scopes()]
    assert name in [s.name for s in await admin.scopes(inactive=True)]
    with pytest.raises(SelfServiceError) as info:
        await admin.create_scope(
            ApiScope(prefix=scope.prefix, subscope=scope.subscope, description="again")
        )
    assert info.value.reason == "conflict"
    assert (await admin.update_scope(name, active=True)).active is True
    assert [s.name for s in await admin.public_scopes()].count(name) == 1
    assert [s.name for s in await admin.delegation_sources()]
    with pytest.raises(SelfServiceError) as info:
        await admin.grant_access(name, "123456789")  # the check digit is wrong
    assert info.value.reason == "invalid"
