"""The ``altinn-async`` command: ``demo``, ``emulator``, ``token``, ``harvest``, ``doctor`` and
``clients``.

Every failure is one line on stderr (``altinn-async: error: ...``) with a hint where there is
one. One rule for the exit status of every command: 2 for wrong input (a flag, a file, an
environment variable, the environment: a `UsageError`, as argparse's own errors), 1 when the
command ran and failed (refused, unreachable, a failed ``doctor`` check), 130 on Ctrl-C, which
stops within a second (a second Ctrl-C at once).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import anyio

from ..exceptions import AltinnError
from . import _clients, _demo, _doctor, _emulator, _harvest, _token
from ._common import CLIError, describe_error, exit_status, interrupted

__all__ = ["main"]

_COMMANDS = (_demo, _emulator, _token, _harvest, _doctor, _clients)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse's own message, but in the one-line form of every other failure.
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (the documentation of the CLI is generated from it)."""
    parser = _Parser(
        prog="altinn-async",
        description="Altinn, Maskinporten and ID-porten from Python: demo, emulator, tokens, "
        "harvests, a doctor, and Maskinporten clients.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    for command in _COMMANDS:
        command.add_parser(commands)
    return parser


def _print_warning(  # noqa: PLR0917 - warnings.showwarning's own signature
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    del category, filename, lineno, file, line
    print(f"altinn-async: warning: {message}", file=sys.stderr)


def run_async(function: Callable[[], Awaitable[None]], *, backend: str = "asyncio") -> None:
    """Run ``function`` until it returns; the first Ctrl-C cancels it, a second one exits.

    Raises:
        KeyboardInterrupt: the run was interrupted.
    """
    interrupted = False

    async def runner() -> None:
        nonlocal interrupted
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                nonlocal interrupted
                with anyio.open_signal_receiver(signal.SIGINT) as signals:
                    async for _ in signals:
                        if interrupted:
                            # Whatever is still cleaning up does not get to finish.
                            print("altinn-async: interrupted", file=sys.stderr, flush=True)
                            os._exit(130)
                        interrupted = True
                        group.cancel_scope.cancel()

            group.start_soon(watch)
            try:
                await function()
            finally:
                group.cancel_scope.cancel()

    anyio.run(runner, backend=backend)
    if interrupted:
        raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _print_warning
            status = args.run(args)
    except (KeyboardInterrupt, AltinnError, CLIError, OSError, BaseExceptionGroup) as exc:
        if interrupted(exc):
            print("altinn-async: interrupted", file=sys.stderr)
            return 130
        described = describe_error(exc)
        if described is None:
            raise
        print(f"altinn-async: error: {described}", file=sys.stderr)
        return exit_status(exc)
    return status if isinstance(status, int) else 0
