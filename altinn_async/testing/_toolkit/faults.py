"""Injected faults: error statuses and slow answers."""

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
    """

    status: int
    remaining: int
    delay: float
    body: bytes
    headers: tuple[tuple[str, str], ...]

    @classmethod
    def create(
        cls,
        *,
        status: int,
        times: int,
        delay: float,
        body: bytes,
        headers: Mapping[str, str] | None,
    ) -> Fault:
        """Validate the arguments of ``Emulator.inject_fault``.

        Raises:
            ValueError: a bad status, count or delay.
        """
        if status != 0 and not 100 <= status <= 599:
            raise ValueError("status must be 0 (slow response) or an HTTP status code")
        if times < 1:
            raise ValueError("times must be at least 1")
        if delay < 0:
            raise ValueError("delay must not be negative")
        return cls(
            status=status,
            remaining=times,
            delay=delay,
            body=bytes(body),
            headers=tuple((k.lower(), v) for k, v in (headers or {}).items()),
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
