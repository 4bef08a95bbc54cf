"""Environments: the presets, explicit construction, and discovery from issuer metadata."""

from __future__ import annotations

import json

import attrs
import httpx
import pytest

from altinn_async import (
    PRODUCTION,
    TEST,
    AuthorizationServer,
    ConfigurationError,
    DiscoveryError,
    Environment,
)

MP_METADATA = {
    "authorization_details_types_supported": ["urn:altinn:systemuser", "urn:altinn:consent"],
    "grant_types_supported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
    "issuer": "https://mp.example/",
    "jwks_uri": "https://mp.example/jwk",
    "token_endpoint": "https://mp.example/token",
    "token_endpoint_auth_methods_supported": ["private_key_jwt"],
    "token_endpoint_auth_signing_alg_values_supported": ["RS256", "RS384", "RS512"],
}


def test_presets_have_the_current_hosts() -> None:
    assert TEST.maskinporten.issuer == "https://test.maskinporten.no/"
    assert TEST.maskinporten.token_endpoint == "https://test.maskinporten.no/token"
    assert TEST.platform == "https://platform.tt02.altinn.no"
    assert TEST.idporten is not None
    assert TEST.idporten.issuer == "https://test.idporten.no"
    assert TEST.altinn2 == "https://tt02.altinn.no"
    assert PRODUCTION.maskinporten.issuer == "https://maskinporten.no/"
    assert PRODUCTION.platform == "https://platform.altinn.no"
    assert PRODUCTION.exchange_url("maskinporten") == (
        "https://platform.altinn.no/authentication/api/v1/exchange/maskinporten"
    )
    assert TEST.altinn_issuer == "https://platform.tt02.altinn.no/authentication/api/v1/openid/"


def test_explicit_environment_and_trailing_slash_on_platform() -> None:
    env = Environment(
        name="at22",
        maskinporten=AuthorizationServer(
            issuer="https://mp.example/", token_endpoint="https://mp.example/token"
        ),
        platform="https://platform.at22.altinn.cloud/",
    )
    assert env.platform == "https://platform.at22.altinn.cloud"


@pytest.mark.parametrize(
    "url", ["http://mp.example/token", "ftp://mp.example/", "/token", "mp.example"]
)
def test_unsafe_or_relative_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="token_endpoint"):
        AuthorizationServer(issuer="https://mp.example/", token_endpoint=url)


@pytest.mark.parametrize(
    "url", ["http://localhost:8080/token", "http://127.0.0.1/t", "http://altinn.localhost/t"]
)
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    assert AuthorizationServer(issuer=url, token_endpoint=url).token_endpoint == url


def _metadata_app(documents: dict[str, object], seen: list[str]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        document = documents.get(request.url.path)
        if document is None:
            return httpx.Response(404)
        return httpx.Response(200, content=json.dumps(document).encode())

    return httpx.MockTransport(handler)


async def test_discover_reads_the_oauth_metadata() -> None:
    seen: list[str] = []
    transport = _metadata_app({"/.well-known/oauth-authorization-server": MP_METADATA}, seen)
    async with httpx.AsyncClient(transport=transport) as http:
        server = await AuthorizationServer.discover("https://mp.example/", http_client=http)
    assert server.issuer == "https://mp.example/"
    assert server.token_endpoint == "https://mp.example/token"
    assert server.jwks_uri == "https://mp.example/jwk"
    assert seen == ["https://mp.example/.well-known/oauth-authorization-server"]


async def test_discover_falls_back_to_openid_configuration() -> None:
    seen: list[str] = []
    oidc = {"issuer": "https://idp.example/tenant", "token_endpoint": "https://idp.example/t"}
    transport = _metadata_app({"/tenant/.well-known/openid-configuration": oidc}, seen)
    async with httpx.AsyncClient(transport=transport) as http:
        server = await AuthorizationServer.discover("https://idp.example/tenant", http_client=http)
    assert server.token_endpoint == "https://idp.example/t"
    assert seen[-1] == "https://idp.example/tenant/.well-known/openid-configuration"
    assert len(seen) == 3


async def test_discover_refuses_metadata_of_another_issuer() -> None:
    seen: list[str] = []
    evil = dict(MP_METADATA, issuer="https://evil.example/")
    transport = _metadata_app({"/.well-known/oauth-authorization-server": evil}, seen)
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(DiscoveryError, match="evil"):
            await AuthorizationServer.discover("https://mp.example/", http_client=http)


async def test_discover_without_any_metadata_says_what_it_tried() -> None:
    transport = _metadata_app({}, [])
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(DiscoveryError, match="HTTP 404"):
            await AuthorizationServer.discover("https://mp.example/", http_client=http)


async def test_environment_discover_uses_the_metadata_issuer_verbatim() -> None:
    # Given without the trailing slash, the grant's aud must still be the issuer as announced.
    transport = _metadata_app({"/.well-known/oauth-authorization-server": MP_METADATA}, [])
    async with httpx.AsyncClient(transport=transport) as http:
        env = await Environment.discover(
            name="custom",
            maskinporten="https://mp.example",
            platform="https://platform.example",
            http_client=http,
        )
    assert env.maskinporten.issuer == "https://mp.example/"
    assert env.idporten is None


def test_presets_name_the_self_service_api_under_api_v1() -> None:
    assert TEST.selfservice == "https://api.test.samarbeid.digdir.no/api/v1"
    assert PRODUCTION.selfservice == "https://api.samarbeid.digdir.no/api/v1"


def test_a_plain_http_self_service_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="selfservice"):
        attrs.evolve(TEST, selfservice="http://api.samarbeid.digdir.no/api/v1")
