"""``altinn-async harvest altinn2``: an Altinn 2 message box, attachments downloaded.

Reading does not mark messages as read (``markAsRead=false``).
"""

from __future__ import annotations

import argparse
import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from ..._altinn2 import Altinn2Client
from ..._altinn2_auth import Altinn2Auth, PasswordLogin, enterprise_tls_context
from ..._harvest import Altinn2Messages, HarvestSource
from ...exceptions import AltinnError
from .._common import UsageError, secret_from_env
from .._token import named_environment
from ._transport import api_transport

__all__ = ["add_parser", "open_sources"]


def add_parser(sources: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sources.add_parser(
        "altinn2",
        help="an Altinn 2 message box, with its attachments",
        description="Page through an Altinn 2 message box, write each message as one JSON "
        "line, and download its attachments into --files (one folder per message). Reading "
        "does not mark messages as read.",
    )
    parser.add_argument(
        "--env", default="test", help="'test', 'production', or the Altinn 2 site's URL (test)"
    )
    parser.add_argument("--api-key-env", required=True, metavar="VAR", help="holds the ApiKey")
    parser.add_argument("--username", help="user for the password login")
    parser.add_argument("--password-env", metavar="VAR", help="holds the user's password")
    parser.add_argument("--p12", type=Path, help="enterprise certificate (TLS client certificate)")
    parser.add_argument("--p12-password-env", metavar="VAR", help="holds the .p12 password")
    parser.add_argument("--ca", type=Path, help="CA bundle to trust (e.g. the emulator's)")
    parser.add_argument("--who", default="my", help="'my', an organisation number or r<id>")
    parser.add_argument("--filter", help="OData $filter")
    parser.add_argument("--date-from", help="dateFrom (narrows the box in Altinn's database)")
    parser.add_argument("--date-to", help="dateTo")
    return parser


def _site(args: argparse.Namespace) -> str:
    preset = named_environment(args.env)
    site = preset.altinn2 if preset is not None else args.env.rstrip("/")
    if site is None:  # pragma: no cover - both presets have an Altinn 2 site
        raise UsageError(f"--env {args.env}: that environment has no Altinn 2 site")
    return site


def _credentials(
    args: argparse.Namespace, site: str
) -> tuple[Altinn2Auth, ssl.SSLContext | str | bool]:
    api_key = secret_from_env(args.api_key_env, flag="--api-key-env", prompt="ApiKey: ")
    if not api_key:
        raise UsageError("--api-key-env: no ApiKey (the variable is empty)")
    login: PasswordLogin | None = None
    if args.username:
        password = secret_from_env(
            args.password_env, flag="--password-env", prompt=f"password for {args.username}: "
        )
        if not password:
            raise UsageError(
                f"--username {args.username}: give the password with --password-env VAR "
                "(or run on a terminal to be asked for it)"
            )
        login = PasswordLogin(args.username, password)
    verify: ssl.SSLContext | str | bool = str(args.ca) if args.ca else True
    if args.ca is not None and not args.ca.is_file():
        raise UsageError(f"--ca {args.ca}: no such file")
    if args.p12 is not None:
        p12_password = secret_from_env(
            args.p12_password_env, flag="--p12-password-env", prompt=f"password for {args.p12}: "
        )
        try:
            verify = enterprise_tls_context(args.p12, p12_password, verify=args.ca or True)
        except AltinnError as exc:
            raise UsageError(f"--p12 {args.p12}: {exc}") from exc
    elif login is None:
        raise UsageError(
            "say who logs in: --username (with --password-env) or --p12 (an enterprise certificate)"
        )
    auth = Altinn2Auth(
        api_key, base_url=site, login=login, force_ei_authentication=args.p12 is not None
    )
    return auth, verify


@contextlib.asynccontextmanager
async def open_sources(args: argparse.Namespace) -> AsyncIterator[list[HarvestSource[Any]]]:
    site = _site(args)
    auth, verify = _credentials(args, site)
    timeout = httpx.Timeout(60.0, connect=10.0)
    transport = api_transport(args, verify=verify, connections=args.concurrency + 1)
    async with httpx.AsyncClient(
        auth=auth, verify=verify, timeout=timeout, transport=transport
    ) as http:
        altinn2 = Altinn2Client(http, base_url=site)
        yield [
            Altinn2Messages(
                altinn2,
                args.who,
                attachments=args.files is not None,
                filter=args.filter,
                date_from=args.date_from,
                date_to=args.date_to,
            )
        ]
