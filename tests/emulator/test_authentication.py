"""The emulated Altinn authentication: exchange (Maskinporten and ID-porten), refresh, OpenID
configuration and JWKS; and what an exchanged end-user token may do in Storage."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from joserfc import jws, jwt
from joserfc.jwk import RSAKey

from altinn_async.testing import DEFAULT_PID, Emulator

from .conftest import (
    ALTINN_SCOPE,
    CLIENT_ID,
    DIGDIR,
    EXCHANGE,
    IDP,
    READ,
    WRITE,
    Clock,
    add_idporten_clients,
    idporten_tokens,
    maskinporten_token,
    systemuser_details,
)

API = "/platform/authentication/api/v1"
ALTINN_ISSUER = "http://altinn.localhost/platform/authentication/api/v1/openid/"
TTD = "405003309"


async def altinn_key(http: httpx.AsyncClient) -> RSAKey:
    """The Altinn signing key, taken from the JWKS's x5c certificate (as clients should)."""
    (jwk,) = (await http.get(f"{API}/openid/.well-known/openid-configuration/jwks")).json()["keys"]
    certificate = x509.load_der_x509_certificate(base64.b64decode(jwk["x5c"][0]))
    return RSAKey.import_key(certificate.public_key())  # type: ignore[arg-type]


async def decode_altinn(
    http: httpx.AsyncClient, token: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    decoded = jwt.decode(token, await altinn_key(http), algorithms=["RS256"])
    return dict(decoded.header), dict(decoded.claims)


async def exchange(
    http: httpx.AsyncClient, token: str, *, path: str = EXCHANGE, **headers: str
) -> httpx.Response:
    return await http.get(path, headers={"Authorization": f"Bearer {token}", **headers})


def assert_problem(response: httpx.Response, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json; charset=utf-8"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"] == title
    assert body["traceId"].startswith("00-")
    return body


# -- exchange ----------------------------------------------------------------------------------


async def test_exchange_returns_a_raw_jwt_as_text(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now, scope=f"{READ} {WRITE}")
    response = await exchange(http, token)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    header, claims = await decode_altinn(http, response.text)
    assert header["alg"] == "RS256"
    assert header["typ"] == "JWT"
    assert claims["iss"] == ALTINN_ISSUER
    assert claims["urn:altinn:org"] == "digdir"
    assert claims["urn:altinn:orgNumber"] == DIGDIR
    assert claims["urn:altinn:authenticatemethod"] == "maskinporten"
    assert claims["urn:altinn:authlevel"] == 3
    assert claims["scope"] == f"{READ} {WRITE}"
    assert claims["client_id"] == CLIENT_ID
    assert claims["consumer"] == {"authority": "iso6523-actorid-upis", "ID": f"0192:{DIGDIR}"}
    assert claims["token_type"] == "Bearer"
    assert claims["iat"] == claims["nbf"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 1800
    assert len(claims["sid"]) == 36
    for dropped in ("aud", "client_amr"):
        assert dropped not in claims


async def test_exchange_keeps_the_maskinporten_jti(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    mp_claims = json.loads(jws.extract_compact(token.encode()).payload)
    _, claims = await decode_altinn(http, (await exchange(http, token)).text)
    assert claims["jti"] == mp_claims["jti"]


async def test_exchange_keeps_the_system_user_as_dotnet_writes_it(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    user_id = emu.add_system_user(client_id=CLIENT_ID, customer_org="310000001")
    details = systemuser_details("310000001")
    token = await maskinporten_token(
        http, client_key, clock.now, scope="test:scope", authorization_details=details
    )
    (entry,) = json.loads(jws.extract_compact(token.encode()).payload)["authorization_details"]
    _, claims = await decode_altinn(http, (await exchange(http, token)).text)
    # A one-value claim goes back into the token as the value: the entry, not a list of it.
    assert claims["authorization_details"] == entry
    assert entry["systemuser_id"] == [user_id]
    assert "urn:altinn:org" not in claims
    assert claims["urn:altinn:orgNumber"] == DIGDIR


@pytest.mark.parametrize(
    "accept",
    ["application/json", "application/hal+json", "application/problem+json", "text/json"],
)
async def test_exchange_returns_a_json_string_for_json_accept(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, accept: str
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    response = await exchange(http, token, Accept=accept)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.text.startswith('"ey')
    await decode_altinn(http, response.json())


@pytest.mark.parametrize(
    "accept", ["*/*", "text/plain", "application/json, */*", "application/xml", "text/*"]
)
async def test_exchange_returns_text_otherwise(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, accept: str
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    response = await exchange(http, token, Accept=accept)
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text.startswith("ey")


@pytest.mark.parametrize("provider", ["Maskinporten", "MASKINPORTEN"])
async def test_provider_is_case_insensitive(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, provider: str
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    response = await exchange(http, token, path=f"{API}/exchange/{provider}")
    assert response.status_code == 200


async def test_unknown_provider_is_400_text(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    response = await exchange(http, token, path=f"{API}/exchange/feide")
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == (
        "Invalid token provider: feide. Trusted token providers are 'Maskinporten', "
        "'Id-porten' and 'AltinnStudio'."
    )


async def test_unknown_provider_without_token_is_401(http: httpx.AsyncClient) -> None:
    # The controller reads the token before it looks at the provider.
    assert_problem(await http.get(f"{API}/exchange/feide"), 401, "Unauthorized")


async def test_missing_bearer_is_401_problem(http: httpx.AsyncClient) -> None:
    body = assert_problem(await http.get(EXCHANGE), 401, "Unauthorized")
    assert body["type"] == "https://tools.ietf.org/html/rfc9110#section-15.5.2"


async def test_basic_authorization_is_401(http: httpx.AsyncClient) -> None:
    response = await http.get(EXCHANGE, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_problem(response, 401, "Unauthorized")


async def test_unreadable_bearer_is_401(http: httpx.AsyncClient) -> None:
    assert_problem(await exchange(http, "garbage"), 401, "Unauthorized")


async def test_token_signed_by_someone_else_is_401(
    http: httpx.AsyncClient, other_key: RSAKey, clock: Clock
) -> None:
    forged = jwt.encode(
        {"alg": "RS256", "kid": "key-1"},
        {
            "iss": "http://altinn.localhost/maskinporten/",
            "exp": int(clock.now) + 100,
            "iat": int(clock.now),
            "scope": READ,
            "consumer": {"authority": "iso6523-actorid-upis", "ID": f"0192:{DIGDIR}"},
        },
        other_key,
    )
    assert_problem(await exchange(http, forged), 401, "Unauthorized")


async def test_expired_maskinporten_token_is_401(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    clock.advance(120 + 9)
    assert (await exchange(http, token)).status_code == 200  # within the 10 s clock skew
    clock.advance(2)
    assert_problem(await exchange(http, token), 401, "Unauthorized")


async def test_token_from_another_origin_is_401(
    emu: Emulator, client_key: RSAKey, clock: Clock
) -> None:
    async with httpx.AsyncClient(transport=emu.transport(), base_url="http://127.0.0.1:9") as other:
        from .conftest import make_grant, request_token  # noqa: PLC0415

        grant = make_grant(client_key, clock.now, aud="http://127.0.0.1:9/maskinporten/")
        token = (await request_token(other, grant)).json()["access_token"]
        assert (await exchange(other, token)).status_code == 200
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        assert_problem(await exchange(http, token), 401, "Unauthorized")


async def test_altinn_token_is_not_a_maskinporten_token(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    altinn = (await exchange(http, token)).text
    assert_problem(await exchange(http, altinn), 401, "Unauthorized")


@pytest.mark.parametrize("provider", ["id-porten", "altinnstudio", "ID-PORTEN"])
async def test_other_providers_refuse_maskinporten_tokens(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, provider: str
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    assert_problem(
        await exchange(http, token, path=f"{API}/exchange/{provider}"), 401, "Unauthorized"
    )


async def test_enterprise_user_header_is_410(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    response = await exchange(
        http, token, **{"X-Altinn-EnterpriseUser-Authentication": "dXNlcjpwYXNz"}
    )
    body = assert_problem(response, 410, "Virksomhetsbruker is no longer available")
    assert body["type"] == "https://docs.altinn.studio"
    assert "Systembruker" in body["detail"]


async def test_enterprise_user_header_with_bad_token_is_still_401(http: httpx.AsyncClient) -> None:
    response = await exchange(
        http, "garbage", **{"X-Altinn-EnterpriseUser-Authentication": "dXNlcjpwYXNz"}
    )
    assert_problem(response, 401, "Unauthorized")


async def test_no_org_claim_without_serviceowner_scope(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now, scope="test:scope")
    _, claims = await decode_altinn(http, (await exchange(http, token)).text)
    assert "urn:altinn:org" not in claims
    assert claims["urn:altinn:orgNumber"] == DIGDIR


async def test_no_org_claim_for_an_org_that_is_no_service_owner(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_maskinporten_client(
        "vendor", org_number="910753614", scopes=[READ], jwks=[client_key.as_dict(private=False)]
    )
    token = await maskinporten_token(http, client_key, clock.now, iss="vendor")
    _, claims = await decode_altinn(http, (await exchange(http, token)).text)
    assert "urn:altinn:org" not in claims
    assert claims["urn:altinn:orgNumber"] == "910753614"


async def test_added_service_owner_gets_its_org_code(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_service_owner("brg", "974760673")
    emu.add_maskinporten_client(
        "brg-client",
        org_number="974760673",
        scopes=[READ],
        jwks=[client_key.as_dict(private=False)],
    )
    token = await maskinporten_token(http, client_key, clock.now, iss="brg-client")
    _, claims = await decode_altinn(http, (await exchange(http, token)).text)
    assert claims["urn:altinn:org"] == "brg"


async def test_test_flag_maps_digdir_to_ttd(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    response = await exchange(http, token, path=f"{EXCHANGE}?test=true")
    _, claims = await decode_altinn(http, response.text)
    assert claims["urn:altinn:org"] == "ttd"
    assert claims["urn:altinn:orgNumber"] == DIGDIR


async def test_test_flag_does_not_change_other_orgs(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_maskinporten_client(
        "ttd-client", org_number=TTD, scopes=[READ], jwks=[client_key.as_dict(private=False)]
    )
    token = await maskinporten_token(http, client_key, clock.now, iss="ttd-client")
    _, claims = await decode_altinn(
        http, (await exchange(http, token, path=f"{EXCHANGE}?test=true")).text
    )
    assert claims["urn:altinn:org"] == "ttd"
    assert claims["urn:altinn:orgNumber"] == TTD


async def test_supplier_token_maps_the_customer(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_maskinporten_client(
        "supplier", org_number="910753614", scopes=[], jwks=[client_key.as_dict(private=False)]
    )
    emu.add_delegation(consumer_org=DIGDIR, supplier_org="910753614", scope=READ)
    token = await maskinporten_token(
        http, client_key, clock.now, iss="supplier", consumer_org=DIGDIR
    )
    _, claims = await decode_altinn(http, (await exchange(http, token)).text)
    assert claims["urn:altinn:org"] == "digdir"
    assert claims["supplier"]["ID"] == "0192:910753614"


async def test_altinn_token_lifetime_is_configurable(client_key: RSAKey, clock: Clock) -> None:
    emu = Emulator(clock=clock, altinn_token_lifetime=60)
    emu.add_maskinporten_client(
        CLIENT_ID, org_number=DIGDIR, scopes=[READ], jwks=[client_key.as_dict(private=False)]
    )
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        token = await maskinporten_token(http, client_key, clock.now)
        _, claims = await decode_altinn(http, (await exchange(http, token)).text)
    assert claims["exp"] - claims["iat"] == 60


# -- refresh -----------------------------------------------------------------------------------


async def test_refresh_with_bearer(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    altinn = (await exchange(http, token)).text
    clock.advance(600)
    response = await http.get(f"{API}/refresh", headers={"Authorization": f"Bearer {altinn}"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    _, old = await decode_altinn(http, altinn)
    _, new = await decode_altinn(http, response.text)
    assert new["exp"] == int(clock.now) + 1800
    assert new["iat"] == int(clock.now)
    for claim in ("urn:altinn:org", "urn:altinn:orgNumber", "scope", "sid", "consumer"):
        assert new[claim] == old[claim]


async def test_refresh_with_cookie_and_json_accept(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    altinn = (await exchange(http, token)).text
    response = await http.get(
        f"{API}/refresh",
        headers={"Cookie": f"other=1; AltinnStudioRuntime={altinn}", "Accept": "application/json"},
    )
    assert response.status_code == 200
    await decode_altinn(http, response.json())


async def test_refresh_without_token_is_401(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{API}/refresh")
    assert response.status_code == 401
    assert response.content == b""


async def test_refresh_of_expired_token_is_401(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    altinn = (await exchange(http, token)).text
    clock.advance(1800 + 11)
    response = await http.get(f"{API}/refresh", headers={"Authorization": f"Bearer {altinn}"})
    assert response.status_code == 401


async def test_refresh_refuses_a_maskinporten_token(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await maskinporten_token(http, client_key, clock.now)
    response = await http.get(f"{API}/refresh", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


# -- discovery ---------------------------------------------------------------------------------


async def test_openid_configuration(http: httpx.AsyncClient) -> None:
    response = await http.get(f"{API}/openid/.well-known/openid-configuration")
    assert response.status_code == 200
    assert response.json() == {
        "issuer": ALTINN_ISSUER,
        "jwks_uri": f"{ALTINN_ISSUER}.well-known/openid-configuration/jwks",
        "authorization_endpoint": "http://altinn.localhost/platform/authentication/api/v1/authorize/",
        "token_endpoint": "http://altinn.localhost/platform/authentication/api/v1/token/",
        "end_session_endpoint": f"{ALTINN_ISSUER}logout/",
        "response_types_supported": ["token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


async def test_jwks_has_thumbprint_kid_x5c_and_standard_base64(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    response = await http.get(f"{API}/openid/.well-known/openid-configuration/jwks")
    (jwk,) = response.json()["keys"]
    assert set(jwk) == {"kty", "use", "kid", "e", "n", "x5c"}
    certificate = x509.load_der_x509_certificate(base64.b64decode(jwk["x5c"][0]))
    assert jwk["kid"] == certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
    assert jwk["e"] == "AQAB"
    # Altinn writes n with Convert.ToBase64String: standard alphabet, padded.
    assert jwk["n"].endswith("=")
    modulus = int.from_bytes(base64.b64decode(jwk["n"]), "big")
    assert modulus == certificate.public_key().public_numbers().n  # type: ignore[union-attr]
    token = await maskinporten_token(http, client_key, clock.now)
    header, _ = await decode_altinn(http, (await exchange(http, token)).text)
    assert header["kid"] == jwk["kid"]
    x5t = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA1())).rstrip(b"=")  # noqa: S303
    assert header["x5t"] == x5t.decode()


# -- the ID-porten exchange ----------------------------------------------------------------------

IDPORTEN_EXCHANGE = f"{API}/exchange/id-porten"
OWN_INSTANCES = "/platform/storage/api/v1/instances"


async def idporten_access_token(
    emu: Emulator, http: httpx.AsyncClient, key: RSAKey, now: float, **params: str
) -> str:
    add_idporten_clients(emu, key)
    return str((await idporten_tokens(emu, http, key, now, **params))["access_token"])


def idporten_signed(emu: Emulator, clock: Clock, **claims: Any) -> str:
    """An ID-porten token made with the emulator's own ID-porten key, for claim shapes the
    emulated ID-porten never issues (old acr values, amr on an access token, missing claims)."""
    body: dict[str, Any] = {
        "sub": "pairwise",
        "acr": "idporten-loa-substantial",
        "scope": ALTINN_SCOPE,
        "iss": IDP,
        "pid": DEFAULT_PID,
        "exp": int(clock.now) + 120,
        "iat": int(clock.now),
        "jti": "a-jti",
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return emu._idporten.tokens.key.sign(body)


async def test_idporten_exchange_maps_the_claims(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    token = await idporten_access_token(emu, http, idp_key, clock.now)
    incoming = json.loads(jws.extract_compact(token.encode()).payload)
    clock.advance(30)
    response = await exchange(http, token, path=IDPORTEN_EXCHANGE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    header, claims = await decode_altinn(http, response.text)
    assert header["alg"] == "RS256"
    person = emu.person()
    assert list(claims)[:7] == [
        "nameid",
        "urn:altinn:userid",
        "urn:altinn:username",
        "urn:altinn:partyid",
        "urn:altinn:party:uuid",
        "urn:altinn:authenticatemethod",
        "urn:altinn:authlevel",
    ]
    assert claims["nameid"] == claims["urn:altinn:userid"] == "20000011"
    assert claims["urn:altinn:username"] == ""
    assert claims["urn:altinn:partyid"] == 50002119
    assert claims["urn:altinn:party:uuid"] == person.party_uuid
    # ID-porten access tokens carry no amr.
    assert claims["urn:altinn:authenticatemethod"] == "NotDefined"
    assert claims["urn:altinn:authlevel"] == 3
    for kept in ("acr", "scope", "client_amr", "pid", "jti", "client_id", "consumer"):
        assert claims[kept] == incoming[kept]
    assert "sub" not in claims
    assert "aud" not in claims
    assert claims["iss"] == ALTINN_ISSUER
    assert len(claims["sid"]) == 36
    # The Altinn token ends when the ID-porten token does.
    assert claims["exp"] == incoming["exp"]
    assert claims["iat"] == claims["nbf"] == int(clock.now)
    assert emu.requests["authentication.exchange"] == 1


async def test_idporten_exchange_of_a_high_level_login(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    token = await idporten_access_token(
        emu, http, idp_key, clock.now, acr_values="idporten-loa-high"
    )
    response = await exchange(
        http, token, path=f"{API}/exchange/ID-Porten", Accept="application/json"
    )
    _, claims = await decode_altinn(http, response.json())
    assert claims["urn:altinn:authlevel"] == 4


@pytest.mark.parametrize(
    ("acr", "level"), [("idporten-loa-low", 0), ("Level3", 3), ("Level4", 4), ("odd", 0)]
)
async def test_idporten_exchange_maps_acr_to_authlevel(
    emu: Emulator, http: httpx.AsyncClient, clock: Clock, acr: str, level: int
) -> None:
    token = idporten_signed(emu, clock, acr=acr, amr=["Minid-PIN"])
    _, claims = await decode_altinn(
        http, (await exchange(http, token, path=IDPORTEN_EXCHANGE)).text
    )
    assert claims["urn:altinn:authlevel"] == level
    assert claims["urn:altinn:authenticatemethod"] == "Minid-PIN"
    assert claims["amr"] == "Minid-PIN"  # .NET writes a one-value claim as a string


async def test_idporten_exchange_needs_an_altinn_scope(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    token = await idporten_access_token(emu, http, idp_key, clock.now, scope="openid profile")
    response = await exchange(http, token, path=IDPORTEN_EXCHANGE)
    assert response.status_code == 403
    assert response.content == b""
    emu.add_partner_scope("profile")
    assert (await exchange(http, token, path=IDPORTEN_EXCHANGE)).status_code == 200


async def test_idporten_exchange_refuses_an_id_token(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    add_idporten_clients(emu, idp_key)
    tokens = await idporten_tokens(emu, http, idp_key, clock.now)
    # The scope check comes first in Altinn, and an id_token has no scope.
    assert (await exchange(http, tokens["id_token"], path=IDPORTEN_EXCHANGE)).status_code == 403


async def test_idporten_exchange_needs_a_person_in_the_register(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    token = await idporten_access_token(emu, http, idp_key, clock.now, pid="21879498012")
    assert_problem(await exchange(http, token, path=IDPORTEN_EXCHANGE), 401, "Unauthorized")
    emu.add_person("21879498012", party_id=50003000, user_id=20003000, username="kari")
    _, claims = await decode_altinn(
        http, (await exchange(http, token, path=IDPORTEN_EXCHANGE)).text
    )
    assert claims["urn:altinn:partyid"] == 50003000
    assert claims["urn:altinn:username"] == "kari"


@pytest.mark.parametrize("missing", ["pid", "acr"])
async def test_idporten_exchange_needs_pid_and_acr(
    emu: Emulator, http: httpx.AsyncClient, clock: Clock, missing: str
) -> None:
    token = idporten_signed(emu, clock, **{missing: None})
    assert_problem(await exchange(http, token, path=IDPORTEN_EXCHANGE), 401, "Unauthorized")


async def test_idporten_exchange_checks_lifetime_issuer_and_signature(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, other_key: RSAKey, clock: Clock
) -> None:
    token = await idporten_access_token(emu, http, idp_key, clock.now)
    other_origin = idporten_signed(emu, clock, iss="http://127.0.0.1:9/idporten")
    assert_problem(await exchange(http, other_origin, path=IDPORTEN_EXCHANGE), 401, "Unauthorized")
    forged = jwt.encode(
        {"alg": "RS256", "kid": emu._idporten.tokens.key.kid},
        json.loads(jws.extract_compact(token.encode()).payload),
        other_key,
    )
    assert_problem(await exchange(http, forged, path=IDPORTEN_EXCHANGE), 401, "Unauthorized")
    # A Maskinporten-style exchange of an ID-porten token fails the other way round as well.
    assert_problem(await exchange(http, token), 401, "Unauthorized")
    clock.advance(120 + 10)
    assert (await exchange(http, token, path=IDPORTEN_EXCHANGE)).status_code == 200
    clock.advance(1)
    assert_problem(await exchange(http, token, path=IDPORTEN_EXCHANGE), 401, "Unauthorized")


async def test_end_user_token_reads_own_instances_in_storage(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    party = emu.person().party_id
    own = emu.add_instance("ttd", "app", party_id=party, data=b"<a/>")
    other = emu.add_instance("ttd", "app", party_id=50009999)
    token = await idporten_access_token(emu, http, idp_key, clock.now)
    altinn = (await exchange(http, token, path=IDPORTEN_EXCHANGE)).text
    auth = {"Authorization": f"Bearer {altinn}"}

    response = await http.get(OWN_INSTANCES, params={"instanceOwner.partyId": party}, headers=auth)
    assert response.status_code == 200, response.text
    assert [i["id"] for i in response.json()["instances"]] == [own["id"]]
    # Another party's instances are filtered out by the PDP, not refused.
    response = await http.get(
        OWN_INSTANCES, params={"instanceOwner.partyId": 50009999}, headers=auth
    )
    assert response.json()["count"] == 0
    response = await http.get(OWN_INSTANCES, params={"org": "ttd"}, headers=auth)
    assert response.status_code == 400
    assert response.json() == (
        "Either InstanceOwnerPartyId or InstanceOwnerIdentifier need to be defined."
    )
    own_url = f"{OWN_INSTANCES}/{own['id']}"
    assert (await http.get(own_url, headers=auth)).status_code == 200
    data_url = own["data"][0]["selfLinks"]["platform"].removeprefix("http://altinn.localhost")
    assert (await http.get(data_url, headers=auth)).content == b"<a/>"
    assert (await http.get(f"{OWN_INSTANCES}/{other['id']}", headers=auth)).status_code == 403
    # Confirming downloads is for the app owner only.
    assert (await http.post(f"{own_url}/complete", headers=auth)).status_code == 403
    # The Altinn refresh keeps the person's claims.
    refreshed = await http.get(f"{API}/refresh", headers=auth)
    _, claims = await decode_altinn(http, refreshed.text)
    assert claims["urn:altinn:partyid"] == party
