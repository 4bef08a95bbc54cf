"""Turning Altinn API error responses into `APIError`."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import attrs
import httpx

from .exceptions import APIError

__all__ = ["ErrorBody", "api_error", "read_error_body", "retry_after"]


def retry_after(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@attrs.frozen
class ErrorBody:
    """What an error response's body says: a ProblemDetails object, or a short text.

    Attributes:
        problem: the RFC 7807 ProblemDetails object, when the body was a JSON object.
        detail: the text, when the body was a JSON string or plain text (at most 300 characters).
        summary: one line for an exception message (``title: detail``, or the text).
    """

    problem: dict[str, Any] | None
    detail: str | None

    @property
    def summary(self) -> str:
        if self.problem is not None:
            keys = ("title", "detail")
            return ": ".join(
                str(self.problem[k]) for k in keys if isinstance(self.problem.get(k), str)
            )
        return self.detail or ""


def read_error_body(response: httpx.Response) -> ErrorBody:
    """Parse a (read) error response's body; never fails."""
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            return ErrorBody(problem=body, detail=None)
        if isinstance(body, str):
            return ErrorBody(problem=None, detail=body[:300])
    elif content_type.startswith("text/") and response.content:
        return ErrorBody(problem=None, detail=response.text.strip()[:300])
    return ErrorBody(problem=None, detail=None)


async def api_error(response: httpx.Response) -> APIError:
    """An `APIError` describing ``response`` (reads the body; never includes request headers)."""
    await response.aread()
    request = response.request
    body = read_error_body(response)
    summary = body.summary
    reason = response.reason_phrase or ""
    message = (
        f"{request.method} {request.url} answered HTTP {response.status_code} {reason}".rstrip()
    )
    if summary:
        message += f" ({summary})"
    return APIError(
        message,
        status_code=response.status_code,
        method=request.method,
        url=str(request.url),
        problem=body.problem,
        detail=body.detail,
        retry_after=retry_after(response),
    )
