"""The httpx adapter shared by every bearer-token flow, and the token-source protocol."""

from __future__ import annotations

import abc
import hashlib
import logging
import time
from collections.abc import AsyncGenerator, Generator, Hashable, Iterable
from typing import ClassVar, Protocol, runtime_checkable

from . import _telemetry as telemetry
from ._context import Closing, TokenContext
from ._environment import Environment
from ._httpcompat import AuthBase, FlowRequest, FlowResponse, is_replayable
from ._jwt import unverified_claims
from ._origins import ForeignOrigins, OriginPolicy
from ._tokens import AccessToken, Clock, TokenCache
from .exceptions import ConfigurationError, TokenError

__all__ = ["StaticToken", "TokenAuth", "TokenSource"]

logger = logging.getLogger("altinn_async")


@runtime_checkable
class TokenSource(Protocol):
    """Anything that hands out access tokens: Maskinporten, an ID-porten session, a fixed token.

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


def environment_origins(environment: Environment) -> tuple[str | None, ...]:
    """The URLs whose origins an environment's API credentials belong to."""
    return (environment.platform, environment.altinn2)


class TokenAuth(Closing, AuthBase, abc.ABC):
    """Base of the bearer-token auth flows: cache, single-flight fetch, origins, a 401 retry.

    Subclasses say what identifies their tokens (`cache_key`) and how to fetch one (`_fetch`).
    Every request to one of the flow's origins gets ``Authorization: Bearer <token>``; on a 401
    the token that was sent is dropped, a new one fetched, and the request sent once more, never
    more than once. A request to any other origin is refused (`ForeignOriginError`) or, with
    ``foreign_origins="omit"``, sent without the token. A flow is an ``httpx.Auth``, and an
    ``httpx2.Auth`` too when httpx2 is installed: one flow works on a client of either.
    """

    requires_request_body = False
    requires_response_body = False
    _flow: ClassVar[str] = "token"
    """The flow's kind in telemetry (``maskinporten``, ``exchange``, ``idporten``)."""

    def __init__(
        self,
        *,
        environment: Environment,
        context: TokenContext,
        owns_context: bool,
        origins: OriginPolicy,
    ) -> None:
        if not isinstance(environment, Environment):
            raise ConfigurationError(
                f"environment must be an altinn_async.Environment, got {type(environment).__name__}"
            )
        self._environment = environment
        self._context = context
        self._owns_context = owns_context
        self._origins = origins
        self._lookups = telemetry.token_lookups(self._flow)
        self._flow_attributes = {telemetry.FLOW: self._flow}

    @property
    def environment(self) -> Environment:
        """The environment tokens are fetched for."""
        return self._environment

    @property
    def cache(self) -> TokenCache:
        """The token cache (shared by every flow of the chain)."""
        return self._context.cache

    @property
    def context(self) -> TokenContext:
        """The chain's HTTP client, cache, clock and retry policy."""
        return self._context

    @property
    def origins(self) -> frozenset[str]:
        """The origins this flow sends its token to."""
        return self._origins.home

    @property
    @abc.abstractmethod
    def cache_key(self) -> Hashable:
        """What makes this flow's tokens different from another's (never a secret)."""

    @property
    @abc.abstractmethod
    def exchange_provider(self) -> str:
        """The provider name in Altinn's exchange URL."""

    @abc.abstractmethod
    async def _fetch(self) -> AccessToken:
        """Fetch a new token from the server."""

    def _derived_from(self) -> Hashable | None:
        """The cache key of the token this flow's tokens are made from, if any."""
        return None

    def _shares_tokens(self) -> bool:
        """Whether this flow's tokens may go to the cache's shared backend (`SharedTokens`)."""
        return True

    async def get_token(self) -> AccessToken:
        """Return a valid token: cached if fresh, else fetched once for all waiting callers.

        Raises:
            TokenError: no token could be had (its subclasses say why).
        """
        # The per-request path: a dict lookup and one addition for the cache-hit metric; no
        # await, no span.
        self._lookups.lookups += 1
        cache = self._context.cache
        token = cache.fresh_token(self.cache_key)
        if token is not None:
            return token
        return await cache.get(
            self.cache_key,
            self._traced_fetch,
            derived_from=self._derived_from(),
            shared=self._shares_tokens(),
        )

    async def _traced_fetch(self) -> AccessToken:
        # Runs when the cache has no fresh token: a miss, and the fetch's span.
        self._lookups.misses += 1
        with telemetry.span("altinn.token.fetch", self._flow_attributes):
            return await self._fetch()

    async def invalidate(self, token: AccessToken) -> None:
        """Drop ``token`` from the cache (it was refused); the next call fetches a new one."""
        if self._context.cache.invalidate(self.cache_key, token):
            logger.info(
                "dropped a refused token (%s)", self._describe(), extra={"altinn_flow": self._flow}
            )

    def _describe(self) -> str:
        return type(self).__name__

    async def aclose(self) -> None:
        """Close what this flow's chain made for itself (an HTTP client it was given stays open)."""
        if self._owns_context:
            await self._context.aclose()

    # The flow takes the request of an httpx or an httpx2 client (`FlowRequest`): the same API.
    def sync_auth_flow(self, request: FlowRequest) -> Generator[FlowRequest, FlowResponse]:
        raise ConfigurationError(
            f"{type(self).__name__} works with httpx.AsyncClient only, not httpx.Client"
        )

    async def async_auth_flow(
        self, request: FlowRequest
    ) -> AsyncGenerator[FlowRequest, FlowResponse]:
        if not self._origins.admits(request.url):
            yield request
            return
        # A body given as bytes can be sent again; a streamed upload cannot. Decided before
        # sending, since a transport may buffer the stream while sending it.
        replayable = is_replayable(request)
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


def origin_policy(
    environment: Environment,
    *,
    extra: Iterable[str | None] = (),
    allowed_origins: Iterable[str],
    foreign_origins: ForeignOrigins,
    what: str,
) -> OriginPolicy:
    """The origin policy of a flow whose credentials belong to ``environment``'s APIs."""
    return OriginPolicy.build(
        [*environment_origins(environment), *extra],
        allowed_origins=allowed_origins,
        foreign_origins=foreign_origins,
        what=what,
    )


class StaticToken:
    """A token you already have, as a token source (for example to exchange it for an Altinn token).

    It cannot be renewed: once it is refused or expired, `get_token` raises `TokenError`.

    Args:
        access_token: the token.
        expires_at: its expiry in seconds since the epoch (read from the JWT's ``exp`` if omitted).
        environment: the environment it belongs to.
        exchange_provider: ``maskinporten`` or ``id-porten``.
        clock: the time source (``time.time``).
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
