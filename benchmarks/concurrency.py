"""httpx's cost per request against concurrency, and the default concurrency for a bulk harvest.

N data-element downloads (see `benchmarks._workload` for why downloads) from the served
emulator through one ``httpx.AsyncClient`` whose pool is sized to the concurrency, at each
concurrency of `CONCURRENCY`, the runs interleaved in blocks:

1. On loopback (Storage answers at once): client CPU per request (``process_time`` / requests)
   and how it grows with concurrency. A variant through the library (``AltinnExchangeAuth`` and
   ``StorageClient.download``) at c=1 measures what the library adds to a bare request.
2. With `LATENCY` seconds of server latency on every Storage read (the server idle meanwhile, as
   a far-away Altinn would leave it), at each of `LATENCY_CONCURRENCY`: throughput (requests
   per wall second), which is what concurrency is for, and CPU per request again.

The recommended default is the smallest concurrency whose throughput is within
`THROUGHPUT_MARGIN` of the best among those whose CPU per request is at most `CPU_PENALTY` times
the cheapest (series 2): the best throughput without a big CPU-per-request penalty.

Why CPU per request grows: httpcore's pool (1.0.9) walks every connection each time a request
arrives or a response closes, asks each idle one whether its socket became readable (a poll
through anyio's ``extra`` attributes) and, for each idle one, counts the idle ones again. Once
the client is saturated, responses wait for their worker to be scheduled and many connections
sit idle, so the walk grows with the pool (quadratically, in part), the client falls further
behind, and more connections sit idle: past the point where one core keeps up, more concurrency
buys less throughput at more CPU per request. See encode/httpcore#928 and encode/httpx#3215.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import anyio
import httpx

import altinn_async as altinn

from ._context import Context
from ._measure import Sample, interleave, median
from ._report import Figure, at_least, at_most, info
from ._served import Served
from ._workload import data_urls, fetch_all, plain_get, requests_for, sized, steady

NAME = "concurrency"
SUMMARY = "httpx's client CPU per request and wall time against concurrency; the default"

CONCURRENCY = (1, 10, 25, 50, 100)
# With a far-away server the client is saturated from c=25 on: c=100 adds nothing there.
LATENCY_CONCURRENCY = (1, 10, 25, 50)
BLOCKS = 5
LATENCY = 0.025
LATENCY_BLOCKS = 3
CPU_PENALTY = 1.5
THROUGHPUT_MARGIN = 0.9
# One request at a time: what the library adds is the same for every request, and at c=10 the
# pool's own swings (0.65 to 1.2 between runs) would hide it.
LIBRARY_CONCURRENCY = 1

# Targets. A modest pool costs little more CPU per request than one request at a time (1.3 to
# 1.65 here, against 3 to 16 past c=10).
C10_CPU_LIMIT = 2.0
# With a far-away server, 10 requests in flight bring far more than one does.
C10_THROUGHPUT_FLOOR = 4.0
# The library's auth flow, retry policy and URL checks over a bare request with a fixed header.
LIBRARY_LIMIT = 1.35

Get = Callable[[str], Awaitable[object]]


def _loopback_requests(concurrency: int) -> int:
    return requests_for(concurrency, least=400)


def _latency_requests(concurrency: int) -> int:
    # One request at a time takes about 28 ms: 100 of them are enough.
    return requests_for(concurrency, least=100)


def _library_get(http: httpx.AsyncClient) -> Get:
    storage = altinn.StorageClient(http)

    async def get(url: str) -> None:
        await storage.download({"id": url.rsplit("/", 1)[-1], "selfLinks": {"platform": url}})

    return get


async def _series(
    emulator: Served,
    urls: list[str],
    grid: tuple[int, ...],
    requests: Callable[[int], int],
    blocks: int,
    *,
    library: bool,
) -> dict[str, list[Sample]]:
    async with contextlib.AsyncExitStack() as stack:
        variants: dict[str, Callable[[], Awaitable[Sample]]] = {}
        for concurrency in grid:
            http = await stack.enter_async_context(emulator.client(concurrency))
            get: Get = plain_get(http)
            await fetch_all(get, sized(urls, 2 * concurrency), concurrency)  # open the pool
            variants[f"c{concurrency}"] = steady(
                get, sized(urls, requests(concurrency)), concurrency
            )
        if library:
            concurrency = LIBRARY_CONCURRENCY
            auth = await stack.enter_async_context(emulator.exchange_auth())
            http = await stack.enter_async_context(emulator.client(concurrency, auth=auth))
            get = _library_get(http)
            await fetch_all(get, sized(urls, 2 * concurrency), concurrency)  # and the token
            variants[f"library c{concurrency}"] = steady(
                get, sized(urls, requests(concurrency)), concurrency
            )
        return await interleave(variants, blocks=blocks)


def _cpu_us(samples: list[Sample]) -> float:
    return median(samples, lambda s: s.cpu_per_item) * 1e6


def _rate(samples: list[Sample]) -> float:
    return median(samples, lambda s: s.rate)


def recommend(cpu: dict[int, float], throughput: dict[int, float]) -> int:
    """The smallest concurrency within `THROUGHPUT_MARGIN` of the best throughput among those
    whose CPU per request is at most `CPU_PENALTY` times the cheapest."""
    cheapest = min(cpu.values())
    eligible = [c for c in sorted(cpu) if cpu[c] <= CPU_PENALTY * cheapest]
    best = max(throughput[c] for c in eligible)
    return next(c for c in eligible if throughput[c] >= THROUGHPUT_MARGIN * best)


async def _measure(emulator: Served) -> tuple[dict[str, list[Sample]], dict[str, list[Sample]]]:
    urls = await data_urls(emulator)
    loopback = await _series(emulator, urls, CONCURRENCY, _loopback_requests, BLOCKS, library=True)
    emulator.set_latency(LATENCY)
    try:
        far = await _series(
            emulator, urls, LATENCY_CONCURRENCY, _latency_requests, LATENCY_BLOCKS, library=False
        )
    finally:
        emulator.set_latency(0.0)
    return loopback, far


def run(context: Context) -> list[Figure]:
    """Measure both series and judge them."""
    loopback, far = anyio.run(_measure, context.served())
    cpu = {c: _cpu_us(loopback[f"c{c}"]) for c in CONCURRENCY}
    medians: dict[str, float] = {}
    for c in CONCURRENCY:
        samples = loopback[f"c{c}"]
        medians[f"loopback.c{c}.cpu_us_per_request"] = round(cpu[c], 1)
        medians[f"loopback.c{c}.wall_ms"] = round(median(samples, lambda s: s.wall) * 1e3, 1)
        medians[f"loopback.c{c}.requests_per_s"] = round(_rate(samples), 1)
        medians[f"loopback.c{c}.requests"] = _loopback_requests(c)
    figures = [
        at_most(
            NAME,
            "cpu_per_request.c10_vs_c1",
            cpu[10] / cpu[1],
            limit=C10_CPU_LIMIT,
            medians=medians,
            note=f"loopback, {_loopback_requests(10)} downloads a run, median of {BLOCKS}",
        )
    ]
    figures += [
        info(NAME, f"cpu_per_request.c{c}_vs_c1", cpu[c] / cpu[1], unit="ratio")
        for c in CONCURRENCY
        if c not in (1, 10)
    ]
    library = _cpu_us(loopback[f"library c{LIBRARY_CONCURRENCY}"])
    figures.append(
        at_most(
            NAME,
            f"library_vs_bare.c{LIBRARY_CONCURRENCY}",
            library / cpu[LIBRARY_CONCURRENCY],
            limit=LIBRARY_LIMIT,
            medians={
                "library.cpu_us_per_request": round(library, 1),
                "bare.cpu_us_per_request": round(cpu[LIBRARY_CONCURRENCY], 1),
            },
            note="AltinnExchangeAuth + StorageClient.download against a fixed header, CPU/request",
        )
    )
    far_cpu = {c: _cpu_us(far[f"c{c}"]) for c in LATENCY_CONCURRENCY}
    throughput = {c: _rate(far[f"c{c}"]) for c in LATENCY_CONCURRENCY}
    far_medians: dict[str, float] = {}
    for c in LATENCY_CONCURRENCY:
        far_medians[f"latency.c{c}.cpu_us_per_request"] = round(far_cpu[c], 1)
        far_medians[f"latency.c{c}.requests_per_s"] = round(throughput[c], 1)
        far_medians[f"latency.c{c}.requests"] = _latency_requests(c)
    figures.append(
        at_least(
            NAME,
            "throughput.c10_vs_c1",
            throughput[10] / throughput[1],
            limit=C10_THROUGHPUT_FLOOR,
            medians=far_medians,
            note=f"{LATENCY * 1e3:.0f} ms server latency, median of {LATENCY_BLOCKS}",
        )
    )
    recommended = recommend(far_cpu, throughput)
    figures.append(
        info(
            NAME,
            "recommended_concurrency",
            recommended,
            unit="count",
            medians={
                "requests_per_s": round(throughput[recommended], 1),
                "cpu_vs_cheapest": round(far_cpu[recommended] / min(far_cpu.values()), 2),
            },
            note=f"best throughput at ≤ {CPU_PENALTY}x the cheapest CPU/request "
            f"({LATENCY * 1e3:.0f} ms latency)",
        )
    )
    return figures
