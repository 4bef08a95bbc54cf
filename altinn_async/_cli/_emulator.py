"""``altinn-async emulator``: the emulator on a port, seeded as a ready-to-use playground."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import math
import os
import shlex
import textwrap
import urllib.parse
from pathlib import Path
from typing import Any

from ._common import CLIError, UsageError, writable_file
from ._playground import (
    DEMO_ALTINN2_API_KEY,
    DEMO_ALTINN2_PASSWORD,
    DEMO_ALTINN2_USER,
    DEMO_CLIENT_ID,
    DEMO_MAILBOX_DIALOGS,
    DEMO_MAILBOX_SCOPES,
    DEMO_ORG,
    DEMO_ORG_NUMBER,
    DEMO_PERSON_INSTANCES,
    DEMO_SCOPES,
    DEMO_SUBUNIT,
    DEMO_SYSTEM_USER_ORG,
    DEMO_WEB_CLIENT,
    DEMO_WEB_REDIRECT,
    DEMO_WEB_SECRET,
    LAZY_INSTANCES,
    Playground,
    seed_playground,
)

__all__ = ["add_parser", "banner", "parse_faults"]


def add_parser(commands: Any) -> None:
    emulator = commands.add_parser(
        "emulator",
        help="serve the emulator on a port for other programs",
        description="Serve Maskinporten, ID-porten, Altinn authentication, Storage, Events, "
        "Dialogporten, Correspondence, Authorized Parties and the Altinn 2 API on a local port, "
        "seeded with a Maskinporten client (its private key written to --key-out), instances, "
        "a TestID person, an ID-porten web client, an Altinn 2 API key, user and message box, "
        "and a system user with an Altinn 3 mailbox; print every credential and a "
        "command to try each. Ctrl-C stops it.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8080, help="port (8080; 0 picks a free one)")
    emulator.add_argument(
        "--public-url",
        help="the URL other machines reach it at (needed with --host 0.0.0.0 or ::)",
    )
    emulator.add_argument(
        "--instances",
        type=int,
        default=250,
        help=f"instances to seed (250; from {LAZY_INSTANCES} on they are generated lazily, so "
        "a million start at once)",
    )
    emulator.add_argument(
        "--messages", type=int, default=60, help="Altinn 2 messages of the person (60)"
    )
    emulator.add_argument("--client-id", default=DEMO_CLIENT_ID)
    emulator.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="every request waits this long before it is answered, like a network (0)",
    )
    emulator.add_argument(
        "--faults",
        metavar="SEED:RATE[:KIND,...]",
        help="fail a seeded share RATE (0 to 1) of the requests, reproducibly; KINDs from "
        f"{', '.join(_KINDS)} (default all), e.g. 7:0.05:429,503",
    )
    emulator.add_argument(
        "--altinn-token-lifetime",
        type=int,
        default=1800,
        metavar="SECONDS",
        help="lifetime of exchanged Altinn tokens (1800; a few seconds to test expiry)",
    )
    emulator.add_argument(
        "--key-out",
        type=Path,
        default=Path("emulator-client.pem"),
        help="where to write the seeded client's private key (mode 0600)",
    )
    emulator.set_defaults(run=run)


_KINDS = ("429", "500", "503", "slow", "drop", "cut", "truncated_json")
# The emulator's FAULT_KINDS, written out so that --help needs no emulator (a test compares).


def parse_faults(text: str) -> tuple[int, float, tuple[str, ...]]:
    """``--faults SEED:RATE[:KIND,...]`` as ``(seed, rate, kinds)``.

    Raises:
        CLIError: the value does not have that form, the rate is not from 0 to 1, or a kind is
            unknown.
    """
    usage = (
        f"--faults {text}: give SEED:RATE[:KIND,...] with a whole-number SEED and a RATE "
        "from 0 to 1, e.g. 7:0.05:429,503"
    )
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise UsageError(usage)
    try:
        seed, rate = int(parts[0]), float(parts[1])
    except ValueError:
        raise UsageError(usage) from None
    if not 0 <= rate <= 1:  # NaN too
        raise UsageError(usage)
    kinds = tuple(k.strip() for k in parts[2].split(",")) if len(parts) == 3 else _KINDS
    unknown = [k for k in kinds if k not in _KINDS]
    if unknown or not kinds:
        raise UsageError(
            f"--faults {text}: unknown fault kind {(unknown or [''])[0]!r}; "
            f"the kinds are {', '.join(_KINDS)}"
        )
    return seed, rate, kinds


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: a port is 0 to 65535")
    if args.instances < 0 or args.messages < 0:
        raise UsageError("--instances and --messages must be 0 or more")
    if not math.isfinite(args.latency) or args.latency < 0:
        raise UsageError(f"--latency {args.latency}: give 0 or more seconds")
    if args.altinn_token_lifetime < 1:
        raise UsageError(
            f"--altinn-token-lifetime {args.altinn_token_lifetime}: give 1 or more seconds"
        )
    args.fault_plan = parse_faults(args.faults) if args.faults else None
    host = args.host.strip("[]")
    try:
        wildcard = ipaddress.ip_address(host).is_unspecified
    except ValueError:
        wildcard = False
    if wildcard and not args.public_url:
        raise UsageError(
            f"--host {args.host} listens on every address: give --public-url, the URL other "
            "machines reach this one at (http://my-host:8080)"
        )
    if args.public_url:
        parts = urllib.parse.urlsplit(args.public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise UsageError(f"--public-url {args.public_url}: give an origin, http://host:port")
    writable_file(args.key_out, flag="--key-out")


def _write_key(path: Path, pem: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), 0o600)
        file.write(pem)


def run(args: argparse.Namespace) -> None:
    _check(args)
    try:
        import uvicorn  # noqa: F401, PLC0415 - optional; only to say what is missing
    except ImportError:
        raise UsageError(
            "serving the emulator needs uvicorn: pip install 'altinn-async[emulator]'"
        ) from None
    playground = seed_playground(
        instances=args.instances,
        altinn2_messages=args.messages,
        client_id=args.client_id,
        latency=args.latency,
        altinn_token_lifetime=args.altinn_token_lifetime,
    )
    if args.fault_plan is not None:
        seed, rate, kinds = args.fault_plan
        playground.emulator.inject_random_faults(seed=seed, rate=rate, kinds=kinds)
    try:
        # Bound before anything is written or printed: a busy port fails here, and the key
        # file of an emulator that is already running stays as it is.
        server = playground.emulator.server(args.host, args.port, public_url=args.public_url)
    except (OSError, ValueError) as exc:
        raise CLIError(f"--host {args.host} --port {args.port}: {exc}") from exc
    with server:
        _write_key(args.key_out, playground.pem)
        print(banner(playground, server.url, args), flush=True)
        server.run()  # until Ctrl-C
    raise KeyboardInterrupt


def _network(args: argparse.Namespace) -> list[str]:
    lines = []
    if args.latency:
        lines.append(f"  latency:              {args.latency:g} s before every answer")
    plan = getattr(args, "fault_plan", None)
    if plan is not None:
        seed, rate, kinds = plan
        lines.append(
            f"  faults:               {rate:.1%} of requests (seed {seed}: {', '.join(kinds)})"
        )
    if args.altinn_token_lifetime != 1800:
        lines.append(f"  Altinn tokens:        live {args.altinn_token_lifetime} s")
    return lines


def banner(playground: Playground, url: str, args: argparse.Namespace) -> str:
    """What the emulator command prints: every credential it seeded, and how to use them."""
    environment = playground.emulator.environment_for(url)
    key_file = str(args.key_out)
    maskinporten = environment.maskinporten
    idporten = environment.idporten
    altinn2 = environment.altinn2
    client = [
        "--env",
        maskinporten.issuer,
        "--platform",
        environment.platform,
        "--client-id",
        args.client_id,
        "--key",
        key_file,
        "--kid",
        str(playground.key.key_id),
    ]
    token = shlex.join(
        [
            "altinn-async",
            "token",
            *client,
            "--scope",
            DEMO_SCOPES[0],
            "--exchange",
            "--decode",
        ]
    )
    doctor = shlex.join(
        ["altinn-async", "doctor", *client, "--scope", DEMO_SCOPES[0], "--exchange"]
    )
    clients = shlex.join(
        [
            "altinn-async", "clients", "list", "--env", environment.maskinporten.issuer,
            "--selfservice", str(environment.selfservice), "--admin-client-id",
            f"{args.client_id}-admin", "--key", key_file, "--kid", str(playground.key.key_id),
        ]
    )  # fmt: skip
    harvest = " ".join(
        [
            f"ALTINN_API_KEY={DEMO_ALTINN2_API_KEY}",
            f"ALTINN_PASSWORD={DEMO_ALTINN2_PASSWORD}",
            shlex.join(
                [
                    "altinn-async",
                    "harvest",
                    "altinn2",
                    "--env",
                    str(altinn2),
                    "--api-key-env",
                    "ALTINN_API_KEY",
                    "--username",
                    DEMO_ALTINN2_USER,
                    "--password-env",
                    "ALTINN_PASSWORD",
                    "--out",
                    "messages.jsonl",
                    "--files",
                    "attachments",
                ]
            ),
        ]
    )
    storage_harvest = shlex.join(
        [
            "altinn-async",
            "harvest",
            "storage",
            *client,
            "--org",
            DEMO_ORG,
            "--since",
            # The seeded instances were created in the last 90 days.
            (dt.datetime.now(dt.UTC) - dt.timedelta(days=91)).strftime("%Y-%m-%dT00:00:00Z"),
            "--out",
            "instances.jsonl",
            "--files",
            "data",
        ]
    )
    mailbox_harvest = shlex.join(
        [
            "altinn-async",
            "harvest",
            "dialogporten",
            *client,
            "--system-user",
            DEMO_SYSTEM_USER_ORG,
            "--out",
            "mailbox.jsonl",
            "--files",
            "mailbox",
        ]
    )
    snippet = textwrap.dedent(
        f"""\
        import anyio, httpx
        import altinn_async as altinn

        async def main() -> None:
            environment = await altinn.Environment.discover(
                name="emulator", maskinporten={maskinporten.issuer!r},
                platform={environment.platform!r})
            key = altinn.SigningKey.from_pem_file({key_file!r}, kid={playground.key.key_id!r})
            maskinporten = altinn.MaskinportenAuth(
                client_id={args.client_id!r}, key=key, scopes={list(DEMO_SCOPES[:1])!r},
                environment=environment)
            async with (
                altinn.AltinnExchangeAuth(maskinporten) as auth,
                httpx.AsyncClient(auth=auth, base_url=environment.platform) as http,
            ):
                storage = altinn.StorageClient(http)
                async for instance in storage.instances(org={DEMO_ORG!r}, max_items=5):
                    print(instance["id"], instance["appId"])

        anyio.run(main)
        """
    )
    lines = [
        f"altinn-async emulator on {url}  (Ctrl-C stops it)",
        "",
        "Maskinporten",
        f"  issuer (grant aud):   {maskinporten.issuer}",
        f"  token endpoint:       {maskinporten.token_endpoint}",
        f"  client id:            {args.client_id}  (org {DEMO_ORG}, {DEMO_ORG_NUMBER})",
        f"  key id (kid):         {playground.key.key_id}  (private key in {key_file})",
        f"  scopes:               {' '.join(DEMO_SCOPES)}",
        (
            f"  system user:          {playground.system_user_id} of customer "
            f"{DEMO_SYSTEM_USER_ORG} (token --system-user {DEMO_SYSTEM_USER_ORG})"
        ),
        (
            f"  self-service API:     {environment.selfservice}  (admin client "
            f"{args.client_id}-admin, the same key)"
        ),
        "Altinn 3",
        f"  platform:             {environment.platform}",
        (
            f"  instances:            {args.instances} of {DEMO_ORG}/app-1"
            f"{' (generated lazily)' if args.instances >= LAZY_INSTANCES else ''}, "
            f"{DEMO_PERSON_INSTANCES} of the person"
        ),
        f"  events:               {environment.platform}/events/api/v1/app/{DEMO_ORG}/app-1",
        (
            f"  mailbox:              {DEMO_MAILBOX_DIALOGS} correspondences of "
            f"{DEMO_SYSTEM_USER_ORG} and its sub-unit {DEMO_SUBUNIT} (Dialogporten, "
            f"Correspondence; the system user's scopes {' '.join(DEMO_MAILBOX_SCOPES)})"
        ),
    ]
    network = _network(args)
    if network:
        lines += ["Network", *network]
    if idporten is not None:
        lines += [
            "ID-porten",
            f"  issuer:               {idporten.issuer}",
            (
                f"  web client:           {DEMO_WEB_CLIENT}  (secret {DEMO_WEB_SECRET}, "
                f"client_secret_basic, redirect_uri {DEMO_WEB_REDIRECT})"
            ),
            f"  TestID person:        pid {playground.pid} (log in on the form)",
        ]
    if altinn2 is not None:
        lines += [
            "Altinn 2 (legacy)",
            f"  site:                 {altinn2}",
            f"  ApiKey:               {DEMO_ALTINN2_API_KEY}",
            (
                f"  user:                 {DEMO_ALTINN2_USER} / {DEMO_ALTINN2_PASSWORD}  (pid "
                f"{playground.pid}, {playground.altinn2_messages} messages)"
            ),
        ]
    lines += [
        "",
        "Try:",
        f"  {token}",
        f"  {doctor}",
        f"  {clients}",
        f"  {storage_harvest}",
        f"  {mailbox_harvest}",
        f"  {harvest}",
        "  python - <<'PY'",
        textwrap.indent(snippet, "  ").rstrip(),
        "  PY",
    ]
    return "\n".join(lines)
