"""The search parameters of ``GET /api/v1/enduser/dialogs`` (and the service owner's), bound and
validated as Dialogporten does (``SearchDialogQuery``, ``SearchDialogQueryValidator``,
``PaginationParameterValidator``), and the problem responses of
``ErrorResponseBuilderExtensions``.

Binding: parameter names in any case; an array parameter by repeating its key; dates must carry
an offset (the docs require one; the source's query binding is more lenient); booleans
``true``/``false``; enums by name in any case. A value that does not bind is a 400 on its own,
before validation, with the emulator's wording ("The value '…' is not valid for …"; the text of
FastEndpoints' binding errors is not confirmed). Validation messages are FluentValidation's, with
the property names camel-cased as FastEndpoints does; the rule over the whole query ("Either
ServiceResource or Party must be specified.") is keyed by the empty name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._toolkit.asgi import Request, Response
from .._toolkit.parties import ORGANIZATION_URN, PERSON_URN
from .._toolkit.register import ORG_NUMBER, PID
from .._toolkit.responses import PROBLEM_JSON, aspnet_trace_id, json_response
from .._toolkit.router import Refusal
from .paging import Order, missing_keys, parse_order_by, parse_time, parse_token
from .seeding import STATUSES, SYSTEM_LABELS

_T = TypeVar("_T")

MIN_LIMIT, MAX_LIMIT, DEFAULT_LIMIT = 1, 1000, 100

END_USER_LIMITS = {
    "maxPartyFilterValues": 100,
    "maxServiceResourceFilterValues": 20,
    "maxOrgFilterValues": 20,
    "maxExtendedStatusFilterValues": 20,
}
SERVICE_OWNER_LIMITS = {
    "maxPartyFilterValues": 20,
    "maxServiceResourceFilterValues": 20,
    "maxExtendedStatusFilterValues": 20,
}

_PROBLEMS = {
    400: (
        "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.1",
        "One or more validation errors occurred.",
    ),
    403: ("https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.3", "Forbidden."),
    404: ("https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.4", "Resource not found."),
    410: (
        "https://datatracker.ietf.org/doc/html/rfc7231#section-6.5.9",
        "Resource no longer available.",
    ),
    422: ("https://datatracker.ietf.org/doc/html/rfc4918#section-11.2", "Unprocessable request."),
}
_SELF_IDENTIFIED = "urn:altinn:person:legacy-selfidentified:"
_IDPORTEN_EMAIL = "urn:altinn:person:idporten-email:"
_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:\S+")
_DATES = (
    ("createdAfter", "createdBefore"),
    ("updatedAfter", "updatedBefore"),
    ("contentUpdatedAfter", "contentUpdatedBefore"),
    ("dueAfter", "dueBefore"),
)


def problem(
    status: int,
    request: Request,
    errors: dict[str, list[str]],
    *,
    headers: list[tuple[str, str]] | None = None,
) -> Response:
    """Dialogporten's ProblemDetails for ``status`` (``ValidationProblemDetails`` with an
    ``errors`` map)."""
    type_, title = _PROBLEMS[status]
    document: dict[str, Any] = {
        "type": type_,
        "title": title,
        "status": status,
        "instance": request.path.removeprefix("/platform/dialogporten"),
        "errors": errors,
        "traceId": aspnet_trace_id(),
    }
    return json_response(document, status, content_type=PROBLEM_JSON, headers=headers or ())


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


@dataclass(slots=True)
class Search:
    """A bound and validated search."""

    parties: list[str] | None = None
    resources: list[str] | None = None
    orgs: list[str] | None = None
    extended_statuses: list[str] | None = None
    external_reference: str | None = None
    statuses: list[str] | None = None
    bounds: dict[str, int] = field(default_factory=dict)
    is_content_seen: bool | None = None
    process: str | None = None
    system_labels: list[str] | None = None
    exclude_api_only: bool = False
    search: str | None = None
    search_language: str | None = None
    orders: tuple[Order, ...] = ()
    tokens: dict[str, tuple[str, int]] | None = None
    raw_token: str | None = None
    limit: int = DEFAULT_LIMIT


class _Binder:
    def __init__(self, request: Request) -> None:
        self.values: dict[str, list[str]] = {}
        for key, value in request.query():
            self.values.setdefault(key.lower(), []).append(value)
        self.errors: dict[str, list[str]] = {}

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def many(self, name: str) -> list[str] | None:
        found = self.values.get(name.lower())
        return list(found) if found else None

    def one(self, name: str) -> str | None:
        found = self.values.get(name.lower())
        return found[0] if found else None

    def parsed(self, name: str, parse: Callable[[str], _T | None], kind: str) -> _T | None:
        text = self.one(name)
        if text is None or text == "":
            return None
        value = parse(text)
        if value is None:
            self.fail(name, f"The value '{text}' is not valid for {kind}.")
        return value

    def enums(self, name: str, allowed: tuple[str, ...]) -> list[str] | None:
        values = self.many(name)
        if values is None:
            return None
        by_lower = {a.lower(): a for a in allowed}
        out: list[str] = []
        for text in values:
            found = by_lower.get(text.strip().lower())
            if found is None:
                self.fail(name, f"The value '{text}' is not valid for {_pascal(name)}.")
            else:
                out.append(found)
        return out


def _bool(text: str) -> bool | None:
    return {"true": True, "false": False}.get(text.strip().lower())


def _int(text: str) -> int | None:
    stripped = text.strip()
    return int(stripped) if re.fullmatch(r"[+-]?\d{1,10}", stripped) else None


def valid_party(value: str) -> bool:
    """A party identifier the search accepts (``IsValidPartyIdentifier``)."""
    lowered = value.lower()
    if lowered.startswith(ORGANIZATION_URN):
        return bool(ORG_NUMBER.fullmatch(lowered[len(ORGANIZATION_URN) :]))
    if lowered.startswith(PERSON_URN):
        return bool(PID.fullmatch(lowered[len(PERSON_URN) :]))
    if lowered.startswith(_SELF_IDENTIFIED):
        return len(lowered) > len(_SELF_IDENTIFIED)
    if lowered.startswith(_IDPORTEN_EMAIL):
        return "@" in lowered[len(_IDPORTEN_EMAIL) :]
    return False


def parse_search(request: Request, *, service_owner: bool) -> Search:
    """The request's search.

    Raises:
        Refusal: 400 with the binding errors, or else with the validation errors.
    """
    bind = _Binder(request)
    search = Search(
        parties=bind.many("party"),
        resources=bind.many("serviceResource"),
        orgs=None if service_owner else bind.many("org"),
        extended_statuses=bind.many("extendedStatus"),
        external_reference=bind.one("externalReference"),
        statuses=bind.enums("status", STATUSES),
        process=bind.one("process"),
        system_labels=bind.enums("systemLabel", SYSTEM_LABELS),
        search=bind.one("search"),
        search_language=bind.one("searchLanguageCode"),
    )
    for pair in _DATES:
        for name in pair:
            value = bind.parsed(name, lambda t: parse_time(t, require_offset=True), _pascal(name))
            if value is not None:
                search.bounds[name] = value
    search.is_content_seen = bind.parsed("isContentSeen", _bool, "IsContentSeen")
    search.exclude_api_only = bool(bind.parsed("excludeApiOnly", _bool, "ExcludeApiOnly"))
    limit = bind.parsed("limit", _int, "Limit")
    orders = parse_order_by(bind.one("orderBy"))
    if orders is None:
        bind.fail("orderBy", f"The value '{bind.one('orderBy')}' is not valid for OrderBy.")
    raw = bind.one("continuationToken")
    if raw is not None and raw.strip():
        search.raw_token = raw
        search.tokens = parse_token(raw)
        if search.tokens is None:
            bind.fail("continuationToken", f"The value '{raw}' is not valid for ContinuationToken.")
    if bind.errors:
        raise Refusal(problem(400, request, bind.errors))
    assert orders is not None  # noqa: S101 - a parse failure is an error above
    search.orders = orders
    if limit is not None:
        search.limit = limit
    _validate(bind, search, service_owner=service_owner)
    if bind.errors:
        raise Refusal(problem(400, request, bind.errors))
    return search


def _validate(bind: _Binder, search: Search, *, service_owner: bool) -> None:
    if not MIN_LIMIT <= search.limit <= MAX_LIMIT:
        bind.fail(
            "limit",
            f"'Limit' must be between {MIN_LIMIT} and {MAX_LIMIT}. You entered {search.limit}.",
        )
    if search.tokens is not None:
        missing = missing_keys(search.orders, search.tokens)
        if missing:
            bind.fail(
                "continuationToken",
                "ContinuationToken does not match OrderBy. Missing token keys: "
                f"[{','.join(missing)}].",
            )
    if search.search is not None and len(search.search) < 3:
        bind.fail(
            "search",
            "The length of 'Search' must be at least 3 characters. "
            f"You entered {len(search.search)} characters.",
        )
    if not service_owner and not search.resources and not search.parties:
        bind.fail("", "Either ServiceResource or Party must be specified.")
    for index, party in enumerate(search.parties or ()):
        if not valid_party(party):
            bind.fail(
                f"party[{index}]",
                f"'Party' must be on format '{ORGANIZATION_URN}{{norwegian org-nr}}', "
                f"'{PERSON_URN}{{norwegian f-nr/d-nr}}', '{_SELF_IDENTIFIED}{{username}}' or "
                f"'{_IDPORTEN_EMAIL}{{e-mail}}' with valid values, respectively.",
            )
    limits = SERVICE_OWNER_LIMITS if service_owner else END_USER_LIMITS
    for name, values, limit_name in (
        ("org", search.orgs, "maxOrgFilterValues"),
        ("serviceResource", search.resources, "maxServiceResourceFilterValues"),
        ("party", search.parties, "maxPartyFilterValues"),
        ("extendedStatus", search.extended_statuses, "maxExtendedStatusFilterValues"),
    ):
        most = limits.get(limit_name)
        if values is not None and most is not None and len(values) > most:
            bind.fail(
                f"{name}.Count",
                f"'Count' must be less than or equal to '{most}'. You entered '{len(values)}'.",
            )
    if search.process is not None and (
        not _URI.fullmatch(search.process) or len(search.process) > 255
    ):
        bind.fail("process", "'Process' is not a valid URI.")
    for after, before in _DATES:
        low, high = search.bounds.get(after), search.bounds.get(before)
        if low is not None and high is not None and low > high:
            bind.fail(
                after, f"'{_pascal(after)}' must be less than or equal to '{_pascal(before)}'."
            )
