"""``altinn-async harvest``: a list walked to its end, each item written once to JSON Lines (or a
folder), its files downloaded beside it, with progress, a checkpoint and ``--resume``.

``harvest storage`` takes a service owner's instances (with their data elements; ``--complete``
confirms each once it is safely written), ``harvest events`` an Events feed, ``harvest
altinn2`` an Altinn 2 message box, and ``harvest dialogporten`` a mailbox through Altinn 3
(Dialogporten, Correspondence). They share the harvest engine (`altinn_async.Harvest`): the
output and its SQLite checkpoint are committed together, so a run killed at any instant and
started again with ``--resume`` ends with every item exactly once.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio

from ..._harvest import FolderSink, Harvest, HarvestSource, JsonLinesSink, Sink
from .._common import UsageError
from . import _altinn2, _dialogporten, _events, _storage
from ._progress import Display, describe_summary

__all__ = ["add_parser"]

Opened = AbstractAsyncContextManager[list[HarvestSource[Any]]]
"""What a source command builds: its clients opened, its sources ready, closed on exit."""

DEFAULT_CONCURRENCY = 10
"""From ``benchmarks/concurrency.py``: on a 2-core machine, 10 requests at once give about 8 times
the throughput of one at 25 ms latency for the same CPU per request; more connections cost httpx
more CPU per request than they bring."""


def add_parser(commands: Any) -> None:
    harvest = commands.add_parser(
        "harvest",
        help="walk a list to its end: each item once to JSON Lines, its files beside it",
        description="Walk a list (Storage instances, an Events feed, an Altinn 2 message box, "
        "an Altinn 3 mailbox) "
        "to its end, write each item once as a JSON line (or a file in a folder), download its "
        "files, and show progress. A checkpoint beside the output is committed with it; "
        "--resume continues a stopped or killed run, and the output holds each item exactly "
        "once. Secrets come from environment variables (or a prompt), never from the command "
        "line.",
    )
    sources = harvest.add_subparsers(dest="source", required=True, metavar="SOURCE")
    for module in (_storage, _events, _altinn2, _dialogporten):
        parser = module.add_parser(sources)
        _add_common(parser)
        parser.set_defaults(run=functools.partial(run, module.open_sources))


def _add_common(parser: argparse.ArgumentParser) -> None:
    out = parser.add_argument_group("output")
    where = out.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="the JSON Lines file")
    where.add_argument("--out-dir", type=Path, help="a folder with one JSON file per item")
    out.add_argument("--files", type=Path, help="download the items' files into this folder")
    out.add_argument("--max", type=int, help="stop after this many items in this run")
    mode = out.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    mode.add_argument(
        "--overwrite", action="store_true", help="start again, replacing an earlier output"
    )
    pace = parser.add_argument_group("pace")
    pace.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help=f"items worked on at once ({DEFAULT_CONCURRENCY})",
    )
    pace.add_argument("--rate-limit", type=float, metavar="N", help="at most N requests a second")
    pace.add_argument(
        "--transport",
        choices=("httpx", "aiohttp"),
        default="httpx",
        help="aiohttp: less CPU per request for big harvests (pip install 'altinn-async[bulk]')",
    )
    show = parser.add_argument_group("display")
    show.add_argument(
        "--json", action="store_true", help="print the summary as JSON on stdout, no progress"
    )
    show.add_argument("--quiet", action="store_true", help="no progress, only the summary")


def _sink(args: argparse.Namespace) -> Sink:
    if args.out is not None:
        if args.out.is_dir():
            raise UsageError(f"--out {args.out}: that is a folder (use --out-dir for a folder)")
        if not args.out.parent.is_dir():
            raise UsageError(
                f"--out {args.out}: the folder {args.out.parent} does not exist (create it first)"
            )
        return JsonLinesSink(args.out)
    if args.out_dir.exists() and not args.out_dir.is_dir():
        raise UsageError(f"--out-dir {args.out_dir}: that is a file (use --out for a file)")
    if not args.out_dir.parent.is_dir():
        raise UsageError(
            f"--out-dir {args.out_dir}: the folder {args.out_dir.parent} does not exist"
        )
    return FolderSink(args.out_dir)


def _check_common(args: argparse.Namespace) -> None:
    if args.concurrency < 1:
        raise UsageError(f"--concurrency {args.concurrency}: must be at least 1")
    if args.max is not None and args.max < 0:
        raise UsageError(f"--max {args.max}: must be 0 or more")
    if args.rate_limit is not None and not args.rate_limit > 0:
        raise UsageError(f"--rate-limit {args.rate_limit}: must be more than 0 requests a second")
    if args.files is not None:
        if args.files.exists() and not args.files.is_dir():
            raise UsageError(f"--files {args.files}: that is a file, not a folder")
        if not args.files.parent.is_dir():
            raise UsageError(
                f"--files {args.files}: the folder {args.files.parent} does not exist "
                "(create it first)"
            )


def run(open_sources: Callable[[argparse.Namespace], Opened], args: argparse.Namespace) -> None:
    from .. import run_async  # noqa: PLC0415 - the package imports this module

    _check_common(args)
    sink = _sink(args)
    run_async(functools.partial(_harvest, args, sink, open_sources))


async def _harvest(
    args: argparse.Namespace, sink: Sink, open_sources: Callable[[argparse.Namespace], Opened]
) -> None:
    async with open_sources(args) as sources:
        harvest = Harvest(
            sources,
            sink=sink,
            files=args.files,
            concurrency=args.concurrency,
            rate_limit=args.rate_limit,
            resume=args.resume,
            overwrite=args.overwrite,
            max_items=args.max,
            notes=getattr(args, "notes", None),
        )
        async with (
            harvest,
            Display(harvest, quiet=args.quiet or args.json) as display,
            _watching(display),
        ):
            summary = await harvest.run()
    if args.json:
        print(json.dumps(summary.as_json(), indent=2))
    else:
        print(describe_summary(summary), file=sys.stderr)


@contextlib.asynccontextmanager
async def _watching(display: Display) -> AsyncIterator[None]:
    async with anyio.create_task_group() as group:
        group.start_soon(display.watch)
        try:
            yield
        finally:
            group.cancel_scope.cancel()
