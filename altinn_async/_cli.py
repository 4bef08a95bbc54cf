"""The ``altinn-async`` command: ``demo``, ``emulator`` and ``token``."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import ssl
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jws

from ._altinn2 import Altinn2Client
from ._altinn2_auth import Altinn2Auth, PasswordLogin, enterprise_tls_context
from ._environment import PRODUCTION, TEST, Environment
from ._exchange import AltinnExchangeAuth
from ._hal import HalResource
from ._idporten import IDPortenAuth
from ._keys import SigningKey
from ._maskinporten import MaskinportenAuth
from ._storage import StorageClient
from .exceptions import AltinnError, ConfigurationError

if TYPE_CHECKING:
    from .testing import Emulator

DEMO_CLIENT_ID = "altinn-async-demo"
DEMO_ORG = "ttd"
DEMO_ORG_NUMBER = "405003309"
DEMO_SCOPES = ("altinn:serviceowner/instances.read", "altinn:serviceowner/instances.write")
DEMO_WEB_CLIENT = "altinn-async-demo-web"
DEMO_WEB_REDIRECT = "https://app.example/callback"
DEMO_PERSON_INSTANCES = 12
# The emulator's own client: not a secret anywhere else.
DEMO_WEB_SECRET = "demo-web-secret"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="altinn-async",
        description="Altinn, Maskinporten and ID-porten from Python: demo, emulator and tokens.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run the main job on the embedded emulator",
        description="Start the emulator in-process, seed it, get a Maskinporten token, exchange "
        "it for an Altinn token, and page through every instance while downloading their data "
        "with many concurrent requests.",
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

    emulator = commands.add_parser(
        "emulator",
        help="serve the emulator on a port for other programs",
        description="Serve Maskinporten, Altinn authentication and Storage on a local port, "
        "seeded with a client whose private key is written to --key-out.",
    )
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8080)
    emulator.add_argument("--instances", type=int, default=250, help="instances to seed (250)")
    emulator.add_argument("--client-id", default=DEMO_CLIENT_ID)
    emulator.add_argument(
        "--key-out",
        type=Path,
        default=Path("emulator-client.pem"),
        help="where to write the seeded client's private key (mode 0600)",
    )

    token = commands.add_parser(
        "token",
        help="get a Maskinporten token, optionally exchanged for an Altinn token",
        description="Like Digdir's token generator: sign a grant with your key or enterprise "
        "certificate, get a token, and print it (the token to stdout, the decoded view with "
        "--decode to stderr). A .p12 password is read from --password-env or asked for.",
    )
    token.add_argument("--client-id", required=True)
    token.add_argument("--scope", action="append", required=True, help="repeat for more scopes")
    key = token.add_mutually_exclusive_group(required=True)
    key.add_argument("--key", type=Path, help="PEM private key of a registered key (with --kid)")
    key.add_argument("--jwk", type=Path, help="private JWK (JSON) of a registered key")
    key.add_argument("--p12", type=Path, help="enterprise certificate (PKCS#12)")
    token.add_argument("--kid", help="the registered key's id")
    token.add_argument(
        "--password-env", metavar="VAR", help="environment variable holding the key password"
    )
    token.add_argument(
        "--env",
        default="test",
        help="'test', 'production', or a Maskinporten-compatible issuer URL (test)",
    )
    token.add_argument("--platform", help="Altinn platform URL, with an issuer URL in --env")
    token.add_argument("--resource", action="append", help="audience restriction (RFC 8707)")
    token.add_argument("--consumer-org", help="act for this customer organisation")
    token.add_argument("--exchange", action="store_true", help="exchange it for an Altinn token")
    token.add_argument(
        "--test-org", action="store_true", help="with --exchange: send test=true (digdir→ttd)"
    )
    token.add_argument(
        "--decode", action="store_true", help="also print the decoded header and claims"
    )
    harvest = commands.add_parser(
        "harvest",
        help="page an Altinn 2 message box to JSON Lines and download its attachments",
        description="Page through a message box (Altinn 2), write each message as one JSON line, "
        "and download the attachments into a folder, with a progress line. The position is "
        "saved beside the output after every page; --resume continues from it. Secrets come "
        "from environment variables (or a prompt), never from the command line.",
    )
    harvest.add_argument(
        "--env", default="test", help="'test', 'production', or the Altinn 2 base URL"
    )
    harvest.add_argument("--api-key-env", required=True, metavar="VAR", help="holds the ApiKey")
    harvest.add_argument("--username", help="user for the password login")
    harvest.add_argument(
        "--password-env", metavar="VAR", help="holds the user's (or the .p12's) password"
    )
    harvest.add_argument("--p12", type=Path, help="enterprise certificate (TLS client certificate)")
    harvest.add_argument("--p12-password-env", metavar="VAR", help="holds the .p12 password")
    harvest.add_argument("--ca", type=Path, help="CA bundle to trust (e.g. the emulator's)")
    harvest.add_argument("--who", default="my", help="'my', an organisation number or r<id>")
    harvest.add_argument("--filter", help="OData $filter")
    harvest.add_argument("--date-from", help="dateFrom (narrows the box in Altinn's database)")
    harvest.add_argument("--date-to", help="dateTo")
    harvest.add_argument("--max", type=int, help="stop after this many messages")
    harvest.add_argument("--out", type=Path, required=True, help="the JSON Lines file")
    harvest.add_argument("--attachments", type=Path, help="download attachments into this folder")
    harvest.add_argument("--concurrency", type=int, default=8, help="parallel downloads (8)")
    harvest.add_argument("--resume", action="store_true", help="continue from the saved position")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            backend = "trio" if args.trio else "asyncio"
            anyio.run(_demo, args, backend=backend)
        elif args.command == "emulator":
            _serve_emulator(args)
        elif args.command == "harvest":
            anyio.run(_harvest, args)
        else:
            anyio.run(_token, args)
    except AltinnError as exc:
        print(f"altinn-async: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


# --- demo ---------------------------------------------------------------------------------------


def _new_demo_emulator(
    client_id: str, instances: int, apps: int
) -> tuple[Emulator, SigningKey, bytes]:
    from .testing import Emulator  # noqa: PLC0415 - the emulator is only needed by these commands

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    key = SigningKey.from_pem(pem, kid=f"{client_id}-key")
    emulator = Emulator()
    emulator.add_maskinporten_client(
        client_id,
        org_number=DEMO_ORG_NUMBER,
        scopes=DEMO_SCOPES,
        jwks=[key.public_jwk],
    )
    # A person with a few instances of their own, and a web app they log in to with ID-porten.
    person = emulator.person()
    for _ in range(DEMO_PERSON_INSTANCES):
        emulator.add_instance(DEMO_ORG, "app-1", party_id=person.party_id)
    emulator.add_idporten_client(
        DEMO_WEB_CLIENT,
        redirect_uris=[DEMO_WEB_REDIRECT],
        client_secret=DEMO_WEB_SECRET,
        scopes=["openid", "profile", "altinn:instances.read"],
    )
    per_app, extra = divmod(instances, max(apps, 1))
    for index in range(max(apps, 1)):
        count = per_app + (1 if index < extra else 0)
        if count:
            emulator.add_instances(DEMO_ORG, f"app-{index + 1}", count, seed=index)
    return emulator, key, pem


async def _demo(args: argparse.Namespace) -> None:
    if args.instances < 0 or args.apps < 1 or args.page_size < 1 or args.concurrency < 1:
        raise ConfigurationError("--instances ≥ 0, --apps, --page-size and --concurrency ≥ 1")
    started = time.perf_counter()
    emulator, key, _ = _new_demo_emulator(DEMO_CLIENT_ID, args.instances, args.apps)
    print(
        f"emulator seeded: {args.instances} instances in {args.apps} apps of org {DEMO_ORG!r} "
        f"and {DEMO_PERSON_INSTANCES} of a person, Maskinporten client {DEMO_CLIENT_ID!r}, "
        f"ID-porten client {DEMO_WEB_CLIENT!r} ({time.perf_counter() - started:.2f} s)"
    )
    if args.serve:
        with emulator.serve(host="127.0.0.1", port=0) as base_url:
            print(f"emulator serving on {base_url}")
            await _run_demo(args, emulator, key, emulator.environment_for(base_url), None)
    else:
        await _run_demo(args, emulator, key, emulator.environment, emulator.transport())


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
    async with (
        httpx.AsyncClient(transport=transport, limits=limits) as token_http,
        MaskinportenAuth(
            client_id=DEMO_CLIENT_ID,
            key=key,
            scopes=DEMO_SCOPES,
            environment=environment,
            http_client=token_http,
        ) as maskinporten,
        AltinnExchangeAuth(maskinporten, http_client=token_http) as auth,
        httpx.AsyncClient(
            transport=transport, auth=auth, base_url=environment.platform, limits=limits
        ) as http,
    ):
        storage = StorageClient(http)
        started = time.perf_counter()
        totals = {"instances": 0, "pages": 0, "downloads": 0, "bytes": 0}
        limiter = anyio.CapacityLimiter(args.concurrency)

        async def download(element: dict[str, Any]) -> None:
            async with limiter:
                data = await storage.download(element)
            totals["downloads"] += 1
            totals["bytes"] += len(data)

        async def harvest(app_id: str) -> None:
            async with anyio.create_task_group() as downloads:
                async for page in storage.instances(app_id=app_id, size=args.page_size).pages():
                    totals["pages"] += 1
                    totals["instances"] += len(page.instances)
                    for instance in page.instances:
                        for element in instance.get("data", []):
                            downloads.start_soon(download, element)

        async with anyio.create_task_group() as apps:
            for index in range(args.apps):
                apps.start_soon(harvest, f"{DEMO_ORG}/app-{index + 1}")
        elapsed = time.perf_counter() - started

    requests = emulator.requests
    total_requests = sum(requests.values())
    print(f"instances listed:     {totals['instances']}")
    print(
        f"pages fetched:        {totals['pages']} "
        f"(size {args.page_size}, {args.apps} lists in parallel)"
    )
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


async def _person_demo(
    emulator: Emulator, environment: Environment, transport: httpx.AsyncBaseTransport | None
) -> None:
    """A person logs in with ID-porten (the scripted TestID login) and lists their instances."""
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(transport=transport) as token_http,
        IDPortenAuth(
            client_id=DEMO_WEB_CLIENT,
            client_secret=DEMO_WEB_SECRET,
            redirect_uri=DEMO_WEB_REDIRECT,
            scopes=["openid", "altinn:instances.read"],
            environment=environment,
            acr_values="idporten-loa-substantial",
            http_client=token_http,
        ) as idporten,
        AltinnExchangeAuth(idporten, http_client=token_http) as auth,
        httpx.AsyncClient(transport=transport, auth=auth, base_url=environment.platform) as http,
    ):
        login = idporten.start_login()
        callback = await emulator.idporten_login(login.url)
        session = await idporten.complete_login(callback, login)
        party = emulator.person().party_id
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


# --- emulator -----------------------------------------------------------------------------------


def _serve_emulator(args: argparse.Namespace) -> None:
    try:
        import uvicorn  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise ConfigurationError(
            "serving the emulator needs uvicorn: pip install 'altinn-async[emulator]'"
        ) from None
    emulator, key, pem = _new_demo_emulator(args.client_id, args.instances, 1)
    base_url = f"http://{args.host}:{args.port}"
    environment = emulator.environment_for(base_url)
    args.key_out.touch(mode=0o600, exist_ok=True)
    args.key_out.chmod(0o600)
    args.key_out.write_bytes(pem)
    print(f"altinn-async emulator on {base_url}")
    print(f"  Maskinporten issuer:  {environment.maskinporten.issuer}")
    print(f"  token endpoint:       {environment.maskinporten.token_endpoint}")
    print(f"  Altinn platform:      {environment.platform}")
    print(f"  client id:            {args.client_id}  (org {DEMO_ORG}, {DEMO_ORG_NUMBER})")
    print(f"  key id (kid):         {key.key_id}  (private key in {args.key_out})")
    print(f"  scopes:               {' '.join(DEMO_SCOPES)}")
    print(f"  instances:            {args.instances} in app {DEMO_ORG}/app-1")
    if environment.idporten is not None:
        print(f"  ID-porten issuer:     {environment.idporten.issuer}")
        print(
            f"  ID-porten client:     {DEMO_WEB_CLIENT} (secret {DEMO_WEB_SECRET!r}, "
            f"redirect_uri {DEMO_WEB_REDIRECT})"
        )
        print(f"  TestID person:        pid {emulator.person().pid} (log in on the form)")
    print(
        "Try: altinn-async token --env "
        + environment.maskinporten.issuer
        + f" --platform {environment.platform} --client-id {args.client_id}"
        + f" --key {args.key_out} --kid {key.key_id} --scope {DEMO_SCOPES[0]} --exchange --decode"
    )
    uvicorn.run(emulator, host=args.host, port=args.port, log_level="warning")


# --- token --------------------------------------------------------------------------------------


def _read_password(args: argparse.Namespace) -> str | None:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if value is None:
            raise ConfigurationError(f"environment variable {args.password_env} is not set")
        return value
    if args.p12 is not None and sys.stdin.isatty():
        return getpass.getpass(f"password for {args.p12}: ")
    return None


def _load_key(args: argparse.Namespace) -> SigningKey:
    password = _read_password(args)
    if args.p12 is not None:
        return SigningKey.from_pkcs12_file(args.p12, password, kid=args.kid)
    if args.jwk is not None:
        try:
            text = args.jwk.read_text()
        except OSError as exc:
            raise ConfigurationError(f"cannot read {args.jwk}: {exc.strerror}") from exc
        return SigningKey.from_jwk(text, kid=args.kid)
    return SigningKey.from_pem_file(args.key, kid=args.kid, password=password)


async def _environment(args: argparse.Namespace, http: httpx.AsyncClient) -> Environment:
    if args.env == "test":
        return TEST
    if args.env in ("prod", "production"):
        return PRODUCTION
    if not args.platform and args.exchange:
        raise ConfigurationError("with an issuer URL in --env, --exchange needs --platform")
    return await Environment.discover(
        name="custom",
        maskinporten=args.env,
        platform=args.platform or "https://platform.altinn.no",
        http_client=http,
    )


def _decoded(token: str) -> dict[str, Any]:
    compact = jws.extract_compact(token.encode())
    return {"header": dict(compact.headers()), "claims": json.loads(compact.payload)}


async def _token(args: argparse.Namespace) -> None:
    key = _load_key(args)
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=10.0)) as http:
        environment = await _environment(args, http)
        maskinporten = MaskinportenAuth(
            client_id=args.client_id,
            key=key,
            scopes=args.scope,
            environment=environment,
            resource=args.resource,
            consumer_org=args.consumer_org,
            http_client=http,
        )
        source: MaskinportenAuth | AltinnExchangeAuth = maskinporten
        if args.exchange:
            source = AltinnExchangeAuth(maskinporten, test=args.test_org, http_client=http)
        token = await source.get_token()
    if args.decode:
        view = _decoded(token.access_token)
        view["expires_in"] = round(token.expires_in(time.time()))
        print(json.dumps(view, indent=2, ensure_ascii=False), file=sys.stderr)
    print(token.access_token)


# --- harvest ------------------------------------------------------------------------------------


def _secret(variable: str | None, prompt: str) -> str | None:
    if variable:
        value = os.environ.get(variable)
        if value is None:
            raise ConfigurationError(f"environment variable {variable} is not set")
        return value
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return None


class _Progress:
    """One status line on stderr, redrawn in place on a terminal and printed at the end."""

    def __init__(self) -> None:
        self.messages = 0
        self.pages = 0
        self.attachments = 0
        self.bytes = 0
        self._tty = sys.stderr.isatty()

    def line(self) -> str:
        return (
            f"messages {self.messages} | pages {self.pages} | attachments {self.attachments} "
            f"({self.bytes / 1e6:.1f} MB)"
        )

    def update(self) -> None:
        if self._tty:
            print(f"\r{self.line()}", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        print(f"\r{self.line()}" if self._tty else self.line(), file=sys.stderr)


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._- " else "_" for c in name).strip(". ")
    return cleaned or "attachment"


async def _harvest(args: argparse.Namespace) -> None:
    if args.concurrency < 1:
        raise ConfigurationError("--concurrency must be at least 1")
    base = {"test": TEST.altinn2, "production": PRODUCTION.altinn2}.get(args.env, args.env)
    api_key = _secret(args.api_key_env, "ApiKey: ")
    if not api_key:
        raise ConfigurationError("no ApiKey: set the variable named by --api-key-env")
    login: httpx.Auth | None = None
    if args.username:
        password = _secret(args.password_env, f"password for {args.username}: ")
        if not password:
            raise ConfigurationError("--username needs --password-env (or a terminal to ask on)")
        login = PasswordLogin(args.username, password)
    verify: ssl.SSLContext | str | bool = str(args.ca) if args.ca else True
    if args.p12 is not None:
        p12_password = _secret(args.p12_password_env, f"password for {args.p12}: ")
        verify = enterprise_tls_context(args.p12, p12_password, verify=args.ca or True)
    elif login is None:
        raise ConfigurationError("give --username (password login) or --p12 (certificate)")
    auth = Altinn2Auth(api_key, login=login, force_ei_authentication=args.p12 is not None)
    position_file = args.out.with_name(args.out.name + ".position")
    resume = position_file.read_text().strip() if args.resume and position_file.exists() else None
    progress = _Progress()
    limiter = anyio.CapacityLimiter(args.concurrency)
    timeout = httpx.Timeout(60.0, connect=10.0)
    async with httpx.AsyncClient(auth=auth, verify=verify, timeout=timeout) as http:
        altinn2 = Altinn2Client(http, base_url=base)

        async def attachments_of(message: HalResource) -> None:
            async with limiter:
                self_link = message.link("self")
                full = await altinn2.get(self_link) if self_link else message
                for link in altinn2.attachments(full):
                    name = link.attributes.get("fileName") or link.name or "attachment"
                    folder = args.attachments / _safe_name(str(message.get("MessageId", "")))
                    path = await altinn2.download(link, folder / _safe_name(str(name)))
                    progress.attachments += 1
                    progress.bytes += path.stat().st_size
                    progress.update()

        pager = altinn2.messages(
            args.who,
            filter=args.filter,
            date_from=args.date_from,
            date_to=args.date_to,
            max_items=args.max,
            resume_from=resume,
        )
        with args.out.open("a" if resume else "w", encoding="utf-8") as out:
            async for page in pager.pages():
                async with anyio.create_task_group() as downloads:
                    for message in page.items:
                        out.write(json.dumps(dict(message.document), ensure_ascii=False) + "\n")
                        progress.messages += 1
                        if args.attachments is not None:
                            downloads.start_soon(attachments_of, message)
                out.flush()
                progress.pages += 1
                # Saved only once the page's attachments are on disk: a resumed run repeats at
                # most one page, and loses nothing.
                position_file.write_text(pager.position or "")
                progress.update()
    progress.done()
    if pager.position is None:
        position_file.unlink(missing_ok=True)
