"""``python -m benchmarks [NAME ...]``: run the benchmarks, print a verdict per figure, and write
``benchmarks/results.json``.

Exit status 0 when no figure failed its target (an evaluation that was not adopted, a figure
recorded for information and a skipped one are no failures), 1 when one did, 2 for an unknown
name, 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import traceback
from pathlib import Path

from . import (
    aiohttp_transport,
    auth,
    concurrency,
    harvest_baseline,
    limits,
    memory,
    paging,
    parsing,
    signing,
    stampede,
    validation,
)
from ._context import Benchmark, Context
from ._report import FAIL, Figure, write_readme, write_results

BENCHMARKS: dict[str, Benchmark] = {
    module.NAME: module
    for module in (
        auth,
        signing,
        validation,
        stampede,
        concurrency,
        aiohttp_transport,
        harvest_baseline,
        limits,
        paging,
        parsing,
        memory,
    )
}
RESULTS = Path(__file__).resolve().parent / "results.json"
README = Path(__file__).resolve().parent / "README.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Ratios measured within one run, printed and checked against their targets.",
        epilog="benchmarks: "
        + "; ".join(f"{name} ({module.SUMMARY})" for name, module in BENCHMARKS.items()),
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (all)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help=f"where to write the results ({RESULTS})"
    )
    return parser


def _run(names: list[str], output: Path) -> int:
    started = time.time()
    figures: list[Figure] = []
    failed: list[str] = []
    with contextlib.ExitStack() as stack:
        context = Context(stack)
        for name in names:
            print(f"== {name}: {BENCHMARKS[name].SUMMARY}", flush=True)
            began = time.perf_counter()
            try:
                found = BENCHMARKS[name].run(context)
            except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
                traceback.print_exc()
                failed.append(name)
                figures.append(
                    Figure(name, "run", None, "-", "-", FAIL, note="the benchmark raised")
                )
                continue
            for figure in found:
                print(figure.line(), flush=True)
            figures.extend(found)
            print(f"   ({time.perf_counter() - began:.0f} s)", flush=True)
    elapsed = time.time() - started
    document = write_results(output, figures, selected=names, started=started, elapsed=elapsed)
    if output == RESULTS:  # the committed results: their table goes into the README too
        write_readme(README, document)
    failures = [f for f in figures if f.verdict == FAIL]
    print(
        f"{len(figures)} figures, {len(failures)} failed, in {elapsed:.0f} s; written to {output}"
    )
    return 1 if failures or failed else 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for name, module in BENCHMARKS.items():
            print(f"{name:<12} {module.SUMMARY}")
        return 0
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    names = list(dict.fromkeys(args.names)) or list(BENCHMARKS)
    try:
        return _run(names, args.output)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
