"""HAL+JSON as Altinn 2 writes it (``ResourceListConverter``: ``_links``, ``_embedded.<rel>``,
extra list properties as lower-case top-level keys), or plain JSON for ``Accept:
application/json`` (a list is then a bare array); and the OData options lists take."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._toolkit.asgi import Request, Response
from .._toolkit.responses import empty_response, json_bytes, media_types, reason_response
from .._toolkit.router import Refusal
from .localtime import to_local
from .odata import ODataError, Query, parse_query

HAL_JSON = "application/hal+json; charset=utf-8"
PLAIN_JSON = "application/json; charset=utf-8"


def negotiate(request: Request) -> str:
    """``"hal"`` or ``"json"``, from the Accept header.

    Raises:
        Refusal: 406, for an Accept header neither serves.
    """
    accepted = media_types(request.header("accept"))
    if not accepted:
        return "hal"
    for media in accepted:
        if media in ("application/hal+json", "*/*", "application/*"):
            return "hal"
        if media in ("application/json", "text/json"):
            return "json"
    raise Refusal(empty_response(406))


def hal_resource(mode: str, document: dict[str, Any], links: dict[str, Any]) -> Response:
    """One resource, with its ``_links`` in HAL."""
    if mode == "json":
        return Response(200, json_bytes(document), [("content-type", PLAIN_JSON)])
    return Response(200, json_bytes({**document, "_links": links}), [("content-type", HAL_JSON)])


def hal_list(
    mode: str,
    rel: str,
    items: Sequence[tuple[dict[str, Any], dict[str, Any] | None]],
    links: dict[str, Any],
    *,
    extra: Mapping[str, Any] | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """A list of ``(document, item links)``."""
    if mode == "json":
        body = json_bytes([document for document, _ in items])
        return Response(200, body, [("content-type", PLAIN_JSON), *headers])
    embedded = [
        document if item_links is None else {**document, "_links": item_links}
        for document, item_links in items
    ]
    listing: dict[str, Any] = {"_links": links, "_embedded": {rel: embedded}}
    for key, value in (extra or {}).items():
        listing[key.lower()] = value
    return Response(200, json_bytes(listing), [("content-type", HAL_JSON), *headers])


def self_link(request: Request) -> dict[str, str]:
    """The request's own URL as a HAL link."""
    query = f"?{request.query_string}" if request.query_string else ""
    return {"href": f"{request.origin}{request.path}{query}"}


def odata_options(request: Request, schema: Mapping[str, str], type_name: str) -> Query:
    """A list request's ``$filter``, ``$orderby``, ``$top`` and ``$skip``.

    Raises:
        Refusal: 400 with Web API OData's message as the reason phrase.
    """
    try:
        return parse_query(request.query(), schema, type_name, to_local)
    except ODataError as exc:
        raise Refusal(reason_response(400, str(exc))) from None
