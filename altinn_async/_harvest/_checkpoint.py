"""A harvest's checkpoint: an SQLite file beside the output.

One transaction records, together, the position of every source, the key of every item the
output holds, and the output's own state (a JSON Lines file's length). The output is flushed to
disk before that transaction, so the checkpoint never claims more than the output has: a process
killed at any instant leaves an output that may run ahead of its checkpoint, never behind, and
the next run cuts it back to the checkpoint and goes on from the recorded positions.

Looking an item up is one indexed query, so a harvest of millions of items keeps none of their
keys in memory.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from ..exceptions import CheckpointError

__all__ = ["Checkpoint", "SourceState"]

VERSION = 2

_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sources (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL,
    position TEXT,
    finished INTEGER NOT NULL DEFAULT 0,
    pages INTEGER NOT NULL DEFAULT 0,
    items INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE items (
    key TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    confirmed INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
CREATE INDEX unconfirmed_items ON items (source) WHERE confirmed = 0;
CREATE TABLE IF NOT EXISTS contents (key TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE runs (
    started REAL NOT NULL,
    ended REAL,
    items INTEGER NOT NULL DEFAULT 0,
    outcome TEXT
);
"""
_CONTENTS = "CREATE TABLE IF NOT EXISTS contents (key TEXT PRIMARY KEY) WITHOUT ROWID"


@attrs.frozen
class SourceState:
    """What the checkpoint holds about one source.

    Attributes:
        name: the source's name.
        description: what the source lists (its query), as JSON.
        position: where to go on, or ``None`` to start (or, when finished, nothing left).
        finished: the source was listed to its end.
        pages: pages done, over all runs.
        items: items written, over all runs.
    """

    name: str
    description: Mapping[str, Any]
    position: str | None
    finished: bool
    pages: int
    items: int


class Checkpoint:
    """An open checkpoint file. Not thread-safe; one harvest at a time uses it.

    Args:
        path: the SQLite file (created if missing).

    Raises:
        CheckpointError: the file is not a checkpoint of this version.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise CheckpointError(f"{self.path}: cannot open the checkpoint ({exc})") from exc
        try:
            # WAL: a commit is one append, and a process killed in the middle of one leaves the
            # file as it was before it. NORMAL is enough for that (only a power cut may lose
            # the last commits, and then the output is cut back to match).
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            if existed:
                self._check_version()
                # Added within version 2: a checkpoint from before has no content keys yet.
                self._db.execute(_CONTENTS)
            else:
                self._db.executescript(_SCHEMA)
                self._set_meta("version", VERSION)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise CheckpointError(
                f"{self.path} is not a harvest checkpoint this version can read ({exc}); "
                "start again with overwrite (--overwrite)"
            ) from exc
        except CheckpointError:
            self._db.close()
            raise
        self._run: int | None = None

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r})"

    @staticmethod
    def peek(path: str | Path, name: str) -> Any:
        """A meta value of the checkpoint at ``path`` without changing it, or ``None`` (no
        such file, not a checkpoint, no such value)."""
        if not Path(path).is_file():
            return None
        try:
            db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return None
        try:
            row = db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        except sqlite3.Error:
            return None
        finally:
            db.close()
        return None if row is None else json.loads(row[0])

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'version'").fetchone()
        version = None if row is None else json.loads(row[0])
        if version != VERSION:
            raise CheckpointError(
                f"{self.path} is a checkpoint of version {version}, not {VERSION}; start again "
                "with overwrite (--overwrite)"
            )

    def _set_meta(self, name: str, value: object) -> None:
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, json.dumps(value, sort_keys=True)),
        )

    def meta(self, name: str) -> Any:
        """A value stored with `set_meta`, or ``None``."""
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, name: str, value: object) -> None:
        """Store a JSON value now (its own transaction)."""
        self._set_meta(name, value)

    def close(self) -> None:
        """Close the file (whatever was committed stays)."""
        self._db.close()

    # -- sources -------------------------------------------------------------------------------

    def sources(self) -> dict[str, SourceState]:
        """Every source the checkpoint knows, by name."""
        rows = self._db.execute(
            "SELECT name, description, position, finished, pages, items FROM sources"
        )
        return {
            name: SourceState(
                name=name,
                description=json.loads(description),
                position=position,
                finished=bool(finished),
                pages=pages,
                items=items,
            )
            for name, description, position, finished, pages, items in rows
        }

    def add_sources(self, descriptions: Mapping[str, Mapping[str, Any]]) -> None:
        """Record the sources of a new harvest (one transaction)."""
        with self._transaction():
            self._db.executemany(
                "INSERT INTO sources (name, description) VALUES (?, ?)",
                [(name, json.dumps(d, sort_keys=True)) for name, d in descriptions.items()],
            )

    # -- items ---------------------------------------------------------------------------------

    def has(self, key: str) -> bool:
        """Whether the output holds the item with this key, or a content key
        (`HarvestSource.content_keys`) says it holds what the item would bring."""
        row = self._db.execute(
            "SELECT 1 FROM items WHERE key = ? UNION ALL SELECT 1 FROM contents WHERE key = ?",
            (key, key),
        ).fetchone()
        return row is not None

    def count(self) -> int:
        """Items the output holds."""
        row = self._db.execute("SELECT count(*) FROM items").fetchone()
        return int(row[0])

    def unconfirmed(self, source: str) -> Iterator[str]:
        """Keys of items of ``source`` written but not confirmed yet (oldest first)."""
        rows = self._db.execute(
            "SELECT key FROM items WHERE source = ? AND confirmed = 0", (source,)
        ).fetchall()
        return (key for (key,) in rows)

    # -- the commit ----------------------------------------------------------------------------

    def commit(
        self,
        *,
        items: Iterable[tuple[str, str, bool]],
        confirmed: Iterable[str] = (),
        positions: Mapping[str, tuple[str | None, bool, int, int]] = {},
        sink: Mapping[str, Any] | None = None,
        contents: Iterable[str] = (),
    ) -> None:
        """Record, in one transaction, what the output now holds.

        Args:
            items: ``(key, source, needs_confirmation)`` of every item written since the last
                commit.
            confirmed: keys whose confirmation was sent since the last commit.
            positions: per source, ``(position, finished, pages_added, items_added)``.
            sink: the output's state after its flush.
            contents: keys of what the items written hold (a dialog's revision), and keys of
                items not written because what they held was there already.
        """
        with self._transaction():
            self._db.executemany(
                "INSERT OR IGNORE INTO contents (key) VALUES (?)", [(key,) for key in contents]
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO items (key, source, confirmed) VALUES (?, ?, ?)",
                [(key, source, 0 if confirm else 1) for key, source, confirm in items],
            )
            self._db.executemany(
                "UPDATE items SET confirmed = 1 WHERE key = ?", [(key,) for key in confirmed]
            )
            self._db.executemany(
                "UPDATE sources SET position = ?, finished = ?, pages = pages + ?, "
                "items = items + ? WHERE name = ?",
                [
                    (position, int(finished), pages, added, name)
                    for name, (position, finished, pages, added) in positions.items()
                ],
            )
            if sink is not None:
                self._set_meta("sink", dict(sink))

    def start_run(self) -> None:
        """Record that a run started (for the operator's history)."""
        with self._transaction():
            cursor = self._db.execute("INSERT INTO runs (started) VALUES (?)", (time.time(),))
            self._run = cursor.lastrowid

    def end_run(self, *, items: int, outcome: str) -> None:
        """Record how the run ended."""
        if self._run is None:
            return
        with self._transaction():
            self._db.execute(
                "UPDATE runs SET ended = ?, items = ?, outcome = ? WHERE rowid = ?",
                (time.time(), items, outcome, self._run),
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")
