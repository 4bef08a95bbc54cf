"""Samples of client CPU and wall time, taken in interleaved blocks, and their medians.

The machine is small and noisy, so nothing here is judged by an absolute time: variants that are
compared run in the same process, one after another inside each block (the order rotating from
block to block, so none always goes first), and the figures are ratios of their medians.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

__all__ = ["Sample", "interleave", "median", "timed"]


@dataclass(frozen=True)
class Sample:
    """One timed run.

    Attributes:
        cpu: client CPU seconds (``time.process_time()``: this process, every thread).
        wall: wall-clock seconds (``time.perf_counter()``).
        count: how many items (requests, data elements) the run handled.
    """

    cpu: float
    wall: float
    count: int

    @property
    def cpu_per_item(self) -> float:
        """CPU seconds per item."""
        return self.cpu / self.count

    @property
    def wall_per_item(self) -> float:
        """Wall seconds per item."""
        return self.wall / self.count

    @property
    def rate(self) -> float:
        """Items per wall-clock second."""
        return self.count / self.wall


async def timed(count: int, body: Callable[[], Awaitable[object]]) -> Sample:
    """Run ``body`` once and time it (a garbage collection first, so that no run pays for the
    garbage of the one before)."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    await body()
    return Sample(time.process_time() - cpu, time.perf_counter() - wall, count)


async def interleave(
    variants: Mapping[str, Callable[[], Awaitable[Sample]]], *, blocks: int
) -> dict[str, list[Sample]]:
    """Run every variant once per block, the order rotating from block to block."""
    names = list(variants)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for block in range(blocks):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(await variants[name]())
    return samples


def median(samples: list[Sample], value: Callable[[Sample], float]) -> float:
    """The median of ``value`` over ``samples``."""
    return statistics.median(value(sample) for sample in samples)
