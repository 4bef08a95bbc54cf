"""``altinn-async demo``: the main job, on the embedded emulator."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from .._correspondence import CorrespondenceClient
from .._dialogporten import Dialogporten
from .._environment import Environment
from .._exchange import AltinnExchangeAuth
from .._harvest import DialogportenMailbox, Harvest, JsonLinesSink
from .._idporten import IDPortenClient
from .._keys import SigningKey
from .._maskinporten import MaskinportenAuth, SystemUser
from .._parties import AuthorizedPartiesClient, flatten
from .._storage import StorageClient
from ..exceptions import AltinnError
from ._common import UsageError
from ._playground import (
    DEMO_CLIENT_ID,
    DEMO_MAILBOX_DIALOGS,
    DEMO_MAILBOX_SCOPES,
    DEMO_ORG,
    DEMO_PERSON_INSTANCES,
    DEMO_SCOPES,
    DEMO_SYSTEM_USER_ORG,
    DEMO_WEB_CLIENT,
    DEMO_WEB_REDIRECT,
    DEMO_WEB_SECRET,
    Playground,
    seed_playground,
)
from ._pool import each

if TYPE_CHECKING:
    from ..testing import Emulator

__all__ = ["add_parser"]


def add_parser(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="run the main job on the embedded emulator",
        description="Start the emulator in-process, seed it, get a Maskinporten token, exchange "
        "it for an Altinn token, and page through every instance while downloading their data "
        "with many concurrent requests; then log a person in with ID-porten and list their "
        "instances as them.",
    )
    demo.add_argument("--instances", type=int, default=3000, help="instances to seed (3000)")
    demo.add_argument("--apps", type=int, default=4, help="apps to spread them over (4)")
    demo.add_argument("--page-size", type=int, default=100, help="instances per page (100)")
    demo.add_argument("--concurrency", type=int, default=32, help="parallel downloads (32)")
    demo.add_argument(
        "--serve",
        action="store_true",
        help="serve the emulator on 127.0.0.1 and go through real sockets (needs uvicorn)",
    )
    demo.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    demo.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from . import run_async  # noqa: PLC0415 - the package imports this module

    if args.instances < 0:
        raise UsageError(f"--instances {args.instances}: must be 0 or more")
    for flag in ("apps", "page_size", "concurrency"):
        if getattr(args, flag) < 1:
            raise UsageError(
                f"--{flag.replace('_', '-')} {getattr(args, flag)}: must be at least 1"
            )
    started = time.perf_counter()
    # Seeded before the event loop starts: Ctrl-C stops plain Python code at once.
    playground = seed_playground(instances=args.instances, apps=args.apps, altinn2_messages=0)
    print(
        f"emulator seeded: {args.instances} instances in {args.apps} apps of org {DEMO_ORG!r} "
        f"and {DEMO_PERSON_INSTANCES} of a person, Maskinporten client {DEMO_CLIENT_ID!r}, "
        f"ID-porten client {DEMO_WEB_CLIENT!r} ({time.perf_counter() - started:.2f} s)"
    )
    run_async(
        functools.partial(_demo, args, playground), backend="trio" if args.trio else "asyncio"
    )


async def _demo(args: argparse.Namespace, playground: Playground) -> None:
    emulator = playground.emulator
    if args.serve:
        with emulator.serve(host="127.0.0.1", port=0) as base_url:
            print(f"emulator serving on {base_url}")
            environment = emulator.environment_for(base_url)
            await _run_demo(args, emulator, playground.key, environment, None)
    else:
        await _run_demo(args, emulator, playground.key, emulator.environment, emulator.transport())


async def _run_demo(
    args: argparse.Namespace,
    emulator: Emulator,
    key: SigningKey,
    environment: Environment,
    transport: httpx.AsyncBaseTransport | None,
) -> None:
    limits = httpx.Limits(
        max_connections=args.concurrency + 4, max_keepalive_connections=args.concurrency + 4
    )
    totals = {"instances": 0, "pages": 0, "downloads": 0, "bytes": 0}
    async with (
        httpx.AsyncClient(transport=transport, limits=limits) as token_http,
        AltinnExchangeAuth(
            MaskinportenAuth(
                client_id=DEMO_CLIENT_ID,
                key=key,
                scopes=DEMO_SCOPES,
                environment=environment,
                http_client=token_http,
            )
        ) as auth,
        httpx.AsyncClient(
            transport=transport, auth=auth, base_url=environment.platform, limits=limits
        ) as http,
    ):
        storage = StorageClient(http)
        started = time.perf_counter()

        async def elements() -> AsyncIterator[dict[str, Any]]:
            for index in range(args.apps):
                app_id = f"{DEMO_ORG}/app-{index + 1}"
                async for page in storage.instances(app_id=app_id, size=args.page_size).pages():
                    totals["pages"] += 1
                    totals["instances"] += len(page.instances)
                    for instance in page.instances:
                        for element in instance.get("data", []):
                            yield element

        async def download(element: dict[str, Any]) -> None:
            data = await storage.download(element)
            totals["downloads"] += 1
            totals["bytes"] += len(data)

        await each(elements(), download, concurrency=args.concurrency)
        elapsed = time.perf_counter() - started

    requests = emulator.requests
    total_requests = sum(requests.values())
    print(f"instances listed:     {totals['instances']}")
    print(f"pages fetched:        {totals['pages']} (size {args.page_size}, {args.apps} apps)")
    print(f"data downloaded:      {totals['downloads']} elements, {totals['bytes']} bytes")
    print(f"Maskinporten /token:  {requests['maskinporten.token']}")
    print(f"Altinn exchanges:     {requests['authentication.exchange']}")
    print(f"requests served:      {total_requests}")
    print(
        f"time:                 {elapsed:.2f} s ({total_requests / elapsed:.0f} requests/s, "
        f"concurrency {args.concurrency})"
    )
    expected = args.instances + DEMO_PERSON_INSTANCES
    if totals["instances"] != expected:
        raise AltinnError(f"listed {totals['instances']} instances but {expected} were seeded")
    await _person_demo(emulator, environment, transport)
    await _mailbox_demo(
        emulator, key, environment, transport, concurrency=min(args.concurrency, 16)
    )


async def _person_demo(
    emulator: Emulator, environment: Environment, transport: httpx.AsyncBaseTransport | None
) -> None:
    """A person logs in with ID-porten (the scripted TestID login) and lists their instances."""
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(transport=transport) as token_http,
        IDPortenClient(
            client_id=DEMO_WEB_CLIENT,
            client_secret=DEMO_WEB_SECRET,
            redirect_uri=DEMO_WEB_REDIRECT,
            scopes=["openid", "altinn:instances.read"],
            environment=environment,
            acr_values="idporten-loa-substantial",
            http_client=token_http,
        ) as idporten,
    ):
        login = idporten.start_login()
        callback = await emulator.idporten_login(login.url)
        session = await idporten.complete_login(callback, login, session_key="demo-person")
        party = emulator.person().party_id
        auth = AltinnExchangeAuth(idporten.session("demo-person"))
        async with httpx.AsyncClient(
            transport=transport, auth=auth, base_url=environment.platform
        ) as http:
            storage = StorageClient(http)
            own = [i async for i in storage.instances(params={"instanceOwner.partyId": str(party)})]
    pid = session.claims.pid or ""
    print(
        f"person logged in:     pid {pid[:6]}*****, {session.claims.acr}, "
        f"amr {', '.join(session.claims.amr)}"
    )
    print(f"their instances:      {len(own)} (party {party}, as them via an Altinn token)")
    print(f"ID-porten /token:     {emulator.requests['idporten.token']}")
    print(f"time:                 {time.perf_counter() - started:.2f} s")
    if len(own) != DEMO_PERSON_INSTANCES:
        raise AltinnError(f"the person sees {len(own)} instances, not {DEMO_PERSON_INSTANCES}")


_MARKING = ("correspondence.markasread", "correspondence.content", "correspondence.confirm")
"""The Correspondence endpoints that mark a correspondence read or confirmed."""


async def _mailbox_demo(
    emulator: Emulator,
    key: SigningKey,
    environment: Environment,
    transport: httpx.AsyncBaseTransport | None,
    *,
    concurrency: int,
) -> None:
    """A system user harvests its organisation's mailbox through Altinn 3: its parties, their
    dialogs in Dialogporten, each correspondence with its attachments, exactly once."""
    started = time.perf_counter()
    before = Counter(emulator.requests)
    limits = httpx.Limits(max_connections=concurrency + 4)
    with tempfile.TemporaryDirectory(prefix="altinn-async-demo-") as folder:
        async with (
            httpx.AsyncClient(transport=transport) as token_http,
            AltinnExchangeAuth(
                MaskinportenAuth(
                    client_id=DEMO_CLIENT_ID,
                    key=key,
                    scopes=DEMO_MAILBOX_SCOPES,
                    environment=environment,
                    http_client=token_http,
                    authorization_details=SystemUser(DEMO_SYSTEM_USER_ORG),
                )
            ) as auth,
            httpx.AsyncClient(
                transport=transport, auth=auth, base_url=environment.platform, limits=limits
            ) as http,
        ):
            parties = flatten(await AuthorizedPartiesClient(http).mine())
            sources = DialogportenMailbox.sources(
                Dialogporten(http),
                [party.urn for party in parties if party.urn],
                correspondence=CorrespondenceClient(http),
                since=dt.datetime.now(dt.UTC),
            )
            out = Path(folder) / "mailbox.jsonl"
            async with Harvest(
                sources,
                sink=JsonLinesSink(out),
                files=Path(folder) / "files",
                concurrency=concurrency,
            ) as harvest:
                summary = await harvest.run()
            records = [json.loads(line) for line in out.read_text().splitlines()]
    after = emulator.requests
    marked = sum(
        after[name] - before[name]
        for name in (
            "correspondence.markasread",
            "correspondence.content",
            "correspondence.confirm",
        )
    )
    correspondences = sum(1 for r in records if r["correspondence"] is not None)
    statuses = Counter(a["status"] for r in records for a in r["attachments"])
    print(
        f"mailbox harvested:    {summary.items} dialogs of {len(parties)} parties "
        f"({summary.pages} pages), as a system user of {DEMO_SYSTEM_USER_ORG}"
    )
    print(f"correspondences:      {correspondences} fetched, with {statuses.total()} attachments")
    print(
        f"attachments:          {statuses['downloaded']} downloaded ({summary.bytes} bytes, "
        f"checksums checked), {statuses['expired']} expired before the harvest"
    )
    print(f"marked read:          {marked} (a harvest never reads content, marks or confirms)")
    print(
        f"Maskinporten /token:  {after['maskinporten.token'] - before['maskinporten.token']}, "
        f"Altinn exchanges: "
        f"{after['authentication.exchange'] - before['authentication.exchange']}"
    )
    print(f"time:                 {time.perf_counter() - started:.2f} s")
    if summary.items != DEMO_MAILBOX_DIALOGS or marked:
        raise AltinnError(
            f"harvested {summary.items} dialogs of {DEMO_MAILBOX_DIALOGS}, {marked} marked read"
        )
