"""HTTP helpers every layer uses: origins, error bodies, ``Retry-After``, and safe descriptions of
requests for messages and log lines."""

from __future__ import annotations

import contextlib
import email.utils
import json
import os
import ssl
import time
from typing import Any

import attrs
import httpx

from ._httpcompat import TRANSPORT_ERRORS, httpx_url
from ._redact import safe_url
from .exceptions import APIError, ConfigurationError, NetworkError

__all__ = [
    "ErrorBody",
    "api_error",
    "describe_transport_error",
    "network_error",
    "origin",
    "parse_retry_after",
    "read_error_body",
    "retry_after",
    "safe_url",
]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: str | httpx.URL) -> str:
    """The origin of ``url`` as ``scheme://host[:port]``, lower-cased, default port left out."""
    parsed = httpx_url(url)
    scheme = parsed.scheme.lower()
    host = parsed.host.lower()
    if ":" in host:
        host = f"[{host}]"
    port = parsed.port
    if port is None or port == _DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date), if any.

    Delta-seconds with a fraction (``0.5``), which some gateways send, are read too.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    whole, dot, fraction = value.partition(".")
    if dot and whole.isdigit() and fraction.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # not an HTTP date (those are always GMT)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_after(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds to wait from the response's ``Retry-After`` header, if it has one."""
    return parse_retry_after(response.headers.get("Retry-After"), now=now)


def _os_reason(exc: BaseException) -> str | None:
    """The operating system's (or TLS library's) own words, from deep in the cause chain."""
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen or len(seen) > 32:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return getattr(current, "verify_message", None) or current.reason or str(current)
        if isinstance(current, OSError) and current.errno:
            # A resolver error (negative errno) has only its own words; others the OS's.
            return current.strerror if current.errno < 0 else os.strerror(current.errno)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


def describe_transport_error(exc: httpx.TransportError) -> str:
    """What went wrong on the network, with the operating system's reason kept.

    httpx says ``All connection attempts failed``; the reason (``Connection refused``, a
    certificate that does not verify, a name that does not resolve) sits further down the chain
    of causes, and is what the user can act on.
    """
    kind = type(exc).__name__
    text = str(exc).strip()
    reason = _os_reason(exc)
    if reason and reason.lower() not in text.lower():
        text = f"{text} ({reason})" if text else reason
    return f"{kind}: {text}" if text else kind


def network_error(exc: httpx.TransportError, request: httpx.Request | None = None) -> NetworkError:
    """A `NetworkError` for ``exc`` (the request it was for, when known, in the message)."""
    try:
        request = request if request is not None else exc.request
    except RuntimeError:  # httpx raises this when the error was made without a request
        request = None
    reason = describe_transport_error(exc)
    if request is None:
        return NetworkError(f"no answer: {reason}", method="", url="", reason=reason)
    return NetworkError(
        f"{request.method} {safe_url(request.url)} got no answer: {reason}",
        method=request.method,
        url=str(request.url),
        reason=reason,
    )


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
    elif content_type.startswith("text/") and "html" not in content_type and response.content:
        return ErrorBody(problem=None, detail=response.text.strip()[:300])
    return ErrorBody(problem=None, detail=None)


async def api_error(response: httpx.Response) -> APIError:
    """An `APIError` describing ``response`` (reads the body; never includes request headers)."""
    with contextlib.suppress(*TRANSPORT_ERRORS):
        await response.aread()  # the status is the news; a body lost on the way is not
    request = response.request
    body = read_error_body(response)
    summary = body.summary
    reason = response.reason_phrase or ""
    message = (
        f"{request.method} {safe_url(request.url)} answered HTTP {response.status_code} {reason}"
    ).rstrip()
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


def platform_base(http: httpx.AsyncClient, platform: str | None, who: str) -> str:
    """The platform URL an API client works under (``platform``, else the client's
    ``base_url``), without a trailing slash.

    Raises:
        ConfigurationError: there is none.
    """
    base = platform if platform is not None else str(http.base_url)
    if not base or base == "/" or not httpx.URL(base).is_absolute_url:
        raise ConfigurationError(
            f"{who} needs the platform URL: give the client a base_url or pass platform="
        )
    return base.rstrip("/")
