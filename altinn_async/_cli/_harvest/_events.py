"""``altinn-async harvest events``: an Altinn 3 Events feed, up to now; the next ``--resume``
writes only what came since."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ..._events import EventsClient
from ..._harvest import EventFeed, HarvestSource
from ...exceptions import ConfigurationError
from .._common import UsageError
from .._token import add_client_arguments, named_environment
from ._storage import moment
from ._transport import platform_client

__all__ = ["add_parser", "open_sources"]

SCOPES = ["altinn:serviceowner/instances.read", "altinn:events.subscribe"]


def add_parser(sources: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sources.add_parser(
        "events",
        help="an Altinn 3 Events feed (an app's, or a resource's), up to now",
        description="Read an Events feed to its end for now and write each event once as a "
        "JSON line (CloudEvents as sent). The checkpoint keeps where the feed stopped: run "
        "again with --resume later, and only the events that came since are written.",
    )
    add_client_arguments(parser)
    parser.add_argument("--scope", action="append", help=f"scopes (default {' '.join(SCOPES)})")
    parser.add_argument(
        "--test-org", action="store_true", help="exchange with test=true (digdir acts as ttd)"
    )
    feed = parser.add_argument_group("feed")
    feed.add_argument("--org", help="the service owner, with --app (the app feed)")
    feed.add_argument("--app", help="the app, with --org")
    feed.add_argument("--resource", help="urn:altinn:resource:..., for the generic feed")
    feed.add_argument("--after", help="start after this event id ('0': the oldest; the default)")
    feed.add_argument("--from", dest="from_", help="start at this time (ISO 8601 with a zone)")
    feed.add_argument("--type", action="append", default=[], help="only this event type")
    feed.add_argument("--party", help="only this party's events (the app feed)")
    feed.add_argument("--subject", help="only this subject's events (the generic feed)")
    feed.add_argument("--size", type=int, help="events per page")
    return parser


@contextlib.asynccontextmanager
async def open_sources(args: argparse.Namespace) -> AsyncIterator[list[HarvestSource[Any]]]:
    named_environment(args.env)  # a wrong --env is said before anything else
    if args.resource is None and (args.org is None or args.app is None):
        raise UsageError("say which feed: --org and --app (an app's), or --resource")
    if args.resource is not None and (args.org is not None or args.app is not None):
        raise UsageError("--resource is the generic feed: it takes no --org or --app")
    start = None if args.from_ is None else moment(args.from_, "--from")
    scopes = args.scope or SCOPES
    async with platform_client(args, scopes=scopes, connections=args.concurrency + 1) as http:
        try:
            feed = EventFeed(
                EventsClient(http),
                org=args.org,
                app=args.app,
                resource=args.resource,
                after=args.after,
                from_=start,
                types=args.type,
                party=args.party,
                subject=args.subject,
                size=args.size,
            )
        except ConfigurationError as exc:
            raise UsageError(str(exc)) from exc
        yield [feed]
