"""``altinn-async doctor``: why does Maskinporten say no? A checklist with a verdict per line."""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import os
import sys
from pathlib import Path
from typing import IO, Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from rich.console import Console
from rich.text import Text

from .._context import DEFAULT_TIMEOUT
from .._doctor import Check, Diagnosis, diagnose
from .._keys import SigningKey
from .._scopes import check_scopes
from ..exceptions import CertificateError, ConfigurationError, KeyLoadError
from ._common import UsageError, secret_from_env
from ._token import add_client_arguments, environment, named_environment

__all__ = ["add_parser", "render"]

_LABELS = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skipped": "skip"}
_STYLES = {"ok": "bold green", "warn": "bold yellow", "fail": "bold red", "skipped": "dim"}
# Messages of keys that load but are unfit for Maskinporten: what the doctor is there to say.
_UNFIT = ("at least 2048 are required", "need an RSA key")


def add_parser(commands: Any) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="diagnose a Maskinporten client: why does Maskinporten say no?",
        description="Check a Maskinporten client's configuration: this machine's clock against "
        "Maskinporten's, the key and the enterprise certificate (size, expiry, chain, "
        "organisation number, test or production CA), the environment, a token you have, and "
        "then a real grant (and with --consumer-org a delegated one, with --exchange the "
        "Altinn exchange). One line per check: ok, warn, FAIL or skip, with a hint. Exit status "
        "0 when nothing failed, 1 when a check failed, 2 for wrong input. Tokens, grants and "
        "keys are never printed.",
    )
    add_client_arguments(doctor)
    doctor.add_argument("--scope", action="append", required=True, help="repeat for more scopes")
    doctor.add_argument(
        "--consumer-org", metavar="ORGNO", help="also check this customer's delegation to you"
    )
    doctor.add_argument(
        "--exchange", action="store_true", help="also exchange the token for an Altinn token"
    )
    doctor.add_argument(
        "--token",
        metavar="FILE",
        help="a Maskinporten or Altinn token to inspect, from FILE or - for stdin (never printed)",
    )
    doctor.add_argument(
        "--token-env", metavar="VAR", help="the token to inspect, from environment variable VAR"
    )
    doctor.add_argument(
        "--tier",
        choices=["test", "production"],
        help="which of Digdir's environments an issuer URL in --env stands for",
    )
    doctor.add_argument("--json", action="store_true", help="one JSON document, for machines")
    doctor.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from . import run_async  # noqa: PLC0415 - the package imports this module

    named = named_environment(args.env)
    if named is not None and args.platform:
        raise UsageError(f"--platform goes with an issuer URL in --env, not with {args.env}")
    if named is None and args.exchange and not args.platform:
        raise UsageError(
            "with an issuer URL in --env, --exchange needs the platform: --platform URL"
        )
    if args.consumer_org is not None and not (
        len(args.consumer_org) == 9 and args.consumer_org.isdigit()
    ):
        raise UsageError(f"--consumer-org {args.consumer_org}: an organisation number is 9 digits")
    try:
        check_scopes(args.scope)
    except ConfigurationError as exc:
        raise UsageError(f"--scope: {exc}") from None
    token = _token(args)
    key = _load_key(args)
    found: list[Diagnosis] = []
    run_async(functools.partial(_diagnose, args, key, token, found))
    diagnosis = found[0]
    if args.json:
        print(json.dumps(diagnosis.as_dict(), indent=2, ensure_ascii=False))
    else:
        render(diagnosis, sys.stdout)
    return 0 if diagnosis.ok else 1


async def _diagnose(
    args: argparse.Namespace,
    key: SigningKey | KeyLoadError,
    token: str | None,
    found: list[Diagnosis],
) -> None:
    async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as http:
        env = await environment(args, http, needs_platform=args.exchange)
        found.append(
            await diagnose(
                client_id=args.client_id,
                key=key,
                scopes=args.scope,
                environment=env,
                consumer_org=args.consumer_org,
                exchange=args.exchange,
                token=token,
                tier=args.tier,
                http_client=http,
            )
        )


# -- input ----------------------------------------------------------------------------------------


def _token(args: argparse.Namespace) -> str | None:
    if args.token is not None and args.token_env is not None:
        raise UsageError("give the token with --token or with --token-env, not both")
    if args.token_env is not None:
        return secret_from_env(args.token_env, flag="--token-env")
    if args.token is None:
        return None
    if args.token == "-":
        text = sys.stdin.read()
    else:
        try:
            text = Path(args.token).read_text(encoding="utf-8")
        except (OSError, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not text"
            raise UsageError(f"--token {args.token}: cannot read it: {reason}") from None
    if not text.strip():
        raise UsageError(f"--token {args.token}: it is empty")
    return text.strip()


def _load_key(args: argparse.Namespace) -> SigningKey | KeyLoadError:
    """The key the flags name; a key that loads but is unfit (too small, not RSA, its certificate
    expired or not its own) comes back as the error, for the diagnosis to show.

    Raises:
        UsageError: the file is missing or unreadable, or holds no key the loaders can read.
    """
    flag, path = (
        ("--p12", args.p12)
        if args.p12 is not None
        else ("--jwk", args.jwk)
        if args.jwk is not None
        else ("--key", args.key)
    )
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise UsageError(f"{flag} {path}: {what}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot read it: {exc.strerror}") from None
    password = secret_from_env(
        args.password_env,
        flag="--password-env",
        prompt=f"password for {path}: " if flag == "--p12" else None,
    )
    try:
        return _load(flag, data, args.kid, password, now=None)
    except CertificateError as exc:
        # Loaded at a moment the certificate is valid, the diagnosis can say all there is to say
        # about it (and that it is expired now).
        for moment in _validity_moments(flag, data, password):
            try:
                return _load(flag, data, args.kid, password, now=moment)
            except KeyLoadError:
                continue
        return exc
    except KeyLoadError as exc:
        if any(phrase in str(exc) for phrase in _UNFIT):
            return exc
        hint = ""
        if password is None and "password" in str(exc):
            hint = ": give the password with --password-env VAR (or run on a terminal)"
        raise UsageError(f"{flag} {path}: {exc}{hint}") from None


def _load(
    flag: str, data: bytes, kid: str | None, password: str | None, *, now: dt.datetime | None
) -> SigningKey:
    if flag == "--p12":
        return SigningKey.from_pkcs12(data, password, kid=kid, now=now)
    if flag == "--jwk":
        try:
            text = data.decode("utf-8")
        except UnicodeError as exc:
            raise KeyLoadError("the JWK file is not UTF-8 JSON") from exc
        return SigningKey.from_jwk(text, kid=kid, now=now)
    return SigningKey.from_pem(data, kid=kid, password=password, now=now)


def _validity_moments(flag: str, data: bytes, password: str | None) -> list[dt.datetime]:
    """The middle of each certificate's validity, for the certificates in the file."""
    certificates: list[x509.Certificate] = []
    try:
        if flag == "--p12":
            secret = password.encode() if password is not None else None
            _, leaf, others = pkcs12.load_key_and_certificates(data, secret)
            certificates = [*([leaf] if leaf is not None else []), *others]
        elif flag == "--key":
            certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        return []
    return [
        cert.not_valid_before_utc + (cert.not_valid_after_utc - cert.not_valid_before_utc) / 2
        for cert in certificates
    ]


# -- output ---------------------------------------------------------------------------------------


def _colour(stream: IO[str]) -> bool:
    # https://no-color.org: a NO_COLOR that is set and not empty turns colour off.
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _groups(checks: tuple[Check, ...]) -> list[tuple[list[str], Check]]:
    """Checks in order, with neighbours skipped for the same reason on one line."""
    groups: list[tuple[list[str], Check]] = []
    for check in checks:
        if groups and check.verdict == "skipped":
            names, last = groups[-1]
            if last.verdict == "skipped" and last.detail == check.detail:
                names.append(check.name)
                continue
        groups.append(([check.name], check))
    return groups


def render(diagnosis: Diagnosis, stream: IO[str]) -> None:
    """The checklist for people: colour on a terminal only (and not with ``NO_COLOR``)."""
    colour = _colour(stream)
    console = Console(
        file=stream,
        force_terminal=colour,
        no_color=not colour,
        color_system="auto" if colour else None,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
    )
    tier = f", {diagnosis.tier}" if diagnosis.tier else ""
    console.print(
        Text(f"Maskinporten client {diagnosis.client_id!r} in {diagnosis.environment}{tier}")
    )
    width = max(len(check.name) for check in diagnosis.checks)
    for names, check in _groups(diagnosis.checks):
        line = Text("  ")
        line.append(f"{_LABELS[check.verdict]:<4}", style=_STYLES[check.verdict])
        line.append("  ")
        line.append(f"{names[0]:<{width}}", style="bold")
        line.append("  ")
        detail = check.detail
        if len(names) > 1:
            detail += f" (also {', '.join(names[1:])})"
        line.append(detail, style="dim" if check.verdict == "skipped" else "")
        console.print(line)
        if check.hint:
            hint = Text(" " * (width + 10))
            hint.append(f"hint: {check.hint}", style="italic")
            console.print(hint)
    counts = diagnosis.counts()
    summary = (
        f"{counts['ok']} ok, {counts['warn']} warnings, {counts['fail']} failed, "
        f"{counts['skipped']} skipped"
    )
    console.print(Text(summary, style="bold red" if counts["fail"] else "bold green"))
