"""A release that works: the sdist and the wheel build, pass ``twine check``, and the wheel,
installed into a fresh virtual environment with no source tree on the path, runs the demo and the
pytest plugin's sample test as the docs show it.

Slow (a build and a venv, about a minute), so it runs once, not per backend.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import altinn_async

ROOT = Path(__file__).resolve().parent.parent


def _run(command: list[str | Path], cwd: Path, timeout: float = 600) -> str:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _sample_test() -> str:
    page = (ROOT / "docs" / "getting-started" / "test-writer.md").read_text()
    match = re.search(r"<!-- test: pytest-plugin -->\n```python\n(.*?)^```", page, re.S | re.M)
    assert match is not None
    return match.group(1)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", out, ROOT], cwd=out)
    return out


def test_the_sdist_and_wheel_pass_twine_check_and_carry_the_version_and_plugin(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    assert f"-{altinn_async.__version__}-" in wheel.name  # one version, from _version.py
    assert "PASSED" in _run([sys.executable, "-m", "twine", "check", wheel, sdist], cwd=dist)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("/METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt")))
    assert not [n for n in names if n.startswith("tests/")]  # the library only
    assert "altinn_async/testing/pytest_plugin.py" in names
    assert "_altinn_async_pytest.py" in names  # the entry point, beside the package
    assert b"altinn_async = _altinn_async_pytest" in entry_points
    assert b"altinn-async = altinn_async._cli:main" in entry_points
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for extra in declared["optional-dependencies"]:
        assert f"Provides-Extra: {extra}" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    assert "altinn_async/py.typed" in names


def test_the_wheel_in_a_fresh_venv_runs_the_demo_and_the_plugin(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(
        [python, "-m", "pip", "install", "-q", f"{wheel}[emulator]", "pytest", "anyio", "trio"],
        cwd=tmp_path,
    )
    work = tmp_path / "work"
    work.mkdir()
    where = _run([python, "-c", "import altinn_async; print(altinn_async.__file__)"], cwd=work)
    assert str(venv) in where  # the installed wheel, not this source tree
    demo = _run([venv / "bin" / "altinn-async", "demo"], cwd=work)
    assert "Maskinporten /token:  1" in demo
    assert re.search(r"^instances listed: +\d+", demo, re.M)
    (work / "test_sample.py").write_text(_sample_test())
    result = _run(
        [python, "-m", "pytest", "-p", "no:cacheprovider", "-W", "error", "--strict-markers",
         "-v", "test_sample.py"],
        cwd=work,
    )  # fmt: skip
    assert "2 passed" in result
    assert "test_count_instances[asyncio] PASSED" in result
    assert "test_count_instances[trio] PASSED" in result
