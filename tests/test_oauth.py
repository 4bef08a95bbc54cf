"""The one token-endpoint layer: the response and error parsers Maskinporten and ID-porten share."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import altinn_async as altinn
from altinn_async._oauth import TokenResponse, parse_oauth_error, parse_token_response

from .helpers import MOCK_ENV, ScriptedMaskinporten, signing_key

ENDPOINT = "https://mp.example/token"


def answer(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("POST", ENDPOINT))


@pytest.mark.parametrize("expires_in", [600, 600.0, "600", " 600 "])
def test_expires_in_as_a_number_or_a_string_of_digits(expires_in: object) -> None:
    parsed = parse_token_response(
        answer({"access_token": "at", "token_type": "bearer", "expires_in": expires_in}),
        endpoint=ENDPOINT,
        server="X",
        sent_at=1000.0,
    )
    assert parsed.expires_at == 1600.0
    assert parsed.token().expires_at == 1600.0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"token_type": "Bearer", "expires_in": 60}, "no access_token"),
        ({"access_token": "at", "token_type": "mac", "expires_in": 60}, "not Bearer"),
        ({"access_token": "at", "expires_in": "soon"}, "expires_in"),
        ({"access_token": "at", "expires_in": 0}, "expires_in"),
        ({"access_token": "at", "expires_in": True}, "expires_in"),
        (["not", "an", "object"], "not a JSON object"),
    ],
)
def test_malformed_token_responses(body: Any, words: str) -> None:
    with pytest.raises(altinn.TokenRequestError, match=words) as info:
        parse_token_response(answer(body), endpoint=ENDPOINT, server="X", sent_at=0.0)
    assert "at" not in str(info.value).split()


def test_the_value_keeps_its_secrets_out_of_repr() -> None:
    parsed = TokenResponse(
        access_token="secret-access",
        token_type="Bearer",
        expires_in=60,
        sent_at=0,
        refresh_token="secret-refresh",
        id_token="secret-id",
        extra={"secret": "x"},
    )
    assert "secret" not in repr(parsed)


def test_oauth_error_bodies() -> None:
    error = parse_oauth_error(
        answer({"error": "invalid_grant", "error_description": "d", "error_uri": "u"}, 400)
    )
    assert error is not None
    assert (error.error, error.description, error.uri) == ("invalid_grant", "d", "u")
    assert parse_oauth_error(answer({"message": "no"}, 400)) is None
    assert parse_oauth_error(httpx.Response(502, text="<html>bad gateway</html>")) is None


async def test_maskinporten_reads_a_string_expires_in_through_the_shared_parser() -> None:
    def respond(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "t", "expires_in": "120"})

    endpoint = ScriptedMaskinporten(respond)
    auth = altinn.MaskinportenAuth(
        client_id="c", key=signing_key(), scopes=["altinn:serviceowner/instances.read"],
        environment=MOCK_ENV, http_client=httpx.AsyncClient(transport=endpoint.transport()),
    )  # fmt: skip
    async with auth:
        token = await auth.get_token()
    assert token.lifetime == 120


async def test_a_token_error_without_an_oauth_body_says_so() -> None:
    endpoint = ScriptedMaskinporten(lambda request: httpx.Response(418, text="teapot"))
    auth = altinn.MaskinportenAuth(
        client_id="c", key=signing_key(), scopes=["altinn:serviceowner/instances.read"],
        environment=MOCK_ENV, http_client=httpx.AsyncClient(transport=endpoint.transport()),
    )  # fmt: skip
    async with auth:
        with pytest.raises(altinn.TokenRequestError, match="418 without an OAuth error body"):
            await auth.get_token()
