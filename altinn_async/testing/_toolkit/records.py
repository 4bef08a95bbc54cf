"""What the emulator served, kept for tests to assert on: read-only JSON and a bounded log.

A record holds claims, never the token or the assertion they came in: a test may print every
record it finds without printing a secret.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeVar

RECORDS_KEPT = 1000
"""How many records of a kind a log keeps (the newest), so a long-running emulator serving
millions of grants does not grow without bound."""

Record = TypeVar("Record")


def read_only(value: Any) -> Any:
    """A deep, read-only copy of JSON: objects become read-only mappings, arrays tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): read_only(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(read_only(v) for v in value)
    return value


class RecordLog(Generic[Record]):
    """The newest `RECORDS_KEPT` records, oldest first, and how many were added in all.

    Guarded by the shared lock: call `add` and `snapshot` with it held.
    """

    def __init__(self) -> None:
        self._records: deque[Record] = deque(maxlen=RECORDS_KEPT)
        self.total = 0

    def __repr__(self) -> str:
        return f"RecordLog(total={self.total})"

    def add(self, record: Record) -> None:
        """Keep ``record``, dropping the oldest beyond `RECORDS_KEPT`."""
        self._records.append(record)
        self.total += 1

    def snapshot(self) -> tuple[Record, ...]:
        """The records kept, oldest first."""
        return tuple(self._records)
