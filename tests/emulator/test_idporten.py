"""The emulated ID-porten: discovery, /authorize with TestID, /par, /token with every client
authentication method, refresh rotation and lifetimes, /userinfo, /token/revoke and /logout."""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from typing import Any

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import RSAKey

from altinn_async.testing import DEFAULT_PID, Emulator

from .conftest import (
    ALTINN_SCOPE,
    ASSERTION_TYPE,
    BASIC,
    IDP,
    IDP_CLIENTS,
    JWT,
    LOGGED_OUT,
    POST,
    PUBLIC,
    REDIRECT,
    SECRET,
    Clock,
    Login,
    add_idporten_clients,
    callback_params,
    client_assertion,
    idp_post,
    idporten_claims,
    idporten_jwks,
    idporten_tokens,
    redeem,
)

Case = tuple[dict[str, str], str, str]
AssertionCase = tuple[dict[str, Any], tuple[str, ...], str]


def assert_oauth_error(response: httpx.Response, status: int, error: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    return str(body["error_description"])


def assert_error_page(response: httpx.Response, text: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "location" not in response.headers
    assert text in response.text


def unverified_claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = json.loads(jws.extract_compact(token.encode()).payload)
    return claims


async def refresh(
    http: httpx.AsyncClient,
    refresh_token: str,
    key: RSAKey,
    now: float,
    client_id: str = BASIC,
    **extra: str,
) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return await idp_post(http, "/token", client_id, key, now, data=data)


async def userinfo(http: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await http.get(f"{IDP}/userinfo", headers={"Authorization": f"Bearer {access_token}"})


# -- discovery ---------------------------------------------------------------------------------


async def test_discovery_document(idp: Emulator, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{IDP}/.well-known/openid-configuration")
    assert response.status_code == 200
    document = response.json()
    assert document["issuer"] == IDP
    assert document["authorization_endpoint"] == f"{IDP}/authorize"
    assert document["pushed_authorization_request_endpoint"] == f"{IDP}/par"
    assert document["token_endpoint"] == f"{IDP}/token"
    assert document["userinfo_endpoint"] == f"{IDP}/userinfo"
    assert document["jwks_uri"] == f"{IDP}/jwks.json"
    assert document["end_session_endpoint"] == f"{IDP}/logout"
    assert document["revocation_endpoint"] == f"{IDP}/token/revoke"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert set(document["token_endpoint_auth_methods_supported"]) == set(IDP_CLIENTS.values())
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert idp.requests["idporten.metadata"] == 1


def test_environment_names_the_idporten_endpoints() -> None:
    server = Emulator().environment_for("http://127.0.0.1:4321").idporten
    assert server is not None
    issuer = "http://127.0.0.1:4321/idporten"
    assert server.issuer == issuer
    assert server.authorization_endpoint == f"{issuer}/authorize"
    assert server.pushed_authorization_request_endpoint == f"{issuer}/par"
    assert server.token_endpoint == f"{issuer}/token"
    assert server.userinfo_endpoint == f"{issuer}/userinfo"
    assert server.jwks_uri == f"{issuer}/jwks.json"
    assert server.end_session_endpoint == f"{issuer}/logout"
    assert server.revocation_endpoint == f"{issuer}/token/revoke"
    assert Emulator().idporten_issuer_for() == IDP


async def test_jwks(http: httpx.AsyncClient) -> None:
    (jwk,) = (await http.get(f"{IDP}/jwks.json")).json()["keys"]
    assert set(jwk) == {"kty", "e", "use", "kid", "alg", "n"}
    assert (jwk["kty"], jwk["use"], jwk["alg"]) == ("RSA", "sig", "RS256")


# -- /authorize --------------------------------------------------------------------------------


async def test_authorize_shows_the_testid_page(idp: Emulator, http: httpx.AsyncClient) -> None:
    response = await http.get(Login().url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert 'action="/idporten/login"' in response.text
    assert f'value="{DEFAULT_PID}"' in response.text
    assert idp.requests["idporten.authorize"] == 1


@pytest.mark.parametrize(
    ("params", "error", "text"),
    [
        ({"code_challenge": "", "code_challenge_method": ""}, "invalid_request", "PKCE"),
        ({"code_challenge_method": ""}, "invalid_request", "S256"),
        ({"code_challenge_method": "plain"}, "invalid_request", "S256"),
        ({"code_challenge": "x" * 43 + "="}, "invalid_request", "no padding"),
        ({"code_challenge": "short"}, "invalid_request", "43"),
        ({"nonce": ""}, "invalid_request", "nonce"),
        ({"response_type": "token"}, "unsupported_response_type", "token"),
        ({"response_mode": "form_post"}, "invalid_request", "response_mode"),
        ({"acr_values": "idporten-loa-low"}, "invalid_request", "acr_values"),
        ({"scope": "openid altinn:serviceowner"}, "invalid_scope", "altinn:serviceowner"),
        ({"prompt": "none login"}, "invalid_request", "prompt"),
        ({"request": "eyJ.eyJ.sig"}, "request_not_supported", "Request objects"),
    ],
)
async def test_authorize_refusals_go_back_to_the_client(
    idp: Emulator, params: dict[str, str], error: str, text: str
) -> None:
    login = Login(**params)
    callback = callback_params(await idp.idporten_login(login.url))
    assert callback["error"] == error
    assert text in callback["error_description"]
    assert callback["state"] == login.state
    assert callback["iss"] == IDP
    assert "code" not in callback


async def test_authorize_without_state_is_refused(idp: Emulator) -> None:
    callback = callback_params(await idp.idporten_login(Login(state="").url))
    assert callback["error"] == "invalid_request"
    assert "state" not in callback


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://localhost:8080/other",
        "http://localhost:8080/callback/",
        "http://localhost:8080/callback?x=1",
        "",
    ],
)
async def test_unregistered_redirect_uri_is_an_error_page(
    idp: Emulator, http: httpx.AsyncClient, redirect_uri: str
) -> None:
    response = await http.get(Login(redirect_uri=redirect_uri).url)
    assert_error_page(response, "redirect_uri is not registered")
    with pytest.raises(ValueError, match="redirect_uri is not registered"):
        await idp.idporten_login(Login(redirect_uri=redirect_uri).url)


async def test_unknown_client_is_an_error_page(idp: Emulator, http: httpx.AsyncClient) -> None:
    assert_error_page(await http.get(Login("nobody").url), "Unknown client_id")


async def test_repeated_parameter_is_an_error_page(idp: Emulator, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{Login().url}&scope=openid")
    assert_error_page(response, "Duplicate parameter: scope")


async def test_deny_is_access_denied(idp: Emulator) -> None:
    login = Login()
    callback = callback_params(await idp.idporten_login(login.url, deny=True))
    assert callback["error"] == "access_denied"
    assert callback["error_description"]
    assert callback["state"] == login.state
    assert callback["iss"] == IDP


async def test_state_comes_back_encoded(idp: Emulator) -> None:
    login = Login(state="a b&c=d/ø")
    callback = callback_params(await idp.idporten_login(login.url))
    assert callback["state"] == "a b&c=d/ø"
    assert callback["iss"] == IDP
    assert len(callback["code"]) == 43


async def test_testid_form_post_logs_in(idp: Emulator, http: httpx.AsyncClient) -> None:
    page = await http.get(Login().url)
    found = re.search(r'name="transaction" value="([^"]+)"', page.text)
    assert found is not None
    form = {"transaction": found.group(1), "pid": "0101", "action": "login"}
    refused = await http.post(f"{IDP}/login", data=form)
    assert refused.status_code == 400
    assert "11-digit" in refused.text
    form["pid"] = "21879498012"
    response = await http.post(f"{IDP}/login", data=form)
    assert response.status_code == 302
    assert "code" in callback_params(response.headers["location"])
    assert response.headers["set-cookie"].startswith("idporten_sso=")
    # The page is good for one login.
    again = await http.post(f"{IDP}/login", data=form)
    assert_error_page(again, "expired or is already completed")
    assert idp.requests["idporten.login"] == 3


async def test_login_with_a_bad_pid_raises(idp: Emulator) -> None:
    with pytest.raises(ValueError, match="11-digit"):
        await idp.idporten_login(Login().url, pid="123")


async def test_sso_session_and_prompt(idp: Emulator, idp_key: RSAKey, clock: Clock) -> None:
    # A browser keeps the session cookie: the second login needs no TestID page.
    async with httpx.AsyncClient(transport=idp.transport()) as browser:
        page = await browser.get(Login().url)
        transaction = re.search(r'name="transaction" value="([^"]+)"', page.text)
        assert transaction is not None
        form = {"transaction": transaction.group(1), "pid": DEFAULT_PID, "action": "login"}
        await browser.post(f"{IDP}/login", data=form)
        second = await browser.get(Login(POST).url)
        assert second.status_code == 302
        assert "code" in callback_params(second.headers["location"])
        assert (await browser.get(Login(prompt="none").url)).status_code == 302
        assert (await browser.get(Login(prompt="login").url)).status_code == 200
        # A higher level than the session has needs a new login.
        assert (await browser.get(Login(acr_values="idporten-loa-high").url)).status_code == 200
        clock.advance(1801)  # 30 min of inactivity end the session
        assert (await browser.get(Login().url)).status_code == 200
    callback = callback_params(await idp.idporten_login(Login(prompt="none").url))
    assert callback["error"] == "login_required"


# -- the code flow -----------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", list(IDP_CLIENTS))
async def test_code_flow_with_each_client_authentication(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock, client_id: str
) -> None:
    login = Login(client_id)
    callback = callback_params(await idp.idporten_login(login.url))
    response = await redeem(http, login, callback["code"], idp_key, clock.now)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 120
    assert tokens["scope"] == f"openid profile {ALTINN_SCOPE}"
    if client_id == PUBLIC:
        assert "refresh_token" not in tokens  # refreshing needs client authentication
    else:
        assert tokens["refresh_token"].count(".") == 4  # opaque, shaped like a "dir" JWE

    now = int(clock.now)
    access = await idporten_claims(http, tokens["access_token"])
    assert list(access) == [
        "sub",
        "acr",
        "scope",
        "iss",
        "client_amr",
        "pid",
        "exp",
        "iat",
        "jti",
        "client_id",
        "consumer",
    ]
    assert access["acr"] == "idporten-loa-substantial"
    assert access["scope"] == tokens["scope"]
    assert access["iss"] == IDP
    assert access["client_amr"] == IDP_CLIENTS[client_id]
    assert access["pid"] == DEFAULT_PID
    assert (access["iat"], access["exp"]) == (now, now + 120)
    assert access["client_id"] == client_id
    assert access["consumer"] == {"authority": "iso6523-actorid-upis", "ID": "0192:991825827"}

    id_token = await idporten_claims(http, tokens["id_token"])
    assert id_token["sub"] == access["sub"]
    assert len(id_token["sub"]) == 43
    assert id_token["amr"] == ["TestID"]
    assert id_token["iss"] == IDP
    assert id_token["pid"] == DEFAULT_PID
    assert id_token["locale"] == "nb"
    assert id_token["nonce"] == login.nonce
    assert id_token["aud"] == client_id
    assert id_token["acr"] == "idporten-loa-substantial"
    assert id_token["auth_time"] == now
    assert (id_token["iat"], id_token["exp"]) == (now, now + 120)
    assert len(id_token["sid"]) == 43
    assert id_token["jti"] != access["jti"]


async def test_tokens_are_signed_with_the_published_key(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now)
    keys = await idporten_jwks(http)
    for token in (tokens["access_token"], tokens["id_token"]):
        header = jwt.decode(token, keys, algorithms=["RS256"]).header
        assert header == {"kid": keys.keys[0].kid, "alg": "RS256"}
    with pytest.raises(Exception, match="signature"):
        jwt.decode(tokens["id_token"], idp_key, algorithms=["RS256"])


async def test_subject_is_pairwise_per_client(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    first = await idporten_tokens(idp, http, idp_key, clock.now, BASIC)
    again = await idporten_tokens(idp, http, idp_key, clock.now, BASIC)
    other = await idporten_tokens(idp, http, idp_key, clock.now, POST)
    someone = await idporten_tokens(idp, http, idp_key, clock.now, BASIC, pid="21879498012")
    subjects = [unverified_claims(t["id_token"])["sub"] for t in (first, again, other, someone)]
    assert subjects[0] == subjects[1]
    assert len(set(subjects)) == 3


async def test_login_options_show_in_the_tokens(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    tokens = await idporten_tokens(
        idp,
        http,
        idp_key,
        clock.now,
        pid="21879498012",
        acr_values="idporten-loa-high idporten-loa-substantial",
        ui_locales="de en",
        scope="openid",
        resource="https://platform.altinn.no/",
    )
    access = unverified_claims(tokens["access_token"])
    id_token = unverified_claims(tokens["id_token"])
    assert access["acr"] == id_token["acr"] == "idporten-loa-high"
    assert access["pid"] == id_token["pid"] == "21879498012"
    assert access["aud"] == "https://platform.altinn.no/"
    assert access["scope"] == tokens["scope"] == "openid"
    assert id_token["locale"] == "en"


async def test_no_id_token_without_openid(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now, scope=ALTINN_SCOPE)
    assert "id_token" not in tokens
    assert tokens["scope"] == ALTINN_SCOPE


async def test_code_reuse_is_refused_and_revokes_the_grant(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    login = Login()
    code = callback_params(await idp.idporten_login(login.url))["code"]
    first = (await redeem(http, login, code, idp_key, clock.now)).json()
    replay = await redeem(http, login, code, idp_key, clock.now)
    assert "already been used" in assert_oauth_error(replay, 400, "invalid_grant")
    assert_oauth_error(
        await refresh(http, first["refresh_token"], idp_key, clock.now), 400, "invalid_grant"
    )
    assert (await userinfo(http, first["access_token"])).status_code == 401


async def test_code_expires_after_60_seconds(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    login = Login()
    code = callback_params(await idp.idporten_login(login.url))["code"]
    clock.advance(61)
    assert_oauth_error(await redeem(http, login, code, idp_key, clock.now), 400, "invalid_grant")


@pytest.mark.parametrize(
    "case",
    [
        ({"code_verifier": "A" * 43}, "invalid_grant", "PKCE"),
        ({"code_verifier": "A" * 42}, "invalid_request", "43-128"),
        ({"code_verifier": "A" * 129}, "invalid_request", "43-128"),
        ({"code_verifier": ""}, "invalid_request", "code_verifier"),
        ({"redirect_uri": "http://localhost:8080/other"}, "invalid_grant", "redirect_uri"),
        ({"redirect_uri": ""}, "invalid_request", "redirect_uri"),
        ({"code": "made-up"}, "invalid_grant", "Invalid or expired"),
    ],
)
async def test_code_redemption_refusals(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock, case: Case
) -> None:
    extra, error, text = case
    login = Login()
    code = callback_params(await idp.idporten_login(login.url))["code"]
    response = await redeem(http, login, code, idp_key, clock.now, **extra)
    assert text in assert_oauth_error(response, 400, error)


async def test_code_of_another_client_is_refused(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    login = Login(POST)
    code = callback_params(await idp.idporten_login(login.url))["code"]
    login.client_id = BASIC
    response = await redeem(http, login, code, idp_key, clock.now)
    assert "another client" in assert_oauth_error(response, 400, "invalid_grant")


async def test_unsupported_grant_type_and_content_type(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    response = await idp_post(
        http, "/token", BASIC, idp_key, clock.now, data={"grant_type": "client_credentials"}
    )
    assert_oauth_error(response, 400, "unsupported_grant_type")
    response = await http.post(f"{IDP}/token", json={"grant_type": "authorization_code"})
    assert_oauth_error(response, 400, "invalid_request")


# -- client authentication ---------------------------------------------------------------------


async def test_wrong_secret_is_invalid_client(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    login = Login()
    code = callback_params(await idp.idporten_login(login.url))["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": login.verifier,
    }
    response = await http.post(f"{IDP}/token", data=data, auth=(BASIC, "wrong"))
    assert_oauth_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")
    # The secret in the body, for a client registered for HTTP Basic: the wrong method.
    response = await http.post(
        f"{IDP}/token", data={**data, "client_id": BASIC, "client_secret": SECRET}
    )
    assert "not allowed" in assert_oauth_error(response, 401, "invalid_client")
    # Both at once.
    response = await http.post(
        f"{IDP}/token", data={**data, "client_secret": SECRET}, auth=(BASIC, SECRET)
    )
    assert_oauth_error(response, 400, "invalid_request")
    # The code is still good after all that.
    response = await http.post(f"{IDP}/token", data=data, auth=(BASIC, SECRET))
    assert response.status_code == 200


async def test_a_confidential_client_must_authenticate(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    login = Login(POST)
    code = callback_params(await idp.idporten_login(login.url))["code"]
    response = await http.post(
        f"{IDP}/token",
        data={
            "grant_type": "authorization_code",
            "client_id": POST,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": login.verifier,
        },
    )
    assert_oauth_error(response, 401, "invalid_client")


async def test_basic_credentials_are_form_encoded(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    emu.add_idporten_client("c:1", redirect_uris=[REDIRECT], client_secret="p+ss:wörd")
    login = Login("c:1", scope="openid")
    code = callback_params(await emu.idporten_login(login.url))["code"]
    credentials = f"{urllib.parse.quote_plus('c:1')}:{urllib.parse.quote_plus('p+ss:wörd')}"
    raw = base64.b64encode(credentials.encode()).decode()
    response = await http.post(
        f"{IDP}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": login.verifier,
        },
        headers={"Authorization": f"Basic {raw}"},
    )
    assert response.status_code == 200, response.text


async def _assertion_response(
    emu: Emulator, http: httpx.AsyncClient, assertion: str, *, client_id: str | None = JWT
) -> httpx.Response:
    login = Login(JWT)
    code = callback_params(await emu.idporten_login(login.url))["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": login.verifier,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    if client_id is not None:
        data["client_id"] = client_id
    return await http.post(f"{IDP}/token", data=data)


async def test_private_key_jwt_accepts_the_token_endpoint_as_aud(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    for aud in (f"{IDP}/token", [IDP]):
        assertion = client_assertion(idp_key, clock.now, aud=aud)
        assert (await _assertion_response(idp, http, assertion)).status_code == 200


async def test_private_key_jwt_needs_client_id_in_the_body(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    response = await _assertion_response(
        idp, http, client_assertion(idp_key, clock.now), client_id=None
    )
    assert "client_id" in assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "case",
    [
        ({"aud": "http://altinn.localhost/idporten/"}, (), "aud"),
        ({"aud": "http://altinn.localhost/maskinporten/"}, (), "aud"),
        ({"sub": "someone"}, (), "iss and sub"),
        ({}, ("sub",), "iss and sub"),
        ({"iss": POST}, (), "iss and sub"),
        ({"exp": "LATER"}, (), "exp - iat"),
        ({"iat": "FUTURE", "exp": "FUTURE+60"}, (), "future"),
        ({"iat": "PAST", "exp": "PAST+60"}, (), "expired"),
        ({}, ("jti",), "jti"),
    ],
)
async def test_private_key_jwt_refusals(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock, case: AssertionCase
) -> None:
    claims, drop, text = case
    now = int(clock.now)
    times = {
        "LATER": now + 121,
        "FUTURE": now + 30,
        "FUTURE+60": now + 90,
        "PAST": now - 100,
        "PAST+60": now - 40,
    }
    resolved: dict[str, Any] = {
        k: times.get(v, v) if isinstance(v, str) else v for k, v in claims.items()
    }
    assertion = client_assertion(idp_key, clock.now, JWT, drop=drop, **resolved)
    response = await _assertion_response(idp, http, assertion)
    assert text in assert_oauth_error(response, 401, "invalid_client")


async def test_private_key_jwt_jti_is_single_use(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    assertion = client_assertion(idp_key, clock.now)
    assert (await _assertion_response(idp, http, assertion)).status_code == 200
    response = await _assertion_response(idp, http, assertion)
    assert "jti" in assert_oauth_error(response, 401, "invalid_client")


async def test_private_key_jwt_with_another_key_is_refused(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, other_key: RSAKey, clock: Clock
) -> None:
    claims = {"iss": JWT, "sub": JWT, "aud": IDP, "iat": int(clock.now), "exp": int(clock.now)}
    # Naming the registered key's kid: only the signature tells them apart.
    forged = jwt.encode({"alg": "RS256", "kid": idp_key.kid}, claims, other_key)
    response = await _assertion_response(idp, http, forged)
    assert "signature" in assert_oauth_error(response, 401, "invalid_client")
    response = await _assertion_response(idp, http, client_assertion(other_key, clock.now))
    assert "unknown kid" in assert_oauth_error(response, 401, "invalid_client")
    forged = jwt.encode({"alg": "RS256"}, claims, other_key)
    response = await _assertion_response(idp, http, forged)
    assert "kid is required" in assert_oauth_error(response, 401, "invalid_client")
    response = await _assertion_response(idp, http, "not-a-jwt")
    assert_oauth_error(response, 401, "invalid_client")


# -- refresh -----------------------------------------------------------------------------------


async def test_refresh_rotates_and_reuse_revokes(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now)
    clock.advance(100)
    response = await refresh(http, tokens["refresh_token"], idp_key, clock.now)
    assert response.status_code == 200, response.text
    renewed = response.json()
    assert renewed["refresh_token"] != tokens["refresh_token"]
    assert "id_token" not in renewed
    access = await idporten_claims(http, renewed["access_token"])
    assert access["iat"] == int(clock.now)
    assert access["pid"] == DEFAULT_PID
    # The old refresh token is spent; showing it again revokes the authorization ...
    stale = await refresh(http, tokens["refresh_token"], idp_key, clock.now)
    assert "already been used" in assert_oauth_error(stale, 400, "invalid_grant")
    # ... so the newest one no longer works either.
    revoked = await refresh(http, renewed["refresh_token"], idp_key, clock.now)
    assert "revoked" in assert_oauth_error(revoked, 400, "invalid_grant")
    assert (await userinfo(http, renewed["access_token"])).status_code == 401


async def test_refresh_without_rotation_keeps_the_token(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    add_idporten_clients(emu, idp_key, rotate_refresh_tokens=False)
    tokens = await idporten_tokens(emu, http, idp_key, clock.now)
    for _ in range(3):
        clock.advance(500)  # each use restarts the inactivity timer
        response = await refresh(http, tokens["refresh_token"], idp_key, clock.now)
        assert response.status_code == 200, response.text
        assert "refresh_token" not in response.json()


async def test_refresh_after_inactivity_is_refused(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now)
    clock.advance(599)
    response = await refresh(http, tokens["refresh_token"], idp_key, clock.now)
    assert response.status_code == 200
    clock.advance(601)
    response = await refresh(http, response.json()["refresh_token"], idp_key, clock.now)
    assert "expired" in assert_oauth_error(response, 400, "invalid_grant")


async def test_refresh_ends_with_the_authorization_lifetime(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    add_idporten_clients(
        emu,
        idp_key,
        access_token_lifetime=60,
        refresh_token_lifetime=300,
        authorization_lifetime=700,
    )
    tokens = await idporten_tokens(emu, http, idp_key, clock.now)
    assert tokens["expires_in"] == 60
    refresh_token = tokens["refresh_token"]
    for _ in range(2):
        clock.advance(300)
        response = await refresh(http, refresh_token, idp_key, clock.now)
        assert response.status_code == 200, response.text
        refresh_token = response.json()["refresh_token"]
    clock.advance(101)
    response = await refresh(http, refresh_token, idp_key, clock.now)
    assert "authorization has expired" in assert_oauth_error(response, 400, "invalid_grant")


async def test_refresh_may_narrow_the_scope(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now)
    response = await refresh(http, tokens["refresh_token"], idp_key, clock.now, scope="openid")
    assert response.json()["scope"] == "openid"
    wider = await refresh(
        http, response.json()["refresh_token"], idp_key, clock.now, scope="openid altinn:x"
    )
    assert_oauth_error(wider, 400, "invalid_scope")


async def test_refresh_needs_client_authentication(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now)
    response = await http.post(
        f"{IDP}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": PUBLIC,
        },
    )
    assert_oauth_error(response, 401, "invalid_client")
    other = await refresh(http, tokens["refresh_token"], idp_key, clock.now, client_id=POST)
    assert_oauth_error(other, 400, "invalid_grant")


@pytest.mark.parametrize("client_id", [BASIC, POST, JWT])
async def test_refresh_with_each_client_authentication(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock, client_id: str
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now, client_id)
    response = await refresh(http, tokens["refresh_token"], idp_key, clock.now, client_id)
    assert response.status_code == 200, response.text
    access = unverified_claims(response.json()["access_token"])
    assert access["client_amr"] == IDP_CLIENTS[client_id]


# -- PAR ---------------------------------------------------------------------------------------


async def test_pushed_authorization_request(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    login = Login(JWT)
    pushed = await idp_post(http, "/par", JWT, idp_key, clock.now, data=login.params)
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert set(body) == {"expires_in", "request_uri"}
    assert body["expires_in"] == 120
    assert body["request_uri"].startswith("urn:idporten:")
    query = urllib.parse.urlencode({"client_id": JWT, "request_uri": body["request_uri"]})
    url = f"{IDP}/authorize?{query}"
    callback = callback_params(await idp.idporten_login(url))
    assert callback["state"] == login.state
    response = await redeem(http, login, callback["code"], idp_key, clock.now)
    assert response.status_code == 200, response.text
    with pytest.raises(ValueError, match="already used"):
        await idp.idporten_login(url)
    assert idp.requests["idporten.par"] == 1


async def test_pushed_request_takes_no_other_parameters(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    login = Login()
    pushed = (await idp_post(http, "/par", BASIC, idp_key, clock.now, data=login.params)).json()
    query = urllib.parse.urlencode(
        {"client_id": BASIC, "request_uri": pushed["request_uri"], "state": "other"}
    )
    response = await http.get(f"{IDP}/authorize?{query}")
    assert_error_page(response, "only client_id and request_uri")


async def test_pushed_request_expires_and_belongs_to_its_client(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    login = Login()
    for client_id, advance in ((BASIC, 121), (POST, 0)):
        pushed = (await idp_post(http, "/par", BASIC, idp_key, clock.now, data=login.params)).json()
        clock.advance(advance)
        query = urllib.parse.urlencode(
            {"client_id": client_id, "request_uri": pushed["request_uri"]}
        )
        assert_error_page(await http.get(f"{IDP}/authorize?{query}"), "invalid_request_uri")


async def test_pushed_request_is_validated_and_authenticated(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    response = await idp_post(
        http, "/par", BASIC, idp_key, clock.now, data=Login(code_challenge_method="plain").params
    )
    assert_oauth_error(response, 400, "invalid_request")
    response = await idp_post(
        http,
        "/par",
        BASIC,
        idp_key,
        clock.now,
        data=Login(redirect_uri="https://evil.example/").params,
    )
    assert "redirect_uri" in assert_oauth_error(response, 400, "invalid_request")
    response = await http.post(f"{IDP}/par", data=Login().params, auth=(BASIC, "wrong"))
    assert_oauth_error(response, 401, "invalid_client")


# -- userinfo, revoke, logout ------------------------------------------------------------------


async def test_userinfo(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now, ui_locales="nn")
    response = await userinfo(http, tokens["access_token"])
    assert response.status_code == 200
    sub = unverified_claims(tokens["id_token"])["sub"]
    assert response.json() == {"sub": sub, "pid": DEFAULT_PID, "locale": "nn"}
    assert idp.requests["idporten.userinfo"] == 1


async def test_userinfo_refusals(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now)
    missing = await http.get(f"{IDP}/userinfo")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    # The id_token is no access token.
    invalid = await userinfo(http, tokens["id_token"])
    assert invalid.status_code == 401
    assert invalid.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    clock.advance(121)
    assert (await userinfo(http, tokens["access_token"])).status_code == 401
    no_openid = await idporten_tokens(idp, http, idp_key, clock.now, scope=ALTINN_SCOPE)
    assert_oauth_error(await userinfo(http, no_openid["access_token"]), 403, "insufficient_scope")


@pytest.mark.parametrize("which", ["refresh_token", "access_token"])
async def test_revoke_ends_the_whole_grant(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock, which: str
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now)
    response = await idp_post(
        http, "/token/revoke", BASIC, idp_key, clock.now, data={"token": tokens[which]}
    )
    assert response.status_code == 200
    assert response.content == b""
    assert (await userinfo(http, tokens["access_token"])).status_code == 401
    revoked = await refresh(http, tokens["refresh_token"], idp_key, clock.now)
    assert_oauth_error(revoked, 400, "invalid_grant")
    assert idp.requests["idporten.revoke"] == 1


async def test_revoke_touches_only_the_clients_own_grants(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now)
    other = await idporten_tokens(idp, http, idp_key, clock.now)
    for token in (tokens["refresh_token"], "unknown-token"):
        response = await idp_post(
            http, "/token/revoke", POST, idp_key, clock.now, data={"token": token}
        )
        assert response.status_code == 200
    assert (await userinfo(http, tokens["access_token"])).status_code == 200
    await idp_post(
        http, "/token/revoke", BASIC, idp_key, clock.now, data={"token": tokens["refresh_token"]}
    )
    assert (await userinfo(http, tokens["access_token"])).status_code == 401
    assert (await userinfo(http, other["access_token"])).status_code == 200
    response = await http.post(f"{IDP}/token/revoke", data={"token": "x"}, auth=(BASIC, "no"))
    assert_oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_logout_redirects_with_state(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock, method: str
) -> None:
    tokens = await idporten_tokens(idp, http, idp_key, clock.now)
    params = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": LOGGED_OUT,
        "state": "bye now",
    }
    if method == "GET":
        response = await http.get(f"{IDP}/logout", params=params)
    else:
        response = await http.post(f"{IDP}/logout", data=params)
    assert response.status_code == 302
    assert response.headers["location"] == f"{LOGGED_OUT}?state=bye+now"
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert idp.requests["idporten.logout"] == 1


async def test_logout_with_client_id_and_without_a_target(
    idp: Emulator, http: httpx.AsyncClient
) -> None:
    response = await http.get(
        f"{IDP}/logout", params={"client_id": BASIC, "post_logout_redirect_uri": LOGGED_OUT}
    )
    assert response.headers["location"] == LOGGED_OUT
    response = await http.get(f"{IDP}/logout", params={"client_id": BASIC})
    assert response.status_code == 200
    assert "logged out" in response.text


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({}, "id_token_hint or client_id"),
        ({"post_logout_redirect_uri": LOGGED_OUT}, "id_token_hint or client_id"),
        ({"client_id": BASIC, "post_logout_redirect_uri": REDIRECT}, "not registered"),
        ({"client_id": "nobody"}, "Unknown client_id"),
        ({"id_token_hint": "not-a-token"}, "Invalid id_token_hint"),
        ({"client_id": BASIC, "state": "tab\there"}, "Invalid state"),
    ],
)
async def test_logout_refusals_are_error_pages(
    idp: Emulator, http: httpx.AsyncClient, params: dict[str, str], text: str
) -> None:
    assert_error_page(await http.get(f"{IDP}/logout", params=params), text)


async def test_logout_ends_the_sso_session(idp: Emulator, idp_key: RSAKey, clock: Clock) -> None:
    async with httpx.AsyncClient(transport=idp.transport()) as browser:
        page = await browser.get(Login().url)
        transaction = re.search(r'name="transaction" value="([^"]+)"', page.text)
        assert transaction is not None
        form = {"transaction": transaction.group(1), "pid": DEFAULT_PID, "action": "login"}
        login = Login()
        await browser.post(f"{IDP}/login", data=form)
        code = callback_params((await browser.get(login.url)).headers["location"])["code"]
        tokens = (await redeem(browser, login, code, idp_key, clock.now)).json()
        hint = {"id_token_hint": tokens["id_token"], "client_id": BASIC}
        mismatch = await browser.get(f"{IDP}/logout", params={**hint, "client_id": POST})
        assert_error_page(mismatch, "does not match")
        assert (await browser.get(f"{IDP}/logout", params=hint)).status_code == 200
        assert (await browser.get(Login().url)).status_code == 200  # the TestID page again


# -- the emulator around it --------------------------------------------------------------------


async def test_fault_on_the_token_endpoint(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    idp.inject_fault("idporten.token", status=503, body=b"busy", headers={"Retry-After": "2"})
    login = Login()
    code = callback_params(await idp.idporten_login(login.url))["code"]
    response = await redeem(http, login, code, idp_key, clock.now)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert (await redeem(http, login, code, idp_key, clock.now)).status_code == 200
    assert idp.requests["idporten.token"] == 2


async def test_fault_on_the_login_page_raises(idp: Emulator) -> None:
    idp.inject_fault("idporten.authorize", status=500)
    with pytest.raises(ValueError, match="HTTP 500"):
        await idp.idporten_login(Login().url)
    assert "code" in callback_params(await idp.idporten_login(Login().url))


async def test_login_at_another_origin(idp: Emulator, http: httpx.AsyncClient) -> None:
    url = Login().url.replace("http://altinn.localhost", "http://127.0.0.1:8123")
    callback = callback_params(await idp.idporten_login(url))
    assert callback["iss"] == "http://127.0.0.1:8123/idporten"


def test_served_discovery_follows_the_port() -> None:
    emu = Emulator()
    with emu.serve() as base_url, httpx.Client(base_url=base_url) as http:
        document = http.get("/idporten/.well-known/openid-configuration").json()
    assert document["issuer"] == f"{base_url}/idporten"
    assert document["token_endpoint"] == f"{base_url}/idporten/token"


def test_client_registration_is_validated(idp_key: RSAKey) -> None:
    emu = Emulator()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"redirect_uris": []}, "at least one redirect_uri"),
        ({"redirect_uris": ["http://app.example/cb"]}, "http only for localhost"),
        ({"redirect_uris": ["https://app.example/cb#x"]}, "without a fragment"),
        ({"redirect_uris": ["/cb"]}, "absolute"),
        ({"token_endpoint_auth_method": "tls_client_auth"}, "token_endpoint_auth_method"),
        ({"client_secret": None}, "needs a client_secret"),
        ({"token_endpoint_auth_method": "none"}, "has no client_secret"),
        (
            {"token_endpoint_auth_method": "private_key_jwt", "client_secret": None},
            "at least one registered JWK",
        ),
        ({"org_number": "123"}, "organisation number"),
        ({"access_token_lifetime": 0}, "positive"),
        ({"post_logout_redirect_uris": ["http://app.example/"]}, "post_logout_redirect_uris"),
    ]
    for overrides, message in cases:
        options: dict[str, Any] = {
            "redirect_uris": [REDIRECT, "https://app.example/cb", "no.app:/cb"],
            "client_secret": SECRET,
            **overrides,
        }
        with pytest.raises(ValueError, match=message):
            emu.add_idporten_client("c", **options)
    with pytest.raises(ValueError, match="client_id"):
        emu.add_idporten_client("", redirect_uris=[REDIRECT], client_secret=SECRET)


def test_persons() -> None:
    emu = Emulator()
    default = emu.person()
    assert default.pid == DEFAULT_PID
    assert (default.party_id, default.user_id, default.username) == (50002119, 20000011, "")
    added = emu.add_person("21879498012", name="Kari Nordmann")
    assert emu.person("21879498012") == added
    assert added.party_id != default.party_id
    assert added.user_id != default.user_id
    assert len(added.party_uuid) == 36
    with pytest.raises(ValueError, match="11-digit"):
        emu.add_person("2187949801")
    with pytest.raises(KeyError):
        emu.person("01010112345")
    with pytest.raises(ValueError, match="scope"):
        emu.add_partner_scope("")


async def test_no_secret_in_any_repr(
    idp: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    login = Login()
    code = callback_params(await idp.idporten_login(login.url))["code"]
    tokens = (await redeem(http, login, code, idp_key, clock.now)).json()
    store = idp._idporten_store
    texts = [
        repr(idp),
        repr(idp._idporten),
        repr(store),
        repr(idp._idporten.tokens.key),
        *(repr(client) for client in store.clients.values()),
        *(repr(record) for record in store.codes.values()),
        *(repr(grant) for grant in store.grants.values()),
        *(repr(token) for token in store.refresh_tokens.values()),
    ]
    secrets_ = [SECRET, code, login.verifier, login.state, login.nonce, tokens["refresh_token"]]
    for text in texts:
        for secret in secrets_:
            assert secret not in text
    assert "idporten_clients=4" in repr(idp)
