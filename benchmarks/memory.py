"""Memory over a long harvest: the client's resident memory after 100 000 instances and after
1 000 000, listed from a lazily generated set in the served emulator through the harvest engine
(8 windows, a checkpoint, a sink that keeps nothing). Target: at most 10 MiB more at the end.

It takes a few minutes (the emulator renders a million instances); ``python -m benchmarks
memory`` runs it alone.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import httpx

import altinn_async as altinn

from ._context import Context
from ._report import Figure, at_most, info
from ._served import served

NAME = "memory"
SUMMARY = "client RSS growth from 100k to 1M harvested items (a lazily generated set)"

TOTAL = 1_000_000
EARLY = 100_000
PAGE_SIZE = 1000
WINDOWS = 8
LIMIT_MIB = 10.0

SCRATCH = Path(__file__).resolve().parent


def rss_bytes() -> int:
    """The process's resident memory now (Linux's /proc; elsewhere the peak, from rusage)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    import resource  # noqa: PLC0415 - Unix only

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # pragma: no cover


class _Counting:
    """A sink that keeps nothing but a count, and notes the RSS at given counts."""

    def __init__(self, location: Path, at: tuple[int, ...]) -> None:
        self._location = location
        self._at = at
        self.count = 0
        self.rss: dict[int, int] = {}

    @property
    def location(self) -> Path:
        return self._location

    def has_output(self) -> bool:
        return False

    async def open(self, state: Mapping[str, Any] | None, *, overwrite: bool) -> None:
        del state, overwrite

    async def write(self, key: str, record: Mapping[str, Any]) -> None:
        del key, record
        self.count += 1
        if self.count in self._at:
            self.rss[self.count] = rss_bytes()

    async def flush(self) -> Mapping[str, Any]:
        return {"count": self.count}

    async def aclose(self) -> None:
        return None


async def _harvest(platform: str, token: str, out: Path) -> tuple[_Counting, float]:
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=120.0,
        limits=httpx.Limits(max_connections=WINDOWS + 2),
    ) as http:
        storage = altinn.StorageClient(http, platform=platform)
        now = dt.datetime.now(dt.UTC)
        sources = altinn.StorageInstances.windows(
            storage,
            WINDOWS,
            start=now - dt.timedelta(days=90),
            end=now,
            org="ttd",
            size=PAGE_SIZE,
            download=False,
        )
        sink = _Counting(out, at=(EARLY, TOTAL))
        async with altinn.Harvest(sources, sink=sink, concurrency=WINDOWS) as harvest:
            summary = await harvest.run()
    return sink, summary.elapsed


def run(context: Context) -> list[Figure]:
    """Harvest a million generated instances; compare the RSS at 100k and at 1M."""
    del context
    with (
        served(instances=TOTAL, generated=True) as emulator,
        tempfile.TemporaryDirectory(prefix=".memory-", dir=SCRATCH) as scratch,
    ):
        sink, elapsed = anyio.run(_harvest, emulator.platform, emulator.token, Path(scratch) / "o")
    if sink.count != TOTAL:
        raise RuntimeError(f"harvested {sink.count} instances of {TOTAL}")
    early, late = sink.rss[EARLY], sink.rss[TOTAL]
    growth = (late - early) / 2**20
    return [
        at_most(
            NAME,
            "rss_growth_100k_to_1m_mib",
            growth,
            limit=LIMIT_MIB,
            unit="MiB",
            medians={
                "rss_at_100k_mib": round(early / 2**20, 1),
                "rss_at_1m_mib": round(late / 2**20, 1),
            },
            note=f"{TOTAL} instances in {WINDOWS} windows, pages of {PAGE_SIZE}",
        ),
        info(NAME, "items_per_s", TOTAL / elapsed, unit="items/s", note="listing only"),
    ]
