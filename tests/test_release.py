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
    assert "Classifier: Framework :: Pytest" in metadata  # the plugin
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


# -- the changelog, ready to cut ---------------------------------------------------------------

KEEP_A_CHANGELOG = ("Added", "Changed", "Deprecated", "Removed", "Fixed", "Security")
_RELEASED = re.compile(r"## \[(?P<version>\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}")


def _versions(changelog: str) -> list[str]:
    """The ``## `` headings: ``Unreleased`` first, then each release's version."""
    headings = [line for line in changelog.splitlines() if line.startswith("## ")]
    assert headings[:1] == ["## Unreleased"], headings[:1]
    versions = []
    for heading in headings[1:]:
        match = _RELEASED.fullmatch(heading)
        assert match is not None, f"{heading!r}: a release is '## [X.Y.Z] - YYYY-MM-DD'"
        versions.append(match["version"])
    return versions


def _sections(changelog: str) -> list[tuple[str, list[str]]]:
    """The Unreleased part's ``### `` sections, each with its bullets' first lines."""
    unreleased = changelog.split("## Unreleased\n", 1)[1].split("\n## ", 1)[0]
    sections: list[tuple[str, list[str]]] = []
    for line in unreleased.splitlines():
        if line.startswith("### "):
            sections.append((line[4:], []))
        elif line.startswith("- "):
            assert sections, f"a bullet before any section: {line!r}"
            sections[-1][1].append(line)
    return sections


def test_the_changelog_is_ready_to_cut() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    released = _versions(changelog)
    # Nothing released yet is the version being developed: a .dev of none already cut.
    version = altinn_async.__version__
    assert ".dev" in version
    assert version.split(".dev")[0] not in released
    sections = _sections(changelog)
    names = [name.split(" (")[0] for name, _ in sections]  # "Changed (breaking, ...)" is Changed
    assert set(names) <= set(KEEP_A_CHANGELOG), names
    assert names == sorted(names, key=KEEP_A_CHANGELOG.index)  # in Keep a Changelog's order
    assert len(names) == len(set(names))
    assert all(bullets for _, bullets in sections), "an empty section"
    every = [bullet for _, bullets in sections for bullet in bullets]
    assert len(every) == len(set(every)), "the same entry twice"


def test_the_changelog_check_refuses_what_is_not_ready() -> None:
    # The checks above, shown to fail.
    with pytest.raises(AssertionError):
        _versions("# Changelog\n\n## [0.1.0] - 2026-12-02\n")
    with pytest.raises(AssertionError):
        _versions("## Unreleased\n\n## 0.1.0\n")
    assert _versions("## Unreleased\n\n## [0.2.0] - 2027-01-01\n## [0.1.0] - 2026-12-02\n") == [
        "0.2.0",
        "0.1.0",
    ]
    sections = _sections("## Unreleased\n### Added\n- a\n  b\n### Fixed\n- c\n## [0.1.0] - x\n- d")
    assert sections == [("Added", ["- a"]), ("Fixed", ["- c"])]


def test_every_extra_is_documented_where_users_look() -> None:
    # The README is the package index's description (the wheel's METADATA body); the docs' home
    # page has the install lines.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = set(declared["optional-dependencies"]) - {"test", "docs"}  # ours, not users'
    assert declared["readme"] == "README.md"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    in_table = set(re.findall(r"^\| `([a-z0-9]+)` \|", readme, re.M))
    assert in_table == extras
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    assert set(re.findall(r"pip install 'altinn-async\[([a-z0-9]+)\]'", index)) == extras


def test_the_classifiers_are_ones_the_package_index_knows() -> None:
    # twine check does not look at them; the index refuses an upload with an unknown one.
    from trove_classifiers import classifiers  # noqa: PLC0415 - this test's only

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    assert [c for c in declared if c not in classifiers] == []
    assert declared == sorted(declared)
