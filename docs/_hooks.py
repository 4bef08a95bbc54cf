"""MkDocs hooks: the CLI reference generated from the parser, and includes of other files.

Two directives, each an HTML comment alone on a line of a page:

- ``<!-- cli-reference -->`` becomes the reference of every ``altinn-async`` command, walked
  from ``altinn_async._cli.build_parser()`` when the site is built: each command's and
  sub-command's usage, description and options, as argparse knows them.
- ``<!-- include: PATH#SLUG -->`` becomes the ``## `` section of the repository's file PATH
  whose heading has that slug, heading included, up to the next ``## `` heading (so
  ``benchmarks/README.md#latest-results`` is the results table ``python -m benchmarks`` writes).

And one file from outside ``docs/``: ``benchmarks/concurrency.png``, the committed plot, is
served at the same path in the site.

A directive that cannot be carried out (no such file or section) fails the build.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Files of the repository served in the site at the same path (the benchmarks page shows it).
EXTRA_FILES = ("benchmarks/concurrency.png",)
USAGE_WIDTH = 76

_CLI = re.compile(r"^<!-- cli-reference -->$", re.MULTILINE)
_INCLUDE = re.compile(r"^<!-- include: (?P<path>[^#\s]+)#(?P<slug>[a-z0-9-]+) -->$", re.MULTILINE)
_SECTION = re.compile(r"^## (.+)$", re.MULTILINE)


class DirectiveError(Exception):
    """A directive of a page that cannot be carried out."""


def slug(heading: str) -> str:
    """The anchor MkDocs' ``toc`` gives a heading (lower case, words joined by ``-``)."""
    text = re.sub(r"[`*_]", "", heading).lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[\s-]+", "-", text).strip("-")


def section(path: str, wanted: str) -> str:
    """The ``## `` section of the repository's file ``path`` whose heading's slug is ``wanted``.

    Raises:
        DirectiveError: there is no such file, or no such section in it.
    """
    file = ROOT / path
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise DirectiveError(f"include: {path}: {exc.strerror}") from exc
    headings = list(_SECTION.finditer(text))
    for number, heading in enumerate(headings):
        if slug(heading.group(1)) == wanted:
            end = headings[number + 1].start() if number + 1 < len(headings) else len(text)
            return text[heading.start() : end].rstrip() + "\n"
    found = ", ".join(slug(h.group(1)) for h in headings)
    raise DirectiveError(f"include: {path} has no section #{wanted} (it has: {found})")


# --- the CLI reference ------------------------------------------------------------------------


def _escape(text: str) -> str:
    """argparse's help text as Markdown text: no HTML, no emphasis, no links."""
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", html.escape(text, quote=False))


@contextlib.contextmanager
def _columns(width: int) -> Iterator[None]:
    # argparse wraps usage to the terminal's width (COLUMNS); the page is the same everywhere.
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(width + 2)
    try:
        yield
    finally:
        if before is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = before


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each sub-command, in the order they were added."""
    found: list[tuple[str, str, argparse.ArgumentParser]] = []
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}  # noqa: SLF001
            found.extend((name, helps.get(name, ""), sub) for name, sub in action.choices.items())
    return found


def _option(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    if action.option_strings:
        metavar = ""
        if action.nargs != 0:
            given = action.metavar or action.dest.upper()
            metavar = " " + (given if isinstance(given, str) else " ".join(given))
        names = ", ".join(f"`{name}{metavar}`" for name in action.option_strings)
    else:
        names = f"`{action.metavar or action.dest}`"
    help_text = action.help or ""
    if "%" in help_text:
        # As argparse expands it: %(default)s, %(prog)s, ...
        values = {**vars(action), "prog": parser.prog}
        help_text = help_text % values
    facts = []
    if action.required and action.option_strings:
        facts.append("required")
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
        facts.append("one of " + ", ".join(f"`{choice}`" for choice in action.choices))
    default = action.default
    if (
        action.option_strings
        and action.nargs != 0
        and default not in (None, False, argparse.SUPPRESS, [])
        and str(default) not in help_text  # the help says it already: "port (8080; ...)"
    ):
        facts.append(f"default `{default}`")
    if isinstance(action, argparse._AppendAction):  # noqa: SLF001
        facts.append("repeatable")
    line = f"- {names}"
    if help_text:
        line += f": {_escape(help_text)}"
    if facts:
        line += f" ({'; '.join(facts)})"
    return line


def _exclusive(parser: argparse.ArgumentParser) -> list[str]:
    lines = []
    for group in parser._mutually_exclusive_groups:  # noqa: SLF001
        names = ", ".join(f"`{a.option_strings[0]}`" for a in group._group_actions)  # noqa: SLF001
        lines.append(f"{'Exactly' if group.required else 'At most'} one of {names}.")
    return lines


def _command(name: str, summary: str, parser: argparse.ArgumentParser, level: int) -> list[str]:
    lines = [f"{'#' * level} `{parser.prog}`", ""]
    if summary:
        lines += [f"*{_escape(summary[0].upper() + summary[1:])}.*", ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    if parser.description:
        lines += [_escape(parser.description), ""]
    for group in parser._action_groups:  # noqa: SLF001
        actions = [
            a
            for a in group._group_actions  # noqa: SLF001
            if a.help != argparse.SUPPRESS
            and not isinstance(a, argparse._SubParsersAction | argparse._HelpAction)  # noqa: SLF001
        ]
        if not actions:
            continue
        lines += [f"**{_escape(group.title or 'options').capitalize()}**", ""]
        lines += [_option(action, parser) for action in actions]
        lines.append("")
    exclusive = _exclusive(parser)
    if exclusive:
        lines += [*exclusive, ""]
    subcommands = _subcommands(parser)
    if subcommands and level > 1:
        lines += [
            "Sub-commands: "
            + ", ".join(f"[`{sub_name}`](#{slug(sub.prog)})" for sub_name, _, sub in subcommands)
            + ".",
            "",
        ]
    for sub_name, sub_summary, sub in subcommands:
        lines += _command(sub_name, sub_summary, sub, level + 1)
    return lines


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The Markdown reference of every command of ``parser`` (``build_parser()`` by default)."""
    if parser is None:
        from altinn_async._cli import build_parser  # noqa: PLC0415 - only when building

        parser = build_parser()
    with _columns(USAGE_WIDTH):
        lines = []
        for name, summary, sub in _subcommands(parser):
            lines += _command(name, summary, sub, 2)
    return "\n".join(lines).rstrip() + "\n"


def render(markdown: str) -> str:
    """The page's Markdown with its directives carried out.

    Raises:
        DirectiveError: an include names no file or section there is.
    """
    markdown = _INCLUDE.sub(lambda m: section(m.group("path"), m.group("slug")), markdown)
    if _CLI.search(markdown):
        reference = cli_reference()
        markdown = _CLI.sub(lambda _: reference, markdown)
    return markdown


# --- MkDocs' hooks ----------------------------------------------------------------------------


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Carry out the page's directives."""
    del config, files
    from mkdocs.exceptions import PluginError  # noqa: PLC0415 - MkDocs is there when it runs

    try:
        return render(markdown)
    except DirectiveError as exc:
        raise PluginError(f"{page.file.src_uri}: {exc}") from exc


def on_files(files: Any, config: Any) -> Any:
    """Serve `EXTRA_FILES` from the repository at the same paths."""
    from mkdocs.structure.files import File  # noqa: PLC0415

    for path in EXTRA_FILES:
        files.append(File.generated(config, path, abs_src_path=str(ROOT / path)))
    return files
