"""MaskinportenAuth against a scripted token endpoint: the grant, retries, errors, the cache key."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import altinn_async as altinn
from altinn_async import (
    ConfigurationError,
    InvalidScopeError,
    MaskinportenAuth,
    MaskinportenError,
    RetryPolicy,
    SigningKey,
    SystemUser,
    TokenCache,
    TokenRequestError,
)
from altinn_async.testing import CertificateAuthority

from .helpers import MOCK_ENV, ScriptedMaskinporten, private_pem, signing_key

SCOPE = "altinn:serviceowner/instances.read"
FAST = RetryPolicy(backoff=0.001)


def make_auth(
    endpoint: ScriptedMaskinporten, key: SigningKey | None = None, **options: Any
) -> MaskinportenAuth:
    settings: dict[str, Any] = {
        "client_id": "my-client",
        "key": key or signing_key(),
        "scopes": [SCOPE],
        "environment": MOCK_ENV,
        "http_client": httpx.AsyncClient(transport=endpoint.transport()),
    }
    return MaskinportenAuth(**(settings | options))


async def test_grant_claims_and_header_with_a_registered_key() -> None:
    endpoint = ScriptedMaskinporten(200)
    key = signing_key("my-kid")
    async with make_auth(endpoint, key) as auth:
        token = await auth.get_token()
    assert token.access_token == "access-token-1"
    request = endpoint.requests[0]
    assert request.url == "https://mp.example/token"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Accept"] == "application/json"
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in request.content
    header, claims = endpoint.decoded(0, key)
    assert header == {"alg": "RS256", "kid": "my-kid"}
    assert claims["aud"] == "https://mp.example/"
    assert claims["iss"] == "my-client"
    assert claims["scope"] == SCOPE
    assert 0 < claims["exp"] - claims["iat"] <= 120
    assert str(uuid.UUID(claims["jti"])) == claims["jti"]
    assert set(claims) == {"aud", "iss", "scope", "iat", "exp", "jti"}


async def test_enterprise_certificate_sends_the_chain_not_a_kid() -> None:
    ca = CertificateAuthority()
    issued = ca.issue_enterprise_certificate("991825827")
    key = SigningKey.from_pkcs12(issued.pkcs12(b"pw"), b"pw")
    endpoint = ScriptedMaskinporten(200)
    async with make_auth(endpoint, key) as auth:
        await auth.get_token()
    header, _ = endpoint.decoded(0, key)
    assert "kid" not in header
    assert isinstance(header["x5c"], list)
    assert len(header["x5c"]) == 3  # leaf, intermediate, root
    assert header["x5c"] == list(key.certificate_chain or ())


async def test_optional_claims() -> None:
    endpoint = ScriptedMaskinporten(200)
    key = signing_key()
    auth = make_auth(
        endpoint,
        key,
        resource="https://tt02.altinn.no/",
        consumer_org="910753614",
        authorization_details=SystemUser("0192:123456789", external_ref="ref-1"),
    )
    async with auth:
        await auth.get_token()
    _, claims = endpoint.decoded(0, key)
    assert claims["resource"] == ["https://tt02.altinn.no/"]
    assert claims["consumer_org"] == "910753614"
    assert claims["authorization_details"] == [
        {
            "type": "urn:altinn:systemuser",
            "systemuser_org": {"authority": "iso6523-actorid-upis", "ID": "0192:123456789"},
            "externalRef": "ref-1",
        }
    ]


async def test_every_attempt_signs_a_fresh_grant() -> None:
    endpoint = ScriptedMaskinporten(503, 502, 200)
    key = signing_key()
    async with make_auth(endpoint, key, retry=FAST) as auth:
        await auth.get_token()
    assert len(endpoint.grants) == 3
    jtis = {endpoint.decoded(i, key)[1]["jti"] for i in range(3)}
    assert len(jtis) == 3
    assert len(set(endpoint.grants)) == 3


async def test_server_errors_after_all_attempts_raise_a_typed_error() -> None:
    endpoint = ScriptedMaskinporten(503)
    async with make_auth(endpoint, retry=RetryPolicy(attempts=2, backoff=0.001)) as auth:
        with pytest.raises(TokenRequestError) as info:
            await auth.get_token()
    assert info.value.status_code == 503
    assert len(endpoint.requests) == 2


async def test_network_errors_raise_a_typed_error() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    endpoint = ScriptedMaskinporten(unreachable)
    async with make_auth(endpoint, retry=RetryPolicy(attempts=2, backoff=0.001)) as auth:
        with pytest.raises(TokenRequestError, match="could not reach Maskinporten") as info:
            await auth.get_token()
    assert info.value.status_code is None
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "connection refused" in str(info.value)  # the reason, not just a class name


async def test_a_closed_port_says_connection_refused(free_port: Callable[[], int]) -> None:
    port = free_port()
    environment = altinn.Environment(
        name="closed",
        maskinporten=altinn.AuthorizationServer(
            issuer=f"http://127.0.0.1:{port}/", token_endpoint=f"http://127.0.0.1:{port}/token"
        ),
        platform=f"http://127.0.0.1:{port}",
    )
    auth = MaskinportenAuth(
        client_id="c", key=signing_key(), scopes=[SCOPE], environment=environment,
        retry=RetryPolicy.NEVER,
    )  # fmt: skip
    async with auth:
        with pytest.raises(TokenRequestError) as info:
            await auth.get_token()
    assert "Connection refused" in str(info.value)


async def test_maskinporten_error_body_becomes_maskinporten_error() -> None:
    endpoint = ScriptedMaskinporten(400)
    async with make_auth(endpoint) as auth:
        with pytest.raises(MaskinportenError) as info:
            await auth.get_token()
    error = info.value
    assert error.status_code == 400
    assert error.error == "invalid_grant"
    assert error.code == "MP-110"
    assert error.trace_id == "0123456789abcdef0123456789abcdef"
    assert error.hint is not None
    assert "aud" in error.hint
    assert "MP-110" in str(error)
    assert len(endpoint.requests) == 1  # a 400 is not retried
    assert endpoint.grants[0] not in str(error)


def error_response(description: str, code: str | None = None) -> ScriptedMaskinporten:
    body: dict[str, str] = {"error": "invalid_grant", "error_description": description}
    if code:
        body["error_uri"] = f"https://maskinporten.no/errors/{code}"
    return ScriptedMaskinporten(lambda request: httpx.Response(400, json=body))


@pytest.mark.parametrize(
    ("description", "code", "hint_word"),
    [
        (
            "Invalid assertion. Client authentication failed. Client not found",
            "MP-100",
            "client id",
        ),
        ("Token request contains invalid scopes for client", "MP-200", "scope"),
        ("Grant is used before", "MP-012", "jti"),
        (
            "Invalid assertion. Client authentication failed. Issue time is after now.",
            None,
            "clock",
        ),
        ("JWT is expired", "MP-130", "clock"),
    ],
)
async def test_hints_for_the_common_mistakes(
    description: str, code: str | None, hint_word: str
) -> None:
    async with make_auth(error_response(description, code)) as auth:
        with pytest.raises(MaskinportenError) as info:
            await auth.get_token()
    assert info.value.code == code
    assert info.value.hint is not None
    assert hint_word in info.value.hint


async def test_non_oauth_error_body() -> None:
    endpoint = ScriptedMaskinporten(lambda request: httpx.Response(403, text="<html>nope</html>"))
    async with make_auth(endpoint) as auth:
        with pytest.raises(TokenRequestError, match="HTTP 403") as info:
            await auth.get_token()
    assert not isinstance(info.value, MaskinportenError)


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "Bearer", "expires_in": 120},
        {"access_token": "x", "token_type": "mac", "expires_in": 120},
        {"access_token": "x", "token_type": "Bearer"},
        {"access_token": "x", "token_type": "Bearer", "expires_in": -5},
        ["not", "an", "object"],
    ],
)
async def test_unusable_success_bodies_are_errors(body: object) -> None:
    endpoint = ScriptedMaskinporten(lambda request: httpx.Response(200, json=body))
    async with make_auth(endpoint) as auth:
        with pytest.raises(TokenRequestError):
            await auth.get_token()


async def test_invalid_scope_is_refused_before_any_request() -> None:
    endpoint = ScriptedMaskinporten(200)
    with pytest.raises(InvalidScopeError, match="altinn:service_owner"):
        make_auth(endpoint, scopes=["altinn:service_owner"])
    assert endpoint.requests == []


def test_a_key_without_kid_or_certificate_is_refused() -> None:
    bare = SigningKey.from_pem(private_pem())
    with pytest.raises(ConfigurationError, match="kid"):
        make_auth(ScriptedMaskinporten(), bare)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("grant_lifetime", 121, "120"),
        ("consumer_org", "12345", "9 digits"),
        ("client_id", "", "client_id"),
        ("retry", 3, "RetryPolicy"),
    ],
)
def test_bad_options(option: str, value: object, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        make_auth(ScriptedMaskinporten(), None, **{option: value})


def test_system_user_org_number_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="9 digits"):
        SystemUser("12")


async def test_cache_key_separates_what_makes_tokens_different() -> None:
    endpoint = ScriptedMaskinporten(200)
    cache = TokenCache()
    variants: list[dict[str, Any]] = [
        {},
        {"scopes": [SCOPE, "altinn:serviceowner/instances.write"]},
        {"client_id": "other-client"},
        {"resource": "https://tt02.altinn.no/"},
        {"consumer_org": "910753614"},
        {"authorization_details": SystemUser("123456789")},
    ]
    tokens = set()
    for options in variants:
        auth = make_auth(endpoint, cache=cache, **options)
        tokens.add((await auth.get_token()).access_token)
        await auth.aclose()
    assert len(tokens) == len(variants)
    # Same settings, scopes in another order, another auth object: the cached token.
    again = make_auth(endpoint, cache=cache, scopes=["altinn:serviceowner/instances.write", SCOPE])
    assert (await again.get_token()).access_token == "access-token-2"
    assert len(endpoint.requests) == len(variants)
    await again.aclose()


async def test_no_secret_in_repr_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="altinn_async")
    endpoint = ScriptedMaskinporten(200, 400)
    key = signing_key()
    async with make_auth(endpoint, key) as auth:
        token = await auth.get_token()
        await auth.invalidate(token)
        with pytest.raises(MaskinportenError) as info:
            await auth.get_token()
        texts = [repr(auth), repr(token), str(token), repr(key), str(info.value), repr(info.value)]
    texts += [record.getMessage() for record in caplog.records]
    assert caplog.records  # it does log
    pem_body = private_pem().decode().splitlines()[1]
    for text in texts:
        assert token.access_token not in text
        for grant in endpoint.grants:
            assert grant not in text
            assert grant.split(".")[2] not in text  # not even the signature
        assert pem_body not in text


def test_sync_client_is_refused_with_a_clear_error() -> None:
    auth = make_auth(ScriptedMaskinporten())
    with (
        httpx.Client(auth=auth, transport=httpx.MockTransport(lambda r: httpx.Response(200))) as c,
        pytest.raises(ConfigurationError, match="AsyncClient"),
    ):
        c.get("https://api.example/")
