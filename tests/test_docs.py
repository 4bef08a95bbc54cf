"""Every code block of the documentation (``docs/**/*.md``) runs as written, and prints and does
what its page says.

Each fenced block carries a mark on the line before it (see ``docs/development.md``):

- ``<!-- test: NAME -->`` on a ``python`` or ``sh`` block: a test below runs it, against the
  served emulator of ``tests/playground.py`` (``altinn.TEST``, and ``--env test`` for
  ``altinn-async`` commands, point at it), and checks what it printed and did;
- ``<!-- output of: NAME -->`` on a ``text`` block: what block NAME prints, compared by NAME's
  test;
- ``<!-- not run: REASON -->`` on a block no test runs, and why.

The other tests here cover what the site build makes of the pages: the API reference lists the
whole public API, the CLI reference every command and option, and the benchmarks page the
results table of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import attrs
import httpx
import pytest
import redis
from arq.worker import Worker

import altinn_async as altinn
import altinn_async.exceptions
from altinn_async._cli import build_parser, main
from altinn_async.testing import DEFAULT_PID

from .helpers import uvicorn_serving
from .playground import MAILBOX, Playground, opened, playground, run

__all__ = ["opened", "playground"]  # fixtures, used by name

ROOT = Path(__file__).resolve().parent.parent

pytest_plugins = ["pytester"]
DOCS = ROOT / "docs"
_FENCE = re.compile(r"^```(?P<lang>[a-z]*)\n(?P<code>.*?)^```$", re.DOTALL | re.MULTILINE)
_MARK = re.compile(r"^<!-- (?P<kind>test|output of|not run): (?P<value>.+) -->$")


@attrs.frozen
class Block:
    page: str  # relative to docs/
    line: int
    lang: str
    code: str
    kind: str | None  # "test", "output of", "not run", or None: unmarked
    value: str

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def doc_blocks() -> list[Block]:
    """Every fenced block of every page, with the mark on the line before it."""
    blocks = []
    for path in sorted(DOCS.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            mark = _MARK.match(before)
            blocks.append(
                Block(
                    page=path.relative_to(DOCS).as_posix(),
                    line=text.count("\n", 0, match.start()) + 1,
                    lang=match.group("lang"),
                    code=match.group("code"),
                    kind=mark.group("kind") if mark else None,
                    value=mark.group("value") if mark else "",
                )
            )
    return blocks


BLOCKS = doc_blocks()
TESTED = {b.value: b for b in BLOCKS if b.kind == "test"}


def block(name: str) -> Block:
    return TESTED[name]


def output_of(name: str) -> str:
    return next(b.code for b in BLOCKS if b.kind == "output of" and b.value == name)


# --- every block is run, or says why not ------------------------------------------------------


def test_every_block_is_run_or_says_why_not() -> None:
    unmarked = [b.where for b in BLOCKS if b.kind is None]
    assert not unmarked, (
        f"blocks without <!-- test: -->, <!-- not run: --> or output mark: {unmarked}"
    )
    for b in BLOCKS:
        if b.kind == "test":
            assert b.lang in ("python", "sh"), b.where
        elif b.kind == "output of":
            assert b.lang == "text", b.where
            assert b.value in TESTED, f"{b.where}: output of {b.value!r}, which is no block"
        else:
            assert len(b.value) > 20, f"{b.where}: say why it is not run"


def test_the_docs_have_the_blocks_this_test_knows() -> None:
    names = [b.value for b in BLOCKS if b.kind == "test"]
    assert len(names) == len(set(names)), "two blocks share a name"
    assert sorted(names) == sorted(
        [
            "service",
            "harvest",
            "harvest-cli",
            "fastapi",
            "emulator",
            "emulator-faults",
            "maskinporten-error",
            "doctor",
            "doctor-refused",
            "idporten",
            "exchange-validate",
            "events",
            "messaging",
            "altinn2",
            "selfservice",
            "selfservice-client",
            "pytest-plugin",
            "redis",
            "queue",
            "emulator-cli",
            "emulator-token",
        ]
    )
    # ... and each has a test here that runs it.
    source = Path(__file__).read_text()
    for name in names:
        assert f'("{name}"' in source, f"no test runs the block {name!r}"


def test_no_example_needs_a_secret_in_its_code() -> None:
    # The examples read their secrets from the environment: nothing of the playground's is in them.
    for b in BLOCKS:
        assert "Passord1" not in b.code
        assert "the-api-key" not in b.code


# --- running the blocks -----------------------------------------------------------------------


@pytest.fixture
def on_backend(anyio_backend: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The examples' own ``anyio.run(main)`` runs on asyncio, and again on trio: the one change
    to them (the examples that need asyncio, Redis's and arq's, do not take this fixture)."""
    real_run = anyio.run
    monkeypatch.setattr(anyio, "run", functools.partial(real_run, backend=anyio_backend))
    return anyio_backend


def run_block(name: str) -> dict[str, Any]:
    b = block(name)
    assert b.lang == "python"
    return run(b.code, DOCS / b.page)


def commands(code: str) -> Iterator[tuple[dict[str, str], list[str]]]:
    """The (environment, argv) of each command of a shell block (``\\`` continues a line)."""
    for line in code.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        environment = {}
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            key, value = words.pop(0).split("=", 1)
            environment[key] = value
        if words:
            yield environment, words


def run_shell(name: str, monkeypatch: pytest.MonkeyPatch, **replace: str) -> list[int]:
    """Run each ``altinn-async`` command of the block in this process, as its ``main``; their
    exit statuses. ``replace`` swaps text of the block (a port) before it is run."""
    code = block(name).code
    for old, new in replace.items():
        code = code.replace(old, new)
    statuses = []
    for environment, argv in commands(code):
        assert argv[0] == "altinn-async", f"{name}: only altinn-async commands run here"
        for key, value in environment.items():
            monkeypatch.setenv(key, value)
        statuses.append(main(argv[1:]))
    return statuses


def test_service(
    playground: Playground,
    opened: list[httpx.AsyncClient],
    capsys: pytest.CaptureFixture[str],
    on_backend: str,
) -> None:
    run_block("service")
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 20
    assert all(line.split()[1] == "ttd/app" for line in printed)
    assert playground.emulator.requests["maskinporten.token"] == 1
    assert opened
    assert all(client.is_closed for client in opened)


def test_harvest(
    playground: Playground,
    opened: list[httpx.AsyncClient],
    capsys: pytest.CaptureFixture[str],
    on_backend: str,
) -> None:
    run_block("harvest")
    assert capsys.readouterr().out.strip() == "33 instances, 30 files"  # 3 have no data
    lines = Path("instances.jsonl").read_text().splitlines()
    assert len({json.loads(line)["id"] for line in lines}) == len(lines) == 33
    run_block("harvest")  # resumed: nothing new, nothing twice
    assert capsys.readouterr().out.strip() == "0 instances, 0 files"
    assert len(Path("instances.jsonl").read_text().splitlines()) == 33
    assert all(client.is_closed for client in opened)


def test_harvest_cli(
    playground: Playground, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_shell("harvest-cli", monkeypatch) == [0]
    lines = Path("instances.jsonl").read_text().splitlines()
    assert len({json.loads(line)["id"] for line in lines}) == len(lines) == 33
    assert len([p for p in Path("data").rglob("*") if p.is_file()]) == 30
    assert "33" in capsys.readouterr().err  # the summary
    assert playground.emulator.requests["maskinporten.token"] == 1


def test_fastapi(playground: Playground) -> None:
    namespace = run_block("fastapi")
    party = playground.emulator.person(DEFAULT_PID).party_id

    async def call(base: str) -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        key = altinn.SigningKey.from_pem_file("client.pem", kid="my-key-id")
        async with (
            altinn.AltinnExchangeAuth(
                altinn.MaskinportenAuth(
                    client_id="my-client-id", key=key, environment=altinn.TEST,
                    scopes=["altinn:serviceowner/instances.read"],
                )
            ) as auth,
            httpx.AsyncClient(base_url=base) as http,
        ):  # fmt: skip
            bearer = (await auth.get_token()).access_token
            good = await http.get("/whoami", headers={"Authorization": f"Bearer {bearer}"})
            bad = await http.get("/whoami")
            # A person logs in (the emulator plays the browser; the cookies are Secure, so
            # they are carried by hand over this plain-http loopback).
            start = await http.get("/auth/login", params={"next": "/my-instances"})
            callback = await playground.emulator.idporten_login(start.headers["location"])
            query = httpx.URL(callback).query.decode()
            done = await http.get(
                f"/auth/callback?{query}",
                headers={"cookie": start.headers["set-cookie"].split(";")[0]},
            )
            session = done.headers["set-cookie"].split(";")[0]
            mine = await http.get(
                "/my-instances", params={"party_id": party}, headers={"cookie": session}
            )
            return good, bad, mine

    with uvicorn_serving(lambda _: namespace["app"]) as url:
        good, bad, mine = anyio.run(call, url)
    assert good.json() == {"org": "ttd", "org_number": "405003309"}
    assert bad.status_code == 401
    assert len(mine.json()) == 3
    assert all(i.startswith(f"{party}/") for i in mine.json())


def test_emulator(opened: list[httpx.AsyncClient], on_backend: str) -> None:
    namespace = run_block("emulator")  # it asserts what it found itself
    assert "main" in namespace
    assert opened
    assert all(client.is_closed for client in opened)


def test_emulator_faults(
    opened: list[httpx.AsyncClient], capsys: pytest.CaptureFixture[str], on_backend: str
) -> None:
    run_block("emulator-faults")
    assert capsys.readouterr().out.strip() == "40 instances, 3 requests"
    assert all(client.is_closed for client in opened)


def test_maskinporten_error(
    playground: Playground, capsys: pytest.CaptureFixture[str], on_backend: str
) -> None:
    run_block("maskinporten-error")
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "invalid_scope MP-200",
        "the client is not granted one of the scopes: add it to the client in Samarbeidsportalen",
    ]
    assert playground.emulator.requests["maskinporten.token"] == 1


def _checks(output: str) -> list[tuple[str, str]]:
    """(verdict, check) of each line of a doctor's output: what does not change between runs."""
    return re.findall(r"^  (ok|warn|FAIL|skip) +(\w+) ", output, re.MULTILINE)


def test_doctor(
    playground: Playground, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_shell("doctor", monkeypatch) == [0]
    printed = capsys.readouterr().out
    checks = {name: verdict for verdict, name in _checks(printed)}
    assert checks["grant"] == checks["exchange"] == checks["key"] == checks["clock"] == "ok"
    assert "FAIL" not in checks.values()
    assert playground.emulator.requests["authentication.exchange"] == 1


def test_doctor_refused(
    playground: Playground, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_shell("doctor-refused", monkeypatch) == [1]
    printed = capsys.readouterr().out
    shown = output_of("doctor-refused")
    assert _checks(printed) == _checks(shown)
    assert printed.splitlines()[-1] == shown.splitlines()[-1]  # the summary
    assert printed.splitlines()[0] == shown.splitlines()[0]
    assert "MP-200" in printed
    assert "MP-200" in shown
    assert playground.emulator.requests["authentication.exchange"] == 0


def test_idporten(playground: Playground, opened: list[httpx.AsyncClient], on_backend: str) -> None:
    routes = run_block("idporten")
    party = playground.emulator.person(DEFAULT_PID).party_id

    async def browse() -> tuple[str, list[str], str]:
        url = await routes["login"]("web-session-1")
        callback_url = await playground.emulator.idporten_login(url, pid=DEFAULT_PID)
        said = await routes["callback"]("web-session-1", callback_url)
        first = await routes["my_instances"]("web-session-1", party)
        again = await routes["my_instances"]("web-session-1", party)
        assert again == first
        bye = await routes["logout"]("web-session-1")
        with pytest.raises(altinn.LoginRequiredError):
            await routes["my_instances"]("web-session-1", party)
        await routes["shutdown"]()
        return said, first, bye

    said, instances, bye = anyio.run(browse)
    assert said == "logged in at idporten-loa-substantial"
    assert len(instances) == 3
    assert "post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Flogged-out" in bye
    assert playground.emulator.requests["authentication.exchange"] == 1  # one exchange, 2 calls
    assert all(client.is_closed for client in opened)


def test_exchange_validate(
    playground: Playground,
    opened: list[httpx.AsyncClient],
    capsys: pytest.CaptureFixture[str],
    on_backend: str,
) -> None:
    run_block("exchange-validate")
    first, second = capsys.readouterr().out.splitlines()
    assert first == "ttd 405003309 altinn:serviceowner/instances.read"
    assert second.startswith("AltinnPrincipal(")
    assert "eyJ" not in second  # no token
    assert playground.emulator.requests["authentication.exchange"] == 1
    assert all(client.is_closed for client in opened)


def test_events(
    playground: Playground,
    opened: list[httpx.AsyncClient],
    capsys: pytest.CaptureFixture[str],
    on_backend: str,
) -> None:
    run_block("events")
    # The 3 instances made a moment ago are not listed yet: Events lists an event 30 s after.
    assert capsys.readouterr().out.splitlines() == ["30 instances created", "0 since"]
    assert all(client.is_closed for client in opened)


def test_messaging(
    playground: Playground,
    opened: list[httpx.AsyncClient],
    capsys: pytest.CaptureFixture[str],
    on_backend: str,
) -> None:
    run_block("messaging")
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 4  # three dialogs, then the summary
    assert printed[-1] == f"{MAILBOX} dialogs, {MAILBOX} attachments"
    lines = Path("mailbox.jsonl").read_text().splitlines()
    assert len({json.loads(line)["dialog"]["id"] for line in lines}) == len(lines) == MAILBOX
    run_block("messaging")
    assert capsys.readouterr().out.strip().splitlines()[-1] == "0 dialogs, 0 attachments"
    assert playground.emulator.requests["correspondence.markasread"] == 0
    assert all(client.is_closed for client in opened)


def test_altinn2(
    playground: Playground,
    opened: list[httpx.AsyncClient],
    capsys: pytest.CaptureFixture[str],
    on_backend: str,
) -> None:
    run_block("altinn2")
    printed = capsys.readouterr().out
    assert "Vedtak -> attachments/vedtak.pdf" in printed  # the "../../" stayed out
    assert Path("attachments/vedtak.pdf").read_bytes() == b"%PDF-1.4"
    assert all(client.is_closed for client in opened)


def test_selfservice(
    opened: list[httpx.AsyncClient], capsys: pytest.CaptureFixture[str], on_backend: str
) -> None:
    run_block("selfservice")
    first, second = capsys.readouterr().out.splitlines()
    assert first == "910753614 ['provider:api/read'] private_key_jwt"
    assert second.startswith("AccessToken(")
    assert "provider:api/read" in second
    assert "eyJ" not in second  # no token in the repr
    assert all(client.is_closed for client in opened)


def test_selfservice_client(
    playground: Playground, opened: list[httpx.AsyncClient], capsys: pytest.CaptureFixture[str]
) -> None:
    run_block("selfservice-client")
    assert capsys.readouterr().out.strip() == "('key-2',)"
    requests = playground.emulator.requests
    assert requests["selfservice.clients"] == 1  # the create
    assert requests["maskinporten.token"] == 2  # the admin token, then the new client's
    # The new client's one grant was signed with key-1 (its token outlives the rotation).
    created = [g for g in playground.emulator.grants if g.client_id != "my-admin-client-id"]
    assert [g.kid for g in created] == ["key-1"]
    assert all(client.is_closed for client in opened)


def test_pytest_plugin(pytester: pytest.Pytester) -> None:
    # The sample test, as a team's test file, run by pytest with the plugin as installed.
    pytester.makepyfile(test_sample=block("pytest-plugin").code)
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error", "--strict-markers", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_count_instances?asyncio? PASSED*", "*test_count_instances?trio? PASSED*"]
    )


def test_redis(
    playground: Playground,
    opened: list[httpx.AsyncClient],
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_ENCRYPTION_KEY", "ab" * 32)
    for _ in range(2):  # a second process: its tokens come from Redis
        run_block("redis")
    printed = capsys.readouterr().out.splitlines()
    stores = (
        "RedisTokenStore(namespace='altinn_async') RedisPendingLoginStore(namespace='altinn_async')"
    )
    assert printed[3] == printed[7] == stores  # no secret in a repr
    assert printed[:3] == printed[4:7]
    assert len(printed) == 8
    assert all(len(line.split("/")) == 2 for line in printed[:3])  # party id / instance guid
    assert playground.emulator.requests["maskinporten.token"] == 1
    assert playground.emulator.requests["authentication.exchange"] == 1
    assert playground.emulator.requests["storage.instances"] == 2
    with redis.Redis.from_url(redis_url) as server:
        assert len(server.keys("altinn_async:token:*")) == 2  # the two tokens, encrypted
    assert all(client.is_closed for client in opened)


def test_queue(
    playground: Playground,
    opened: list[httpx.AsyncClient],
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_ENCRYPTION_KEY", "ab" * 32)
    module = run_block("queue")  # not __main__: nothing runs yet
    workers: list[Worker] = []

    async def deploy() -> None:
        # What `arq harvest_worker.WorkerSettings` starts, twice (here, in this process), and
        # `python harvest_worker.py`.
        workers.extend(
            Worker(**module["WorkerSettings"], handle_signals=False, poll_delay=0.05)
            for _ in range(2)
        )
        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for worker in workers:
                    group.start_soon(worker.main)
                await module["main"]()
                group.cancel_scope.cancel()
        with warnings.catch_warnings():
            # arq closes its pool with redis-py 5's deprecated close(): arq's, not ours.
            warnings.filterwarnings("ignore", "Call to deprecated close", DeprecationWarning)
            for worker in workers:
                await worker.close()

    anyio.run(deploy)
    assert capsys.readouterr().out.strip() == "33 instances from 8 shards"
    lines = Path("instances.jsonl").read_text().splitlines()
    assert len({json.loads(line)["id"] for line in lines}) == len(lines) == 33
    assert len([p for p in Path("data").rglob("*") if p.is_file()]) == 30  # 3 have no data
    assert sum(worker.jobs_complete for worker in workers) == 8
    with redis.Redis.from_url(redis_url) as server:
        assert server.keys("altinn_async:harvest:*") == []  # delete_harvest removed the run
    assert all(client.is_closed for client in opened)


def test_emulator_cli_and_a_token_from_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    free_port: Any,
) -> None:
    # The page's port, 8377, is swapped for a free one: the only change to the commands.
    port = str(free_port())
    monkeypatch.chdir(tmp_path)
    ((_, argv),) = list(commands(block("emulator-cli").code.replace("8377", port)))
    assert argv[:2] == ["altinn-async", "emulator"]
    with subprocess.Popen(
        [sys.executable, "-m", "altinn_async", *argv[1:]],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    ) as process:
        try:
            assert process.stdout is not None
            first = process.stdout.readline().strip()
            assert first == f"altinn-async emulator on http://127.0.0.1:{port}  (Ctrl-C stops it)"
            deadline = time.monotonic() + 30
            while process.stdout.readline().strip() != "Try:":
                assert time.monotonic() < deadline
            assert (tmp_path / "emulator-client.pem").stat().st_mode & 0o777 == 0o600

            assert run_shell("emulator-token", monkeypatch, **{"8377": port}) == [0]
            out, err = capsys.readouterr()
            token = out.strip()
            assert token.count(".") == 2  # a JWT on stdout, alone
            assert '"urn:altinn:org": "ttd"' in err  # its claims, decoded, on stderr
            assert token not in err
        finally:
            process.terminate()
            process.communicate(timeout=30)


# --- what the build makes of the pages --------------------------------------------------------


def hooks() -> ModuleType:
    """``docs/_hooks.py``, which MkDocs loads when it builds the site."""
    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "_hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_has_every_public_name() -> None:
    text = (DOCS / "reference" / "altinn_async.md").read_text()
    listed = re.findall(r"^::: altinn_async\.(\w+)$", text, re.MULTILINE)
    assert len(listed) == len(set(listed))
    exceptions = set(altinn_async.exceptions.__all__)  # on their own page
    expected = set(altinn.__all__) - exceptions - {"__version__", "exceptions"}
    assert set(listed) == expected
    for module in ("exceptions", "testing", "fastapi", "redis", "queue"):
        page = (DOCS / "reference" / f"{module}.md").read_text()
        assert f"::: altinn_async.{module}\n" in page


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_the_cli_reference_has_every_command_and_option() -> None:
    reference = hooks().cli_reference()
    parsers = list(_parsers(build_parser()))[1:]  # the commands, not altinn-async itself
    assert len(parsers) >= 9
    for parser in parsers:
        assert f"`{parser.prog}`\n" in reference, parser.prog
        assert parser.format_usage().split()[1] in reference
        if parser.description:
            assert parser.description.split()[0] in reference
        for action in parser._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in reference, f"{parser.prog} {option}"


def test_the_cli_reference_follows_the_parser() -> None:
    # Generated, not copied: a new option shows up in the page.
    parser = argparse.ArgumentParser(prog="tool")
    commands = parser.add_subparsers(dest="command")
    sub = commands.add_parser("run", help="run it", description="Runs the thing.")
    sub.add_argument("--speed", type=int, default=3, help="how fast")
    sub.add_argument("--name", required=True, help="who *you* are")
    reference = hooks().cli_reference(parser)
    assert "## `tool run`" in reference
    assert "*Run it.*" in reference
    assert "- `--speed SPEED`: how fast (default `3`)" in reference
    assert "- `--name NAME`: who \\*you\\* are (required)" in reference  # no emphasis
    assert "usage: tool run [-h] [--speed SPEED] --name NAME" in reference


def test_the_benchmarks_page_includes_the_results_table() -> None:
    page = hooks().render((DOCS / "benchmarks" / "index.md").read_text())
    readme = (ROOT / "benchmarks" / "README.md").read_text()
    results = readme[readme.index("<!-- results:") : readme.index("<!-- end of results")]
    rows = [line for line in results.splitlines() if line.startswith("| ")]
    assert len(rows) > 10
    assert results in page  # the table, as the benchmarks wrote it
    assert "![client CPU per request against concurrency](concurrency.png)" in page
    assert "benchmarks/concurrency.png" in hooks().EXTRA_FILES
    assert (ROOT / "benchmarks" / "concurrency.png").read_bytes().startswith(b"\x89PNG")
    assert "<!-- include:" not in page


def test_an_include_of_a_section_that_is_not_there_fails() -> None:
    module = hooks()
    with pytest.raises(module.DirectiveError, match="no section #nothing-here"):
        module.render("<!-- include: benchmarks/README.md#nothing-here -->\n")
    with pytest.raises(module.DirectiveError, match=r"no-such-file\.md"):
        module.render("<!-- include: no-such-file.md#x -->\n")
