"""Tokens and the token cache: one in-flight fetch per key, early refresh, exact invalidation."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable

import anyio
import attrs

__all__ = ["AccessToken", "Clock", "TokenCache"]

logger = logging.getLogger("altinn_async")

Clock = Callable[[], float]
"""A function returning the current time as seconds since the epoch (``time.time`` by default)."""


@attrs.frozen
class AccessToken:
    """An access token and when it stops being valid.

    The token string is left out of ``repr`` and ``str``, so a token can be logged or shown in a
    traceback without leaking it.

    Attributes:
        access_token: the token itself (a secret).
        expires_at: when it expires, in seconds since the epoch.
        issued_at: when it was issued (or received), in seconds since the epoch.
        token_type: the scheme to send it with; always ``Bearer`` here.
        scopes: the scopes the server granted, when it said.
    """

    access_token: str = attrs.field(repr=False)
    expires_at: float
    issued_at: float
    token_type: str = "Bearer"
    scopes: tuple[str, ...] = ()

    @property
    def lifetime(self) -> float:
        """Seconds from issue to expiry."""
        return self.expires_at - self.issued_at

    def expires_in(self, now: float) -> float:
        """Seconds left at ``now`` (negative once expired)."""
        return self.expires_at - now


@attrs.define
class _Flight:
    done: anyio.Event = attrs.field(factory=anyio.Event)
    result: AccessToken | None = None
    error: Exception | None = None


class TokenCache:
    """Tokens by key, with one in-flight fetch per key however many coroutines ask.

    A token is *fresh* until a refresh margin before its expiry, then *usable* until a few seconds
    before it. A fresh token is served without waiting. Past the margin, the first caller fetches a
    new token while every other caller keeps the still-usable one; if that early refresh fails, the
    old token is served until it is no longer usable (and the refresh is retried after a pause),
    so a short outage of the token endpoint does not fail requests that still have a valid token.
    Without a usable token, callers wait for the one fetch in flight and share its result or error.

    The margin is a fraction of the token's lifetime, capped: a 120 s Maskinporten token refreshes
    24 s before expiry rather than on every request, a 30-minute Altinn token 2 minutes before.

    One cache can serve many auth flows: the key holds everything that makes a token different.

    Args:
        clock: the time source (seconds since the epoch).
        refresh_fraction: the part of a token's lifetime to refresh ahead of expiry.
        max_refresh_margin: the most seconds ahead of expiry to refresh.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        refresh_fraction: float = 0.2,
        max_refresh_margin: float = 120.0,
    ) -> None:
        if not 0.0 <= refresh_fraction < 1.0:
            raise ValueError("refresh_fraction must be in [0, 1)")
        self._clock = clock
        self._fraction = refresh_fraction
        self._max_margin = max_refresh_margin
        self._tokens: dict[Hashable, AccessToken] = {}
        self._flights: dict[Hashable, _Flight] = {}
        self._retry_at: dict[Hashable, float] = {}

    @property
    def clock(self) -> Clock:
        """The cache's time source."""
        return self._clock

    def refresh_margin(self, token: AccessToken) -> float:
        """Seconds before expiry at which ``token`` stops being fresh."""
        return min(self._max_margin, max(token.lifetime, 0.0) * self._fraction)

    @staticmethod
    def _hard_margin(token: AccessToken) -> float:
        # A token that expires while the request is in transit is useless: stop using it a little
        # before expiry (at most 5 s, less for very short tokens).
        return min(5.0, max(token.lifetime, 0.0) * 0.05)

    def _usable(self, token: AccessToken, now: float) -> bool:
        return now < token.expires_at - self._hard_margin(token)

    def _fresh(self, token: AccessToken, now: float) -> bool:
        return now < token.expires_at - self.refresh_margin(token)

    def peek(self, key: Hashable) -> AccessToken | None:
        """The cached token for ``key`` if it is still usable, without fetching."""
        token = self._tokens.get(key)
        if token is not None and self._usable(token, self._clock()):
            return token
        return None

    def invalidate(self, key: Hashable, token: AccessToken) -> bool:
        """Drop ``token`` from ``key`` if it is still the cached one; return whether it was.

        A token another coroutine already replaced stays replaced: only the token that was actually
        refused is dropped, so many requests failing with the same token cause one new fetch.
        """
        if self._tokens.get(key) == token:
            del self._tokens[key]
            self._retry_at.pop(key, None)
            return True
        return False

    def clear(self) -> None:
        """Forget every cached token."""
        self._tokens.clear()
        self._retry_at.clear()

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[AccessToken]]) -> AccessToken:
        """Return a token for ``key``, calling ``fetch`` when none is fresh.

        Raises:
            Exception: whatever ``fetch`` raised, when no usable token was left to serve.
        """
        while True:
            now = self._clock()
            token = self._tokens.get(key)
            if token is not None:
                if self._fresh(token, now):
                    return token
                usable = self._usable(token, now)
                if usable and (key in self._flights or now < self._retry_at.get(key, 0.0)):
                    return token
            else:
                usable = False
            flight = self._flights.get(key)
            if flight is not None:
                await flight.done.wait()
                if flight.result is not None:
                    return flight.result
                if flight.error is not None:
                    raise flight.error
                continue  # the fetching coroutine was cancelled: try again, perhaps as the fetcher
            return await self._fetch(key, fetch, token if usable else None)

    async def _fetch(
        self,
        key: Hashable,
        fetch: Callable[[], Awaitable[AccessToken]],
        still_usable: AccessToken | None,
    ) -> AccessToken:
        flight = _Flight()
        self._flights[key] = flight
        try:
            new = await fetch()
        except Exception as exc:
            if still_usable is not None and self._usable(still_usable, self._clock()):
                pause = min(10.0, max(still_usable.expires_in(self._clock()) / 4, 1.0))
                self._retry_at[key] = self._clock() + pause
                logger.warning(
                    "early token refresh failed (%s); using the current token for %.0f s more",
                    type(exc).__name__,
                    still_usable.expires_in(self._clock()),
                )
                flight.result = still_usable
                return still_usable
            flight.error = exc
            raise
        else:
            self._tokens[key] = new
            self._retry_at.pop(key, None)
            flight.result = new
            return new
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
            flight.done.set()
