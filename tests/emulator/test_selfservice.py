"""The emulated Digdir self-service API (``maskinporten-selfservice.md`` §9), driven with raw
httpx and admin tokens from real grants to the emulated Maskinporten: clients, their keys, the
scope registry, and what all of it does to Maskinporten's token endpoint."""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from altinn_async.testing import CertificateAuthority, Emulator, IssuedCertificate

from .conftest import (
    DIGDIR,
    JWT_BEARER,
    Clock,
    assert_mp_error,
    certificate_key,
    make_grant,
    request_token,
    x5c_header,
)

BASE = "/samarbeid/api/v1"
PROVIDER = "910753614"
OTHER = "889640782"
SCOPE = "provider:api/read"
WRITE_SCOPE = "provider:api/write"
DCR = "idporten:dcr.read idporten:dcr.write idporten:dcr.modify"
ADMIN_SCOPES = f"{DCR} idporten:scopes.write"
ONE_YEAR = 365 * 24 * 3600
MS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
NS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
DROP = object()


def iso(seconds: float) -> str:
    """The API's timestamp for ``seconds``."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@pytest.fixture(scope="session")
def admin_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "admin-key"})


@pytest.fixture(scope="session")
def key_a() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "key-a"})


@pytest.fixture(scope="session")
def key_b() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "key-b"})


def seed_admins(emulator: Emulator, admin_key: RSAKey) -> None:
    """An admin client for DIGDIR, PROVIDER and OTHER; PROVIDER owns ``provider:``."""
    for client_id, org in (("admin", DIGDIR), ("provider-admin", PROVIDER), ("other-admin", OTHER)):
        emulator.add_maskinporten_client(
            client_id,
            org_number=org,
            scopes=[*ADMIN_SCOPES.split(), "idporten:dcr.supplier"],
            jwks=[admin_key.as_dict(private=False)],
        )
    emulator.add_api_scope(SCOPE, owner_org=PROVIDER, description="Read the provider's API")
    emulator.add_api_scope(WRITE_SCOPE, owner_org=PROVIDER, description="Write it")
    emulator.grant_scope_access(SCOPE, DIGDIR)
    emulator.grant_scope_access(WRITE_SCOPE, DIGDIR)


@pytest.fixture
def emu(clock: Clock, admin_key: RSAKey) -> Emulator:
    emulator = Emulator(clock=clock)
    seed_admins(emulator, admin_key)
    return emulator


async def admin_token(
    http: httpx.AsyncClient,
    key: RSAKey,
    clock: Clock,
    client_id: str = "admin",
    scope: str = ADMIN_SCOPES,
) -> str:
    """An admin token through a real JWT grant to the emulated Maskinporten."""
    response = await request_token(http, make_grant(key, clock.now, iss=client_id, scope=scope))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


class Api:
    """Requests to the self-service API with one bearer token (or none)."""

    def __init__(self, http: httpx.AsyncClient, token: str | None) -> None:
        self.http = http
        self.token = token

    async def __call__(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return await self.http.request(method, f"{BASE}{path}", headers=headers, **kwargs)

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json() if response.content else None


@pytest.fixture
async def api(http: httpx.AsyncClient, admin_key: RSAKey, clock: Clock) -> Api:
    return Api(http, await admin_token(http, admin_key, clock))


@pytest.fixture
async def provider(http: httpx.AsyncClient, admin_key: RSAKey, clock: Clock) -> Api:
    return Api(http, await admin_token(http, admin_key, clock, "provider-admin"))


@pytest.fixture
async def other(http: httpx.AsyncClient, admin_key: RSAKey, clock: Clock) -> Api:
    return Api(http, await admin_token(http, admin_key, clock, "other-admin"))


ADMINS = frozenset({"admin", "provider-admin", "other-admin", "cert-admin"})


async def listed(api: Api, path: str = "/clients") -> list[dict[str, Any]]:
    """``GET /clients`` without the seeded admin clients (which the API lists too)."""
    return [c for c in await api.ok("GET", path) if c["client_id"] not in ADMINS]


def client_body(**changes: Any) -> dict[str, Any]:
    """A Maskinporten create request as OSL and D-mpapi send it; DROP removes a field."""
    body: dict[str, Any] = {
        "integration_type": "maskinporten",
        "application_type": "web",
        "client_name": "DIG - okdata-x - test",
        "description": "Test client",
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": [JWT_BEARER],
        "scopes": [SCOPE],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not DROP}


def login_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "integration_type": "idporten",
        "application_type": "web",
        "description": "A login client",
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code"],
        "redirect_uris": ["https://app.example/callback"],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not DROP}


def public_jwk(key: RSAKey, **changes: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = {**key.as_dict(private=False), "alg": "RS256", "use": "sig"}
    jwk.update(changes)
    return {k: v for k, v in jwk.items() if v is not DROP}


async def create_client(api: Api, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = await api.ok("POST", "/clients", json=client_body(**changes))
    return document


async def client_with_keys(api: Api, *keys: RSAKey, **changes: Any) -> str:
    client = await create_client(api, **changes)
    await api.ok(
        "POST", f"/clients/{client['client_id']}/jwks", json={"keys": [public_jwk(k) for k in keys]}
    )
    return str(client["client_id"])


async def mp_token(
    http: httpx.AsyncClient, key: RSAKey, clock: Clock, client_id: str, scope: str = SCOPE
) -> httpx.Response:
    return await request_token(http, make_grant(key, clock.now, iss=client_id, scope=scope))


def assert_error(response: httpx.Response, status: int, *texts: str) -> dict[str, Any]:
    """The §7 error body, with every text somewhere in ``error_description``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {
        "status",
        "timestamp",
        "correlation_id",
        "errors",
        "error",
        "error_description",
    }
    assert body["status"] == status
    assert NS_Z.fullmatch(body["timestamp"]), body["timestamp"]
    assert re.fullmatch(r"[0-9a-f]{32}", body["correlation_id"])
    assert body["error_description"] == body["error"]
    assert body["error"].startswith(", ")
    for text in texts:
        assert text in body["error_description"], body["error_description"]
    return body


def assert_expired(response: httpx.Response) -> None:
    """MP-121: a key past its ``exp``, or removed from the client's JWKS."""
    assert_mp_error(response, status=400, error="invalid_grant", code="MP-121", text="Expired key.")


def field_errors(body: dict[str, Any]) -> dict[str, str]:
    return {e["fieldIdentifier"]: e["errorMessage"] for e in body["errors"]}


# -- where it is and who may call it ---------------------------------------------------------


def test_environment_points_at_the_api() -> None:
    emulator = Emulator()
    assert emulator.environment.selfservice == "http://altinn.localhost/samarbeid/api/v1"
    other_origin = emulator.environment_for("http://127.0.0.1:4321")
    assert other_origin.selfservice == "http://127.0.0.1:4321/samarbeid/api/v1"


async def test_no_token_is_401(http: httpx.AsyncClient) -> None:
    response = await Api(http, None)("GET", "/clients")
    assert_error(response, 401, "Authorization: Bearer")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_token_is_401(api: Api, clock: Clock) -> None:
    assert (await api("GET", "/clients")).status_code == 200
    clock.advance(120 + 11)  # the token's lifetime and the 10 s of skew
    response = await api("GET", "/clients")
    assert_error(response, 401, "Invalid access token")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_token_not_signed_by_maskinporten_is_401(
    http: httpx.AsyncClient, key_a: RSAKey, clock: Clock
) -> None:
    forged = jwt.encode(
        {"alg": "RS256"},
        {
            "iss": "http://altinn.localhost/maskinporten/",
            "scope": ADMIN_SCOPES,
            "consumer": {"authority": "iso6523-actorid-upis", "ID": f"0192:{DIGDIR}"},
            "iat": int(clock.now),
            "exp": int(clock.now) + 120,
        },
        key_a,
    )
    assert_error(await Api(http, forged)("GET", "/clients"), 401)


async def test_token_of_another_origin_is_401(
    emu: Emulator, admin_key: RSAKey, clock: Clock
) -> None:
    async with httpx.AsyncClient(
        transport=emu.transport(), base_url="http://127.0.0.1:8123"
    ) as elsewhere:
        grant = make_grant(
            admin_key,
            clock.now,
            iss="admin",
            scope=ADMIN_SCOPES,
            aud="http://127.0.0.1:8123/maskinporten/",
        )
        response = await request_token(elsewhere, grant)
        token = response.json()["access_token"]
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        assert_error(await Api(http, token)("GET", "/clients"), 401)


@pytest.mark.parametrize(
    "case",
    [
        ("idporten:scopes.write", "GET", "/clients", "idporten:dcr.read"),
        ("idporten:dcr.read", "POST", "/clients", "idporten:dcr.write"),
        ("idporten:dcr.modify", "POST", "/clients", "idporten:dcr.write"),
        ("idporten:dcr.read", "POST", "/scopes", "idporten:scopes.write"),
        (DCR, "GET", "/scopes", "idporten:scopes.write"),
        (DCR, "GET", "/prefix", "idporten:scopes.write"),
    ],
)
async def test_missing_admin_scope_is_403(
    http: httpx.AsyncClient, admin_key: RSAKey, clock: Clock, case: tuple[str, str, str, str]
) -> None:
    scope, method, path, wanted = case
    api = Api(http, await admin_token(http, admin_key, clock, scope=scope))
    response = await api(method, path, json=client_body())
    assert_error(response, 403, wanted)


async def test_read_scope_reads_and_modify_scope_changes(
    http: httpx.AsyncClient, api: Api, admin_key: RSAKey, clock: Clock, key_a: RSAKey
) -> None:
    client_id = (await create_client(api))["client_id"]
    reader = Api(http, await admin_token(http, admin_key, clock, scope="idporten:dcr.read"))
    assert (await reader("GET", f"/clients/{client_id}")).status_code == 200
    assert_error(await reader("PUT", f"/clients/{client_id}", json=client_body()), 403)
    assert_error(await reader("DELETE", f"/clients/{client_id}"), 403)
    modifier = Api(http, await admin_token(http, admin_key, clock, scope="idporten:dcr.modify"))
    await modifier.ok("PUT", f"/clients/{client_id}", json=client_body(description="changed"))
    await modifier.ok("POST", f"/clients/{client_id}/jwks", json={"keys": [public_jwk(key_a)]})
    # Deleting is dcr.write's, not dcr.modify's.
    assert_error(await modifier("DELETE", f"/clients/{client_id}"), 403, "idporten:dcr.write")


async def test_enterprise_certificate_admin_client(
    clock: Clock, ca: CertificateAuthority, enterprise_cert: IssuedCertificate, admin_key: RSAKey
) -> None:
    emulator = Emulator(clock=clock, selfservice_require_certificate=True)
    seed_admins(emulator, admin_key)
    emulator.trust_certificate_authority(ca)
    emulator.add_maskinporten_client("cert-admin", org_number=DIGDIR, scopes=ADMIN_SCOPES.split())
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=emulator.base_url
    ) as http:
        grant = make_grant(
            certificate_key(enterprise_cert),
            clock.now,
            header=x5c_header(enterprise_cert, chain=False),  # the leaf only, as OSL sends
            iss="cert-admin",
            scope=ADMIN_SCOPES,
        )
        response = await request_token(http, grant)
        assert response.status_code == 200, response.text
        by_certificate = Api(http, response.json()["access_token"])
        assert await listed(by_certificate) == []
        by_key = Api(http, await admin_token(http, admin_key, clock))
        assert_error(await by_key("GET", "/clients"), 403, "enterprise certificate")


async def test_requests_are_counted(emu: Emulator, api: Api) -> None:
    await api.ok("GET", "/clients")
    await api("GET", "/clients/nope")
    assert emu.requests["selfservice.clients"] == 1
    assert emu.requests["selfservice.client"] == 1


# -- clients -----------------------------------------------------------------------------------


async def test_create_maskinporten_client(api: Api, clock: Clock) -> None:
    document = await create_client(api)
    assert str(uuid.UUID(document["client_id"])) == document["client_id"]
    assert document["client_orgno"] == DIGDIR
    assert document["active"] is True
    assert document["created"] == document["last_updated"] == iso(clock.now)
    assert document["integration_type"] == "maskinporten"
    assert document["scopes"] == [SCOPE]
    assert document["access_token_lifetime"] == 120
    assert document["authorization_lifetime"] == 7200
    assert document["refresh_token_lifetime"] == 600
    assert document["refresh_token_usage"] == "ONETIME"
    assert document["grant_types"] == [JWT_BEARER]
    assert "client_secret" not in document
    assert "supplier_orgno" not in document
    assert await api.ok("GET", f"/clients/{document['client_id']}") == document
    assert await listed(api) == [document]


async def test_timestamps_have_milliseconds_from_the_emulator_clock(api: Api, clock: Clock) -> None:
    clock.now = 1_700_000_000.25
    document = await create_client(api)
    assert MS_Z.fullmatch(document["created"])
    assert document["created"] == "2023-11-14T22:13:20.250Z"


async def test_trailing_slash_on_clients(api: Api) -> None:
    created = await api.ok("POST", "/clients/", json=client_body())
    assert await listed(api, "/clients/") == [created]
    assert await api.ok("GET", f"/clients/{created['client_id']}/") == created


async def test_list_holds_only_the_org_s_active_clients(api: Api, other: Api) -> None:
    mine = await create_client(api)
    gone = await create_client(api, description="to delete")
    await api.ok("DELETE", f"/clients/{gone['client_id']}")
    other_client = await other.ok("POST", "/clients", json=login_body())
    found = await listed(api)
    assert [c["client_id"] for c in found] == [mine["client_id"]]
    assert other_client["client_id"] not in {c["client_id"] for c in found}


async def test_another_orgs_client_is_403(api: Api, other: Api, key_a: RSAKey) -> None:
    client_id = (await create_client(api))["client_id"]
    for method, path, body in (
        ("GET", f"/clients/{client_id}", None),
        ("PUT", f"/clients/{client_id}", client_body()),
        ("DELETE", f"/clients/{client_id}", None),
        ("GET", f"/clients/{client_id}/jwks", None),
        ("POST", f"/clients/{client_id}/jwks", {"keys": [public_jwk(key_a)]}),
        ("DELETE", f"/clients/{client_id}/jwks/key-a", None),
    ):
        assert_error(await other(method, path, json=body), 403, "another organization")


async def test_unknown_client_is_404(api: Api) -> None:
    assert_error(await api("GET", "/clients/no-such-client"), 404, "no-such-client")
    assert_error(await api("GET", "/clients/no-such-client/jwks"), 404)
    assert_error(await api("PUT", "/clients/no-such-client", json=client_body()), 404)


async def test_seeded_client_is_listed(emu: Emulator, api: Api, key_a: RSAKey) -> None:
    emu.add_maskinporten_client(
        "seeded",
        org_number=DIGDIR,
        scopes=["b:x", "a:y"],
        jwks=[key_a.as_dict(private=False)],
        key_expires_at=1_900_000_000,
    )
    found = {c["client_id"]: c for c in await api.ok("GET", "/clients")}
    assert found["seeded"]["scopes"] == ["a:y", "b:x"]
    assert found["seeded"]["client_orgno"] == DIGDIR
    assert found["admin"]["integration_type"] == "maskinporten"
    assert "provider-admin" not in found
    jwks = await api.ok("GET", "/clients/seeded/jwks")
    assert [(k["kid"], k["exp"]) for k in jwks["keys"]] == [("key-a", 1_900_000_000)]


async def test_seeded_client_keeps_its_scopes_on_put(emu: Emulator, api: Api) -> None:
    emu.add_maskinporten_client("seeded", org_number=DIGDIR, scopes=["unregistered:scope"])
    current = await api.ok("GET", "/clients/seeded")
    changed = await api.ok("PUT", "/clients/seeded", json={**current, "description": "Mine"})
    assert (changed["description"], changed["scopes"]) == ("Mine", ["unregistered:scope"])
    more = {**current, "scopes": ["unregistered:scope", "other:unregistered"]}
    response = await api("PUT", "/clients/seeded", json=more)
    assert_error(response, 400, "scope other:unregistered does not exist")


async def test_head_is_get_without_a_body(api: Api, key_a: RSAKey) -> None:
    client_id = (await create_client(api))["client_id"]
    assert (await api("HEAD", f"/clients/{client_id}/jwks")).status_code == 404
    await api.ok("POST", f"/clients/{client_id}/jwks", json={"keys": [public_jwk(key_a)]})
    response = await api("HEAD", f"/clients/{client_id}/jwks")
    assert (response.status_code, response.content) == (200, b"")
    assert (await api("HEAD", f"/clients/{client_id}")).status_code == 200


async def test_login_client_gets_a_secret_once(api: Api) -> None:
    created = await api.ok("POST", "/clients", json=login_body())
    secret = created.pop("client_secret")
    assert len(secret) >= 32
    assert created["scopes"] == ["openid", "profile"]
    fetched = await api.ok("GET", f"/clients/{created['client_id']}")
    assert "client_secret" not in fetched
    renewed = await api.ok("POST", f"/clients/{created['client_id']}/secret")
    assert renewed["client_secret"] not in (secret, "")
    assert all("client_secret" not in c for c in await api.ok("GET", "/clients"))


async def test_secret_only_for_secret_methods(api: Api) -> None:
    created = await create_client(api)
    assert_error(
        await api("POST", f"/clients/{created['client_id']}/secret"), 400, "private_key_jwt"
    )
    login = await api.ok("POST", "/clients", json=login_body())
    changed = login_body(token_endpoint_auth_method="private_key_jwt")
    await api.ok("PUT", f"/clients/{login['client_id']}", json=changed)
    assert_error(await api("POST", f"/clients/{login['client_id']}/secret"), 400)


async def test_secret_never_in_a_repr(emu: Emulator, api: Api) -> None:
    created = await api.ok("POST", "/clients", json=login_body())
    secret = created["client_secret"]
    assert secret not in repr(emu)
    assert secret not in repr(emu._selfservice)
    store = emu._selfservice._store
    assert secret not in repr(store.registrations)
    assert api.token is not None
    response = await Api(api.http, api.token + "x")("GET", "/clients")
    assert api.token not in response.text


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"integration_type": "saml"}, "integration_type", "must be one of"),
        ({"integration_type": DROP}, "integration_type", "required"),
        ({"application_type": "browser"}, "application_type", "use application_type web"),
        ({"application_type": "mobile"}, "application_type", "must be one of"),
        (
            {"token_endpoint_auth_method": "client_secret_basic"},
            "token_endpoint_auth_method",
            "private_key_jwt",
        ),
        ({"grant_types": ["authorization_code"]}, "grant_types", JWT_BEARER),
        ({"grant_types": ["client_credentials"]}, "grant_types", "must be of"),
        ({"grant_types": [JWT_BEARER, "refresh_token"]}, "grant_types", "not "),
        ({"scopes": []}, "scopes", "at least one scope"),
        ({"scopes": DROP}, "scopes", "at least one scope"),
        ({"description": ""}, "description", "required"),
        ({"access_token_lifetime": 0}, "access_token_lifetime", "positive"),
        ({"authorization_lifetime": 0}, "authorization_lifetime", "positive"),
        ({"refresh_token_lifetime": 0}, "refresh_token_lifetime", "positive"),
        ({"access_token_lifetime": -5}, "access_token_lifetime", "positive"),
        ({"access_token_lifetime": "60"}, "access_token_lifetime", "positive"),
        ({"refresh_token_usage": "ALWAYS"}, "refresh_token_usage", "ONETIME, REUSE"),
        ({"code_challenge_method": "plain"}, "code_challenge_method", "S256"),
        ({"client_orgno": "12345"}, "client_orgno", "9-digit"),
        ({"sso_disabled": "no"}, "sso_disabled", "true or false"),
    ],
)
async def test_invalid_client_is_400(
    api: Api, changes: dict[str, Any], field: str, text: str
) -> None:
    body = assert_error(await api("POST", "/clients", json=client_body(**changes)), 400, text)
    assert field in field_errors(body)
    assert body["errors"][0]["isFieldError"] is True
    assert body["errors"][0]["objectName"] == "Client"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"application_type": "browser"}, "token_endpoint_auth_method"),
        ({"token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
        ({"grant_types": [JWT_BEARER]}, "grant_types"),
        ({"grant_types": ["refresh_token"]}, "grant_types"),
        ({"scopes": ["openid", SCOPE]}, "scopes"),
    ],
)
async def test_login_client_combinations_are_checked(
    api: Api, changes: dict[str, Any], field: str
) -> None:
    body = assert_error(await api("POST", "/clients", json=login_body(**changes)), 400)
    assert field in field_errors(body)


async def test_login_client_combinations_that_work(api: Api) -> None:
    public = login_body(
        application_type="browser",
        token_endpoint_auth_method="none",
        grant_types=["authorization_code", "refresh_token"],
    )
    created = await api.ok("POST", "/clients", json=public)
    assert "client_secret" not in created
    api_client = login_body(integration_type="api_klient", scopes=["openid", SCOPE])
    assert (await api.ok("POST", "/clients", json=api_client))["scopes"] == ["openid", SCOPE]


async def test_every_error_is_reported_at_once(api: Api) -> None:
    body = client_body(description="", access_token_lifetime=0, scopes=[])
    errors = field_errors(assert_error(await api("POST", "/clients", json=body), 400))
    assert {"description", "access_token_lifetime", "scopes"} <= set(errors)


async def test_lifetimes_omitted_or_set(api: Api) -> None:
    created = await create_client(api, access_token_lifetime=3600, authorization_lifetime=None)
    assert created["access_token_lifetime"] == 3600
    assert created["authorization_lifetime"] == 7200


async def test_body_must_be_a_json_object(api: Api) -> None:
    assert_error(
        await api(
            "POST", "/clients", content=b"{not json", headers={"content-type": "application/json"}
        ),
        400,
        "not valid JSON",
    )
    assert_error(await api("POST", "/clients", json=[client_body()]), 400, "JSON object")
    assert_error(
        await api("POST", "/clients", content=b"a=b", headers={"content-type": "text/plain"}),
        415,
    )


async def test_nav_fields_are_accepted(api: Api) -> None:
    created = await create_client(
        api,
        access_token_lifetime=3600,
        authorization_lifetime=7200,
        client_uri="https://nav.no",
        refresh_token_usage="ONETIME",
        frontchannel_logout_session_required=False,
        redirect_uris=None,
        post_logout_redirect_uris=None,
        sso_disabled=False,
    )
    assert created["client_uri"] == "https://nav.no"


async def test_lenient_mode_fills_in_and_ignores(api: Api) -> None:
    # Seed 003's body (the 2019 API): legacy fields, no application type, method or grants.
    body = {
        "integration_type": "maskinporten",
        "client_name": "DIHE test client for instances",
        "client_type": "CONFIDENTIAL",
        "description": "Client to retrieve data from my apps",
        "scopes": [SCOPE, WRITE_SCOPE],
        "token_reference": "SELF_CONTAINED",
        "something_new": 1,
    }
    created = await api.ok("POST", "/clients", json=body)
    assert created["application_type"] == "web"
    assert created["token_endpoint_auth_method"] == "private_key_jwt"
    assert created["grant_types"] == [JWT_BEARER]
    assert not {"client_type", "token_reference", "something_new"} & set(created)


async def test_strict_mode_requires_and_refuses(clock: Clock, admin_key: RSAKey) -> None:
    emulator = Emulator(clock=clock, selfservice_strict=True)
    seed_admins(emulator, admin_key)
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=emulator.base_url
    ) as http:
        api = Api(http, await admin_token(http, admin_key, clock))
        await api.ok("POST", "/clients", json=client_body())
        missing = client_body(application_type=DROP, grant_types=DROP)
        errors = field_errors(assert_error(await api("POST", "/clients", json=missing), 400))
        assert {"application_type", "grant_types"} <= set(errors)
        legacy = client_body(client_type="CONFIDENTIAL", token_reference="SELF_CONTAINED")
        errors = field_errors(assert_error(await api("POST", "/clients", json=legacy), 400))
        assert set(errors) == {"client_type", "token_reference"}
        # The server-set fields of a GET may be sent back.
        created = await api.ok("POST", "/clients", json=client_body())
        await api.ok("PUT", f"/clients/{created['client_id']}", json=created)


async def test_legacy_paths_only_behind_the_flag(
    http: httpx.AsyncClient, api: Api, clock: Clock, admin_key: RSAKey
) -> None:
    assert api.token is not None
    headers = {"Authorization": f"Bearer {api.token}"}
    response = await http.get("/samarbeid/clients/", headers=headers)
    assert response.status_code == 404
    emulator = Emulator(clock=clock, selfservice_legacy_paths=True)
    seed_admins(emulator, admin_key)
    async with httpx.AsyncClient(transport=emulator.transport(), base_url=emulator.base_url) as h:
        token = await admin_token(h, admin_key, clock)
        response = await h.get("/samarbeid/clients/", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert {c["client_id"] for c in response.json()} == {"admin"}


# -- scopes on clients (§9.5) ----------------------------------------------------------------


async def test_scope_must_exist(api: Api) -> None:
    response = await api("POST", "/clients", json=client_body(scopes=["provider:nope"]))
    assert_error(response, 400, "scope provider:nope does not exist")


async def test_scope_needs_approved_access(emu: Emulator, api: Api) -> None:
    emu.add_api_scope("provider:private", owner_org=PROVIDER, visibility="PRIVATE")
    response = await api("POST", "/clients", json=client_body(scopes=["provider:private"]))
    assert_error(response, 400, f"{DIGDIR} has not been granted access", PROVIDER)
    emu.grant_scope_access("provider:private", DIGDIR)
    await api.ok("POST", "/clients", json=client_body(scopes=["provider:private"]))


async def test_denied_access_is_no_access(api: Api, provider: Api) -> None:
    await provider.ok("DELETE", f"/scopes/access/{DIGDIR}?scope={SCOPE}")
    assert_error(await api("POST", "/clients", json=client_body()), 400, "not been granted")


async def test_accessible_for_all_needs_no_access(emu: Emulator, api: Api) -> None:
    emu.add_api_scope("provider:open", owner_org=PROVIDER, accessible_for_all=True)
    await api.ok("POST", "/clients", json=client_body(scopes=["provider:open"]))


async def test_inactive_scope_is_refused(emu: Emulator, api: Api) -> None:
    emu.add_api_scope("provider:old", owner_org=PROVIDER, accessible_for_all=True, active=False)
    response = await api("POST", "/clients", json=client_body(scopes=["provider:old"]))
    assert_error(response, 400, "scope provider:old is not active")


async def test_scope_for_another_integration_type_is_refused(emu: Emulator, api: Api) -> None:
    emu.add_api_scope(
        "provider:login",
        owner_org=PROVIDER,
        accessible_for_all=True,
        allowed_integration_types=["idporten", "api_klient"],
    )
    response = await api("POST", "/clients", json=client_body(scopes=["provider:login"]))
    assert_error(response, 400, "not allowed for integration_type maskinporten")
    login = login_body(integration_type="api_klient", scopes=["openid", "provider:login"])
    await api.ok("POST", "/clients", json=login)


async def test_krr_client(api: Api) -> None:
    krr = client_body(integration_type="krr", scopes=DROP)
    created = await api.ok("POST", "/clients", json=krr)
    assert created["scopes"] == [
        "krr:global/kontaktinformasjon.read",
        "krr:global/digitalpost.read",
    ]
    response = await api("POST", "/clients", json=client_body(integration_type="krr"))
    assert_error(response, 400, "krr clients may not add scopes")


# -- PUT and DELETE ----------------------------------------------------------------------------


async def test_put_replaces_the_model(api: Api, clock: Clock) -> None:
    created = await create_client(api)
    clock.advance(5)
    changed = {**created, "description": "New text", "scopes": [WRITE_SCOPE]}
    del changed["created"], changed["last_updated"]
    updated = await api.ok("PUT", f"/clients/{created['client_id']}", json=changed)
    assert updated["description"] == "New text"
    assert updated["scopes"] == [WRITE_SCOPE]
    assert updated["created"] == created["created"]
    assert updated["last_updated"] == iso(clock.now)
    assert await api.ok("GET", f"/clients/{created['client_id']}") == updated


async def test_integration_type_is_immutable(api: Api) -> None:
    created = await create_client(api)
    changed = {**created, "integration_type": "krr"}
    del changed["scopes"]
    response = await api("PUT", f"/clients/{created['client_id']}", json=changed)
    assert "integration_type" in field_errors(assert_error(response, 400, "cannot change"))


async def test_put_validates_like_post(api: Api) -> None:
    created = await create_client(api)
    path = f"/clients/{created['client_id']}"
    assert_error(await api("PUT", path, json={**created, "access_token_lifetime": 0}), 400)
    assert_error(await api("PUT", path, json={**created, "scopes": ["provider:nope"]}), 400)
    assert_error(await api("PUT", path, json={**created, "client_orgno": OTHER}), 400)


async def test_delete_deactivates(
    api: Api, http: httpx.AsyncClient, clock: Clock, key_a: RSAKey
) -> None:
    client_id = await client_with_keys(api, key_a)
    assert (await mp_token(http, key_a, clock, client_id)).status_code == 200
    response = await api("DELETE", f"/clients/{client_id}")
    assert response.status_code == 200
    assert response.content == b""
    assert_error(await api("GET", f"/clients/{client_id}"), 404)
    assert await listed(api) == []
    assert_error(await api("DELETE", f"/clients/{client_id}"), 404)
    assert_error(await api("GET", f"/clients/{client_id}/jwks"), 404)
    assert_mp_error(
        await mp_token(http, key_a, clock, client_id),
        status=400,
        error="invalid_grant",
        code="MP-100",
        text="Client not found",
    )


async def test_supplier_creates_for_a_customer(
    http: httpx.AsyncClient, api: Api, admin_key: RSAKey, clock: Clock, other: Api
) -> None:
    assert_error(
        await api("POST", "/clients", json=client_body(client_orgno=OTHER)), 403, "dcr.supplier"
    )
    supplier_scopes = f"{ADMIN_SCOPES} idporten:dcr.supplier"
    supplier = Api(http, await admin_token(http, admin_key, clock, scope=supplier_scopes))
    body = login_body(client_orgno=OTHER)
    created = await supplier.ok("POST", "/clients", json=body)
    assert created["client_orgno"] == OTHER
    assert created["supplier_orgno"] == DIGDIR
    assert (await other.ok("GET", f"/clients/{created['client_id']}"))["client_orgno"] == OTHER
    assert await supplier.ok("GET", f"/clients/{created['client_id']}")
    # Without dcr.supplier the supplier no longer sees it.
    assert_error(await api("GET", f"/clients/{created['client_id']}"), 403)


async def test_supplier_client_needs_the_customer_s_access(
    http: httpx.AsyncClient, admin_key: RSAKey, clock: Clock
) -> None:
    supplier_scopes = f"{ADMIN_SCOPES} idporten:dcr.supplier"
    supplier = Api(http, await admin_token(http, admin_key, clock, scope=supplier_scopes))
    response = await supplier("POST", "/clients", json=client_body(client_orgno=OTHER))
    assert_error(response, 400, f"organization {OTHER} has not been granted access")


# -- keys --------------------------------------------------------------------------------------


async def test_post_jwks(api: Api, clock: Clock, key_a: RSAKey) -> None:
    client_id = (await create_client(api))["client_id"]
    assert_error(await api("GET", f"/clients/{client_id}/jwks"), 404, "no keys")
    posted = await api.ok("POST", f"/clients/{client_id}/jwks", json={"keys": [public_jwk(key_a)]})
    (key,) = posted["keys"]
    assert key == {
        "kid": "key-a",
        "alg": "RS256",
        "use": "sig",
        "n": key_a.as_dict()["n"],
        "e": "AQAB",
        "kty": "RSA",
        "exp": int(clock.now) + ONE_YEAR,
    }
    assert posted["created"] == posted["last_updated"] == iso(clock.now)
    assert await api.ok("GET", f"/clients/{client_id}/jwks") == posted


async def test_jwks_keeps_an_exp_within_a_year(api: Api, clock: Clock, key_a: RSAKey) -> None:
    client_id = (await create_client(api))["client_id"]
    exp = int(clock.now) + 90 * 24 * 3600
    posted = await api.ok(
        "PUT", f"/clients/{client_id}/jwks", json={"keys": [public_jwk(key_a, exp=exp)]}
    )
    assert posted["keys"][0]["exp"] == exp


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
async def test_jwks_accepts_the_rsa_algorithms(api: Api, key_a: RSAKey, alg: str) -> None:
    client_id = (await create_client(api))["client_id"]
    jwks = {"keys": [public_jwk(key_a, alg=alg)]}
    assert (await api.ok("POST", f"/clients/{client_id}/jwks", json=jwks))["keys"][0]["alg"] == alg


def small_key() -> dict[str, Any]:
    """A 1024-bit public JWK (built with cryptography: joserfc warns about such keys)."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    public = private.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"kty": "RSA", "kid": "small", "n": b64(public.n), "e": b64(public.e)}


def _invalid_jwks(key: RSAKey, small: dict[str, Any], now: float) -> list[tuple[Any, str]]:
    six = [public_jwk(key, kid=f"k{i}") for i in range(6)]
    return [
        ({"keys": []}, "must not be empty"),
        ([public_jwk(key)], "JWK set"),
        ({"keys": six}, "at most 5 keys"),
        ({"keys": [public_jwk(key, use=DROP)]}, "use is required"),
        ({"keys": [public_jwk(key, use="enc")]}, 'use must be "sig"'),
        ({"keys": [public_jwk(key, kty="EC")]}, "kty must be RSA"),
        ({"keys": [public_jwk(key, alg="ES256")]}, "alg must be one of"),
        ({"keys": [public_jwk(key, alg=DROP)]}, "alg is required"),
        ({"keys": [public_jwk(key, kid=DROP)]}, "kid is required"),
        ({"keys": [public_jwk(key, n=DROP)]}, "n is required"),
        ({"keys": [public_jwk(key, e=DROP)]}, "e is required"),
        ({"keys": [public_jwk(key, kid="my key!")]}, "letters, digits"),
        ({"keys": [public_jwk(key), public_jwk(key)]}, "used twice"),
        ({"keys": [{**small, "alg": "RS256", "use": "sig"}]}, "1024 bits"),
        ({"keys": [public_jwk(key, exp=int(now) + ONE_YEAR + 1)]}, "more than one year"),
        ({"keys": [public_jwk(key, exp=int(now) - 1)]}, "not in the future"),
        ({"keys": [public_jwk(key, exp="soon")]}, "exp must be a number"),
        ({"keys": [{**key.as_dict(private=True), "alg": "RS256", "use": "sig"}]}, "private"),
        ({"keys": ["not a key"]}, "JWK object"),
    ]


async def test_invalid_jwks_is_400(api: Api, clock: Clock, key_a: RSAKey) -> None:
    small = small_key()
    client_id = (await create_client(api))["client_id"]
    for body, text in _invalid_jwks(key_a, small, clock.now):
        response = await api("POST", f"/clients/{client_id}/jwks", json=body)
        assert_error(response, 400, text)
    # Nothing was stored.
    assert_error(await api("GET", f"/clients/{client_id}/jwks"), 404)


async def test_reposting_a_key_renews_it(api: Api, clock: Clock, key_a: RSAKey) -> None:
    client_id = (await create_client(api))["client_id"]
    jwks = {"keys": [public_jwk(key_a)]}
    first = await api.ok("POST", f"/clients/{client_id}/jwks", json=jwks)
    clock.advance(100)
    again = await api.ok("POST", f"/clients/{client_id}/jwks", json=jwks)
    assert again["keys"][0]["exp"] == first["keys"][0]["exp"] + 100
    assert again["created"] == first["created"]
    assert again["last_updated"] == iso(clock.now)


async def test_delete_one_key_and_all_keys(api: Api, key_a: RSAKey, key_b: RSAKey) -> None:
    client_id = await client_with_keys(api, key_a, key_b)
    assert_error(await api("DELETE", f"/clients/{client_id}/jwks/key-c"), 404, "key-c")
    response = await api("DELETE", f"/clients/{client_id}/jwks/key-a")
    assert (response.status_code, response.content) == (200, b"")
    remaining = await api.ok("GET", f"/clients/{client_id}/jwks")
    assert [k["kid"] for k in remaining["keys"]] == ["key-b"]
    response = await api("DELETE", f"/clients/{client_id}/jwks")
    assert (response.status_code, response.content) == (200, b"")
    assert_error(await api("GET", f"/clients/{client_id}/jwks"), 404)


# -- the client at Maskinporten's token endpoint ------------------------------------------------


async def test_created_client_gets_tokens_with_its_key(
    http: httpx.AsyncClient, api: Api, clock: Clock, key_a: RSAKey, key_b: RSAKey
) -> None:
    client_id = await client_with_keys(api, key_a)
    response = await mp_token(http, key_a, clock, client_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == SCOPE
    claims = jwt.decode(
        body["access_token"],
        RSAKey.import_key((await http.get("/maskinporten/jwk")).json()["keys"][0]),
    ).claims
    assert claims["client_id"] == client_id
    assert claims["consumer"] == {"authority": "iso6523-actorid-upis", "ID": f"0192:{DIGDIR}"}
    assert claims["client_amr"] == "private_key_jwt"
    # Only its scopes, only its keys.
    assert_mp_error(
        await mp_token(http, key_a, clock, client_id, scope=WRITE_SCOPE),
        status=400,
        error="invalid_scope",
        code="MP-200",
        text=WRITE_SCOPE,
    )
    wrong_key = RSAKey.import_key({**key_b.as_dict(private=True), "kid": "key-a"})
    assert_mp_error(
        await mp_token(http, wrong_key, clock, client_id),
        status=400,
        error="invalid_grant",
        code="MP-124",
        text="Invalid JWT signature",
    )


async def test_put_changes_the_scopes_maskinporten_grants(
    http: httpx.AsyncClient, api: Api, clock: Clock, key_a: RSAKey
) -> None:
    client_id = await client_with_keys(api, key_a)
    await api.ok("PUT", f"/clients/{client_id}", json=client_body(scopes=[WRITE_SCOPE]))
    assert (await mp_token(http, key_a, clock, client_id, scope=WRITE_SCOPE)).status_code == 200
    response = await mp_token(http, key_a, clock, client_id, scope=SCOPE)
    assert_mp_error(response, status=400, error="invalid_scope", code="MP-200", text=SCOPE)


async def test_removed_key_is_mp_121(
    http: httpx.AsyncClient, api: Api, clock: Clock, key_a: RSAKey, key_b: RSAKey
) -> None:
    client_id = await client_with_keys(api, key_a, key_b)
    await api.ok("DELETE", f"/clients/{client_id}/jwks/key-a")
    assert_expired(await mp_token(http, key_a, clock, client_id))
    assert (await mp_token(http, key_b, clock, client_id)).status_code == 200
    await api.ok("DELETE", f"/clients/{client_id}/jwks")
    assert_expired(await mp_token(http, key_b, clock, client_id))


async def test_key_past_its_exp_is_mp_121(
    http: httpx.AsyncClient, api: Api, clock: Clock, key_a: RSAKey, key_b: RSAKey
) -> None:
    client_id = (await create_client(api))["client_id"]
    soon, later = int(clock.now) + 600, int(clock.now) + 7200
    jwks = {"keys": [public_jwk(key_a, exp=soon), public_jwk(key_b, exp=later)]}
    await api.ok("POST", f"/clients/{client_id}/jwks", json=jwks)
    clock.advance(601)
    assert_mp_error(
        await mp_token(http, key_a, clock, client_id),
        status=400,
        error="invalid_grant",
        code="MP-121",
        text="Expired key.",
    )
    assert (await mp_token(http, key_b, clock, client_id)).status_code == 200


async def test_rotation_without_downtime(
    http: httpx.AsyncClient, api: Api, clock: Clock, key_a: RSAKey, key_b: RSAKey
) -> None:
    client_id = await client_with_keys(api, key_a)
    current = (await api.ok("GET", f"/clients/{client_id}/jwks"))["keys"]
    # Step 2 of NAV's and OSL's rotation: the new key with the existing ones, their exp kept.
    both = {"keys": [public_jwk(key_b), *current]}
    await api.ok("POST", f"/clients/{client_id}/jwks", json=both)
    assert (await mp_token(http, key_a, clock, client_id)).status_code == 200
    assert (await mp_token(http, key_b, clock, client_id)).status_code == 200
    await api.ok("POST", f"/clients/{client_id}/jwks", json={"keys": [public_jwk(key_b)]})
    assert (await mp_token(http, key_b, clock, client_id)).status_code == 200
    assert_mp_error(
        await mp_token(http, key_a, clock, client_id),
        status=400,
        error="invalid_grant",
        code="MP-121",
        text="Expired key.",
    )


async def test_keys_reach_maskinporten_after_the_propagation_delay(
    clock: Clock, admin_key: RSAKey, key_a: RSAKey, key_b: RSAKey
) -> None:
    emulator = Emulator(clock=clock, selfservice_propagation_delay=120)
    seed_admins(emulator, admin_key)
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=emulator.base_url
    ) as http:
        api = Api(http, await admin_token(http, admin_key, clock))
        client_id = await client_with_keys(api, key_a)
        # The API shows the new set at once; Maskinporten does not know it yet.
        assert (await api.ok("GET", f"/clients/{client_id}/jwks"))["keys"][0]["kid"] == "key-a"
        assert (await mp_token(http, key_a, clock, client_id)).status_code == 400
        clock.advance(119)
        assert (await mp_token(http, key_a, clock, client_id)).status_code == 400
        clock.advance(1)
        assert (await mp_token(http, key_a, clock, client_id)).status_code == 200
        # A removed key keeps working until the removal has propagated.
        await api.ok("POST", f"/clients/{client_id}/jwks", json={"keys": [public_jwk(key_b)]})
        assert (await mp_token(http, key_a, clock, client_id)).status_code == 200
        assert (await mp_token(http, key_b, clock, client_id)).status_code == 400
        emulator.selfservice_propagation_delay = 0  # changes already made keep their time
        clock.advance(120)
        assert (await mp_token(http, key_b, clock, client_id)).status_code == 200
        assert (await mp_token(http, key_a, clock, client_id)).status_code == 400


def test_propagation_delay_is_checked() -> None:
    with pytest.raises(ValueError, match="0 to 120"):
        Emulator(selfservice_propagation_delay=-1)
    emulator = Emulator()
    assert emulator.selfservice_propagation_delay == 0
    with pytest.raises(ValueError, match="0 to 120"):
        emulator.selfservice_propagation_delay = 121
    emulator.selfservice_propagation_delay = 30
    assert emulator.selfservice_propagation_delay == 30


@pytest.fixture
def trusting(emu: Emulator, ca: CertificateAuthority) -> Emulator:
    """The emulator, trusting the test CA's enterprise certificates."""
    emu.trust_certificate_authority(ca)
    return emu


async def test_client_with_keys_refuses_x5c(
    trusting: Emulator, api: Api, clock: Clock, enterprise_cert: IssuedCertificate, key_a: RSAKey
) -> None:
    http = api.http
    client_id = (await create_client(api))["client_id"]

    def certificate_grant() -> str:
        return make_grant(
            certificate_key(enterprise_cert),
            clock.now,
            header=x5c_header(enterprise_cert),
            iss=client_id,
            scope=SCOPE,
        )

    # No keys yet: the enterprise certificate authenticates the client.
    assert (await request_token(http, certificate_grant())).status_code == 200
    await api.ok("POST", f"/clients/{client_id}/jwks", json={"keys": [public_jwk(key_a)]})
    assert_mp_error(
        await request_token(http, certificate_grant()),
        status=400,
        error="invalid_grant",
        code=None,
        text="requires pre-registered jwk",
    )


async def test_seeded_client_scopes_are_trusted(
    emu: Emulator, http: httpx.AsyncClient, clock: Clock, key_a: RSAKey
) -> None:
    emu.add_maskinporten_client(
        "seeded", org_number=OTHER, scopes=["unregistered:scope"], jwks=[key_a.as_dict()]
    )
    response = await mp_token(http, key_a, clock, "seeded", scope="unregistered:scope")
    assert response.status_code == 200


async def test_grant_follows_the_scope_registry(
    emu: Emulator, http: httpx.AsyncClient, provider: Api, clock: Clock, key_a: RSAKey
) -> None:
    # A seeded client with registered scopes: the registry decides at the token endpoint.
    emu.add_api_scope("provider:mp", owner_org=PROVIDER, allowed_integration_types=["idporten"])
    emu.add_maskinporten_client(
        "seeded",
        org_number=DIGDIR,
        scopes=[SCOPE, "provider:mp"],
        jwks=[key_a.as_dict(private=False)],
    )
    assert (await mp_token(http, key_a, clock, "seeded")).status_code == 200
    assert_mp_error(
        await mp_token(http, key_a, clock, "seeded", scope="provider:mp"),
        status=400,
        error="invalid_scope",
        code="MP-201",
        text="provider:mp",
    )
    await provider.ok("DELETE", f"/scopes/access/{DIGDIR}?scope={SCOPE}")
    assert_mp_error(
        await mp_token(http, key_a, clock, "seeded"),
        status=403,
        error="access_denied",
        code="MP-250",
        text=f"Consumer has not been granted access to the scope {SCOPE}",
    )
    await provider.ok("PUT", f"/scopes/access/{DIGDIR}?scope={SCOPE}")
    assert (await mp_token(http, key_a, clock, "seeded")).status_code == 200
    await provider.ok("DELETE", f"/scopes?scope={SCOPE}")
    assert_mp_error(
        await mp_token(http, key_a, clock, "seeded"),
        status=400,
        error="invalid_scope",
        code="MP-200",
        text=SCOPE,
    )


async def test_registered_at_max_age_caps_the_token(
    emu: Emulator, http: httpx.AsyncClient, api: Api, clock: Clock, key_a: RSAKey
) -> None:
    emu.add_api_scope("provider:short", owner_org=PROVIDER, accessible_for_all=True, at_max_age=30)
    client_id = await client_with_keys(api, key_a, scopes=[SCOPE, "provider:short"])
    assert (await mp_token(http, key_a, clock, client_id)).json()["expires_in"] == 120
    both = await mp_token(http, key_a, clock, client_id, scope=f"{SCOPE} provider:short")
    assert both.json()["expires_in"] == 30


# -- the scopes API ----------------------------------------------------------------------------


async def test_create_scope(provider: Api, clock: Clock) -> None:
    body = {
        "name": "",
        "prefix": "provider",
        "subscope": "documents.read",
        "description": "Read documents",
        "description#en": "Read documents",
        "at_max_age": 30,
        "allowed_integration_types": ["maskinporten"],
        "token_type": "SELF_CONTAINED",
        "visibility": "PRIVATE",
        "requires_user_consent": False,
        "accessible_for_all": False,
        "active": True,
    }
    created = await provider.ok("POST", "/scopes", json=body)
    assert created["name"] == "provider:documents.read"
    assert created["owner_orgno"] == PROVIDER
    assert created["active"] is True
    assert created["created"] == created["last_updated"] == iso(clock.now)
    assert created["visibility"] == "PRIVATE"
    assert created["at_max_age"] == 30
    assert created["description#en"] == "Read documents"
    assert created["allowed_integration_types"] == ["maskinporten"]
    assert created["authorization_max_lifetime"] == 0
    fetched = await provider.ok("GET", "/scopes/scope?scope=provider:documents.read")
    assert fetched == created


async def test_scope_prefix_must_be_the_org_s(api: Api, provider: Api, emu: Emulator) -> None:
    body = {"prefix": "provider", "subscope": "x", "description": "x"}
    assert_error(await api("POST", "/scopes", json=body), 403, "Prefix provider")
    assert_error(await api("POST", "/scopes", json={**body, "prefix": "nobody"}), 403)
    emu.add_scope_prefix(DIGDIR, "digdir")
    await api.ok("POST", "/scopes", json={**body, "prefix": "digdir"})
    assert await api.ok("GET", "/prefix") == ["digdir"]
    assert await provider.ok("GET", "/prefix") == ["provider"]


async def test_invalid_scope_is_400(provider: Api) -> None:
    for body, field in (
        ({"prefix": "provider", "subscope": "x"}, "description"),
        ({"prefix": "provider", "description": "x"}, "subscope"),
        ({"prefix": "provider", "subscope": "a//b", "description": "x"}, "subscope"),
        (
            {"prefix": "provider", "subscope": "x", "description": "x", "visibility": "x"},
            "visibility",
        ),
        (
            {"prefix": "provider", "subscope": "x", "description": "x", "at_max_age": -1},
            "at_max_age",
        ),
        (
            {
                "prefix": "provider",
                "subscope": "x",
                "description": "x",
                "allowed_integration_types": ["saml"],
            },
            "allowed_integration_types",
        ),
        (
            {
                "prefix": "provider",
                "subscope": "x",
                "description": "x",
                "delegation_source": "https://elsewhere.example/",
            },
            "delegation_source",
        ),
    ):
        errors = field_errors(assert_error(await provider("POST", "/scopes", json=body), 400))
        assert field in errors


async def test_duplicate_scope_is_409(provider: Api) -> None:
    body = {"prefix": "provider", "subscope": "api/read", "description": "again"}
    assert_error(await provider("POST", "/scopes", json=body), 409, "already exists")
    await provider.ok("DELETE", f"/scopes?scope={SCOPE}")
    assert_error(await provider("POST", "/scopes", json=body), 409, "deactivated")


async def test_deactivate_and_reactivate(provider: Api, clock: Clock) -> None:
    clock.advance(10)
    deleted = await provider.ok("DELETE", f"/scopes?scope={SCOPE}")
    assert deleted["active"] is False
    assert deleted["last_updated"] == iso(clock.now)
    listed = [s["name"] for s in await provider.ok("GET", "/scopes")]
    assert listed == [WRITE_SCOPE]
    with_inactive = [s["name"] for s in await provider.ok("GET", "/scopes?inactive=true")]
    assert with_inactive == [SCOPE, WRITE_SCOPE]
    # The accesses stay.
    access = await provider.ok("GET", f"/scopes/access?scope={SCOPE}")
    assert [a["state"] for a in access] == ["APPROVED"]
    body = {**deleted, "active": True}
    reactivated = await provider.ok("PUT", f"/scopes?scope={SCOPE}", json=body)
    assert reactivated["active"] is True


async def test_put_scope(provider: Api) -> None:
    current = await provider.ok("GET", f"/scopes/scope?scope={SCOPE}")
    changed = await provider.ok(
        "PUT", f"/scopes?scope={SCOPE}", json={**current, "description": "New", "at_max_age": 60}
    )
    assert (changed["description"], changed["at_max_age"]) == ("New", 60)
    renamed = {**current, "subscope": "api/other"}
    response = await provider("PUT", f"/scopes?scope={SCOPE}", json=renamed)
    assert "subscope" in field_errors(assert_error(response, 400, "cannot change"))


async def test_another_orgs_scope_is_403_and_unknown_is_404(api: Api, provider: Api) -> None:
    assert_error(await api("GET", f"/scopes/scope?scope={SCOPE}"), 403, "another organization")
    assert_error(await api("DELETE", f"/scopes?scope={SCOPE}"), 403)
    assert_error(await api("PUT", f"/scopes/access/{OTHER}?scope={SCOPE}"), 403)
    assert_error(await api("GET", f"/scopes/access?scope={SCOPE}"), 403)
    assert_error(await provider("GET", "/scopes/scope?scope=provider:nope"), 404)
    assert_error(await provider("DELETE", "/scopes"), 400, "scope is required")
    assert await api.ok("GET", "/scopes") == []


async def test_scope_parameter_is_url_decoded(provider: Api) -> None:
    fetched = await provider.ok("GET", "/scopes/scope?scope=provider%3Aapi%2Fread")
    assert fetched["name"] == SCOPE
    listed = await provider.ok("GET", "/scopes?scope=provider%3Aapi%2Fwrite")
    assert [s["name"] for s in listed] == [WRITE_SCOPE]


async def test_scopes_all_is_public_and_filtered(emu: Emulator, http: httpx.AsyncClient) -> None:
    emu.add_api_scope("provider:hidden", owner_org=PROVIDER, visibility="PRIVATE")
    emu.add_api_scope("provider:open", owner_org=PROVIDER, accessible_for_all=True)
    emu.add_api_scope("provider:login", owner_org=PROVIDER, allowed_integration_types=["idporten"])
    emu.add_api_scope("provider:gone", owner_org=PROVIDER, active=False)
    emu.add_api_scope(
        "provider:delegable", owner_org=PROVIDER, delegation_source="http://altinn.localhost/"
    )
    public = Api(http, None)

    async def names(query: str = "") -> list[str]:
        return [s["name"] for s in await public.ok("GET", f"/scopes/all{query}")]

    everything = await names()
    assert "provider:hidden" not in everything
    assert "provider:gone" not in everything
    assert {SCOPE, "provider:open", "provider:login", "provider:delegable"} <= set(everything)
    assert await names("?accessible_for_all=true") == ["provider:open"]
    assert "provider:login" not in await names("?integration_type=MASKINPORTEN")
    assert "provider:login" in await names("?integration_type=idporten")
    assert "provider:gone" in await names("?inactive=true")
    assert await names("?delegated_sources=true") == ["provider:delegable"]


async def test_access_lifecycle(provider: Api, api: Api, clock: Clock) -> None:
    path = f"/scopes/access/{OTHER}?scope={SCOPE}"
    granted = await provider.ok("PUT", path)
    assert granted == {
        "scope": SCOPE,
        "state": "APPROVED",
        "prefix": None,
        "created": iso(clock.now),
        "consumer_orgno": OTHER,
        "last_updated": iso(clock.now),
        "owner_orgno": PROVIDER,
    }
    clock.advance(5)
    assert await provider.ok("PUT", path) == granted  # idempotent
    denied = await provider.ok("DELETE", path)
    assert denied["state"] == "DENIED"
    assert denied["last_updated"] == iso(clock.now)
    listed = await provider.ok("GET", f"/scopes/access?scope={SCOPE}")
    assert {(a["consumer_orgno"], a["state"]) for a in listed} == {
        (DIGDIR, "APPROVED"),
        (OTHER, "DENIED"),
    }
    again = await provider.ok("PUT", path)
    assert (again["state"], again["created"]) == ("APPROVED", granted["created"])
    received = await api.ok("GET", "/scopes/access/all")
    assert sorted(a["scope"] for a in received) == [SCOPE, WRITE_SCOPE]
    assert all(a["consumer_orgno"] == DIGDIR for a in received)
    assert_error(await provider("DELETE", f"/scopes/access/{DIGDIR}?scope=provider:nope"), 404)
    assert_error(await provider("DELETE", f"/scopes/access/991825827?scope={WRITE_SCOPE}x"), 404)


async def test_access_for_an_invalid_orgno_is_400(emu: Emulator, provider: Api) -> None:
    for orgno in ("12345678", "abcdefghi", "123456789"):  # 123456789 fails the check digit
        response = await provider("PUT", f"/scopes/access/{orgno}?scope={SCOPE}")
        assert_error(response, 400, "Invalid consumer organization number")
    emu.add_organization("123456789", name="Known to the emulator")
    await provider.ok("PUT", f"/scopes/access/123456789?scope={SCOPE}")


async def test_access_all_filters(emu: Emulator, api: Api) -> None:
    emu.add_api_scope("provider:login", owner_org=PROVIDER, allowed_integration_types=["idporten"])
    emu.grant_scope_access("provider:login", DIGDIR)
    emu.add_api_scope("provider:gone", owner_org=PROVIDER, active=False)
    emu.grant_scope_access("provider:gone", DIGDIR)

    async def names(query: str) -> set[str]:
        return {a["scope"] for a in await api.ok("GET", f"/scopes/access/all{query}")}

    assert await names("") == {SCOPE, WRITE_SCOPE, "provider:login", "provider:gone"}
    assert await names("?integration_type=maskinporten&inactive=false") == {SCOPE, WRITE_SCOPE}


async def test_empty_lists(api: Api, other: Api) -> None:
    assert await other.ok("GET", "/prefix") == []
    assert await other.ok("GET", "/scopes") == []
    assert await other.ok("GET", "/scopes/access/all") == []


async def test_empty_lists_as_errors_behind_the_flag(clock: Clock, admin_key: RSAKey) -> None:
    emulator = Emulator(clock=clock, selfservice_empty_list_errors=True)
    seed_admins(emulator, admin_key)
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=emulator.base_url
    ) as http:
        other = Api(http, await admin_token(http, admin_key, clock, "other-admin"))
        for path, what in (
            ("/prefix", "prefixes"),
            ("/scopes", "scopes"),
            ("/scopes/access/all", "accesses"),
        ):
            assert_error(await other("GET", path), 404, f"{OTHER} does not have any {what}")
        assert_error(await Api(http, None)("GET", "/scopes/all?delegated_sources=true"), 404)
        # Lists that are not empty are lists.
        assert await listed(other) == []


async def test_delegation_sources_are_public(http: httpx.AsyncClient, clock: Clock) -> None:
    (source,) = await Api(http, None).ok("GET", "/delegationsources")
    assert source == {
        "name": "altinn",
        "issuer": "http://altinn.localhost/",
        "last_updated": iso(clock.now),
        "created": iso(clock.now),
    }


async def test_scope_seeding_is_checked(emu: Emulator) -> None:
    with pytest.raises(ValueError, match="prefix:subscope"):
        emu.add_api_scope("noprefix", owner_org=PROVIDER)
    with pytest.raises(ValueError, match="already belongs"):
        emu.add_api_scope("provider:mine", owner_org=DIGDIR)
    with pytest.raises(ValueError, match="already belongs"):
        emu.add_scope_prefix(DIGDIR, "provider")
    with pytest.raises(ValueError, match="visibility"):
        emu.add_api_scope("provider:v", owner_org=PROVIDER, visibility="SECRET")
    with pytest.raises(ValueError, match="integration types"):
        emu.add_api_scope("provider:t", owner_org=PROVIDER, allowed_integration_types=["x"])
    with pytest.raises(KeyError, match="add_api_scope"):
        emu.grant_scope_access("provider:unknown", DIGDIR)
    with pytest.raises(ValueError, match="9-digit"):
        emu.grant_scope_access(SCOPE, "123")


# -- end to end ---------------------------------------------------------------------------------


async def test_provider_and_consumer_end_to_end(
    emu: Emulator, provider: Api, other: Api, clock: Clock, key_a: RSAKey
) -> None:
    """The provider creates a scope and gives OTHER access; OTHER creates a client with it,
    posts a key and gets a token; the provider takes the access away and the token endpoint
    says no."""
    http = other.http
    body = {"prefix": "provider", "subscope": "e2e", "description": "End to end"}
    await provider.ok("POST", "/scopes", json=body)
    scope = "provider:e2e"
    response = await other("POST", "/clients", json=client_body(scopes=[scope]))
    assert_error(response, 400, "not been granted access")
    await provider.ok("PUT", f"/scopes/access/{OTHER}?scope={scope}")
    created = await other.ok("POST", "/clients", json=client_body(scopes=[scope]))
    client_id = created["client_id"]
    await other.ok("POST", f"/clients/{client_id}/jwks", json={"keys": [public_jwk(key_a)]})
    token = await mp_token(http, key_a, clock, client_id, scope=scope)
    assert token.status_code == 200, token.text
    await provider.ok("DELETE", f"/scopes/access/{OTHER}?scope={scope}")
    assert (await mp_token(http, key_a, clock, client_id, scope=scope)).status_code == 403
    assert [c["client_id"] for c in await listed(other)] == [client_id]
    assert emu.requests["selfservice.jwks"] == 1
