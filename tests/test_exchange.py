"""AltinnExchangeAuth against a scripted exchange endpoint: parsing, caching by exp, errors."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import httpx
import pytest

from altinn_async import (
    AccessToken,
    AltinnExchangeAuth,
    ConfigurationError,
    ExchangeError,
    StaticToken,
    TokenCache,
    TokenError,
)

from .helpers import MOCK_ENV, fake_jwt

EXCHANGE_URL = "https://platform.example/authentication/api/v1/exchange/maskinporten"


class Upstream:
    """A token source that counts fetches and invalidations."""

    def __init__(self, lifetime: float = 120.0, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.fetches = 0
        self.invalidated: list[AccessToken] = []
        self.lifetime = lifetime
        self.current: AccessToken | None = None

    @property
    def cache_key(self) -> object:
        return ("upstream", "client-1")

    @property
    def environment(self) -> Any:
        return MOCK_ENV

    @property
    def exchange_provider(self) -> str:
        return "maskinporten"

    async def get_token(self) -> AccessToken:
        if self.current is None or self.current.expires_at <= self.clock():
            self.fetches += 1
            now = self.clock()
            self.current = AccessToken(f"mp-token-{self.fetches}", now + self.lifetime, now)
        return self.current

    async def invalidate(self, token: AccessToken) -> None:
        self.invalidated.append(token)
        if token == self.current:
            self.current = None


class Exchange:
    def __init__(self, respond: Callable[[httpx.Request], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.respond(request)


def altinn_token(lifetime: int = 1800, now: float | None = None) -> str:
    iat = int(time.time() if now is None else now)
    claims = {"iat": iat, "exp": iat + lifetime, "scope": "altinn:serviceowner", "jti": uuid4().hex}
    return fake_jwt(claims)


def make(
    exchange: Exchange, upstream: Upstream | None = None, **options: Any
) -> AltinnExchangeAuth:
    return AltinnExchangeAuth(
        upstream or Upstream(),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(exchange)),
        **options,
    )


async def test_text_plain_body() -> None:
    jwt = altinn_token()
    exchange = Exchange(lambda r: httpx.Response(200, text=jwt))
    async with make(exchange) as auth:
        token = await auth.get_token()
    assert token.access_token == jwt
    request = exchange.requests[0]
    assert request.method == "GET"
    assert str(request.url) == EXCHANGE_URL
    assert request.headers["Authorization"] == "Bearer mp-token-1"
    assert request.headers["Accept"].startswith("text/plain")
    assert token.scopes == ("altinn:serviceowner",)


async def test_json_string_body() -> None:
    jwt = altinn_token()
    exchange = Exchange(
        lambda r: httpx.Response(
            200, content=json.dumps(jwt).encode(), headers={"Content-Type": "application/json"}
        )
    )
    async with make(exchange) as auth:
        assert (await auth.get_token()).access_token == jwt


async def test_test_flag_is_sent() -> None:
    exchange = Exchange(lambda r: httpx.Response(200, text=altinn_token()))
    async with make(exchange, test=True) as auth:
        await auth.get_token()
    assert exchange.requests[0].url.params["test"] == "true"


async def test_cached_by_the_altinn_tokens_own_exp_not_the_upstreams() -> None:
    # The upstream token lives 120 s; the Altinn token 30 minutes. Once exchanged, the upstream
    # is not asked again while the Altinn token is fresh, and the Altinn token is refreshed by
    # its own exp.
    now = [time.time()]
    upstream = Upstream(lifetime=120.0, clock=lambda: now[0])
    exchange = Exchange(lambda r: httpx.Response(200, text=altinn_token(1800, now[0])))
    async with make(exchange, upstream, cache=TokenCache(clock=lambda: now[0])) as auth:
        first = await auth.get_token()
        assert first.expires_at - first.issued_at == pytest.approx(1800, abs=1)
        now[0] += 1500  # upstream long expired; Altinn token fresh (refreshes 120 s before exp)
        assert await auth.get_token() == first
        assert len(exchange.requests) == 1
        assert upstream.fetches == 1
        now[0] += 200  # inside the Altinn token's refresh margin
        second = await auth.get_token()
    assert second != first
    assert len(exchange.requests) == 2
    assert upstream.fetches == 2


async def test_a_401_drops_the_upstream_token_and_retries_once() -> None:
    jwt = altinn_token()
    responses = iter([httpx.Response(401), httpx.Response(200, text=jwt)])
    exchange = Exchange(lambda r: next(responses))
    upstream = Upstream()
    async with make(exchange, upstream) as auth:
        assert (await auth.get_token()).access_token == jwt
    assert [t.access_token for t in upstream.invalidated] == ["mp-token-1"]
    assert exchange.requests[1].headers["Authorization"] == "Bearer mp-token-2"


async def test_repeated_401_is_an_error_not_a_loop() -> None:
    problem = {
        "type": "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        "title": "Unauthorized",
    }
    exchange = Exchange(
        lambda r: httpx.Response(
            401, json=problem, headers={"Content-Type": "application/problem+json"}
        )
    )
    async with make(exchange) as auth:
        with pytest.raises(ExchangeError) as info:
            await auth.get_token()
    assert info.value.status_code == 401
    assert info.value.problem == problem
    assert info.value.provider == "maskinporten"
    assert "Unauthorized" in str(info.value)
    assert len(exchange.requests) == 2


async def test_unknown_provider_text_is_in_the_error() -> None:
    text = "Invalid token provider: x. Trusted token providers are 'Maskinporten', ..."
    exchange = Exchange(lambda r: httpx.Response(400, text=text))
    async with make(exchange) as auth:
        with pytest.raises(ExchangeError, match="Invalid token provider") as info:
            await auth.get_token()
    assert info.value.status_code == 400


@pytest.mark.parametrize(
    "body",
    [b"not a jwt", b'"unterminated', b"eyJhbGciOiJub25lIn0.eyJ4IjoxfQ.", b'"a.b.c"', b"{}"],
)
async def test_garbage_success_bodies_are_errors(body: bytes) -> None:
    exchange = Exchange(lambda r: httpx.Response(200, content=body))
    async with make(exchange) as auth:
        with pytest.raises(ExchangeError) as info:
            await auth.get_token()
    assert info.value.status_code == 200


async def test_upstream_secret_not_in_errors_or_repr() -> None:
    exchange = Exchange(lambda r: httpx.Response(403))
    upstream = Upstream()
    async with make(exchange, upstream) as auth:
        with pytest.raises(ExchangeError) as info:
            await auth.get_token()
        assert "mp-token" not in repr(auth)
    assert "mp-token" not in str(info.value)


def test_provider_is_checked() -> None:
    with pytest.raises(ConfigurationError, match="provider"):
        make(Exchange(lambda r: httpx.Response(500)), provider="facebook")


def test_upstream_must_be_a_token_source() -> None:
    with pytest.raises(ConfigurationError, match="token source"):
        AltinnExchangeAuth(object())  # type: ignore[arg-type]


async def test_static_token_can_be_exchanged_but_not_renewed() -> None:
    now = int(time.time())
    upstream_jwt = fake_jwt({"exp": now + 60})
    static = StaticToken(upstream_jwt, environment=MOCK_ENV)
    assert upstream_jwt not in repr(static)
    problem = {"title": "Unauthorized", "status": 401, "detail": "The token has been revoked"}
    exchange = Exchange(lambda r: httpx.Response(401, json=problem))
    auth = AltinnExchangeAuth(
        static, http_client=httpx.AsyncClient(transport=httpx.MockTransport(exchange))
    )
    async with auth:
        with pytest.raises(ExchangeError) as info:
            await auth.get_token()
    # The exchange's refusal is the news, and why no new token came is said too.
    error = info.value
    assert error.status_code == 401
    assert error.problem == problem
    assert "The token has been revoked" in str(error)
    assert "cannot be renewed" in str(error)
    assert isinstance(error.__cause__, TokenError)
    assert upstream_jwt not in str(error)
    assert len(exchange.requests) == 1  # the static token is not sent again
    assert exchange.requests[0].headers["Authorization"] == f"Bearer {upstream_jwt}"


def test_static_token_needs_an_exp() -> None:
    with pytest.raises(ConfigurationError, match="exp"):
        StaticToken(fake_jwt({"sub": "x"}), environment=MOCK_ENV)
    with pytest.raises(TokenError, match="not a readable JWT"):
        StaticToken("opaque-token", environment=MOCK_ENV)


async def test_shared_cache_separates_exchange_from_upstream() -> None:
    cache = TokenCache()
    exchange = Exchange(lambda r: httpx.Response(200, text=altinn_token()))
    first = make(exchange, cache=cache)
    second = make(exchange, cache=cache, test=True)
    a = await first.get_token()
    b = await second.get_token()
    assert len(exchange.requests) == 2  # test=True is a different token
    assert await make(exchange, cache=cache).get_token() == a
    assert a != b
    for auth in (first, second):
        await auth.aclose()
