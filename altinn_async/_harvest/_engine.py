"""The harvest engine: sources paged at once, items worked on by a bounded pool, written to a
sink, and committed with the checkpoint so that every item is in the output exactly once.

How the pieces move:

- one task per source pages it; each page becomes a *ticket* that knows the position after it
  and how many of its items are still being worked on;
- items go through one bounded channel to ``concurrency`` workers, so a source never runs more
  than one page ahead of the workers and memory stays flat however long the list;
- a worker does the item's own work (downloads), then writes it to the sink;
- every ``commit_interval`` seconds the sink is flushed to disk and then one checkpoint
  transaction records the keys written since the last commit and, per source, the position
  after its last page whose items are all written. Items of later pages that are written
  already are recorded too, so they are skipped when the page is listed again;
- confirmations (Storage's ``complete``) are sent only for committed items.

A run that fails or is cancelled commits what it finished on the way out.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import attrs
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .. import _telemetry as telemetry
from .._files import deferred_sync, sweep_partials, sync_files
from .._retry import Pacer, pacing
from ..exceptions import AltinnError, CheckpointError, ConfigurationError
from ._checkpoint import Checkpoint
from ._sinks import Sink, item_filename
from ._sources import HarvestSource, source_names

__all__ = ["Harvest", "HarvestError", "HarvestStats", "HarvestSummary"]


@attrs.define
class HarvestStats:
    """What a harvest did so far: read it while `Harvest.run` runs (a progress display).

    Attributes:
        items: items written in this run.
        earlier: items written by earlier runs of the same harvest.
        skipped: items listed again but already in the output.
        pages: pages listed in this run.
        files: files downloaded.
        bytes: bytes downloaded.
        retries: requests sent again after a failure.
        pauses: ``Retry-After`` answers that paused every worker.
        paused: seconds requests spent waiting (pauses and the rate limit).
        sources: how many sources there are.
        finished_sources: sources listed to their end.
        total: how many items the run will write, when known (a ``max_items``).
        started: `time.monotonic` at the start.
    """

    items: int = 0
    earlier: int = 0
    skipped: int = 0
    pages: int = 0
    files: int = 0
    bytes: int = 0
    retries: int = 0
    pauses: int = 0
    paused: float = 0.0
    sources: int = 0
    finished_sources: int = 0
    total: int | None = None
    started: float = attrs.field(factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        """Seconds since the start."""
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Items written per second in this run."""
        elapsed = self.elapsed
        return self.items / elapsed if elapsed > 0 else 0.0


@attrs.frozen
class HarvestSummary:
    """How a harvest run ended.

    Attributes:
        items: items written in this run.
        total: items in the output, over every run.
        skipped: items listed again but already in the output.
        pages: pages listed.
        files: files downloaded.
        bytes: bytes downloaded.
        retries: requests sent again.
        pauses: ``Retry-After`` pauses.
        elapsed: seconds the run took.
        complete: every source was listed to its end (a feed: up to now).
        output: the output's path.
        checkpoint: the checkpoint's path.
    """

    items: int
    total: int
    skipped: int
    pages: int
    files: int
    bytes: int
    retries: int
    pauses: int
    elapsed: float
    complete: bool
    output: Path
    checkpoint: Path

    def as_json(self) -> dict[str, Any]:
        """The summary as a JSON object."""
        values = attrs.asdict(self)
        values["output"], values["checkpoint"] = str(self.output), str(self.checkpoint)
        values["elapsed"] = round(self.elapsed, 3)
        return values


class HarvestError(AltinnError):
    """A harvest stopped: a source or an item failed after its retries.

    What was done before the failure is in the output and the checkpoint; a run with
    ``resume=True`` (``--resume``) continues from there. The cause is ``__cause__``.

    Attributes:
        summary: the run's `HarvestSummary` up to the failure.
    """

    def __init__(self, message: str, *, summary: HarvestSummary) -> None:
        super().__init__(message)
        self.summary = summary


@attrs.define(eq=False)
class _Ticket:
    """One listed page: the position after it, and its items still being worked on."""

    source: _Run
    after: str | None
    pending: int = 0
    sealed: bool = False

    @property
    def done(self) -> bool:
        return self.sealed and self.pending == 0


@attrs.define(eq=False)
class _Run:
    """A source in this run: its tickets in page order, and what to record at the next
    commit."""

    source: HarvestSource[Any]
    position: str | None
    tickets: collections.deque[_Ticket] = attrs.field(factory=collections.deque)
    listed: bool = False  # the pager reached its end in this run
    pages: int = 0  # pages whose tickets were committed, since the last commit
    items: int = 0  # items written, since the last commit
    changed: bool = False
    attributes: dict[str, str] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        # The source's kind (storage.instances, events.app, ...): never its filters.
        kind = self.source.describe().get("kind")
        self.attributes = {
            "altinn.harvest.source": kind if isinstance(kind, str) else type(self.source).__name__
        }


@attrs.frozen
class _Work:
    ticket: _Ticket
    item: Any
    key: str


class Harvest:
    """Walk sources to their end, work on each item, and write each exactly once.

    Example::

        from datetime import UTC, datetime

        storage = altinn.StorageClient(http)
        sources = altinn.StorageInstances.windows(
            storage, 8, start=datetime(2024, 1, 1, tzinfo=UTC),
            end=datetime(2025, 1, 1, tzinfo=UTC),
            org="ttd", exclude_confirmed_by="ttd", complete=True)
        async with altinn.Harvest(sources, sink=altinn.JsonLinesSink("instances.jsonl"),
                                  files="data", resume=True) as harvest:
            summary = await harvest.run()

    The output and a checkpoint beside it (``{output}.checkpoint``, SQLite) are committed
    together, so a run that is killed at any instant (``kill -9`` too) and started again with
    ``resume=True`` ends with every item in the output once and every file complete. A run
    without ``resume`` refuses an output from an earlier harvest, unless ``overwrite``.

    Requests go through the clients' retry policies; with ``rate_limit`` they are also spread
    to at most that many a second, and one ``Retry-After`` from the server pauses every worker
    until it has passed (not just the one that got it).

    Args:
        sources: what to list (one source, or several paged at once).
        sink: where items go (`JsonLinesSink`, `FolderSink`, or your own `Sink`).
        files: the folder for the items' files (downloads), ``{files}/{item key}/``;
            ``None`` downloads nothing.
        checkpoint: the checkpoint file (default ``{sink location}.checkpoint``).
        concurrency: items worked on at once.
        rate_limit: requests per second, at most (``None``: no limit).
        resume: continue the harvest the checkpoint records.
        overwrite: start again over an earlier harvest's output.
        max_items: stop after writing this many items (``resume`` goes on from there).
        commit_interval: seconds between commits (a kill loses at most this much work).
        notes: JSON kept in the checkpoint of a new harvest (what a tool needs to resume it:
            ``Checkpoint.peek(path, "notes")``).

    Raises:
        ConfigurationError: a bad argument.
    """

    def __init__(
        self,
        sources: HarvestSource[Any] | Sequence[HarvestSource[Any]],
        *,
        sink: Sink,
        files: str | os.PathLike[str] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        concurrency: int = 10,
        rate_limit: float | None = None,
        resume: bool = False,
        overwrite: bool = False,
        max_items: int | None = None,
        commit_interval: float = 1.0,
        notes: Mapping[str, Any] | None = None,
    ) -> None:
        self._sources = list(sources) if isinstance(sources, Sequence) else [sources]
        if not self._sources:
            raise ConfigurationError("a harvest needs at least one source")
        source_names(self._sources)
        if isinstance(concurrency, bool) or concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        if max_items is not None and max_items < 0:
            raise ConfigurationError("max_items must not be negative")
        if not commit_interval > 0 or not math.isfinite(commit_interval):
            raise ConfigurationError("commit_interval must be a positive number of seconds")
        if resume and overwrite:
            raise ConfigurationError("resume and overwrite exclude each other: choose one")
        self._sink = sink
        self._files = None if files is None else Path(files)
        self._checkpoint_path = (
            Path(checkpoint) if checkpoint is not None else Path(f"{sink.location}.checkpoint")
        )
        self._concurrency = concurrency
        self._pacer = Pacer(rate_limit)
        self._resume = resume
        self._overwrite = overwrite
        self._max_items = max_items
        self._interval = commit_interval
        self._notes = dict(notes or {})
        self._stats = HarvestStats(sources=len(self._sources), total=max_items)
        self._checkpoint: Checkpoint | None = None
        self._runs: list[_Run] = []
        self._claimed: set[str] = set()  # keys being worked on or written, not committed
        self._written: list[tuple[str, str, bool]] = []
        self._contents: list[str] = []  # content keys and skipped item keys, not committed
        self._confirmed: list[str] = []
        self._to_confirm: list[tuple[HarvestSource[Any], str]] = []
        self._lock = anyio.Lock()
        self._budget = max_items
        self._stopped_early = False
        self._ran = False
        self._downloaded: list[Path] = []

    def __repr__(self) -> str:
        return (
            f"Harvest(sources={[s.name for s in self._sources]}, sink={self._sink!r}, "
            f"concurrency={self._concurrency})"
        )

    @property
    def stats(self) -> HarvestStats:
        """What the harvest did so far (live: read it while `run` runs)."""
        self._sync_pacer()
        return self._stats

    @property
    def checkpoint_path(self) -> Path:
        """The checkpoint file."""
        return self._checkpoint_path

    def folder_of(self, key: str) -> Path | None:
        """The folder an item's files go to (``None`` when the harvest keeps no files)."""
        return None if self._files is None else self._files / item_filename(key)

    # -- opening: the checks an operator counts on ---------------------------------------------

    async def __aenter__(self) -> Self:
        path = self._checkpoint_path
        if self._overwrite:
            for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
        if self._files is not None and self._files.exists() and not self._files.is_dir():
            raise ConfigurationError(f"{self._files} is a file, not a folder")
        exists = path.exists() and path.stat().st_size > 0
        if not self._resume and not self._overwrite and (exists or self._sink.has_output()):
            raise CheckpointError(
                f"{self._sink.location} exists from an earlier harvest; resume it (resume=True, "
                "--resume) or start again (overwrite=True, --overwrite)"
            )
        if self._resume and not exists and self._sink.has_output():
            raise CheckpointError(
                f"{self._sink.location} has no checkpoint ({path.name}), so it cannot be "
                "resumed; start again with overwrite (--overwrite)"
            )
        checkpoint = Checkpoint(path)
        try:
            self._runs = self._plan(checkpoint, resumed=exists)
            await self._sink.open(
                checkpoint.meta("sink") if exists else None, overwrite=self._overwrite
            )
        except BaseException:
            checkpoint.close()
            raise
        self._checkpoint = checkpoint
        self._stats.earlier = checkpoint.count()
        self._stats.finished_sources = sum(1 for run in self._runs if run.listed)
        if self._files is not None:
            self._files.mkdir(parents=True, exist_ok=True)
            sweep_partials(self._files)
        return self

    def _plan(self, checkpoint: Checkpoint, *, resumed: bool) -> list[_Run]:
        wanted = {source.name: dict(source.describe()) for source in self._sources}
        if not resumed:
            checkpoint.add_sources(wanted)
            checkpoint.set_meta("notes", self._notes)
            return [_Run(source, None) for source in self._sources]
        known = checkpoint.sources()
        differs = []
        for name in sorted(wanted.keys() | known.keys()):
            if name not in known:
                differs.append(f"{name} is new")
            elif name not in wanted:
                differs.append(f"{name} is missing")
            elif known[name].description != wanted[name]:
                before, now = known[name].description, wanted[name]
                keys = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
                differs.append(f"{name}: {', '.join(keys)}")
        if differs:
            raise CheckpointError(
                f"{self._sink.location} was harvested from other sources or options "
                f"({'; '.join(differs)}); give the same ones, or start again with overwrite "
                "(--overwrite)"
            )
        runs = []
        for source in self._sources:
            state = known[source.name]
            if state.position is not None and not state.position.strip():
                raise CheckpointError(
                    f"{checkpoint.path}: the position of {source.name} is empty (was the "
                    "checkpoint changed?); start again with overwrite (--overwrite)"
                )
            run = _Run(source, state.position)
            # A list done for good has nothing more; a feed is asked again from where it was.
            run.listed = state.finished and not source.feed
            runs.append(run)
        return runs

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the sink and the checkpoint (`run` commits its work itself)."""
        try:
            await self._sink.aclose()
        finally:
            if self._checkpoint is not None:
                self._checkpoint.close()
                self._checkpoint = None

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> HarvestSummary:
        """List every source to its end (or ``max_items``), and return the summary.

        Raises:
            HarvestError: a source or an item failed after its retries (what was done is
                committed; resume goes on from there).
            CheckpointError: the harvest is not open (use ``async with``), or ran already.
        """
        checkpoint = self._checkpoint
        if checkpoint is None:
            raise CheckpointError("open the harvest first: async with Harvest(...) as harvest")
        if self._ran:
            raise CheckpointError("a Harvest runs once; make a new one to run again")
        self._ran = True
        self._stats.started = time.monotonic()
        checkpoint.start_run()
        outcome = "failed"
        try:
            with (
                telemetry.span("altinn.harvest.run", {"altinn.harvest.sources": len(self._runs)}),
                pacing(self._pacer),
                deferred_sync() as downloaded,
            ):
                self._downloaded = downloaded
                await self._run_all()
            outcome = "complete" if self._complete() else "stopped"
        except AltinnError as exc:
            raise HarvestError(
                f"the harvest stopped: {exc}" + self._resume_hint(), summary=self.summary()
            ) from exc
        except anyio.get_cancelled_exc_class():
            outcome = "cancelled"
            raise
        except BaseException as exc:
            outcome = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            raise
        finally:
            with anyio.CancelScope(shield=True):
                async with self._lock:
                    await self._commit()
                checkpoint.end_run(items=self._stats.items, outcome=outcome)
        return self.summary()

    def _resume_hint(self) -> str:
        done = self._stats.items + self._stats.earlier
        if not done:
            return ""
        return (
            f"; the {done} items written so far stay in {self._sink.location}, and a resume "
            "(--resume) continues from there"
        )

    def _complete(self) -> bool:
        return not self._stopped_early and all(run.listed for run in self._runs)

    def summary(self) -> HarvestSummary:
        """The summary so far."""
        stats = self.stats
        return HarvestSummary(
            items=stats.items,
            total=stats.items + stats.earlier,
            skipped=stats.skipped,
            pages=stats.pages,
            files=stats.files,
            bytes=stats.bytes,
            retries=stats.retries,
            pauses=stats.pauses,
            elapsed=stats.elapsed,
            complete=self._complete(),
            output=self._sink.location,
            checkpoint=self._checkpoint_path,
        )

    def _sync_pacer(self) -> None:
        self._stats.retries = self._pacer.retries
        self._stats.pauses = self._pacer.pauses
        self._stats.paused = self._pacer.paused

    async def _run_all(self) -> None:
        done = anyio.Event()
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._commit_every, done)
                # Items committed by an earlier run but not confirmed: confirm them first.
                await self._confirm_pending()
                await self._list_and_work()
                # The committer finishes what it is doing (a confirmation cut off in the
                # middle would be sent twice), then stops.
                done.set()
            async with self._lock:
                await self._commit()
            await self._send_confirmations()
        except BaseExceptionGroup as failures:
            # Task groups wrap a failure; the operator wants the failure itself.
            leaves = _leaves(failures)
            cancelled = anyio.get_cancelled_exc_class()
            raise next((e for e in leaves if not isinstance(e, cancelled)), leaves[0]) from None

    async def _list_and_work(self) -> None:
        # No buffer: a source lists its next page only when the workers took its items.
        send, receive = anyio.create_memory_object_stream[_Work](0)
        async with anyio.create_task_group() as work:
            for _ in range(self._concurrency):
                work.start_soon(self._worker, receive.clone())
            receive.close()
            async with send, anyio.create_task_group() as listing:
                for run in self._runs:
                    if not run.listed:
                        listing.start_soon(self._list, run, send.clone())

    async def _commit_every(self, done: anyio.Event) -> None:
        while not done.is_set():
            with anyio.move_on_after(self._interval):
                await done.wait()
            if done.is_set():
                return
            async with self._lock:
                await self._commit()
            await self._send_confirmations()

    async def _list(self, run: _Run, send: MemoryObjectSendStream[_Work]) -> None:
        checkpoint = self._checkpoint
        assert checkpoint is not None  # noqa: S101 - run() checked it
        source = run.source
        async with send:
            pages = aiter(source.open(run.position).pages())
            while True:
                with telemetry.span("altinn.harvest.page", run.attributes) as span:
                    try:
                        page = await anext(pages)
                    except StopAsyncIteration:
                        return
                    span.set_attribute("altinn.harvest.page.items", len(page.items))
                self._stats.pages += 1
                last = page.next is None
                after = page.url if last and source.feed else page.next
                ticket = _Ticket(run, after)
                run.tickets.append(ticket)
                for item in page.items:
                    if self._budget is not None and self._budget <= 0:
                        # Stopped within the page: the next run lists it again, and skips what
                        # is written of it.
                        ticket.after = page.url
                        self._stopped_early = True
                        ticket.sealed = True
                        return
                    key = source.key(item)
                    if key in self._claimed or checkpoint.has(key):
                        self._stats.skipped += 1
                        continue
                    self._claimed.add(key)
                    ticket.pending += 1
                    if self._budget is not None:
                        self._budget -= 1
                    await send.send(_Work(ticket, item, key))
                ticket.sealed = True
                if last:
                    run.listed = True
                    self._stats.finished_sources += 1
                    return
                if self._budget is not None and self._budget <= 0:
                    self._stopped_early = True
                    return

    async def _worker(self, receive: MemoryObjectReceiveStream[_Work]) -> None:
        async with receive:
            async for work in receive:
                source = work.ticket.source.source
                folder = self.folder_of(work.key)
                files = await source.fetch(work.item, folder)
                record = source.record(work.item)
                content_keys = getattr(source, "content_keys", None)
                contents = list(content_keys(record)) if content_keys is not None else []
                async with self._lock:
                    if self._holds_any(contents):
                        # What the item holds is in the output already (listed again under
                        # a new key): remembered under its key too, and not written twice.
                        self._contents.append(work.key)
                        work.ticket.pending -= 1
                        self._stats.skipped += 1
                        _remove(files)
                        continue
                    self._claimed.update(contents)
                    self._contents.extend(contents)
                    await self._sink.write(work.key, record)
                    self._written.append((work.key, source.name, source.confirms))
                    work.ticket.pending -= 1
                    work.ticket.source.items += 1
                self._stats.items += 1
                telemetry.harvest_items(1, work.ticket.source.attributes)
                self._stats.files += len(files)
                for path in files:
                    self._stats.bytes += path.stat().st_size

    def _holds_any(self, keys: list[str]) -> bool:
        checkpoint = self._checkpoint
        assert checkpoint is not None  # noqa: S101 - run() checked it
        return any(key in self._claimed or checkpoint.has(key) for key in keys)

    async def _commit(self) -> None:
        """Flush the sink, then record in one transaction what it holds. Lock held."""
        checkpoint = self._checkpoint
        if checkpoint is None:  # pragma: no cover - run() checked it
            return
        positions: dict[str, tuple[str | None, bool, int, int]] = {}
        for run in self._runs:
            while run.tickets and run.tickets[0].done:
                ticket = run.tickets.popleft()
                run.position = ticket.after
                run.pages += 1
                run.changed = True
            if run.changed or run.items:
                finished = run.listed and not run.tickets
                positions[run.source.name] = (run.position, finished, run.pages, run.items)
                run.pages = run.items = 0
                run.changed = False
        if not (self._written or self._confirmed or positions or self._contents):
            return
        # The files first, then the output, then the checkpoint: each step only ever claims
        # what the one before made durable.
        downloaded = list(self._downloaded)
        if downloaded:
            await anyio.to_thread.run_sync(sync_files, downloaded)
            # Forgotten only once synced: a commit cut short leaves them to the next one.
            del self._downloaded[: len(downloaded)]
        state = await self._sink.flush()
        written, confirmed, contents = self._written, self._confirmed, self._contents
        checkpoint.commit(
            items=written, confirmed=confirmed, positions=positions, sink=state, contents=contents
        )
        self._written, self._confirmed, self._contents = [], [], []
        self._claimed.difference_update(contents)
        by_name = {run.source.name: run.source for run in self._runs}
        for key, name, confirm in written:
            self._claimed.discard(key)
            if confirm:
                self._to_confirm.append((by_name[name], key))
        self._sync_pacer()

    async def _send_confirmations(self) -> None:
        pending, self._to_confirm = self._to_confirm, []
        if not pending:
            return
        limiter = anyio.CapacityLimiter(self._concurrency)
        sent: set[str] = set()

        async def confirm(source: HarvestSource[Any], key: str) -> None:
            async with limiter:
                await source.confirm(key)
            sent.add(key)
            self._confirmed.append(key)

        try:
            async with anyio.create_task_group() as group:
                for source, key in pending:
                    group.start_soon(confirm, source, key)
        finally:
            # Cut short: what was not confirmed is confirmed later (or by the next run).
            self._to_confirm.extend(p for p in pending if p[1] not in sent)

    async def _confirm_pending(self) -> None:
        checkpoint = self._checkpoint
        assert checkpoint is not None  # noqa: S101 - run() checked it
        for run in self._runs:
            if run.source.confirms:
                self._to_confirm.extend(
                    (run.source, key) for key in checkpoint.unconfirmed(run.source.name)
                )
        await self._send_confirmations()
        async with self._lock:
            await self._commit()


def _remove(files: list[Path]) -> None:
    for path in files:
        path.unlink(missing_ok=True)
    for folder in {path.parent for path in files}:
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]
