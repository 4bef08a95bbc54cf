"""Correspondence's error answers (``altinn3-messaging.md`` §1.6).

- Application errors (``ProblemDetailsHelper.ToProblemResult``): ProblemDetails with the RFC 9110
  ``type`` and fixed ``title`` of the status, ``detail`` = the error's message,
  ``code`` = ``CORR-`` + the 5-digit number, ``errorCode`` (an int) and ``traceId``.
- Model-binding failures: ``AltinnValidationProblemDetails`` (``code`` ``STD-00000``,
  ``validationErrors`` with JSON-pointer ``paths``, query parameters under ``/$QUERY/``) plus the
  legacy ``errors`` map ASP.NET writes.
- ``AcceptHeaderValidationMiddleware``: 406 in plain text.
- ``AltinnTokenEventsHelper``: 403 for a Maskinporten token on an Altinn-token-only endpoint.

The messages are Altinn's (``Errors.cs``), except 2019 and 2020, whose wording the reference
does not give: those are the emulator's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._toolkit.asgi import Request, Response
from .._toolkit.responses import (
    JSON_UTF8,
    PROBLEM_JSON,
    aspnet_trace_id,
    json_bytes,
    media_types,
)
from .._toolkit.router import Refusal

_TYPES = {
    400: ("https://tools.ietf.org/html/rfc9110#section-15.5.1", "Bad Request"),
    401: ("https://tools.ietf.org/html/rfc9110#section-15.5.2", "Unauthorized"),
    403: ("https://tools.ietf.org/html/rfc9110#section-15.5.4", "Forbidden"),
    404: ("https://tools.ietf.org/html/rfc9110#section-15.5.5", "Not Found"),
    408: ("https://tools.ietf.org/html/rfc9110#section-15.5.9", "Request Timeout"),
    409: ("https://tools.ietf.org/html/rfc9110#section-15.5.10", "Conflict"),
    422: ("https://tools.ietf.org/html/rfc9110#section-15.5.21", "Unprocessable Entity"),
    451: ("https://tools.ietf.org/html/rfc7725#section-3", "Unavailable For Legal Reasons"),
    500: ("https://tools.ietf.org/html/rfc9110#section-15.6.1", "Internal Server Error"),
    502: ("https://tools.ietf.org/html/rfc9110#section-15.6.3", "Bad Gateway"),
}


@dataclass(frozen=True, slots=True)
class Error:
    """One of Correspondence's errors: its number, message and HTTP status."""

    code: int
    message: str
    status: int


NOT_FOUND = Error(1001, "The requested correspondence was not found", 404)
TITLE_EMPTY = Error(1020, "Message title cannot be empty", 400)
BODY_EMPTY = Error(1021, "Message body cannot be empty", 400)
INVALID_LANGUAGE = Error(
    1023,
    "Invalid language chosen. Supported languages is Norsk bokmål (nb), Nynorsk (nn) and "
    "English (en)",
    400,
)
READ_BEFORE_FETCHED = Error(1024, "Correspondence must be fetched before it can be read", 400)
CONFIRM_BEFORE_FETCHED = Error(
    1025, "Correspondence must be fetched before it can be confirmed", 400
)
PURGE_BEFORE_CONFIRMED = Error(
    1026,
    "Cannot archive or delete a correspondence which has not been confirmed when confirmation "
    "is required",
    400,
)
INVALID_DATE_RANGE = Error(1027, "From date cannot be after to date", 400)
ALREADY_PURGED = Error(1014, "Correspondence has already been purged", 400)
SENDER_PURGE_PUBLISHED = Error(
    1013, "Sender cannot delete correspondence that has been published", 400
)
DUE_BEFORE_PUBLISH = Error(1009, "DueDateTime cannot be prior to RequestedPublishTime", 400)
DUE_REQUIRED = Error(1016, "DueDateTime is required when confirmation is needed", 400)
INVALID_REPLY_OPTIONS = Error(
    1035,
    "Reply options must be well-formed URIs and HTTPS with a max length of 255 characters",
    400,
)
TITLE_TOO_LONG = Error(1037, "Message title cannot exceed 255 characters", 400)
TOO_MANY_ATTACHMENTS = Error(
    1038, "A correspondence cannot contain more than 100 attachments in total", 400
)
ALREADY_READ = Error(1040, "Correspondence is already marked as read", 400)
ALREADY_CONFIRMED = Error(1041, "Correspondence has already been confirmed", 400)
SUMMARY_TOO_LONG = Error(
    1042, "Message summary, if not null, must be between 0 and 255 characters long", 400
)
ATTACHMENT_NOT_FOUND = Error(2001, "The requested attachment was not found", 404)
INVALID_FILE_SIZE = Error(2004, "File must have content and has a max file size of 2GB", 400)
FILENAME_MISSING = Error(2010, "Filename is missing", 400)
FILENAME_TOO_LONG = Error(2011, "Filename is too long", 400)
FILETYPE_NOT_ALLOWED = Error(2013, "Filetype not allowed", 400)
# The emulator's wording (the reference gives the numbers, not the texts).
ATTACHMENT_PURGED = Error(2019, "The attachment has been purged", 400)
ATTACHMENT_EXPIRED = Error(2020, "The attachment has expired", 400)
NO_ACCESS = Error(
    4001,
    "You must use an Altinn token, DialogToken or log in to IDPorten as someone with access to "
    "the resource and organization in Altinn Authorization",
    401,
)
UNKNOWN_CALLER = Error(4006, "Could not determine caller", 401)


def problem(error: Error) -> Refusal:
    """The ProblemDetails of an application error, as a refusal."""
    type_, title = _TYPES[error.status]
    document = {
        "type": type_,
        "title": title,
        "status": error.status,
        "detail": error.message,
        "code": f"CORR-{error.code:05d}",
        "traceId": aspnet_trace_id(),
        "errorCode": error.code,
    }
    return Refusal(Response(error.status, json_bytes(document), [("content-type", PROBLEM_JSON)]))


@dataclass(frozen=True, slots=True)
class Invalid:
    """One model-binding failure: the query parameter and ASP.NET's message."""

    name: str
    message: str
    required: bool = False


def validation_problem(failures: Sequence[Invalid]) -> Refusal:
    """``AltinnValidationProblemDetails`` for query parameters that failed to bind, with the
    legacy ``errors`` map (keys as ASP.NET names the parameters)."""
    errors: dict[str, list[str]] = {}
    for failure in failures:
        errors.setdefault(failure.name, []).append(failure.message)
    document = {
        "type": _TYPES[400][0],
        "title": "One or more validation errors occurred.",
        "status": 400,
        "code": "STD-00000",
        "validationErrors": [
            {
                "code": "STD-00000" if f.required else "STD-00002",
                "title": "The field is required." if f.required else "The value is not valid.",
                "paths": [f"/$QUERY/{f.name}"],
            }
            for f in failures
        ],
        "errors": errors,
        "traceId": aspnet_trace_id(),
    }
    return Refusal(Response(400, json_bytes(document), [("content-type", PROBLEM_JSON)]))


def check_accept(request: Request, produces: str) -> None:
    """``AcceptHeaderValidationMiddleware``: with an ``Accept`` header, one of its media types
    must be the endpoint's ``[Produces]`` type or ``*/*``.

    Raises:
        Refusal: 406, plain text.
    """
    accept = request.header("accept")
    if accept is None or not accept.strip():
        return
    if any(media in (produces, "*/*") for media in media_types(accept)):
        return
    text = (
        "This endpoint does not support the requested Accept header. Supported Accept headers "
        f"are: {produces}, */*."
    )
    raise Refusal(Response(406, text.encode(), [("content-type", "text/plain")]))


MASKINPORTEN_REFUSED = (
    b'{"title":"IDX10205: Issuer validation failed","status":403,"detail":"Maskinporten token '
    b"is not valid. Exchange to Altinn token and try again. Read more at "
    b'https://docs.altinn.studio/api/scenarios/authentication/#maskinporten-jwt-access-token-input"}'
)


def maskinporten_refused() -> Refusal:
    """What ``AltinnTokenEventsHelper`` answers a raw Maskinporten token on an endpoint that
    takes Altinn tokens only."""
    return Refusal(
        Response(
            403,
            MASKINPORTEN_REFUSED,
            [
                ("content-type", "application/problem+json"),
                ("www-authenticate", 'Bearer error="invalid_token"'),
            ],
        )
    )


def uuid_string(value: str) -> Response:
    """The JSON string ``"<uuid>"`` that markasread, confirm and purge return."""
    return Response(200, json_bytes(value), [("content-type", JSON_UTF8)])
