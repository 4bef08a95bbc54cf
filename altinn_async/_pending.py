"""Logins in progress, kept server-side between a web application's ``/login`` and
``/callback``: what a pending login holds (the PKCE verifier, ``state``, ``nonce``) never goes
into the browser."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from .exceptions import ConfigurationError

__all__ = ["MemoryPendingLoginStore", "PendingLoginStore"]


@runtime_checkable
class PendingLoginStore(Protocol):
    """Where a web application keeps the logins it has started and not yet completed.

    A login is put under a key (a digest of an opaque id the browser carries) with a lifetime,
    and taken exactly once: `take` removes what it returns, so a callback cannot be replayed.
    Implement it on a shared database for an application of several processes (the
    callback may reach another worker than the login did).
    """

    async def put(self, key: str, data: Mapping[str, Any], *, ttl: float) -> None:
        """Keep ``data`` (JSON-ready) under ``key`` for ``ttl`` seconds."""
        ...

    async def take(self, key: str) -> dict[str, Any] | None:
        """Remove and return what is under ``key``, or ``None`` if nothing (or it expired)."""
        ...


class MemoryPendingLoginStore:
    """Pending logins in this process's memory (one process; see `PendingLoginStore`).

    Bounded: anyone can start a login, so at most ``max_pending`` are kept, and when it is
    full the oldest gives way (its person starts again) rather than memory growing without end.
    """

    def __init__(
        self, *, max_pending: int = 10_000, clock: Callable[[], float] = time.time
    ) -> None:
        if max_pending < 1:
            raise ConfigurationError("max_pending must be at least 1")
        self._max = max_pending
        self._clock = clock
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        # No await inside: a thread lock, so one store serves any event loop and thread.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryPendingLoginStore({len(self._entries)} pending, max {self._max})"

    def __len__(self) -> int:
        return len(self._entries)

    async def put(self, key: str, data: Mapping[str, Any], *, ttl: float) -> None:
        if not ttl > 0:
            raise ConfigurationError("ttl must be a positive number of seconds")
        with self._lock:
            now = self._clock()
            self._sweep(now)
            self._entries.pop(key, None)
            while len(self._entries) >= self._max:
                del self._entries[next(iter(self._entries))]
            self._entries[key] = (now + ttl, dict(data))

    async def take(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.pop(key, None)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def _sweep(self, now: float) -> None:
        # Entries are in the order they were put: drop the expired ones at the front (one
        # further back waits its turn; `take` refuses it anyway).
        for key, (expires, _) in list(self._entries.items()):
            if expires > now:
                break
            del self._entries[key]
