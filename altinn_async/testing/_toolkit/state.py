"""What every service shares: one lock, the clock, the network latency, the request counters and
the injected faults; and the replay memory that single-use grants and assertions need.

Every piece of emulator state is guarded by the one `threading.Lock` here: seeding happens from
test code (any thread), requests are served from an event loop (possibly uvicorn's own thread).
The lock is never held across an ``await``.
"""

from __future__ import annotations

import heapq
import threading
from collections import Counter
from collections.abc import Callable

from .faults import Faults

Clock = Callable[[], float]
"""Seconds since the epoch."""


class SharedState:
    """The lock, the clock, the latency, requests served per endpoint name, and the faults.

    ``latency`` is the seconds every request waits before it is answered (the network's round
    trip); a float, read without the lock.
    """

    def __init__(self, clock: Clock, *, latency: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.latency = latency
        self.requests: Counter[str] = Counter()
        self.faults = Faults()

    def __repr__(self) -> str:
        return f"SharedState(requests={sum(self.requests.values())})"


class ReplayGuard:
    """Remembers single-use keys (a grant's ``jti``) until they could not pass anyway.

    Guarded by the shared lock: call `remember` with it held.
    """

    def __init__(self) -> None:
        self._until: dict[str, float] = {}
        # Forget-after times in order, so forgetting costs O(log n) per key.
        self._heap: list[tuple[float, str]] = []

    def __repr__(self) -> str:
        return f"ReplayGuard(remembered={len(self._until)})"

    def remember(self, key: str, until: float, now: float) -> bool:
        """Record ``key`` as used until ``until``; False if it was used and not yet forgotten."""
        while self._heap and self._heap[0][0] < now:
            _, old = heapq.heappop(self._heap)
            if self._until.get(old, now + 1) < now:
                del self._until[old]
        if key in self._until:
            return False
        self._until[key] = until
        heapq.heappush(self._heap, (until, key))
        return True
