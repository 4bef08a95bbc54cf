"""One retry policy for every request the library sends: token endpoints, API calls, pages and
downloads."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar

import anyio
import attrs
import httpx
from opentelemetry.trace import SpanKind

from . import _telemetry as telemetry
from ._http import network_error, retry_after, safe_url
from ._httpcompat import (
    CONNECT_ERRORS,
    RESPONSES,
    TRANSPORT_ERRORS,
    url_argument,
    use_client_default,
)
from .exceptions import ConfigurationError

__all__ = ["IDEMPOTENT_METHODS", "Pacer", "RetryPolicy", "pacing", "request", "send"]

logger = logging.getLogger("altinn_async")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""Methods that may be sent twice without doing twice what they do (RFC 9110 §9.2.2)."""

# These failures happen before the request reaches the server, so even a request that must not
# be sent twice can be sent again.
_NOT_SENT = CONNECT_ERRORS


def _check_policy(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    del instance
    if value < 0:
        raise ConfigurationError(f"RetryPolicy.{attribute.name} must not be negative")


@attrs.frozen
class RetryPolicy:
    """When a failed request is sent again, and how long to wait first.

    A request is retried when the server answered one of `statuses` or the connection failed
    (`transport_errors`), up to `attempts` tries in all. The wait before a retry is the server's
    ``Retry-After`` when it sent one (delta-seconds or an HTTP date) and never less; otherwise a
    random time up to ``backoff * 2**retry``, at most `max_backoff` ("full jitter", so a fleet of
    workers does not retry in step). A ``Retry-After`` longer than `max_wait` is not waited for:
    the error goes to the caller, who can see ``retry_after`` on it.

    Only requests that may safely be sent twice are retried after they may have reached the
    server: ``GET``, ``HEAD``, ``PUT``, ``DELETE``, ``OPTIONS``, or a request whose sender says
    so (a Maskinporten grant is signed anew for every try). Any other request (a ``POST``, an
    ID-porten refresh, whose refresh token is spent once the server saw it) is retried only when
    it surely did not leave: the connection could not be made, or the server answered 429.

    Example::

        altinn.StorageClient(http, retry=altinn.RetryPolicy(attempts=6, max_backoff=30))
        altinn.StorageClient(http, retry=altinn.RetryPolicy.NEVER)   # no retries

    Attributes:
        attempts: tries in all, the first included (1: no retries).
        statuses: the statuses worth another try.
        transport_errors: whether connection failures and timeouts are retried.
        backoff: the first retry waits up to this many seconds; each further one up to twice
            as long as the one before.
        max_backoff: the longest wait without ``Retry-After``.
        max_wait: the longest ``Retry-After`` to wait for.
        retry_non_idempotent: retry every request as if it were idempotent (opt in only when
            sending a request twice is harmless for your use).
    """

    attempts: int = attrs.field(default=4, validator=_check_policy)
    statuses: frozenset[int] = attrs.field(
        default=frozenset({429, 502, 503, 504}), converter=frozenset
    )
    transport_errors: bool = True
    backoff: float = attrs.field(default=0.5, validator=_check_policy)
    max_backoff: float = attrs.field(default=8.0, validator=_check_policy)
    max_wait: float = attrs.field(default=120.0, validator=_check_policy)
    retry_non_idempotent: bool = False

    NEVER: ClassVar[RetryPolicy]
    """A policy that sends every request once."""

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError("RetryPolicy.attempts must be at least 1")

    def delay(
        self,
        retry: int,
        outcome: httpx.Response | httpx.TransportError,
        *,
        idempotent: bool,
    ) -> float | None:
        """Seconds to wait before retry number ``retry`` (0 for the first), or ``None`` to stop.

        Args:
            retry: how many retries were made already.
            outcome: what the last try gave.
            idempotent: whether the request may be sent twice.
        """
        if retry + 1 >= self.attempts:
            return None
        safe = idempotent or self.retry_non_idempotent
        if isinstance(outcome, RESPONSES):
            if outcome.status_code not in self.statuses:
                return None
            if not safe and outcome.status_code != 429:
                return None
            wait = retry_after(outcome)
            if wait is not None:
                return wait if wait <= self.max_wait else None
        elif not self.transport_errors or not (safe or isinstance(outcome, _NOT_SENT)):
            return None
        return random.uniform(0, min(self.backoff * 2**retry, self.max_backoff))  # noqa: S311


RetryPolicy.NEVER = RetryPolicy(attempts=1)


class Pacer:
    """The pace of every request sent in one context: a rate limit, and the server's pauses.

    Installed with `pacing`, it applies to every request `send` makes in that context and in the
    tasks started from it (a harvest's workers): at most ``rate`` requests a second, spread
    evenly, and when any answer says ``Retry-After``, no request at all until it has passed,
    so one 429 pauses the whole pool instead of one task while the others keep being refused.
    It also counts what the pool sees, for progress reports.

    Args:
        rate: requests per second, or ``None`` for no limit.

    Attributes:
        retries: requests sent again after a failure.
        pauses: ``Retry-After`` answers that paused the pool.
        paused: seconds requests spent waiting for a pause or the rate limit, summed over the
            requests that waited.
    """

    def __init__(self, rate: float | None = None) -> None:
        if rate is not None and not (rate > 0 and math.isfinite(rate)):
            raise ConfigurationError("the rate limit must be a positive number of requests/s")
        self._interval = 0.0 if rate is None else 1.0 / rate
        self._next_slot = -math.inf
        self._resume_at = -math.inf
        self.retries = 0
        self.pauses = 0
        self.paused = 0.0

    def __repr__(self) -> str:
        rate = None if not self._interval else round(1 / self._interval, 3)
        return f"Pacer(rate={rate}, retries={self.retries}, pauses={self.pauses})"

    @property
    def resume_at(self) -> float | None:
        """When the current pause ends (on `anyio.current_time`'s clock), or ``None``."""
        return self._resume_at if self._resume_at > anyio.current_time() else None

    async def wait(self, request: httpx.Request | None = None) -> None:
        """Wait for the pool's pause to pass, then for this request's slot.

        A wait is measured (``altinn.http.paused``, by ``altinn.pause.reason``: ``retry_after``
        for another answer's ``Retry-After``, ``rate_limit`` for the rate limit) when
        ``request`` is given.
        """
        started = now = anyio.current_time()
        # A pause may be lengthened by another answer while we sleep: look again after it.
        while self._resume_at > now:
            await anyio.sleep(self._resume_at - now)
            now = anyio.current_time()
        resumed = now
        if self._interval:
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
            if slot > now:
                await anyio.sleep(slot - now)
                now = anyio.current_time()
        self.paused += now - started
        if request is not None:
            if resumed > started:
                telemetry.paused_wait(request, resumed - started, "retry_after")
            if now > resumed:
                telemetry.paused_wait(request, now - resumed, "rate_limit")

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (a ``Retry-After``)."""
        resume_at = anyio.current_time() + seconds
        if resume_at > self._resume_at:
            self._resume_at = resume_at
            self.pauses += 1


_PACER: contextvars.ContextVar[Pacer | None] = contextvars.ContextVar("altinn_pacer", default=None)


@contextlib.contextmanager
def pacing(pacer: Pacer) -> Iterator[Pacer]:
    """Apply ``pacer`` to the requests sent in this context and in tasks started from it."""
    token = _PACER.set(pacer)
    try:
        yield pacer
    finally:
        _PACER.reset(token)


RequestFactory = Callable[[], Awaitable[httpx.Request]]


async def _try(
    http: httpx.AsyncClient,
    request: httpx.Request,
    retry: int,
    *,
    stream: bool,
    auth: httpx.Auth | httpx._client.UseClientDefault | None,
) -> httpx.Response | httpx.TransportError:
    """Send ``request`` once, in a client span that is current while the auth flow runs (so a
    token fetch is its child); a network failure is returned, not raised."""
    with telemetry.span(telemetry.http_span_name(request), kind=SpanKind.CLIENT) as span:
        if span.is_recording():
            span.set_attributes(telemetry.http_attributes(request, retry))
        try:
            response = await http.send(request, stream=stream, auth=auth)
        except TRANSPORT_ERRORS as exc:
            telemetry.mark_error(span, telemetry.error_type(exc))
            return exc
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 400:
            telemetry.mark_error(span, str(response.status_code))
        return response


async def send(
    http: httpx.AsyncClient,
    build: RequestFactory,
    *,
    policy: RetryPolicy,
    idempotent: bool | None = None,
    stream: bool = False,
    use_client_auth: bool = True,
    auth: httpx.Auth | None = None,
) -> httpx.Response:
    """Send a request built anew for every try, retrying as ``policy`` says.

    Returns the last response, whatever its status (with ``stream=True`` an open response the
    caller must close). Responses that were retried are read and closed here.

    Args:
        http: the client.
        build: makes the request for one try (a grant or assertion must be new every time).
        policy: when to retry.
        idempotent: whether the request may be sent twice; by default, by its method.
        stream: leave the body of the returned response unread.
        use_client_auth: send with the client's auth; token endpoints pass ``False``, so a
            client that carries an auth flow of this library cannot deadlock fetching its own
            token, nor send another flow's credentials to the token endpoint.
        auth: the auth for this request instead of the client's (a person's auth on an app's
            shared client).

    Raises:
        httpx.TransportError: the last try failed on the network.
    """
    chosen = auth if auth is not None else use_client_default(http) if use_client_auth else None
    retry = 0
    pacer = _PACER.get()
    while True:
        request = await build()
        if pacer is not None:
            await pacer.wait(request)
        safe = request.method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        outcome = await _try(http, request, retry, stream=stream, auth=chosen)
        wait = policy.delay(retry, outcome, idempotent=safe)
        if pacer is not None and isinstance(outcome, RESPONSES):
            told = retry_after(outcome) if outcome.status_code in (429, 503) else None
            if told is not None:
                pacer.pause(told)
        if wait is None:
            if isinstance(outcome, BaseException):  # an httpx or httpx2 TransportError
                raise outcome
            return outcome
        extra: dict[str, object] = {
            "altinn_method": request.method,
            "altinn_url": telemetry.url_attribute(request.url),
            "altinn_retry_in": round(wait, 3),
            "altinn_attempt": retry + 2,
        }
        if isinstance(outcome, RESPONSES):
            with contextlib.suppress(*TRANSPORT_ERRORS):
                await outcome.aread()  # a retried answer's body does not matter
            await outcome.aclose()
            what = f"HTTP {outcome.status_code}"
            extra["altinn_status"] = outcome.status_code
            if outcome.status_code == 429:
                telemetry.rate_limited_wait(request, wait)
        else:
            what = type(outcome).__name__
            extra["altinn_error"] = what
        telemetry.retried(request.method, outcome)
        logger.info(
            "%s %s failed (%s); retrying in %.2f s (try %d of %d)",
            request.method,
            safe_url(request.url.copy_with(query=None)),
            what,
            wait,
            retry + 2,
            policy.attempts,
            extra=extra,
        )
        if pacer is not None:
            pacer.retries += 1
        await anyio.sleep(wait)
        retry += 1


async def request(
    http: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    *,
    policy: RetryPolicy,
    params: httpx.QueryParams | dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    idempotent: bool | None = None,
    stream: bool = False,
    auth: httpx.Auth | None = None,
) -> httpx.Response:
    """An API request with retries; a network failure becomes `NetworkError`.

    Raises:
        NetworkError: no answer after the retries.
    """

    async def build() -> httpx.Request:
        return http.build_request(method, url_argument(http, url), params=params, headers=headers)

    try:
        return await send(
            http, build, policy=policy, idempotent=idempotent, stream=stream, auth=auth
        )
    except TRANSPORT_ERRORS as exc:
        raise network_error(exc) from exc
