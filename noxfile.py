"""Development sessions: ``nox`` runs lint, typing, tests and docs; ``-s bench``, ``-s demo``."""

from __future__ import annotations

import os
import shutil

import nox

nox.options.sessions = ["lint", "typing", "tests", "docs"]
nox.options.error_on_missing_interpreters = True

RUFF = "ruff==0.17.6"
# Test modules whose library code runs in other processes, on httpx whatever the session.
SUBPROCESS_ONLY = (
    "test_cli_emulator.py",
    "test_example_browser.py",
    "test_example_service.py",
    "test_harvest_kill.py",
    "test_release.py",
    "test_benchmarks_raw.py",
)
MYPY = "mypy==2.4.1"


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff: lint rules and formatting."""
    session.install(RUFF)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict over the library, the tests and the benchmarks.

    httpx2 is installed, so that the types of both httpx packages are checked, and MkDocs, for
    the docs' hooks.
    """
    session.install("-e", ".[test,httpx2,docs]", MYPY, "nox")  # docs: the hooks import mkdocs
    session.run("mypy")


@nox.session
@nox.parametrize("http", ["httpx", "httpx2"])
def tests(session: nox.Session, http: str) -> None:
    """The whole test suite, every async test on asyncio and on trio, on each HTTP package.

    ``http="httpx"``: httpx alone, as most users have it. ``http="httpx2"``: httpx2 installed
    too; first the tests of an httpx2 client beside httpx (``tests/test_httpx2.py``), then the
    suite with ``import httpx`` being httpx2 (``--http-library=httpx2``), on asyncio, without the
    modules whose library code runs in subprocesses (`SUBPROCESS_ONLY`).

    The interop tests run a real OpenID provider on Node.js; npm installs it from its lock file.
    """
    session.install("-e", ".[test,httpx2]" if http == "httpx2" else ".[test]")
    if shutil.which("npm"):
        session.run(
            "npm",
            "ci",
            "--no-audit",
            "--no-fund",
            "--prefix",
            "tests/interop/provider",
            external=True,
        )
    elif os.environ.get("CI"):
        session.error("npm is not on PATH: CI must run the interop tests (tests/interop/provider)")
    if http == "httpx2":
        session.run("pytest", "tests/test_httpx2.py", *session.posargs)
        # The async tests run on asyncio here (test_httpx2.py and the httpx session run trio), and
        # the modules whose library code runs in subprocesses (on httpx: the CLI as a command,
        # the example service, kill tests, the wheel in its own venv) are left to the httpx
        # session, so that CI stays under 20 minutes.
        session.run(
            "pytest", "--http-library=httpx2", "-k", "not trio",
            *(f"--ignore=tests/{name}" for name in SUBPROCESS_ONLY), *session.posargs,
        )  # fmt: skip
    else:
        session.run("pytest", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site, built strict (a warning fails it) into ``site/``.

    ``nox -s docs -- --site-dir DIR`` builds it elsewhere; ``mkdocs serve`` (after ``pip install
    -e '.[docs]'``) serves it while you edit.
    """
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: ratios measured within one run, printed and checked against their targets.

    ``nox -s bench -- concurrency aiohttp`` runs some of them. httpx-aiohttp is installed for the
    transport evaluation alone (the library does not depend on it), matplotlib for the plot;
    valgrind (Debian's package) for the instruction counts, skipped without it. The results
    go into ``benchmarks/README.md`` and ``benchmarks/results.json``.
    """
    session.install("-e", ".[test]", "httpx-aiohttp", "matplotlib")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: the demo on the embedded emulator."""
    session.install("-e", ".")
    session.run("altinn-async", "demo", *session.posargs)
