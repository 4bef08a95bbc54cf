"""The Events API's parameters as ASP.NET Core binds them and the controllers check them, and the
``next`` link (``altinn-protocol.md`` §5.3, §7 items 18-19).

Read from altinn-events: ``src/Events/Controllers/AppController.cs`` (``GetForOrg``,
``GetForParty``, ``ValidateQueryParams``, ``SetNextLink``) and ``EventsController.cs`` (``Get``,
``ValidateQueryParams``, ``SetNextLink``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from .._toolkit.asgi import Request, Response
from .._toolkit.dotnet import ticks_from_seconds
from .._toolkit.responses import JSON_UTF8, problem_response, validation_problem
from .._toolkit.router import Refusal
from .render import CLOUDEVENTS_JSON

DEFAULT_SIZE = 50
MAX_GENERIC_SIZE = 1000
RESOURCE_PREFIX = "urn:altinn:resource:"
_EXAMPLE = "E.g. 2022-07-07T11:00:53.3917Z for UTC"


def problem(detail: str, content_type: str, status: int = 400) -> Refusal:
    """``Problem(detail, null, status)``. Its content type is the controller's ``[Produces]``:
    ``application/json`` for the app controller, ``application/cloudevents+json`` for the
    generic one, not ``application/problem+json`` (dotnet/aspnetcore#39802)."""
    return Refusal(problem_response(status, extra={"detail": detail}, content_type=content_type))


def not_found(content_type: str) -> Refusal:
    """``NotFound()`` turned into a ProblemDetails by ``[ApiController]``."""
    return Refusal(problem_response(404, content_type=content_type))


def _binding_error(name: str, value: str, content_type: str, message: str | None = None) -> Refusal:
    return Refusal(validation_problem(name, value, message=message, content_type=content_type))


def _first_values(request: Request) -> dict[str, str]:
    """Each parameter's first value, names lower-cased (model binding ignores case)."""
    values: dict[str, str] = {}
    for name, value in request.query():
        values.setdefault(name.lower(), value)
    return values


def _all_values(request: Request, name: str) -> list[str]:
    return [v for k, v in request.query() if k.lower() == name and v]


def _optional(values: dict[str, str], name: str) -> str | None:
    # ConvertEmptyStringToNull: an empty value binds as null.
    return values.get(name) or None


def _integer(values: dict[str, str], name: str, default: int, content_type: str) -> int:
    if name not in values:
        return default
    raw = values[name]
    if not raw:
        raise _binding_error(name, raw, content_type, message=f"The value '{raw}' is invalid.")
    try:
        return int(raw.strip())
    except ValueError:
        raise _binding_error(name, raw, content_type) from None


@dataclass(frozen=True, slots=True)
class Moment:
    """A ``DateTime?`` as bound: its instant in ticks, and whether it had a time zone."""

    ticks: int
    zoned: bool


def _moment(values: dict[str, str], name: str, content_type: str) -> Moment | None:
    raw = _optional(values, name)
    if raw is None:
        return None
    moment = _parse_datetime(raw.strip())
    if moment is None:
        raise _binding_error(name, raw, content_type)
    zoned = moment.tzinfo is not None
    instant = moment if zoned else moment.replace(tzinfo=dt.UTC)
    return Moment(ticks_from_seconds(instant.timestamp()), zoned)


# A date with a zone and no time ("2020-01-01Z"), which DateTime.Parse takes and ISO does not.
_ZONED_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})\s*(Z|[+-]\d{2}:?\d{2})", re.IGNORECASE)


def _parse_datetime(text: str) -> dt.datetime | None:
    """A ``DateTime`` as model binding parses the ISO-8601 forms (``Z`` or an offset makes it
    zoned; no zone leaves it unspecified)."""
    zoned_date = _ZONED_DATE.fullmatch(text)
    if zoned_date is not None:
        zone = zoned_date.group(2).upper()
        text = f"{zoned_date.group(1)}T00:00:00{'+00:00' if zone == 'Z' else zone}"
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


@dataclass(slots=True)
class AppParameters:
    """``GetForOrg`` / ``GetForParty`` parameters."""

    after: str | None = None
    least: Moment | None = None
    most: Moment | None = None
    party: int = 0
    unit: str | None = None
    person: str | None = None
    types: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    size: int = DEFAULT_SIZE


def app_parameters(request: Request) -> AppParameters:
    """The app controller's parameters.

    Raises:
        Refusal: a value that does not bind (a validation problem).
    """
    values = _first_values(request)
    return AppParameters(
        after=_optional(values, "after"),
        least=_moment(values, "from", JSON_UTF8),
        most=_moment(values, "to", JSON_UTF8),
        party=_integer(values, "party", 0, JSON_UTF8),
        unit=_optional(values, "unit"),
        person=request.header("person") or None,
        types=_all_values(request, "type"),
        sources=_all_values(request, "source"),
        size=_integer(values, "size", DEFAULT_SIZE, JSON_UTF8),
    )


def check_app_parameters(parameters: AppParameters) -> None:
    """``AppController.ValidateQueryParams``, in its order.

    Raises:
        Refusal: a 400 ProblemDetails with the controller's ``detail``.
    """
    detail: str | None = None
    if parameters.after is None and parameters.least is None:
        detail = "The 'From' or 'After' parameter must be defined."
    elif parameters.least is not None and not parameters.least.zoned:
        detail = f"The 'From' parameter must specify timezone. {_EXAMPLE}"
    elif parameters.most is not None and not parameters.most.zoned:
        detail = f"The 'To' parameter must specify timezone. {_EXAMPLE}"
    elif parameters.size < 1:
        detail = "The 'Size' parameter must be a number larger that 0."
    elif parameters.person and parameters.party > 0:
        detail = "Only one of 'Party' or 'Person' can be defined."
    elif parameters.unit and parameters.party > 0:
        detail = "Only one of 'Party' or 'Unit' can be defined."
    elif parameters.unit and (len(parameters.unit) != 9 or not _digits(parameters.unit)):
        detail = "Value of 'Unit' needs to be exactly 9 digits."
    if detail is not None:
        raise problem(detail, JSON_UTF8)


def _digits(text: str) -> bool:
    # char.IsDigit: any Unicode decimal digit.
    return all(c.isdecimal() for c in text)


@dataclass(slots=True)
class GenericParameters:
    """``EventsController.Get`` parameters."""

    resource: str
    after: str | None
    subject: str | None
    alternative_subject: str | None
    types: list[str]
    size: int


def generic_parameters(request: Request) -> GenericParameters:
    """The generic controller's parameters, checked as ``Get`` checks them (size first clamped:
    below 1 means 50, above 1000 means 1000).

    Raises:
        Refusal: a value that does not bind, or a 400 ProblemDetails with the controller's
            ``detail``.
    """
    values = _first_values(request)
    size = _integer(values, "size", 0, CLOUDEVENTS_JSON)
    resource = _optional(values, "resource")
    if resource is None:
        # [FromQuery, Required]: model validation answers before the action runs.
        raise _binding_error(
            "resource", "", CLOUDEVENTS_JSON, message="The resource field is required."
        )
    parameters = GenericParameters(
        resource=resource,
        after=_optional(values, "after"),
        subject=_optional(values, "subject"),
        alternative_subject=request.header("altinn-alternativesubject") or None,
        types=_all_values(request, "type"),
        size=DEFAULT_SIZE if size < 1 else min(size, MAX_GENERIC_SIZE),
    )
    detail: str | None = None
    if not resource.startswith(RESOURCE_PREFIX):
        detail = "The 'resource' parameter must begin with `urn:altinn:resource:`"
    elif parameters.after is None:
        detail = "The 'after' parameter must be defined."
    elif parameters.subject and parameters.alternative_subject:
        detail = "Only one of 'subject' or 'alternativeSubject' can be defined."
    if detail is not None:
        raise problem(detail, CLOUDEVENTS_JSON)
    return parameters


def next_link(request: Request, last_id: str, *, subject: str | None = None) -> str:
    """``SetNextLink``: ``{base}{path}?after={last id}``, then every other query parameter as
    it was bound (decoded, not encoded again; grouped by name, ``after`` dropped)."""
    grouped: dict[str, tuple[str, list[str]]] = {}
    for name, value in request.query():
        grouped.setdefault(name.lower(), (name, []))[1].append(value)
    parts = [f"{request.origin}{request.path}?after={last_id}"]
    for name, values in grouped.values():
        if name != "after":
            parts.extend(f"&{name}={value}" for value in values)
    if subject is not None:
        parts.append(f"&subject={subject}")
    return "".join(parts)


def events_response(body: bytes, next_url: str | None) -> Response:
    """The 200 answer: the CloudEvents and, for a non-empty page, the ``next`` header."""
    headers = [("content-type", CLOUDEVENTS_JSON)]
    if next_url is not None:
        headers.append(("next", next_url))
    return Response(200, body, headers)
