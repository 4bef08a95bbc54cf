"""Altinn 3 Storage for service owners: instance lists (paged by ``next``), data, completion."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self, cast

import attrs
import httpx

from ._files import download_to, safe_filename
from ._http import api_error, network_error
from ._paging import BodyNextField, Page, PageContent, Paginator
from ._redact import safe_url
from ._retry import RetryPolicy, request
from .exceptions import APIError, ConfigurationError

__all__ = ["InstancePage", "InstancePager", "StorageClient"]

Instance = dict[str, Any]
"""An instance as Storage sent it (camelCase keys, nulls omitted)."""

_INSTANCES = "/storage/api/v1/instances"


@attrs.frozen
class InstancePage(Page[Instance]):
    """One page of an instance list: a `Page` whose items are instances.

    Attributes:
        items: the instances on this page (also as `instances`).
        url: the URL this page was fetched from (a position to resume from).
        next: the URL of the next page, or ``None`` on the last page.
    """

    @property
    def instances(self) -> list[Instance]:
        """The instances on this page (the same list as `items`)."""
        return self.items


class InstancePager(Paginator[Instance]):
    """An async iterator over the instances of a Storage query, following ``next`` links.

    A `Paginator` with the `BodyNextField` rule for Storage's ``{"instances": [...], "next": …}``
    whose pages are `InstancePage` objects. Iterate it for instances, or iterate `pages` for
    whole pages. `position` is the URL of the first page not yet fully handed out: save it, and
    pass it as ``resume_from`` to pick up where a run stopped (after an error, too: a failed
    page leaves the position where it was). The ``next`` link is followed verbatim (its
    continuation token is double-encoded on purpose), but only to the same origin as the first
    page, so the token is never sent elsewhere.

    It is a plain iterator object, not an async generator, so leaving a loop early needs no
    cleanup.

    Args:
        http: the client to send the requests with.
        first_url: the query's first page.
        resume_from: a saved `position` to start from instead.
        max_items: stop after this many instances.
        retry: the `RetryPolicy` for page requests.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        first_url: str | httpx.URL,
        *,
        resume_from: str | httpx.URL | None = None,
        max_items: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(
            http,
            first_url,
            _STORAGE_RULE,
            resume_from=resume_from,
            max_items=max_items,
            retry=retry,
        )

    def pages(self) -> AsyncIterator[InstancePage]:
        """The pages one by one, as an async iterator.

        Raises:
            APIError: Storage answered a page with an error status.
            PaginationError: a page is not a Storage list, or a ``next`` link repeats or leaves
                the origin.
        """
        return _InstancePages(self)

    def _new_page(
        self,
        content: PageContent[Instance],
        url: httpx.URL,
        next_url: httpx.URL | None,
        headers: httpx.Headers,
    ) -> InstancePage:
        return InstancePage(
            items=content.items,
            url=str(url),
            next=None if next_url is None else str(next_url),
            headers=headers,
        )


class _InstancePages:
    def __init__(self, pager: InstancePager) -> None:
        self._pages = Paginator.pages(pager)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> InstancePage:
        page = await anext(self._pages)
        # Every page of an InstancePager is built by its _new_page (attrs.evolve keeps the class).
        return cast("InstancePage", page)


_STORAGE_RULE = BodyNextField("instances")


class StorageClient:
    """Altinn 3 Storage, for a service owner, over an authenticated ``httpx.AsyncClient``.

    Example::

        async with httpx.AsyncClient(auth=exchange, base_url=altinn.TEST.platform) as http:
            storage = altinn.StorageClient(http)
            async for instance in storage.instances(org="ttd"):
                ...

    Every request goes through the retry policy (429, 502, 503, 504 and network failures;
    ``complete`` too, since confirming twice is harmless).

    Args:
        http: a client whose auth gives Altinn tokens (`AltinnExchangeAuth`).
        platform: the platform base URL, if ``http`` has no ``base_url``.
        retry: the `RetryPolicy` (``RetryPolicy.NEVER`` for none).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        platform: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        base = platform if platform is not None else str(http.base_url)
        if not base or base == "/" or not httpx.URL(base).is_absolute_url:
            raise ConfigurationError(
                "StorageClient needs the platform URL: give the client a base_url or pass platform="
            )
        self._http = http
        self._base = base.rstrip("/")
        self._retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"StorageClient(platform={self._base!r})"

    async def _get(self, url: str) -> httpx.Response:
        response = await request(self._http, "GET", url, policy=self._retry)
        if response.status_code != 200:
            raise await api_error(response)
        return response

    def instances(
        self,
        *,
        org: str | None = None,
        app_id: str | None = None,
        size: int | None = None,
        params: Mapping[str, str | Sequence[str]] | None = None,
        resume_from: str | None = None,
        max_items: int | None = None,
    ) -> InstancePager:
        """Instances matching a query, newest change first.

        Args:
            org: the service owner (``ttd``); a service-owner token needs ``org`` or ``app_id``.
            app_id: ``org/app``.
            size: instances per page (Storage's default is 100).
            params: further filters as Storage names them, e.g.
                ``{"process.isComplete": "true", "lastChanged": ["gt:2024-01-01", "lt:2024-02-01"],
                "excludeConfirmedBy": "ttd"}``.
            resume_from: a saved `InstancePager.position`, to continue an earlier run (the
                query arguments are then ignored: the position holds them).
            max_items: stop after this many instances.

        Raises:
            ConfigurationError: ``size`` is below 1, or ``resume_from`` is not a URL on the
                platform.
        """
        if resume_from is not None:
            return InstancePager(
                self._http,
                f"{self._base}{_INSTANCES}",
                resume_from=resume_from,
                max_items=max_items,
                retry=self._retry,
            )
        query: list[tuple[str, str]] = []
        if org is not None:
            query.append(("org", org))
        if app_id is not None:
            query.append(("appId", app_id))
        if size is not None:
            if size < 1:
                raise ConfigurationError("size must be at least 1")
            query.append(("size", str(size)))
        for name, value in (params or {}).items():
            values = [value] if isinstance(value, str) else list(value)
            query.extend((name, v) for v in values)
        url = httpx.URL(f"{self._base}{_INSTANCES}", params=query)
        return InstancePager(self._http, url, max_items=max_items, retry=self._retry)

    async def get_instance(self, instance_id: str) -> Instance:
        """One instance by ``{partyId}/{instanceGuid}``."""
        response = await self._get(f"{self._base}{_INSTANCES}/{_instance_path(instance_id)}")
        return _object(response, "an instance")

    async def download(self, data_element: Mapping[str, Any]) -> bytes:
        """The bytes of a data element (from an instance's ``data`` list), in memory."""
        response = await self._get(_data_url(self._base, data_element))
        return response.content

    async def download_to(
        self,
        data_element: Mapping[str, Any],
        directory: str | os.PathLike[str],
        *,
        filename: str | None = None,
    ) -> Path:
        """Stream a data element into ``directory``, without holding it in memory.

        The file is named ``filename``, or the element's own ``filename``, or its id, made safe
        (Storage's names come from whoever uploaded the data: ``../x`` stays inside
        ``directory`` as ``x``). It appears complete or not at all.

        Returns:
            The path written.
        """
        name = filename or data_element.get("filename") or data_element.get("id")
        destination = Path(directory) / safe_filename(str(name) if name else None)
        await download_to(
            self._http, _data_url(self._base, data_element), destination, policy=self._retry
        )
        return destination

    async def stream(self, data_element: Mapping[str, Any]) -> AsyncIterator[bytes]:
        """The bytes of a data element in chunks, for large files.

        A connection that drops before the body starts is retried; one that drops in the
        middle raises `NetworkError` (the bytes already handed out cannot be taken back).
        """
        response = await request(
            self._http, "GET", _data_url(self._base, data_element), policy=self._retry, stream=True
        )
        try:
            if response.status_code != 200:
                raise await api_error(response)
            try:
                async for chunk in response.aiter_bytes():
                    yield chunk
            except httpx.TransportError as exc:
                raise network_error(exc, response.request) from exc
        finally:
            await response.aclose()

    async def complete(self, instance: Mapping[str, Any] | str) -> Instance:
        """Confirm that the service owner has downloaded the instance (``POST .../complete``)."""
        instance_id = instance if isinstance(instance, str) else str(instance.get("id", ""))
        url = f"{self._base}{_INSTANCES}/{_instance_path(instance_id)}/complete"
        # Confirming twice leaves one confirmation: safe to retry.
        response = await request(self._http, "POST", url, policy=self._retry, idempotent=True)
        if response.status_code != 200:
            raise await api_error(response)
        return _object(response, "the completed instance")


def _object(response: httpx.Response, what: str) -> Instance:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise APIError(
            f"{response.request.method} {safe_url(response.request.url)} answered "
            f"HTTP {response.status_code} without {what} (not a JSON object)",
            status_code=response.status_code,
            method=response.request.method,
            url=str(response.request.url),
        )
    return body


def _instance_path(instance_id: str) -> str:
    party, slash, guid = instance_id.partition("/")
    if not slash or not party.isdigit() or not guid:
        raise ConfigurationError(
            f"an instance id has the form '{{partyId}}/{{instanceGuid}}', got {instance_id!r}"
        )
    return f"{party}/{urllib.parse.quote(guid, safe='')}"


def _data_url(base: str, data_element: Mapping[str, Any]) -> str:
    # Only the platform self link is followed, and only on this platform: the request carries
    # the Altinn token.
    links = data_element.get("selfLinks")
    platform = links.get("platform") if isinstance(links, Mapping) else None
    if isinstance(platform, str) and platform.startswith(base + "/"):
        return platform
    raise ConfigurationError(
        f"data element {data_element.get('id')!r} has no selfLinks.platform URL under {base}"
    )
