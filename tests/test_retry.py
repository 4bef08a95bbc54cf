"""The one retry policy: what is retried, how long it waits, and what it never does."""

from __future__ import annotations

import email.utils
import time

import anyio
import httpx
import pytest

import altinn_async as altinn
from altinn_async._retry import request, send

GET = httpx.Request("GET", "https://platform.example/x")
POST = httpx.Request("POST", "https://platform.example/x")


def response(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return httpx.Response(status, headers=headers, request=GET)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_these_statuses_are_retried(status: int) -> None:
    delay = altinn.RetryPolicy().delay(0, response(status), idempotent=True)
    assert delay is not None
    assert 0 <= delay <= 0.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 500, 501])
def test_these_are_not(status: int) -> None:
    assert altinn.RetryPolicy().delay(0, response(status), idempotent=True) is None


def test_backoff_grows_with_full_jitter_and_a_cap() -> None:
    policy = altinn.RetryPolicy(attempts=10, backoff=1.0, max_backoff=5.0)
    for retry, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 5.0), (8, 5.0)]:
        delays = [policy.delay(retry, response(503), idempotent=True) for _ in range(200)]
        assert all(d is not None and 0 <= d <= ceiling for d in delays)
        assert max(d for d in delays if d is not None) > ceiling / 2  # jitter spans the range


@pytest.mark.parametrize("seconds", ["0", "7", "119"])
def test_retry_after_seconds_are_waited_exactly(seconds: str) -> None:
    assert altinn.RetryPolicy().delay(0, response(503, seconds), idempotent=True) == float(seconds)


def test_retry_after_as_an_http_date_is_waited_for() -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    delay = altinn.RetryPolicy().delay(0, response(429, when), idempotent=True)
    assert delay is not None
    assert 18 < delay <= 20


def test_a_retry_after_longer_than_max_wait_is_not_undercut_but_given_up() -> None:
    # Waiting less than the server asked would be refused again (and is rude); waiting that long
    # is not this request's business: the error, with its retry_after, goes to the caller.
    policy = altinn.RetryPolicy(max_wait=60)
    assert policy.delay(0, response(503, "600"), idempotent=True) is None
    assert policy.delay(0, response(503, "60"), idempotent=True) == 60


def test_a_malformed_retry_after_falls_back_to_backoff() -> None:
    delay = altinn.RetryPolicy().delay(0, response(503, "soon"), idempotent=True)
    assert delay is not None
    assert delay <= 0.5


def test_attempts_count_the_first_try() -> None:
    policy = altinn.RetryPolicy(attempts=3)
    assert policy.delay(0, response(503), idempotent=True) is not None
    assert policy.delay(1, response(503), idempotent=True) is not None
    assert policy.delay(2, response(503), idempotent=True) is None
    assert altinn.RetryPolicy.NEVER.delay(0, response(503), idempotent=True) is None


def test_a_request_that_may_have_arrived_is_retried_only_if_idempotent() -> None:
    policy = altinn.RetryPolicy()
    read_timeout = httpx.ReadTimeout("slow", request=POST)
    assert policy.delay(0, read_timeout, idempotent=True) is not None
    assert policy.delay(0, read_timeout, idempotent=False) is None
    assert policy.delay(0, response(503), idempotent=False) is None
    assert policy.delay(0, response(502), idempotent=False) is None
    # ... unless it surely did not: no connection was made, or the server said 429.
    assert (
        policy.delay(0, httpx.ConnectError("refused", request=POST), idempotent=False) is not None
    )
    assert policy.delay(0, response(429), idempotent=False) is not None
    opted_in = altinn.RetryPolicy(retry_non_idempotent=True)
    assert opted_in.delay(0, read_timeout, idempotent=False) is not None


def test_transport_errors_can_be_left_alone() -> None:
    policy = altinn.RetryPolicy(transport_errors=False)
    assert policy.delay(0, httpx.ConnectError("refused", request=GET), idempotent=True) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [({"attempts": 0}, "attempts"), ({"backoff": -1}, "backoff"), ({"max_wait": -1}, "max_wait")],
)
def test_bad_policies(options: dict[str, float], message: str) -> None:
    with pytest.raises(altinn.ConfigurationError, match=message):
        altinn.RetryPolicy(**options)  # type: ignore[arg-type]


def test_the_policy_is_a_frozen_value() -> None:
    policy = altinn.RetryPolicy(attempts=6)
    assert policy == altinn.RetryPolicy(attempts=6)
    with pytest.raises(AttributeError):
        policy.attempts = 2  # type: ignore[misc]
    assert "attempts=6" in repr(policy)


async def test_send_retries_and_closes_what_it_retried() -> None:
    answers = iter([503, 502, 200])
    closed: list[int] = []

    class Tracked(httpx.ByteStream):
        def __init__(self, status: int) -> None:
            super().__init__(b"body")
            self.status = status

        async def aclose(self) -> None:
            closed.append(self.status)

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return httpx.Response(status, stream=Tracked(status))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:

        async def build() -> httpx.Request:
            return http.build_request("GET", "https://platform.example/x")

        final = await send(http, build, policy=altinn.RetryPolicy(backoff=0.001))
    assert final.status_code == 200
    assert closed[:2] == [503, 502]


async def test_request_turns_a_network_failure_into_a_network_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("All connection attempts failed", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(altinn.NetworkError) as info:
            await request(
                http, "GET", "https://platform.example/x?subject=24917298544",
                policy=altinn.RetryPolicy(attempts=2, backoff=0.001),
            )  # fmt: skip
    assert info.value.method == "GET"
    assert "All connection attempts failed" in info.value.reason
    assert "24917298544" not in str(info.value)  # a national id in a URL is masked
    assert "249172*****" in str(info.value)


async def test_paginators_and_clients_retry_and_can_be_told_not_to() -> None:
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(503, headers={"Retry-After": "0"})
        return httpx.Response(200, json={"count": 0, "next": None, "instances": []})

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(flaky), base_url="https://platform.example"
    ) as http:
        assert [i async for i in altinn.StorageClient(http).instances(org="ttd")] == []
        assert calls == 2
        calls = 0
        storage = altinn.StorageClient(http, retry=altinn.RetryPolicy.NEVER)
        with pytest.raises(altinn.APIError) as info:
            [i async for i in storage.instances(org="ttd")]
    assert info.value.status_code == 503
    assert info.value.retry_after == 0


async def test_a_retry_waits_on_the_event_loop() -> None:
    # The wait is an anyio sleep: cancelling the caller cancels it at once.
    def busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "100"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(busy)) as http:
        with anyio.move_on_after(0.2) as scope:
            await request(http, "GET", "https://platform.example/x", policy=altinn.RetryPolicy())
    assert scope.cancelled_caught
