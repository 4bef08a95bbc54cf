"""Injected faults: error statuses, slow answers, dropped connections and bodies cut short."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass


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
    """

    status: int
    remaining: int
    delay: float
    body: bytes
    headers: tuple[tuple[str, str], ...]
    drop: bool = False
    cut_after: int | None = None

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


class Faults:
    """The queued faults per endpoint name. Guarded by the shared lock (see ``state.py``)."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}

    def add(self, endpoint: str, fault: Fault) -> None:
        """Queue ``fault`` behind any other for ``endpoint``. Call with the lock held."""
        self._queues.setdefault(endpoint, deque()).append(fault)

    def take(self, endpoint: str) -> Fault | None:
        """Use up one application of the next fault for ``endpoint``. Call with the lock held."""
        queue = self._queues.get(endpoint)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    def clear(self) -> None:
        """Drop every queued fault. Call with the lock held."""
        self._queues.clear()
