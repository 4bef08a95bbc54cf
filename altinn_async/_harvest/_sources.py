"""What a harvest lists: any paginator as a `HarvestSource`, and the built-in ones for Storage
instances (with their data elements), Altinn 2 messages (with their attachments) and Events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from .._altinn2 import Altinn2Client
from .._events import CloudEvent, EventsClient
from .._files import safe_filename
from .._hal import HalResource
from .._paging import Page
from .._storage import StorageClient, split_time
from ..exceptions import ConfigurationError

__all__ = [
    "Altinn2Messages",
    "EventFeed",
    "HarvestSource",
    "PageSource",
    "PaginatorSource",
    "StorageInstances",
]

T = TypeVar("T")


class PageSource(Protocol[T]):
    """What a source opens: something whose `pages` are `Page`-like (every `Paginator`)."""

    def pages(self) -> AsyncIterator[Page[T]]:  # pragma: no cover - a protocol
        """The pages from the position it was opened at."""
        ...


@runtime_checkable
class HarvestSource(Protocol[T]):
    """One list a harvest walks, and what to do with each of its items.

    Attributes:
        name: stable across runs: the checkpoint keeps the source's position under it.
        feed: the list is a feed that grows at its end (Events): its end is not the end for
            good, and the harvest keeps the URL of the last page to ask again next time.
        confirms: items are to be `confirm`-ed once they are safely in the output.

    A source may also have ``content_keys(record) -> Sequence[str]``: keys of what a record
    holds that only the item's own work finds out (a dialog's revision, which a search does
    not list). An item whose content key is in the output already is not written again, and
    its own key is remembered, so it is skipped when it is listed once more.
    """

    name: str
    feed: bool
    confirms: bool

    def describe(self) -> Mapping[str, Any]:
        """What the source lists, as JSON: a resumed harvest must list the same."""
        ...

    def open(self, position: str | None) -> PageSource[T]:
        """The list from ``position`` (a page URL saved earlier), or from its start."""
        ...

    def key(self, item: T) -> str:
        """The item's identity: an item comes out once per key, however often it is listed."""
        ...

    def record(self, item: T) -> Mapping[str, Any]:
        """The item as it is written out (JSON)."""
        ...

    async def fetch(self, item: T, folder: Path | None) -> list[Path]:
        """The item's own work, before it is written: download its files into ``folder``
        (``None`` when the harvest keeps no files). Returns the files written."""
        ...

    async def confirm(self, key: str) -> None:
        """Tell the service the item was harvested (after it is in the output for good)."""
        ...


def _no_files(item: object, folder: Path | None) -> Awaitable[list[Path]]:
    async def nothing() -> list[Path]:
        return []

    del item, folder
    return nothing()


class PaginatorSource(Generic[T]):
    """Any paginator as a harvest source.

    Example::

        source = altinn.PaginatorSource(
            "consents",
            lambda position: altinn.Paginator(
                http, "/api/serviceowner/consents?serviceCode=5678&serviceEdition=1",
                altinn.HalNextLink("consents"), resume_from=position),
            key=lambda consent: consent["AuthorizationCode"],
        )

    Args:
        name: the source's name in the checkpoint.
        open: makes the paginator, from a saved position or (``None``) from the start.
        key: an item's identity.
        record: an item as JSON (default: the item itself, or a HAL resource's document).
        fetch: per-item work before it is written (downloads); ``(item, folder) -> files``.
        confirm: called with the key of each item once it is in the output for good.
        describe: what the source lists, checked on resume (default: its name).
        feed: whether the list is a growing feed (see `HarvestSource.feed`).
    """

    def __init__(
        self,
        name: str,
        open: Callable[[str | None], PageSource[T]],  # noqa: A002 - the protocol's name
        *,
        key: Callable[[T], str],
        record: Callable[[T], Mapping[str, Any]] | None = None,
        fetch: Callable[[T, Path | None], Awaitable[list[Path]]] | None = None,
        confirm: Callable[[str], Awaitable[object]] | None = None,
        describe: Mapping[str, Any] | None = None,
        feed: bool = False,
    ) -> None:
        if not name:
            raise ConfigurationError("a source needs a name")
        self.name = name
        self.feed = feed
        self.confirms = confirm is not None
        self._open = open
        self._key = key
        self._record = record
        self._fetch = fetch or _no_files
        self._confirm = confirm
        self._description = dict(describe) if describe is not None else {"name": name}

    def __repr__(self) -> str:
        return f"PaginatorSource({self.name!r})"

    def describe(self) -> Mapping[str, Any]:
        """What the source lists (as given)."""
        return self._description

    def open(self, position: str | None) -> PageSource[T]:
        """The paginator from ``position``."""
        return self._open(position)

    def key(self, item: T) -> str:
        """The item's key."""
        return self._key(item)

    def record(self, item: T) -> Mapping[str, Any]:
        """The item as JSON."""
        if self._record is not None:
            return self._record(item)
        return as_json(item)

    async def fetch(self, item: T, folder: Path | None) -> list[Path]:
        """The per-item work."""
        return await self._fetch(item, folder)

    async def confirm(self, key: str) -> None:
        """The confirmation, if the source has one."""
        if self._confirm is not None:
            await self._confirm(key)


def as_json(item: object) -> Mapping[str, Any]:
    """An item as a JSON object: a mapping as it is, a HAL resource's document, or a value's
    ``document``."""
    if isinstance(item, HalResource):
        return dict(item.document)
    document = getattr(item, "document", None)
    if isinstance(document, Mapping):
        return document
    if isinstance(item, Mapping):
        return item
    raise ConfigurationError(
        f"cannot write a {type(item).__name__} as JSON: give the source a record= function"
    )


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name (2)``, ``name (3)``, ... when it is taken; then taken."""
    stem, dot, extension = name.rpartition(".")
    candidate, number = name, 1
    while candidate in taken:
        number += 1
        candidate = f"{stem} ({number}).{extension}" if dot else f"{name} ({number})"
    taken.add(candidate)
    return candidate


class StorageInstances:
    """Storage instances of a query, with their data elements downloaded, as a harvest source.

    The service owner's download queue is ``exclude_confirmed_by="<org>"`` with
    ``complete=True``: each instance is confirmed (``POST .../complete``) once it and its data
    are in the output for good, so the next run's query no longer lists it, and a run killed
    in between confirms it when it resumes.

    Args:
        storage: the Storage client.
        name: the source's name in the checkpoint.
        download: download each instance's data elements (into the harvest's files folder,
            ``{instance id}/{file name}``).
        complete: confirm each instance after it is harvested.
        retry_complete: retry a confirmation that may have reached Storage (it keeps one
            confirmation per org, so this is harmless; off by default, as for any POST).
        query: the arguments of `StorageClient.instances` (``org``, ``app_id``, filters,
            ``size``).
    """

    feed = False

    def __init__(
        self,
        storage: StorageClient,
        *,
        name: str = "instances",
        download: bool = True,
        complete: bool = False,
        retry_complete: bool = False,
        **query: Any,
    ) -> None:
        if "resume_from" in query or "max_items" in query:
            raise ConfigurationError(
                "the harvest keeps positions and counts itself: pass neither resume_from= nor "
                "max_items= to a source (give Harvest max_items=)"
            )
        self.name = name
        self.confirms = complete
        self._storage = storage
        self._download = download
        self._retry_complete = retry_complete
        self._query = query
        storage.instances(**query)  # the query's own checks, now rather than in the run

    def __repr__(self) -> str:
        return f"StorageInstances({self.name!r})"

    @classmethod
    def windows(
        cls,
        storage: StorageClient,
        count: int,
        *,
        by: str = "created",
        start: datetime,
        end: datetime | None = None,
        name: str = "instances",
        download: bool = True,
        complete: bool = False,
        retry_complete: bool = False,
        **query: Any,
    ) -> list[StorageInstances]:
        """The query split into ``count`` windows of time that a harvest pages at once (see
        `StorageClient.windows`), named ``{name}.1`` to ``{name}.{count}``.

        The windows are fixed when the harvest first starts: a resumed harvest needs the same
        ``start`` and ``end`` (give ``end`` explicitly for a harvest you will resume).
        """
        if by not in ("created", "last_changed") or by in query:
            raise ConfigurationError(
                f"windows are by 'created' or 'last_changed' (without a filter of their own "
                f"on it), not {by!r}"
            )
        return [
            cls(
                storage,
                name=f"{name}.{number}",
                download=download,
                complete=complete,
                retry_complete=retry_complete,
                **query,
                **{by: window},
            )
            for number, window in enumerate(split_time(start, end, count), start=1)
        ]

    def describe(self) -> Mapping[str, Any]:
        """The query (its URL) and what is done per instance."""
        url = self._storage.instances(**self._query).position
        return {
            "kind": "storage.instances",
            "query": url,
            "download": self._download,
            "complete": self.confirms,
        }

    def open(self, position: str | None) -> PageSource[dict[str, Any]]:
        """The instance list from ``position``."""
        if position is None:
            return self._storage.instances(**self._query)
        return self._storage.instances(resume_from=position)

    def key(self, item: dict[str, Any]) -> str:
        """The instance id, ``{partyId}/{instanceGuid}``."""
        identifier = item.get("id")
        if not isinstance(identifier, str) or not identifier:
            raise ConfigurationError("Storage listed an instance without an id")
        return identifier

    def record(self, item: dict[str, Any]) -> Mapping[str, Any]:
        """The instance as Storage sent it."""
        return item

    async def fetch(self, item: dict[str, Any], folder: Path | None) -> list[Path]:
        """Download the data elements into ``folder``."""
        elements = item.get("data")
        if not self._download or folder is None or not isinstance(elements, list):
            return []
        written: list[Path] = []
        taken: set[str] = set()
        for element in elements:
            if not isinstance(element, Mapping):
                continue
            name = safe_filename(
                str(element.get("filename") or element.get("id") or ""), default="data"
            )
            path = await self._storage.download_to(
                element, folder, filename=unique_name(name, taken)
            )
            written.append(path)
        return written

    async def confirm(self, key: str) -> None:
        """``POST .../complete``."""
        await self._storage.complete(key, idempotent=self._retry_complete)


class Altinn2Messages:
    """An Altinn 2 message box as a harvest source, attachments downloaded.

    Messages are read with ``markAsRead=false``: a harvest does not change the box.

    Args:
        altinn2: the Altinn 2 client.
        who: ``my``, an organisation number, or ``r<id>``.
        name: the source's name in the checkpoint.
        attachments: download each message's attachments (into ``{MessageId}/``).
        filter: an OData ``$filter``.
        date_from: ``dateFrom``.
        date_to: ``dateTo``.
    """

    feed = False
    confirms = False

    def __init__(
        self,
        altinn2: Altinn2Client,
        who: str = "my",
        *,
        name: str = "messages",
        attachments: bool = True,
        filter: str | None = None,  # noqa: A002 - Altinn's own name
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> None:
        self.name = name
        self._altinn2 = altinn2
        self._who = who
        self._attachments = attachments
        self._filter, self._date_from, self._date_to = filter, date_from, date_to

    def __repr__(self) -> str:
        return f"Altinn2Messages({self.name!r}, who={self._who!r})"

    def describe(self) -> Mapping[str, Any]:
        """The box and the query."""
        return {
            "kind": "altinn2.messages",
            "who": self._who,
            "filter": self._filter,
            "date_from": self._date_from,
            "date_to": self._date_to,
            "attachments": self._attachments,
        }

    def open(self, position: str | None) -> PageSource[HalResource]:
        """The message list from ``position``."""
        return self._altinn2.messages(
            self._who,
            filter=self._filter,
            date_from=self._date_from,
            date_to=self._date_to,
            resume_from=position,
        )

    def key(self, item: HalResource) -> str:
        """The ``MessageId`` (or the whole document, for a message without one)."""
        identifier = item.get("MessageId")
        if isinstance(identifier, str) and identifier:
            return identifier
        raise ConfigurationError("Altinn 2 listed a message without a MessageId")

    def record(self, item: HalResource) -> Mapping[str, Any]:
        """The message's document as sent."""
        return dict(item.document)

    async def fetch(self, item: HalResource, folder: Path | None) -> list[Path]:
        """Download the attachments into ``folder``."""
        if not self._attachments or folder is None:
            return []
        links = self._altinn2.attachments(item)
        if not links:
            # A list item may leave its attachment links out: the whole message has them.
            links = self._altinn2.attachments(await self._altinn2.message_details(item))
        written: list[Path] = []
        taken: set[str] = set()
        for link in links:
            name = safe_filename(
                str(link.attributes.get("fileName") or link.name or ""), default="attachment"
            )
            written.append(
                await self._altinn2.download(link, folder, filename=unique_name(name, taken))
            )
        return written

    async def confirm(self, key: str) -> None:
        """Nothing: Altinn 2 has no confirmation."""
        del key


class EventFeed:
    """An Altinn 3 Events feed as a harvest source: a service owner's app events
    (``org`` and ``app``), or a resource's events (``resource``, the generic feed).

    A feed grows at its end: a run lists it up to now (``[]``), the checkpoint keeps where it
    stopped, and the next run with ``resume=True`` writes only the events that came since.

    Args:
        events: the Events client.
        org: the service owner, with ``app``.
        app: the app, with ``org``.
        resource: ``urn:altinn:resource:...``, for the generic feed instead.
        after: start after this event id (``"0"``: from the oldest; the generic feed's
            default).
        from_: start at this time (an aware datetime), for the app feed.
        types: only these event types.
        party: only this party's events (the app feed).
        subject: only this subject's events (the generic feed).
        size: events per page.
        name: the source's name in the checkpoint.
    """

    feed = True
    confirms = False

    def __init__(
        self,
        events: EventsClient,
        *,
        org: str | None = None,
        app: str | None = None,
        resource: str | None = None,
        after: str | None = None,
        from_: datetime | None = None,
        types: Sequence[str] = (),
        party: int | str | None = None,
        subject: str | None = None,
        size: int | None = None,
        name: str = "events",
    ) -> None:
        if (resource is None) == (org is None or app is None):
            raise ConfigurationError(
                "an Events feed is an app's (org= and app=) or a resource's (resource=)"
            )
        self.name = name
        self._events = events
        self._query: dict[str, Any] = {"types": tuple(types), "size": size}
        if resource is not None:
            if from_ is not None or party is not None:
                raise ConfigurationError("the generic feed takes after=, not from_= or party=")
            self._kind = "events.resource"
            self._query |= {"resource": resource, "after": after or "0", "subject": subject}
        else:
            if subject is not None:
                raise ConfigurationError("the app feed takes party=, not subject=")
            self._kind = "events.app"
            if after is None and from_ is None:
                after = "0"
            self._query |= {"org": org, "app": app, "after": after, "from_": from_}
            self._query["party"] = party
        self.open(None)  # the client's own checks, now rather than in the run

    def __repr__(self) -> str:
        return f"EventFeed({self.name!r})"

    def describe(self) -> Mapping[str, Any]:
        """The feed and its filters."""
        described = {k: v for k, v in self._query.items() if v is not None}
        if isinstance(described.get("from_"), datetime):
            described["from_"] = described["from_"].isoformat()
        described["types"] = list(self._query["types"])
        return {"kind": self._kind, **described}

    def open(self, position: str | None) -> PageSource[CloudEvent]:
        """The feed from ``position`` (a page URL), or from its start."""
        query = dict(self._query)
        if position is not None:
            # The position holds the filters; the generic feed still wants its after=.
            query = {k: v for k, v in query.items() if k in ("org", "app", "resource", "after")}
            query["resume_from"] = position
        if self._kind == "events.resource":
            resource = query.pop("resource")
            return self._events.events(resource, **query)
        org, app = query.pop("org"), query.pop("app")
        return self._events.app_events(org, app, **query)

    def key(self, item: CloudEvent) -> str:
        """The event id."""
        return item.id

    def record(self, item: CloudEvent) -> Mapping[str, Any]:
        """The event as sent."""
        return item.document

    async def fetch(self, item: CloudEvent, folder: Path | None) -> list[Path]:
        """Nothing: an event has no files."""
        del item, folder
        return []

    async def confirm(self, key: str) -> None:
        """Nothing: Events has no confirmation."""
        del key


def source_names(sources: Sequence[HarvestSource[Any]]) -> list[str]:
    """The names, checked unique."""
    names = [source.name for source in sources]
    if len(set(names)) != len(names):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        raise ConfigurationError(f"two sources share a name: {', '.join(duplicates)}")
    return names
