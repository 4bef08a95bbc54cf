"""``GET /correspondence``'s query, bound as ASP.NET Core binds it (``altinn3-messaging.md``
§1.3): names case-insensitive, empty strings as missing, enums by name (case-insensitive) or by
number, ``DateTimeOffset`` in ISO 8601 (a missing offset is UTC, the servers' zone)."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .._toolkit.asgi import Request
from .errors import INVALID_DATE_RANGE, Invalid, problem, validation_problem
from .model import US, Status

_E = TypeVar("_E", bound=enum.IntEnum)

LIMIT = 1000
"""The list's fixed cap (``ac174310``: "Limit is now always 1000")."""


class Role(enum.IntEnum):
    """``CorrespondencesRoleType``."""

    Recipient = 0
    Sender = 1
    RecipientAndSender = 2


@dataclass(frozen=True, slots=True)
class ListQuery:
    """The list's parameters, bound."""

    resource: str
    role: Role
    least: int | None  # from, µs (exclusive)
    most: int | None  # to, µs (exclusive)
    status: Status | None
    on_behalf_of: str | None
    senders_reference: str | None
    idempotent_key: str | None
    altinn2_id: int | None


def _enum(kind: type[_E], value: str) -> _E | None:
    text = value.strip()
    if text.lstrip("-").isdigit():
        try:
            return kind(int(text))
        except ValueError:
            return None
    for member in kind:
        if member.name.lower() == text.lower():
            return member
    return None


def parse_offset(value: str) -> int | None:
    """An ISO 8601 ``DateTimeOffset`` as µs since the epoch, or None if it does not parse."""
    text = value.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    delta = moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def _uuid(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _int32(value: str) -> int | None:
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if -(2**31) <= number < 2**31 else None


_T = TypeVar("_T")


class _Binder:
    """Binds one request's query parameters, collecting the failures."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self.failures: list[Invalid] = []

    def text(self, name: str) -> str | None:
        value = self._request.param(name)
        return value if value else None  # ConvertEmptyStringToNull

    def required(self, name: str) -> str | None:
        value = self.text(name)
        if value is None:
            self.failures.append(Invalid(name, f"The {name} field is required.", required=True))
        return value

    def bind(
        self, name: str, parse: Callable[[str], _T | None], *, required: bool = False
    ) -> _T | None:
        raw = self.required(name) if required else self.text(name)
        if raw is None:
            return None
        value = parse(raw)
        if value is None:
            self.failures.append(Invalid(name, f"The value '{raw}' is not valid for {name}."))
        return value


def parse_list_query(request: Request) -> ListQuery:
    """The bound parameters.

    Raises:
        Refusal: 400 AltinnValidationProblemDetails for a missing or unparsable value; 400/1027
            when ``from`` is after ``to``.
    """
    binder = _Binder(request)
    resource = binder.required("resourceId")
    role = binder.bind("role", lambda v: _enum(Role, v), required=True)
    least = binder.bind("from", parse_offset)
    most = binder.bind("to", parse_offset)
    status = binder.bind("status", lambda v: _enum(Status, v))
    idempotent_key = binder.bind("idempotentKey", _uuid)
    altinn2_id = binder.bind("altinn2CorrespondenceId", _int32)
    if binder.failures or resource is None or role is None:
        raise validation_problem(binder.failures)
    if least is not None and most is not None and least > most:
        raise problem(INVALID_DATE_RANGE)
    return ListQuery(
        resource=resource,
        role=role,
        least=least,
        most=most,
        status=status,
        on_behalf_of=binder.text("onBehalfOf"),
        senders_reference=binder.text("sendersReference"),
        idempotent_key=idempotent_key,
        altinn2_id=altinn2_id,
    )
