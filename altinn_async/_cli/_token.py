"""``altinn-async token``: a Maskinporten token, optionally exchanged for an Altinn token."""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

import httpx
from joserfc import jws

from .._context import DEFAULT_TIMEOUT
from .._environment import PRODUCTION, TEST, Environment
from .._exchange import AltinnExchangeAuth
from .._keys import SigningKey
from .._maskinporten import MaskinportenAuth, SystemUser
from ..exceptions import KeyLoadError
from ._common import UsageError, secret_from_env

__all__ = [
    "add_client_arguments",
    "add_key_arguments",
    "add_parser",
    "environment",
    "load_key",
    "named_environment",
]

_NAMED = {"test": TEST, "tt02": TEST, "production": PRODUCTION, "prod": PRODUCTION}


def add_parser(commands: Any) -> None:
    token = commands.add_parser(
        "token",
        help="get a Maskinporten token, optionally exchanged for an Altinn token",
        description="Like Digdir's token generator: sign a grant with your key or enterprise "
        "certificate, get a token, and print it (the token to stdout, the decoded view with "
        "--decode to stderr). A key's password is read from --password-env or asked for.",
    )
    add_client_arguments(token)
    token.add_argument("--scope", action="append", required=True, help="repeat for more scopes")
    token.add_argument("--resource", action="append", help="audience restriction (RFC 8707)")
    token.add_argument("--consumer-org", help="act for this customer organisation")
    token.add_argument(
        "--system-user", metavar="ORGNO", help="a system user of this customer organisation"
    )
    token.add_argument("--exchange", action="store_true", help="exchange it for an Altinn token")
    token.add_argument(
        "--test-org", action="store_true", help="with --exchange: send test=true (digdir→ttd)"
    )
    token.add_argument(
        "--decode", action="store_true", help="also print the decoded header and claims"
    )
    token.set_defaults(run=run)


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """The Maskinporten client's flags: its id, its key, and the environment."""
    parser.add_argument("--client-id", required=True)
    add_key_arguments(parser)
    parser.add_argument("--platform", help="Altinn platform URL, with an issuer URL in --env")


def add_key_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
) -> None:
    """A Maskinporten client's key (what `load_key` reads: ``--key``/``--jwk``/``--p12``,
    ``--kid``, ``--password-env``) and the environment (``--env``)."""
    key = parser.add_mutually_exclusive_group(required=True)
    key.add_argument("--key", type=Path, help="PEM private key of a registered key (with --kid)")
    key.add_argument("--jwk", type=Path, help="private JWK (JSON) of a registered key")
    key.add_argument("--p12", type=Path, help="enterprise certificate (PKCS#12)")
    parser.add_argument("--kid", help="the registered key's id")
    parser.add_argument(
        "--password-env", metavar="VAR", help="environment variable holding the key's password"
    )
    parser.add_argument(
        "--env",
        default="test",
        help="'test', 'production', or a Maskinporten-compatible issuer URL (test)",
    )


def named_environment(value: str, *, flag: str = "--env") -> Environment | None:
    """The preset named ``value``, ``None`` for a URL, or a `CLIError` listing the choices."""
    preset = _NAMED.get(value.lower())
    if preset is not None:
        return preset
    parts = urllib.parse.urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc:
        return None
    raise UsageError(
        f"{flag} {value}: not an environment; use one of test (tt02), production (prod), "
        "or an https:// URL"
    )


def load_key(args: argparse.Namespace) -> SigningKey:
    """The key the client flags name, its password from --password-env or a prompt."""
    flag = "--p12" if args.p12 is not None else "--jwk" if args.jwk is not None else "--key"
    password = secret_from_env(
        args.password_env,
        flag="--password-env",
        prompt=f"password for {args.p12}: " if args.p12 is not None else None,
    )
    try:
        if args.p12 is not None:
            return SigningKey.from_pkcs12_file(args.p12, password, kid=args.kid)
        if args.jwk is not None:
            try:
                text = args.jwk.read_text()
            except OSError as exc:
                raise UsageError(f"--jwk {args.jwk}: cannot read it: {exc.strerror}") from exc
            return SigningKey.from_jwk(text, kid=args.kid)
        return SigningKey.from_pem_file(args.key, kid=args.kid, password=password)
    except KeyLoadError as exc:
        if password is None and "password" in str(exc):
            raise UsageError(
                f"{exc}: give the password with --password-env VAR (or run on a terminal to "
                "be asked for it)"
            ) from exc
        raise UsageError(f"{flag}: {exc}") from exc


async def environment(
    args: argparse.Namespace, http: httpx.AsyncClient, *, needs_platform: bool
) -> Environment:
    """The environment --env names, or the one discovered from its issuer URL."""
    preset = named_environment(args.env)
    if preset is not None:
        if args.platform:
            raise UsageError(f"--platform goes with an issuer URL in --env, not with {args.env}")
        return preset
    if not args.platform and needs_platform:
        raise UsageError(
            "with an issuer URL in --env, give the Altinn platform with --platform URL"
        )
    return await Environment.discover(
        name="custom",
        maskinporten=args.env,
        platform=args.platform or "https://platform.altinn.no",
        http_client=http,
    )


def _decoded(token: str) -> dict[str, Any]:
    compact = jws.extract_compact(token.encode())
    return {"header": dict(compact.headers()), "claims": json.loads(compact.payload)}


def run(args: argparse.Namespace) -> None:
    from . import run_async  # noqa: PLC0415 - the package imports this module

    if args.system_user and args.consumer_org:
        raise UsageError("--system-user and --consumer-org do not go together")
    for flag, value in (("--consumer-org", args.consumer_org), ("--system-user", args.system_user)):
        if value is not None and not (len(value) == 9 and value.isdigit()):
            raise UsageError(f"{flag} {value}: an organisation number is 9 digits")
    named_environment(args.env)  # a wrong --env is said before the key is read
    key = load_key(args)
    run_async(functools.partial(_token, args, key))


async def _token(args: argparse.Namespace, key: SigningKey) -> None:
    async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as http:
        found = await environment(args, http, needs_platform=args.exchange)
        maskinporten = MaskinportenAuth(
            client_id=args.client_id,
            key=key,
            scopes=args.scope,
            environment=found,
            resource=args.resource,
            consumer_org=args.consumer_org,
            authorization_details=SystemUser(args.system_user) if args.system_user else None,
            http_client=http,
        )
        source: MaskinportenAuth | AltinnExchangeAuth = maskinporten
        if args.exchange:
            source = AltinnExchangeAuth(maskinporten, test=args.test_org)
        token = await source.get_token()
    if args.decode:
        view = _decoded(token.access_token)
        view["expires_in"] = round(token.expires_in(time.time()))
        print(json.dumps(view, indent=2, ensure_ascii=False), file=sys.stderr)
    print(token.access_token)
