"""Where a harvest writes its items: JSON Lines, a folder of JSON files, or your own `Sink`.

A sink writes items as they come and makes them durable when the harvest commits: `flush`
returns a small JSON state that the checkpoint stores in the same transaction as the items'
keys, and a resumed harvest hands that state back to `open`, which cuts the output back to it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

from .._files import safe_filename
from ..exceptions import CheckpointError, ConfigurationError

__all__ = ["FolderSink", "JsonLinesSink", "Sink", "item_filename"]


@runtime_checkable
class Sink(Protocol):
    """What a harvest writes its items to.

    The harvest calls `open` once, then `write` for each item and `flush` before each
    checkpoint, then `aclose`. `write` and `flush` are never called at the same time.
    """

    @property
    def location(self) -> Path:
        """The output's path; the checkpoint goes beside it (``{location}.checkpoint``)."""
        ...

    def has_output(self) -> bool:
        """Whether the output holds something already (a harvest refuses to overwrite it
        unless told to)."""
        ...

    async def open(self, state: Mapping[str, Any] | None, *, overwrite: bool) -> None:
        """Get ready to write.

        Args:
            state: what `flush` returned at the last commit of an earlier run, to go back
                to (drop anything written after it); ``None`` for a new output.
            overwrite: start a new output over an existing one.

        Raises:
            CheckpointError: the output does not match ``state`` (it was changed).
        """
        ...

    async def write(self, key: str, record: Mapping[str, Any]) -> None:
        """Write one item (it need not be durable until `flush`)."""
        ...

    async def flush(self) -> Mapping[str, Any]:
        """Make everything written durable and return the state to record (JSON-able)."""
        ...

    async def aclose(self) -> None:
        """Close the output (without a flush: what was not flushed is not committed)."""
        ...


class JsonLinesSink:
    """Items as JSON Lines: one JSON object per line, in the order they were done.

    A resumed harvest cuts the file back to the length the checkpoint recorded, so a line
    written after the last commit of a killed run is written once more, not twice.

    Args:
        path: the file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._file: IO[bytes] | None = None
        self._lines = 0

    def __repr__(self) -> str:
        return f"JsonLinesSink({str(self._path)!r})"

    @property
    def location(self) -> Path:
        """The JSON Lines file."""
        return self._path

    def has_output(self) -> bool:
        """Whether the file exists and is not empty."""
        return self._path.is_file() and self._path.stat().st_size > 0

    async def open(self, state: Mapping[str, Any] | None, *, overwrite: bool) -> None:
        """Create the file, or cut it back to ``state``'s length."""
        if not self._path.parent.is_dir():
            raise ConfigurationError(
                f"{self._path}: the folder {self._path.parent} does not exist (create it first)"
            )
        if self._path.is_dir():
            raise ConfigurationError(f"{self._path} is a folder, not a file")
        if state is None:
            self._file = self._path.open("wb")
            return
        offset, lines = int(state.get("offset", 0)), int(state.get("lines", 0))
        size = self._path.stat().st_size if self._path.exists() else 0
        if size < offset:
            raise CheckpointError(
                f"{self._path} is shorter than its checkpoint says ({size} < {offset} bytes): "
                "it was changed; start again with overwrite (--overwrite)"
            )
        file = self._path.open("r+b")
        file.truncate(offset)  # what was written after the last commit goes
        file.seek(offset)
        self._file, self._lines = file, lines

    async def write(self, key: str, record: Mapping[str, Any]) -> None:
        """Append one line."""
        del key
        file = self._opened()
        file.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode())
        file.write(b"\n")
        self._lines += 1

    async def flush(self) -> Mapping[str, Any]:
        """Flush and fsync; the state is the file's length and line count."""
        file = self._opened()
        file.flush()
        os.fsync(file.fileno())
        return {"offset": file.tell(), "lines": self._lines}

    async def aclose(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def _opened(self) -> IO[bytes]:
        if self._file is None:
            raise RuntimeError("the sink is not open")
        return self._file


def item_filename(key: str, suffix: str = "") -> str:
    """A file or folder name for the item with ``key`` (``50019855/f21e…`` becomes
    ``50019855_f21e…``): the same key always gives the same name."""
    return safe_filename(key.replace("/", "_").replace("\\", "_"), default="item") + suffix


class FolderSink:
    """Items as JSON files in a folder, one per item, named after its key.

    A file appears whole or not at all (it is written beside its final name and renamed), and
    an item written again after a kill replaces its own file, so a resumed harvest needs no
    cutting back. With ``overwrite`` the folder's ``*.json`` files from an earlier harvest are
    removed first (nothing else in it is touched).

    Args:
        path: the folder (created if missing; its parent must exist).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._pending: list[Path] = []
        self._written = 0

    def __repr__(self) -> str:
        return f"FolderSink({str(self._path)!r})"

    @property
    def location(self) -> Path:
        """The folder."""
        return self._path

    def has_output(self) -> bool:
        """Whether the folder holds item files."""
        return self._path.is_dir() and any(self._path.glob("*.json"))

    async def open(self, state: Mapping[str, Any] | None, *, overwrite: bool) -> None:
        """Create the folder; remove half-written files (and, with overwrite, old items)."""
        if self._path.exists() and not self._path.is_dir():
            raise ConfigurationError(f"{self._path} is a file, not a folder")
        if not self._path.parent.is_dir():
            raise ConfigurationError(
                f"{self._path}: the folder {self._path.parent} does not exist (create it first)"
            )
        self._path.mkdir(exist_ok=True)
        for leftover in self._path.glob(".*.json.partial"):
            leftover.unlink(missing_ok=True)
        if overwrite:
            for old in self._path.glob("*.json"):
                old.unlink(missing_ok=True)
        self._written = 0 if state is None else int(state.get("files", 0))

    async def write(self, key: str, record: Mapping[str, Any]) -> None:
        """Write ``{key}.json`` (beside its name first, then renamed)."""
        final = self._path / item_filename(key, ".json")
        partial = final.with_name(f".{final.name}.partial")
        with partial.open("wb") as file:
            file.write(json.dumps(record, ensure_ascii=False, indent=2).encode())
            file.write(b"\n")
        partial.replace(final)
        self._pending.append(final)
        self._written += 1

    async def flush(self) -> Mapping[str, Any]:
        """fsync the files written since the last flush, and the folder."""
        for path in self._pending:
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        self._pending.clear()
        if hasattr(os, "O_DIRECTORY"):
            descriptor = os.open(self._path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        return {"files": self._written}

    async def aclose(self) -> None:
        """Nothing to close."""
        self._pending.clear()
