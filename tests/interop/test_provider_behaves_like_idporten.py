"""The interop provider plays ID-porten: proven with plain httpx, authlib's PKCE helper and joserfc.

None of altinn_async's client code is used here, so a failure points at the provider's setup,
not at the client under test.
"""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from .conftest import OidcClient, OidcProvider, ProviderSettings, run_oidc_provider

SCOPE = "openid profile altinn:instances.read"
REDIRECT_URI = "http://127.0.0.1:8765/callback"  # any loopback port matches the registration
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CONFIDENTIAL = ["basic", "post", "private_key_jwt"]


@attrs.frozen
class Authorization:
    url: str
    state: str
    nonce: str
    verifier: str


@attrs.define
class Idp:
    """The provider seen from a hand-written relying party."""

    http: httpx.AsyncClient
    provider: OidcProvider
    metadata: dict[str, Any]
    keys: KeySet

    def client(self, name: str) -> OidcClient:
        return self.provider.clients[name]

    def authorization(self, client: OidcClient, **params: str | None) -> Authorization:
        """An authorization URL with PKCE, state and nonce; ``None`` drops a parameter."""
        verifier = secrets.token_urlsafe(48)
        query: dict[str, str | None] = {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": SCOPE,
            "state": secrets.token_urlsafe(16),
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        } | params
        sent = {k: v for k, v in query.items() if v is not None}
        url = httpx.URL(self.metadata["authorization_endpoint"], params=sent)
        return Authorization(str(url), query["state"] or "", query["nonce"] or "", verifier)

    def assertion(self, client: OidcClient, **claims: Any) -> str:
        """A private_key_jwt client assertion; a claim set to None is left out."""
        assert client.private_key_pem is not None
        now = int(time.time())
        body = {
            "iss": client.client_id,
            "sub": client.client_id,
            "aud": self.provider.issuer,
            "iat": now,
            "exp": now + 60,
            "jti": str(uuid.uuid4()),
        } | claims
        key = RSAKey.import_key(client.private_key_pem)
        return jwt.encode(
            {"alg": "RS256", "kid": client.kid},
            {k: v for k, v in body.items() if v is not None},
            key,
        )

    async def post(
        self, endpoint: str, client: OidcClient, form: dict[str, str], **assertion: Any
    ) -> httpx.Response:
        """POST ``form`` to a metadata endpoint, authenticated as ``client`` does it."""
        auth = httpx.Auth()  # the base class sends requests as they are
        match client.token_endpoint_auth_method:
            case "client_secret_basic":
                assert client.client_secret is not None
                auth = httpx.BasicAuth(client.client_id, client.client_secret)
            case "client_secret_post":
                assert client.client_secret is not None
                form = form | {"client_id": client.client_id, "client_secret": client.client_secret}
            case "private_key_jwt":
                form = form | {
                    "client_id": client.client_id,
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": self.assertion(client, **assertion),
                }
            case "none":
                form = form | {"client_id": client.client_id}
        return await self.http.post(self.metadata[endpoint], data=form, auth=auth)

    async def code(self, client: OidcClient, **params: str | None) -> tuple[Authorization, str]:
        """Log in through the scripted login; the code, after checking state and iss."""
        request = self.authorization(client, **params)
        callback = httpx.URL(await self.provider.login(request.url))
        assert callback.params["state"] == request.state
        assert callback.params["iss"] == self.provider.issuer
        return request, callback.params["code"]

    async def exchange(
        self, client: OidcClient, request: Authorization, code: str, **assertion: Any
    ) -> httpx.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": request.verifier,
        }
        return await self.post("token_endpoint", client, form, **assertion)

    async def tokens(self, name: str, **params: str | None) -> tuple[Authorization, dict[str, Any]]:
        """The whole code flow for the client called ``name``."""
        client = self.client(name)
        request, code = await self.code(client, **params)
        response = await self.exchange(client, request, code)
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return request, tokens

    async def refresh(self, client: OidcClient, refresh_token: str) -> httpx.Response:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return await self.post("token_endpoint", client, form)

    def claims(self, token: str) -> dict[str, Any]:
        """Verify a JWT against the provider's JWKS; its claims."""
        decoded = jwt.decode(token, self.keys, algorithms=["RS256"])
        jwt.JWTClaimsRegistry(iss={"essential": True, "value": self.provider.issuer}).validate(
            decoded.claims
        )
        return decoded.claims


@contextlib.asynccontextmanager
async def connect(provider: OidcProvider) -> AsyncIterator[Idp]:
    async with httpx.AsyncClient() as http:
        metadata = (await http.get(f"{provider.issuer}/.well-known/openid-configuration")).json()
        keys = KeySet.import_key_set((await http.get(metadata["jwks_uri"])).json())
        yield Idp(http, provider, metadata, keys)


@pytest.fixture
async def idp(oidc_provider: OidcProvider) -> AsyncIterator[Idp]:
    async with connect(oidc_provider) as connected:
        yield connected


def error_of(response: httpx.Response) -> str:
    error: str = response.json()["error"]
    return error


# --- discovery ----------------------------------------------------------------------------------


async def test_discovery_lists_the_endpoints_and_idporten_rules(idp: Idp) -> None:
    meta, issuer = idp.metadata, idp.provider.issuer
    assert meta["issuer"] == issuer
    assert {
        name: meta[name].removeprefix(issuer)
        for name in (
            "authorization_endpoint",
            "token_endpoint",
            "pushed_authorization_request_endpoint",
            "end_session_endpoint",
            "revocation_endpoint",
            "userinfo_endpoint",
            "jwks_uri",
        )
    } == {
        "authorization_endpoint": "/authorize",
        "token_endpoint": "/token",
        "pushed_authorization_request_endpoint": "/par",
        "end_session_endpoint": "/logout",
        "revocation_endpoint": "/token/revoke",
        "userinfo_endpoint": "/userinfo",
        "jwks_uri": "/jwks.json",
    }
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert set(meta["token_endpoint_auth_methods_supported"]) >= {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
    }
    assert meta["token_endpoint_auth_signing_alg_values_supported"] == ["RS256"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["acr_values_supported"] == ["idporten-loa-substantial", "idporten-loa-high"]
    assert {"openid", "profile"} <= set(meta["scopes_supported"])


# --- the authorization request ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "error"),
    [
        pytest.param(
            {"code_challenge": None, "code_challenge_method": None}, "invalid_request", id="no-pkce"
        ),
        pytest.param({"code_challenge_method": "plain"}, "invalid_request", id="plain-pkce"),
        pytest.param({"response_type": "id_token"}, "unsupported_response_type", id="implicit"),
    ],
)
async def test_authorization_request_breaking_the_rules_is_refused(
    idp: Idp, params: dict[str, str | None], error: str
) -> None:
    request = idp.authorization(idp.client("basic"), **params)
    response = await idp.http.get(request.url)
    assert response.is_redirect
    callback = httpx.URL(response.headers["location"])
    assert str(callback.copy_with(query=None, fragment=None)) == REDIRECT_URI
    # An implicit request gets its error in the fragment, its response mode.
    answer = callback.params or httpx.QueryParams(callback.fragment)
    assert answer["error"] == error
    assert answer["state"] == request.state
    assert answer["iss"] == idp.provider.issuer


async def test_denied_login_comes_back_as_access_denied(idp: Idp) -> None:
    request = idp.authorization(idp.client("basic"))
    callback = httpx.URL(await idp.provider.login(request.url, deny=True))
    assert str(callback.copy_with(query=None)) == REDIRECT_URI
    assert callback.params["error"] == "access_denied"
    assert callback.params["state"] == request.state
    assert callback.params["iss"] == idp.provider.issuer
    assert "code" not in callback.params


async def test_unknown_person_cannot_log_in(idp: Idp) -> None:
    request = idp.authorization(idp.client("basic"))
    with pytest.raises(AssertionError, match="unknown test person 01010100000"):
        await idp.provider.login(request.url, person="01010100000")


async def test_pushed_authorization_request_gives_a_request_uri_for_authorize(idp: Idp) -> None:
    client = idp.client("private_key_jwt")
    request = idp.authorization(client)
    pushed = await idp.post(
        "pushed_authorization_request_endpoint", client, dict(httpx.URL(request.url).params)
    )
    assert pushed.status_code == 201, pushed.text
    body = pushed.json()
    assert body["expires_in"] > 0
    # With PAR, only client_id and request_uri travel through the browser.
    url = httpx.URL(
        idp.metadata["authorization_endpoint"],
        params={"client_id": client.client_id, "request_uri": body["request_uri"]},
    )
    callback = httpx.URL(await idp.provider.login(str(url)))
    assert callback.params["state"] == request.state
    response = await idp.exchange(client, request, callback.params["code"])
    assert response.status_code == 200, response.text
    assert idp.claims(response.json()["id_token"])["nonce"] == request.nonce


async def test_pushed_authorization_request_without_pkce_is_refused(idp: Idp) -> None:
    client = idp.client("basic")
    request = idp.authorization(client, code_challenge=None, code_challenge_method=None)
    form = dict(httpx.URL(request.url).params)
    response = await idp.post("pushed_authorization_request_endpoint", client, form)
    assert response.status_code == 400
    assert error_of(response) == "invalid_request"


# --- the token endpoint -------------------------------------------------------------------------


@pytest.mark.parametrize("name", CONFIDENTIAL)
async def test_code_flow_with_each_client_authentication_method(idp: Idp, name: str) -> None:
    client = idp.client(name)
    request, tokens = await idp.tokens(name)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 120
    assert tokens["scope"] == SCOPE
    assert tokens["refresh_token"]

    id_token = idp.claims(tokens["id_token"])
    person = idp.provider.persons[idp.provider.default_person]
    assert id_token["aud"] == client.client_id
    assert id_token["nonce"] == request.nonce
    assert id_token["pid"] == person.pid
    assert id_token["locale"] == person.locale
    assert id_token["acr"] == "idporten-loa-substantial"
    assert id_token["amr"] == ["TestID"]
    assert id_token["sid"]
    assert id_token["auth_time"] <= id_token["iat"]
    assert id_token["exp"] - id_token["iat"] == 120
    assert len(id_token["sub"]) == 43  # pairwise: a hash, never the pid
    assert id_token["sub"] != person.pid

    access = idp.claims(tokens["access_token"])
    assert access["sub"] == id_token["sub"]
    assert access["pid"] == person.pid
    assert access["acr"] == "idporten-loa-substantial"
    assert access["scope"] == SCOPE
    assert access["client_id"] == client.client_id
    assert access["client_amr"] == client.token_endpoint_auth_method
    assert access["consumer"] == {
        "authority": "iso6523-actorid-upis",
        "ID": f"0192:{client.consumer_orgno}",
    }
    assert access["aud"] == idp.provider.settings.access_token_audience
    assert "amr" not in access


async def test_public_client_gets_tokens_with_pkce_alone(idp: Idp) -> None:
    _, tokens = await idp.tokens("public")
    assert idp.claims(tokens["access_token"])["client_amr"] == "none"
    assert tokens["refresh_token"]


async def test_acr_values_and_the_person_are_reflected(idp: Idp) -> None:
    other = next(pid for pid in idp.provider.persons if pid != idp.provider.default_person)
    client = idp.client("basic")
    request = idp.authorization(client, acr_values="idporten-loa-high")
    code = httpx.URL(await idp.provider.login(request.url, person=other)).params["code"]
    response = await idp.exchange(client, request, code)
    tokens = response.json()
    id_token, access = idp.claims(tokens["id_token"]), idp.claims(tokens["access_token"])
    assert id_token["acr"] == "idporten-loa-high"
    assert (id_token["pid"], id_token["locale"]) == (other, "en")
    assert (access["acr"], access["pid"]) == ("idporten-loa-high", other)


async def test_audience_follows_a_requested_resource(idp: Idp) -> None:
    _, tokens = await idp.tokens("basic", resource="https://platform.altinn.test/")
    assert idp.claims(tokens["access_token"])["aud"] == "https://platform.altinn.test/"


async def test_code_needs_the_right_verifier_and_works_once(idp: Idp) -> None:
    client = idp.client("basic")
    request, code = await idp.code(client)
    wrong = attrs.evolve(request, verifier=secrets.token_urlsafe(48))
    response = await idp.exchange(client, wrong, code)
    assert (response.status_code, error_of(response)) == (400, "invalid_grant")

    request, code = await idp.code(client)
    assert (await idp.exchange(client, request, code)).status_code == 200
    again = await idp.exchange(client, request, code)
    assert (again.status_code, error_of(again)) == (400, "invalid_grant")


async def test_wrong_client_secret_is_invalid_client(idp: Idp) -> None:
    client = idp.client("post")
    request, code = await idp.code(client)
    impostor = attrs.evolve(client, client_secret="not-the-secret")
    response = await idp.exchange(impostor, request, code)
    assert (response.status_code, error_of(response)) == (401, "invalid_client")


@pytest.mark.parametrize(
    ("claims", "status", "error"),
    [
        pytest.param({"aud": "{token_endpoint}"}, 200, None, id="aud-token-endpoint"),
        pytest.param({"sub": None}, 401, "invalid_client", id="no-sub"),
        # oidc-provider takes sub for the client's id, so it sees two client ids.
        pytest.param({"sub": "someone-else"}, 400, "invalid_request", id="other-sub"),
        pytest.param({"aud": "https://idporten.no"}, 401, "invalid_client", id="other-aud"),
        pytest.param({"exp": None}, 401, "invalid_client", id="no-exp"),
    ],
)
async def test_private_key_jwt_assertion_rules(
    idp: Idp, claims: dict[str, Any], status: int, error: str | None
) -> None:
    client = idp.client("private_key_jwt")
    request, code = await idp.code(client)
    claims = {k: v.format(**idp.metadata) if v else v for k, v in claims.items()}
    response = await idp.exchange(client, request, code, **claims)
    assert response.status_code == status, response.text
    if error is not None:
        assert error_of(response) == error


async def test_private_key_jwt_needs_the_client_id_field(idp: Idp) -> None:
    client = idp.client("private_key_jwt")
    request, code = await idp.code(client)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": request.verifier,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": idp.assertion(client),
    }
    response = await idp.http.post(idp.metadata["token_endpoint"], data=form)
    assert (response.status_code, error_of(response)) == (400, "invalid_request")


# --- refresh and revocation ---------------------------------------------------------------------


@pytest.mark.parametrize("name", CONFIDENTIAL)
async def test_refresh_rotates_the_refresh_token(idp: Idp, name: str) -> None:
    client = idp.client(name)
    request, tokens = await idp.tokens(name)
    first = tokens["refresh_token"]

    response = await idp.refresh(client, first)
    assert response.status_code == 200, response.text
    refreshed = response.json()
    second = refreshed["refresh_token"]
    assert second != first
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["scope"] == SCOPE
    id_token = idp.claims(refreshed["id_token"])
    assert (id_token["nonce"], id_token["acr"]) == (request.nonce, "idporten-loa-substantial")

    reused = await idp.refresh(client, first)
    assert (reused.status_code, error_of(reused)) == (400, "invalid_grant")
    # Replaying a rotated token revokes the grant: its successor is dead too.
    after = await idp.refresh(client, second)
    assert (after.status_code, error_of(after)) == (400, "invalid_grant")


async def test_refresh_needs_client_authentication(idp: Idp) -> None:
    _, tokens = await idp.tokens("basic")
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    response = await idp.http.post(idp.metadata["token_endpoint"], data=form)
    assert response.status_code == 400
    assert "client authentication" in response.json()["error_description"]


async def test_refresh_token_of_another_client_is_refused(idp: Idp) -> None:
    _, tokens = await idp.tokens("basic")
    response = await idp.refresh(idp.client("post"), tokens["refresh_token"])
    assert (response.status_code, error_of(response)) == (400, "invalid_grant")


async def test_revoking_the_refresh_token_ends_the_grant(idp: Idp) -> None:
    client = idp.client("post")
    _, tokens = await idp.tokens("post")
    form = {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"}
    response = await idp.post("revocation_endpoint", client, form)
    assert response.status_code == 200, response.text
    refreshed = await idp.refresh(client, tokens["refresh_token"])
    assert (refreshed.status_code, error_of(refreshed)) == (400, "invalid_grant")


async def test_jwt_access_tokens_cannot_be_revoked(idp: Idp) -> None:
    # An oidc-provider limit (ID-porten revokes the whole grant): self-contained tokens only expire.
    client = idp.client("basic")
    _, tokens = await idp.tokens("basic")
    response = await idp.post("revocation_endpoint", client, {"token": tokens["access_token"]})
    assert (response.status_code, error_of(response)) == (400, "unsupported_token_type")
    assert (await idp.refresh(client, tokens["refresh_token"])).status_code == 200


# --- logout -------------------------------------------------------------------------------------


async def silent_login(idp: Idp, client: OidcClient) -> httpx.QueryParams:
    """The answer to prompt=none in the browser of the last login (its SSO session)."""
    async with httpx.AsyncClient(cookies=idp.provider.cookies) as browser:
        response = await browser.get(idp.authorization(client, prompt="none").url)
    assert response.is_redirect
    return httpx.URL(response.headers["location"]).params


async def test_logout_returns_to_the_post_logout_redirect_uri_with_state(idp: Idp) -> None:
    client = idp.client("basic")
    _, tokens = await idp.tokens("basic")
    logged_out = "http://127.0.0.1:8765/logged-out"
    url = httpx.URL(
        idp.metadata["end_session_endpoint"],
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": logged_out,
            "state": "bye",
        },
    )
    assert "code" in await silent_login(idp, client)  # single sign-on
    assert await idp.provider.logout(str(url)) == f"{logged_out}?state=bye"
    assert (await silent_login(idp, client))["error"] == "login_required"
    # Tokens belong to the authorization, not to the SSO session.
    assert (await idp.refresh(client, tokens["refresh_token"])).status_code == 200


# --- opaque access tokens and short lifetimes ---------------------------------------------------


OPAQUE = ProviderSettings(
    access_token_format="opaque",
    access_token_lifetime=30,
    refresh_token_lifetime=60,
    authorization_lifetime=45,
    id_token_lifetime=20,
)


@pytest.fixture(scope="module")
def opaque_provider() -> Iterator[OidcProvider]:
    with run_oidc_provider(OPAQUE) as provider:
        yield provider


@pytest.fixture
async def opaque_idp(opaque_provider: OidcProvider) -> AsyncIterator[Idp]:
    async with connect(opaque_provider) as connected:
        yield connected


async def test_opaque_access_tokens_work_at_userinfo(opaque_idp: Idp) -> None:
    idp = opaque_idp
    _, tokens = await idp.tokens("basic")
    access_token = tokens["access_token"]
    assert access_token.count(".") == 0
    assert tokens["scope"] == SCOPE
    sub = idp.claims(tokens["id_token"])["sub"]

    bearer = {"Authorization": f"Bearer {access_token}"}
    userinfo = await idp.http.get(idp.metadata["userinfo_endpoint"], headers=bearer)
    assert userinfo.status_code == 200, userinfo.text
    assert userinfo.json() == {"sub": sub, "pid": idp.provider.default_person, "locale": "nb"}

    client = idp.client("basic")
    response = await idp.post("introspection_endpoint", client, {"token": access_token})
    introspected = response.json()
    assert introspected["active"] is True
    assert (introspected["pid"], introspected["acr"]) == (
        idp.provider.default_person,
        "idporten-loa-substantial",
    )

    revoked = await idp.post("revocation_endpoint", client, {"token": access_token})
    assert revoked.status_code == 200
    # Revoking the access token revoked its grant, refresh token included (ID-porten's rule).
    refreshed = await idp.refresh(client, tokens["refresh_token"])
    assert (refreshed.status_code, error_of(refreshed)) == (400, "invalid_grant")


async def test_lifetimes_are_configurable(opaque_idp: Idp) -> None:
    idp = opaque_idp
    client = idp.client("basic")
    _, tokens = await idp.tokens("basic")
    assert tokens["expires_in"] == 30
    id_token = idp.claims(tokens["id_token"])
    assert id_token["exp"] - id_token["iat"] == 20

    response = await idp.post("introspection_endpoint", client, {"token": tokens["refresh_token"]})
    introspected = response.json()
    # 60 s of inactivity, but never past the authorization's 45 s.
    assert introspected["active"] is True
    assert 43 <= introspected["exp"] - introspected["iat"] <= 45
