"""The emulated Maskinporten: metadata, JWKS, and every grant rule (refused and accepted)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from joserfc import jws, jwt
from joserfc.jwk import OctKey, RSAKey
from joserfc.registry import HeaderParameter, is_str

from altinn_async.testing import CertificateAuthority, Emulator, IssuedCertificate

from .conftest import (
    CLIENT_ID,
    DIGDIR,
    ISSUER,
    JWT_BEARER,
    READ,
    WRITE,
    Clock,
    assert_mp_error,
    certificate_key,
    make_grant,
    request_token,
    x5c_header,
)
from .conftest import systemuser_details as shared_systemuser_details

SUPPLIER = "910753614"
CUSTOMER = "310000001"


def decode_token(emu_jwks: dict[str, Any], token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify an access token against the published JWKS; return header and claims."""
    header = jws.extract_compact(token.encode()).headers()
    (jwk,) = [k for k in emu_jwks["keys"] if k["kid"] == header["kid"]]
    decoded = jwt.decode(token, RSAKey.import_key(jwk), algorithms=["RS256"])
    return dict(decoded.header), dict(decoded.claims)


async def issue(
    http: httpx.AsyncClient, assertion: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    response = await request_token(http, assertion)
    assert response.status_code == 200, response.text
    body = response.json()
    jwks = (await http.get("/maskinporten/jwk")).json()
    header, claims = decode_token(jwks, body["access_token"])
    return body, header, claims


# -- metadata and keys -------------------------------------------------------------------------


async def test_metadata_has_the_maskinporten_shape(http: httpx.AsyncClient) -> None:
    response = await http.get("/maskinporten/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.json() == {
        "authorization_details_types_supported": ["urn:altinn:systemuser", "urn:altinn:consent"],
        "grant_types_supported": [JWT_BEARER],
        "issuer": ISSUER,
        "jwks_uri": "http://altinn.localhost/maskinporten/jwk",
        "token_endpoint": "http://altinn.localhost/maskinporten/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "RS512"],
    }


async def test_metadata_follows_the_request_origin(emu: Emulator) -> None:
    async with httpx.AsyncClient(
        transport=emu.transport(), base_url="http://127.0.0.1:8123"
    ) as http:
        document = (await http.get("/maskinporten/.well-known/oauth-authorization-server")).json()
    assert document["issuer"] == "http://127.0.0.1:8123/maskinporten/"
    assert document["token_endpoint"] == "http://127.0.0.1:8123/maskinporten/token"


async def test_jwk_publishes_one_rs256_public_key(http: httpx.AsyncClient) -> None:
    document = (await http.get("/maskinporten/jwk")).json()
    (key,) = document["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert key["kid"]
    assert "d" not in key
    assert "p" not in key


# -- the request itself --------------------------------------------------------------------------


async def test_valid_grant_gets_a_bearer_token(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    body, header, claims = await issue(http, make_grant(client_key, clock.now, scope=READ))
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 120
    assert body["scope"] == READ
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert header["alg"] == "RS256"
    assert "typ" not in header
    assert claims["iss"] == ISSUER
    assert claims["client_id"] == CLIENT_ID
    assert claims["client_amr"] == "private_key_jwt"
    assert claims["consumer"] == {"authority": "iso6523-actorid-upis", "ID": f"0192:{DIGDIR}"}
    assert claims["scope"] == READ
    assert claims["token_type"] == "Bearer"
    assert claims["aud"] == "unspecified"
    assert claims["iat"] == int(clock.now)
    assert claims["exp"] == int(clock.now) + 120
    assert len(claims["jti"]) >= 20
    assert "supplier" not in claims


async def test_token_response_is_not_cached(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    response = await request_token(http, make_grant(client_key, clock.now))
    assert response.headers["cache-control"] == "no-store"


async def test_json_body_is_refused(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    response = await http.post(
        "/maskinporten/token",
        json={"grant_type": JWT_BEARER, "assertion": make_grant(client_key, clock.now)},
    )
    assert_mp_error(
        response,
        status=400,
        error="invalid_request",
        code=None,
        text="application/x-www-form-urlencoded",
    )


async def test_other_grant_type_is_unsupported(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    response = await request_token(
        http, make_grant(client_key, clock.now), grant_type="client_credentials"
    )
    assert_mp_error(
        response, status=400, error="unsupported_grant_type", code=None, text="client_credentials"
    )


async def test_missing_assertion_is_invalid_request(http: httpx.AsyncClient) -> None:
    response = await http.post("/maskinporten/token", data={"grant_type": JWT_BEARER})
    assert_mp_error(response, status=400, error="invalid_request", code=None, text="assertion")


async def test_garbage_assertion_is_mp_011(http: httpx.AsyncClient) -> None:
    response = await request_token(http, "not.a.jwt")
    assert_mp_error(
        response,
        status=400,
        error="invalid_request",
        code="MP-011",
        text="Invalid assertion. Invalid parameter value",
    )


async def test_get_on_token_endpoint_is_405(http: httpx.AsyncClient) -> None:
    response = await http.get("/maskinporten/token")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


# -- client and key --------------------------------------------------------------------------


async def test_unknown_client_is_mp_100(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    response = await request_token(http, make_grant(client_key, clock.now, iss="nobody"))
    assert_mp_error(
        response,
        status=400,
        error="invalid_grant",
        code="MP-100",
        text="Invalid assertion. Client authentication failed.",
    )


async def test_wrong_key_is_mp_124(
    http: httpx.AsyncClient, other_key: RSAKey, clock: Clock
) -> None:
    # Same kid as the registered key, different key material.
    response = await request_token(http, make_grant(other_key, clock.now))
    assert_mp_error(
        response, status=400, error="invalid_grant", code="MP-124", text="Invalid JWT signature"
    )


async def test_unknown_kid_is_mp_124(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    grant = make_grant(client_key, clock.now, header={"alg": "RS256", "kid": "other-kid"})
    response = await request_token(http, grant)
    assert_mp_error(
        response, status=400, error="invalid_grant", code="MP-124", text="Invalid JWT signature"
    )


async def test_hmac_algorithm_is_refused(http: httpx.AsyncClient, clock: Clock) -> None:
    secret = OctKey.import_key(b"x" * 64)
    grant = jwt.encode(
        {"alg": "HS256", "kid": "key-1"},
        {"aud": ISSUER, "iss": CLIENT_ID, "iat": int(clock.now), "exp": int(clock.now) + 60},
        secret,
        algorithms=["HS256"],
    )
    response = await request_token(http, grant)
    assert_mp_error(response, status=400, error="invalid_grant", code="MP-124", text="signature")


@pytest.mark.parametrize("alg", ["RS384", "RS512"])
async def test_other_rsa_algorithms_are_accepted(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, alg: str
) -> None:
    grant = make_grant(client_key, clock.now, header={"alg": alg, "kid": "key-1"})
    assert (await request_token(http, grant)).status_code == 200


async def test_registered_key_client_without_kid_is_refused(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    grant = make_grant(client_key, clock.now, header={"alg": "RS256"})
    response = await request_token(http, grant)
    assert_mp_error(
        response,
        status=400,
        error="invalid_grant",
        code=None,
        text=(
            "Invalid assertion. Client authentication failed. Invalid JWT. The client requires "
            "pre-registered jwk and no key identifier (kid) provided"
        ),
    )


async def test_expired_registered_key_is_mp_121(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_maskinporten_client(
        "old-key",
        org_number=DIGDIR,
        scopes=[READ],
        jwks=[client_key.as_dict(private=False)],
        key_expires_at=clock.now - 1,
    )
    response = await request_token(http, make_grant(client_key, clock.now, iss="old-key"))
    assert_mp_error(
        response,
        status=400,
        error="invalid_grant",
        code="MP-121",
        text="Invalid assertion. Client authentication failed. Expired key.",
    )


async def test_key_before_its_expiry_is_accepted(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_maskinporten_client(
        "fresh-key",
        org_number=DIGDIR,
        scopes=[READ],
        jwks=[client_key.as_dict(private=False)],
        key_expires_at=clock.now + 3600,
    )
    response = await request_token(http, make_grant(client_key, clock.now, iss="fresh-key"))
    assert response.status_code == 200


# -- enterprise certificates (x5c) -----------------------------------------------------------


@pytest.fixture
def cert_emu(emu: Emulator, ca: CertificateAuthority) -> Emulator:
    emu.add_maskinporten_client("cert-client", org_number=DIGDIR, scopes=[READ])
    emu.trust_certificate_authority(ca.root)
    return emu


async def test_x5c_chain_grant_is_accepted(
    cert_emu: Emulator,
    http: httpx.AsyncClient,
    enterprise_cert: IssuedCertificate,
    clock: Clock,
) -> None:
    grant = make_grant(
        certificate_key(enterprise_cert),
        clock.now,
        header=x5c_header(enterprise_cert),
        iss="cert-client",
    )
    _, _, claims = await issue(http, grant)
    assert claims["client_amr"] == "virksomhetssertifikat"
    assert claims["consumer"]["ID"] == f"0192:{DIGDIR}"


async def test_x5c_as_string_is_mp_123(
    cert_emu: Emulator,
    http: httpx.AsyncClient,
    enterprise_cert: IssuedCertificate,
    clock: Clock,
) -> None:
    der = enterprise_cert.certificate.public_bytes(serialization.Encoding.DER)
    # joserfc refuses a string x5c by default; this registry lets the test send one anyway.
    registry = jws.JWSRegistry(header_registry={"x5c": HeaderParameter("x5c", is_str)})
    claims = {
        "aud": ISSUER,
        "iss": "cert-client",
        "iat": int(clock.now),
        "exp": int(clock.now) + 60,
        "scope": READ,
    }
    grant = jws.serialize_compact(
        {"alg": "RS256", "x5c": base64.b64encode(der).decode()},
        json.dumps(claims),
        certificate_key(enterprise_cert),
        registry=registry,
    )
    response = await request_token(http, grant)
    assert_mp_error(
        response, status=400, error="invalid_grant", code="MP-123", text="Invalid JWT header x5c"
    )


async def test_x5c_with_bad_base64_is_mp_123(
    cert_emu: Emulator,
    http: httpx.AsyncClient,
    enterprise_cert: IssuedCertificate,
    clock: Clock,
) -> None:
    grant = make_grant(
        certificate_key(enterprise_cert),
        clock.now,
        header={"alg": "RS256", "x5c": ["%%%not base64%%%"]},
        iss="cert-client",
    )
    response = await request_token(http, grant)
    assert_mp_error(response, status=400, error="invalid_grant", code="MP-123", text="x5c")


async def test_certificate_client_without_any_key_reference_is_mp_123(
    cert_emu: Emulator,
    http: httpx.AsyncClient,
    enterprise_cert: IssuedCertificate,
    clock: Clock,
) -> None:
    grant = make_grant(
        certificate_key(enterprise_cert), clock.now, header={"alg": "RS256"}, iss="cert-client"
    )
    response = await request_token(http, grant)
    assert_mp_error(response, status=400, error="invalid_grant", code="MP-123", text="x5c")


async def test_untrusted_ca_is_mp_120(
    cert_emu: Emulator, http: httpx.AsyncClient, clock: Clock
) -> None:
    stranger = CertificateAuthority("Stranger CA").issue_enterprise_certificate(DIGDIR)
    grant = make_grant(
        certificate_key(stranger), clock.now, header=x5c_header(stranger), iss="cert-client"
    )
    response = await request_token(http, grant)
    assert_mp_error(
        response,
        status=400,
        error="invalid_grant",
        code="MP-120",
        text="The JWT is signed with an invalid certificate.",
    )


async def test_expired_certificate_is_mp_120(
    cert_emu: Emulator, http: httpx.AsyncClient, ca: CertificateAuthority, clock: Clock
) -> None:
    now = dt.datetime.fromtimestamp(clock.now, dt.UTC)
    expired = ca.issue_enterprise_certificate(
        DIGDIR, not_before=now - dt.timedelta(days=30), not_after=now - dt.timedelta(days=1)
    )
    grant = make_grant(
        certificate_key(expired), clock.now, header=x5c_header(expired), iss="cert-client"
    )
    response = await request_token(http, grant)
    assert_mp_error(response, status=400, error="invalid_grant", code="MP-120", text="certificate")


async def test_leaf_only_x5c_needs_the_issuing_ca_trusted(
    cert_emu: Emulator,
    http: httpx.AsyncClient,
    ca: CertificateAuthority,
    enterprise_cert: IssuedCertificate,
    clock: Clock,
) -> None:
    def leaf_only() -> str:
        return make_grant(
            certificate_key(enterprise_cert),
            clock.now,
            header=x5c_header(enterprise_cert, chain=False),
            iss="cert-client",
        )

    # Only the root is trusted: the leaf alone cannot be chained to it.
    response = await request_token(http, leaf_only())
    assert_mp_error(response, status=400, error="invalid_grant", code="MP-120", text="certificate")
    # Trusting the whole CA (root and intermediate), the leaf alone is enough.
    cert_emu.trust_certificate_authority(ca)
    assert (await request_token(http, leaf_only())).status_code == 200


async def test_certificate_of_another_org_is_mp_122(
    cert_emu: Emulator, http: httpx.AsyncClient, ca: CertificateAuthority, clock: Clock
) -> None:
    other = ca.issue_enterprise_certificate("974760673")
    grant = make_grant(
        certificate_key(other), clock.now, header=x5c_header(other), iss="cert-client"
    )
    response = await request_token(http, grant)
    assert_mp_error(
        response,
        status=400,
        error="invalid_grant",
        code="MP-122",
        text="Invalid organization number for client. Does not match certificate orgno",
    )


async def test_x5c_signed_with_another_key_is_mp_124(
    cert_emu: Emulator,
    http: httpx.AsyncClient,
    enterprise_cert: IssuedCertificate,
    other_key: RSAKey,
    clock: Clock,
) -> None:
    grant = make_grant(other_key, clock.now, header=x5c_header(enterprise_cert), iss="cert-client")
    response = await request_token(http, grant)
    assert_mp_error(response, status=400, error="invalid_grant", code="MP-124", text="signature")


async def test_registered_key_client_refuses_x5c(
    emu: Emulator,
    http: httpx.AsyncClient,
    ca: CertificateAuthority,
    enterprise_cert: IssuedCertificate,
    clock: Clock,
) -> None:
    emu.trust_certificate_authority(ca)
    emu.add_maskinporten_client(
        "strict", org_number=DIGDIR, scopes=[READ], requires_registered_key=True
    )
    grant = make_grant(
        certificate_key(enterprise_cert),
        clock.now,
        header=x5c_header(enterprise_cert),
        iss="strict",
    )
    response = await request_token(http, grant)
    assert_mp_error(
        response,
        status=400,
        error="invalid_grant",
        code=None,
        text="requires pre-registered jwk and no key identifier (kid) provided",
    )


# -- claims ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "aud",
    ["http://altinn.localhost/maskinporten", "https://maskinporten.no/", "", ["a", "b"]],
)
async def test_wrong_audience_is_mp_110(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, aud: Any
) -> None:
    response = await request_token(http, make_grant(client_key, clock.now, aud=aud))
    assert_mp_error(
        response,
        status=400,
        error="invalid_grant",
        code="MP-110",
        text="Invalid assertion. Client authentication failed. Invalid JWT claim aud",
    )


async def test_audience_as_one_element_array_is_accepted(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    response = await request_token(http, make_grant(client_key, clock.now, aud=[ISSUER]))
    assert response.status_code == 200


@pytest.mark.parametrize("lifetime", [120, 121, 180])
async def test_grant_living_up_to_180_seconds_is_accepted(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, lifetime: int
) -> None:
    # The documentation says 120 s; the server enforces 180 s (maxLifetimeJwt).
    grant = make_grant(client_key, clock.now, exp=int(clock.now) + lifetime)
    assert (await request_token(http, grant)).status_code == 200


async def test_grant_living_longer_than_180_seconds_is_invalid_grant(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    grant = make_grant(client_key, clock.now, exp=int(clock.now) + 181)
    response = await request_token(http, grant)
    assert_mp_error(
        response, status=400, error="invalid_grant", code=None, text="JWT has too long lifetime"
    )


async def test_lifetime_is_measured_between_iat_and_exp(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    # Skew-free: a grant from a clock 5 s behind, living 181 s, is still too long.
    iat = int(clock.now) - 5
    grant = make_grant(client_key, clock.now, iat=iat, exp=iat + 181)
    response = await request_token(http, grant)
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("missing", ["iat", "exp"])
async def test_grant_without_iat_or_exp_is_mp_011(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, missing: str
) -> None:
    response = await request_token(http, make_grant(client_key, clock.now, drop=[missing]))
    assert_mp_error(response, status=400, error="invalid_request", code="MP-011", text="Invalid")


async def test_expired_grant_is_mp_130(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    grant = make_grant(client_key, clock.now)
    clock.advance(60 + 11)
    response = await request_token(http, grant)
    assert_mp_error(
        response, status=400, error="invalid_grant", code="MP-130", text="JWT is expired"
    )


@pytest.mark.parametrize("behind", [0, 10])
async def test_grant_up_to_10_seconds_past_its_exp_is_accepted(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, behind: int
) -> None:
    grant = make_grant(client_key, clock.now)
    clock.advance(60 + behind)
    assert (await request_token(http, grant)).status_code == 200


async def test_grant_issued_in_the_future_is_refused(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    grant = make_grant(client_key, clock.now + 11)
    response = await request_token(http, grant)
    assert_mp_error(
        response, status=400, error="invalid_grant", code=None, text="Issue time is after now"
    )


@pytest.mark.parametrize("ahead", [9, 10])
async def test_grant_issued_slightly_in_the_future_is_accepted(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, ahead: int
) -> None:
    grant = make_grant(client_key, clock.now + ahead)
    assert (await request_token(http, grant)).status_code == 200


async def test_grant_issued_long_ago_is_expired(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    # A grant made long ago (with a lifetime it may have) is past its exp and the skew.
    grant = make_grant(
        client_key, clock.now, iat=int(clock.now) - 131, exp=int(clock.now) - 131 + 120
    )
    response = await request_token(http, grant)
    assert_mp_error(response, status=400, error="invalid_grant", code="MP-130", text="expired")


async def test_reused_jti_is_mp_012(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    first = make_grant(client_key, clock.now, jti="same")
    assert (await request_token(http, first)).status_code == 200
    again = make_grant(client_key, clock.now + 1, jti="same")
    response = await request_token(http, again)
    assert_mp_error(
        response, status=400, error="invalid_grant", code="MP-012", text="Grant is used before"
    )


async def test_jti_is_forgotten_after_the_grant_expires(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    assert (
        await request_token(http, make_grant(client_key, clock.now, jti="j"))
    ).status_code == 200
    clock.advance(200)
    assert (
        await request_token(http, make_grant(client_key, clock.now, jti="j"))
    ).status_code == 200


async def test_grant_without_jti_cannot_be_replayed(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    grant = make_grant(client_key, clock.now, drop=["jti"])
    assert (await request_token(http, grant)).status_code == 200
    response = await request_token(http, grant)
    assert_mp_error(response, status=400, error="invalid_grant", code="MP-012", text="used before")


async def test_pid_is_echoed(http: httpx.AsyncClient, client_key: RSAKey, clock: Clock) -> None:
    _, _, claims = await issue(http, make_grant(client_key, clock.now, pid="01010112345"))
    assert claims["pid"] == "01010112345"


# -- scopes ----------------------------------------------------------------------------------


async def test_scope_not_on_client_is_mp_200(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    grant = make_grant(client_key, clock.now, scope=f"{READ} altinn:events.subscribe")
    response = await request_token(http, grant)
    assert_mp_error(
        response,
        status=400,
        error="invalid_scope",
        code="MP-200",
        text="Token request contains invalid scopes for client: altinn:events.subscribe",
    )


async def test_missing_scope_is_mp_200(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    response = await request_token(http, make_grant(client_key, clock.now, drop=["scope"]))
    assert_mp_error(response, status=400, error="invalid_scope", code="MP-200", text="scopes")


async def test_scope_not_for_maskinporten_is_mp_201(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_scope("test:scope", maskinporten=False)
    response = await request_token(http, make_grant(client_key, clock.now, scope="test:scope"))
    assert_mp_error(
        response,
        status=400,
        error="invalid_scope",
        code="MP-201",
        text="Token request contains scopes not allowed for maskinporten: test:scope",
    )


async def test_several_scopes_are_granted_together(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    body, _, claims = await issue(http, make_grant(client_key, clock.now, scope=f"{READ}  {WRITE}"))
    assert body["scope"] == f"{READ} {WRITE}"
    assert claims["scope"] == f"{READ} {WRITE}"


async def test_lowest_at_max_age_caps_expires_in(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_scope(READ, at_max_age=100)
    emu.add_scope(WRITE, at_max_age=60)
    body, _, claims = await issue(http, make_grant(client_key, clock.now, scope=f"{READ} {WRITE}"))
    assert body["expires_in"] == 60
    assert claims["exp"] - claims["iat"] == 60


async def test_token_lifetime_is_configurable(client_key: RSAKey, clock: Clock) -> None:
    emu = Emulator(clock=clock, maskinporten_token_lifetime=30)
    emu.add_maskinporten_client(
        CLIENT_ID, org_number=DIGDIR, scopes=[READ], jwks=[client_key.as_dict(private=False)]
    )
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        body, _, _ = await issue(http, make_grant(client_key, clock.now))
    assert body["expires_in"] == 30


# -- resource --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "aud"),
    [
        ("https://tt02.altinn.no/", "https://tt02.altinn.no/"),
        (["https://api.example/"], "https://api.example/"),
        (
            ["https://a.example/", "https://b.example/"],
            ["https://a.example/", "https://b.example/"],
        ),
    ],
)
async def test_resource_becomes_the_token_audience(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, resource: Any, aud: Any
) -> None:
    _, _, claims = await issue(http, make_grant(client_key, clock.now, resource=resource))
    assert claims["aud"] == aud


@pytest.mark.parametrize("resource", [42, [], [1], ""])
async def test_malformed_resource_is_mp_011(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, resource: Any
) -> None:
    response = await request_token(http, make_grant(client_key, clock.now, resource=resource))
    assert_mp_error(response, status=400, error="invalid_request", code="MP-011", text="Invalid")


# -- delegation (consumer_org) -----------------------------------------------------------------


@pytest.fixture
def supplier(emu: Emulator, client_key: RSAKey) -> Emulator:
    emu.add_maskinporten_client(
        "supplier",
        org_number=SUPPLIER,
        scopes=["test:scope"],
        jwks=[client_key.as_dict(private=False)],
    )
    return emu


async def test_delegated_scope_gives_a_customer_token(
    supplier: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    supplier.add_delegation(consumer_org=CUSTOMER, supplier_org=SUPPLIER, scope="test:scope")
    grant = make_grant(
        client_key, clock.now, iss="supplier", scope="test:scope", consumer_org=CUSTOMER
    )
    _, _, claims = await issue(http, grant)
    assert claims["consumer"] == {"authority": "iso6523-actorid-upis", "ID": f"0192:{CUSTOMER}"}
    assert claims["supplier"] == {"authority": "iso6523-actorid-upis", "ID": f"0192:{SUPPLIER}"}
    assert claims["delegation_source"] == "http://altinn.localhost/"


async def test_missing_delegation_is_403_mp_251(
    supplier: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    supplier.add_delegation(consumer_org=CUSTOMER, supplier_org=SUPPLIER, scope="other:scope")
    grant = make_grant(
        client_key, clock.now, iss="supplier", scope="test:scope", consumer_org=CUSTOMER
    )
    response = await request_token(http, grant)
    assert_mp_error(
        response,
        status=403,
        error="access_denied",
        code="MP-251",
        text=(
            f"Consumer {CUSTOMER} has not delegated access to the scope test:scope "
            f"to supplier {SUPPLIER}"
        ),
    )


async def test_consumer_org_equal_to_own_org_is_refused(
    supplier: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    grant = make_grant(
        client_key, clock.now, iss="supplier", scope="test:scope", consumer_org=SUPPLIER
    )
    response = await request_token(http, grant)
    assert_mp_error(
        response,
        status=400,
        error="invalid_request",
        code=None,
        text="The combination consumer_org in claim and delegation scope on client is invalid",
    )


# -- system users (authorization_details) ------------------------------------------------------


def systemuser_details(org: str = CUSTOMER, **extra: Any) -> list[dict[str, Any]]:
    return shared_systemuser_details(org, **extra)


async def test_system_user_token_names_the_system_user(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    user_id = emu.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMER, system_id="sys_1")
    grant = make_grant(client_key, clock.now, authorization_details=systemuser_details())
    _, _, claims = await issue(http, grant)
    (entry,) = claims["authorization_details"]
    assert entry["type"] == "urn:altinn:systemuser"
    assert entry["systemuser_org"] == {
        "authority": "iso6523-actorid-upis",
        "ID": f"0192:{CUSTOMER}",
    }
    assert entry["systemuser_id"] == [user_id]
    assert entry["system_id"] == "sys_1"
    # The vendor stays the consumer; the customer is in systemuser_org.
    assert claims["consumer"]["ID"] == f"0192:{DIGDIR}"


async def test_system_user_with_lowercase_id_and_external_ref(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    user_id = emu.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMER, external_ref="r1")
    details = [
        {
            "type": "urn:altinn:systemuser",
            "systemuser_org": {"authority": "iso6523-actorid-upis", "id": f"0192:{CUSTOMER}"},
            "externalRef": "r1",
        }
    ]
    _, _, claims = await issue(
        http, make_grant(client_key, clock.now, authorization_details=details)
    )
    assert claims["authorization_details"][0]["systemuser_id"] == [user_id]


async def test_unknown_details_type_is_mp_301(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    grant = make_grant(client_key, clock.now, authorization_details=[{"type": "urn:example:other"}])
    response = await request_token(http, grant)
    assert_mp_error(
        response,
        status=400,
        error="invalid_authorization_details",
        code="MP-301",
        text="urn:example:other",
    )


async def test_unknown_details_field_is_mp_302(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMER)
    grant = make_grant(
        client_key, clock.now, authorization_details=systemuser_details(color="blue")
    )
    response = await request_token(http, grant)
    assert_mp_error(
        response, status=400, error="invalid_authorization_details", code="MP-302", text="color"
    )


@pytest.mark.parametrize(
    "details",
    [
        systemuser_details(org="12345"),
        [{"type": "urn:altinn:systemuser"}],
        [{"type": "urn:altinn:systemuser", "systemuser_org": {"authority": "x", "ID": "0192:1"}}],
        systemuser_details(org="999999999"),
        [*systemuser_details(), *systemuser_details()],
    ],
    ids=["bad-orgno", "no-org", "bad-authority", "no-system-user", "two-orgs"],
)
async def test_invalid_details_values_are_mp_303(
    emu: Emulator,
    http: httpx.AsyncClient,
    client_key: RSAKey,
    clock: Clock,
    details: list[dict[str, Any]],
) -> None:
    emu.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMER)
    response = await request_token(
        http, make_grant(client_key, clock.now, authorization_details=details)
    )
    assert_mp_error(
        response,
        status=400,
        error="invalid_authorization_details",
        code="MP-303",
        text="Invalid authorization details values",
    )


async def test_system_user_of_another_client_is_mp_303(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_system_user(client_id="someone-else", customer_org=CUSTOMER)
    grant = make_grant(client_key, clock.now, authorization_details=systemuser_details())
    response = await request_token(http, grant)
    assert_mp_error(
        response, status=400, error="invalid_authorization_details", code="MP-303", text="system"
    )


@pytest.mark.parametrize("details", ["urn:altinn:systemuser", {"type": "x"}, [], ["x"]])
async def test_details_must_be_an_array_of_objects(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, details: Any
) -> None:
    response = await request_token(
        http, make_grant(client_key, clock.now, authorization_details=details)
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_authorization_details"
