"""The Altinn 2 REST API (legacy, switched off in June 2026): messages, forms, attachments,
reportees and the service-owner lists, over HAL+JSON."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

import httpx

from ._files import download_to, safe_filename
from ._hal import HalResource, Link, parse_hal
from ._http import api_error, origin
from ._httpcompat import AsyncClient, as_httpx
from ._paging import HalNextLink, ODataPaging, Paginator
from ._redact import safe_url
from ._retry import RetryPolicy, request
from .exceptions import ConfigurationError, HALError

__all__ = ["Altinn2Client"]

_HAL = {"Accept": "application/hal+json"}
_END_USER_PAGE = 50  # Altinn 2 caps end-user lists at 50 items a response


def _date(value: dt.date | dt.datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


class Altinn2Client:
    """The Altinn 2 REST API over an ``httpx.AsyncClient`` (or an ``httpx2.AsyncClient``) whose
    auth is `Altinn2Auth`.

    Lists are `Paginator` objects of `HalResource` items (PascalCase properties as Altinn sent
    them: ``message["Subject"]``), paged the way each list pages: end-user lists by ``$skip`` in
    steps of 50, service-owner lists with a larger ``$top``, continuation lists by their next
    link. Links in resources are followed only on the API's own origin, since every request
    carries the credentials. Reading never changes the mailbox: a message is fetched with
    ``markAsRead=false`` unless asked otherwise. Every request goes through the retry policy.

    Example::

        auth = altinn.Altinn2Auth(api_key, environment=altinn.TEST,
                                  login=altinn.PasswordLogin("user", "password"))
        async with httpx.AsyncClient(auth=auth) as http:
            altinn2 = altinn.Altinn2Client(http, base_url=altinn.TEST.altinn2)
            async for message in altinn2.messages(filter="ServiceOwner eq 'Skatteetaten'"):
                print(message["MessageId"], message["Subject"])

    Args:
        http: the client (with `Altinn2Auth`, and for an enterprise certificate the TLS context).
        base_url: the Altinn 2 site (``https://tt02.altinn.no``; an environment's ``altinn2``);
            the API is under ``{base_url}/api``. Defaults to the client's ``base_url``, then to
            the site of the client's `Altinn2Auth`.
        retry: the `RetryPolicy` (``RetryPolicy.NEVER`` for none).
    """

    def __init__(
        self,
        http: AsyncClient,
        *,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        base = base_url
        if base is None and str(http.base_url) not in ("", "/"):
            base = str(http.base_url)
        if base is None:
            base = getattr(http.auth, "base_url", None)
        url = httpx.URL(str(base or "").rstrip("/"))
        if not url.is_absolute_url:
            raise ConfigurationError(
                "Altinn2Client needs the Altinn 2 site: pass base_url= (an environment's "
                "altinn2, e.g. https://tt02.altinn.no), or give the client an Altinn2Auth"
            )
        self._http = as_httpx(http)
        self._api = f"{str(url).rstrip('/')}/api"
        self._origin = origin(url)
        self._retry = retry or RetryPolicy()

    def __repr__(self) -> str:
        return f"Altinn2Client(api_url={self._api!r})"

    @property
    def api_url(self) -> str:
        """The API's base URL (``{base_url}/api``)."""
        return self._api

    # -- requests -----------------------------------------------------------------------------

    def _url(self, target: str | Link) -> httpx.URL:
        href = target.href if isinstance(target, Link) else target
        url = httpx.URL(href) if "://" in href else httpx.URL(f"{self._api}/{href.lstrip('/')}")
        if origin(url) != self._origin:
            raise ConfigurationError(
                f"{url.scheme}://{url.host} is not the Altinn 2 API's origin; not sending "
                "credentials there"
            )
        return url

    async def get(self, target: str | Link, params: Mapping[str, str] | None = None) -> HalResource:
        """Any API resource, by link or by path under the API (``"reportees"``)."""
        url = self._url(target)
        if params:
            url = url.copy_merge_params(dict(params))
        response = await request(self._http, "GET", url, headers=_HAL, policy=self._retry)
        if response.status_code != 200:
            raise await api_error(response)
        try:
            return parse_hal(response.json())
        except ValueError as exc:
            raise HALError(
                f"{safe_url(response.request.url)} did not answer JSON", path="$"
            ) from exc

    async def _bytes(self, target: str | Link) -> bytes:
        response = await request(self._http, "GET", self._url(target), policy=self._retry)
        if response.status_code != 200:
            raise await api_error(response)
        return response.content

    def _list(
        self,
        path: str,
        rule: ODataPaging | HalNextLink,
        params: Mapping[str, str | None],
        *,
        max_items: int | None,
        resume_from: str | None,
    ) -> Paginator[HalResource]:
        query = {name: value for name, value in params.items() if value is not None}
        url = self._url(path).copy_merge_params(query)
        return Paginator(
            self._http,
            url,
            rule,
            resume_from=resume_from,
            max_items=max_items,
            headers=_HAL,
            retry=self._retry,
        )

    # -- messages -----------------------------------------------------------------------------

    def messages(
        self,
        who: str = "my",
        *,
        filter: str | None = None,  # noqa: A002 - OData's own name
        date_from: dt.date | dt.datetime | str | None = None,
        date_to: dt.date | dt.datetime | str | None = None,
        language: int | None = None,
        max_items: int | None = None,
        resume_from: str | None = None,
    ) -> Paginator[HalResource]:
        """The messages of ``who``'s message box (``my``, an organisation number, ``r<id>``).

        Args:
            who: whose box.
            filter: an OData ``$filter``, e.g. ``"ServiceOwner eq 'Skatteetaten'"``.
            date_from: ``dateFrom``, applied in Altinn's database before the filter: use it
                (with ``date_to``) when a `LimitReachedWarning` says the box is too big.
            date_to: ``dateTo``.
            language: 1044 (bokmål), 2068 (nynorsk) or 1033 (English).
            max_items: stop after this many.
            resume_from: a saved `Paginator.position`.
        """
        params = {
            "$filter": filter,
            "dateFrom": None if date_from is None else _date(date_from),
            "dateTo": None if date_to is None else _date(date_to),
            "language": None if language is None else str(language),
        }
        rule = ODataPaging(_END_USER_PAGE, "messages")
        return self._list(
            f"{who}/messages", rule, params, max_items=max_items, resume_from=resume_from
        )

    async def message(
        self, message_id: str, *, who: str = "my", mark_as_read: bool = False
    ) -> HalResource:
        """One message, with its ``form`` and ``attachment`` links.

        Fetched with ``markAsRead=false``: reading it here does not mark an unread
        correspondence as read (Altinn's own default would), unless ``mark_as_read``.
        """
        params = {"markAsRead": "true" if mark_as_read else "false"}
        return await self.get(f"{who}/messages/{message_id}", params)

    async def message_details(
        self, message: HalResource, *, mark_as_read: bool = False
    ) -> HalResource:
        """The whole message for an item of a `messages` list (following its ``self`` link).

        Fetched with ``markAsRead=false`` unless ``mark_as_read``, like `message`.

        Raises:
            HALError: the item has no ``self`` link.
        """
        link = message.link("self")
        if link is None:
            raise HALError("the message has no self link", path="$._links.self")
        params = {"markAsRead": "true" if mark_as_read else "false"}
        return await self.get(link, params)

    async def forms(self, message: HalResource) -> list[HalResource]:
        """The forms of a message (fetched from each ``form`` link)."""
        return [await self.get(link) for link in message.links_for("form")]

    async def form_data(self, form: HalResource) -> bytes:
        """A form's data (XML), from its ``formdata`` link."""
        link = form.link("formdata")
        if link is None:
            raise HALError("the form has no formdata link", path="$._links.formdata")
        return await self._bytes(link)

    def attachments(self, message: HalResource) -> tuple[Link, ...]:
        """A message's attachment links (with ``name``, and ``fileName``, ``filesize``, ... in
        ``attributes``)."""
        return message.links_for("attachment")

    async def print_pdf(self, message: HalResource) -> bytes:
        """The message as a PDF, from its ``print`` link."""
        link = message.link("print")
        if link is None:
            raise HALError("the message has no print link", path="$._links.print")
        return await self._bytes(link)

    async def download(
        self,
        target: Link | str,
        directory: str | os.PathLike[str],
        *,
        filename: str | None = None,
    ) -> Path:
        """Stream an attachment (or any API resource) into ``directory``, not into memory.

        The file is named ``filename``, or the link's ``fileName`` or ``name``, or the last part
        of its URL, made safe: a name from the server never leaves ``directory``
        (``../../evil.txt`` is written as ``evil.txt``). The file appears complete or not at
        all: it is written beside its final name and renamed when the download finished.

        Returns:
            The path written.
        """
        url = self._url(target)
        name = filename
        if name is None and isinstance(target, Link):
            name = str(target.attributes.get("fileName") or target.name or "") or None
        if name is None:
            name = url.path.rstrip("/").rsplit("/", 1)[-1]
        destination = Path(directory) / safe_filename(name, default="attachment")
        await download_to(self._http, url, destination, policy=self._retry)
        return destination

    # -- reportees ----------------------------------------------------------------------------

    def reportees(
        self,
        *,
        include_inactive: bool = False,
        show_consent_reportees: bool = False,
        max_items: int | None = None,
    ) -> Paginator[HalResource]:
        """Whom the logged-in user may act for."""
        params = {
            "includeInactiveReportees": "true" if include_inactive else None,
            "showConsentReportees": "true" if show_consent_reportees else None,
        }
        return self._list(
            "reportees",
            ODataPaging(_END_USER_PAGE, "reportees"),
            params,
            max_items=max_items,
            resume_from=None,
        )

    async def reportee(self, reportee_id: str) -> HalResource:
        """One reportee (``r50170460``)."""
        return await self.get(f"reportees/{reportee_id}")

    # -- service owner ------------------------------------------------------------------------

    def serviceowner_reportees(
        self,
        subject: str,
        *,
        service_code: str | None = None,
        service_edition: int | None = None,
        filter: str | None = None,  # noqa: A002 - OData's own name
        page_size: int = 500,
        max_items: int | None = None,
    ) -> Paginator[HalResource]:
        """The reportees of ``subject`` (a national identity number), as a service owner.

        Pages with ``$top=page_size`` until an empty page: service-owner lists accept ``$top``
        up to 10000, and Altinn has been seen returning short pages before the end.
        """
        if not 1 <= page_size <= 10000:
            raise ConfigurationError("page_size must be between 1 and 10000")
        params = {
            "subject": subject,
            "serviceCode": service_code,
            "serviceEdition": None if service_edition is None else str(service_edition),
            "$filter": filter,
        }
        rule = ODataPaging(page_size, "reportees", stop_on_short_page=False)
        return self._list(
            "serviceowner/reportees", rule, params, max_items=max_items, resume_from=None
        )

    def continuation_list(
        self,
        path: str,
        rel: str,
        *,
        params: Mapping[str, str] | None = None,
        max_items: int | None = None,
        resume_from: str | None = None,
    ) -> Paginator[HalResource]:
        """A service-owner list paged by continuation token (``serviceowner/consents``, ...).

        Follows ``_links.next``; each page's top-level ``continuationtoken`` is on the page.
        """
        return self._list(
            path, HalNextLink(rel), dict(params or {}), max_items=max_items, resume_from=resume_from
        )
