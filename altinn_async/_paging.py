"""Paginators: async iterators over Altinn's list endpoints, one small rule per paging style.

A `Paginator` does the I/O and the bookkeeping (positions, the loop and origin guards, the item
budget, warnings); a rule only reads one response: its items and where the next page is. The
rules here cover every style the Altinn APIs use:

- `HalNextLink`: HAL ``_links.next`` (Altinn 2 continuation-token lists),
- `ODataPaging`: ``$top`` / ``$skip`` until a short or empty page (Altinn 2 lists),
- `BodyNextField`: a ``next`` URL in the body (Altinn 3 Storage),
- `NextHeader`: a ``next`` response header, until ``[]`` (Altinn 3 Events),
- `KeysetPaging`: a ``continuationToken`` re-sent with the same query until
  ``hasNextPage`` is false (Dialogporten).

A new style is a class with the two methods of `PagingRule`.
"""

from __future__ import annotations

import collections
import json
import urllib.parse
import warnings
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

import anyio
import attrs
import httpx
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._hal import HalResource, json_kind, parse_hal, parse_hal_array
from ._http import api_error, origin, safe_url
from ._httpcompat import INVALID_URL, AsyncClient, Auth, as_httpx, as_httpx_auth, url_argument
from ._retry import RetryPolicy, request
from .exceptions import ConfigurationError, HALError, LimitReachedWarning, PaginationError

__all__ = [
    "BodyNextField",
    "HalNextLink",
    "KeysetPaging",
    "NextHeader",
    "ODataPaging",
    "Page",
    "PageContent",
    "Paginator",
    "PagingRule",
    "merge",
]

T = TypeVar("T")
_LOOP_MEMORY = 1000
"""How many of the last pages a paginator remembers to tell a next link that loops back."""
P_co = TypeVar("P_co", covariant=True)


@attrs.frozen
class PageContent(Generic[T]):
    """What a `PagingRule` read from one response.

    Attributes:
        items: the items on the page, in order.
        next: where the next page is (absolute, or relative to the page's URL), or ``None``
            on the last page.
        continuation_token: the server's continuation token, when it sends one besides the
            next link (informational: the paginator follows ``next``).
        warning: a warning about this page, issued at most once per kind per paginator.
    """

    items: list[T]
    next: str | httpx.URL | None
    continuation_token: str | None = None
    warning: Warning | None = None


class PagingRule(Protocol[T]):
    """How one API pages: what the first request looks like and how to read a response."""

    def start(self, url: httpx.URL) -> httpx.URL:
        """The first page's URL for a list at ``url`` (most rules return ``url`` unchanged).

        Not called when resuming: a saved position is already a complete page URL.

        Raises:
            ConfigurationError: ``url`` cannot be paged by this rule.
        """
        ...

    def parse(self, response: httpx.Response, url: httpx.URL) -> PageContent[T]:
        """The items and the next position from a 200 response for the page at ``url``.

        Raises:
            PaginationError: the response is not a page of this list (with ``position=url``).
        """
        ...


@attrs.frozen
class Page(Generic[T]):
    """One page of a list.

    Attributes:
        items: the items on this page (fewer than the server sent when ``max_items`` cut it).
        url: the URL this page was fetched from: a position to resume from.
        next: the URL of the next page, or ``None`` on the last page.
        continuation_token: the server's continuation token for the next page, when it sends
            one (Altinn 2 ``continuationtoken``).
        headers: the response's headers (left out of ``repr``: they may set cookies).
    """

    items: list[T]
    url: str
    next: str | None
    continuation_token: str | None = None
    headers: httpx.Headers = attrs.field(factory=httpx.Headers, repr=False, eq=False)


class Paginator(Generic[T]):
    """An async iterator over the items of a paged list, following the list's own rule.

    Iterate it for items, or iterate `pages` for whole pages::

        messages = Paginator(http, "/api/my/messages", ODataPaging(50, "messages"))
        async for message in messages:
            print(message["Subject"])

    `position` is the URL of the first page not yet fully handed out: save it, and pass it as
    ``resume_from`` to continue where a run stopped. Resuming is at-least-once: the items of a
    partly read page come again. A failed request or a bad page raises and leaves the position
    (and the paginator) where it was, so the same object can also be iterated again.

    Next links are followed verbatim (Storage's continuation token is double-encoded on
    purpose), but only to the origin of the first page, because the client's auth goes with
    every request. A next link to one of the last 1000 pages fetched raises `PaginationError`
    rather than looping (a paginator's memory stays the same however long the list).

    Every page request goes through the retry policy: a 503 or a dropped connection in the
    middle of a long list costs a pause, not the run.

    It is a plain iterator object, not an async generator, so leaving a loop early needs no
    cleanup on any event loop. One paginator is not meant to be iterated by two tasks at once.

    Args:
        http: the client to send the requests with (its auth, headers and base URL apply): an
            ``httpx.AsyncClient`` or an ``httpx2.AsyncClient``.
        url: the list's URL, absolute or relative to the client's ``base_url``.
        rule: how the list pages.
        resume_from: a saved `position` to start from instead (on the same origin as ``url``).
        max_items: stop after handing out this many items, without fetching further pages.
        headers: extra headers for every page request, such as
            ``{"Accept": "application/hal+json"}``.
        retry: the `RetryPolicy` for page requests (`RetryPolicy` defaults if omitted).
        auth: the auth for page requests instead of the client's.

    Raises:
        ConfigurationError: ``url`` is not absolute and the client has no ``base_url``,
            ``resume_from`` is on another origin, or ``max_items`` is negative.
    """

    def __init__(
        self,
        http: AsyncClient,
        url: str | httpx.URL,
        rule: PagingRule[T],
        *,
        resume_from: str | httpx.URL | None = None,
        max_items: int | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        auth: Auth | None = None,
    ) -> None:
        http = as_httpx(http)
        if max_items is not None and max_items < 0:
            raise ConfigurationError("max_items must not be negative")
        if resume_from is not None and not str(resume_from).strip():
            raise ConfigurationError("resume_from is empty: pass a saved position, or None")
        first = _absolute(http, url)
        self._origin = origin(first)
        if resume_from is None:
            start = rule.start(first)
        else:
            start = _absolute(http, resume_from)
            if origin(start) != self._origin:
                raise ConfigurationError(
                    f"resume_from ({start.scheme}://{start.host}) is not on the list's origin "
                    f"({first.scheme}://{first.host})"
                )
        self._http = http
        self._auth = as_httpx_auth(auth)
        self._rule = rule
        self._retry = retry or RetryPolicy()
        self._handed_out = 0
        self._headers = None if headers is None else dict(headers)
        self._remaining = max_items
        self._next: httpx.URL | None = start
        self._current: httpx.URL | None = None
        self._items: list[T] = []
        # A stand-in until the first fetch; never handed out, since it has no items.
        self._page: Page[T] = Page(items=self._items, url=str(start), next=str(start))
        self._index = 0
        # The pages fetched last, to tell a loop; bounded, so a list of millions costs no more.
        self._seen: set[str] = set()
        self._seen_order: collections.deque[str] = collections.deque()
        self._warned: set[type[Warning]] = set()

    def __repr__(self) -> str:
        position = self.position
        return (
            f"{type(self).__name__}(rule={self._rule!r}, "
            f"position={None if position is None else safe_url(position)!r}, "
            f"handed_out={self._handed_out})"
        )

    @property
    def handed_out(self) -> int:
        """How many items were handed out so far (by iteration or in pages)."""
        return self._handed_out

    @property
    def position(self) -> str | None:
        """The URL to resume from, or ``None`` when the list is done."""
        url = self._current if self._index < len(self._items) else self._next
        return None if url is None else str(url)

    def pages(self) -> AsyncIterator[Page[T]]:
        """The pages one by one, as an async iterator.

        Every fetched page is handed out, an empty last page too (its ``url`` is where an
        Events feed continues later). When items were already taken from the current page,
        the first page handed out holds the rest of it.

        Raises:
            APIError: the server answered a page with an error status.
            NetworkError: a page got no answer (after the retries).
            PaginationError: a page is malformed, or a next link repeats or leaves the origin.
        """
        return _Pages(self._next_page)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._remaining == 0:
            raise StopAsyncIteration
        while self._index >= len(self._items):
            await self._fetch(stacklevel=4)
        item = self._items[self._index]
        self._index += 1
        self._handed_out += 1
        if self._remaining is not None:
            self._remaining -= 1
        return item

    async def _next_page(self, stacklevel: int = 5) -> Page[T]:
        if self._remaining == 0:
            raise StopAsyncIteration
        if self._index >= len(self._items):
            await self._fetch(stacklevel)
        page = self._page
        start = self._index
        items = self._items if start == 0 else self._items[start:]
        if self._remaining is not None and len(items) > self._remaining:
            items = items[: self._remaining]
        self._index = start + len(items)
        self._handed_out += len(items)
        if self._remaining is not None:
            self._remaining -= len(items)
        return page if items is page.items else attrs.evolve(page, items=items)

    async def _fetch(self, stacklevel: int) -> None:
        # stacklevel: how many frames up the user's loop is, so a warning points at it.
        url = self._next
        if url is None:
            raise StopAsyncIteration
        retry = 0
        while True:
            response = await request(
                self._http,
                "GET",
                url,
                headers=self._page_headers(url),
                policy=self._retry,
                auth=self._auth,
            )
            if response.status_code != 200:
                raise await api_error(response)
            try:
                content = self._rule.parse(response, url)
                break
            except PaginationError as exc:
                # A JSON body that does not parse came through a proxy cut short (or the
                # server broke off in a way HTTP did not notice): ask again, as for a
                # dropped connection. Anything else that is not a page is not retried.
                if not isinstance(exc.__cause__, _UNDECODABLE) or not _says_json(response):
                    raise
                broken = httpx.RemoteProtocolError("the body is not complete JSON")
                wait = self._retry.delay(retry, broken, idempotent=True)
                if wait is None:
                    raise
            retry += 1
            await anyio.sleep(wait)
        next_url = None if content.next is None else self._follow(url, content.next)
        if content.warning is not None:
            # Before the state moves on: with warnings turned into errors the page is not
            # handed out, and the position still points at it.
            self._warn(content.warning, stacklevel)
        self._remember(str(url))
        self._page = self._new_page(content, url, next_url, response.headers)
        self._items = content.items
        self._index = 0
        self._current, self._next = url, next_url

    def _remember(self, url: str) -> None:
        if url in self._seen:
            return
        self._seen.add(url)
        self._seen_order.append(url)
        if len(self._seen_order) > _LOOP_MEMORY:
            self._seen.discard(self._seen_order.popleft())

    def _page_headers(self, url: httpx.URL) -> dict[str, str] | None:
        # A subclass's hook: the extra headers for the request for the page at url (by default
        # the same for every page).
        del url
        return self._headers

    def _follow(self, url: httpx.URL, link: str | httpx.URL) -> httpx.URL:
        try:
            next_url = url.join(link)
        except INVALID_URL as exc:
            raise PaginationError(
                f"{safe_url(url)} answered a next link that is not a URL", position=str(url)
            ) from exc
        if origin(next_url) != self._origin:
            raise PaginationError(
                f"the next link points to another origin ({next_url.scheme}://{next_url.host}); "
                f"not following it",
                position=str(url),
            )
        if next_url == url or str(next_url) in self._seen:
            raise PaginationError(
                f"{safe_url(url)} answered a next link that was already fetched "
                f"({safe_url(next_url)}); stopping instead of looping",
                position=str(url),
            )
        return next_url

    def _warn(self, warning: Warning, stacklevel: int) -> None:
        kind = type(warning)
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(warning, stacklevel=stacklevel)

    def _new_page(
        self,
        content: PageContent[T],
        url: httpx.URL,
        next_url: httpx.URL | None,
        headers: httpx.Headers,
    ) -> Page[T]:
        return Page(
            items=content.items,
            url=str(url),
            next=None if next_url is None else str(next_url),
            continuation_token=content.continuation_token,
            headers=headers,
        )


class _Pages(Generic[P_co]):
    def __init__(self, next_page: Callable[[], Awaitable[P_co]]) -> None:
        self._next_page = next_page

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> P_co:
        return await self._next_page()


class merge(Generic[T]):  # noqa: N801 - used like a function, as contextlib's helpers are
    """Iterate several async iterables at once, items in the order they arrive.

    For paginators over disjoint parts of one list (`StorageClient.windows`): each is paged by
    its own task, so the pages of all of them are in flight together. Use it as an async
    context manager; leaving the block stops every task::

        async with altinn.merge(storage.windows(8, start=since, org="ttd")) as instances:
            async for instance in instances:
                ...

    The first failure of any iterable stops the others and is raised as itself (not as an
    exception group), when the block is left.

    Args:
        iterables: what to iterate.
        buffer: items each iterable may run ahead of the consumer.
    """

    def __init__(self, iterables: Sequence[AsyncIterable[T]], *, buffer: int = 0) -> None:
        if buffer < 0:
            raise ConfigurationError("buffer must not be negative")
        self._iterables = list(iterables)
        self._buffer = buffer
        self._group: TaskGroup | None = None
        self._receive: MemoryObjectReceiveStream[T] | None = None

    def __repr__(self) -> str:
        return f"merge({len(self._iterables)} iterables)"

    async def __aenter__(self) -> MemoryObjectReceiveStream[T]:
        if self._group is not None:
            raise RuntimeError("merge() is not reentrant: make a new one")
        send, receive = anyio.create_memory_object_stream[T](self._buffer)
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group, self._receive = group, receive
        for iterable in self._iterables:
            group.start_soon(_pump, iterable, send.clone())
        send.close()
        return receive

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        group, receive = self._group, self._receive
        if group is None or receive is None:  # pragma: no cover - only after __aenter__
            return None
        group.cancel_scope.cancel()
        receive.close()
        try:
            return await group.__aexit__(kind, exc, traceback)
        except BaseExceptionGroup as failures:
            leaves = _leaves(failures)
            cancelled = anyio.get_cancelled_exc_class()
            first = next((e for e in leaves if not isinstance(e, cancelled)), leaves[0])
            raise first from None


async def _pump(iterable: AsyncIterable[T], send: MemoryObjectSendStream[T]) -> None:
    async with send:
        async for item in iterable:
            await send.send(item)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _absolute(http: httpx.AsyncClient, url: str | httpx.URL) -> httpx.URL:
    # build_request resolves a relative URL against base_url exactly as http.get would.
    resolved = http.build_request("GET", url_argument(http, url)).url
    if not resolved.is_absolute_url:
        raise ConfigurationError(
            f"{safe_url(url)} is not an absolute URL, and the client has no base_url to resolve "
            "it against"
        )
    return resolved


# --- reading responses --------------------------------------------------------------------------


def _json(response: httpx.Response, url: httpx.URL) -> object:
    try:
        return response.json()
    except ValueError as exc:
        content_type = response.headers.get("Content-Type", "")
        hint = ""
        if "html" in content_type:
            # Altinn 2 treats an unauthenticated caller as a browser and answers a login page.
            hint = " (an HTML page: is the request authenticated?)"
        raise PaginationError(
            f"{safe_url(url)} did not answer JSON but {content_type or 'no Content-Type'}{hint}",
            position=str(url),
        ) from exc


_UNDECODABLE = (json.JSONDecodeError, UnicodeDecodeError)


def _says_json(response: httpx.Response) -> bool:
    kind: str = response.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


def _objects(body: object, url: httpx.URL, what: str) -> list[dict[str, Any]]:
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise PaginationError(
            f"{safe_url(url)} answered {what} that is not a list of objects", position=str(url)
        )
    return body


def _object_with_items(
    response: httpx.Response, url: httpx.URL, key: str
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A page that is a JSON object, and its list of objects under ``key``."""
    body = _json(response, url)
    if not isinstance(body, dict):
        raise PaginationError(
            f"{safe_url(url)} answered {json_kind(body)}, not an object", position=str(url)
        )
    items = body.get(key)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise PaginationError(
            f"{safe_url(url)} answered without an {key!r} list", position=str(url)
        )
    return body, items


def _hal(body: object, url: httpx.URL) -> HalResource:
    try:
        return parse_hal(body)
    except HALError as exc:
        raise PaginationError(f"{safe_url(url)}: {exc}", position=str(url)) from exc


def _embedded_items(resource: HalResource, rel: str | None, url: httpx.URL) -> list[HalResource]:
    if rel is None:
        # Altinn 2 lists embed exactly one relation; guessing among several would be a lie.
        if len(resource.embedded) > 1:
            rels = ", ".join(sorted(resource.embedded))
            raise PaginationError(
                f"{safe_url(url)} embeds several relations ({rels}); name the one to page",
                position=str(url),
            )
        return [item for items in resource.embedded.values() for item in items]
    if rel in resource.embedded:
        return list(resource.embedded[rel])
    # An empty list may leave out _embedded (or the relation) altogether; anything else
    # embedded means the rule names the wrong relation.
    if resource.embedded:
        rels = ", ".join(sorted(resource.embedded))
        raise PaginationError(f"{safe_url(url)} embeds {rels} but not {rel!r}", position=str(url))
    return []


def _limit_reached(response: httpx.Response, url: httpx.URL) -> LimitReachedWarning | None:
    if "X-Warning-LimitReached" not in response.headers:
        return None
    return LimitReachedWarning(
        f"Altinn capped the query behind {url} before filtering it (X-Warning-LimitReached): "
        f"the list may be missing items. Narrow it with dateFrom/dateTo, which Altinn applies "
        f"in the database, and page each window on its own.",
        url=str(url),
    )


# --- the rules ----------------------------------------------------------------------------------


@attrs.frozen
class HalNextLink:
    """A HAL list that links to its next page: ``_links.next.href`` (Altinn 2 continuation lists).

    Items are `HalResource` objects from ``_embedded[rel]``. The lower-case top-level
    ``continuationtoken`` Altinn 2 sends alongside is exposed as `Page.continuation_token`.
    A response header ``X-Warning-LimitReached`` issues a `LimitReachedWarning`.

    Attributes:
        rel: the embedded relation holding the items (``consents``, ``messages``, ...).
    """

    rel: str

    def start(self, url: httpx.URL) -> httpx.URL:
        """The list's URL, unchanged."""
        return url

    def parse(self, response: httpx.Response, url: httpx.URL) -> PageContent[HalResource]:
        """The embedded items and ``_links.next``."""
        resource = _hal(_json(response, url), url)
        link = resource.link("next")
        token = resource.properties.get("continuationtoken")
        return PageContent(
            items=_embedded_items(resource, self.rel, url),
            next=None if link is None else link.href,
            continuation_token=token if isinstance(token, str) and token else None,
            warning=_limit_reached(response, url),
        )


@attrs.frozen
class ODataPaging:
    """OData ``$top`` / ``$skip`` paging (Altinn 2 lists without a next link).

    The first request gets ``$top=page_size`` (any ``$skip`` in the URL is the starting
    offset); each next page advances ``$skip`` by the items received. Paging stops on an empty
    page, and on a short one (fewer than ``page_size`` items) unless ``stop_on_short_page`` is
    false. Other query parameters (``$filter``, ``dateFrom``, ...) are sent exactly as given.

    The body may be a HAL list (``_embedded[rel]``) or, with ``Accept: application/json``, a
    bare JSON array; either way the items are `HalResource` objects (without links, for a bare
    array). A response header ``X-Warning-LimitReached`` issues a `LimitReachedWarning`.

    Altinn 2 caps end-user lists (``{who}/messages``, ``reportees``) at 50 items a page, while
    service-owner and metadata lists take ``$top`` up to 10000. A ``page_size`` above a list's
    cap would look like a short last page; ``stop_on_short_page=False`` pages until an empty
    page instead, which is safe against any cap at the cost of one more request.

    Attributes:
        page_size: ``$top``: items to ask for per page.
        rel: the embedded relation holding the items; ``None`` takes the only one there is.
        stop_on_short_page: whether a page with fewer than ``page_size`` items is the last.
    """

    page_size: int = 50
    rel: str | None = None
    stop_on_short_page: bool = attrs.field(default=True, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.page_size < 1:
            raise ConfigurationError("page_size must be at least 1")

    def start(self, url: httpx.URL) -> httpx.URL:
        """``url`` with ``$top`` set to the page size."""
        try:
            _skip(url)
        except ValueError as exc:
            raise ConfigurationError(
                f"{safe_url(url)}: $skip must be a non-negative integer"
            ) from exc
        return _set_query(url, "$top", str(self.page_size))

    def parse(self, response: httpx.Response, url: httpx.URL) -> PageContent[HalResource]:
        """The items, and the same URL with ``$skip`` advanced when another page may follow."""
        body = _json(response, url)
        if isinstance(body, list):
            try:
                items = parse_hal_array(body)
            except HALError as exc:
                raise PaginationError(f"{safe_url(url)}: {exc}", position=str(url)) from exc
        else:
            items = _embedded_items(_hal(body, url), self.rel, url)
        received = len(items)
        next_url = None
        if received and (received >= self.page_size or not self.stop_on_short_page):
            try:
                skip = _skip(url)
            except ValueError as exc:
                raise PaginationError(
                    f"{safe_url(url)}: $skip is not a number", position=str(url)
                ) from exc
            next_url = _set_query(url, "$skip", str(skip + received))
        return PageContent(items=items, next=next_url, warning=_limit_reached(response, url))


def _skip(url: httpx.URL) -> int:
    value = url.params.get("$skip")
    if value is None:
        return 0
    skip = int(value)
    if skip < 0:
        raise ValueError(value)
    return skip


def _set_query(url: httpx.URL, name: str, value: str) -> httpx.URL:
    # Edits the raw query so that every other parameter keeps its exact encoding; httpx's
    # copy_set_param would re-encode them all ($filter's %20 as +, $ as %24).
    pair = f"{name}={urllib.parse.quote(value, safe='')}"
    pairs = url.query.decode("ascii").split("&") if url.query else []
    replaced = False
    for index, existing in enumerate(pairs):
        if urllib.parse.unquote(existing.partition("=")[0]) == name:
            if replaced:
                pairs[index] = ""
            else:
                pairs[index] = pair
                replaced = True
    if not replaced:
        pairs.append(pair)
    return url.copy_with(query="&".join(p for p in pairs if p).encode("ascii"))


@attrs.frozen
class BodyNextField:
    """A JSON object with the items under one key and the next page's URL under another.

    Altinn 3 Storage answers ``{"count": 2, "next": "https://…", "instances": [...]}``, with
    ``"next": null`` on the last page. Items are the objects as sent.

    Attributes:
        items_key: the key of the items list (``instances``).
        next_key: the key of the next page's URL.
    """

    items_key: str
    next_key: str = "next"

    def start(self, url: httpx.URL) -> httpx.URL:
        """The list's URL, unchanged."""
        return url

    def parse(self, response: httpx.Response, url: httpx.URL) -> PageContent[dict[str, Any]]:
        """The items list and the ``next`` URL."""
        body, items = _object_with_items(response, url, self.items_key)
        next_link = body.get(self.next_key)
        if next_link is not None and not isinstance(next_link, str):
            raise PaginationError(
                f"{safe_url(url)} answered a {self.next_key!r} that is not a URL", position=str(url)
            )
        return PageContent(items=items, next=next_link or None)


@attrs.frozen
class NextHeader:
    """A JSON array of items, with the next page's URL in a response header.

    Altinn 3 Events sends ``next`` only with a non-empty page, and the feed ends (for now)
    with ``[]``; its ``url`` is where to ask again later. Items are the objects as sent
    (CloudEvents).

    Attributes:
        header: the response header holding the next page's URL.
    """

    header: str = "next"

    def start(self, url: httpx.URL) -> httpx.URL:
        """The list's URL, unchanged."""
        return url

    def parse(self, response: httpx.Response, url: httpx.URL) -> PageContent[dict[str, Any]]:
        """The array's items, and the header's URL unless the array is empty."""
        items = _objects(_json(response, url), url, "a body")
        next_link = response.headers.get(self.header) if items else None
        return PageContent(items=items, next=next_link or None)


@attrs.frozen
class KeysetPaging:
    """Keyset paging: the same query again with the last page's ``continuationToken``, until
    ``hasNextPage`` is false (Dialogporten).

    Dialogporten answers ``{"items": [...], "hasNextPage": true, "continuationToken":
    "createdat_2024-07-31T09:09:03.0257090Z,id_0c08…", "orderBy": "createdat_asc,id_asc"}``.
    The token is the last item's sort values, not a page number or a server-side cursor: it
    never expires, and a list can be continued from it any time later, with the same filters,
    ``limit`` and ``orderBy`` (the token does not hold the directions, so they are re-sent:
    the next page's URL is the page's own URL with only ``continuationToken`` replaced).

    The end is ``hasNextPage: false`` alone: the last page carries a token too, which
    `Page.continuation_token` keeps, so a later run can start where this one ended and see
    only what came after.

    Attributes:
        items_key: the key of the items list.
        token_parameter: the query parameter (and body key) of the token.
        more_key: the key of the flag that another page follows.
    """

    items_key: str = "items"
    token_parameter: str = "continuationToken"
    more_key: str = "hasNextPage"

    def start(self, url: httpx.URL) -> httpx.URL:
        """The list's URL, unchanged (a token in it is where the list continues)."""
        return url

    def parse(self, response: httpx.Response, url: httpx.URL) -> PageContent[dict[str, Any]]:
        """The items, and the URL with the page's token while ``hasNextPage`` is true."""
        body, items = _object_with_items(response, url, self.items_key)
        more = body.get(self.more_key)
        if not isinstance(more, bool):
            raise PaginationError(
                f"{safe_url(url)} answered without a true or false {self.more_key!r}",
                position=str(url),
            )
        token = body.get(self.token_parameter)
        if token is not None and not isinstance(token, str):
            raise PaginationError(
                f"{safe_url(url)} answered a {self.token_parameter!r} that is not a string",
                position=str(url),
            )
        next_url = None
        if more:
            if not token:
                raise PaginationError(
                    f"{safe_url(url)} says another page follows but sent no "
                    f"{self.token_parameter!r}",
                    position=str(url),
                )
            if not items:
                # A token from an empty page is the one sent: asking again would loop.
                raise PaginationError(
                    f"{safe_url(url)} answered an empty page that says another page follows",
                    position=str(url),
                )
            next_url = _set_query(url, self.token_parameter, token)
        return PageContent(items=items, next=next_url, continuation_token=token or None)
