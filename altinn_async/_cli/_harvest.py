"""``altinn-async harvest``: an Altinn 2 message box to JSON Lines, attachments beside it.

The output holds every message exactly once, however often the run stops (an error, Ctrl-C,
``kill -9``, ``--max``) and resumes: after each page the output is flushed to disk and a
checkpoint beside it records the position and the output's length. A resumed run cuts the
output back to that length (a page cut short goes), skips the messages already written, and goes
on from the position. A harvest only reads: messages are fetched with ``markAsRead=false``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import ssl
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import attrs
import httpx

from .._altinn2 import Altinn2Client
from .._altinn2_auth import Altinn2Auth, PasswordLogin, enterprise_tls_context
from .._files import safe_filename, sweep_partials
from .._hal import HalResource
from ..exceptions import AltinnError
from ._common import CLIError, StoppedError, secret_from_env, writable_file
from ._pool import each
from ._token import named_environment

__all__ = ["Checkpoint", "add_parser"]

_CHECKPOINT_VERSION = 1


def add_parser(commands: Any) -> None:
    harvest = commands.add_parser(
        "harvest",
        help="page an Altinn 2 message box to JSON Lines and download its attachments",
        description="Page through a message box (Altinn 2), write each message as one JSON line, "
        "and download the attachments into a folder, with a progress line. A checkpoint is "
        "saved beside the output after every page; --resume continues from it, and the output "
        "holds each message once however often a run stopped. Reading does not mark messages "
        "as read. Secrets come from environment variables (or a prompt), never from the "
        "command line.",
    )
    harvest.add_argument(
        "--env", default="test", help="'test', 'production', or the Altinn 2 site's URL (test)"
    )
    harvest.add_argument("--api-key-env", required=True, metavar="VAR", help="holds the ApiKey")
    harvest.add_argument("--username", help="user for the password login")
    harvest.add_argument("--password-env", metavar="VAR", help="holds the user's password")
    harvest.add_argument("--p12", type=Path, help="enterprise certificate (TLS client certificate)")
    harvest.add_argument("--p12-password-env", metavar="VAR", help="holds the .p12 password")
    harvest.add_argument("--ca", type=Path, help="CA bundle to trust (e.g. the emulator's)")
    harvest.add_argument("--who", default="my", help="'my', an organisation number or r<id>")
    harvest.add_argument("--filter", help="OData $filter")
    harvest.add_argument("--date-from", help="dateFrom (narrows the box in Altinn's database)")
    harvest.add_argument("--date-to", help="dateTo")
    harvest.add_argument("--max", type=int, help="stop after this many messages in this run")
    harvest.add_argument("--out", type=Path, required=True, help="the JSON Lines file")
    harvest.add_argument("--attachments", type=Path, help="download attachments into this folder")
    harvest.add_argument("--concurrency", type=int, default=8, help="parallel downloads (8)")
    mode = harvest.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    mode.add_argument(
        "--overwrite", action="store_true", help="start again, replacing an earlier output"
    )
    harvest.set_defaults(run=run)


@attrs.frozen
class Checkpoint:
    """Where a harvest is: saved beside the output (``{out}.checkpoint``) after every page.

    Attributes:
        query: what is harvested (site, who, filter, dates): a resume must ask for the same.
        position: the page to go on from, or ``None`` when the list is done.
        offset: the output's length in bytes when this was saved: everything before it is
            complete.
        written: messages in the output.
        done: whether the harvest finished.
    """

    query: Mapping[str, Any]
    position: str | None
    offset: int
    written: int
    done: bool

    @staticmethod
    def path_for(out: Path) -> Path:
        return out.with_name(out.name + ".checkpoint")

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        """The checkpoint at ``path``, or ``None`` if there is none.

        Raises:
            CLIError: the file is not a checkpoint of this program.
        """
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise CLIError(f"{path}: not a readable harvest checkpoint ({exc})") from exc
        unreadable = CLIError(f"{path}: not a harvest checkpoint this version can read")
        if not isinstance(data, dict) or data.get("version") != _CHECKPOINT_VERSION:
            raise unreadable
        position = data.get("position")
        if position is not None and (not isinstance(position, str) or not position):
            raise unreadable
        try:
            return cls(
                query=dict(data["query"]),
                position=position,
                offset=int(data["offset"]),
                written=int(data["written"]),
                done=bool(data["done"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise unreadable from exc

    def save(self, path: Path) -> None:
        """Write atomically (a new file renamed over the old one, flushed to disk first)."""
        data = {"version": _CHECKPOINT_VERSION, **attrs.asdict(self)}
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(data, file)
                file.flush()
                os.fsync(file.fileno())
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class _Progress:
    """One status line on stderr, redrawn in place on a terminal and printed at the end."""

    def __init__(self, written: int) -> None:
        self.messages = written
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

    def done(self, note: str = "") -> None:
        text = self.line() + (f" {note}" if note else "")
        print(f"\r{text}" if self._tty else text, file=sys.stderr)


def _message_key(message: HalResource) -> str:
    identifier = message.get("MessageId")
    if isinstance(identifier, str) and identifier:
        return identifier
    return json.dumps(dict(message.document), sort_keys=True)


def _written_keys(out: BinaryIO, offset: int, path: Path) -> set[str]:
    out.seek(0)
    keys: set[str] = set()
    for number, raw in enumerate(out.read(offset).splitlines(), start=1):
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise CLIError(f"{path}: line {number} is not JSON (was the file changed?)") from exc
        identifier = document.get("MessageId") if isinstance(document, dict) else None
        keys.add(
            identifier
            if isinstance(identifier, str) and identifier
            else json.dumps(document, sort_keys=True)
        )
    return keys


@attrs.define
class _Plan:
    site: str
    auth: Altinn2Auth
    verify: ssl.SSLContext | str | bool
    query: dict[str, Any]
    checkpoint: Checkpoint | None


def _plan(args: argparse.Namespace) -> _Plan:
    if args.concurrency < 1:
        raise CLIError(f"--concurrency {args.concurrency}: must be at least 1")
    if args.max is not None and args.max < 0:
        raise CLIError(f"--max {args.max}: must be 0 or more")
    preset = named_environment(args.env)
    site = preset.altinn2 if preset is not None else args.env.rstrip("/")
    if site is None:  # pragma: no cover - both presets have an Altinn 2 site
        raise CLIError(f"--env {args.env}: that environment has no Altinn 2 site")
    writable_file(args.out, flag="--out")
    if args.attachments is not None:
        if args.attachments.exists() and not args.attachments.is_dir():
            raise CLIError(f"--attachments {args.attachments}: that is a file, not a folder")
        if not args.attachments.parent.is_dir():
            raise CLIError(
                f"--attachments {args.attachments}: the folder {args.attachments.parent} does "
                "not exist (create it first)"
            )
    query = {
        "site": site,
        "who": args.who,
        "filter": args.filter,
        "date_from": args.date_from,
        "date_to": args.date_to,
    }
    checkpoint = _checkpoint(args, query)
    auth, verify = _credentials(args, site)
    return _Plan(site=site, auth=auth, verify=verify, query=query, checkpoint=checkpoint)


def _credentials(
    args: argparse.Namespace, site: str
) -> tuple[Altinn2Auth, ssl.SSLContext | str | bool]:
    api_key = secret_from_env(args.api_key_env, flag="--api-key-env", prompt="ApiKey: ")
    if not api_key:
        raise CLIError("--api-key-env: no ApiKey (the variable is empty)")
    login: PasswordLogin | None = None
    if args.username:
        password = secret_from_env(
            args.password_env, flag="--password-env", prompt=f"password for {args.username}: "
        )
        if not password:
            raise CLIError(
                f"--username {args.username}: give the password with --password-env VAR "
                "(or run on a terminal to be asked for it)"
            )
        login = PasswordLogin(args.username, password)
    verify: ssl.SSLContext | str | bool = str(args.ca) if args.ca else True
    if args.ca is not None and not args.ca.is_file():
        raise CLIError(f"--ca {args.ca}: no such file")
    if args.p12 is not None:
        p12_password = secret_from_env(
            args.p12_password_env, flag="--p12-password-env", prompt=f"password for {args.p12}: "
        )
        try:
            verify = enterprise_tls_context(args.p12, p12_password, verify=args.ca or True)
        except AltinnError as exc:
            raise CLIError(f"--p12 {args.p12}: {exc}") from exc
    elif login is None:
        raise CLIError(
            "say who logs in: --username (with --password-env) or --p12 (an enterprise certificate)"
        )
    auth = Altinn2Auth(
        api_key, base_url=site, login=login, force_ei_authentication=args.p12 is not None
    )
    return auth, verify


def _checkpoint(args: argparse.Namespace, query: Mapping[str, Any]) -> Checkpoint | None:
    """The checkpoint to resume from, after checking the output and flags agree with it."""
    path = Checkpoint.path_for(args.out)
    checkpoint = Checkpoint.load(path)
    has_output = args.out.exists() and args.out.stat().st_size > 0
    if args.overwrite:
        path.unlink(missing_ok=True)
        return None
    if not args.resume:
        if has_output or checkpoint is not None:
            raise CLIError(
                f"--out {args.out}: it exists from an earlier harvest; pass --resume to "
                "continue it, or --overwrite to start again"
            )
        return None
    if checkpoint is None:
        if has_output:
            raise CLIError(
                f"--resume: {args.out} has no checkpoint ({path.name}), so it cannot be "
                "continued; pass --overwrite to start again"
            )
        return None  # nothing was harvested yet: resuming is starting
    if dict(checkpoint.query) != dict(query):
        differs = sorted(k for k in query if checkpoint.query.get(k) != query[k])
        raise CLIError(
            f"--resume: {args.out} was harvested with other options ({', '.join(differs)}); "
            "give the same ones, or --overwrite to start again"
        )
    size = args.out.stat().st_size if args.out.exists() else 0
    if size < checkpoint.offset:
        raise CLIError(
            f"--resume: {args.out} is shorter than its checkpoint says ({size} < "
            f"{checkpoint.offset} bytes): it was changed; pass --overwrite to start again"
        )
    return checkpoint


def run(args: argparse.Namespace) -> None:
    from . import run_async  # noqa: PLC0415 - the package imports this module

    plan = _plan(args)
    if plan.checkpoint is not None and plan.checkpoint.done:
        print(
            f"the harvest in {args.out} is complete ({plan.checkpoint.written} messages); "
            "nothing to do",
            file=sys.stderr,
        )
        return
    run_async(functools.partial(_harvest, args, plan))


class _Output:
    """The JSON Lines file and its checkpoint: what is written, and what is safely written."""

    def __init__(self, out: BinaryIO, path: Path, plan: _Plan) -> None:
        self._out = out
        self._path = Checkpoint.path_for(path)
        self._query = plan.query
        checkpoint = plan.checkpoint
        if checkpoint is None:
            self.seen: set[str] = set()
            self.written = 0
        else:
            self.seen = _written_keys(out, checkpoint.offset, path)
            out.truncate(checkpoint.offset)  # a page written after the checkpoint goes
            out.seek(checkpoint.offset)
            self.written = checkpoint.written

    def fresh(self, items: list[HalResource]) -> list[HalResource]:
        """The items not written yet (a list that shifted may show one twice)."""
        fresh: list[HalResource] = []
        on_page: set[str] = set()
        for message in items:
            key = _message_key(message)
            if key not in self.seen and key not in on_page:
                on_page.add(key)
                fresh.append(message)
        return fresh

    def write(self, messages: list[HalResource]) -> None:
        for message in messages:
            line = json.dumps(dict(message.document), ensure_ascii=False)
            self._out.write(line.encode() + b"\n")
            self.seen.add(_message_key(message))
        self.written += len(messages)

    def commit(self, position: str | None) -> None:
        """Make what is written durable, then record it: a crash between the two only
        repeats work."""
        self._out.flush()
        os.fsync(self._out.fileno())
        Checkpoint(
            query=self._query,
            position=position,
            offset=self._out.tell(),
            written=self.written,
            done=position is None,
        ).save(self._path)


async def _harvest(args: argparse.Namespace, plan: _Plan) -> None:
    if args.attachments is not None:
        args.attachments.mkdir(exist_ok=True)
        sweep_partials(args.attachments)
    timeout = httpx.Timeout(60.0, connect=10.0)
    with args.out.open("r+b" if plan.checkpoint is not None else "w+b") as file:
        output = _Output(file, args.out, plan)
        progress = _Progress(output.written)
        position: str | None = None
        async with httpx.AsyncClient(auth=plan.auth, verify=plan.verify, timeout=timeout) as http:
            altinn2 = Altinn2Client(http, base_url=plan.site)
            pager = altinn2.messages(
                args.who,
                filter=args.filter,
                date_from=args.date_from,
                date_to=args.date_to,
                resume_from=None if plan.checkpoint is None else plan.checkpoint.position,
            )
            download = functools.partial(_attachments, altinn2, args.attachments, progress)
            this_run = 0
            try:
                async for page in pager.pages():
                    progress.pages += 1
                    fresh = output.fresh(page.items)
                    budget = None if args.max is None else args.max - this_run
                    cut = budget is not None and len(fresh) > budget
                    fresh = fresh[:budget]
                    if args.attachments is not None:
                        await each(fresh, download, concurrency=args.concurrency)
                    output.write(fresh)
                    this_run += len(fresh)
                    progress.messages = output.written
                    # A page cut short by --max is fetched again on --resume (and its written
                    # messages skipped); a whole page is done.
                    position = page.url if cut else page.next
                    output.commit(position)
                    progress.update()
                    if args.max is not None and this_run >= args.max:
                        break
            except AltinnError as exc:
                note = (
                    f"the {output.written} messages saved so far stay, and --resume continues "
                    "from there"
                    if output.written
                    else ""
                )
                raise StoppedError(note) from exc
    progress.done("" if position is None else "(more to come: --resume continues)")


async def _attachments(
    altinn2: Altinn2Client, root: Path, progress: _Progress, message: HalResource
) -> None:
    links = altinn2.attachments(message)
    if not links:
        # A list item may leave its attachment links out: the whole message has them. Fetched
        # without marking it read: a harvest never changes the mailbox.
        full = await altinn2.message_details(message)
        links = altinn2.attachments(full)
    if not links:
        return
    folder = root / safe_filename(str(message.get("MessageId") or ""), default="message")
    names: set[str] = set()
    for link in links:
        name = safe_filename(
            str(link.attributes.get("fileName") or link.name or ""), default="attachment"
        )
        stem, dot, extension = name.rpartition(".")
        candidate, number = name, 1
        while candidate in names:
            number += 1
            candidate = f"{stem} ({number}).{extension}" if dot else f"{name} ({number})"
        names.add(candidate)
        path = await altinn2.download(link, folder, filename=candidate)
        progress.attachments += 1
        progress.bytes += path.stat().st_size
        progress.update()
