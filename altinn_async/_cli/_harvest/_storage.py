"""``altinn-async harvest storage``: a service owner's instances, their data elements downloaded,
optionally confirmed (``complete``), listed in parallel windows of time."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..._harvest import HarvestSource, StorageInstances
from ..._harvest._checkpoint import Checkpoint
from ..._storage import StorageClient
from ...exceptions import ConfigurationError
from .._common import UsageError
from .._token import add_client_arguments
from ._transport import platform_client

__all__ = ["add_parser", "moment", "open_sources"]

READ = "altinn:serviceowner/instances.read"
WRITE = "altinn:serviceowner/instances.write"


def add_parser(sources: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sources.add_parser(
        "storage",
        help="a service owner's Storage instances, with their data elements",
        description="List a service owner's instances (Altinn 3 Storage), write each as one "
        "JSON line, and download its data elements into --files (one folder per instance). "
        "With --since, the list is cut into --windows windows of time paged at once. "
        "--exclude-confirmed --complete is the download queue: each instance is confirmed "
        "once it is safely written, and the next run lists only what is new.",
    )
    add_client_arguments(parser)
    parser.add_argument(
        "--scope",
        action="append",
        help=f"scopes (default {READ}, and {WRITE} with --complete)",
    )
    parser.add_argument(
        "--test-org", action="store_true", help="exchange with test=true (digdir acts as ttd)"
    )
    query = parser.add_argument_group("query")
    query.add_argument("--org", required=True, help="the service owner (ttd)")
    query.add_argument("--app", help="only this app (its name, without the org)")
    query.add_argument("--party-id", help="only this instance owner")
    query.add_argument(
        "--exclude-confirmed",
        action="store_true",
        help="leave out instances --org already confirmed (excludeConfirmedBy)",
    )
    query.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any Storage filter as Storage names it, e.g. lastChanged=gt:2024-05-01 or "
        "process.isComplete=true (repeat for more)",
    )
    query.add_argument("--size", type=int, help="instances per page (Storage's default: 100)")
    windows = parser.add_argument_group("parallel windows")
    windows.add_argument(
        "--since", help="the oldest instances' time (ISO 8601 with a zone), to cut windows from"
    )
    windows.add_argument("--until", help="the newest instances' time (default: now)")
    windows.add_argument(
        "--windows", type=int, default=8, help="windows of time paged at once, with --since (8)"
    )
    windows.add_argument(
        "--by", choices=("created", "last-changed"), default="created", help="(created)"
    )
    work = parser.add_argument_group("per instance")
    work.add_argument(
        "--complete",
        action="store_true",
        help="confirm each instance (POST .../complete) once it is safely written",
    )
    work.add_argument(
        "--retry-complete",
        action="store_true",
        help="retry a confirmation that may have reached Storage (harmless: one per org)",
    )
    return parser


def moment(value: str, flag: str) -> dt.datetime:
    text = value.strip()
    try:
        moment = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        raise UsageError(
            f"{flag} {value}: not an ISO 8601 time (e.g. 2024-05-01T00:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        raise UsageError(f"{flag} {value}: give a zone (Z or +01:00): Storage compares in UTC")
    return moment


def _params(args: argparse.Namespace) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for pair in args.param:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise UsageError(f"--param {pair}: give NAME=VALUE, e.g. lastChanged=gt:2024-05-01")
        params.setdefault(name.strip(), []).append(value)
    return params


def _query(args: argparse.Namespace) -> dict[str, Any]:
    if args.size is not None and args.size < 1:
        raise UsageError(f"--size {args.size}: must be at least 1")
    if args.retry_complete and not args.complete:
        raise UsageError("--retry-complete goes with --complete")
    query: dict[str, Any] = {"org": args.org, "params": _params(args)}
    if args.app:
        query["app_id"] = args.app if "/" in args.app else f"{args.org}/{args.app}"
    if args.party_id:
        query["party_id"] = args.party_id
    if args.exclude_confirmed:
        query["exclude_confirmed_by"] = args.org
    if args.size is not None:
        query["size"] = args.size
    return query


def _checkpoint_path(args: argparse.Namespace) -> Path:
    out = args.out if args.out is not None else args.out_dir
    return Path(f"{out}.checkpoint")


def _sources(args: argparse.Namespace, storage: StorageClient) -> list[HarvestSource[Any]]:
    query = _query(args)
    options: dict[str, Any] = {
        "download": args.files is not None,
        "complete": args.complete,
        "retry_complete": args.retry_complete,
    }
    try:
        if args.since is None:
            if args.until is not None:
                raise UsageError("--until goes with --since")
            return [StorageInstances(storage, **options, **query)]
        if args.windows < 1:
            raise UsageError(f"--windows {args.windows}: must be at least 1")
        since = moment(args.since, "--since")
        until = _until(args)
        args.notes = {"until": until.isoformat()}  # for a resume to cut the same windows
        return list(
            StorageInstances.windows(
                storage,
                args.windows,
                by="last_changed" if args.by == "last-changed" else "created",
                start=since,
                end=until,
                **options,
                **query,
            )
        )
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from exc


def _until(args: argparse.Namespace) -> dt.datetime:
    if args.until is not None:
        return moment(args.until, "--until")
    if args.resume:
        # The windows were cut when the harvest began: cut them the same way again.
        notes = Checkpoint.peek(_checkpoint_path(args), "notes")
        if isinstance(notes, dict) and isinstance(notes.get("until"), str):
            return moment(notes["until"], "the checkpoint's --until")
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@contextlib.asynccontextmanager
async def open_sources(args: argparse.Namespace) -> AsyncIterator[list[HarvestSource[Any]]]:
    scopes = args.scope or ([READ, WRITE] if args.complete else [READ])
    connections = args.concurrency + (args.windows if args.since is not None else 1)
    async with platform_client(args, scopes=scopes, connections=connections) as http:
        yield _sources(args, StorageClient(http))
