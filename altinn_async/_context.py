"""What one auth chain shares: the HTTP client for token requests, the token cache, the clock and
the retry policy."""

from __future__ import annotations

from types import TracebackType
from typing import Self

import httpx

from ._httpcompat import AsyncClient, as_httpx, is_client
from ._retry import RetryPolicy
from ._tokens import Clock, TokenCache
from .exceptions import ConfigurationError

__all__ = ["Closing", "TokenContext"]

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class Closing:
    """``async with`` for anything with an ``aclose``: it is closed on the way out."""

    async def aclose(self) -> None:
        """Close what this object made."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class TokenContext:
    """The resources of one auth chain (``AltinnExchangeAuth(MaskinportenAuth(...))``).

    Every flow of a chain fetches its tokens through one HTTP client and keeps them in one cache,
    so that an exchanged token can die with the session it came from and closing the outer flow
    closes what the chain made. A client given by the caller is used and never closed; one made
    here is made on first use and closed by `aclose`.

    Args:
        http_client: the client for token requests, or ``None`` to make one.
        cache: the token cache, or ``None`` for a new one.
        clock: the time source of a new cache (give it to the cache instead if you pass one).
        retry: the retry policy for token requests.
    """

    def __init__(
        self,
        *,
        http_client: AsyncClient | None = None,
        cache: TokenCache | None = None,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if cache is not None and clock is not None and cache.clock is not clock:
            raise ConfigurationError("give the clock to the TokenCache, not to both")
        if http_client is not None and not is_client(http_client):
            raise ConfigurationError(
                "http_client must be an httpx.AsyncClient (or an httpx2.AsyncClient), got "
                f"{type(http_client).__name__}"
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(
                f"retry must be an altinn_async.RetryPolicy, got {type(retry).__name__}"
            )
        self._given = None if http_client is None else as_httpx(http_client)
        self._made: httpx.AsyncClient | None = None
        self._parent: TokenContext | None = None
        if cache is None:
            cache = TokenCache(clock=clock) if clock is not None else TokenCache()
        self.cache = cache
        self.retry = retry if retry is not None else RetryPolicy()

    def __repr__(self) -> str:
        return f"TokenContext(cache={self.cache!r}, retry={self.retry!r})"

    @property
    def clock(self) -> Clock:
        """The time source (the cache's)."""
        return self.cache.clock

    def client(self) -> httpx.AsyncClient:
        """The HTTP client for token requests (made now if none was given or made yet)."""
        if self._given is not None:
            return self._given
        if self._parent is not None:
            return self._parent.client()
        if self._made is None or self._made.is_closed:
            self._made = httpx.AsyncClient(timeout=DEFAULT_TIMEOUT)
        return self._made

    def derive(
        self, *, http_client: AsyncClient | None = None, retry: RetryPolicy | None = None
    ) -> TokenContext:
        """A context with this one's cache, and the given client or policy instead of its own.

        Without a client of its own it uses this context's, which stays this context's to close.
        """
        if http_client is None and retry is None:
            return self
        derived = TokenContext(http_client=http_client, cache=self.cache, retry=retry or self.retry)
        if http_client is None:
            derived._parent = self
        return derived

    async def aclose(self) -> None:
        """Close the HTTP client made here (a given one, or a parent's, stays open)."""
        if self._made is not None:
            made, self._made = self._made, None
            await made.aclose()
