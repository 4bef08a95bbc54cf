"""The bare-httpx harvest: the baseline for the library's harvest engine.

`bare_harvest` is the loop a careful user writes by hand with plain httpx and anyio: list every
instance of an org through Storage's ``next`` links (followed only on the platform, since they
carry the token), and download each instance's data elements with a bounded pool of
``concurrency`` workers fed through a bounded stream (so listing runs ahead of the downloads by
at most ``concurrency`` instances), each file written whole or not at all (a ``.partial`` file
renamed into place, in a worker thread), transient failures (429, 502, 503, 504, a dropped
connection) retried a few times with backoff. No library code is involved but the token.

The benchmark runs every harvester in `HARVESTERS` on the served emulator in interleaved
blocks, each into a new folder, next to plain downloads of the same data elements at the same
concurrency (`benchmarks._workload`), and reports client CPU per item (a data element downloaded
and written) and wall time. The bare loop's figures are the bar, recorded and judged by nothing.
To compare the library's engine, add it to `HARVESTERS` under its name, with the same signature
(an adapter around the engine, if its own differs); every harvester other than ``bare`` gets an
``{name}_vs_bare`` figure: its CPU per item over the bare loop's, at most `ENGINE_LIMIT`.

Where the bare loop's CPU goes on this machine: a download through httpx about 2 ms, creating the
file and renaming it 0.15 to 1 ms (the disk; /tmp is slower still, so the harvests write beside
the benchmarks), the worker-thread hop 0.2 ms, the share of listing (a 170 kB page per 100
instances) and of making the client (its SSL context, 45 ms) about 0.25 ms.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

import altinn_async as altinn

from ._context import Context
from ._measure import Sample, interleave, median, timed
from ._report import Figure, at_most, info
from ._served import STORAGE_API, Served, limits
from ._workload import data_urls, fetch_all, plain_get, sized, steady

NAME = "harvest"
SUMMARY = "the bare-httpx harvest loop (list + download + write), the engine's baseline"

CONCURRENCY = 10
PAGE_SIZE = 100
BLOCKS = 5
# A harvester compared with the bare loop may cost at most this much CPU per item (a proposal for
# the engine; the bare loop's own figures are recorded, judged by nothing: they are the bar).
ENGINE_LIMIT = 1.1
WALL_LIMIT = 1.0

SCRATCH = Path(__file__).resolve().parent
"""Where the harvests write (a temporary folder in it, removed at the end)."""

_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_ATTEMPTS = 4


@dataclass(frozen=True)
class Stats:
    """What a harvest did, and what it cost the client.

    Attributes:
        instances: instances listed.
        elements: data elements downloaded and written (the items).
        bytes: bytes written.
        pages: list pages fetched.
        requests: HTTP requests sent (retries included).
        cpu: client CPU seconds (``time.process_time()``) from the call to its return.
        wall: wall seconds from the call to its return.
    """

    instances: int
    elements: int
    bytes: int
    pages: int
    requests: int
    cpu: float
    wall: float

    @property
    def cpu_per_item(self) -> float:
        """Client CPU seconds per data element."""
        return self.cpu / max(self.elements, 1)

    @property
    def items_per_second(self) -> float:
        """Data elements per wall second."""
        return self.elements / self.wall if self.wall else 0.0


class Harvester(Protocol):
    """The signature every harvester in the comparison has."""

    def __call__(
        self,
        base_url: str,
        token: str,
        org: str,
        concurrency: int,
        out_dir: str | os.PathLike[str],
    ) -> Awaitable[Stats]: ...


@dataclass
class _Counts:
    instances: int = 0
    elements: int = 0
    bytes: int = 0
    pages: int = 0
    requests: int = 0


def _write(folder: Path, name: str, content: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.partial"
    partial.write_bytes(content)
    partial.replace(folder / name)


def _guid(value: object) -> str:
    # Names from the server become paths only as GUIDs.
    return str(uuid.UUID(str(value)))


async def _get(http: httpx.AsyncClient, url: str, counts: _Counts) -> httpx.Response:
    for attempt in range(_ATTEMPTS):
        counts.requests += 1
        last = attempt == _ATTEMPTS - 1
        try:
            response = await http.get(url)
        except httpx.TransportError:
            if last:
                raise
            wait = min(0.25 * 2**attempt, 4.0)
        else:
            if response.status_code not in _RETRY_STATUSES or last:
                response.raise_for_status()
                return response
            after = response.headers.get("Retry-After", "")
            wait = float(after) if after.isdigit() else min(0.25 * 2**attempt, 4.0)
        await anyio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


async def bare_harvest(
    base_url: str,
    token: str,
    org: str,
    concurrency: int,
    out_dir: str | os.PathLike[str],
) -> Stats:
    """Harvest every instance of ``org`` with plain httpx: list them through the ``next``
    links and download each one's data elements, ``concurrency`` at a time, into
    ``out_dir/{instanceGuid}/{dataElementId}``.

    Args:
        base_url: the platform URL (``Environment.platform``), under which Storage lives.
        token: an Altinn token for ``org`` (sent as ``Authorization: Bearer``).
        org: the service owner.
        concurrency: download workers (and the pool's connections, plus one for listing).
        out_dir: the folder to write into (made if missing).

    Returns:
        What it did, with its client CPU and wall time.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    platform = base_url.rstrip("/")
    root = Path(out_dir)
    counts = _Counts()
    limits = httpx.Limits(
        max_connections=concurrency + 1, max_keepalive_connections=concurrency + 1
    )
    send, receive = anyio.create_memory_object_stream[dict[str, Any]](max_buffer_size=concurrency)
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=30.0
    ) as http:

        async def lister(stream: MemoryObjectSendStream[dict[str, Any]]) -> None:
            async with stream:
                query = httpx.QueryParams({"org": org, "size": str(PAGE_SIZE)})
                url: str | None = f"{platform}{STORAGE_API}/instances?{query}"
                while url:
                    page = (await _get(http, url, counts)).json()
                    counts.pages += 1
                    for instance in page["instances"]:
                        counts.instances += 1
                        await stream.send(instance)
                    url = page.get("next")
                    if url and not url.startswith(f"{platform}/"):
                        raise RuntimeError(f"a next link off the platform: {url}")

        async def worker(stream: MemoryObjectReceiveStream[dict[str, Any]]) -> None:
            async with stream:
                async for instance in stream:
                    folder = root / _guid(str(instance["id"]).partition("/")[2])
                    for element in instance.get("data", []):
                        url = element["selfLinks"]["platform"]
                        if not url.startswith(f"{platform}/"):
                            raise RuntimeError(f"a data link off the platform: {url}")
                        content = (await _get(http, url, counts)).content
                        name = _guid(element["id"])
                        await anyio.to_thread.run_sync(_write, folder, name, content)
                        counts.elements += 1
                        counts.bytes += len(content)

        async with anyio.create_task_group() as group:
            group.start_soon(lister, send)
            for _ in range(concurrency):
                group.start_soon(worker, receive.clone())
            receive.close()
    return Stats(
        instances=counts.instances,
        elements=counts.elements,
        bytes=counts.bytes,
        pages=counts.pages,
        requests=counts.requests,
        cpu=time.process_time() - cpu,
        wall=time.perf_counter() - wall,
    )


async def engine_harvest(
    base_url: str,
    token: str,
    org: str,
    concurrency: int,
    out_dir: str | os.PathLike[str],
) -> Stats:
    """The same harvest through the library's engine (`altinn_async.Harvest`): the instances
    as JSON Lines, each one's data elements downloaded, a checkpoint committed with them.

    It does more than the bare loop (a line per instance, a checkpoint, every file fsynced and
    its size checked against the metadata), and the target says it may cost at most
    `ENGINE_LIMIT` times the bare loop's CPU for it.
    """
    cpu, wall = time.process_time(), time.perf_counter()
    root = Path(out_dir)
    await anyio.Path(root).mkdir(parents=True, exist_ok=True)
    async with httpx.AsyncClient(
        headers={"Authorization": f"Bearer {token}"}, limits=limits(concurrency + 1), timeout=30.0
    ) as http:
        storage = altinn.StorageClient(http, platform=base_url)
        source = altinn.StorageInstances(storage, org=org, size=PAGE_SIZE)
        async with altinn.Harvest(
            source,
            sink=altinn.JsonLinesSink(root / "instances.jsonl"),
            files=root / "data",
            concurrency=concurrency,
        ) as harvest:
            summary = await harvest.run()
    return Stats(
        instances=summary.items,
        elements=summary.files,
        bytes=summary.bytes,
        pages=summary.pages,
        requests=summary.pages + summary.files + summary.retries,
        cpu=time.process_time() - cpu,
        wall=time.perf_counter() - wall,
    )


HARVESTERS: dict[str, Harvester] = {"bare": bare_harvest, "engine": engine_harvest}
"""The harvesters compared, by name; ``bare`` is the baseline."""


async def _measure(
    emulator: Served, harvesters: Mapping[str, Harvester], concurrency: int, blocks: int
) -> tuple[dict[str, list[Sample]], list[Stats]]:
    stats: list[Stats] = []
    # Beside the benchmarks, not in /tmp: creating a file in this machine's /tmp costs 0.4 to 1 ms
    # of CPU and varies from run to run, five times what it costs on the work tree's disk.
    with tempfile.TemporaryDirectory(prefix=".harvest-", dir=SCRATCH) as scratch:
        runs = 0

        def harvest(harvester: Harvester) -> Callable[[], Awaitable[Sample]]:
            async def run() -> Sample:
                nonlocal runs
                runs += 1
                out = Path(scratch) / f"run-{runs}"
                found: list[Stats] = []

                async def body() -> None:
                    found.append(
                        await harvester(
                            emulator.platform, emulator.token, emulator.org, concurrency, out
                        )
                    )

                sample = await timed(emulator.instances, body)
                if found[0].elements != emulator.instances:
                    raise RuntimeError(
                        f"harvested {found[0].elements} data elements of {emulator.instances}"
                    )
                stats.append(found[0])
                return sample

            return run

        urls = await data_urls(emulator)
        async with emulator.client(concurrency) as http:
            get = plain_get(http)
            await fetch_all(get, sized(urls, 2 * concurrency), concurrency)

            variants = {name: harvest(harvester) for name, harvester in harvesters.items()}
            variants["downloads"] = steady(get, urls, concurrency)
            for name in harvesters:  # a first harvest each: imports, thread pool, caches
                await variants[name]()
            stats.clear()
            samples = await interleave(variants, blocks=blocks)
    return samples, stats


def run(context: Context) -> list[Figure]:
    """Harvest, download, compare."""
    emulator = context.served()
    samples, stats = anyio.run(_measure, emulator, HARVESTERS, CONCURRENCY, BLOCKS)
    per_item = {name: median(s, lambda x: x.cpu_per_item) * 1e6 for name, s in samples.items()}
    wall = {name: median(s, lambda x: x.wall) for name, s in samples.items()}
    bare = per_item["bare"]
    last = stats[-1]
    medians = {
        "bare.cpu_us_per_item": round(bare, 1),
        "downloads.cpu_us_per_request": round(per_item["downloads"], 1),
        "bare.wall_s": round(wall["bare"], 2),
        "downloads.wall_s": round(wall["downloads"], 2),
        "bare.pages": last.pages,
        "bare.requests": last.requests,
    }
    figures = [
        info(
            NAME,
            f"bare_vs_downloads.c{CONCURRENCY}",
            bare / per_item["downloads"],
            unit="ratio",
            medians=medians,
            note=f"CPU per item: {emulator.instances} instances listed, downloaded and written, "
            f"against downloads alone; median of {BLOCKS}",
        ),
        info(
            NAME,
            f"bare.items_per_s.c{CONCURRENCY}",
            emulator.instances / wall["bare"],
            unit="items/s",
            note="loopback, the emulator answering at once",
        ),
    ]
    for name in HARVESTERS:
        if name == "bare":
            continue
        figures += [
            at_most(
                NAME,
                f"{name}_vs_bare.c{CONCURRENCY}",
                per_item[name] / bare,
                limit=ENGINE_LIMIT,
                medians={f"{name}.cpu_us_per_item": round(per_item[name], 1)},
                note="CPU per item against the bare loop",
            ),
            at_most(
                NAME,
                f"{name}_wall_vs_bare.c{CONCURRENCY}",
                wall[name] / wall["bare"],
                limit=WALL_LIMIT,
                medians={f"{name}.wall_s": round(wall[name], 2)},
                note="wall time against the bare loop",
            ),
        ]
    return figures
