"""A mailbox as harvest sources: the dialogs Dialogporten lists for a set of parties, each
read whole, its correspondence fetched and its attachments downloaded in the same pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx

from .._correspondence import CorrespondenceClient
from .._dialogporten import Dialog, Dialogporten, DialogSummary
from .._files import safe_filename
from .._times import format_time, parse_time
from ..exceptions import (
    APIError,
    AttachmentUnavailableError,
    ConfigurationError,
    ForeignOriginError,
)
from ._sources import PageSource, unique_name

__all__ = ["DialogportenMailbox"]

SWEEP_ORDER = "createdAt_asc,id_asc"
"""The sweep's order: ``createdAt`` never changes, and ``id`` breaks ties, so the order is
total and stable however the mailbox grows."""
UPDATES_ORDER = "updatedAt_asc,id_asc"
DEFAULT_OVERLAP = timedelta(minutes=10)


class DialogportenMailbox:
    """The dialogs of some parties as a harvest source, with their correspondence and
    attachments.

    Two kinds, usually used together (`sources` makes both):

    - a *sweep* lists every dialog once, ordered ``createdAt_asc,id_asc`` (a total order
      that does not move), and ends;
    - an *updates* feed lists dialogs ordered ``updatedAt_asc,id_asc`` from ``updated_after``;
      it ends at the newest, and a later run asks again from where it stopped, ``overlap``
      earlier (a transaction that commits late can carry an ``updatedAt`` behind the cursor).

    An item's key is the dialog's id and ``updatedAt``, and its content key the id and
    ``revision`` (which only the dialog itself tells): a dialog listed again unchanged is
    skipped without being fetched, and one changed is written again, once per revision.

    Per dialog, the harvest reads the dialog (Dialogporten records in its seen log that the
    caller saw it: it cannot be avoided), and for a correspondence reads it at the
    Correspondence API (which records it as *Fetched*: neither can that) and downloads its
    attachments, which expire. It never reads a correspondence's content endpoint nor marks
    anything read or confirmed. Other dialogs' attachments are downloaded from the platform
    (Storage) with the same token; URLs elsewhere, unauthorised or expired are noted in the
    record, not fetched.

    The record is ``{"dialog": {...}, "correspondence": {...} | null, "attachments": [...]}``,
    the dialog without its dialog token; each attachment ``{"id", "name", "file", "status"}``
    (``file`` relative to the harvest's files folder) with status ``downloaded``,
    ``expired``, ``purged``, ``unauthorized``, ``not found``, ``elsewhere`` or ``skipped``.
    A dialog deleted or expired between the search and its reading is written as listed,
    with ``"unavailable"`` saying why.

    Args:
        dialogporten: the Dialogporten client (end user: a system user or a person).
        parties: the parties (at most 100 in one search).
        correspondence: the Correspondence client (for correspondences' content and
            attachments); ``None`` harvests the dialogs only.
        kind: ``sweep`` or ``updates``.
        updated_after: where an updates feed starts (required for it).
        overlap: how far an updates feed goes back when it is asked again.
        service_resource: only these resources.
        limit: dialogs per page.
        download: download attachments.
        name: the source's name in the checkpoint.
    """

    confirms = False

    def __init__(
        self,
        dialogporten: Dialogporten,
        parties: Sequence[str],
        *,
        correspondence: CorrespondenceClient | None = None,
        kind: Literal["sweep", "updates"] = "sweep",
        updated_after: datetime | None = None,
        overlap: timedelta = DEFAULT_OVERLAP,
        service_resource: Sequence[str] = (),
        limit: int = 100,
        download: bool = True,
        name: str | None = None,
    ) -> None:
        if kind not in ("sweep", "updates"):
            raise ConfigurationError(f"kind is 'sweep' or 'updates', not {kind!r}")
        if kind == "updates" and updated_after is None:
            raise ConfigurationError("an updates feed needs updated_after=")
        if overlap < timedelta(0):
            raise ConfigurationError("overlap must not be negative")
        if not parties:
            raise ConfigurationError("a mailbox harvest needs at least one party")
        self.name = name or ("dialogs" if kind == "sweep" else "updates")
        self.feed = kind == "updates"
        self._dialogporten = dialogporten
        self._correspondence = correspondence
        self._kind = kind
        self._parties = tuple(parties)
        self._updated_after = updated_after
        self._overlap = overlap
        self._resources = tuple(service_resource)
        self._limit = limit
        self._download = download
        self._fetched: dict[str, dict[str, Any]] = {}
        self.open(None)  # the search's own checks, now rather than in the run

    def __repr__(self) -> str:
        return (
            f"DialogportenMailbox({self.name!r}, kind={self._kind!r}, parties={len(self._parties)})"
        )

    @classmethod
    def sources(
        cls,
        dialogporten: Dialogporten,
        parties: Sequence[str],
        *,
        correspondence: CorrespondenceClient | None = None,
        since: datetime,
        overlap: timedelta = DEFAULT_OVERLAP,
        batch: int = 100,
        service_resource: Sequence[str] = (),
        limit: int = 100,
        download: bool = True,
        updates: bool = True,
    ) -> list[DialogportenMailbox]:
        """A sweep and an updates feed per batch of at most ``batch`` parties.

        Args:
            since: when the harvest first started: the updates feeds list what changed from
                ``overlap`` before it (keep it for every run of the harvest: it is part of
                what the checkpoint checks).
            batch: parties per search (Dialogporten takes at most 100).
            updates: add the updates feeds.
        """
        if since.utcoffset() is None:
            raise ConfigurationError("since must be an aware datetime")
        if not 1 <= batch <= 100:
            raise ConfigurationError("batch must be 1 to 100 parties")
        unique = list(dict.fromkeys(parties))
        if not unique:
            raise ConfigurationError("a mailbox harvest needs at least one party")
        groups = [unique[i : i + batch] for i in range(0, len(unique), batch)]
        found = []
        for number, group in enumerate(groups, start=1):
            suffix = "" if len(groups) == 1 else f".{number}"
            common: dict[str, Any] = {
                "correspondence": correspondence,
                "overlap": overlap,
                "service_resource": service_resource,
                "limit": limit,
                "download": download,
            }
            found.append(cls(dialogporten, group, kind="sweep", name=f"dialogs{suffix}", **common))
            if updates:
                found.append(
                    cls(
                        dialogporten,
                        group,
                        kind="updates",
                        updated_after=since - overlap,
                        name=f"updates{suffix}",
                        **common,
                    )
                )
        return found

    # -- the source protocol -------------------------------------------------------------------

    def describe(self) -> Mapping[str, Any]:
        """The parties, filters and what is done per dialog."""
        return {
            "kind": f"dialogporten.{self._kind}",
            "parties": list(self._parties),
            "service_resource": list(self._resources),
            "updated_after": None
            if self._updated_after is None
            else format_time(self._updated_after),
            "overlap": self._overlap.total_seconds(),
            "limit": self._limit,
            "correspondence": self._correspondence is not None,
            "download": self._download,
        }

    def open(self, position: str | None) -> PageSource[DialogSummary]:
        """The search from ``position`` (a page URL); an updates feed goes back ``overlap``
        from the position's cursor."""
        order = SWEEP_ORDER if self._kind == "sweep" else UPDATES_ORDER
        common: dict[str, Any] = {
            "party": list(self._parties),
            "service_resource": list(self._resources),
            "order_by": order,
            "limit": self._limit,
        }
        if self._kind == "sweep":
            if position is not None:
                return self._dialogporten.search(resume_from=position)
            return self._dialogporten.search(**common)
        after = self._updated_after
        if position is not None:
            cursor = _cursor_time(position)
            if cursor is not None:
                after = cursor - self._overlap
            else:
                # A first page (no token yet): its updatedAfter is rewound already.
                after = _updated_after(position) or after
        return self._dialogporten.search(updated_after=after, **common)

    def key(self, item: DialogSummary) -> str:
        """The dialog's id and ``updatedAt`` (as sent)."""
        return f"{item.id}@{item.raw_time('updatedAt') or ''}"

    def content_keys(self, record: Mapping[str, Any]) -> list[str]:
        """The dialog's id and revision."""
        dialog = record.get("dialog")
        revision = dialog.get("revision") if isinstance(dialog, Mapping) else None
        if not isinstance(revision, str) or not revision:
            return []
        return [f"{dialog['id']}#{revision}"]  # type: ignore[index]

    def record(self, item: DialogSummary) -> Mapping[str, Any]:
        """The dialog, its correspondence and its attachments."""
        return self._fetched.pop(self.key(item))

    async def fetch(self, item: DialogSummary, folder: Path | None) -> list[Path]:
        """Read the dialog and its correspondence, and download the attachments."""
        try:
            dialog = await self._dialogporten.dialog(item.id)
        except APIError as exc:
            if exc.status_code not in (404, 410):
                raise
            # Deleted (410) or expired (404) since the search listed it: what the list said
            # is all there is.
            self._fetched[self.key(item)] = {
                "dialog": dict(item.document),
                "correspondence": None,
                "attachments": [],
                "unavailable": "deleted" if exc.status_code == 410 else "not found",
            }
            return []
        written: list[Path] = []
        attachments: list[dict[str, Any]] = []
        correspondence_document = None
        correspondence_id = dialog.correspondence_id
        if correspondence_id is not None and self._correspondence is not None:
            try:
                correspondence = await self._correspondence.get(correspondence_id)
            except APIError as exc:
                if exc.status_code != 404:
                    raise
                # Purged by the recipient or by Altinn: the dialog is all there is.
                self._fetched[self.key(item)] = {
                    "dialog": dialog.archived_document(),
                    "correspondence": None,
                    "attachments": [],
                    "unavailable": "correspondence not found",
                }
                return []
            correspondence_document = correspondence.document
            taken: set[str] = set()
            for attachment in correspondence.content.attachments:
                entry: dict[str, Any] = {"id": attachment.id, "name": attachment.file_name}
                attachments.append(entry)
                if not self._download or folder is None:
                    entry["status"] = "skipped"
                    continue
                name = unique_name(
                    safe_filename(attachment.file_name or attachment.id, default="attachment"),
                    taken,
                )
                try:
                    path = await self._correspondence.download(
                        correspondence, attachment, folder, filename=name
                    )
                except AttachmentUnavailableError as exc:
                    entry["status"] = exc.reason
                    continue
                written.append(path)
                entry |= {"file": f"{path.parent.name}/{path.name}", "status": "downloaded"}
        else:
            written = await self._download_dialog_attachments(dialog, folder, attachments)
        self._fetched[self.key(item)] = {
            "dialog": dialog.archived_document(),
            "correspondence": correspondence_document,
            "attachments": attachments,
        }
        return written

    async def _download_dialog_attachments(
        self, dialog: Dialog, folder: Path | None, attachments: list[dict[str, Any]]
    ) -> list[Path]:
        written: list[Path] = []
        taken: set[str] = set()
        for attachment in dialog.all_attachments():
            entry: dict[str, Any] = {"id": attachment.id, "name": attachment.name}
            attachments.append(entry)
            url = attachment.url_for("Api")
            if url is None or url.expired:
                entry["status"] = "expired" if url is not None else "not found"
                continue
            if url.unauthorized:
                entry["status"] = "unauthorized"
                continue
            if not self._download or folder is None or not url.usable:
                entry["status"] = "skipped"
                continue
            name = unique_name(
                safe_filename(attachment.name or attachment.id, default="attachment"), taken
            )
            try:
                path = await self._dialogporten.download(attachment, folder, filename=name)
            except ForeignOriginError:
                entry["status"] = "elsewhere"
                continue
            written.append(path)
            entry |= {"file": f"{path.parent.name}/{path.name}", "status": "downloaded"}
        return written

    async def confirm(self, key: str) -> None:
        """Nothing: a harvest confirms nothing (Correspondence's ``confirm`` is a statement
        by the recipient, not a receipt)."""
        del key


def _cursor_time(position: str) -> datetime | None:
    """The ``updatedAt`` in the continuation token of a page URL, if it has one."""
    token = httpx.URL(position).params.get("continuationToken") or ""
    for part in token.split(","):
        key, _, value = part.partition("_")
        if key.lower() == "updatedat" and value:
            try:
                return parse_time(value)
            except ValueError:
                return None
    return None


def _updated_after(position: str) -> datetime | None:
    """The ``updatedAfter`` of a page URL."""
    after = httpx.URL(position).params.get("updatedAfter")
    if not after:
        return None
    try:
        return parse_time(after)
    except ValueError:
        return None
