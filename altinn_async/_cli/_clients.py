"""``altinn-async clients``: Maskinporten clients and their keys, through Digdir's self-service API.

``clients list``, ``clients create``, ``clients keys list|add|remove|rotate``. Every command
signs in as an admin client (``--admin-client-id`` with ``--p12``, or a registered ``--key`` or
``--jwk`` with ``--kid``), prints a table, or JSON with ``--json``. Private keys are read from
files and never printed; ``keys rotate`` writes a new one to a file only its owner can read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .._admin import ADMIN_SCOPES, ClientKey, ClientKeys, ClientRegistration, MaskinportenAdmin
from .._context import DEFAULT_TIMEOUT
from .._environment import AuthorizationServer, Environment
from .._keys import SigningKey
from ..exceptions import KeyLoadError
from ._common import UsageError, secret_from_env, writable_file
from ._token import add_key_arguments, load_key, named_environment

__all__ = ["add_parser"]

_BITS = (2048, 3072, 4096)


def add_parser(commands: Any) -> None:
    clients = commands.add_parser(
        "clients",
        help="Maskinporten clients and their keys, through Digdir's self-service API",
        description="List and create Maskinporten clients, and add and rotate their keys, "
        "through Digdir's self-service API, signed in as an admin client (Digdir hands admin "
        "clients out; they hold the idporten:dcr.* scopes). A key's password is read from an "
        "environment variable or asked for.",
    )
    what = clients.add_subparsers(dest="clients_command", required=True, metavar="COMMAND")

    listing = what.add_parser("list", help="every client of the organisation")
    _add_admin_arguments(listing)
    listing.set_defaults(run=functools.partial(_run, _list))

    create = what.add_parser("create", help="create a Maskinporten client")
    create.add_argument("--name", required=True, help="the client's name")
    create.add_argument("--description", required=True, help="what it is for")
    create.add_argument(
        "--scope", action="append", required=True, help="a scope it may use (repeat for more)"
    )
    create.add_argument(
        "--access-token-lifetime", type=int, metavar="SECONDS", help="(the default is 120)"
    )
    _add_admin_arguments(create)
    create.set_defaults(run=functools.partial(_run, _create))

    keys = what.add_parser("keys", help="a client's keys").add_subparsers(
        dest="keys_command", required=True, metavar="COMMAND"
    )
    key_list = keys.add_parser("list", help="a client's keys")
    key_list.add_argument("client", metavar="CLIENT", help="the client's id")
    _add_admin_arguments(key_list)
    key_list.set_defaults(run=functools.partial(_run, _keys))

    add = keys.add_parser(
        "add",
        help="register one more key on a client",
        description="Register the public part of KEYFILE (a PEM public key, certificate or "
        "private key, or a JWK) beside the client's other keys.",
    )
    add.add_argument("client", metavar="CLIENT", help="the client's id")
    add.add_argument("keyfile", metavar="KEYFILE", type=Path)
    add.add_argument("--new-kid", metavar="KID", help="the kid to register it under")
    add.add_argument(
        "--new-password-env", metavar="VAR", help="environment variable with KEYFILE's password"
    )
    _add_admin_arguments(add)
    add.set_defaults(run=functools.partial(_run, _add))

    remove = keys.add_parser("remove", help="remove one key of a client, keeping the others")
    remove.add_argument("client", metavar="CLIENT", help="the client's id")
    # Not "kid": that is the admin key's --kid.
    remove.add_argument("remove_kid", metavar="KID", help="the key to remove")
    _add_admin_arguments(remove)
    remove.set_defaults(run=functools.partial(_run, _remove))

    rotate = keys.add_parser(
        "rotate",
        help="replace a client's key without downtime",
        description="Register a new key beside the old one (a new key pair written to --out, "
        "readable by you alone, or the key in --new-key), wait --propagation seconds for "
        "Maskinporten to know it: then move your workload to the new key. After --grace "
        "more seconds, the old key is removed (not with --keep-old).",
    )
    rotate.add_argument("client", metavar="CLIENT", help="the client's id")
    rotate.add_argument("--old-kid", required=True, metavar="KID", help="the key to replace")
    new = rotate.add_mutually_exclusive_group(required=True)
    new.add_argument("--out", type=Path, help="make a new key pair; its private key goes here")
    new.add_argument("--new-key", type=Path, metavar="KEYFILE", help="the new key (PEM or JWK)")
    rotate.add_argument("--new-kid", metavar="KID", help="the new key's kid")
    rotate.add_argument(
        "--new-password-env", metavar="VAR", help="environment variable with --new-key's password"
    )
    rotate.add_argument("--bits", type=int, choices=_BITS, default=2048, help="with --out")
    rotate.add_argument(
        "--propagation",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="wait after registering the new key (Digdir says 0-2 minutes; 120)",
    )
    rotate.add_argument(
        "--grace",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="wait after that before removing the old key: time to move the workload to the "
        "new key and for the old key's tokens to expire (600)",
    )
    rotate.add_argument(
        "--keep-old", action="store_true", help="register the new key only; remove the old later"
    )
    _add_admin_arguments(rotate)
    rotate.set_defaults(run=functools.partial(_run, _rotate))


def _add_admin_arguments(parser: argparse.ArgumentParser) -> None:
    admin = parser.add_argument_group("the admin client")
    admin.add_argument(
        "--admin-client-id", required=True, metavar="ID", help="the admin client's id"
    )
    add_key_arguments(admin)
    admin.add_argument(
        "--admin-scope",
        action="append",
        metavar="SCOPE",
        help=f"an admin scope to ask for (repeat; default {' '.join(ADMIN_SCOPES)})",
    )
    admin.add_argument("--selfservice", metavar="URL", help="the API's URL, with an issuer URL")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


# --- running ---------------------------------------------------------------------------------

Command = Callable[[argparse.Namespace, MaskinportenAdmin], Awaitable[None]]


def _run(command: Command, args: argparse.Namespace) -> None:
    from . import run_async  # noqa: PLC0415 - the package imports this module

    # Wrong input is told before any key is read or request sent.
    preset = named_environment(args.env)
    if preset is not None and args.selfservice:
        raise UsageError(f"--selfservice goes with an issuer URL in --env, not with {args.env}")
    if preset is None and not args.selfservice:
        raise UsageError(
            "with an issuer URL in --env, give the self-service API with --selfservice"
        )
    prepare = _PREPARE.get(command)
    if prepare is not None:
        prepare(args)
    key = load_key(args)
    run_async(functools.partial(_session, command, args, key, preset))


async def _session(
    command: Command, args: argparse.Namespace, key: SigningKey, preset: Environment | None
) -> None:
    async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as token_http:
        environment = preset or await _custom_environment(args, token_http)
        auth = MaskinportenAdmin.auth(
            client_id=args.admin_client_id,
            key=key,
            environment=environment,
            scopes=args.admin_scope or ADMIN_SCOPES,
            http_client=token_http,
        )
        async with httpx.AsyncClient(auth=auth, timeout=DEFAULT_TIMEOUT) as http:
            await command(args, MaskinportenAdmin(http))


async def _custom_environment(args: argparse.Namespace, http: httpx.AsyncClient) -> Environment:
    maskinporten = await AuthorizationServer.discover(args.env, http_client=http)
    # The platform is not used here; the self-service URL stands in for it.
    return Environment(
        name="custom",
        maskinporten=maskinporten,
        platform=args.selfservice,
        selfservice=args.selfservice,
    )


# --- output ----------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)
    ]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [headers, *rows]
    ]
    return "\n".join(lines)


def _print(
    args: argparse.Namespace, data: Any, headers: Sequence[str], rows: Sequence[Sequence[str]]
) -> None:
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
    elif rows:
        print(_table(headers, rows))
    else:
        print("(none)")


def _client_rows(clients: Sequence[ClientRegistration]) -> list[list[str]]:
    return [
        [
            client.client_id or "",
            client.client_name or "",
            client.integration_type or "",
            " ".join(client.scopes or ()),
        ]
        for client in clients
    ]


_CLIENT_HEADERS = ("CLIENT ID", "NAME", "TYPE", "SCOPES")
_KEY_HEADERS = ("KID", "ALG", "EXPIRES")


def _expires(key: ClientKey) -> str:
    if key.exp is None:
        return ""
    return dt.datetime.fromtimestamp(key.exp, dt.UTC).isoformat(timespec="seconds")


def _print_keys(args: argparse.Namespace, client_id: str, keys: ClientKeys, **more: Any) -> None:
    data = {"client_id": client_id, **more, "keys": [key.to_json() for key in keys]}
    rows = [[key.kid or "", key.alg or "", _expires(key)] for key in keys]
    _print(args, data, _KEY_HEADERS, rows)


def _note(text: str) -> None:
    print(f"altinn-async: {text}", file=sys.stderr, flush=True)


# --- the commands ----------------------------------------------------------------------------


async def _list(args: argparse.Namespace, admin: MaskinportenAdmin) -> None:
    clients = await admin.clients()
    _print(args, [c.to_json() for c in clients], _CLIENT_HEADERS, _client_rows(clients))


def _check_create(args: argparse.Namespace) -> None:
    if not args.name.strip() or not args.description.strip():
        raise UsageError("--name and --description must not be empty")
    for scope in args.scope:
        if ":" not in scope or any(c.isspace() for c in scope):
            raise UsageError(f"--scope {scope}: a scope is prefix:subscope")
    lifetime = args.access_token_lifetime
    if lifetime is not None and lifetime < 1:
        raise UsageError("--access-token-lifetime must be at least 1 second")


async def _create(args: argparse.Namespace, admin: MaskinportenAdmin) -> None:
    fields: dict[str, Any] = {}
    if args.access_token_lifetime is not None:
        fields["access_token_lifetime"] = args.access_token_lifetime
    client = ClientRegistration.maskinporten(
        client_name=args.name, description=args.description, scopes=args.scope, **fields
    )
    created = await admin.create_client(client)
    _print(args, created.to_json(), _CLIENT_HEADERS, _client_rows([created]))


async def _keys(args: argparse.Namespace, admin: MaskinportenAdmin) -> None:
    _print_keys(args, args.client, await admin.keys(args.client))


def _read_new_key(path: Path, args: argparse.Namespace, *, flag: str) -> ClientKey:
    password = secret_from_env(args.new_password_env, flag="--new-password-env")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read it: {exc.strerror or exc}") from exc
    try:
        return ClientKey.load(data, kid=args.new_kid, password=password)
    except KeyLoadError as exc:
        if password is None and "password" in str(exc):
            raise UsageError(f"{flag} {path}: {exc}: give it with --new-password-env VAR") from exc
        raise UsageError(f"{flag} {path}: {exc}") from exc


def _check_add(args: argparse.Namespace) -> None:
    args.new_public = _read_new_key(args.keyfile, args, flag="KEYFILE")


async def _add(args: argparse.Namespace, admin: MaskinportenAdmin) -> None:
    keys = await admin.add_key(args.client, args.new_public)
    _note(f"registered key {args.new_public.kid} on client {args.client}")
    _print_keys(args, args.client, keys)


async def _remove(args: argparse.Namespace, admin: MaskinportenAdmin) -> None:
    keys = await admin.remove_key(args.client, args.remove_kid)
    _note(f"removed key {args.remove_kid} from client {args.client}")
    _print_keys(args, args.client, keys)


def _check_rotate(args: argparse.Namespace) -> None:
    for flag, value in (("--propagation", args.propagation), ("--grace", args.grace)):
        if not value >= 0:
            raise UsageError(f"{flag} must be a number of seconds, at least 0")
    if args.new_kid is not None and args.new_kid == args.old_kid:
        raise UsageError("--new-kid must differ from --old-kid")
    if args.new_key is not None:
        args.new_public = _read_new_key(args.new_key, args, flag="--new-key")
        return
    writable_file(args.out, flag="--out")
    if args.out.exists():
        raise UsageError(f"--out {args.out}: the file exists; give a new file for the new key")
    args.new_public = None


def _write_private_key(path: Path, bits: int, kid: str) -> ClientKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Created readable by its owner alone, and never over an existing file.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return ClientKey.from_jwk(SigningKey.from_pem(pem, kid=kid).public_jwk)


async def _rotate(args: argparse.Namespace, admin: MaskinportenAdmin) -> None:
    new: ClientKey | None = args.new_public
    if new is None:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d-%H-%M-%S")
        kid = args.new_kid or f"kid-{stamp}-{uuid.uuid4().hex[:6]}"
        new = _write_private_key(args.out, args.bits, kid)
        _note(f"wrote the new private key (kid {kid}) to {args.out}")
    rotation = admin.key_rotation(
        args.client,
        new,
        old_kid=args.old_kid,
        propagation=args.propagation,
        grace=args.grace,
    )
    where = f" ({args.out or args.new_key})"
    try:
        await rotation.add()
        _note(f"registered key {new.kid} on client {args.client}")
        if args.keep_old:
            _print_keys(args, args.client, await admin.keys(args.client), new_kid=new.kid)
            return
        _note(f"waiting {args.propagation:.0f} s for Maskinporten to know it")
        await rotation.switch()
        _note(
            f"sign with key {new.kid}{where} from now on; key {args.old_kid} is removed in "
            f"{args.grace:.0f} s"
        )
        keys = await rotation.retire()
    except BaseException:
        # A failure or Ctrl-C: say what the client holds now (both keys are safe to keep).
        if rotation.step in ("added", "switched"):
            _note(
                f"stopped with both keys on client {args.client}: the new {new.kid}{where} and "
                f"the old {args.old_kid}; remove the old one when nothing signs with it: "
                f"altinn-async clients keys remove {args.client} {args.old_kid}"
            )
        elif args.out is not None:
            _note(f"the new key was not registered (its private key stays in {args.out})")
        raise
    _note(f"removed key {args.old_kid}")
    _print_keys(args, args.client, keys, new_kid=new.kid, removed_kid=args.old_kid)


_PREPARE: dict[Command, Callable[[argparse.Namespace], None]] = {
    _create: _check_create,
    _add: _check_add,
    _rotate: _check_rotate,
}
