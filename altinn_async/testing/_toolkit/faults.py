"""Injected faults: error statuses, slow answers, dropped connections, bodies cut short and
bodies a broken proxy truncated; queued one by one, or drawn from a seed.

Seeded faults (`RandomFaults`) decide request by request: whether the ``n``-th request to an
endpoint (counted from the injection) gets a fault, and which, is a hash of the seed, the
endpoint's name and ``n`` alone. A run is then reproducible however requests to different
endpoints interleave, which concurrent clients make unpredictable.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

FAULT_KINDS = ("429", "500", "503", "slow", "drop", "cut", "truncated_json")
"""The kinds of seeded faults, in the order `RandomFaults` numbers them."""

_HASH_SPAN = float(1 << 64)


@dataclass(slots=True)
class Fault:
    """What the next ``remaining`` requests to one endpoint get instead of (or on top of) their
    normal answer.

    Attributes:
        status: the status to answer with, or 0 for the normal response.
        remaining: how many more requests this fault applies to.
        delay: seconds to wait before answering.
        body: the body of a ``status`` answer.
        headers: the headers of a ``status`` answer.
        drop: drop the connection without any response.
        cut_after: send at most this many bytes of the body, then drop the connection.
        cut_midway: send the first half of the body, then drop the connection.
        truncate: send a complete message whose body is the first half of the normal one (with
            a Content-Length to match), as a broken proxy does.
    """

    status: int
    remaining: int
    delay: float
    body: bytes
    headers: tuple[tuple[str, str], ...]
    drop: bool = False
    cut_after: int | None = None
    cut_midway: bool = False
    truncate: bool = False

    @classmethod
    def create(
        cls,
        *,
        status: int | None,
        times: int,
        delay: float,
        body: bytes,
        headers: Mapping[str, str] | None,
        drop: bool,
        cut_after: int | None,
    ) -> Fault:
        """Validate the arguments of ``Emulator.inject_fault``.

        A ``status`` of None means 500, unless the fault is about the connection (``drop`` or
        ``cut_after``): then it is the normal response.

        Raises:
            ValueError: a bad status, count, delay or cut, or a dropped connection that is also
                told what to answer.
        """
        if status is not None and status != 0 and not 100 <= status <= 599:
            raise ValueError("status must be 0 (slow response) or an HTTP status code")
        if times < 1:
            raise ValueError("times must be at least 1")
        if delay < 0:
            raise ValueError("delay must not be negative")
        if cut_after is not None and (isinstance(cut_after, bool) or cut_after < 0):
            raise ValueError("cut_after must be a byte count (0 or more)")
        if drop and (cut_after is not None or status is not None or body or headers):
            raise ValueError(
                "drop=True sends no response: it takes no status, body, headers or cut"
            )
        connection_fault = drop or cut_after is not None
        return cls(
            status=(0 if connection_fault else 500) if status is None else status,
            remaining=times,
            delay=delay,
            body=bytes(body),
            headers=tuple((k.lower(), v) for k, v in (headers or {}).items()),
            drop=drop,
            cut_after=cut_after,
        )


def finite_number(value: object) -> bool:
    """Whether ``value`` is a finite int or float (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def _integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _seconds(value: float, name: str) -> float:
    if not finite_number(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return float(value)


def _retry_after_header(seconds: float) -> str:
    # delta-seconds; a fraction is written as one (for fast tests), whole seconds as integers.
    return str(int(seconds)) if seconds == int(seconds) else f"{seconds:g}"


@dataclass(frozen=True, slots=True)
class RandomFaults:
    """Seeded faults (``Emulator.inject_random_faults``).

    Attributes:
        seed: the seed.
        rate: the share of requests that get a fault (0 to 1).
        kinds: the kinds drawn from, in `FAULT_KINDS` order.
        endpoints: the endpoint names the faults apply to.
        retry_after: the ``Retry-After`` of a ``"429"``, in seconds.
        slow_delay: the delay of a ``"slow"`` answer, in seconds.
    """

    seed: int
    rate: float
    kinds: tuple[str, ...]
    endpoints: frozenset[str]
    retry_after: float
    slow_delay: float

    @classmethod
    def create(
        cls,
        *,
        seed: int,
        rate: float,
        kinds: Iterable[str],
        endpoints: Iterable[str],
        known_endpoints: frozenset[str],
        retry_after: float,
        slow_delay: float,
    ) -> RandomFaults:
        """Validate the arguments of ``Emulator.inject_random_faults``.

        Raises:
            ValueError: a seed that is not an integer, a rate outside 0 to 1, no kinds or an
                unknown one, no endpoints or an unknown one, a negative or non-finite time.
        """
        if not _integer(seed):
            raise ValueError(f"seed must be an integer, got {seed!r}")
        if not finite_number(rate) or not 0 <= rate <= 1:
            raise ValueError(f"rate must be a number from 0 to 1, got {rate!r}")
        one_string = isinstance(kinds, str)
        if one_string:
            raise ValueError(f"kinds must be a collection of kind names, not the string {kinds!r}")
        wanted = set(kinds)
        unknown = sorted(wanted - set(FAULT_KINDS))
        if unknown or not wanted:
            raise ValueError(
                f"kinds must be some of {', '.join(FAULT_KINDS)}"
                + (f"; unknown: {', '.join(map(repr, unknown))}" if unknown else "")
            )
        one_string = isinstance(endpoints, str)
        if one_string:
            raise ValueError(
                f"endpoints must be a collection of endpoint names, not the string {endpoints!r}"
            )
        names = frozenset(endpoints)
        strange = sorted(names - known_endpoints)
        if strange:
            raise ValueError(
                f"unknown endpoint {strange[0]!r}; expected some of {sorted(known_endpoints)}"
            )
        if not names:
            raise ValueError("endpoints must name at least one endpoint (or be None: all)")
        return cls(
            seed=seed,
            rate=float(rate),
            kinds=tuple(k for k in FAULT_KINDS if k in wanted),
            endpoints=names,
            retry_after=_seconds(retry_after, "retry_after"),
            slow_delay=_seconds(slow_delay, "slow_delay"),
        )

    def pick(self, endpoint: str, n: int) -> str | None:
        """The kind of fault the ``n``-th request (from 1) to ``endpoint`` gets, or None: a pure
        function of the seed, the endpoint's name and ``n`` (with the rate and the kinds)."""
        if endpoint not in self.endpoints or self.rate <= 0:
            return None
        digest = hashlib.blake2b(
            f"{self.seed}\x1f{endpoint}\x1f{n}".encode(), digest_size=16, person=b"emulator-faults"
        ).digest()
        if int.from_bytes(digest[:8], "big") / _HASH_SPAN >= self.rate:
            return None
        return self.kinds[int.from_bytes(digest[8:], "big") % len(self.kinds)]

    def fault(self, kind: str) -> Fault:
        """The one-off `Fault` that plays ``kind``."""
        if kind == "429":
            # Azure API Management's rate-limit policy: JSON and Retry-After in seconds.
            wait = math.ceil(self.retry_after)
            message = f"Rate limit is exceeded. Try again in {wait} seconds."
            body = json.dumps({"statusCode": 429, "message": message}).encode()
            headers = (
                ("content-type", "application/json"),
                ("retry-after", _retry_after_header(self.retry_after)),
            )
            return Fault(429, 1, 0.0, body, headers)
        if kind in ("500", "503"):
            return Fault(int(kind), 1, 0.0, b"", ())
        if kind == "slow":
            return Fault(0, 1, self.slow_delay, b"", ())
        if kind == "drop":
            return Fault(0, 1, 0.0, b"", (), drop=True)
        if kind == "cut":
            return Fault(0, 1, 0.0, b"", (), cut_midway=True)
        return Fault(0, 1, 0.0, b"", (), truncate=True)


class Faults:
    """The queued faults per endpoint name, and the seeded ones. Guarded by the shared lock (see
    ``state.py``)."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}
        self._random: RandomFaults | None = None
        self._counts: Counter[str] = Counter()

    def add(self, endpoint: str, fault: Fault) -> None:
        """Queue ``fault`` behind any other for ``endpoint``. Call with the lock held."""
        self._queues.setdefault(endpoint, deque()).append(fault)

    def seed(self, faults: RandomFaults) -> None:
        """Draw faults from ``faults`` from now on (replacing earlier seeded faults; requests are
        counted afresh). Call with the lock held."""
        self._random = faults
        self._counts = Counter()

    def take(self, endpoint: str) -> Fault | None:
        """The fault for this request to ``endpoint``: the next queued one (using up one of its
        applications), else the seeded one. Call with the lock held.

        Every request counts towards the seeded faults' ``n``, also one that a queued fault
        answers, so the seeded sequence does not depend on the queued faults.
        """
        kind: str | None = None
        if self._random is not None:
            self._counts[endpoint] += 1
            kind = self._random.pick(endpoint, self._counts[endpoint])
        queue = self._queues.get(endpoint)
        if queue:
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            return fault
        if kind is not None and self._random is not None:
            return self._random.fault(kind)
        return None

    def clear(self) -> None:
        """Drop every queued fault and the seeded ones. Call with the lock held."""
        self._queues.clear()
        self._random = None
        self._counts = Counter()
