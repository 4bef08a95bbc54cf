"""What the commands share: secrets from the environment, output files, and error messages that
speak the command line's language."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

from .._harvest import HarvestError
from ..exceptions import AltinnError, NetworkError

__all__ = [
    "CLIError",
    "StoppedError",
    "UsageError",
    "describe_error",
    "exit_status",
    "interrupted",
    "secret_from_env",
    "writable_file",
]


class CLIError(Exception):
    """A command that ran and failed, for a reason the message gives: exit status 1."""


class UsageError(CLIError):
    """Wrong input (a flag, a file, an environment variable, the environment) that keeps a
    command from running at all: the message says which and what to do. Exit status 2, as
    argparse's own errors, in every command."""


class StoppedError(CLIError):
    """A long run stopped on an error (its ``__cause__``); ``note`` says what is kept."""

    def __init__(self, note: str) -> None:
        super().__init__(note)
        self.note = note


def secret_from_env(variable: str | None, *, flag: str, prompt: str | None = None) -> str | None:
    """The secret in environment variable ``variable`` (named by ``flag``), else asked for on a
    terminal when ``prompt`` is given, else ``None``.

    Raises:
        CLIError: the variable is named but not set.
    """
    if variable:
        value = os.environ.get(variable)
        if value is None:
            raise UsageError(f"{flag} {variable}: that environment variable is not set")
        return value
    if prompt is not None and sys.stdin.isatty():
        return getpass.getpass(prompt)
    return None


def writable_file(path: Path, *, flag: str) -> Path:
    """``path``, if a file can be created there: its folder exists and it is not a folder.

    Raises:
        CLIError: it cannot be.
    """
    folder = path.parent
    if path.is_dir():
        raise UsageError(f"{flag} {path}: that is a folder, not a file")
    if not folder.is_dir():
        raise UsageError(f"{flag} {path}: the folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{flag} {path}: the folder {folder} is not writable")
    return path


def _network_hint(error: NetworkError) -> str | None:
    reason = error.reason.lower()
    if "certificate_verify_failed" in reason or "certificate verify failed" in reason:
        return "the server's certificate is not trusted: pass --ca with the CA that issued it"
    if "wrong version number" in reason or "record layer failure" in reason:
        return "is it https where the server speaks http (or the other way round)?"
    if "connection refused" in reason or "all connection attempts failed" in reason:
        return "is anything listening there? check the URL and the port"
    if "name or service not known" in reason or "nodename nor servname" in reason:
        return "the host name does not resolve: check the URL"
    if "timeout" in reason or "timed out" in reason:
        return "the server did not answer in time"
    return None


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is (or a task group's failure holds) a Ctrl-C."""
    return any(isinstance(leaf, KeyboardInterrupt) for leaf in _leaves(exc))


def describe_error(exc: BaseException) -> str | None:
    """One line for a failure the user can act on, or ``None`` for a bug (to be raised).

    Exception groups from task groups are looked into: the first failure that is not a
    cancellation is the one to tell.
    """
    described = _described(exc)
    return None if described is None else described[1]


def exit_status(exc: BaseException) -> int:
    """The exit status for a failure `describe_error` tells: 2 for wrong input (a `UsageError`,
    also from inside a task group), else 1."""
    described = _described(exc)
    return 2 if described is not None and isinstance(described[0], UsageError) else 1


def _described(exc: BaseException) -> tuple[BaseException, str] | None:
    """The failure that is told, and its line."""
    for leaf in _leaves(exc):
        if isinstance(leaf, StoppedError) and leaf.__cause__ is not None:
            inner = describe_error(leaf.__cause__)
            if inner is not None:
                return leaf, f"{inner}; {leaf.note}" if leaf.note else inner
        cause = leaf.__cause__
        if isinstance(leaf, NetworkError) or (
            isinstance(leaf, HarvestError) and isinstance(cause, NetworkError)
        ):
            hint = _network_hint(leaf if isinstance(leaf, NetworkError) else cause)  # type: ignore[arg-type]
            return leaf, f"{leaf} (hint: {hint})" if hint else str(leaf)
        if isinstance(leaf, AltinnError | CLIError):
            return leaf, str(leaf)
        if isinstance(leaf, OSError):
            where = f" {leaf.filename}" if leaf.filename else ""
            return leaf, f"cannot use{where}: {leaf.strerror or leaf}"
    return None
