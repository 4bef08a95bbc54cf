"""The self-service API's error body (``maskinporten-selfservice.md`` §7), for every 4xx:
``status``, ``timestamp``, ``correlation_id``, ``errors[]`` and ``error`` / ``error_description``
(the messages joined, each after ``", "``, as the captured responses have them)."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from .._toolkit.responses import json_response
from .._toolkit.router import Refusal

JSON = "application/json"


def iso_ms(seconds: float) -> str:
    """``2024-01-01T20:00:00.000Z``: the API's timestamps (UTC, milliseconds, ``Z``)."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_ns(seconds: float) -> str:
    """``2025-07-02T08:30:00.000000000Z``: the error body's timestamp (nanoseconds, as captured)."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond * 1000:09d}Z"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation error: the field (``fieldIdentifier``) and what is wrong with it."""

    field: str
    message: str
    object_name: str = "Client"


class ApiError(Refusal):
    """A refusal with the §7 body. ``field_errors`` become ``errors[]`` (``isFieldError``);
    without them ``message`` is the one error."""

    def __init__(
        self,
        status: int,
        now: float,
        message: str = "",
        field_errors: Iterable[FieldError] = (),
        *,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        found = list(field_errors)
        errors = [
            {
                "errorMessage": e.message,
                "isFieldError": True,
                "objectName": e.object_name,
                "fieldIdentifier": e.field,
            }
            for e in found
        ]
        messages = [e.message for e in found] or [message]
        joined = "".join(f", {m}" for m in messages)
        body = {
            "status": status,
            "timestamp": iso_ns(now),
            "correlation_id": secrets.token_hex(16),
            "errors": errors,
            "error": joined,
            "error_description": joined,
        }
        super().__init__(json_response(body, status, content_type=JSON, headers=headers))
        self.status = status


def invalid(now: float, errors: Iterable[FieldError]) -> ApiError:
    """400 with field errors."""
    return ApiError(400, now, field_errors=errors)


def bad_request(now: float, message: str) -> ApiError:
    """400 without a field (a body that is not JSON, an invalid consumer orgno)."""
    return ApiError(400, now, message)


def unauthorized(now: float, message: str, *, bad_token: bool) -> ApiError:
    """401: no bearer token, or one that is not a live token of the emulated Maskinporten."""
    challenge = 'Bearer error="invalid_token"' if bad_token else "Bearer"
    return ApiError(401, now, message, headers=[("www-authenticate", challenge)])


def forbidden(now: float, message: str) -> ApiError:
    """403: a missing admin scope, or another organisation's client, scope or prefix."""
    return ApiError(403, now, message)


def not_found(now: float, message: str) -> ApiError:
    """404: an unknown (or deleted) client, an unknown scope or key, a client without keys."""
    return ApiError(404, now, message)


def conflict(now: float, message: str) -> ApiError:
    """409: a scope that already exists."""
    return ApiError(409, now, message)
