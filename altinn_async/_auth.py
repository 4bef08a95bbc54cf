"""The httpx adapter shared by every bearer-token flow, and the token-source protocol."""

from __future__ import annotations

import abc
import hashlib
import logging
import random
import time
from collections.abc import AsyncGenerator, Generator, Hashable
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

import anyio
import httpx

from ._api import retry_after
from ._environment import Environment
from ._jwt import unverified_claims
from ._tokens import AccessToken, Clock, TokenCache
from .exceptions import ConfigurationError, TokenError

__all__ = ["StaticToken", "TokenAuth", "TokenSource"]

logger = logging.getLogger("altinn_async")

_DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@runtime_checkable
class TokenSource(Protocol):
    """Anything that hands out access tokens: Maskinporten, ID-porten, a fixed token.

    `AltinnExchangeAuth` wraps any token source whose ``exchange_provider`` Altinn accepts.
    """

    @property
    def cache_key(self) -> Hashable:
        """What makes this source's tokens different from another source's (never a secret)."""
        ...

    @property
    def environment(self) -> Environment:
        """The environment the tokens are for."""
        ...

    @property
    def exchange_provider(self) -> str:
        """The provider name in Altinn's exchange URL (``maskinporten``, ``id-porten``)."""
        ...

    async def get_token(self) -> AccessToken:
        """A valid token, fetched or from the cache."""
        ...

    async def invalidate(self, token: AccessToken) -> None:
        """Forget ``token`` because a server refused it."""
        ...


def _retry_delay(attempt: int, response: httpx.Response | None) -> float:
    wait = None if response is None else retry_after(response)
    if wait is not None:
        return min(wait, 30.0)
    # Full jitter keeps a fleet of workers from retrying in step.
    return random.uniform(0, min(0.25 * 2**attempt, 4.0))  # noqa: S311 - not for security


class TokenAuth(httpx.Auth, abc.ABC):
    """Base of the bearer-token auth flows: cache, single-flight fetch, and a 401 retry.

    Subclasses say what identifies their tokens (`cache_key`) and how to fetch one (`_fetch`).
    Every request gets ``Authorization: Bearer <token>``; on a 401 the token that was sent is
    dropped, a new one fetched, and the request sent once more, never more than once.
    """

    requires_request_body = False
    requires_response_body = False

    def __init__(
        self,
        *,
        environment: Environment,
        http_client: httpx.AsyncClient | None,
        cache: TokenCache | None,
        clock: Clock | None,
        max_attempts: int,
    ) -> None:
        if not isinstance(environment, Environment):
            raise ConfigurationError(
                f"environment must be an altinn_async.Environment, got {type(environment).__name__}"
            )
        if max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        if cache is not None and clock is not None and cache.clock is not clock:
            raise ConfigurationError("give the clock to the TokenCache, not to both")
        self._environment = environment
        self._cache = cache if cache is not None else TokenCache(clock=clock or time.time)
        self._http_client = http_client
        self._owns_client = http_client is None
        self._max_attempts = max_attempts

    @property
    def environment(self) -> Environment:
        """The environment tokens are fetched for."""
        return self._environment

    @property
    def cache(self) -> TokenCache:
        """The token cache (shareable between flows)."""
        return self._cache

    @property
    @abc.abstractmethod
    def cache_key(self) -> Hashable:
        """What makes this flow's tokens different from another's (never a secret)."""

    @abc.abstractmethod
    async def _fetch(self) -> AccessToken:
        """Fetch a new token from the server."""

    def _client(self) -> httpx.AsyncClient:
        if self._http_client is None:
            self._http_client = httpx.AsyncClient(timeout=_DEFAULT_TIMEOUT)
        return self._http_client

    async def _send_with_retries(
        self, build: _RequestBuilder, *, what: str
    ) -> httpx.Response | httpx.TransportError:
        """Send a request built anew for each attempt, retrying transport errors and 429/5xx.

        Returns the last response (whatever its status) or the last transport error.
        """
        client = self._client()
        outcome: httpx.Response | httpx.TransportError
        attempt = 0
        while True:
            request = await build(client)
            try:
                outcome = await client.send(request)
            except httpx.TransportError as exc:
                outcome = exc
            if attempt + 1 >= self._max_attempts:
                return outcome
            if isinstance(outcome, httpx.Response):
                if outcome.status_code not in _RETRY_STATUSES:
                    return outcome
                await outcome.aread()
                delay = _retry_delay(attempt, outcome)
                reason = f"HTTP {outcome.status_code}"
            else:
                delay = _retry_delay(attempt, None)
                reason = type(outcome).__name__
            logger.info("%s failed (%s); retrying in %.2f s", what, reason, delay)
            await anyio.sleep(delay)
            attempt += 1

    async def get_token(self) -> AccessToken:
        """Return a valid token: cached if fresh, else fetched once for all waiting callers.

        Raises:
            TokenError: no token could be had (its subclasses say why).
        """
        return await self._cache.get(self.cache_key, self._fetch)

    async def invalidate(self, token: AccessToken) -> None:
        """Drop ``token`` from the cache (it was refused); the next call fetches a new one."""
        if self._cache.invalidate(self.cache_key, token):
            logger.info("dropped a refused token (%s)", self._describe())

    def _describe(self) -> str:
        return type(self).__name__

    async def aclose(self) -> None:
        """Close the HTTP client this flow created for itself (one given to it stays open)."""
        if self._owns_client and self._http_client is not None:
            await self._http_client.aclose()
            self._http_client = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise ConfigurationError(
            f"{type(self).__name__} works with httpx.AsyncClient only, not httpx.Client"
        )

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        # A body given as bytes can be sent again; a streamed upload cannot. Decided before
        # sending, since a transport may buffer the stream while sending it.
        replayable = isinstance(request.stream, httpx.ByteStream)
        token = await self.get_token()
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        response = yield request
        if response.status_code != 401:
            return
        await self.invalidate(token)
        if not replayable:
            return  # the next request gets a new token; this 401 goes to the caller
        token = await self.get_token()
        request.headers["Authorization"] = f"Bearer {token.access_token}"
        yield request


class _RequestBuilder(Protocol):
    async def __call__(self, client: httpx.AsyncClient, /) -> httpx.Request: ...


class StaticToken:
    """A token you already have, as a token source (for example to exchange it for an Altinn token).

    It cannot be renewed: once it is refused or expired, `get_token` raises `TokenError`.

    Args:
        access_token: the token.
        expires_at: its expiry in seconds since the epoch (read from the JWT's ``exp`` if omitted).
        environment: the environment it belongs to.
        exchange_provider: ``maskinporten`` or ``id-porten``.
    """

    def __init__(
        self,
        access_token: str,
        *,
        environment: Environment,
        exchange_provider: str = "maskinporten",
        expires_at: float | None = None,
        clock: Clock = time.time,
    ) -> None:
        if expires_at is None:
            exp = unverified_claims(access_token, what="the token").get("exp")
            if not isinstance(exp, int | float):
                raise ConfigurationError("the token has no 'exp'; pass expires_at=")
            expires_at = float(exp)
        now = clock()
        self._token: AccessToken | None = AccessToken(access_token, expires_at, now)
        self._environment = environment
        self._provider = exchange_provider
        self._clock = clock
        # The key identifies the token without holding it: a digest, not the secret.
        self._key = ("static", hashlib.sha256(access_token.encode()).hexdigest()[:32])

    def __repr__(self) -> str:
        return (
            f"StaticToken(exchange_provider={self._provider!r}, "
            f"environment={self._environment.name!r})"
        )

    @property
    def cache_key(self) -> Hashable:
        return self._key

    @property
    def environment(self) -> Environment:
        return self._environment

    @property
    def exchange_provider(self) -> str:
        return self._provider

    async def get_token(self) -> AccessToken:
        if self._token is None:
            raise TokenError("the static token was refused and cannot be renewed")
        if self._token.expires_at <= self._clock():
            raise TokenError("the static token has expired and cannot be renewed")
        return self._token

    async def invalidate(self, token: AccessToken) -> None:
        if token == self._token:
            self._token = None
