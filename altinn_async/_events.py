"""Altinn 3 Events: CloudEvents feeds for service owners, parties and event resources.

Altinn answers a JSON array of CloudEvents 1.0 per page and links the next page in a ``next``
response header, sent only with a non-empty page; ``[]`` means no more events for now. A feed
is read to its end, and read again later from where it ended::

    async with httpx.AsyncClient(auth=exchange, base_url=altinn.TEST.platform) as http:
        events = altinn.EventsClient(http)
        feed = events.app_events("ttd", "apps-test", after=saved_id or "0")
        async for event in feed:
            await handle(event)
            saved_id = event.id         # or save feed.feed_position after the loop

Altinn holds back events for their first 30 seconds, and checks the caller's rights on each
page after reading it from its database: a page can be shorter than ``size``, and in the worst
case empty while later events exist (when none of the ``size`` events read could be shown).
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Self, cast

import attrs
import httpx

from ._api import PlatformClient
from ._hal import json_kind
from ._httpcompat import AsyncClient, Auth, url_argument
from ._paging import NextHeader, Page, PageContent, Paginator, _set_query
from ._redact import mask_pids, safe_url
from ._retry import RetryPolicy
from ._times import format_time, parse_time, query_time
from .exceptions import CloudEventError, ConfigurationError, PaginationError

__all__ = ["CloudEvent", "EventPage", "EventPager", "EventsClient"]

# --- CloudEvent ---------------------------------------------------------------------------------

_SPEC_ATTRIBUTES = frozenset(
    {"id", "source", "type", "specversion", "time", "subject", "datacontenttype", "dataschema"}
    | {"data", "data_base64"}
)
# Altinn's extension attributes, read into attributes of their own.
_ALTINN_ATTRIBUTES = frozenset({"alternativesubject", "resource", "resourceinstance"})
_OWN_ATTRIBUTES = _SPEC_ATTRIBUTES | _ALTINN_ATTRIBUTES

_SPECVERSION = re.compile(r"1\.[0-9]+(?:\.[0-9]+)*", re.ASCII)
_PARTY_SUBJECT = re.compile(r"(?:/party/|urn:altinn:party:id:)([0-9]+)", re.ASCII)
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_INSTANCE_ID = re.compile(rf"[0-9]+/{_GUID}", re.ASCII)
_INSTANCE_IN_SOURCE = re.compile(rf"/instances/([0-9]+)/({_GUID})(?=[/?#]|$)", re.ASCII)


def _read_only(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


def _document_of(event: CloudEvent) -> dict[str, Any]:
    # The structured-JSON form of an event made in code rather than parsed.
    document: dict[str, Any] = {
        "specversion": event.specversion,
        "id": event.id,
        "source": event.source,
        "type": event.type,
    }
    if event.time is not None:
        document["time"] = format_time(event.time)
    for name in (
        "subject",
        "datacontenttype",
        "dataschema",
        "resource",
        "resourceinstance",
        "alternativesubject",
    ):
        value = getattr(event, name)
        if value is not None:
            document[name] = value
    document.update(event.extensions)
    if isinstance(event.data, bytes):
        document["data_base64"] = base64.b64encode(event.data).decode("ascii")
    elif event.data is not None:
        document["data"] = event.data
    return document


@attrs.frozen(kw_only=True, repr=False, unsafe_hash=False)
class CloudEvent:
    """One CloudEvents 1.x event, as Altinn sends it in structured JSON.

    Parse one with `from_dict`; a feed's `EventPager` hands them out parsed. Attributes Altinn
    sets as ``null`` count as absent, as the JSON format says. Two events are equal when every
    attribute but `document` is; the hash is that of ``(source, id)``, which CloudEvents makes
    unique.

    The ``repr`` masks national identity numbers (in ``alternativesubject``, and in a subject
    such as ``urn:altinn:person:identifier-no:…``) and leaves out ``data``.

    Attributes:
        id: the event's id (unique per ``source``): pass the last one handled as ``after=``.
        source: where the event happened (for an app event, the instance's URL).
        type: what happened, e.g. ``app.instance.created``.
        specversion: the CloudEvents version, ``1.0``.
        time: when it happened, an aware `datetime` (to the microsecond; `document` keeps the
            exact text).
        subject: whom it concerns, e.g. ``/party/50019855``.
        alternativesubject: Altinn's other name for the subject, e.g. ``/person/16035001577``
            (may hold a national identity number).
        datacontenttype: the media type of `data`.
        dataschema: the schema of `data`.
        data: the payload: any JSON value, or `bytes` when it came as ``data_base64``.
        resource: Altinn's ``resource`` extension, e.g. ``urn:altinn:resource:app_ttd_apps-test``.
        resourceinstance: Altinn's ``resourceinstance`` extension (for an app event
            ``{partyId}/{instanceGuid}``).
        extensions: every other extension attribute, read-only.
        document: the event as sent (a dict to write out as JSON; do not modify it).
    """

    id: str
    source: str
    type: str
    specversion: str = "1.0"
    time: datetime | None = None
    subject: str | None = None
    alternativesubject: str | None = None
    datacontenttype: str | None = None
    dataschema: str | None = None
    data: Any = None
    resource: str | None = None
    resourceinstance: str | None = None
    extensions: Mapping[str, Any] = attrs.field(factory=dict, converter=_read_only)
    document: dict[str, Any] = attrs.field(
        default=attrs.Factory(_document_of, takes_self=True), eq=False
    )

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Self:
        """The event in a structured-JSON CloudEvents document (one object of a page).

        Args:
            document: the decoded JSON object.

        Raises:
            CloudEventError: ``document`` is not an object, a required attribute (``id``,
                ``source``, ``type``, ``specversion``) is missing or not a non-empty string,
                ``specversion`` is not 1.x, or a known attribute has the wrong type (``time``
                not RFC 3339, ``data_base64`` not base64, both ``data`` and ``data_base64``).
        """
        if not isinstance(document, Mapping):
            raise CloudEventError(f"an event is a JSON object, not {json_kind(document)}")
        raw = dict(document)
        specversion = _required(raw, "specversion")
        if not _SPECVERSION.fullmatch(specversion):
            raise CloudEventError(
                f"specversion {mask_pids(specversion)!r} is not 1.x (Altinn sends CloudEvents 1.0)",
                attribute="specversion",
            )
        time_text = _optional(raw, "time")
        time = None
        if time_text is not None:
            try:
                time = parse_time(time_text)
            except ValueError as exc:
                raise CloudEventError(
                    f"time {mask_pids(time_text)!r} is not an RFC 3339 timestamp",
                    attribute="time",
                ) from exc
        return cls(
            id=_required(raw, "id"),
            source=_required(raw, "source"),
            type=_required(raw, "type"),
            specversion=specversion,
            time=time,
            subject=_optional(raw, "subject"),
            alternativesubject=_optional(raw, "alternativesubject"),
            datacontenttype=_optional(raw, "datacontenttype"),
            dataschema=_optional(raw, "dataschema"),
            data=_data(raw),
            resource=_optional(raw, "resource"),
            resourceinstance=_optional(raw, "resourceinstance"),
            extensions={
                name: value
                for name, value in raw.items()
                if name not in _OWN_ATTRIBUTES and value is not None
            },
            document=raw,
        )

    def __hash__(self) -> int:
        return hash((self.source, self.id))

    def __repr__(self) -> str:
        parts = [f"id={mask_pids(self.id)!r}", f"type={self.type!r}"]
        parts.append(f"source={mask_pids(self.source)!r}")
        for name in ("subject", "alternativesubject", "resource", "resourceinstance"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={mask_pids(value)!r}")
        if self.time is not None:
            parts.append(f"time={format_time(self.time)!r}")
        if self.extensions:
            parts.append(f"extensions={sorted(self.extensions)!r}")
        return f"CloudEvent({', '.join(parts)})"

    @property
    def party_id(self) -> str | None:
        """The party id in a subject ``/party/{id}`` (or ``urn:altinn:party:id:{id}``), or
        ``None``."""
        match = None if self.subject is None else _PARTY_SUBJECT.fullmatch(self.subject)
        return None if match is None else match[1]

    @property
    def instance_id(self) -> str | None:
        """The app instance the event is about, as ``{partyId}/{instanceGuid}`` (what
        `StorageClient.get_instance` takes), or ``None``.

        Read from ``resourceinstance``, or else from a ``source`` URL that ends in
        ``/instances/{partyId}/{instanceGuid}``.
        """
        if self.resourceinstance is not None and _INSTANCE_ID.fullmatch(self.resourceinstance):
            return self.resourceinstance
        match = _INSTANCE_IN_SOURCE.search(self.source)
        return None if match is None else f"{match[1]}/{match[2]}"


def _required(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        raise CloudEventError(f"the required attribute {name!r} is missing", attribute=name)
    if not isinstance(value, str) or not value:
        kind = "an empty string" if value == "" else json_kind(value)
        raise CloudEventError(f"{name!r} is {kind}, not a non-empty string", attribute=name)
    return value


def _optional(raw: dict[str, Any], name: str) -> str | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, str):
        raise CloudEventError(f"{name!r} is {json_kind(value)}, not a string", attribute=name)
    return value


def _data(raw: dict[str, Any]) -> Any:
    encoded = raw.get("data_base64")
    if encoded is None:
        return raw.get("data")
    if raw.get("data") is not None:
        raise CloudEventError("an event has data or data_base64, not both", attribute="data")
    if not isinstance(encoded, str):
        raise CloudEventError(
            f"'data_base64' is {json_kind(encoded)}, not a string", attribute="data_base64"
        )
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise CloudEventError("'data_base64' is not base64", attribute="data_base64") from exc


# --- paging -------------------------------------------------------------------------------------


@attrs.frozen
class _EventFeed:
    """`NextHeader` paging whose items are `CloudEvent` objects.

    A non-empty page that comes without its ``next`` header (Altinn always sends one; a proxy
    may drop it) is followed by the page ``after`` its last event, which is the link Altinn
    would have sent: the feed ends only with ``[]``, so the last page fetched is always where
    to ask again.
    """

    header: NextHeader = attrs.field(factory=NextHeader)

    def start(self, url: httpx.URL) -> httpx.URL:
        """The feed's URL, unchanged."""
        return url

    def parse(self, response: httpx.Response, url: httpx.URL) -> PageContent[CloudEvent]:
        """The page's events, and the ``next`` header's URL unless the page is empty."""
        content = self.header.parse(response, url)
        events = [_event_on_page(item, index, url) for index, item in enumerate(content.items)]
        next_link = content.next
        if next_link is None and events:
            next_link = _set_query(url, "after", events[-1].id)
        return PageContent(items=events, next=next_link)


def _event_on_page(document: dict[str, Any], index: int, url: httpx.URL) -> CloudEvent:
    try:
        return CloudEvent.from_dict(document)
    except CloudEventError as exc:
        event_id = document.get("id")
        named = f" (id {mask_pids(event_id)!r})" if isinstance(event_id, str) and event_id else ""
        raise PaginationError(
            f"{safe_url(url)}: event [{index}]{named} is not a CloudEvent: {exc}",
            position=str(url),
        ) from exc


_EVENT_FEED = _EventFeed()


@attrs.frozen
class EventPage(Page[CloudEvent]):
    """One page of an Events feed: a `Page` whose items are `CloudEvent` objects.

    Attributes:
        items: the events on this page (also as `events`); empty on the last page.
        url: the URL this page was fetched from; for the last (empty) page, where the feed
            continues later.
        next: the URL of the next page, or ``None`` on the last page.
    """

    @property
    def events(self) -> list[CloudEvent]:
        """The events on this page (the same list as `items`)."""
        return self.items


class EventPager(Paginator[CloudEvent]):
    """An async iterator over an Events feed: `CloudEvent` objects, oldest first, until ``[]``.

    A `Paginator` that follows Altinn's ``next`` response header verbatim, but only on the
    origin of the first page (every request carries the client's token). Iterate it for events,
    or iterate `pages` for whole `EventPage` objects. Every page request goes through the
    `RetryPolicy`; a failed page raises and leaves the pager where it was.

    Where to continue, in two equivalent forms:

    - `feed_position`: a URL. While events are left it is `position` (the first page not fully
      handed out); once the feed reached ``[]`` it is the URL of that empty page, which is
      where new events will appear. Pass it as ``resume_from``. Resuming from the middle of a
      page is at-least-once: the events of that page come again.
    - `last_event_id`: the id of the last event handed out. Pass it as ``after=`` with the same
      filters: exactly once, even after a stop in the middle of a page.

    Headers (the ``person`` header, ``Altinn-AlternativeSubject``) are not part of a position:
    pass them again when resuming.

    Args:
        http: the client to send the requests with.
        first_url: the feed's first page.
        resume_from: a saved `feed_position` to start from instead (on the feed's origin, and
            a position of the same endpoint).
        max_items: stop after this many events.
        headers: extra headers for every page request.
        alternative_subject: sent as ``Altinn-AlternativeSubject`` with every page request
            whose URL has no ``subject`` parameter: Altinn's next link turns the header into
            ``subject=``, and refuses a request with both.
        retry: the `RetryPolicy` for page requests.

    Raises:
        ConfigurationError: ``resume_from`` is on another origin or is a position of another
            endpoint, or ``max_items`` is negative.
    """

    def __init__(
        self,
        http: AsyncClient,
        first_url: str | httpx.URL,
        *,
        resume_from: str | httpx.URL | None = None,
        max_items: int | None = None,
        headers: Mapping[str, str] | None = None,
        alternative_subject: str | None = None,
        retry: RetryPolicy | None = None,
        auth: Auth | None = None,
    ) -> None:
        super().__init__(
            http,
            first_url,
            _EVENT_FEED,
            resume_from=resume_from,
            max_items=max_items,
            headers=headers,
            retry=retry,
            auth=auth,
        )
        start = httpx.URL(cast("str", self.position))
        if resume_from is not None:
            endpoint = self._http.build_request("GET", url_argument(self._http, first_url)).url
            if _endpoint_path(start) != _endpoint_path(endpoint):
                raise ConfigurationError(
                    f"resume_from ({safe_url(start.copy_with(query=None))}) is a position of "
                    f"another feed than {safe_url(endpoint.copy_with(query=None))}"
                )
        self._alternative_subject = alternative_subject
        self._last_page_url = str(start)
        self._last_event_id: str | None = start.params.get("after")

    def __repr__(self) -> str:
        last_id = None if self._last_event_id is None else mask_pids(self._last_event_id)
        return (
            f"{type(self).__name__}(feed_position={safe_url(self.feed_position)!r}, "
            f"last_event_id={last_id!r}, handed_out={self.handed_out})"
        )

    @property
    def feed_position(self) -> str:
        """The URL to ask for more events: `position`, or once the feed reached ``[]``, the
        URL of that empty page. Pass it as ``resume_from`` later."""
        position = self.position
        return self._last_page_url if position is None else position

    @property
    def last_event_id(self) -> str | None:
        """The id of the last event handed out; before the first one, the ``after`` the pager
        started from (``None`` when it started from ``from_``). Pass it as ``after=``."""
        return self._last_event_id

    def pages(self) -> AsyncIterator[EventPage]:
        """The pages one by one, the empty last page too, as an async iterator.

        Raises:
            APIError: Altinn answered a page with an error status.
            NetworkError: a page got no answer (after the retries).
            PaginationError: a page is not an array of CloudEvents, or a ``next`` link repeats
                or leaves the origin.
        """
        return _EventPages(self._next_event_page)

    async def __anext__(self) -> CloudEvent:
        event = await super().__anext__()
        self._last_event_id = event.id
        return event

    async def _next_event_page(self) -> EventPage:
        # Every page of an EventPager is built by its _new_page (attrs.evolve keeps the class).
        page = cast("EventPage", await self._next_page(stacklevel=6))
        if page.items:
            self._last_event_id = page.items[-1].id
        return page

    def _page_headers(self, url: httpx.URL) -> dict[str, str] | None:
        headers = super()._page_headers(url)
        if self._alternative_subject is None or "subject" in url.params:
            return headers
        return {**(headers or {}), "Altinn-AlternativeSubject": self._alternative_subject}

    def _new_page(
        self,
        content: PageContent[CloudEvent],
        url: httpx.URL,
        next_url: httpx.URL | None,
        headers: httpx.Headers,
    ) -> EventPage:
        self._last_page_url = str(url)
        return EventPage(
            items=content.items,
            url=str(url),
            next=None if next_url is None else str(next_url),
            headers=headers,
        )


class _EventPages:
    def __init__(self, next_page: Callable[[], Awaitable[EventPage]]) -> None:
        self._next_page = next_page

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> EventPage:
        return await self._next_page()


def _endpoint_path(url: httpx.URL) -> str:
    # From /events/api/ on: a platform behind a path prefix still names the same endpoint.
    path = url.path
    start = path.find("/events/api/")
    return path if start < 0 else path[start:]


# --- the client ---------------------------------------------------------------------------------

_APP = "/events/api/v1/app"
_EVENTS = "/events/api/v1/events"
_RESOURCE_PREFIX = "urn:altinn:resource:"
_GENERIC_MAX_SIZE = 1000

_DIGITS_9 = re.compile(r"[0-9]{9}", re.ASCII)
_DIGITS_11 = re.compile(r"[0-9]{11}", re.ASCII)
_PARTY = re.compile(r"[1-9][0-9]*", re.ASCII)

Query = list[tuple[str, str]]


class EventsClient(PlatformClient):
    """Altinn 3 Events, over an authenticated ``httpx.AsyncClient``.

    Example::

        async with httpx.AsyncClient(auth=exchange, base_url=altinn.TEST.platform) as http:
            events = altinn.EventsClient(http)
            feed = events.app_events("ttd", "apps-test", from_="2024-01-01T00:00Z")
            async for event in feed:
                print(event.type, event.instance_id)
            later = feed.feed_position       # resume_from=later asks for what came since

    Each method checks what Altinn would refuse before sending anything, and returns an
    `EventPager` without sending a request. A national identity number (``person``,
    ``alternative_subject``) goes in a request header, never in a URL, a ``repr`` or a message.

    Args:
        http: a client whose auth gives Altinn tokens (`AltinnExchangeAuth`); the generic
            `events` needs the scope ``altinn:events.subscribe``.
        platform: the platform base URL, if ``http`` has no ``base_url``.
        retry: the `RetryPolicy` for page requests (``RetryPolicy.NEVER`` for none).

    Raises:
        ConfigurationError: there is no platform URL.
    """

    def app_events(
        self,
        org: str,
        app: str,
        *,
        after: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        party: int | str | None = None,
        unit: str | None = None,
        person: str | None = None,
        types: str | Iterable[str] = (),
        size: int | None = None,
        resume_from: str | None = None,
        max_items: int | None = None,
    ) -> EventPager:
        """The events of one app, for its service owner (``GET /events/api/v1/app/{org}/{app}``).

        The token must carry the service owner's ``urn:altinn:org`` claim.

        Args:
            org: the service owner (``ttd``).
            app: the app's name (``apps-test``).
            after: the id of the last event you have: the feed starts after it. An id Altinn
                does not know (such as ``"0"``) reads from the oldest event.
            from_: only events at or after this time: an aware `datetime`, or an ISO 8601
                string with a timezone (``2023-02-16T18:00Z``). Sent as UTC.
            to: only events at or before this time (as ``from_``).
            party: only events about this party id.
            unit: only events about this organisation (9 digits).
            person: only events about this person (an 11-digit national identity number, sent
                in the ``person`` header).
            types: only events of these types (Altinn matches them with SQL ``ILIKE``, so
                ``%`` is a wildcard).
            size: events per page (Altinn's default is 50).
            resume_from: a saved `EventPager.feed_position` to continue from (the query
                arguments are then not sent: the position holds them; ``person`` is a header,
                pass it again).
            max_items: stop after this many events.

        Raises:
            ConfigurationError: neither ``after`` nor ``from_`` (nor ``resume_from``) is
                given, a time has no timezone, ``unit`` is not 9 digits, ``person`` is not 11
                digits, more than one of ``party``, ``unit`` and ``person`` is given, ``size``
                is below 1, or ``resume_from`` is not a position of this feed.
        """
        path = f"{_APP}/{_segment('org', org)}/{_segment('app', app)}"
        if after is None and from_ is None and resume_from is None:
            raise ConfigurationError(
                "app_events needs after (the last event id you have, or '0' for the oldest) "
                "or from_ (a time)"
            )
        query, headers = _app_query(
            after=after, from_=from_, to=to, party=party, unit=unit, person=person
        )
        query += _repeated("type", types)
        query += _size(size)
        return self._pager(
            path, query, headers=headers, resume_from=resume_from, max_items=max_items
        )

    def party_events(
        self,
        *,
        after: str | None = None,
        from_: datetime | str | None = None,
        to: datetime | str | None = None,
        party: int | str | None = None,
        unit: str | None = None,
        person: str | None = None,
        source: str | Iterable[str] | None = None,
        types: str | Iterable[str] = (),
        size: int | None = None,
        resume_from: str | None = None,
        max_items: int | None = None,
    ) -> EventPager:
        """App events about one party, for an end user or their system
        (``GET /events/api/v1/app/party``).

        Exactly one of ``party``, ``unit`` and ``person`` names whom the events are about.

        Args:
            after: the id of the last event you have (an id Altinn does not know, such as
                ``"0"``, reads from the oldest event).
            from_: only events at or after this time (an aware `datetime` or an ISO 8601
                string with a timezone).
            to: only events at or before this time.
            party: the party id.
            unit: the organisation number (9 digits).
            person: the national identity number (11 digits, sent in the ``person`` header).
            source: only events from these sources (app URLs; ``%`` is a wildcard, e.g.
                ``https://ttd.apps.altinn.no/ttd/%``).
            types: only events of these types (``%`` is a wildcard).
            size: events per page (Altinn's default is 50).
            resume_from: a saved `EventPager.feed_position` (pass ``person`` again: it is a
                header, not part of the position).
            max_items: stop after this many events.

        Raises:
            ConfigurationError: neither ``after`` nor ``from_`` is given, none or several of
                ``party``, ``unit`` and ``person``, or a value Altinn would refuse (as for
                `app_events`).
        """
        if resume_from is None:
            if after is None and from_ is None:
                raise ConfigurationError(
                    "party_events needs after (the last event id you have, or '0' for the "
                    "oldest) or from_ (a time)"
                )
            if party is None and unit is None and person is None:
                raise ConfigurationError(
                    "party_events needs party, unit or person: whom the events are about"
                )
        query, headers = _app_query(
            after=after, from_=from_, to=to, party=party, unit=unit, person=person
        )
        query += _repeated("source", () if source is None else source)
        query += _repeated("type", types)
        query += _size(size)
        pager = self._pager(
            f"{_APP}/party", query, headers=headers, resume_from=resume_from, max_items=max_items
        )
        if resume_from is not None and person is None:
            saved = httpx.URL(pager.feed_position).params
            if "party" not in saved and "unit" not in saved:
                raise ConfigurationError(
                    "resume_from names no party or unit: pass person= again (it is sent as a "
                    "header, so a position does not hold it)"
                )
        return pager

    def events(
        self,
        resource: str,
        *,
        after: str,
        subject: str | None = None,
        alternative_subject: str | None = None,
        types: str | Iterable[str] = (),
        size: int | None = None,
        resume_from: str | None = None,
        max_items: int | None = None,
    ) -> EventPager:
        """The events of an event resource (``GET /events/api/v1/events``).

        Needs the scope ``altinn:events.subscribe``. A new consumer starts with ``after="0"``
        (Altinn's documentation says so; any id Altinn does not know reads from the oldest
        event) and then passes the id of the last event it handled.

        Args:
            resource: the resource, ``urn:altinn:resource:…`` (e.g.
                ``urn:altinn:resource:app_ttd_apps-test``).
            after: the id of the last event you have, or ``"0"`` for the oldest.
            subject: only events with exactly this subject (e.g. ``/party/50019855``).
            alternative_subject: only events with exactly this alternative subject (e.g.
                ``/person/16035001577``), sent in the ``Altinn-AlternativeSubject`` header.
                Altinn's next link names the subject it found instead, so later pages go
                without the header.
            types: only events of these types (Altinn matches them with SQL ``LIKE``, so ``%``
                is a wildcard).
            size: events per page, 1 to 1000 (Altinn's default is 50).
            resume_from: a saved `EventPager.feed_position` (``after`` and the filters are then
                not sent: the position holds them; ``alternative_subject`` is a header, pass it
                again).
            max_items: stop after this many events.

        Raises:
            ConfigurationError: ``resource`` is not an ``urn:altinn:resource:`` URN, ``after``
                is empty, both ``subject`` and ``alternative_subject`` are given, ``size`` is
                not between 1 and 1000, or ``resume_from`` is not a position of this feed.
        """
        if not resource.startswith(_RESOURCE_PREFIX) or resource == _RESOURCE_PREFIX:
            raise ConfigurationError(
                f"resource must be an urn:altinn:resource:… URN, got {mask_pids(str(resource))!r}"
            )
        query: Query = [("resource", resource), ("after", _after(after))]
        if subject is not None and alternative_subject is not None:
            raise ConfigurationError("give subject or alternative_subject, not both")
        if subject is not None:
            query.append(("subject", _nonempty("subject", subject)))
        if alternative_subject is not None:
            _nonempty("alternative_subject", alternative_subject)
        query += _repeated("type", types)
        query += _size(size, maximum=_GENERIC_MAX_SIZE)
        return self._pager(
            _EVENTS,
            query,
            resume_from=resume_from,
            max_items=max_items,
            alternative_subject=alternative_subject,
        )

    def _pager(
        self,
        path: str,
        query: Query,
        *,
        resume_from: str | None,
        max_items: int | None,
        headers: dict[str, str] | None = None,
        alternative_subject: str | None = None,
    ) -> EventPager:
        return EventPager(
            self._http,
            httpx.URL(f"{self._base}{path}", params=query),
            resume_from=resume_from,
            max_items=max_items,
            headers=headers,
            alternative_subject=alternative_subject,
            retry=self._retry,
            auth=self._auth,
        )


# --- checking arguments -------------------------------------------------------------------------


def _segment(name: str, value: str) -> str:
    if not value or "/" in value:
        raise ConfigurationError(f"{name} must be a non-empty name without '/', got {value!r}")
    return urllib.parse.quote(value, safe="")


def _nonempty(name: str, value: str) -> str:
    if not value:
        raise ConfigurationError(f"{name} must be a non-empty string")
    return value


def _after(after: str) -> str:
    if not after:
        raise ConfigurationError(
            "after must be an event id (a non-empty string; '0' reads from the oldest event)"
        )
    return after


def _app_query(
    *,
    after: str | None,
    from_: datetime | str | None,
    to: datetime | str | None,
    party: int | str | None,
    unit: str | None,
    person: str | None,
) -> tuple[Query, dict[str, str] | None]:
    query: Query = []
    if after is not None:
        query.append(("after", _after(after)))
    if from_ is not None:
        query.append(("from", query_time("from_", from_)))
    if to is not None:
        query.append(("to", query_time("to", to)))
    given = [
        name
        for name, value in (("party", party), ("unit", unit), ("person", person))
        if value is not None
    ]
    if len(given) > 1:
        raise ConfigurationError(
            f"give one of party, unit and person, not {' and '.join(given)}: each names whom "
            f"the events are about"
        )
    if party is not None:
        query.append(("party", _party(party)))
    if unit is not None:
        if not _DIGITS_9.fullmatch(str(unit)):
            raise ConfigurationError(f"unit is an organisation number of 9 digits, got {unit!r}")
        query.append(("unit", unit))
    headers = None
    if person is not None:
        # Never echo the value: it is a national identity number.
        if not _DIGITS_11.fullmatch(str(person)):
            raise ConfigurationError(
                "person must be a national identity number of 11 digits (the value given is not)"
            )
        headers = {"person": person}
    return query, headers


def _party(party: int | str) -> str:
    text = str(party) if isinstance(party, int) and not isinstance(party, bool) else party
    if not isinstance(text, str) or not _PARTY.fullmatch(text):
        raise ConfigurationError(f"party is a positive party id, got {mask_pids(str(party))!r}")
    return text


def _repeated(name: str, values: str | Iterable[str]) -> Query:
    items = [values] if isinstance(values, str) else list(values)
    for item in items:
        if not item:
            raise ConfigurationError(f"each {name} must be a non-empty string, got {item!r}")
    return [(name, item) for item in items]


def _size(size: int | None, *, maximum: int | None = None) -> Query:
    if size is None:
        return []
    if size < 1:
        raise ConfigurationError(f"size must be a whole number of at least 1, got {size!r}")
    if maximum is not None and size > maximum:
        raise ConfigurationError(f"size must be at most {maximum}, got {size}")
    return [("size", str(size))]
