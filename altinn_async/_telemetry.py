"""OpenTelemetry: the library's tracer and meter, and the few helpers the rest of it calls.

Only the API package is used. With no SDK configured, every span and instrument here is the
API's no-op; once an application sets a tracer or meter provider, they report to it (the API's
proxies pick it up, whenever it is set).

No attribute holds a secret: callers pass methods, hosts, statuses, flow kinds, error codes and
class names, and URLs through `url_attribute` (no query, no user info, national identity numbers
masked). A failed span records the exception's class, never its message or traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping

import httpx
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from ._redact import mask_pids
from ._version import __version__

__all__ = [
    "FLOW",
    "TokenLookups",
    "error_type",
    "harvest_items",
    "http_attributes",
    "http_span_name",
    "mark_error",
    "meter",
    "rate_limited_wait",
    "retried",
    "span",
    "token_lookups",
    "tracer",
    "url_attribute",
]

tracer = trace.get_tracer("altinn_async", __version__)
meter = metrics.get_meter("altinn_async", __version__)

Attributes = Mapping[str, AttributeValue]

FLOW = "altinn.token.flow"
"""The attribute naming an auth flow's kind (``maskinporten``, ``exchange``, ``idporten``)."""


@contextlib.contextmanager
def span(
    name: str, attributes: Attributes | None = None, *, kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[Span]:
    """A span that is current while the block runs; an exception ends it with an error status
    naming the exception's class (a cancellation is no error)."""
    with tracer.start_as_current_span(
        name,
        kind=kind,
        attributes=attributes,
        record_exception=False,  # an exception's message and traceback stay out of telemetry
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except Exception as exc:
            mark_error(current, error_type(exc))
            raise


def mark_error(current: Span, error_type: str) -> None:
    """Set ``current``'s status to error, with ``error.type`` (a class name or a status)."""
    current.set_attribute("error.type", error_type)
    current.set_status(Status(StatusCode.ERROR, error_type))


def error_type(exc: BaseException) -> str:
    """``error.type`` for ``exc``: its class's qualified name (never its message)."""
    cls = type(exc)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


# -- HTTP requests ------------------------------------------------------------------------------


def url_attribute(url: httpx.URL) -> str:
    """``url`` for ``url.full``: without its query, fragment and user info, identity numbers
    masked."""
    netloc = url.netloc.decode("ascii", "replace")
    return mask_pids(f"{url.scheme}://{netloc}{url.path}")


def http_span_name(request: httpx.Request) -> str:
    """``GET storage``: the method and the API (the path segment before ``api``), or the method
    alone when the path has no API segment (a token endpoint)."""
    segments = request.url.path.split("/")
    if "api" in segments:
        at = segments.index("api")
        if at > 0 and segments[at - 1]:
            return f"{request.method} {mask_pids(segments[at - 1])}"
    return request.method


def http_attributes(request: httpx.Request, resend_count: int) -> dict[str, AttributeValue]:
    """A request's attributes by the HTTP semantic conventions (client side)."""
    url = request.url
    attributes: dict[str, AttributeValue] = {
        "http.request.method": request.method,
        "url.full": url_attribute(url),
        "server.address": url.host,
    }
    if url.port is not None:
        attributes["server.port"] = url.port
    if resend_count:
        attributes["http.request.resend_count"] = resend_count
    return attributes


_retries = meter.create_counter(
    "altinn.http.retries",
    unit="{retry}",
    description="Requests sent again after a failed try",
)
_rate_limited = meter.create_counter(
    "altinn.http.rate_limited.waits",
    unit="{wait}",
    description="Waits before a retry because the server answered 429",
)
_rate_limited_seconds = meter.create_histogram(
    "altinn.http.rate_limited.wait",
    unit="s",
    description="Seconds waited before a retry because the server answered 429",
)


_paused_seconds = meter.create_histogram(
    "altinn.http.paused",
    unit="s",
    description="Seconds a request waited before its first try or a retry because its pool was "
    "paused: by another answer's Retry-After (altinn.pause.reason=retry_after) or by the rate "
    "limit (rate_limit)",
)


def retried(method: str, outcome: httpx.Response | httpx.TransportError) -> None:
    """Count a retry of a ``method`` request after ``outcome``."""
    attributes: dict[str, AttributeValue] = {"http.request.method": method}
    if isinstance(outcome, BaseException):
        attributes["error.type"] = error_type(outcome)
    else:
        attributes["http.response.status_code"] = outcome.status_code
    _retries.add(1, attributes)


def rate_limited_wait(request: httpx.Request, seconds: float) -> None:
    """Count a wait of ``seconds`` before retrying ``request`` after a 429."""
    attributes = {"http.request.method": request.method, "server.address": request.url.host}
    _rate_limited.add(1, attributes)
    _rate_limited_seconds.record(seconds, attributes)


def paused_wait(request: httpx.Request, seconds: float, reason: str) -> None:
    """Count ``seconds`` ``request`` waited for its pool (``retry_after`` or ``rate_limit``)."""
    _paused_seconds.record(
        seconds,
        {
            "http.request.method": request.method,
            "server.address": request.url.host,
            "altinn.pause.reason": reason,
        },
    )


# -- the token cache ----------------------------------------------------------------------------


class TokenLookups:
    """How often a flow kind asked the token cache, and how often that meant a fetch.

    Plain integers the flows increment (the per-request path pays one addition, not an
    instrument call); the observable counters read them when a reader collects.
    """

    __slots__ = ("_reported_hits", "lookups", "misses")

    def __init__(self) -> None:
        self.lookups = 0
        self.misses = 0
        self._reported_hits = 0

    @property
    def hits(self) -> int:
        """Lookups served without a fetch of their own (never less than reported before)."""
        # A collection on another thread may fall between a lookup and its miss.
        self._reported_hits = max(self._reported_hits, self.lookups - self.misses)
        return self._reported_hits


_LOOKUPS: dict[str, TokenLookups] = {}


def token_lookups(flow: str) -> TokenLookups:
    """The counts of the flow kind ``flow``, shared by every flow of that kind."""
    return _LOOKUPS.setdefault(flow, TokenLookups())


def _observe_hits(options: CallbackOptions) -> Iterable[Observation]:
    del options
    return [Observation(c.hits, {FLOW: flow}) for flow, c in list(_LOOKUPS.items())]


def _observe_misses(options: CallbackOptions) -> Iterable[Observation]:
    del options
    return [Observation(c.misses, {FLOW: flow}) for flow, c in list(_LOOKUPS.items())]


meter.create_observable_counter(
    "altinn.token.cache.hits",
    callbacks=[_observe_hits],
    unit="{lookup}",
    description="Token lookups served from the cache, without a fetch of their own",
)
meter.create_observable_counter(
    "altinn.token.cache.misses",
    callbacks=[_observe_misses],
    unit="{lookup}",
    description="Token lookups that fetched a new token",
)


# -- harvests -----------------------------------------------------------------------------------

_harvest_items = meter.create_counter(
    "altinn.harvest.items",
    unit="{item}",
    description="Items a harvest wrote to its sink",
)


def harvest_items(count: int, attributes: Attributes) -> None:
    """Count ``count`` items written by a harvest."""
    _harvest_items.add(count, attributes)
