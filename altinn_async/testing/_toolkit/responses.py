"""Response builders in the shapes the real services write: JSON as .NET and Java serialize it,
ASP.NET Core's ProblemDetails and string negotiation, HTML pages, redirects and downloads."""

from __future__ import annotations

import base64
import json
import secrets
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from .asgi import Request, Response

JSON_UTF8 = "application/json; charset=utf-8"
PROBLEM_JSON = "application/problem+json; charset=utf-8"
TEXT_UTF8 = "text/plain; charset=utf-8"
HTML_UTF8 = "text/html; charset=utf-8"

NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))
"""What OAuth token endpoints send with every answer (RFC 6749 §5.1)."""


def json_bytes(document: Any) -> bytes:
    """Compact JSON, as the .NET and Java serializers write it."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    document: Any,
    status: int = 200,
    *,
    content_type: str = JSON_UTF8,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """A JSON response."""
    return Response(status, json_bytes(document), [("content-type", content_type), *headers])


def text_response(text: str, status: int = 200, *, content_type: str = TEXT_UTF8) -> Response:
    """A plain-text response."""
    return Response(status, text.encode(), [("content-type", content_type)])


def html_response(
    html: str, status: int = 200, *, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """An HTML page (never cached: login and error pages carry per-request state)."""
    return Response(
        status,
        html.encode(),
        [("content-type", HTML_UTF8), ("cache-control", "no-store"), *headers],
    )


def redirect_response(location: str, *, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A 302 redirect to ``location``."""
    return Response(302, b"", [("location", location), ("cache-control", "no-store"), *headers])


def empty_response(status: int, *, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A response without a body."""
    return Response(status, b"", list(headers))


def reason_response(status: int, reason: str) -> Response:
    """A status with a custom reason phrase and no body (how Altinn 2 reports errors)."""
    return Response(status, b"", [], reason=reason)


def aspnet_trace_id() -> str:
    """A W3C trace-context id, the form ASP.NET Core puts in ProblemDetails ``traceId``."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


_PROBLEM_TYPES = {
    400: ("https://tools.ietf.org/html/rfc9110#section-15.5.1", "Bad Request"),
    401: ("https://tools.ietf.org/html/rfc9110#section-15.5.2", "Unauthorized"),
    403: ("https://tools.ietf.org/html/rfc9110#section-15.5.4", "Forbidden"),
    404: ("https://tools.ietf.org/html/rfc9110#section-15.5.5", "Not Found"),
}


def problem_response(
    status: int,
    *,
    extra: Mapping[str, Any] | None = None,
    problem: Mapping[str, Any] | None = None,
    content_type: str = PROBLEM_JSON,
) -> Response:
    """An RFC 7807 ProblemDetails response as ASP.NET Core's ``[ApiController]`` writes it.

    ``problem`` replaces the generated type/title/status; ``extra`` adds members before
    ``traceId``. ``content_type`` is for controllers whose ``[Produces]`` overrides
    ``application/problem+json`` (dotnet/aspnetcore#39802).
    """
    if problem is None:
        type_, title = _PROBLEM_TYPES.get(status, ("about:blank", "Error"))
        document: dict[str, Any] = {"type": type_, "title": title, "status": status}
    else:
        document = dict(problem)
    if extra:
        document.update(extra)
    document["traceId"] = aspnet_trace_id()
    return json_response(document, status, content_type=content_type)


def validation_problem(
    name: str, value: str, *, message: str | None = None, content_type: str = PROBLEM_JSON
) -> Response:
    """The 400 ASP.NET Core model binding answers for a query value it cannot convert (or
    ``message`` for another binding error, such as a missing required value)."""
    return problem_response(
        400,
        problem={
            "type": _PROBLEM_TYPES[400][0],
            "title": "One or more validation errors occurred.",
            "status": 400,
        },
        extra={"errors": {name: [message or f"The value '{value}' is not valid for {name}."]}},
        content_type=content_type,
    )


def media_types(accept: str | None) -> list[str]:
    """The media types of an Accept header, highest quality first (stable for ties)."""
    if not accept:
        return []
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(accept.split(",")):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        quality = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, index, media))
    ranked.sort()
    return [media for _, _, media in ranked]


def negotiated_string(request: Request, value: str, status: int = 200) -> Response:
    """A string result negotiated the way ASP.NET Core MVC does for ``Ok(string)``.

    The string formatter (``text/plain``) comes before the JSON formatter, so it wins for a missing
    Accept, ``*/*`` anywhere in Accept (browser rule), ``text/*`` and anything no formatter
    serves; ``application/json``, ``text/json`` and ``application/*+json`` get a JSON string.
    """
    accepted = media_types(request.header("accept"))
    if "*/*" not in accepted:
        for media in accepted:
            if media in ("text/plain", "text/*"):
                break
            if media in ("application/json", "text/json", "application/*") or (
                media.startswith("application/") and media.endswith("+json")
            ):
                return json_response(value, status)
    return text_response(value, status)


def content_disposition(filename: str) -> str:
    """``attachment; filename=…; filename*=UTF-8''…`` as ASP.NET Core's ``File(…, name)`` sets."""
    if filename.isascii():
        if all(c.isalnum() or c in "!#$&+-.^_`|~" for c in filename):
            plain = filename
        else:
            escaped = filename.replace("\\", "\\\\").replace('"', '\\"')
            plain = f'"{escaped}"'
    else:
        encoded = base64.b64encode(filename.encode()).decode()
        plain = f'"=?utf-8?B?{encoded}?="'
    star = urllib.parse.quote(filename, safe="!#$&+-.^_`|~")
    return f"attachment; filename={plain}; filename*=UTF-8''{star}"
