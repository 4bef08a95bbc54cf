"""Figures, their one-line verdicts, the machine they were measured on, and ``results.json``."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "ADOPT",
    "FAIL",
    "INFO",
    "NOT_ADOPTED",
    "PASS",
    "SKIPPED",
    "Figure",
    "adoption",
    "at_least",
    "at_most",
    "exactly",
    "info",
    "machine",
    "markdown",
    "skipped",
    "write_readme",
    "write_results",
]

PASS = "pass"
FAIL = "fail"
INFO = "info"  # measured and recorded, judged by no target
ADOPT = "adopted as opt-in"
NOT_ADOPTED = "evaluated, not adopted"
SKIPPED = "skipped"


@dataclass(frozen=True)
class Figure:
    """One measured figure and its verdict.

    Attributes:
        benchmark: the benchmark module's name.
        name: the figure's name, unique within the benchmark.
        value: the ratio, count or rate (None when skipped).
        unit: ``ratio``, ``count``, ``µs`` …
        target: the target as text (``≤ 1.50``), or ``-`` for none.
        verdict: `PASS`, `FAIL`, `INFO`, `ADOPT`, `NOT_ADOPTED` or `SKIPPED`.
        medians: the raw medians the figure came from, for information (they are absolute
            times of this machine and this run, and judged by nothing).
        note: what the figure means, or why it was skipped.
    """

    benchmark: str
    name: str
    value: float | None
    unit: str
    target: str
    verdict: str
    medians: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def line(self) -> str:
        """The one-line verdict printed for the figure."""
        if self.value is None:
            return f"{self.verdict.upper():>8}  {self.benchmark}.{self.name}: {self.note}"
        if self.unit == "count":
            shown = f"{self.value:.0f}"
        elif self.unit == "ratio":
            shown = f"{self.value:.2f}x"
        else:
            shown = f"{self.value:.1f} {self.unit}"
        target = "" if self.target == "-" else f" (target {self.target})"
        note = f" - {self.note}" if self.note else ""
        return f"{self.verdict.upper():>8}  {self.benchmark}.{self.name}: {shown}{target}{note}"


def at_most(
    benchmark: str,
    name: str,
    value: float,
    *,
    limit: float,
    medians: dict[str, float],
    note: str = "",
    unit: str = "ratio",
) -> Figure:
    """A ratio (or a ``unit`` amount) that passes when it is at most ``limit``."""
    verdict = PASS if value <= limit else FAIL
    return Figure(benchmark, name, value, unit, f"≤ {limit:.2f}", verdict, medians, note)


def at_least(
    benchmark: str,
    name: str,
    value: float,
    *,
    limit: float,
    medians: dict[str, float],
    note: str = "",
) -> Figure:
    """A ratio that passes when it is at least ``limit``."""
    verdict = PASS if value >= limit else FAIL
    return Figure(benchmark, name, value, "ratio", f"≥ {limit:.2f}", verdict, medians, note)


def exactly(
    benchmark: str,
    name: str,
    value: float,
    *,
    target: float,
    medians: dict[str, float] | None = None,
    note: str = "",
    unit: str = "count",
) -> Figure:
    """A count that passes when it is exactly ``target``: one more fails, and so does one less
    (a count of none where one was due is no pass)."""
    verdict = PASS if value == target else FAIL
    return Figure(benchmark, name, value, unit, f"= {target:g}", verdict, medians or {}, note)


def adoption(
    benchmark: str,
    name: str,
    value: float,
    *,
    limit: float,
    medians: dict[str, float],
    note: str = "",
) -> Figure:
    """An evaluation: adopted (as an opt-in) when the ratio is at least ``limit``."""
    verdict = ADOPT if value >= limit else NOT_ADOPTED
    target = f"≥ {limit:.2f} to adopt"
    return Figure(benchmark, name, value, "ratio", target, verdict, medians, note)


def info(
    benchmark: str,
    name: str,
    value: float,
    *,
    unit: str,
    medians: dict[str, float] | None = None,
    note: str = "",
) -> Figure:
    """A figure recorded for information, judged by no target."""
    return Figure(benchmark, name, value, unit, "-", INFO, medians or {}, note)


def skipped(benchmark: str, name: str, reason: str) -> Figure:
    """A figure that could not be measured here, and why."""
    return Figure(benchmark, name, None, "-", "-", SKIPPED, {}, reason)


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Hardware", "cpu model"):
            return value.strip()
    return platform.processor() or platform.machine()


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    try:
        load = list(os.getloadavg())
    except OSError:
        load = []
    packages = ("altinn-async", "httpx", "httpcore", "h11", "anyio", "uvicorn", "aiohttp")
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "httpx": _version("httpx"),
        "packages": {name: _version(name) for name in (*packages, "httpx-aiohttp")},
        "load_average": load,
    }


def write_results(
    path: Path, figures: list[Figure], *, selected: list[str], started: float, elapsed: float
) -> dict[str, Any]:
    """Write ``results.json``: the machine, what ran, and every figure; return the document.

    A run of some benchmarks replaces their figures and keeps the others' from the runs before
    (each benchmark says when it was measured), so the file always holds the latest of each.
    """
    when = datetime.datetime.fromtimestamp(started, datetime.UTC).isoformat(timespec="seconds")
    previous: dict[str, Any] = {}
    if path.exists():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            previous = {}
    kept = [f for f in previous.get("figures", []) if f.get("benchmark") not in selected]
    measured = {
        name: at
        for name, at in previous.get("measured", {}).items()
        if name not in selected and any(f.get("benchmark") == name for f in kept)
    }
    measured.update(dict.fromkeys(selected, when))
    document = {
        "started": when,
        "elapsed_seconds": round(elapsed, 1),
        "benchmarks": selected,
        "command": [Path(sys.executable).name, "-m", "benchmarks", *sys.argv[1:]],
        "machine": machine(),
        "measured": measured,
        "figures": kept + [asdict(figure) for figure in figures],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return document


START = "<!-- results: written by python -m benchmarks; do not edit by hand -->"
END = "<!-- end of results -->"


def _value(figure: dict[str, Any]) -> str:
    value = figure.get("value")
    if value is None:
        return "-"
    unit = figure.get("unit", "")
    if unit == "ratio":
        return f"{value:.2f}x"
    if unit == "count":
        return f"{value:g}"
    return f"{value:.3g} {unit}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(document: dict[str, Any]) -> str:
    """The results as Markdown: the machine, then one table row per figure."""
    box = document.get("machine", {})
    packages = ", ".join(f"{k} {v}" for k, v in box.get("packages", {}).items() if v)
    load = ", ".join(f"{x:.1f}" for x in box.get("load_average", []))
    about = (
        f"Measured on {box.get('cpu_model', '?')}, {box.get('usable_cores', '?')} usable cores "
        f"of {box.get('cores', '?')}, {box.get('python', '?')}, {box.get('platform', '?')}; "
        f"{packages}. Load average at the end of the last run: {load}."
    )
    lines = [
        about,
        "",
        "| benchmark | figure | value | target | verdict | measured | raw medians (information) |",
        "|---|---|---|---|---|---|---|",
    ]
    measured = document.get("measured", {})
    for figure in document.get("figures", []):
        medians = "; ".join(f"{k} {v:g}" for k, v in figure.get("medians", {}).items())
        note = figure.get("note", "")
        detail = f"{medians}" + (f" ({note})" if note else "") if medians else note
        lines.append(
            "| "
            + " | ".join(
                _cell(str(part))
                for part in (
                    figure["benchmark"],
                    f"`{figure['name']}`",
                    _value(figure),
                    figure.get("target", "-"),
                    figure.get("verdict", ""),
                    measured.get(figure["benchmark"], "")[:10],
                    detail,
                )
            )
            + " |"
        )
    return "\n".join(lines)


def write_readme(path: Path, document: dict[str, Any]) -> None:
    """Put the results table between the markers of ``benchmarks/README.md`` (at its end if
    it has none)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{START}\n\n{markdown(document)}\n\n{END}"
    if START in text and END in text:
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = (text.rstrip() + "\n\n" if text else "") + block + "\n"
    path.write_text(text, encoding="utf-8")
