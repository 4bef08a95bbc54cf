"""The package's shape: layers that read one way, the emulator's one seam, the public surface."""

from __future__ import annotations

import ast
import importlib.metadata
import inspect
from pathlib import Path

import httpx
import pytest

import altinn_async as altinn
from altinn_async.testing import Emulator

PACKAGE = Path(altinn.__file__).parent

# Each layer uses only itself and the layers below it.
LAYERS: dict[str, int] = {
    # values and helpers
    "exceptions": 0,
    "_version": 0,
    "_redact": 0,
    "_environment": 0,
    "_keys": 0,
    "_scopes": 0,
    "_hal": 0,
    "_jwt": 0,
    "_http": 0,
    "_httpcompat": 0,
    "_origins": 0,
    "_times": 0,
    "_reading": 0,
    "_telemetry": 0,
    # the token endpoint, the token cache, retries, sessions and downloads
    "_retry": 1,
    "_tokens": 1,
    "_context": 1,
    "_oauth": 1,
    "_jwks": 1,
    "_sessions": 1,
    "_pending": 1,
    "_files": 1,
    "_bulk": 1,
    "_api": 1,
    # the auth flows
    "_auth": 2,
    "_maskinporten": 2,
    "_idporten": 2,
    "_exchange": 2,
    "_altinn2_auth": 2,
    "_loopback": 2,
    "_validator": 2,
    # the API clients
    "_paging": 3,
    "_storage": 3,
    "_events": 3,
    "_altinn2": 3,
    "_dialogporten": 3,
    "_correspondence": 3,
    "_parties": 3,
    "_admin": 3,
    # bulk jobs over the API clients, and the diagnosis over the auth flows
    "_harvest": 4,
    "_doctor": 4,
    # the command line and the package's face
    "_cli": 5,
    "__init__": 5,
    "__main__": 5,
    "fastapi": 5,
    "redis": 5,
    "queue": 5,
}
EMULATOR_SEAM = {"altinn_async._environment"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every altinn_async module ``path`` imports (TYPE_CHECKING imports too)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(
                alias.name for alias in node.names if alias.name.startswith("altinn_async")
            )
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("altinn_async"):
                continue
            found.add(target)
            # "from . import x" imports the module x.
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").exists() or (
                    PACKAGE.parent / candidate.replace(".", "/") / "__init__.py"
                ).exists():
                    found.add(candidate)
    return found - {name}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) == 1:
        return LAYERS["__init__"]
    return LAYERS.get(parts[1])


CLIENT_FILES = sorted(p for p in PACKAGE.rglob("*.py") if "testing" not in p.parts)
# The pytest plugin is no part of the emulator: it hands tests the client's flows over it.
PYTEST_PLUGIN = PACKAGE / "testing" / "pytest_plugin.py"
EMULATOR_FILES = sorted(p for p in (PACKAGE / "testing").rglob("*.py") if p != PYTEST_PLUGIN)


def test_every_client_module_has_a_layer() -> None:
    missing = {_module_name(p) for p in CLIENT_FILES if _layer(_module_name(p)) is None}
    assert missing == set()


@pytest.mark.parametrize("path", CLIENT_FILES, ids=_module_name)
def test_modules_import_only_their_own_layer_and_below(path: Path) -> None:
    module = _module_name(path)
    own = _layer(module)
    assert own is not None
    upward = {
        target
        for target in _imports(path)
        if not target.startswith("altinn_async.testing")
        and (_layer(target) or 0) > own
        and not (target.startswith(module + ".") or module.startswith(target + "."))
    }
    assert upward == set(), f"{module} (layer {own}) imports from above: {sorted(upward)}"


def test_no_import_cycles() -> None:
    graph = {
        _module_name(p): {t for t in _imports(p) if not t.startswith("altinn_async.testing")}
        for p in CLIENT_FILES
    }
    # A package importing its own submodules is not a cycle.
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not t.startswith(module + ".")}
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> None:
        if module in done:
            return
        assert module not in visiting, " -> ".join([*visiting[visiting.index(module) :], module])
        visiting.append(module)
        for target in graph.get(module, ()):
            visit(target)
        visiting.pop()
        done.add(module)

    for module in graph:
        visit(module)


@pytest.mark.parametrize("path", EMULATOR_FILES, ids=_module_name)
def test_the_emulator_imports_nothing_of_the_client_but_its_seam(path: Path) -> None:
    client = {t for t in _imports(path) if not t.startswith("altinn_async.testing")}
    assert client <= EMULATOR_SEAM, f"{_module_name(path)} imports {sorted(client - EMULATOR_SEAM)}"


@pytest.mark.parametrize("path", EMULATOR_FILES, ids=_module_name)
def test_the_emulator_does_not_import_the_pytest_plugin(path: Path) -> None:
    # Else the client the plugin imports would reach the emulator through it.
    assert "altinn_async.testing.pytest_plugin" not in _imports(path)


def test_the_pytest_plugin_uses_the_client_as_users_do() -> None:
    # The public package only, as a user's test would: no private client module.
    client = {t for t in _imports(PYTEST_PLUGIN) if not t.startswith("altinn_async.testing")}
    assert client == {"altinn_async"}


# --- the public surface -----------------------------------------------------------------------


def test_all_is_exactly_the_public_names() -> None:
    # altinn_async.testing, .fastapi, .redis and .queue appear as attributes once imported; not
    # re-exported.
    # Not identifiers: what pytest's assertion rewriting adds to the modules of a plugin's
    # distribution (this one's, since the package registers its pytest plugin).
    public = {name for name in vars(altinn) if not name.startswith("_") and name.isidentifier()} - {
        "testing",
        "fastapi",
        "redis",
        "queue",
    }
    public |= {"__version__"}
    assert set(altinn.__all__) == public
    assert len(altinn.__all__) == len(set(altinn.__all__))


def test_public_classes_and_functions_report_the_package_as_their_module() -> None:
    wrong = {
        name
        for name in altinn.__all__
        if (inspect.isclass(value := getattr(altinn, name)) or inspect.isfunction(value))
        and value.__module__ != "altinn_async"
    }
    assert wrong == set()
    assert repr(altinn.MaskinportenAuth).startswith("<class 'altinn_async.MaskinportenAuth'")


def test_the_version_comes_from_one_place() -> None:
    assert altinn.__version__ == importlib.metadata.version("altinn-async")


async def test_clients_and_paginators_have_useful_reprs() -> None:
    emulator = Emulator()
    async with httpx.AsyncClient(
        transport=emulator.transport(), base_url=emulator.environment.platform
    ) as http:
        storage = altinn.StorageClient(http)
        pager = storage.instances(org="ttd", size=10)
        altinn2 = altinn.Altinn2Client(http, base_url=emulator.environment.altinn2)
        assert repr(storage) == "StorageClient(platform='http://altinn.localhost/platform')"
        assert repr(altinn2) == "Altinn2Client(api_url='http://altinn.localhost/altinn2/api')"
        text = repr(pager)
        assert text.startswith("InstancePager(rule=BodyNextField(items_key='instances'")
        assert "size=10" in text
        assert "handed_out=0" in text
    assert "TokenCache(0 tokens" in repr(altinn.TokenCache())
    assert "attempts=4" in repr(altinn.RetryPolicy())
