"""Turning Altinn API error responses into `APIError`."""

from __future__ import annotations

import email.utils
import json
import time
from typing import Any

import httpx

from .exceptions import APIError

__all__ = ["api_error", "retry_after"]


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


async def api_error(response: httpx.Response) -> APIError:
    """An `APIError` describing ``response`` (reads the body; never includes request headers)."""
    await response.aread()
    request = response.request
    problem: dict[str, Any] | None = None
    detail: str | None = None
    content_type = response.headers.get("Content-Type", "")
    if "json" in content_type:
        try:
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if isinstance(body, dict):
            problem = body
        elif isinstance(body, str):
            detail = body
    elif content_type.startswith("text/") and response.content:
        detail = response.text.strip()[:300]
    summary = ""
    if problem is not None:
        parts = [str(problem[k]) for k in ("title", "detail") if isinstance(problem.get(k), str)]
        summary = ": ".join(parts)
    elif detail:
        summary = detail
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
        problem=problem,
        detail=detail,
        retry_after=retry_after(response),
    )
