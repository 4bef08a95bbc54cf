"""Tokens and the token cache: one in-flight fetch per key, early refresh, exact invalidation."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Protocol, runtime_checkable

import anyio
import attrs

from .exceptions import ConfigurationError, SharedStoreError

__all__ = ["AccessToken", "Clock", "SharedTokens", "TokenCache"]

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


@runtime_checkable
class SharedTokens(Protocol):
    """Where the token caches of several processes share their tokens (`RedisTokenBackend`).

    A `TokenCache` given one asks it on a local miss: it reads the shared token, and when there
    is none fresh, one process at a time (the holder of ``try_lock``) fetches and saves a new one
    while the others serve a still-usable token or wait for the holder's. A lock is a lease: it
    frees itself when its holder dies. Keys are the cache's keys (tuples of strings, perhaps
    holding a session key): an implementation stores a digest of them, never the key itself.

    A store that cannot be reached raises `SharedStoreError` from any method; the cache then logs
    a warning and fetches the token in this process (an outage of the store costs one fetch per
    process, not the requests).
    """

    async def load(self, key: Hashable) -> AccessToken | None:
        """The token saved under ``key`` and not yet expired, or ``None``."""
        ...

    async def save(self, key: Hashable, token: AccessToken) -> None:
        """Keep ``token`` under ``key`` until it expires."""
        ...

    async def try_lock(self, key: Hashable) -> str | None:
        """Take the right to fetch ``key``'s token if no one holds it: the holder's id, or None."""
        ...

    async def unlock(self, key: Hashable, holder: str) -> None:
        """Give the right back, if ``holder`` still has it (an expired lease is someone else's)."""
        ...


_SHARED_POLL = 0.01
_SHARED_POLL_MAX = 0.2


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

    A token can be *derived* from another key's (an exchanged Altinn token from a person's login
    session): `discard` drops a key together with everything derived from it, and a fetch that
    was under way when its key was discarded is not kept.

    One cache can serve many auth flows: the key holds everything that makes a token different.
    Expired tokens are swept out as the cache grows, so a backend with many short sessions does
    not keep them all.

    With ``shared`` (`SharedTokens`, such as `altinn_async.redis.RedisTokenBackend`), several
    processes fetch one token per key between them: a local miss reads the shared token, and
    when none is fresh one process fetches while the others keep serving a still-usable token or
    wait for the new one. The in-process single flight stays: a process asks the backend once
    per key however many of its coroutines are waiting. What holds across processes:

    - a token refused with a 401 (`invalidate`) is not taken from the backend again by the
      process that saw the refusal, which fetches and saves a new one; other processes keep the
      refused one until they see their own 401;
    - after `discard` (a logout, a new login under a session key) this process does not take
      the key's shared token, nor those derived from it, until it has saved one of its own;
    - tokens asked for with ``shared=False`` stay in this process: an ID-porten session's
      tokens (the `TokenStore` is what processes share for a person) and the Altinn tokens
      exchanged from them, so a logout in one process is never answered from another's copy.

    Args:
        clock: the time source (seconds since the epoch).
        refresh_fraction: the part of a token's lifetime to refresh ahead of expiry.
        max_refresh_margin: the most seconds ahead of expiry to refresh.
        shared: where to share tokens with other processes, or ``None`` for this process only.
    """

    def __init__(
        self,
        *,
        clock: Clock = time.time,
        refresh_fraction: float = 0.2,
        max_refresh_margin: float = 120.0,
        shared: SharedTokens | None = None,
    ) -> None:
        if not 0.0 <= refresh_fraction < 1.0:
            raise ValueError("refresh_fraction must be in [0, 1)")
        if shared is not None and not isinstance(shared, SharedTokens):
            raise ConfigurationError(
                "shared must implement altinn_async.SharedTokens (load, save, try_lock, unlock)"
            )
        self._clock = clock
        self._fraction = refresh_fraction
        self._max_margin = max_refresh_margin
        self._tokens: dict[Hashable, AccessToken] = {}
        self._flights: dict[Hashable, _Flight] = {}
        self._retry_at: dict[Hashable, float] = {}
        self._derived: dict[Hashable, set[Hashable]] = {}
        self._epochs: dict[Hashable, int] = {}
        self._sweep_at = _SWEEP_SIZE
        self._shared = shared
        # Kept only with a shared backend: what this process must not take from it again.
        self._refused: dict[Hashable, AccessToken] = {}
        self._distrusted: set[Hashable] = set()

    def __repr__(self) -> str:
        shared = f", shared={self._shared!r}" if self._shared is not None else ""
        return (
            f"TokenCache({len(self._tokens)} tokens, {len(self._flights)} fetches under way"
            f"{shared})"
        )

    def __len__(self) -> int:
        return len(self._tokens)

    @property
    def clock(self) -> Clock:
        """The cache's time source."""
        return self._clock

    @property
    def shared(self) -> SharedTokens | None:
        """Where tokens are shared with other processes, if anywhere."""
        return self._shared

    def refresh_margin(self, token: AccessToken) -> float:
        """Seconds before expiry at which ``token`` stops being fresh."""
        return min(self._max_margin, max(token.lifetime, 0.0) * self._fraction)

    @staticmethod
    def _hard_margin(token: AccessToken) -> float:
        # A token that expires while the request is in transit is useless: stop using it a little
        # before expiry (at most 5 s, less for very short tokens).
        return min(5.0, max(token.lifetime, 0.0) * 0.05)

    def usable(self, token: AccessToken) -> bool:
        """Whether ``token`` can still be sent (it does not expire on the way)."""
        return self._clock() < token.expires_at - self._hard_margin(token)

    def fresh(self, token: AccessToken) -> bool:
        """Whether ``token`` is not yet due for a refresh."""
        return self._clock() < token.expires_at - self.refresh_margin(token)

    def fresh_token(self, key: Hashable) -> AccessToken | None:
        """The token for ``key`` if one is here and fresh (no I/O, no lock, no await): the
        per-request path; `get` does the rest."""
        token = self._tokens.get(key)
        return token if token is not None and self.fresh(token) else None

    def peek(self, key: Hashable) -> AccessToken | None:
        """The cached token for ``key`` if it is still usable, without fetching."""
        token = self._tokens.get(key)
        if token is not None and self.usable(token):
            return token
        return None

    def invalidate(self, key: Hashable, token: AccessToken) -> bool:
        """Drop ``token`` from ``key`` if it is still the cached one; return whether it was.

        A token another coroutine already replaced stays replaced: only the token that was actually
        refused is dropped, so many requests failing with the same token cause one new fetch.
        Tokens derived from it stay (an exchanged Altinn token outlives the token it came from).
        """
        if self._tokens.get(key) == token:
            del self._tokens[key]
            self._retry_at.pop(key, None)
            if self._shared is not None:
                self._refused[key] = token
            return True
        return False

    def discard(self, key: Hashable) -> None:
        """Forget ``key``'s token and every token derived from it, now and in flight.

        For the end or change of what the key stands for (a person logs out, or another person
        logs in under the same session key): nothing fetched for the old one is served again.
        """
        pending = [key]
        while pending:
            current = pending.pop()
            self._tokens.pop(current, None)
            self._retry_at.pop(current, None)
            self._epochs[current] = self._epochs.get(current, 0) + 1
            if self._shared is not None:
                self._distrusted.add(current)
            pending.extend(self._derived.pop(current, ()))

    def clear(self) -> None:
        """Forget every cached token."""
        for key in [*self._tokens, *self._flights]:
            self.discard(key)

    async def get(
        self,
        key: Hashable,
        fetch: Callable[[], Awaitable[AccessToken]],
        *,
        derived_from: Hashable | None = None,
        shared: bool = True,
    ) -> AccessToken:
        """Return a token for ``key``, calling ``fetch`` when none is fresh.

        Args:
            key: what identifies the token.
            fetch: gets a new one.
            derived_from: the key of the token this one is made from, so that `discard` of that
                key drops this one too.
            shared: whether the token may go through the cache's shared backend (if it has
                one); ``False`` keeps it in this process.

        Raises:
            Exception: whatever ``fetch`` raised, when no usable token was left to serve.
        """
        while True:
            token = self._tokens.get(key)
            if token is not None and self.fresh(token):
                return token  # the per-request path: one lookup
            epoch = self._epochs.get(key, 0)
            usable = False
            if token is not None:
                usable = self.usable(token)
                now = self._clock()
                if usable and (key in self._flights or now < self._retry_at.get(key, 0.0)):
                    return token
            flight = self._flights.get(key)
            if flight is not None:
                await flight.done.wait()
                if self._epochs.get(key, 0) != epoch:
                    continue  # discarded meanwhile: what was fetched is not for us
                if flight.result is not None:
                    return flight.result
                if flight.error is not None:
                    raise flight.error
                continue  # the fetching coroutine was cancelled: try again, perhaps as the fetcher
            via = self._shared if shared else None
            result = await self._fetch(
                key, fetch, token if usable else None, epoch, derived_from, shared=via
            )
            if self._epochs.get(key, 0) == epoch:
                return result

    async def _fetch(
        self,
        key: Hashable,
        fetch: Callable[[], Awaitable[AccessToken]],
        still_usable: AccessToken | None,
        epoch: int,
        derived_from: Hashable | None,
        *,
        shared: SharedTokens | None,
    ) -> AccessToken:
        if shared is not None:
            fetch = self._through_shared(shared, key, fetch, still_usable)
        flight = _Flight()
        self._flights[key] = flight
        if derived_from is not None:
            # Known before the fetch ends, so that discarding the source while it runs makes its
            # result unwanted.
            self._derived.setdefault(derived_from, set()).add(key)
        try:
            new = await fetch()
        except Exception as exc:
            if still_usable is not None and self.usable(still_usable):
                pause = min(10.0, max(still_usable.expires_in(self._clock()) / 4, 1.0))
                self._retry_at[key] = self._clock() + pause
                logger.warning(
                    "early token refresh failed (%s); using the current token for %.0f s more",
                    type(exc).__name__,
                    still_usable.expires_in(self._clock()),
                    extra={"altinn_error": type(exc).__name__},
                )
                flight.result = still_usable
                return still_usable
            flight.error = exc
            raise
        else:
            if self._epochs.get(key, 0) == epoch:
                if new is not still_usable:
                    self._store(key, new)
                if shared is not None and not self.fresh(new):
                    # Another process is fetching: serve this one, and look again shortly.
                    self._retry_at[key] = self._clock() + _SHARED_POLL
            flight.result = new
            return new
        finally:
            if self._flights.get(key) is flight:
                del self._flights[key]
            flight.done.set()

    def _through_shared(
        self,
        shared: SharedTokens,
        key: Hashable,
        fetch: Callable[[], Awaitable[AccessToken]],
        still_usable: AccessToken | None,
    ) -> Callable[[], Awaitable[AccessToken]]:
        """``fetch`` made to go through the shared backend: one fetch for all processes."""

        async def take() -> AccessToken | None:
            # The shared token, if this process may use it; None if it is due for a refresh.
            nonlocal still_usable
            if key in self._distrusted:
                return None
            token = await shared.load(key)
            if token is None or token == self._refused.get(key) or not self.usable(token):
                return None
            if self.fresh(token):
                return token
            if still_usable is None:
                still_usable = token  # served while another process refreshes
            return None

        async def fetch_once() -> AccessToken:
            pause = _SHARED_POLL
            while True:
                try:
                    if (token := await take()) is not None:
                        return token
                    holder = await shared.try_lock(key)
                except SharedStoreError as exc:
                    _shared_unavailable(exc)
                    return await fetch()  # one fetch per process while the store is down
                if holder is not None:
                    try:
                        # Read again: the last holder may have saved just before its unlock.
                        try:
                            token = await take()
                        except SharedStoreError as exc:
                            _shared_unavailable(exc)
                            token = None
                        if token is not None:
                            return token
                        new = await fetch()
                        try:
                            await shared.save(key, new)
                        except SharedStoreError as exc:
                            _shared_unavailable(exc)  # the token is good here all the same
                        self._distrusted.discard(key)
                        self._refused.pop(key, None)
                        return new
                    finally:
                        with anyio.CancelScope(shield=True):
                            try:
                                await shared.unlock(key, holder)
                            except SharedStoreError as exc:
                                _shared_unavailable(exc)
                if still_usable is not None and self.usable(still_usable):
                    return still_usable
                await anyio.sleep(pause)  # the holder is another process: nothing to wait on
                pause = min(pause * 2, _SHARED_POLL_MAX)

        return fetch_once

    def _store(self, key: Hashable, token: AccessToken) -> None:
        self._tokens[key] = token
        self._retry_at.pop(key, None)
        if len(self._tokens) >= self._sweep_at:
            self._sweep()

    def _sweep(self) -> None:
        # Expired tokens are no use to anyone; their keys' bookkeeping goes with them.
        for key, token in list(self._tokens.items()):
            if not self.usable(token):
                del self._tokens[key]
                self._retry_at.pop(key, None)
        live = set(self._tokens) | set(self._flights)
        for parent in list(self._derived):
            children = self._derived[parent] & live
            if children:
                self._derived[parent] = children
            else:
                del self._derived[parent]
        self._epochs = {k: v for k, v in self._epochs.items() if k in self._flights}
        self._sweep_at = max(_SWEEP_SIZE, 2 * len(self._tokens))


_SWEEP_SIZE = 1024


def _shared_unavailable(exc: SharedStoreError) -> None:
    logger.warning(
        "the shared token store failed (%s); this process fetches its own token",
        exc,
        extra={"altinn_error": type(exc).__name__},
    )
