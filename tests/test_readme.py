"""The README's examples run as written, against the served emulator (the sample test under
pytest, with the plugin as installed), and close every HTTP client they open; its links lead
somewhere.

The example names ``altinn.TEST``; here it points at an emulator on 127.0.0.1 seeded with the
clients, keys and users the examples name (``tests/playground.py``, shared with
``tests/test_docs.py``, which runs the examples of ``docs/``). Nothing else of the example is
changed.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from .playground import Playground, opened, playground, run

__all__ = ["opened", "playground"]  # fixtures, used by name

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[tuple[str, str]]:
    """(the section heading, the code) of every ```python block."""
    text = README.read_text()
    blocks = []
    for match in _BLOCK.finditer(text):
        heading = re.findall(r"^## (.+)$", text[: match.start()], re.MULTILINE)[-1]
        blocks.append((heading, match.group(1)))
    return blocks


BLOCKS = python_blocks()


def test_the_readme_has_the_examples_this_test_knows() -> None:
    assert [heading for heading, _ in BLOCKS] == [
        "Maskinporten, then an Altinn token",
        "Testing your code",
    ]


def test_the_readme_has_what_a_first_visit_needs() -> None:
    headings = re.findall(r"^## (.+)$", README.read_text(), re.MULTILINE)
    assert headings == [
        "Install",
        "Two commands",
        "Maskinporten, then an Altinn token",
        "Testing your code",
        "Documentation",
        "Development",
    ]


def test_the_readme_links_lead_somewhere() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert "docs/index.md" in local
    for link in local:
        assert (ROOT / link).exists(), link


def block(heading: str) -> str:
    return next(code for title, code in BLOCKS if title == heading)


def test_maskinporten_example(
    playground: Playground, opened: list[httpx.AsyncClient], capsys: pytest.CaptureFixture[str]
) -> None:
    run(block("Maskinporten, then an Altinn token"), README)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 20
    assert all(line.split()[1].startswith("ttd/") for line in printed)
    assert playground.emulator.requests["maskinporten.token"] == 1
    assert opened
    assert all(client.is_closed for client in opened)


def test_the_example_is_the_one_of_the_service_page() -> None:
    # The README's example is the first of "An asyncio service", which test_docs runs too.
    page = (ROOT / "docs" / "getting-started" / "service.md").read_text()
    assert block("Maskinporten, then an Altinn token") in page


def test_the_sample_test_passes_with_the_plugin(pytester: pytest.Pytester) -> None:
    # As a team's test file, run by pytest with the plugin as installed: on both backends.
    pytester.makepyfile(test_sample=block("Testing your code"))
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error", "--strict-markers", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_count_instances?asyncio? PASSED*", "*test_count_instances?trio? PASSED*"]
    )


def test_the_sample_test_is_the_one_of_the_test_page() -> None:
    page = (ROOT / "docs" / "getting-started" / "test-writer.md").read_text()
    assert block("Testing your code") in page


def test_no_example_needs_a_secret_in_its_code() -> None:
    # The examples read their secrets from the environment: nothing of the test's is in them.
    for _, code in BLOCKS:
        assert "Passord1" not in code
        assert "the-api-key" not in code
