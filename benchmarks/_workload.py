"""The request workload the transport benchmarks share: Storage data-element downloads.

Why downloads, and not instance-list pages: in a bulk harvest the data downloads are the
requests that run concurrently, one or more per instance, while the list pages are a chain (each
page's ``next`` link comes from the page before), fetched one at a time and a hundredth as often.
A download is also a small response (about 140 bytes of XML here), so its cost is the cost of a
request itself, which is what grows with concurrency; a list page's cost is mostly parsing 100
instances of JSON, which no transport changes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

import anyio
import httpx

from ._measure import Sample, timed
from ._served import Served

__all__ = ["data_urls", "fetch_all", "plain_get", "requests_for", "sized", "steady"]


async def data_urls(emulator: Served) -> list[str]:
    """The platform URL of every seeded data element, listed through the ``next`` links."""
    urls: list[str] = []
    async with emulator.client(1) as http:
        url: str | None = emulator.instances_url()
        while url:
            response = await http.get(url)
            response.raise_for_status()
            page = response.json()
            for instance in page["instances"]:
                urls.extend(element["selfLinks"]["platform"] for element in instance["data"])
            url = page.get("next")
    if not urls:
        raise RuntimeError("the served emulator has no data elements to download")
    return urls


def requests_for(concurrency: int, *, least: int) -> int:
    """How many requests a run at ``concurrency`` sends: ten per connection, and ``least``.

    A bulk job runs in a steady state, each worker taking its next URL as it finishes one. A run
    of few requests per connection would mostly measure the ramp (a pool of idle connections
    being handed its first requests) and the drain, which cost httpcore's pool the most.
    """
    return max(least, 10 * concurrency)


def sized(urls: list[str], count: int) -> list[str]:
    """``count`` of ``urls``, round and round if there are fewer."""
    return [urls[index % len(urls)] for index in range(count)]


def _check(response: httpx.Response) -> None:
    if response.status_code != 200:
        raise RuntimeError(f"GET {response.request.url} answered {response.status_code}")


async def fetch_all(
    get: Callable[[str], Awaitable[object]], urls: list[str], concurrency: int
) -> Sample:
    """Fetch every URL with ``get``, ``concurrency`` at a time (a pool of that many workers
    taking the next URL when they are free), and time it."""
    pending: Iterator[str] = iter(urls)

    async def worker() -> None:
        for url in pending:  # one shared iterator: each URL is taken once
            await get(url)

    async def run() -> None:
        async with anyio.create_task_group() as group:
            for _ in range(concurrency):
                group.start_soon(worker)

    return await timed(len(urls), run)


def steady(
    get: Callable[[str], Awaitable[object]], urls: list[str], concurrency: int
) -> Callable[[], Awaitable[Sample]]:
    """A timed `fetch_all` of ``urls`` that first (untimed) sends one request on each of the
    pool's connections.

    The emulator's server (uvicorn) closes a connection that has been idle for 5 seconds, and
    in interleaved blocks a pool waits longer than that for its turn: without this, each run
    would start by reconnecting its whole pool, which a busy bulk job never does.
    """
    warm = sized(urls, concurrency)

    async def run() -> Sample:
        await fetch_all(get, warm, concurrency)
        return await fetch_all(get, urls, concurrency)

    return run


def plain_get(http: httpx.AsyncClient) -> Callable[[str], Awaitable[None]]:
    """``GET url`` on ``http``, checked for 200 (the body read, as ``get`` does)."""

    async def get(url: str) -> None:
        _check(await http.get(url))

    return get
