"""httpx-aiohttp: an aiohttp-backed transport for ``httpx.AsyncClient``, against httpx's own.

The same data-element downloads from the served emulator (loopback) through one
``httpx.AsyncClient`` each, with httpx's default transport (httpcore + h11) and with
``httpx_aiohttp.AiohttpTransport`` (aiohttp's connection pool and C HTTP parser; the client,
its auth flows and the response objects stay httpx's), at concurrency 10 and 100, interleaved in
blocks; client CPU per request.

The rule (from the issue): keep it as an opt-in for bulk jobs only if it wins by at least
`ADOPT_RATIO` x client CPU at c=100. The figure is an evaluation, never a failure: either
"adopted as opt-in" or "evaluated, not adopted". It is measured on asyncio only (aiohttp does not
run on trio), and it is skipped, with a message, when httpx-aiohttp is not installed
(``pip install httpx-aiohttp``; the library does not depend on it).
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Awaitable, Callable

import anyio
import httpx

from ._context import Context
from ._measure import Sample, interleave, median
from ._report import Figure, adoption, info, skipped
from ._served import Served, limits
from ._workload import data_urls, fetch_all, plain_get, requests_for, sized, steady

NAME = "aiohttp"
SUMMARY = "httpx-aiohttp's transport against httpx's default: client CPU per request (asyncio)"

CONCURRENCY = (10, 100)
LEAST_REQUESTS = 400
BLOCKS = 3  # the ratios are far from the threshold: 2 to 4 at c=10, 4.5 to 7 at c=100
ADOPT_RATIO = 1.5
ADOPT_AT = 100

TransportFactory = Callable[..., httpx.AsyncBaseTransport]


def transport_factory() -> TransportFactory | None:
    """``httpx_aiohttp.AiohttpTransport``, or None when httpx-aiohttp is not installed."""
    try:
        module = importlib.import_module("httpx_aiohttp")
    except ImportError:
        return None
    factory: TransportFactory = module.AiohttpTransport
    return factory


async def _measure(emulator: Served, factory: TransportFactory) -> dict[str, list[Sample]]:
    urls = await data_urls(emulator)
    async with contextlib.AsyncExitStack() as stack:
        variants: dict[str, Callable[[], Awaitable[Sample]]] = {}
        for concurrency in CONCURRENCY:
            pool = limits(concurrency)  # aiohttp's keep-alive follows keepalive_expiry too
            clients = {
                "httpx": emulator.client(concurrency),
                "aiohttp": emulator.client(concurrency, transport=factory(limits=pool)),
            }
            for transport, client in clients.items():
                http = await stack.enter_async_context(client)
                get = plain_get(http)
                await fetch_all(get, sized(urls, 2 * concurrency), concurrency)  # open the pool
                variants[f"{transport} c{concurrency}"] = steady(
                    get, sized(urls, requests_for(concurrency, least=LEAST_REQUESTS)), concurrency
                )
        return await interleave(variants, blocks=BLOCKS)


def run(context: Context) -> list[Figure]:
    """Measure both transports (when httpx-aiohttp is there) and evaluate the rule."""
    factory = transport_factory()
    if factory is None:
        reason = "httpx-aiohttp is not installed (pip install httpx-aiohttp): not evaluated"
        return [skipped(NAME, f"cpu_httpx_vs_aiohttp.c{c}", reason) for c in CONCURRENCY]
    samples = anyio.run(_measure, context.served(), factory, backend="asyncio")
    figures: list[Figure] = []
    for concurrency in CONCURRENCY:
        default = samples[f"httpx c{concurrency}"]
        aiohttp = samples[f"aiohttp c{concurrency}"]
        cpu_default = median(default, lambda s: s.cpu_per_item) * 1e6
        cpu_aiohttp = median(aiohttp, lambda s: s.cpu_per_item) * 1e6
        rate_default = median(default, lambda s: s.rate)
        rate_aiohttp = median(aiohttp, lambda s: s.rate)
        medians = {
            "httpx.cpu_us_per_request": round(cpu_default, 1),
            "aiohttp.cpu_us_per_request": round(cpu_aiohttp, 1),
            "httpx.requests_per_s": round(rate_default, 1),
            "aiohttp.requests_per_s": round(rate_aiohttp, 1),
        }
        name = f"cpu_httpx_vs_aiohttp.c{concurrency}"
        ratio = cpu_default / cpu_aiohttp
        requests = requests_for(concurrency, least=LEAST_REQUESTS)
        note = f"client CPU per request, loopback, median of {BLOCKS} x {requests}"
        if concurrency == ADOPT_AT:
            figures.append(
                adoption(NAME, name, ratio, limit=ADOPT_RATIO, medians=medians, note=note)
            )
        else:
            figures.append(info(NAME, name, ratio, unit="ratio", medians=medians, note=note))
        figures.append(
            info(
                NAME,
                f"throughput_aiohttp_vs_httpx.c{concurrency}",
                rate_aiohttp / rate_default,
                unit="ratio",
                note="requests per wall second, loopback (the client is the bottleneck here)",
            )
        )
    return figures
