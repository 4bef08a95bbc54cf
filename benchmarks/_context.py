"""What every benchmark module gets from the runner, and what it hands back."""

from __future__ import annotations

import contextlib
from typing import Protocol

from ._report import Figure
from ._served import Served, served

__all__ = ["DATASET_APPS", "DATASET_INSTANCES", "Benchmark", "Context"]

DATASET_INSTANCES = 500
"""Instances the shared emulator is seeded with (each with one data element): five pages."""
DATASET_APPS = 2


class Context:
    """The run's shared resources: one served emulator, started the first time a benchmark asks
    for it and stopped when the run ends."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self._served: Served | None = None

    def served(self) -> Served:
        """The emulator in its own process, seeded with `DATASET_INSTANCES` instances of
        ``ttd`` (Storage reads answered at once: a benchmark that sets a latency sets it back
        to 0 when it is done)."""
        if self._served is None:
            self._served = self._stack.enter_context(
                served(instances=DATASET_INSTANCES, apps=DATASET_APPS)
            )
        return self._served


class Benchmark(Protocol):
    """A benchmark module: ``NAME``, ``SUMMARY`` and ``run``."""

    NAME: str
    SUMMARY: str

    def run(self, context: Context) -> list[Figure]:
        """Measure, and return the figures (the runner prints and records them)."""
        ...
