"""Parallel paging: one Storage list as one continuation chain, against the same list cut into
8 windows of time paged at once (`StorageClient.windows`), with the emulator answering each
request after 50 ms as a far-away server would.

A chain is one page per round trip however many connections there are; windows are separate
chains. The figure is the wall time of the chain over that of the windows (target ≥ 6), and
both must list exactly the same set. The set is generated (`Emulator.generate_instances`), its
instances spread evenly over 90 days, so equal windows hold equal shares: on real data, cut the
windows where the instances are (a skewed set is as fast as its fullest window).
"""

from __future__ import annotations

import datetime as dt

import anyio

import altinn_async as altinn

from ._context import Context
from ._measure import Sample, interleave, median, timed
from ._report import Figure, at_least
from ._served import Served, served

NAME = "paging"
SUMMARY = "parallel paging of one Storage list: 1 chain vs 8 windows at 50 ms latency"

LATENCY = 0.05
WINDOWS = 8
PAGE_SIZE = 10
INSTANCES = 2000
BLOCKS = 3
TARGET = 6.0


async def _measure(emulator: Served) -> dict[str, list[Sample]]:
    emulator.set_latency(LATENCY)
    try:
        async with emulator.client(WINDOWS + 2) as http:
            storage = altinn.StorageClient(http, platform=emulator.platform)
            now = dt.datetime.now(dt.UTC)
            start = now - dt.timedelta(days=90)  # the generated instances' span
            expected: set[str] = set()

            async def chain() -> None:
                ids = {i["id"] async for i in storage.instances(org="ttd", size=PAGE_SIZE)}
                _check(ids)

            async def windows() -> None:
                pagers = storage.windows(WINDOWS, start=start, end=now, org="ttd", size=PAGE_SIZE)
                async with altinn.merge(pagers) as instances:
                    ids = {i["id"] async for i in instances}
                _check(ids)

            def _check(ids: set[str]) -> None:
                if not expected:
                    expected.update(ids)
                if ids != expected or len(ids) != emulator.instances:
                    raise RuntimeError(f"listed {len(ids)} instances, not {emulator.instances}")

            async def run_chain() -> Sample:
                return await timed(emulator.instances, chain)

            async def run_windows() -> Sample:
                return await timed(emulator.instances, windows)

            return await interleave({"chain": run_chain, "windows": run_windows}, blocks=BLOCKS)
    finally:
        emulator.set_latency(0)


def run(context: Context) -> list[Figure]:
    """List the set both ways, interleaved; compare the wall times."""
    del context  # its shared emulator is not a generated set
    with served(instances=INSTANCES, generated=True) as emulator:
        samples = anyio.run(_measure, emulator)
    chain = median(samples["chain"], lambda s: s.wall)
    windows = median(samples["windows"], lambda s: s.wall)
    return [
        at_least(
            NAME,
            f"windows_{WINDOWS}_vs_chain",
            chain / windows,
            limit=TARGET,
            medians={"chain.wall_s": round(chain, 3), "windows.wall_s": round(windows, 3)},
            note=f"wall time, {LATENCY * 1000:.0f} ms a request, pages of {PAGE_SIZE}; "
            "the same set both ways",
        )
    ]
