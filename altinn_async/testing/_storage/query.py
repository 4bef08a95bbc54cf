"""The instance query language of ``GET /instances``: the parameters, their filters, and the
continuation token with the ``self`` and ``next`` links built around it
(``InstanceQueryParameters``, ``PgInstanceRepository``; ``altinn-protocol.md`` §5.1, §7 item 16).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .._toolkit.asgi import Request
from .._toolkit.dotnet import ticks_from_seconds
from .._toolkit.responses import json_response, validation_problem
from .._toolkit.router import Refusal
from .model import Selection, StoredInstance, TickRange

DEFAULT_SIZE = 100

_DATE_OPERATORS = frozenset({"gt", "gte", "lt", "lte", "eq"})
_DATE_FILTERS = {
    "process.ended": "ended",
    "lastchanged": "last_changed",
    "created": "created",
    "visibleafter": "visible_after",
    "duebefore": "due_before",
}
_FLAGS: dict[str, Callable[[StoredInstance], bool]] = {
    "process.iscomplete": lambda i: i.ended is not None,
    "status.isarchived": lambda i: i.is_archived,
    "status.issoftdeleted": lambda i: i.is_soft_deleted,
    "status.isharddeleted": lambda i: i.is_hard_deleted,
}


def bad_request(message: str) -> Refusal:
    """A 400 with a message: ``[Produces("application/json")]`` makes it a JSON string."""
    return Refusal(json_response(message, 400))


@dataclass(slots=True)
class InstanceQuery:
    """The parsed parameters of an instance query."""

    org: str | None = None
    app_id: str | None = None
    current_task: str | None = None
    flags: dict[str, bool] = field(default_factory=dict)
    dates: list[tuple[str, str, int]] = field(default_factory=list)
    exclude_confirmed_by: list[str] = field(default_factory=list)
    party_id: str | None = None
    size: int = DEFAULT_SIZE
    continuation: tuple[int, int] | None = None
    continuation_raw: str | None = None

    def selection(self) -> Selection:
        """The query as the store narrows its search: the filter and what bounds it."""
        ranges: dict[str, TickRange] = {}
        for attribute, operator, ticks in self.dates:
            least, most = ranges.get(attribute, (None, None))
            if operator in ("gt", "gte", "eq"):
                bound = ticks + 1 if operator == "gt" else ticks
                least = bound if least is None else max(least, bound)
            if operator in ("lt", "lte", "eq"):
                bound = ticks - 1 if operator == "lt" else ticks
                most = bound if most is None else min(most, bound)
            ranges[attribute] = (least, most)
        return Selection(
            keep=self.matches(),
            ranges=ranges,
            org=self.org,
            app_id=self.app_id,
            party_id=self.party_id,
            current_task=self.current_task,
            flags=dict(self.flags),
        )

    def matches(self) -> Callable[[StoredInstance], bool]:
        """The filter the query's parameters make."""
        tests: list[Callable[[StoredInstance], bool]] = []
        if self.org is not None:
            org = self.org.lower()
            tests.append(lambda i: i.org.lower() == org)
        if self.app_id is not None:
            app_id = self.app_id
            tests.append(lambda i: f"{i.org}/{i.app}" == app_id)
        if self.current_task is not None:
            task = self.current_task
            tests.append(lambda i: i.current_task == task)
        if self.party_id is not None:
            party_id = self.party_id
            tests.append(lambda i: i.party_id == party_id)
        for name, wanted in self.flags.items():
            tests.append(_flag_test(_FLAGS[name], wanted=wanted))
        if self.exclude_confirmed_by:
            excluded = frozenset(self.exclude_confirmed_by)
            tests.append(lambda i: excluded.isdisjoint(i.confirmed_by))
        for attribute, operator, ticks in self.dates:
            tests.append(_date_test(attribute, operator, ticks))
        return lambda instance: all(test(instance) for test in tests)


def parse_query(request: Request) -> InstanceQuery:
    """The query's parameters, bound as ASP.NET model binding binds them (names
    case-insensitive, the first value of a single-valued parameter, date filters repeatable).

    Raises:
        Refusal: a value that does not parse (400).
    """
    query = InstanceQuery()
    seen: set[str] = set()
    for raw_name, value in request.query():
        name = raw_name.lower()
        if name in _DATE_FILTERS:
            if value:
                query.dates.append(_date_filter(raw_name, name, value))
        elif name == "excludeconfirmedby":
            if value:
                query.exclude_confirmed_by.append(value)
        elif name in _SINGLE_VALUED and name not in seen:
            _SINGLE_VALUED[name](query, raw_name, value)
        seen.add(name)
    return query


def _parse_int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Refusal(validation_problem(name, value)) from None


def _parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise Refusal(validation_problem(name, value))


def _set_org(query: InstanceQuery, name: str, value: str) -> None:
    query.org = value or None


def _set_app_id(query: InstanceQuery, name: str, value: str) -> None:
    query.app_id = value or None


def _set_current_task(query: InstanceQuery, name: str, value: str) -> None:
    query.current_task = value or None


def _set_party_id(query: InstanceQuery, name: str, value: str) -> None:
    if value:
        query.party_id = str(_parse_int(name, value))


def _set_size(query: InstanceQuery, name: str, value: str) -> None:
    if value:
        query.size = _parse_int(name, value)
        if query.size < 1:
            raise bad_request("The size parameter must be a number larger than 0.")


def _set_continuation(query: InstanceQuery, name: str, value: str) -> None:
    if value:
        query.continuation_raw = value
        query.continuation = _decode_continuation(value)


def _set_flag(query: InstanceQuery, name: str, value: str) -> None:
    if value:
        query.flags[name.lower()] = _parse_bool(name, value)


_SINGLE_VALUED: dict[str, Callable[[InstanceQuery, str, str], None]] = {
    "org": _set_org,
    "appid": _set_app_id,
    "process.currenttask": _set_current_task,
    "instanceowner.partyid": _set_party_id,
    "size": _set_size,
    "continuationtoken": _set_continuation,
    **dict.fromkeys(_FLAGS, _set_flag),
}


def _parse_date(value: str) -> int:
    """ISO-8601 date or date-time to ticks; values without an offset are taken as UTC."""
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return ticks_from_seconds(moment.timestamp())


def _date_filter(raw_name: str, name: str, value: str) -> tuple[str, str, int]:
    operator, separator, date_value = value.partition(":")
    moment = None
    if separator and operator in _DATE_OPERATORS:
        try:
            moment = _parse_date(date_value)
        except ValueError:
            moment = None
    if moment is None:
        raise bad_request(f"Invalid date expression: {value} for query key: {raw_name}")
    return (_DATE_FILTERS[name], operator, moment)


def _flag_test(
    flag: Callable[[StoredInstance], bool], *, wanted: bool
) -> Callable[[StoredInstance], bool]:
    return lambda instance: flag(instance) == wanted


def _date_test(attribute: str, operator: str, expected: int) -> Callable[[StoredInstance], bool]:
    def test(instance: StoredInstance) -> bool:
        actual: int | None = getattr(instance, attribute)
        return actual is not None and _compare(actual, operator, expected)

    return test


def _compare(actual: int, operator: str, expected: int) -> bool:
    if operator == "gt":
        return actual > expected
    if operator == "gte":
        return actual >= expected
    if operator == "lt":
        return actual < expected
    if operator == "lte":
        return actual <= expected
    return actual == expected


# -- the continuation token and the links ---------------------------------------------------


def _decode_continuation(value: str) -> tuple[int, int]:
    # Model binding decoded the query once; the controller decodes once more.
    decoded = urllib.parse.unquote_plus(value)
    ticks, _, internal_id = decoded.partition(";")
    if ticks.isdigit() and internal_id.isdigit():
        return (int(ticks), int(internal_id))
    raise bad_request(f"Invalid continuation token: {decoded}")


def next_link(request: Request, last: StoredInstance) -> str:
    """The ``next`` link after a full page ending with ``last``."""
    token = f"{last.last_changed};{last.internal_id}"
    # HttpUtility.UrlEncode, then QueryBuilder encodes again: "%253B" in the link.
    return _link(request, urllib.parse.quote(token, safe=""))


def self_link(request: Request, query: InstanceQuery) -> str:
    """The ``self`` link: the request as it came, or rebuilt around its continuation token."""
    if query.continuation_raw is None:
        base = f"{request.origin}{request.path}"
        return f"{base}?{request.query_string}" if request.query_string else base
    return _link(request, query.continuation_raw)


def _link(request: Request, continuation: str) -> str:
    pairs = [(k, v) for k, v in request.query() if k != "continuationToken"]
    pairs.append(("continuationToken", continuation))
    return f"{request.origin}{request.path}?{_encode_query(pairs)}"


def _encode_query(pairs: Iterable[tuple[str, str]]) -> str:
    # ASP.NET's QueryBuilder escapes everything but unreserved characters.
    return "&".join(
        f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}" for k, v in pairs
    )
