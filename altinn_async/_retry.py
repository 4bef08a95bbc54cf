"""One retry policy for every request the library sends: token endpoints, API calls, pages and
downloads."""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import anyio
import attrs
import httpx

from ._http import network_error, retry_after, safe_url
from .exceptions import ConfigurationError

__all__ = ["IDEMPOTENT_METHODS", "RetryPolicy", "request", "send"]

logger = logging.getLogger("altinn_async")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""Methods that may be sent twice without doing twice what they do (RFC 9110 §9.2.2)."""

# These failures happen before the request reaches the server, so even a request that must not
# be sent twice can be sent again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


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
        if isinstance(outcome, httpx.Response):
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

RequestFactory = Callable[[], Awaitable[httpx.Request]]


async def send(
    http: httpx.AsyncClient,
    build: RequestFactory,
    *,
    policy: RetryPolicy,
    idempotent: bool | None = None,
    stream: bool = False,
    use_client_auth: bool = True,
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

    Raises:
        httpx.TransportError: the last try failed on the network.
    """
    retry = 0
    while True:
        request = await build()
        safe = request.method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        outcome: httpx.Response | httpx.TransportError
        try:
            if use_client_auth:
                outcome = await http.send(request, stream=stream)
            else:
                outcome = await http.send(request, stream=stream, auth=None)
        except httpx.TransportError as exc:
            outcome = exc
        wait = policy.delay(retry, outcome, idempotent=safe)
        if wait is None:
            if isinstance(outcome, httpx.TransportError):
                raise outcome
            return outcome
        if isinstance(outcome, httpx.Response):
            with contextlib.suppress(httpx.TransportError):
                await outcome.aread()  # a retried answer's body does not matter
            await outcome.aclose()
            what = f"HTTP {outcome.status_code}"
        else:
            what = type(outcome).__name__
        logger.info(
            "%s %s failed (%s); retrying in %.2f s (try %d of %d)",
            request.method,
            safe_url(request.url.copy_with(query=None)),
            what,
            wait,
            retry + 2,
            policy.attempts,
        )
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
) -> httpx.Response:
    """An API request with retries; a network failure becomes `NetworkError`.

    Raises:
        NetworkError: no answer after the retries.
    """

    async def build() -> httpx.Request:
        return http.build_request(method, url, params=params, headers=headers)

    try:
        return await send(http, build, policy=policy, idempotent=idempotent, stream=stream)
    except httpx.TransportError as exc:
        raise network_error(exc) from exc
