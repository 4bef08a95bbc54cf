"""Instruction counts by ``valgrind --tool=callgrind``: the same count run after run, whatever
else the machine is doing, so a 3 % regression on a hot path shows where timings (±5 % here)
hide it.

A workload is a Python source that defines ``work(n)`` (doing the operation ``n`` times, with
everything it needs made beforehand at import). It runs under callgrind twice, with two values
of ``n``; the difference of the two totals over the difference of ``n`` is the count per
operation, without the interpreter's start, the imports and the setup.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

__all__ = ["available", "per_operation"]

_TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)
_ROOT = Path(__file__).resolve().parent.parent


def available() -> bool:
    """Whether valgrind is installed."""
    return shutil.which("valgrind") is not None


def _total(source: str, n: int, directory: Path) -> int:
    script = directory / "workload.py"
    # No collection in the middle: where one falls depends on what was allocated before.
    tail = f"\n\nimport gc\n\ngc.collect()\ngc.disable()\nwork({n})\n"
    script.write_text(source + tail, encoding="utf-8")
    out = directory / f"callgrind.{n}.out"
    environment = {
        **os.environ,
        "PYTHONHASHSEED": "0",  # the same dict and set layouts every run
        "PYTHONPATH": str(_ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise RuntimeError("valgrind is not installed (apt-get install valgrind)")
    subprocess.run(  # noqa: S603 - valgrind on our own script
        [
            valgrind,
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            sys.executable,
            str(script),
        ],
        check=True,
        capture_output=True,
        env=environment,
        timeout=1800,
    )
    found = _TOTALS.search(out.read_text(encoding="utf-8", errors="replace"))
    if found is None:
        raise RuntimeError(f"callgrind wrote no total in {out}")
    return int(found.group(1))


def per_operation(source: str, *, small: int = 50, large: int = 250) -> float:
    """Instructions per operation of the workload ``source`` (see the module's docstring).

    The start-up is not quite the same from run to run (OpenSSL's blinding, random ids: some
    100 000 instructions of 2 billion here), so choose ``large - small`` to make that small
    beside ``(large - small)`` operations: thousands for a path of microseconds.

    Raises:
        RuntimeError: valgrind is missing, or failed.
    """
    if not available():
        raise RuntimeError("valgrind is not installed (apt-get install valgrind)")
    code = textwrap.dedent(source)
    with tempfile.TemporaryDirectory(prefix="altinn-callgrind-") as name:
        directory = Path(name)
        # Both runs make the same start-up; only the operations differ.
        low = _total(code, small, directory)
        high = _total(code, large, directory)
    return (high - low) / (large - small)
