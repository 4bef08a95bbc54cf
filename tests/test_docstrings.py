"""Every code example in the library's docstrings runs as written, and does what it says.

The API reference (mkdocstrings) shows the docstrings of ``altinn_async``: their examples are
what a user copies. An example is a reST literal block (a paragraph ending in ``::`` and the
indented block after it) or a ``>>>`` doctest, in the docstring of a module, class, function,
method or attribute of any module under ``altinn_async/``. Each has an id,
``module.Qualname#N`` (the N-th example of that docstring), and an entry in this file:

- ``@runs(ID)`` on a check, which runs the example (`World.run`) and asserts what it did: what
  it printed, the values it made, what the emulator served;
- or ``NOT_RUN[ID]``: why it cannot run here.

An example runs in a namespace of its own: ``altinn`` (``import altinn_async as altinn``),
``httpx``, the public names of the module it is documented under (``altinn_async``,
``altinn_async.testing``, ``altinn_async.fastapi``, ...: the names of its reference page), and
what its check gives it: the things the example's text takes as given (``http``, ``exchange``,
``key``, ...). Other names it imports itself. Top-level ``await``, ``async with`` and
``async for`` run on anyio: on asyncio, and on trio too unless its check says otherwise. The
value of an expression statement followed by a comment that is a Python literal
(``key.organization_number  # '991825827'``) must be that value.

Most examples run against the served playground of ``tests/playground.py`` (``altinn.TEST`` is
it), served once for this module and seeded with a little more below (`docstring_seeding`); a
few against an in-process `Emulator` of their own.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import doctest
import importlib
import inspect
import io
import itertools
import json
import logging
import math
import re
import shutil
import textwrap
import tokenize
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest
import trio
import trio.testing
from arq.connections import RedisSettings

import altinn_async as altinn
import altinn_async.exceptions
import altinn_async.queue
import altinn_async.redis
from altinn_async.testing import (
    DEFAULT_PID,
    CertificateAuthority,
    Emulator,
    ExchangeRecord,
    GrantRecord,
)

from .helpers import private_pem
from .playground import MAILBOX_SCOPES, Playground, point_at, serving

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "altinn_async"
BOTH = ("asyncio", "trio")


# --- finding the examples ---------------------------------------------------------------------


@attrs.frozen
class Example:
    id: str
    public: str  # the public module it is documented under
    file: Path
    line: int  # the line of the file the block's code starts on
    code: str  # dedented
    doctest: bool

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _public_module(module: str) -> str:
    """The module a name of ``module`` is documented under: its first private part's parent."""
    parts = module.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_"):
            return ".".join(parts[:index])
    return module


def _string(node: ast.stmt) -> ast.Constant | None:
    if (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ):
        return node.value
    return None


def _docstrings(node: ast.AST, qualname: str) -> Iterator[tuple[str, ast.Constant]]:
    """(qualname, docstring) of a module, class or function and of what it defines: classes,
    functions and methods, and attributes with a docstring under them (as mkdocstrings reads)."""
    body: list[ast.stmt] = getattr(node, "body", [])
    if body and (docstring := _string(body[0])) is not None:
        yield qualname, docstring
    for before, statement in itertools.pairwise(body):
        if (docstring := _string(statement)) is None:
            continue
        targets = (
            before.targets
            if isinstance(before, ast.Assign)
            else [before.target]
            if isinstance(before, ast.AnnAssign)
            else []
        )
        for target in targets:
            if isinstance(target, ast.Name):
                yield f"{qualname}.{target.id}", docstring
    for statement in body:
        if isinstance(statement, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _docstrings(statement, f"{qualname}.{statement.name}")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _blocks(docstring: str) -> Iterator[tuple[int, str, bool]]:
    """(index of its first line, dedented code, is it a doctest) of each example."""
    lines = docstring.split("\n")
    rest = [line for line in lines[1:] if line.strip()]
    margin = min((_indent(line) for line in rest), default=0)
    index = 0
    while index < len(lines):
        line = lines[index]
        stripped = line.strip()
        starts_paragraph = index == 0 or not lines[index - 1].strip()
        if stripped.startswith(">>>") and starts_paragraph:
            end = index
            while end < len(lines) and lines[end].strip():
                end += 1
            yield index, _dedent(lines[index:end]), True
            index = end
            continue
        if stripped.endswith("::") and not stripped.startswith(".."):
            level = margin if index == 0 else _indent(line)
            start = index + 1
            while start < len(lines) and not lines[start].strip():
                start += 1
            end = start
            while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > level):
                end += 1
            while end > start and not lines[end - 1].strip():
                end -= 1
            if end > start:
                code = _dedent(lines[start:end])
                yield start, code, code.startswith(">>>")
                index = end
                continue
        index += 1


def _dedent(lines: list[str]) -> str:
    margin = min(_indent(line) for line in lines if line.strip())
    return "\n".join(line[margin:] for line in lines) + "\n"


def docstring_examples() -> list[Example]:
    examples = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        if "::" not in source and ">>>" not in source:
            continue  # no example (and no need to parse it)
        module = _module_name(path)
        counts: Counter[str] = Counter()
        for qualname, docstring in _docstrings(ast.parse(source), module):
            for index, code, is_doctest in _blocks(str(docstring.value)):
                counts[qualname] += 1
                examples.append(
                    Example(
                        id=f"{qualname}#{counts[qualname]}",
                        public=_public_module(module),
                        file=path,
                        line=docstring.lineno + index,
                        code=code,
                        doctest=is_doctest,
                    )
                )
    return examples


EXAMPLES = {example.id: example for example in docstring_examples()}


# --- running them -----------------------------------------------------------------------------


class _Shown(ast.NodeTransformer):
    """Each expression statement ``EXPR`` (but a constant: ``...``) becomes
    ``__shown__(LINE, EXPR)``, so that a check sees the values the example showed. Not inside
    the functions and classes it defines: they run later, if ever."""

    def visit_Expr(self, node: ast.Expr) -> ast.Expr:
        if isinstance(node.value, ast.Constant):
            return node
        call = ast.Call(
            ast.Name("__shown__", ast.Load()), [ast.Constant(node.end_lineno), node.value], []
        )
        return ast.copy_location(ast.Expr(ast.copy_location(call, node.value)), node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        return node

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AsyncFunctionDef:
        return node

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.ClassDef:
        return node


def _comments(code: str, first_line: int) -> dict[int, str]:
    """The comment at the end of each line of the code, by line of the file."""
    return {
        token.start[0] + first_line - 1: token.string[1:].strip()
        for token in tokenize.generate_tokens(io.StringIO(code).readline)
        if token.type == tokenize.COMMENT
    }


def _literal(comment: str) -> tuple[bool, object]:
    try:
        return True, ast.literal_eval(comment)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


@attrs.define
class World:
    """What a check has: the served playground, the example's namespace and its output."""

    served: Playground
    folder: Path
    capsys: pytest.CaptureFixture[str]
    caplog: pytest.LogCaptureFixture
    monkeypatch: pytest.MonkeyPatch
    request: pytest.FixtureRequest  # for the fixtures a few checks need (Redis, pytester)
    ids: dict[str, str]  # of what `docstring_seeding` made
    stack: contextlib.AsyncExitStack = attrs.field(factory=contextlib.AsyncExitStack)
    ran: int = 0
    shown: dict[int, Any] = attrs.field(factory=dict)  # line of the file: value
    _start: Counter[str] = attrs.field(factory=Counter)

    def __attrs_post_init__(self) -> None:
        self._start = Counter(self.served.emulator.requests)

    @property
    def emulator(self) -> Emulator:
        return self.served.emulator

    def last_grant(self) -> GrantRecord:
        grant = self.emulator.last_grant
        assert grant is not None, "no Maskinporten grant"
        return grant

    def last_exchange(self) -> ExchangeRecord:
        exchange = self.emulator.last_exchange
        assert exchange is not None, "no token exchange"
        return exchange

    def served_since(self) -> Counter[str]:
        """The requests the emulator served since the check began, by endpoint."""
        return self.served.emulator.requests - self._start

    def printed(self) -> list[str]:
        return self.capsys.readouterr().out.splitlines()

    @property
    def key(self) -> altinn.SigningKey:
        """The examples' client's key (``client.pem``, ``kid="my-key-id"``)."""
        return altinn.SigningKey.from_pem_file("client.pem", kid="my-key-id")

    async def enter(self, thing: Any) -> Any:
        """``thing``, entered for the rest of the check (closed when it ends)."""
        return await self.stack.enter_async_context(thing)

    async def maskinporten(self, *, system_user: bool = True) -> altinn.MaskinportenAuth:
        """The examples' Maskinporten client, acting for `ORG` (its system user)."""
        auth = altinn.MaskinportenAuth(
            client_id="my-client-id", key=self.key, scopes=SCOPES, environment=altinn.TEST,
            authorization_details=altinn.SystemUser(ORG) if system_user else None,
        )  # fmt: skip
        return await self.enter(auth)  # type: ignore[no-any-return]

    async def exchange(self, *, system_user: bool = True) -> altinn.AltinnExchangeAuth:
        """An Altinn token exchanged for the examples' Maskinporten token."""
        auth = altinn.AltinnExchangeAuth(await self.maskinporten(system_user=system_user))
        return await self.enter(auth)  # type: ignore[no-any-return]

    async def http(
        self, auth: httpx.Auth | None = None, base_url: str | None = None
    ) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on the platform (by default), with ``auth``."""
        client = httpx.AsyncClient(auth=auth, base_url=base_url or altinn.TEST.platform)
        return await self.enter(client)  # type: ignore[no-any-return]

    def namespace(self, example: Example, **names: Any) -> dict[str, Any]:
        public = importlib.import_module(example.public)
        namespace: dict[str, Any] = {"__name__": "__docstring_example__"}
        namespace.update({name: getattr(public, name) for name in public.__all__})
        namespace.update(altinn=altinn, httpx=httpx, **names)
        return namespace

    async def run(
        self, example: Example, namespace: dict[str, Any] | None = None, **names: Any
    ) -> dict[str, Any]:
        """Run the example (or the part of it `part` made) in ``namespace`` (default: a new
        one) with ``names`` added; the namespace."""
        if namespace is None:
            namespace = self.namespace(example)
        namespace.update(names)
        self.ran += 1
        if example.doctest:
            self._doctest(example, namespace)
            return namespace
        tree = ast.parse(example.code, str(example.file), "exec")
        ast.increment_lineno(tree, example.line - 1)
        tree = ast.fix_missing_locations(_Shown().visit(tree))
        code = compile(tree, str(example.file), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        comments = _comments(example.code, example.line)

        def shown(line: int, value: object) -> object:
            self.shown[line] = value
            literal, expected = _literal(comments.get(line, ""))
            assert not literal or value == expected, (
                f"{example.file.relative_to(ROOT)}:{line}: the example shows {expected!r}, "
                f"but the value is {value!r}"
            )
            return value

        namespace["__shown__"] = shown
        try:
            result = eval(code, namespace)  # noqa: S307 - the docstrings' own code
            if result is not None:
                await result
        except Exception as exc:
            exc.add_note(f"in the docstring example {example.id} ({example.where})")
            raise
        return namespace

    def read(self, example: Example) -> str:
        """The example's text, for an example that is no code (a diagram) and is checked
        against the code it shows."""
        self.ran += 1
        return example.code

    def _doctest(self, example: Example, namespace: dict[str, Any]) -> None:
        test = doctest.DocTestParser().get_doctest(
            example.code, namespace, example.id, str(example.file), example.line - 1
        )
        report = io.StringIO()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS, verbose=False)
        runner.run(test, out=report.write)
        assert not runner.failures, report.getvalue()


def part(example: Example, start: str | None = None, stop: str | None = None) -> Example:
    """The example from its line starting with ``start`` (default: its first) to before the one
    starting with ``stop`` (default: its end), to run in steps with names made in between."""
    lines = example.code.splitlines(keepends=True)

    def find(prefix: str) -> int:
        found = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        assert len(found) == 1, f"{example.where}: no one line starts with {prefix!r}"
        return found[0]

    begin = 0 if start is None else find(start)
    end = len(lines) if stop is None else find(stop)
    return attrs.evolve(example, code="".join(lines[begin:end]), line=example.line + begin)


# An async check, or a plain one for the backend "sync" (no event loop: a pytester run).
Check = Callable[[Example, World], Awaitable[None] | None]


@attrs.frozen
class Runs:
    check: Check
    backends: tuple[str, ...]
    mock_clock: bool  # trio's MockClock, jumping over waits (in-process emulators only)


RUNS: dict[str, Runs] = {}
NOT_RUN: dict[str, str] = {}  # id: why it cannot run here


def runs(
    *ids: str, backends: tuple[str, ...] = BOTH, mock_clock: bool = False
) -> Callable[[Check], Check]:
    """Register a check as the way to run the examples ``ids``."""

    def register(check: Check) -> Check:
        for example_id in ids:
            assert example_id not in RUNS, f"two checks run {example_id}"
            RUNS[example_id] = Runs(check, backends, mock_clock)
        return check

    return register


# --- the examples' world ----------------------------------------------------------------------

ORG = "312345678"  # the organisation the examples act for (a system user's customer)
RESOURCE = "skd-melding-x"
URN = f"urn:altinn:organization:identifier-no:{ORG}"
SCOPES = [
    "altinn:serviceowner/instances.read",
    "altinn:serviceowner/instances.write",
    *MAILBOX_SCOPES,
    "altinn:correspondence.read",
    "altinn:events.subscribe",
    "altinn:instances.read",
    "altinn:accessmanagement/authorizedparties.resourceowner",
    "altinn:serviceowner/consents",
]
P12_PASSWORD = b"p12-password"
OWNER_API_KEY = "the-service-owner-api-key"


def docstring_seeding(playground: Playground, folder: Path) -> dict[str, str]:
    """What the docstrings' examples name beyond the playground's seeding; the ids of the
    system user (``system_user``) and of a correspondence with expired attachments
    (``expired``)."""
    emulator = playground.emulator
    key = altinn.SigningKey.from_pem_file(folder / "client.pem", kid="my-key-id")
    # The examples' one client, with every scope they use; "..." is the client id of the
    # examples that leave it out (`client_id="..."`), and a registered ID-porten client too.
    for client_id in ("my-client-id", "..."):
        emulator.add_maskinporten_client(
            client_id, org_number="405003309", scopes=SCOPES, jwks=[key.public_jwk]
        )
    emulator.add_idporten_client(
        "...", client_secret="...", scopes=["openid", "altinn:instances.read"],
        redirect_uris=["https://app.example/callback", "https://app.example/auth/callback"],
    )  # fmt: skip
    # The enterprise certificate (Digdir's organisation number) of the admin client.
    ca = CertificateAuthority()
    emulator.trust_certificate_authority(ca)
    certificate = ca.issue_enterprise_certificate("991825827", "DIGITALISERINGSDIREKTORATET")
    for name in ("virksomhet.p12", "virksomhetssertifikat.p12"):
        (folder / name).write_bytes(certificate.pkcs12(P12_PASSWORD))
    emulator.add_maskinporten_client(
        "admin-client-id", org_number="991825827", scopes=altinn.ADMIN_SCOPES
    )
    # The organisation the examples act for, with a system user of the client, its messages
    # and their dialogs.
    emulator.add_organization(ORG, name="EKSEMPEL AS")
    system_user_id = emulator.add_system_user(client_id="my-client-id", customer_org=ORG)
    for title, published_on in (
        ("Skattemelding 2025", datetime(2026, 3, 1, tzinfo=UTC)),
        ("Skatteoppgjør", datetime(2026, 6, 1, tzinfo=UTC)),
        ("Gammel", datetime(2025, 11, 20, tzinfo=UTC)),
    ):
        published = published_on.timestamp()
        emulator.add_correspondence(
            ORG, resource=RESOURCE, title=title, published=published,
            attachments={f"{title}.pdf": b"%PDF-1.4 " + title.encode()},
            attachment_expires=datetime(2099, 1, 1, tzinfo=UTC).timestamp(),
        )  # fmt: skip
    # Altinn 2: a user with a password, whose box has a message from Skatteetaten among others.
    emulator.add_altinn2_user("user", "password", pid=DEFAULT_PID)
    emulator.add_altinn2_message(DEFAULT_PID, subject="Skattekort", service_owner="Skatteetaten")
    emulator.add_api_key(OWNER_API_KEY, service_owner=True)
    for index in range(3):
        emulator.add_consent(
            service_code="5678", service_edition=1, offered_by=f"91000001{index}",
            covered_by="405003309",
        )  # fmt: skip
    # Events: an app's instances (made in the past: the Events API lists them at once).
    emulator.add_instances("ttd", "apps-test", 4)
    # A correspondence of another resource whose attachment expired yesterday.
    now = datetime.now(UTC).timestamp()
    expired = emulator.add_correspondence(
        ORG, resource="skd-melding-gammel", title="Utgått", published=now - 30 * 86_400,
        attachment_expires=now - 86_400, attachments={"utgått.pdf": b"%PDF-1.4 expired"},
    )  # fmt: skip
    return {"system_user": system_user_id, "expired": expired}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Playground, Path, dict[str, str]]]:
    folder = tmp_path_factory.mktemp("served")
    with serving(folder) as playground:
        yield playground, folder, docstring_seeding(playground, folder)


@pytest.fixture
def world(
    served: tuple[Playground, Path, dict[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> World:
    playground, folder, ids = served
    for path in folder.iterdir():
        shutil.copy(path, tmp_path)
    point_at(playground, tmp_path, monkeypatch)
    capsys = request.getfixturevalue("capsys")
    caplog = request.getfixturevalue("caplog")
    return World(playground, tmp_path, capsys, caplog, monkeypatch, request, ids)


# --- the checks: errors, keys, certificates ---------------------------------------------------


def _public_classes(base: type) -> dict[str, type]:
    """The subclasses of ``base`` the public modules export, by name."""
    classes = {}
    for module in (altinn, altinn_async.exceptions, altinn_async.queue, altinn_async.redis):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, base):
                classes[name] = value
    return classes


def _tree(text: str, classes: dict[str, type]) -> list[str]:
    """Check a class tree drawn as ``├── Name  what it is``: each class's parent is a base of
    it (and ``(also a X ...)`` is one too); the names drawn, in order."""
    parents: list[type] = []
    names = []
    for line in text.splitlines():
        found = re.fullmatch(r"(?P<branch>[│├└─ ]*)(?P<name>\w+)(?P<text>.*)", line)
        assert found, f"not a line of the tree: {line!r}"
        depth = len(found["branch"]) // 4
        name = found["name"]
        cls = classes.get(name) or getattr(builtins, name)
        assert depth <= len(parents), f"{name}: drawn below no class"
        del parents[depth:]
        if parents:
            assert parents[-1] in cls.__bases__, (
                f"the tree has {name} under {parents[-1].__name__}, but its bases are "
                f"{[b.__name__ for b in cls.__bases__]}"
            )
        if also := re.match(r"\s*\(also an? (\w+)", found["text"]):
            assert getattr(builtins, also[1]) in cls.__bases__, f"{name} is no {also[1]}"
        parents.append(cls)
        names.append(name)
    return names


@runs("altinn_async.exceptions#1", backends=("asyncio",))
async def exception_tree(example: Example, world: World) -> None:
    classes = _public_classes(altinn.AltinnError)
    drawn = _tree(world.read(example), classes)
    assert drawn[0] == "AltinnError"
    assert sorted(drawn) == sorted(classes), "the tree shows every exception, each once"


@runs("altinn_async.exceptions#2", backends=("asyncio",))
async def warning_tree(example: Example, world: World) -> None:
    classes = _public_classes(Warning)
    drawn = _tree(world.read(example), classes)
    assert drawn == ["UserWarning", *sorted(classes)]


@runs("altinn_async._keys.SigningKey#1", backends=("asyncio",))
async def signing_key(example: Example, world: World) -> None:
    namespace = await world.run(example, password=P12_PASSWORD)
    assert list(world.shown.values()) == ["991825827"]  # and its comment says so
    assert namespace["key"].key_id == "my-registered-key-id"
    assert namespace["key"].public_jwk["n"] == world.key.public_jwk["n"]  # client.pem's


@runs("altinn_async.testing._certificates.CertificateAuthority#1", backends=("asyncio",))
async def certificate_authority(example: Example, world: World) -> None:
    await world.run(example)
    key = altinn.SigningKey.from_pkcs12_file("acme.p12", b"secret")
    assert key.organization_number == "991825827"


@runs("altinn_async._maskinporten.MaskinportenAuth#1")
async def maskinporten_auth(example: Example, world: World) -> None:
    namespace = await world.run(example)
    async with namespace["auth"] as auth:
        token = await auth.get_token()
    assert token.scopes == ("altinn:serviceowner/instances.read",)
    assert world.last_grant().client_id == "..."
    assert world.last_grant().kid == "my-key-id"


@runs("altinn_async._exchange.AltinnExchangeAuth#1")
async def exchange_auth(example: Example, world: World) -> None:
    maskinporten = await world.maskinporten(system_user=False)
    namespace = await world.run(example, maskinporten=maskinporten)
    response = namespace["r"]
    assert response.status_code == 200
    assert {i["org"] for i in response.json()["instances"]} == {"ttd"}
    assert world.served_since()["authentication.exchange"] == 1


@runs("altinn_async._retry.RetryPolicy#1")
async def retry_policy(example: Example, world: World) -> None:
    http = await world.http(await world.exchange(system_user=False))
    await world.run(example, http=http)
    custom, never = world.shown.values()
    assert isinstance(custom, altinn.StorageClient)
    assert isinstance(never, altinn.StorageClient)
    assert custom._retry == altinn.RetryPolicy(attempts=6, max_backoff=30)
    assert never._retry is altinn.RetryPolicy.NEVER


@runs("altinn_async._doctor.diagnose#1")
async def diagnose(example: Example, world: World) -> None:
    # A key that is not the client's: the diagnosis fails, and the example logs why.
    key = altinn.SigningKey.from_pem_file("client-2.pem", kid="my-key-id")
    logger = logging.getLogger("docstring-example")
    with world.caplog.at_level(logging.ERROR, logger="docstring-example"):
        namespace = await world.run(example, key=key, logger=logger)
    failures = namespace["diagnosis"].failures
    assert failures
    logged = [r.getMessage() for r in world.caplog.records if r.name == "docstring-example"]
    assert logged == [f"{c.name}: {c.detail} (hint: {c.hint})" for c in failures]
    assert any(check.name == "grant" for check in failures)


@runs("altinn_async._validator.AltinnTokenValidator#1")
async def token_validator(example: Example, world: World) -> None:
    exchange = await world.exchange(system_user=False)
    token = (await exchange.get_token()).access_token
    namespace = await world.run(example, token=token)
    assert namespace["validator"]._http.is_closed  # its own client, closed with it
    assert world.printed() == ["405003309 3"]
    assert namespace["principal"].org == "ttd"


# --- the checks: the emulator and its assertions ----------------------------------------------


@runs("altinn_async.testing#1")
async def emulator_in_process(example: Example, world: World) -> None:
    namespace = await world.run(example)
    http = namespace["http"]
    assert isinstance(http._transport, httpx.ASGITransport)
    assert http.base_url == "http://altinn.localhost"
    assert http.is_closed


async def _one_token(emulator: Any, **options: Any) -> None:
    """One Maskinporten token (and Altinn token), from ``emulator`` in-process."""
    key = altinn.SigningKey.from_pem_file("client.pem", kid="my-key-id")
    emulator.add_maskinporten_client(
        "my-client", org_number="405003309", scopes=["altinn:serviceowner/instances.read"],
        jwks=[key.public_jwk],
    )  # fmt: skip
    async with httpx.AsyncClient(transport=emulator.transport()) as http:
        maskinporten = altinn.MaskinportenAuth(
            client_id="my-client", key=key, scopes=["altinn:serviceowner/instances.read"],
            environment=emulator.environment, http_client=http, **options,
        )  # fmt: skip
        async with altinn.AltinnExchangeAuth(maskinporten) as auth:
            await auth.get_token()


@runs("altinn_async.testing._assertions.assert_served#1")
async def assert_served(example: Example, world: World) -> None:
    emulator = Emulator()
    await _one_token(emulator)
    await world.run(example, emulator=emulator)
    assert list(world.shown.values()) == [1]  # what it returns: how many
    emulator.add_maskinporten_client("x", org_number="405003309", scopes=["x:y"])
    await _one_token(emulator)  # two tokens now: the example's assertion fails
    with pytest.raises(AssertionError, match=r"'maskinporten\.token' 2 times, expected once"):
        await world.run(example, emulator=emulator)


@runs("altinn_async.testing._assertions.assert_granted#1")
async def assert_granted(example: Example, world: World) -> None:
    emulator = Emulator()
    await _one_token(emulator, resource="https://api.example")
    namespace = await world.run(example, emulator=emulator)
    grant = namespace["grant"]
    assert grant.client_id == "my-client"
    assert grant.claims["resource"] == ("https://api.example",)


@runs("altinn_async.testing._assertions.assert_exchanged#1")
async def assert_exchanged(example: Example, world: World) -> None:
    emulator = Emulator()
    await _one_token(emulator)  # 405003309 is ttd in the emulator
    await world.run(example, emulator=emulator)
    (record,) = world.shown.values()
    assert record.altinn_claims["urn:altinn:org"] == "ttd"


@runs("altinn_async.testing._emulator.Emulator#1")
async def emulator_example(example: Example, world: World) -> None:
    jwk = world.key.public_jwk
    namespace = await world.run(part(example, stop="callback_url ="), jwk=jwk)
    emu = namespace["emu"]
    assert emu.requests == Counter()
    # The person's browser: the login a client of "my-app" starts.
    idporten = altinn.IDPortenClient(
        client_id="my-app", client_secret="…", redirect_uri="http://localhost:8080/callback",
        scopes=["openid"], environment=emu.environment,
        http_client=await world.enter(httpx.AsyncClient(transport=emu.transport())),
    )  # fmt: skip
    login = idporten.start_login()
    await world.run(part(example, start="callback_url ="), namespace, authorization_url=login.url)
    callback = httpx.URL(namespace["callback_url"])
    assert str(callback).startswith("http://localhost:8080/callback?")
    assert callback.params["state"] == login.state
    session = await idporten.complete_login(str(callback), login, session_key="me")
    assert session.claims.pid == DEFAULT_PID
    # The instances it added, for its Maskinporten client.
    async with httpx.AsyncClient(transport=emu.transport()) as http:
        auth = altinn.MaskinportenAuth(
            client_id="my-client", key=world.key, scopes=["altinn:serviceowner/instances.read"],
            environment=emu.environment, http_client=http,
        )  # fmt: skip
        assert (await auth.get_token()).scopes == ("altinn:serviceowner/instances.read",)


# --- the checks: Storage, paging, harvests, events ----------------------------------------------


def _complete(world: World, count: int, **options: Any) -> list[str]:
    """``count`` new instances of ttd/app, complete, with data; their ids."""
    return [
        world.emulator.add_instance("ttd", "app", data=b"<skjema/>", completed=True, **options)[
            "id"
        ]
        for _ in range(count)
    ]


async def _storage(world: World) -> altinn.StorageClient:
    return altinn.StorageClient(await world.http(await world.exchange(system_user=False)))


@runs("altinn_async._storage.StorageClient#1")
async def storage_client(example: Example, world: World) -> None:
    namespace = await world.run(example, exchange=await world.exchange(system_user=False))
    assert namespace["instance"]["org"] == "ttd"  # the last one
    assert world.served_since()["storage.instances"] >= 1


@runs("altinn_async._storage.StorageClient.instances#1")
async def storage_instances(example: Example, world: World) -> None:
    mine = _complete(world, 2)
    _complete(world, 1, confirmed_by=["ttd"])  # not listed
    await world.run(example, storage=await _storage(world))
    (pager,) = world.shown.values()
    instances = [instance async for instance in pager]
    assert set(mine) <= {i["id"] for i in instances}
    since = datetime(2024, 5, 1, tzinfo=UTC)
    for instance in instances:
        assert instance["org"] == "ttd"
        assert instance["process"]["ended"]
        assert "ttd" not in [c["stakeholderId"] for c in instance.get("completeConfirmations", [])]
        assert datetime.fromisoformat(instance["lastChanged"]) >= since


@runs("altinn_async._storage.StorageClient.windows#1", "altinn_async._paging.merge#1")
async def storage_windows(example: Example, world: World) -> None:
    since = datetime(2024, 1, 1, tzinfo=UTC)
    namespace = await world.run(example, storage=await _storage(world), since=since)
    assert namespace["instance"]["org"] == "ttd"  # the last one handed out
    assert world.served_since()["storage.instances"] >= 8  # a page of each window at least


@runs("altinn_async._harvest._engine.Harvest#1")
async def harvest(example: Example, world: World) -> None:
    created = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
    mine = _complete(world, 2, created=created)
    http = await world.http(await world.exchange(system_user=False))
    namespace = await world.run(example, http=http)
    summary = namespace["summary"]
    written = [json.loads(line)["id"] for line in Path("instances.jsonl").read_text().splitlines()]
    assert set(mine) <= set(written)
    assert summary.items == len(written)
    assert summary.files == len([p for p in Path("data").rglob("*") if p.is_file()]) >= 2
    # complete=True: confirmed, so the next harvest of the query leaves them out.
    storage = altinn.StorageClient(http)
    for instance_id in mine:
        instance = await storage.get_instance(instance_id)
        assert [c["stakeholderId"] for c in instance["completeConfirmations"]] == ["ttd"]


@runs("altinn_async._paging.Paginator#1")
async def paginator(example: Example, world: World) -> None:
    auth = altinn.Altinn2Auth(
        "the-api-key", environment=altinn.TEST, login=altinn.PasswordLogin("user", "password")
    )
    http = await world.http(auth, base_url=altinn.TEST.altinn2)
    await world.run(example, http=http)
    assert sorted(world.printed()) == ["Skattekort", "Vedtak"]
    assert world.served_since()["altinn2.messages"] == 1


@runs("altinn_async._harvest._sources.PaginatorSource#1")
async def paginator_source(example: Example, world: World) -> None:
    owner = altinn.Altinn2Auth(
        OWNER_API_KEY, login=await world.maskinporten(system_user=False), environment=altinn.TEST
    )
    http = await world.http(owner, base_url=altinn.TEST.altinn2)
    namespace = await world.run(example, http=http)
    sink = altinn.JsonLinesSink("consents.jsonl")
    async with altinn.Harvest([namespace["source"]], sink=sink) as harvest:
        summary = await harvest.run()
    assert summary.items == 3
    lines = Path("consents.jsonl").read_text().splitlines()
    assert len({json.loads(line)["AuthorizationCode"] for line in lines}) == 3


async def _events(world: World) -> altinn.EventsClient:
    return altinn.EventsClient(await world.http(await world.exchange(system_user=False)))


@runs("altinn_async._events#1")
async def events_module(example: Example, world: World) -> None:
    handled: list[altinn.CloudEvent] = []

    async def handle(event: altinn.CloudEvent) -> None:
        handled.append(event)

    exchange = await world.exchange(system_user=False)
    namespace = await world.run(example, exchange=exchange, saved_id=None, handle=handle)
    assert len(handled) >= 4  # the created events of the app's 4 instances, at least
    assert all("/ttd/apps-test/" in str(event.source) for event in handled)
    assert namespace["saved_id"] == handled[-1].id
    # Read again from where it ended: nothing new.
    handled.clear()
    await world.run(example, namespace)
    assert handled == []


@runs("altinn_async._events.EventsClient#1")
async def events_client(example: Example, world: World) -> None:
    namespace = await world.run(example, exchange=await world.exchange(system_user=False))
    printed = [line.split() for line in world.printed()]
    assert len(printed) >= 4
    assert {kind for kind, _ in printed} <= {
        "app.instance.created", "app.instance.process.completed"
    }  # fmt: skip
    later = namespace["later"]
    events = await _events(world)
    assert [e async for e in events.app_events("ttd", "apps-test", resume_from=later)] == []


# --- the checks: Digdir's self-service API ----------------------------------------------------


@runs("altinn_async._admin.MaskinportenAdmin#1")
async def maskinporten_admin(example: Example, world: World) -> None:
    await world.run(example, password=P12_PASSWORD)
    # The organisation of the certificate (Digdir's, here) has one client: the admin client.
    (line,) = world.printed()
    assert line.split()[0] == "admin-client-id"
    grant = world.last_grant()
    assert grant.client_id == "admin-client-id"
    assert grant.client_amr == "virksomhetssertifikat"


async def _admin(world: World, **options: Any) -> tuple[Emulator, altinn.MaskinportenAdmin]:
    """An emulator of its own (in-process) and an admin client of its self-service API, for
    organisation 405003309 with the scope prefix ``myorg``."""
    emulator = Emulator(**options)
    key = world.key
    scopes = [*altinn.ADMIN_SCOPES, "idporten:scopes.write"]
    emulator.add_maskinporten_client(
        "admin", org_number="405003309", scopes=scopes, jwks=[key.public_jwk]
    )
    emulator.add_scope_prefix("405003309", "myorg")
    emulator.add_api_scope("altinn:serviceowner/instances.read", owner_org="991825827")
    emulator.grant_scope_access("altinn:serviceowner/instances.read", "405003309")
    tokens = await world.enter(httpx.AsyncClient(transport=emulator.transport()))
    auth = altinn.MaskinportenAdmin.auth(
        client_id="admin", key=key, scopes=scopes, environment=emulator.environment,
        http_client=tokens,
    )  # fmt: skip
    http = await world.enter(httpx.AsyncClient(transport=emulator.transport(), auth=auth))
    return emulator, altinn.MaskinportenAdmin(http)


@runs("altinn_async._admin.MaskinportenAdmin.create_client#1")
async def create_client(example: Example, world: World) -> None:
    _, admin = await _admin(world)
    namespace = await world.run(example, admin=admin)
    created = namespace["created"]
    assert created.client_id
    again = await admin.get_client(created.client_id)
    assert again.client_name == "my integration"
    assert again.scopes == ("altinn:serviceowner/instances.read",)


@runs("altinn_async._admin.MaskinportenAdmin.update_client#1")
async def update_client(example: Example, world: World) -> None:
    emulator, admin = await _admin(world)
    emulator.add_api_scope("x:y", owner_org="991825827")
    emulator.grant_scope_access("x:y", "405003309")
    client = await admin.create_client(
        altinn.ClientRegistration.maskinporten(
            client_name="x", description="y", scopes=["altinn:serviceowner/instances.read"]
        )
    )
    assert client.client_id is not None
    namespace = await world.run(example, admin=admin, client_id=client.client_id, client=client)
    expected = ("altinn:serviceowner/instances.read", "x:y")
    assert namespace["client"].scopes == expected
    assert (await admin.get_client(client.client_id)).scopes == expected


@runs("altinn_async._admin.MaskinportenAdmin.create_scope#1")
async def create_scope(example: Example, world: World) -> None:
    _, admin = await _admin(world)
    await world.run(example, admin=admin)
    (scope,) = world.shown.values()
    assert scope.name == "myorg:records.read"
    assert (await admin.get_scope("myorg:records.read")).description == "Read the records"


@runs("altinn_async._admin.MaskinportenAdmin.rotate_key#1", backends=("trio",), mock_clock=True)
async def rotate_key(example: Example, world: World) -> None:
    # Its waits (the propagation, then the old token's life) pass on trio's mock clock.
    emulator, admin = await _admin(world)
    Path("new.pem").write_bytes(private_pem(1))
    key = world.key
    emulator.add_maskinporten_client(
        "my-client", org_number="405003309", scopes=["x:y"], jwks=[key.public_jwk]
    )
    maskinporten = altinn.MaskinportenAuth(
        client_id="my-client", key=key, scopes=["x:y"], environment=emulator.environment,
        http_client=await world.enter(httpx.AsyncClient(transport=emulator.transport())),
    )  # fmt: skip
    await maskinporten.get_token()
    start = trio.current_time()
    await world.run(example, admin=admin, client_id="my-client", maskinporten=maskinporten)
    took = trio.current_time() - start
    (keys,) = world.shown.values()
    assert keys.kids == ("key-2026-06",)
    assert maskinporten.key.key_id == "key-2026-06"
    # 120 s for the new key to reach Maskinporten, then the old token's 120 s and a grant's 60.
    assert took == pytest.approx(5 * 60, abs=5)  # "about 5 minutes"
    emulator.expire_tokens()
    await maskinporten.invalidate(await maskinporten.get_token())
    await maskinporten.get_token()
    grant = emulator.last_grant
    assert grant is not None
    assert grant.kid == "key-2026-06"


# --- the checks: Altinn 2 ---------------------------------------------------------------------


@runs("altinn_async._altinn2.Altinn2Client#1")
async def altinn2_client(example: Example, world: World) -> None:
    await world.run(example, api_key="the-api-key")
    (line,) = world.printed()  # the one message from Skatteetaten
    assert line.split(maxsplit=1)[1] == "Skattekort"
    assert world.served_since()["altinn2.authenticate"] == 1


@runs("altinn_async._altinn2_auth.PasswordLogin#1")
async def password_login(example: Example, world: World) -> None:
    namespace = await world.run(example, api_key="the-api-key", password="password")
    async with httpx.AsyncClient(auth=namespace["auth"]) as http:
        altinn2 = altinn.Altinn2Client(http, base_url=altinn.TEST.altinn2)
        subjects = sorted([message["Subject"] async for message in altinn2.messages()])
    assert subjects == ["Skattekort", "Vedtak"]
    assert world.served_since()["altinn2.authenticate"] == 1


# --- the checks: Correspondence, Dialogporten, Authorized Parties ----------------------------

TITLES = ["Skattemelding 2025", "Skatteoppgjør", "Gammel"]  # of `RESOURCE`'s correspondences


async def _correspondence(world: World) -> altinn.CorrespondenceClient:
    return altinn.CorrespondenceClient(await world.http(await world.exchange()))


@runs("altinn_async._correspondence#1")
async def correspondence_module(example: Example, world: World) -> None:
    await world.run(example, exchange=await world.exchange())
    files = sorted(path.name for path in Path("inbox").iterdir())
    assert files == sorted(f"{title}.pdf" for title in TITLES)
    assert Path("inbox/Gammel.pdf").read_bytes() == b"%PDF-1.4 Gammel"
    assert world.served_since()["correspondence.download"] == 3


@runs("altinn_async._correspondence.CorrespondenceClient#1")
async def correspondence_client(example: Example, world: World) -> None:
    namespace = await world.run(example, exchange=await world.exchange())
    assert sorted(world.printed()) == sorted(f"{t} ['{t}.pdf']" for t in TITLES)
    assert len(namespace["ids"]) == 3


@runs("altinn_async._correspondence.CorrespondenceClient.list#1")
async def correspondence_list(example: Example, world: World) -> None:
    correspondence = await _correspondence(world)
    namespace = await world.run(example, correspondence=correspondence)
    titles = [(await correspondence.get(i)).content.title for i in namespace["ids"]]
    assert titles == ["Skatteoppgjør", "Skattemelding 2025"]  # 2026's, newest first


@runs("altinn_async._correspondence.CorrespondenceClient.walk#1")
async def correspondence_walk(example: Example, world: World) -> None:
    handled: list[str] = []

    async def handle(correspondence_id: str) -> None:
        handled.append(correspondence_id)

    correspondence = await _correspondence(world)
    namespace = await world.run(example, correspondence=correspondence, saved=None, handle=handle)
    assert len(handled) == len(set(handled)) == 3
    # One window (the newest), so no position yet: resumed, it is walked again.
    assert namespace["saved"] is namespace["walk"].position is None
    first = set(handled)
    handled.clear()
    await world.run(example, namespace)
    assert set(handled) == first


@runs("altinn_async._correspondence.CorrespondenceClient.download#1")
async def correspondence_download(example: Example, world: World) -> None:
    expired = world.ids["expired"]
    await world.run(example, correspondence=await _correspondence(world), correspondence_id=expired)
    assert world.printed() == ["utgått.pdf expired"]
    assert not Path("inbox").exists()


@runs("altinn_async._dialogporten.Dialogporten#1")
async def dialogporten_example(example: Example, world: World) -> None:
    namespace = await world.run(example, exchange=await world.exchange())
    full = namespace["full"]
    assert isinstance(full, altinn.Dialog)
    assert full.id == namespace["dialog"].id  # the last one found
    assert world.served_since()["dialogporten.search"] >= 1
    assert world.served_since()["dialogporten.dialog"] == 4  # `RESOURCE`'s 3, and the expired


@runs("altinn_async._dialogporten.DialogTokenAuth#1")
async def dialog_token(example: Example, world: World) -> None:
    dialogporten = altinn.Dialogporten(await world.http(await world.exchange()))
    correspondence_id = world.ids["expired"]
    dialog_ids = [
        d.id
        async for d in dialogporten.search(party=[URN])
        if (await dialogporten.dialog(d.id)).correspondence_id == correspondence_id
    ]
    (dialog_id,) = dialog_ids
    namespace = await world.run(example, dialogporten=dialogporten, dialog_id=dialog_id)
    assert namespace["correspondence"].id == correspondence_id
    assert namespace["correspondence"].content.title == "Utgått"


async def _parties(world: World) -> altinn.AuthorizedPartiesClient:
    return altinn.AuthorizedPartiesClient(await world.http(await world.exchange()))


@runs("altinn_async._parties#1")
async def parties_module(example: Example, world: World) -> None:
    await world.run(example, exchange=await world.exchange())
    assert world.printed() == [f"EKSEMPEL AS {URN}"]


@runs("altinn_async._parties.flatten#1")
async def flatten(example: Example, world: World) -> None:
    namespace = await world.run(example, parties=await _parties(world))
    assert namespace["mailboxes"] == [URN]


@runs("altinn_async._parties.AuthorizedPartiesClient#1")
async def authorized_parties(example: Example, world: World) -> None:
    namespace = await world.run(example, exchange=await world.exchange())
    (mine,) = namespace["mine"]
    assert mine.urn == URN
    (theirs,) = namespace["theirs"]
    assert theirs.urn == URN


@runs("altinn_async._parties.AuthorizedPartiesClient.mine#1")
async def parties_mine(example: Example, world: World) -> None:
    namespace = await world.run(example, parties=await _parties(world))
    assert namespace["party"].urn == URN
    assert world.served_since()["accessmanagement.enduser_authorizedparties"] == 1


@runs("altinn_async._parties.AuthorizedPartiesClient.of#1")
async def parties_of(example: Example, world: World) -> None:
    system_user_id = world.ids["system_user"]
    await world.run(example, parties=await _parties(world), system_user_id=system_user_id)
    person, organisation, system_user = world.shown.values()
    assert [p.name for p in person] == ["Ola Testesen"]
    assert [p.urn for p in organisation] == [URN]
    assert [p.urn for p in system_user] == [URN]


# --- the checks: ID-porten, the bulk transport ------------------------------------------------


@runs("altinn_async._idporten.IDPortenClient#1")
async def idporten_client(example: Example, world: World) -> None:
    first = part(example, stop="await idporten.complete_login")
    namespace = await world.run(first)
    idporten = namespace["idporten"]
    world.stack.push_async_callback(idporten.aclose)
    # The person logs in, in their browser (the emulator plays it).
    callback_url = await world.emulator.idporten_login(namespace["login"].url)
    rest = part(example, start="await idporten.complete_login")
    await world.run(rest, namespace, callback_url=callback_url, web_session_id="web-session-1")
    token = await namespace["auth"].get_token()  # the person's token, exchanged
    assert token.scopes == ("openid", "altinn:instances.read")
    exchanged = world.last_exchange()
    assert exchanged.provider == "id-porten"
    assert exchanged.token_claims["pid"] == DEFAULT_PID
    assert exchanged.token_claims["acr"] == "idporten-loa-substantial"
    assert world.served_since()["idporten.token"] == 1
    assert world.served_since()["authentication.exchange"] == 1


@runs("altinn_async._bulk.aiohttp_transport#1", backends=("asyncio",))  # aiohttp: asyncio only
async def aiohttp_transport(example: Example, world: World) -> None:
    from httpx_aiohttp import AiohttpTransport  # noqa: PLC0415

    namespace = await world.run(example, auth=await world.exchange(system_user=False))
    http = namespace["http"]
    assert isinstance(http._transport._inner, AiohttpTransport)
    assert http.base_url == altinn.TEST.platform + "/"
    assert http.is_closed


# --- the checks: FastAPI ----------------------------------------------------------------------


async def _app(world: World, app: Any) -> httpx.AsyncClient:
    """A client of the FastAPI app, in-process, with the app's lifespan running."""
    await world.enter(app.router.lifespan_context(app))
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://app.example"
    )
    return await world.enter(client)  # type: ignore[no-any-return]


@runs("altinn_async.fastapi#1")
async def fastapi_module(example: Example, world: World) -> None:
    namespace = await world.run(example)
    client = await _app(world, namespace["app"])
    token = (await (await world.exchange(system_user=False)).get_token()).access_token
    mine = await client.get("/mine", headers={"Authorization": f"Bearer {token}"})
    assert mine.json() == {"org": "405003309"}
    assert (await client.get("/mine")).status_code == 401


@runs("altinn_async.fastapi.AltinnClients#1")
async def altinn_clients(example: Example, world: World) -> None:
    namespace = await world.run(example, auth=await world.exchange(system_user=False))
    client = await _app(world, namespace["app"])
    response = await client.get("/instances")
    assert response.status_code == 200
    assert response.json() is None  # the route's body is "..."


@runs("altinn_async.fastapi.IDPortenLogin#1")
async def idporten_login(example: Example, world: World) -> None:
    world.monkeypatch.setenv("SESSION_KEY", "a-session-key-of-at-least-32-bytes!")
    namespace = await world.run(example, http=await world.http())
    client = await _app(world, namespace["app"])
    assert (await client.get("/mine")).status_code == 401  # a script, not logged in
    start = await client.get("/auth/login", params={"next": "/mine"})
    callback = await world.emulator.idporten_login(start.headers["location"])
    done = await client.get(callback)
    assert done.headers["location"] == "/mine"
    mine = await client.get("/mine")
    assert mine.status_code == 200
    assert world.served_since()["idporten.token"] == 1


# --- the checks: Redis and arq ----------------------------------------------------------------


@runs("altinn_async.redis#1", backends=("asyncio",))  # redis.asyncio: asyncio only
async def redis_module(example: Example, world: World) -> None:
    world.monkeypatch.setenv("REDIS_URL", world.request.getfixturevalue("redis_url"))
    world.monkeypatch.setenv("REDIS_ENCRYPTION_KEY", "ab" * 32)
    namespace = await world.run(example)
    client, auth, idporten = namespace["client"], namespace["auth"], namespace["idporten"]
    async with auth:
        await auth.get_token()
    await idporten.aclose()
    assert len(await client.keys("altinn_async:token:*")) == 2  # the two tokens, encrypted
    assert await client.keys("*my-client-id*") == []  # digests only
    assert isinstance(idporten.store, altinn_async.redis.RedisTokenStore)
    await client.aclose()


@runs("altinn_async.queue#1", backends=("asyncio",))
async def queue_keys(example: Example, world: World) -> None:
    drawn = {}
    for line in world.read(example).splitlines():
        if found := re.match(r"(\S+)\s+(\w+):? (.*)", line):
            template, kind, _ = found.groups()
            key = template.replace("{namespace}", "N").replace("{run}", "R")
            drawn[key.replace("{shard}", "3")] = kind
    shard = altinn_async.queue.Shard(
        run="R", number=3, org="ttd", app_id=None, created=(None, None), namespace="N"
    )
    assert drawn == {
        altinn_async.queue._plan_key("N", "R"): "the",
        **dict(zip([shard.key(p) for p in altinn_async.queue._PARTS],
                   ["hash", "set", "list", "set"], strict=True)),
    }  # fmt: skip
    source = inspect.getsource(altinn_async.queue)
    fields = re.findall(r"'HSET(?:NX)?', KEYS\[1\], ([^)]*)\)", source)
    written = {name for args in fields for name in re.findall(r"'(\w+)'", args)}
    shown = re.search(r"hash: ([^\n]*\n[^\n]*)", example.code)
    assert shown is not None
    assert set(re.findall(r"\w+", shown[1])) == written  # the state's fields


@contextlib.asynccontextmanager
async def _workers(world: World, settings: dict[str, Any]) -> AsyncIterator[list[Any]]:
    """An arq worker with ``settings`` (on the test's Redis), running while the block runs."""
    from arq.connections import RedisSettings  # noqa: PLC0415
    from arq.worker import Worker  # noqa: PLC0415

    redis_settings = RedisSettings.from_dsn(world.request.getfixturevalue("redis_url"))
    worker = Worker(
        **{**settings, "redis_settings": redis_settings}, handle_signals=False, poll_delay=0.05
    )
    async with anyio.create_task_group() as group:
        group.start_soon(worker.main)
        yield [worker]
        group.cancel_scope.cancel()
    with warnings.catch_warnings():
        # arq closes its pool with redis-py 5's deprecated close(): arq's, not ours.
        warnings.filterwarnings("ignore", "Call to deprecated close", DeprecationWarning)
        await worker.close()


async def _ttd_app_ids(world: World) -> set[str]:
    storage = await _storage(world)
    return {i["id"] async for i in storage.instances(app_id="ttd/app")}


@runs("altinn_async.queue#2", backends=("asyncio",))
async def queue_worker(example: Example, world: World) -> None:
    from arq import create_pool  # noqa: PLC0415
    from arq.connections import RedisSettings  # noqa: PLC0415

    redis_url = world.request.getfixturevalue("redis_url")
    world.monkeypatch.setenv("REDIS_URL", redis_url)
    namespace = await world.run(example)
    settings = namespace["WorkerSettings"]
    assert settings["redis_settings"] == RedisSettings.from_dsn(redis_url)
    expected = await _ttd_app_ids(world)
    plan = altinn_async.queue.plan_harvest(
        "ttd", app_ids=["ttd/app"], start=datetime(2026, 1, 1, tzinfo=UTC),
        end=datetime.now(UTC), windows=3,
    )  # fmt: skip
    async with _workers(world, settings) as workers:
        pool = await create_pool(settings["redis_settings"])
        run = await altinn_async.queue.enqueue_harvest(pool, plan)
        await altinn_async.queue.wait_for_harvest(pool, run, poll=0.05)
        lines = await altinn_async.queue.merge_harvest(pool, run, "instances.jsonl")
        await pool.aclose()
    assert workers[0].jobs_complete == 3
    assert lines == len(expected)
    written = Path("instances.jsonl").read_text().splitlines()
    assert {json.loads(line)["id"] for line in written} == expected


@runs("altinn_async.queue#3", backends=("asyncio",))
async def queue_coordinator(example: Example, world: World) -> None:
    world.monkeypatch.setenv("REDIS_URL", world.request.getfixturevalue("redis_url"))
    expected = await _ttd_app_ids(world)

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[altinn.StorageClient]:
        yield await _storage(world)

    settings = altinn_async.queue.worker_settings(connect, redis_settings=RedisSettings())
    async with _workers(world, settings) as workers:
        namespace = await world.run(example)
    assert len(namespace["plan"].shards) == 8
    assert workers[0].jobs_complete == 8
    written = Path("instances.jsonl").read_text().splitlines()
    assert {json.loads(line)["id"] for line in written} == expected
    assert len(written) == len(expected)


# --- the checks: the pytest plugin ------------------------------------------------------------

MY_JOB = """\
import httpx
import pytest

import altinn_async as altinn
from altinn_async.testing import assert_served


async def my_job(http):  # the team's code: the ids of ttd/app's instances
    return [i["id"] async for i in altinn.StorageClient(http).instances(app_id="ttd/app")]


"""


def _pytest(world: World, code: str, test: str) -> None:
    """Run ``code`` as a team's test file, with the plugin as installed: its ``test`` passes,
    on asyncio and on trio (the plugin's anyio backends)."""
    pytester: pytest.Pytester = world.request.getfixturevalue("pytester")
    pytester.makepyfile(test_team=code)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-W", "error", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"*{test}?asyncio? PASSED*", f"*{test}?trio? PASSED*"])


@runs("altinn_async.testing.pytest_plugin#1", backends=("sync",))
def pytest_plugin(example: Example, world: World) -> None:
    _pytest(world, MY_JOB + world.read(example), "test_my_job")


@runs("altinn_async.testing.pytest_plugin.SeededMaskinportenClient#1", backends=("sync",))
def seeded_client(example: Example, world: World) -> None:
    body = textwrap.indent(world.read(example), " " * 8)
    test = f"""\
@pytest.mark.anyio
async def test_own_flow(altinn_maskinporten_client, altinn_environment, altinn_emulator):
    client = altinn_maskinporten_client
    async with httpx.AsyncClient(transport=altinn_emulator.transport()) as http:
{body}
        token = await auth.get_token()
    assert token.scopes == client.scopes
    assert_served(altinn_emulator, "maskinporten.token", times=1)
"""
    _pytest(world, MY_JOB + test, "test_own_flow")


NOT_RUN.update({
    "altinn_async.testing._emulator.Emulator.server#1": (
        "serves on 0.0.0.0:8080 in the foreground until Ctrl-C: a server on a fixed port of "
        "every interface, for other machines (Emulator.serve and the served playground here "
        "run the same server on a free loopback port)"
    ),
    "altinn_async.testing._server.EmulatorServer#1": (
        "serves on port 8080 in the foreground until Ctrl-C (EmulatorServer.run): a long-running "
        "server on a fixed port (Emulator.serve, which the playground here uses, runs it in a "
        "thread on a free port)"
    ),
})  # fmt: skip


# --- every example is run, or says why not ----------------------------------------------------


def test_every_example_is_run_or_says_why_not() -> None:
    found, registered = set(EXAMPLES), set(RUNS) | set(NOT_RUN)
    missing = [EXAMPLES[example_id] for example_id in sorted(found - registered)]
    assert not missing, "docstring examples that nothing runs:\n" + "\n".join(
        f"- {e.where}: {e.id!r}: add a check to tests/test_docstrings.py that runs it, "
        f"@runs({e.id!r}), or say why it cannot run: NOT_RUN[{e.id!r}] = '...'"
        for e in missing
    )
    gone = sorted(registered - found)
    assert not gone, f"tests/test_docstrings.py has entries for examples that are gone: {gone}"
    both = sorted(set(RUNS) & set(NOT_RUN))
    assert not both, f"examples both run and not run: {both}"
    for example_id, reason in NOT_RUN.items():
        assert len(reason) > 30, f"{example_id}: say why it cannot run"


def test_examples_are_found() -> None:
    # The finder finds literal blocks and doctests where the reference shows them, and no more.
    docstring = """Text::

        first(1)

            indented(2)

    Not code. And::

        >>> 1 + 1
        2

    >>> print("a doctest")
    a doctest

    End.
    """
    blocks = list(_blocks(docstring))
    assert [(code, is_doctest) for _, code, is_doctest in blocks] == [
        ("first(1)\n\n    indented(2)\n", False),
        (">>> 1 + 1\n2\n", True),
        ('>>> print("a doctest")\na doctest\n', True),
    ]
    assert [index for index, _, _ in blocks] == [2, 8, 11]
    assert len(EXAMPLES) >= 55


@pytest.mark.parametrize(
    ("example_id", "backend"),
    [
        pytest.param(example_id, backend, id=f"{example_id}-{backend}")
        for example_id in sorted(RUNS)
        for backend in RUNS[example_id].backends
    ],
)
def test_example(example_id: str, backend: str, world: World) -> None:
    example = EXAMPLES.get(example_id)
    if example is None:
        pytest.fail(f"no docstring example {example_id!r} (see the test above)")

    entry = RUNS[example_id]

    if backend == "sync":
        assert entry.check(example, world) is None
        assert world.ran, f"the check of {example_id} does not run the example"
        return

    async def main() -> None:
        # On the mock clock, the deadline would be the next thing it jumps to.
        with anyio.fail_after(math.inf if entry.mock_clock else 60):
            async with world.stack:
                result = entry.check(example, world)
                assert result is not None, "an async check, on an event loop"
                await result

    options = {"clock": trio.testing.MockClock(autojump_threshold=0)} if entry.mock_clock else {}
    anyio.run(main, backend=backend, backend_options=options)
    assert world.ran, f"the check of {example_id} does not run the example"
