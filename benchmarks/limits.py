"""The physical limit: httpx, its aiohttp transport and the harvest engine against a raw client.

`benchmarks._raw.RawClient` (asyncio streams, keep-alive connections, the status line, the
headers and the body read, nothing more) is the least client CPU a request can cost in Python on
this machine. Everything here is measured against it, on the served emulator (loopback, Storage
answering at once), on asyncio (the raw client and aiohttp run on nothing else):

1. Client CPU per request against concurrency (`CONCURRENCY`, as `benchmarks.concurrency`), the
   data-element downloads of `benchmarks._workload` (the same URLs, the same count, every body
   read, every status checked), through a plain ``httpx.AsyncClient``, through one with
   httpx-aiohttp's transport, and through the raw client, all interleaved in blocks. The
   figures are each client's CPU per request and the ratios httpx/raw and aiohttp/raw; the
   plot `PLOT` draws the three curves (skipped when matplotlib is missing).
2. The library's harvest engine (`benchmarks.harvest_baseline.engine_harvest`: list, download,
   write, fsync, checkpoint) and the hand-written httpx loop (``bare_harvest``) against
   `raw_harvest`, which sends the same requests with the raw client (the list pages, their
   JSON parsed, then each instance's data elements, ``concurrency`` at a time) and writes
   nothing: items per wall second and client CPU per item, as ratios over the raw harvest. They
   document what the whole stack costs over the limit (the disk included: the raw harvest has
   none; so is making the httpx client, its SSL context, once per harvest), and are judged by
   nothing. The engine's peak memory is measured in one more, untimed run with tracemalloc (the
   most Python memory the run held above its start; the raw harvest's for comparison). Memory
   over a long harvest is `benchmarks.memory`'s.

Where httpx's CPU per request goes as concurrency grows is in `benchmarks.concurrency`'s notes
(httpcore's pool walks every connection for each request and response).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import anyio

from ._context import Context
from ._measure import Sample, interleave, median, timed
from ._raw import RawClient
from ._report import INFO, Figure, info, machine, skipped
from ._served import Served, limits
from ._workload import data_urls, fetch_all, plain_get, requests_for, sized, steady
from .aiohttp_transport import TransportFactory, transport_factory
from .concurrency import CONCURRENCY
from .harvest_baseline import (
    PAGE_SIZE,
    SCRATCH,
    Harvester,
    Stats,
    bare_harvest,
    engine_harvest,
)

NAME = "limits"
SUMMARY = "httpx, the aiohttp transport and the harvest engine against a raw-socket client"

CLIENTS = ("httpx", "aiohttp", "raw")
LABELS = {
    "httpx": "httpx (httpcore, h11)",
    "aiohttp": "httpx with httpx-aiohttp's transport",
    "raw": "raw asyncio streams (the limit)",
}
LEAST_REQUESTS = 400
BLOCKS = 3  # the ratios are 5x to 70x here: three blocks are plenty
HARVEST_CONCURRENCY = 10
HARVEST_BLOCKS = 5
TRACED = ("engine", "raw")
"""The harvests whose peak memory is measured (one more run each, traced)."""
PLOT = Path(__file__).resolve().parent / "concurrency.png"

Get = Callable[[str], Awaitable[object]]


# 1. CPU per request against concurrency.


async def _clients(emulator: Served, factory: TransportFactory | None) -> dict[str, list[Sample]]:
    urls = await data_urls(emulator)
    async with contextlib.AsyncExitStack() as stack:
        variants: dict[str, Callable[[], Awaitable[Sample]]] = {}
        for concurrency in CONCURRENCY:
            gets: dict[str, Get] = {
                "httpx": plain_get(await stack.enter_async_context(emulator.client(concurrency)))
            }
            if factory is not None:
                transport = factory(limits=limits(concurrency))
                http = await stack.enter_async_context(
                    emulator.client(concurrency, transport=transport)
                )
                gets["aiohttp"] = plain_get(http)
            raw = RawClient(emulator.url, concurrency=concurrency, headers=emulator.headers)
            gets["raw"] = (await stack.enter_async_context(raw)).get
            count = requests_for(concurrency, least=LEAST_REQUESTS)
            for client, get in gets.items():
                await fetch_all(get, sized(urls, 2 * concurrency), concurrency)  # open the pool
                variants[f"{client} c{concurrency}"] = steady(get, sized(urls, count), concurrency)
        return await interleave(variants, blocks=BLOCKS)


def _cpu_us(samples: list[Sample]) -> float:
    return median(samples, lambda s: s.cpu_per_item) * 1e6


def plot(cpu: Mapping[str, Mapping[int, float]], path: Path) -> Figure:
    """Draw CPU per request against concurrency, one line per client, into ``path`` (PNG)."""
    try:
        import matplotlib as mpl  # noqa: PLC0415 - optional: only this figure needs it

        mpl.use("Agg")
        from matplotlib import pyplot as plt  # noqa: PLC0415
    except ImportError:
        return skipped(NAME, "plot", f"matplotlib is not installed: {path.name} not drawn")
    host = machine()
    figure, axes = plt.subplots(figsize=(8, 5), dpi=120)
    try:
        for client, points in cpu.items():
            grid = sorted(points)
            values = [points[c] for c in grid]
            axes.plot(grid, values, marker="o", label=LABELS.get(client, client))
            for c, value in zip(grid, values, strict=True):
                axes.annotate(
                    f"{value:.0f}",
                    (c, value),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize=8,
                )
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xticks(list(CONCURRENCY), [str(c) for c in CONCURRENCY])
        axes.tick_params(axis="x", which="minor", bottom=False)
        axes.set_xlabel("concurrency (requests in flight, one connection each)")
        axes.set_ylabel("client CPU per request (µs, log scale)")
        axes.set_title(
            f"Client CPU per request against concurrency, loopback\n"
            f"{host['cpu_model']}, {host['usable_cores']} usable cores, {host['python']}",
            fontsize=10,
        )
        axes.grid(visible=True, which="major", alpha=0.3)
        axes.grid(visible=True, which="minor", axis="y", alpha=0.1)
        axes.legend()
        figure.tight_layout()
        figure.savefig(path, format="png")
    finally:
        plt.close(figure)
    return Figure(NAME, "plot", None, "-", "-", INFO, note=f"written to {path}")


def _client_figures(samples: dict[str, list[Sample]], clients: tuple[str, ...]) -> list[Figure]:
    cpu = {
        client: {c: _cpu_us(samples[f"{client} c{c}"]) for c in CONCURRENCY} for client in clients
    }
    figures: list[Figure] = []
    for client in clients:
        for c in CONCURRENCY:
            rate = median(samples[f"{client} c{c}"], lambda s: s.rate)
            figures.append(
                info(
                    NAME,
                    f"cpu_us_per_request.{client}.c{c}",
                    cpu[client][c],
                    unit="µs",
                    medians={"requests_per_s": round(rate, 1)},
                    note=f"median of {BLOCKS} x {requests_for(c, least=LEAST_REQUESTS)} downloads",
                )
            )
    for client in clients:
        if client == "raw":
            continue
        figures += [
            info(
                NAME,
                f"{client}_vs_raw.c{c}",
                cpu[client][c] / cpu["raw"][c],
                unit="ratio",
                medians={
                    f"{client}.cpu_us_per_request": round(cpu[client][c], 1),
                    "raw.cpu_us_per_request": round(cpu["raw"][c], 1),
                },
                note="client CPU per request over the raw client's",
            )
            for c in CONCURRENCY
        ]
    figures.append(plot(cpu, PLOT))
    return figures


# 2. The harvest against the physical limit.


async def raw_harvest(
    base_url: str,
    token: str,
    org: str,
    concurrency: int,
    out_dir: str | os.PathLike[str],
) -> Stats:
    """The requests of a harvest, and nothing else, through `RawClient`: the instance list
    through its ``next`` links (each page's JSON parsed), each instance's data elements
    downloaded by ``concurrency`` workers fed through a queue of ``concurrency`` instances (so
    listing runs ahead as in the engine), every body read and every status a 200. Nothing is
    written: ``out_dir`` is not used. The signature is `harvest_baseline.Harvester`'s."""
    del out_dir
    cpu, wall = time.process_time(), time.perf_counter()
    platform = base_url.rstrip("/")
    origin = platform.removesuffix("/platform")
    first = f"{platform}/storage/api/v1/instances?org={org}&size={PAGE_SIZE}"
    headers = {"Authorization": f"Bearer {token}"}
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=concurrency)
    instances = elements = size = pages = 0
    async with RawClient(origin, concurrency=concurrency + 1, headers=headers) as raw:

        async def lister() -> None:
            nonlocal instances, pages
            url: str | None = first
            while url:
                page = json.loads(await raw.get(url))
                pages += 1
                for instance in page["instances"]:
                    instances += 1
                    await queue.put(instance)
                url = page.get("next")
            for _ in range(concurrency):
                await queue.put(None)

        async def worker() -> None:
            nonlocal elements, size
            while (instance := await queue.get()) is not None:
                for element in instance["data"]:
                    size += len(await raw.get(element["selfLinks"]["platform"]))
                    elements += 1

        async with asyncio.TaskGroup() as group:
            group.create_task(lister())
            for _ in range(concurrency):
                group.create_task(worker())
        requests = raw.requests
    return Stats(
        instances=instances,
        elements=elements,
        bytes=size,
        pages=pages,
        requests=requests,
        cpu=time.process_time() - cpu,
        wall=time.perf_counter() - wall,
    )


HARVESTERS: dict[str, Harvester] = {
    "engine": engine_harvest,
    "bare": bare_harvest,
    "raw": raw_harvest,
}
"""The harvests compared; ``raw`` is the limit."""


async def _traced_peak(run: Callable[[], Awaitable[object]]) -> int:
    """The peak of the Python memory ``run`` allocated over what was allocated when it started
    (tracemalloc: every allocation traced, so the run is slow, and untimed)."""
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        await run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start


async def _harvests(
    emulator: Served,
) -> tuple[dict[str, list[Sample]], dict[str, list[Stats]], dict[str, int]]:
    stats: dict[str, list[Stats]] = {name: [] for name in HARVESTERS}
    # Beside the benchmarks, as harvest_baseline does: this machine's /tmp is slow to write.
    with tempfile.TemporaryDirectory(prefix=".harvest-", dir=SCRATCH) as scratch:
        runs = 0

        def harvest(name: str) -> Callable[[], Awaitable[Sample]]:
            harvester = HARVESTERS[name]

            async def run() -> Sample:
                nonlocal runs
                runs += 1
                out = Path(scratch) / f"run-{runs}"
                found: list[Stats] = []

                async def body() -> None:
                    found.append(
                        await harvester(
                            emulator.platform,
                            emulator.token,
                            emulator.org,
                            HARVEST_CONCURRENCY,
                            out,
                        )
                    )

                sample = await timed(emulator.instances, body)
                if found[0].elements != emulator.instances:
                    raise RuntimeError(
                        f"{name}: harvested {found[0].elements} of {emulator.instances}"
                    )
                stats[name].append(found[0])
                return sample

            return run

        variants = {name: harvest(name) for name in HARVESTERS}
        for variant in variants.values():  # a first harvest each: imports, threads, caches
            await variant()
        for kept in stats.values():
            kept.clear()
        samples = await interleave(variants, blocks=HARVEST_BLOCKS)
        peaks = {name: await _traced_peak(variants[name]) for name in TRACED}
    _check_same_requests(stats)
    return samples, stats, peaks


def _check_same_requests(stats: dict[str, list[Stats]]) -> None:
    """Every harvest listed the same pages and fetched the same elements, none retried."""
    raw = stats["raw"][-1]
    expected = (raw.pages, raw.elements, raw.pages + raw.elements)
    for name, runs in stats.items():
        for found in runs:
            if (found.pages, found.elements, found.requests) != expected:
                raise RuntimeError(
                    f"{name} sent other requests than the raw harvest: {found.pages} pages, "
                    f"{found.elements} elements, {found.requests} requests against "
                    f"{expected[0]}, {expected[1]}, {expected[2]}"
                )


def _harvest_figures(
    samples: dict[str, list[Sample]], stats: dict[str, list[Stats]], peaks: dict[str, int]
) -> list[Figure]:
    cpu = {name: median(s, lambda x: x.cpu_per_item) * 1e6 for name, s in samples.items()}
    rate = {name: median(s, lambda x: x.rate) for name, s in samples.items()}
    raw = stats["raw"][-1]
    shape = f"{raw.pages} pages + {raw.elements} downloads, c={HARVEST_CONCURRENCY}"
    figures = [
        info(
            NAME,
            f"harvest.{name}.items_per_s",
            rate[name],
            unit="items/s",
            medians={f"{name}.cpu_us_per_item": round(cpu[name], 1)},
            note=f"{shape}, median of {HARVEST_BLOCKS}",
        )
        for name in HARVESTERS
    ]
    for name in HARVESTERS:
        if name == "raw":
            continue
        medians = {
            f"{name}.cpu_us_per_item": round(cpu[name], 1),
            "raw.cpu_us_per_item": round(cpu["raw"], 1),
            f"{name}.items_per_s": round(rate[name], 1),
            "raw.items_per_s": round(rate["raw"], 1),
        }
        figures += [
            info(
                NAME,
                f"harvest.{name}_vs_raw.cpu_per_item",
                cpu[name] / cpu["raw"],
                unit="ratio",
                medians=medians,
                note="client CPU per item over the raw harvest's (which writes nothing)",
            ),
            info(
                NAME,
                f"harvest.{name}_vs_raw.items_per_s",
                rate[name] / rate["raw"],
                unit="ratio",
                note="items per wall second over the raw harvest's",
            ),
        ]
    figures.append(
        info(
            NAME,
            "harvest.engine.peak_traced_mib",
            peaks["engine"] / 2**20,
            unit="MiB",
            medians={f"{name}.peak_traced_mib": round(peaks[name] / 2**20, 2) for name in peaks},
            note="the most Python memory (tracemalloc) the run held above its start, in one "
            "more, untimed run",
        )
    )
    return figures


async def _measure(
    emulator: Served, factory: TransportFactory | None
) -> tuple[
    dict[str, list[Sample]],
    tuple[dict[str, list[Sample]], dict[str, list[Stats]], dict[str, int]],
]:
    return await _clients(emulator, factory), await _harvests(emulator)


def run(context: Context) -> list[Figure]:
    """Measure the clients and the harvests against the raw client, and draw the plot."""
    factory = transport_factory()
    clients = CLIENTS if factory is not None else tuple(c for c in CLIENTS if c != "aiohttp")
    samples, harvests = anyio.run(_measure, context.served(), factory, backend="asyncio")
    figures = _client_figures(samples, clients)
    if factory is None:
        figures.append(
            skipped(NAME, "aiohttp_vs_raw", "httpx-aiohttp is not installed: not measured")
        )
    return figures + _harvest_figures(*harvests)
