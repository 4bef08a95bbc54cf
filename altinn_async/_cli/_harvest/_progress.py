"""What a person watching a harvest sees: a live bar on a terminal (rich), plain lines in a log,
and a summary at the end."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import IO, Self

import anyio
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..._harvest import Harvest, HarvestStats, HarvestSummary

__all__ = ["Display", "describe_summary"]

LINE_INTERVAL = 10.0
"""Seconds between the plain lines written when stderr is not a terminal."""


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover - the loop returns


def describe_stats(stats: HarvestStats) -> str:
    """One line: items, pages, bytes, rate, and the trouble met."""
    parts = [
        f"{stats.items} items" + (f" (+{stats.earlier} earlier)" if stats.earlier else ""),
        f"{stats.pages} pages",
    ]
    if stats.files:
        parts.append(f"{stats.files} files, {_size(stats.bytes)}")
    parts.append(f"{stats.rate:.1f} items/s")
    if stats.skipped:
        parts.append(f"{stats.skipped} already done")
    if stats.retries:
        parts.append(f"{stats.retries} retries")
    if stats.pauses:
        parts.append(f"{stats.pauses} Retry-After pauses ({stats.paused:.1f} s waited)")
    if stats.sources > 1:
        parts.append(f"{stats.finished_sources}/{stats.sources} sources done")
    return ", ".join(parts)


def describe_summary(summary: HarvestSummary) -> str:
    """The end of a run, for people."""
    state = "complete" if summary.complete else "stopped before the end (--resume continues)"
    lines = [
        (
            f"harvest {state}: {summary.items} items in {summary.elapsed:.1f} s "
            f"({summary.total} in the output)"
        ),
        (
            f"  pages {summary.pages}, files {summary.files} ({_size(summary.bytes)}), "
            f"already done {summary.skipped}, retries {summary.retries}, "
            f"Retry-After pauses {summary.pauses}"
        ),
        f"  output: {summary.output}",
        f"  checkpoint: {summary.checkpoint}",
    ]
    return "\n".join(lines)


class Display:
    """Shows `HarvestStats` while a harvest runs: a rich live bar on a terminal, a plain line
    every `LINE_INTERVAL` seconds otherwise, nothing with ``quiet``.

    Use it as an async context manager around the run, and `watch` it in a task.
    """

    def __init__(
        self, harvest: Harvest, *, stream: IO[str] | None = None, quiet: bool = False
    ) -> None:
        self._harvest = harvest
        self._stream = stream or sys.stderr
        self._quiet = quiet
        self._tty = self._stream.isatty()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    @property
    def _stats(self) -> HarvestStats:
        return self._harvest.stats

    async def __aenter__(self) -> Self:
        if self._tty and not self._quiet:
            console = Console(file=self._stream, stderr=self._stream is sys.stderr)
            columns = [
                SpinnerColumn(),
                TextColumn("[bold]harvest[/]"),
                BarColumn() if self._stats.total is not None else TextColumn(""),
                TextColumn("{task.fields[line]}"),
                TimeElapsedColumn(),
            ]
            if self._stats.total is not None:
                columns.append(TimeRemainingColumn())
            self._progress = Progress(*columns, console=console, transient=False)
            self._task = self._progress.add_task(
                "harvest", total=self._stats.total, line=describe_stats(self._stats)
            )
            self._progress.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Plain lines end without one more: the summary (or the one-line error) follows.
        if self._progress is not None:
            self._refresh()
            self._progress.stop()

    async def watch(self) -> None:
        """Refresh until cancelled."""
        if self._quiet:
            return
        if self._progress is not None:
            while True:
                await anyio.sleep(0.25)
                self._refresh()
        while True:
            await anyio.sleep(LINE_INTERVAL)
            self._line()

    def _refresh(self) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=self._stats.items, line=describe_stats(self._stats)
            )

    def _line(self) -> None:
        print(f"harvest: {describe_stats(self._stats)}", file=self._stream, flush=True)
