"""``altinn-async harvest dialogporten``: a mailbox through Altinn 3 — the parties a system user
may act for, every dialog Dialogporten lists for them, each correspondence with its attachments.

It never marks anything read or confirmed. What the APIs record regardless is said in --help.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from ..._correspondence import CorrespondenceClient
from ..._dialogporten import Dialogporten
from ..._harvest import DialogportenMailbox, HarvestSource
from ..._harvest._checkpoint import Checkpoint
from ..._maskinporten import SystemUser
from ..._parties import AuthorizedPartiesClient, flatten
from ...exceptions import ConfigurationError
from .._common import CLIError, UsageError
from .._token import add_client_arguments
from ._storage import moment
from ._transport import platform_client

__all__ = ["SCOPES", "add_parser", "open_sources"]

SCOPES = (
    "digdir:dialogporten",
    "altinn:correspondence.read",
    "altinn:accessmanagement/authorizedparties",
)
"""The system user's grant: Dialogporten, Correspondence and the authorized parties."""


def add_parser(sources: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sources.add_parser(
        "dialogporten",
        help="a mailbox through Altinn 3: dialogs, correspondences and their attachments",
        description="Harvest a mailbox through Altinn 3 as a system user: list the parties it "
        "may act for (or --party), search each party's dialogs in Dialogporten in a stable "
        "order (createdAt, then id), read each dialog, fetch each correspondence and download "
        "its attachments in the same pass (they expire), and write one JSON line per dialog "
        "revision. An updates feed follows (updatedAt, from when the harvest first started, "
        "--overlap earlier): a later --resume writes only what changed, once per revision. "
        "It never marks anything read or confirmed, and never reads a correspondence's "
        "content endpoint (which would). What the APIs record regardless, and cannot be asked "
        "not to: Dialogporten writes in each dialog's seen log that the system user saw it, "
        "and Correspondence records each correspondence as Fetched and its attachments as "
        "downloaded.",
    )
    add_client_arguments(parser)
    parser.add_argument(
        "--system-user",
        required=True,
        metavar="ORGNO",
        help="the organisation that owns the system user (its customer)",
    )
    parser.add_argument("--external-ref", help="the system user's externalRef, if it has one")
    parser.add_argument("--scope", action="append", help=f"scopes (default {' '.join(SCOPES)})")
    query = parser.add_argument_group("query")
    query.add_argument(
        "--party",
        action="append",
        default=[],
        help="only this party (organisation number, national identity number or URN; repeat "
        "for more; default: every party the system user may act for, sub-units too)",
    )
    query.add_argument(
        "--service-resource", action="append", default=[], help="only this resource (repeat)"
    )
    query.add_argument(
        "--page-size", type=int, default=100, help="dialogs per page, 1 to 1000 (100)"
    )
    query.add_argument(
        "--overlap",
        type=float,
        default=10.0,
        metavar="MINUTES",
        help="how far the updates feed goes back each run (10 minutes)",
    )
    query.add_argument(
        "--no-updates", action="store_true", help="the sweep only, without the updates feed"
    )
    return parser


def _checkpoint_path(args: argparse.Namespace) -> Path:
    out = args.out if args.out is not None else args.out_dir
    return Path(f"{out}.checkpoint")


def _notes(args: argparse.Namespace) -> dict[str, Any] | None:
    if not args.resume:
        return None
    notes = Checkpoint.peek(_checkpoint_path(args), "notes")
    return notes if isinstance(notes, dict) else None


async def _parties(args: argparse.Namespace, notes: dict[str, Any] | None, http: Any) -> list[str]:
    if args.party:
        return list(dict.fromkeys(args.party))
    if notes is not None and isinstance(notes.get("parties"), list):
        # The parties the harvest began with: the same sources, however access changed since.
        return [str(p) for p in notes["parties"]]
    parties = await AuthorizedPartiesClient(http).mine(include_subunits=True)
    found = [party.urn for party in flatten(parties) if not party.is_deleted and party.urn]
    if not found:
        raise CLIError("the system user may act for no party: nothing to harvest")
    return found


def _since(notes: dict[str, Any] | None) -> dt.datetime:
    if notes is not None and isinstance(notes.get("since"), str):
        return moment(notes["since"], "the checkpoint's start")
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


@contextlib.asynccontextmanager
async def open_sources(args: argparse.Namespace) -> AsyncIterator[list[HarvestSource[Any]]]:
    if not 1 <= args.page_size <= 1000:
        raise UsageError(f"--page-size {args.page_size}: must be 1 to 1000")
    if not args.overlap >= 0:
        raise UsageError(f"--overlap {args.overlap}: must be 0 or more minutes")
    try:
        system_user = SystemUser(args.system_user, external_ref=args.external_ref)
    except ConfigurationError as exc:
        raise UsageError(f"--system-user {args.system_user}: {exc}") from exc
    notes = _notes(args)
    async with platform_client(
        args,
        scopes=args.scope or list(SCOPES),
        connections=args.concurrency + 2,
        system_user=system_user,
    ) as http:
        parties = await _parties(args, notes, http)
        since = _since(notes)
        args.notes = {"parties": parties, "since": since.isoformat()}
        try:
            sources = DialogportenMailbox.sources(
                Dialogporten(http),
                parties,
                correspondence=CorrespondenceClient(http),
                since=since,
                overlap=dt.timedelta(minutes=args.overlap),
                service_resource=args.service_resource,
                limit=args.page_size,
                download=args.files is not None,
                updates=not args.no_updates,
            )
        except ConfigurationError as exc:
            raise UsageError(str(exc)) from exc
        yield list(sources)
