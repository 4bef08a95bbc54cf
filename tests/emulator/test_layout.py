"""The emulator's shape: one package per service over a toolkit that knows no service; services
meet only through what a package exports; nothing of the client side but the Environment."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import altinn_async.testing

TESTING = Path(altinn_async.testing.__file__).parent
SERVICES = (
    "_maskinporten",
    "_idporten",
    "_authentication",
    "_storage",
    "_events",
    "_altinn2",
    "_dialogporten",
    "_accessmanagement",
    "_selfservice",
)


PYTEST_PLUGIN = TESTING / "pytest_plugin.py"


def _modules() -> list[Path]:
    """The emulator's modules (the pytest plugin is a user of the emulator, not part of it)."""
    return sorted(p for p in TESTING.rglob("*.py") if p != PYTEST_PLUGIN)


def _imports(path: Path) -> list[str]:
    """Every module a file imports from, as an absolute dotted name."""
    package = ["altinn_async", "testing", *path.relative_to(TESTING).parent.parts]
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if node.module is None:
                found.extend(f"{module}.{alias.name}" for alias in node.names)
            else:
                found.append(module)
    return found


def _owner(path: Path) -> str | None:
    parts = path.relative_to(TESTING).parts
    return parts[0] if len(parts) > 1 else None


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(TESTING)))
def test_imports_respect_the_layout(path: Path) -> None:
    owner = _owner(path)
    for module in _imports(path):
        parts = module.split(".")
        if parts[0] != "altinn_async":
            continue
        if parts[1] != "testing":
            # The one seam with the client side: the Environment values the emulator hands out.
            assert module == "altinn_async._environment", module
            assert owner is None, f"{path.name}: only the facade hands out Environments"
            continue
        target = parts[2] if len(parts) > 2 else None
        if owner == "_toolkit":
            assert target == "_toolkit", f"the toolkit imports {module}"
        elif owner in SERVICES and target in SERVICES and target != owner:
            # Another service only through what its package exports on purpose.
            assert len(parts) == 3, f"{path.relative_to(TESTING)} imports {module}"


def test_every_service_is_a_package() -> None:
    for service in SERVICES:
        assert (TESTING / service / "__init__.py").is_file()
    assert not [p.name for p in TESTING.glob("_*.py") if p.stem[1:] in {s[1:] for s in SERVICES}]


def test_the_pytest_plugin_uses_the_emulator_through_its_facade() -> None:
    inside = [m for m in _imports(PYTEST_PLUGIN) if m.startswith("altinn_async.testing")]
    assert inside
    assert set(inside) <= {"altinn_async.testing", "altinn_async.testing._emulator"}
