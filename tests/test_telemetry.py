"""OpenTelemetry against the emulator: the spans as they nest, the metrics as they count, and no
secret in any attribute or structured log record.

The global tracer and meter providers can be set once per process: they are set the first time
a test here asks for them, with a sampler that records only while a test of this module runs
(so the rest of the suite neither pays for spans nor fills the exporter).
"""

from __future__ import annotations

import functools
import logging
import urllib.parse
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import attrs
import httpx
import pytest
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, ObservableCounter
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, StatusCode
from opentelemetry.util.types import Attributes

import altinn_async as altinn
from altinn_async._retry import Pacer, pacing
from altinn_async.testing import Emulator

from .helpers import Clock, signing_key

CLIENT = "otel-client"
READ = "altinn:serviceowner/instances.read"
PID = "24917298544"
CLIENT_SECRET = "otel-s3cret-value"
REDIRECT = "https://app.example/callback"


class _WhileActive(Sampler):
    """Records every span while ``active``, none otherwise."""

    active = False

    def should_sample(  # noqa: PLR0917 - the SDK's signature
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        decision = Decision.RECORD_AND_SAMPLE if self.active else Decision.DROP
        return SamplingResult(decision, attributes if self.active else None)

    def get_description(self) -> str:
        return "WhileActive"


@attrs.frozen
class Telemetry:
    sampler: _WhileActive
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader

    def finished(self, name: str | None = None) -> list[ReadableSpan]:
        spans = list(self.spans.get_finished_spans())
        return spans if name is None else [s for s in spans if s.name == name]

    def points(self) -> dict[str, list[NumberDataPoint | HistogramDataPoint]]:
        """The data points collected since the last call, by metric name (delta temporality)."""
        found: dict[str, list[NumberDataPoint | HistogramDataPoint]] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points = found.setdefault(metric.name, [])
                    points.extend(
                        p
                        for p in metric.data.data_points
                        if isinstance(p, NumberDataPoint | HistogramDataPoint)
                    )
        return found


@functools.cache
def _providers() -> Telemetry:
    sampler = _WhileActive()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=sampler)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    delta = AggregationTemporality.DELTA
    reader = InMemoryMetricReader(
        preferred_temporality={Counter: delta, ObservableCounter: delta, Histogram: delta}
    )
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return Telemetry(sampler, spans, reader)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    found = _providers()
    found.spans.clear()
    found.points()  # what earlier tests counted is not this test's
    found.sampler.active = True
    try:
        yield found
    finally:
        found.sampler.active = False
        found.spans.clear()


def counted(points: list[Any], **attributes: Any) -> float:
    """The sum of the counter points whose attributes include ``attributes``."""
    return sum(
        p.value
        for p in points
        if isinstance(p, NumberDataPoint)
        and all((p.attributes or {}).get(k) == v for k, v in attributes.items())
    )


@attrs.define
class World:
    emulator: Emulator
    clock: Clock
    http: httpx.AsyncClient
    sent: list[httpx.Request]
    tmp: Path

    def maskinporten(self) -> altinn.MaskinportenAuth:
        return altinn.MaskinportenAuth(
            client_id=CLIENT,
            key=signing_key("otel-kid"),
            scopes=[READ],
            environment=self.emulator.environment,
            http_client=self.http,
            clock=self.clock,
        )

    def storage(self, auth: httpx.Auth) -> altinn.StorageClient:
        return altinn.StorageClient(
            self.http, auth=auth, retry=altinn.RetryPolicy(backoff=0.001, max_backoff=0.001)
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = Clock()
    emulator = Emulator(clock=clock)
    emulator.add_maskinporten_client(
        CLIENT, org_number="405003309", scopes=[READ], jwks=[signing_key("otel-kid").public_jwk]
    )
    emulator.add_instances("ttd", "app", 25)
    emulator.add_person(PID, name="Test Testesen")
    emulator.add_idporten_client(
        "web",
        redirect_uris=[REDIRECT],
        client_secret=CLIENT_SECRET,
        scopes=["openid", "profile", "altinn:instances.read"],
    )
    sent: list[httpx.Request] = []

    async def keep(request: httpx.Request) -> None:
        sent.append(request)

    async with httpx.AsyncClient(
        transport=emulator.transport(),
        base_url=emulator.environment.platform,
        event_hooks={"request": [keep]},
    ) as http:
        yield World(emulator, clock, http, sent, tmp_path)


def parent_of(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan | None:
    if span.parent is None:
        return None
    return next((s for s in spans if s.context.span_id == span.parent.span_id), None)


async def test_a_storage_list_traces_the_token_fetch_exchange_and_requests(
    world: World, telemetry: Telemetry
) -> None:
    auth = altinn.AltinnExchangeAuth(world.maskinporten())
    storage = world.storage(auth)
    ids = [i["id"] async for i in storage.instances(org="ttd", size=10)]
    assert len(ids) == 25
    spans = telemetry.finished()
    storage_gets = [s for s in spans if s.name == "GET storage"]
    assert len(storage_gets) == 3  # 10, 10, 5
    (exchange_fetch,) = [
        s
        for s in spans
        if s.name == "altinn.token.fetch" and s.attributes == {"altinn.token.flow": "exchange"}
    ]
    (mp_fetch,) = [
        s
        for s in spans
        if s.name == "altinn.token.fetch" and s.attributes == {"altinn.token.flow": "maskinporten"}
    ]
    (token_request,) = telemetry.finished("altinn.oauth.token_request")
    (exchange,) = telemetry.finished("altinn.token.exchange")
    (token_post,) = telemetry.finished("POST")
    (exchange_get,) = telemetry.finished("GET authentication")
    # As they happened: the first Storage request's auth fetched the Altinn token, whose fetch
    # fetched the Maskinporten token first and then exchanged it.
    first = min(storage_gets, key=lambda s: s.start_time or 0)
    assert parent_of(exchange_fetch, spans) is first
    assert parent_of(mp_fetch, spans) is exchange_fetch
    assert parent_of(token_request, spans) is mp_fetch
    assert parent_of(token_post, spans) is token_request
    assert parent_of(exchange, spans) is exchange_fetch
    assert parent_of(exchange_get, spans) is exchange
    assert all(parent_of(s, spans) is None for s in storage_gets)
    assert {s.context.trace_id for s in spans if s is not first and s not in storage_gets} == {
        first.context.trace_id
    }

    assert token_request.attributes is not None
    assert token_request.attributes["altinn.oauth.server"] == "Maskinporten"
    assert token_request.attributes["http.response.status_code"] == 200
    assert exchange.attributes == {
        "altinn.exchange.provider": "maskinporten",
        "http.response.status_code": 200,
    }
    assert first.kind is SpanKind.CLIENT
    attributes = dict(first.attributes or {})
    assert attributes == {
        "http.request.method": "GET",
        "url.full": f"{world.emulator.environment.platform}/storage/api/v1/instances",
        "server.address": "altinn.localhost",
        "http.response.status_code": 200,
    } | ({"server.port": attributes["server.port"]} if "server.port" in attributes else {})
    assert token_post.attributes is not None
    assert (
        token_post.attributes["url.full"] == world.emulator.environment.maskinporten.token_endpoint
    )

    points = telemetry.points()
    assert counted(points["altinn.token.cache.misses"], **{"altinn.token.flow": "exchange"}) == 1
    assert (
        counted(points["altinn.token.cache.misses"], **{"altinn.token.flow": "maskinporten"}) == 1
    )
    # The first request missed; the other two found the Altinn token (the Maskinporten token is
    # looked up only by the exchange's fetch).
    assert counted(points["altinn.token.cache.hits"], **{"altinn.token.flow": "exchange"}) == 2
    assert counted(points["altinn.token.cache.hits"], **{"altinn.token.flow": "maskinporten"}) == 0
    for _ in range(5):
        await auth.get_token()
    points = telemetry.points()
    assert counted(points["altinn.token.cache.hits"], **{"altinn.token.flow": "exchange"}) == 5
    assert counted(points["altinn.token.cache.misses"]) == 0
    await auth.aclose()


async def test_a_503_then_success_is_a_retry_with_a_resend_count(
    world: World, telemetry: Telemetry
) -> None:
    storage = world.storage(altinn.AltinnExchangeAuth(world.maskinporten()))
    world.emulator.inject_fault("storage.instances", status=503)
    page = await anext(storage.instances(org="ttd", size=5).pages())
    assert len(page.items) == 5
    tries = sorted(telemetry.finished("GET storage"), key=lambda s: s.start_time or 0)
    assert [(s.attributes or {}).get("http.response.status_code") for s in tries] == [503, 200]
    assert [(s.attributes or {}).get("http.request.resend_count") for s in tries] == [None, 1]
    assert tries[0].status.status_code is StatusCode.ERROR
    assert (tries[0].attributes or {})["error.type"] == "503"
    assert tries[1].status.status_code is StatusCode.UNSET
    points = telemetry.points()
    retries = points["altinn.http.retries"]
    assert counted(retries) == 1
    assert counted(retries, **{"http.request.method": "GET", "http.response.status_code": 503}) == 1
    assert counted(points.get("altinn.http.rate_limited.waits", [])) == 0


async def test_a_network_failure_is_an_error_span_and_a_retry_by_its_class(
    world: World, telemetry: Telemetry
) -> None:
    storage = world.storage(altinn.AltinnExchangeAuth(world.maskinporten()))
    world.emulator.inject_fault("storage.instances", drop=True)
    await anext(storage.instances(org="ttd", size=5).pages())
    failed, _ = sorted(telemetry.finished("GET storage"), key=lambda s: s.start_time or 0)
    assert failed.status.status_code is StatusCode.ERROR
    # The class's own name: httpx2.RemoteProtocolError when the client is httpx2's.
    error_type = f"{httpx.__name__}.RemoteProtocolError"
    assert (failed.attributes or {})["error.type"] == error_type
    retries = telemetry.points()["altinn.http.retries"]
    assert counted(retries, **{"error.type": error_type}) == 1


async def test_a_429_with_retry_after_is_a_rate_limited_wait(
    world: World, telemetry: Telemetry
) -> None:
    storage = world.storage(altinn.AltinnExchangeAuth(world.maskinporten()))
    world.emulator.inject_fault("storage.instances", status=429, headers={"Retry-After": "0.05"})
    await anext(storage.instances(org="ttd", size=5).pages())
    points = telemetry.points()
    assert counted(points["altinn.http.rate_limited.waits"], **{"http.request.method": "GET"}) == 1
    (histogram,) = points["altinn.http.rate_limited.wait"]
    assert isinstance(histogram, HistogramDataPoint)
    assert histogram.count == 1
    assert histogram.sum == pytest.approx(0.05)
    assert (histogram.attributes or {})["server.address"] == "altinn.localhost"
    assert counted(points["altinn.http.retries"], **{"http.response.status_code": 429}) == 1


async def test_a_pause_told_to_one_request_is_measured_on_the_others_that_wait_for_it(
    world: World, telemetry: Telemetry
) -> None:
    storage = world.storage(altinn.AltinnExchangeAuth(world.maskinporten()))
    await anext(storage.instances(org="ttd", size=5).pages())  # the tokens, before the pause
    world.emulator.inject_fault("storage.instances", status=429, headers={"Retry-After": "0.3"})
    pacer = Pacer()

    async def first_page() -> None:
        await anext(storage.instances(org="ttd", size=5).pages())

    with pacing(pacer):
        async with anyio.create_task_group() as group:
            group.start_soon(first_page)
            while pacer.resume_at is None:  # noqa: ASYNC110 - the pacer has no event to wait on
                await anyio.sleep(0.005)
            group.start_soon(first_page)
    points = telemetry.points()
    paused = {(p.attributes or {})["altinn.pause.reason"]: p for p in points["altinn.http.paused"]}
    assert set(paused) == {"retry_after"}
    histogram = paused["retry_after"]
    assert isinstance(histogram, HistogramDataPoint)
    # The second request waited out most of the pause the first one was told about (and the
    # first one's own wait is the rate_limited wait, as before).
    assert histogram.max >= 0.15
    assert (histogram.attributes or {})["server.address"] == "altinn.localhost"
    assert counted(points["altinn.http.rate_limited.waits"]) == 1


async def test_a_rate_limit_wait_is_measured_as_such(world: World, telemetry: Telemetry) -> None:
    storage = world.storage(altinn.AltinnExchangeAuth(world.maskinporten()))
    await anext(storage.instances(org="ttd", size=5).pages())  # the tokens, before the limit
    with pacing(Pacer(rate=50)):
        async for _ in storage.instances(org="ttd", size=5).pages():
            pass  # five pages, at most 50 requests a second
    (histogram,) = telemetry.points()["altinn.http.paused"]
    assert isinstance(histogram, HistogramDataPoint)
    assert (histogram.attributes or {})["altinn.pause.reason"] == "rate_limit"
    assert histogram.count >= 3
    assert histogram.sum > 0


async def test_a_harvest_traces_its_pages_and_counts_its_items(
    world: World, telemetry: Telemetry
) -> None:
    storage = world.storage(altinn.AltinnExchangeAuth(world.maskinporten()))
    source = altinn.StorageInstances(storage, org="ttd", size=10, download=False)
    sink = altinn.JsonLinesSink(world.tmp / "out.jsonl")
    async with altinn.Harvest(source, sink=sink, concurrency=3) as harvest:
        summary = await harvest.run()
    assert summary.items == 25
    (run,) = telemetry.finished("altinn.harvest.run")
    pages = telemetry.finished("altinn.harvest.page")
    assert len(pages) == summary.pages
    assert all(parent_of(p, telemetry.finished()) is run for p in pages)
    assert sum((p.attributes or {})["altinn.harvest.page.items"] for p in pages) == 25  # type: ignore[misc]
    assert {(p.attributes or {})["altinn.harvest.source"] for p in pages} == {"storage.instances"}
    # A page's request is the page span's child.
    for request in telemetry.finished("GET storage"):
        assert parent_of(request, telemetry.finished()) in pages
    items = telemetry.points()["altinn.harvest.items"]
    assert counted(items, **{"altinn.harvest.source": "storage.instances"}) == 25


_STANDARD = set(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", (), None))) | {
    "message",
    "asctime",
}


def _texts_of(value: object) -> list[str]:
    if isinstance(value, str | int | float | bool):
        return [str(value)]
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    return [repr(value)]


def _collected(telemetry: Telemetry, records: list[logging.LogRecord]) -> list[str]:
    """Every name, status and attribute of every span and event, every metric point's
    attributes, and every log record's message and extra fields, as text."""
    texts: list[str] = []
    for span in telemetry.finished():
        texts += [span.name, span.status.description or ""]
        for key, value in (span.attributes or {}).items():
            texts += [key, *_texts_of(value)]
        for event in span.events:
            texts.append(event.name)
            for key, value in (event.attributes or {}).items():
                texts += [key, *_texts_of(value)]
    points = telemetry.points()
    assert {"altinn.token.cache.hits", "altinn.http.retries", "altinn.harvest.items"} <= set(points)
    for name, found in points.items():
        texts.append(name)
        for point in found:
            for key, value in (point.attributes or {}).items():
                texts += [key, *_texts_of(value)]
    extras = 0
    for record in records:
        texts.append(record.getMessage())
        for key, value in vars(record).items():
            if key not in _STANDARD:
                extras += 1
                texts += [key, *_texts_of(value)]
    assert extras > 0
    return texts


def test_a_url_attribute_has_no_query_user_info_or_identity_number() -> None:
    from altinn_async import _telemetry  # noqa: PLC0415

    request = httpx.Request(
        "GET", f"https://u:pw@altinn.example:8443/altinn2/api/{PID}/messages?token=abc#f"
    )
    attributes = _telemetry.http_attributes(request, 2)
    assert attributes == {
        "http.request.method": "GET",
        "url.full": "https://altinn.example:8443/altinn2/api/249172*****/messages",
        "server.address": "altinn.example",
        "server.port": 8443,
        "http.request.resend_count": 2,
    }
    assert _telemetry.http_span_name(request) == "GET altinn2"
    assert _telemetry.http_span_name(httpx.Request("POST", "https://mp.example/token")) == "POST"


async def test_no_secret_in_any_span_metric_or_log_record(
    world: World, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="altinn_async")
    # Maskinporten, the exchange and Storage.
    maskinporten = world.maskinporten()
    exchange = altinn.AltinnExchangeAuth(maskinporten)
    storage = world.storage(exchange)
    world.emulator.inject_fault("storage.instances", status=503)
    assert len([i async for i in storage.instances(org="ttd", size=10)]) == 25
    # An ID-porten login, a refresh, userinfo and the person's exchange.
    idporten = altinn.IDPortenClient(
        client_id="web",
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT,
        scopes=["openid", "altinn:instances.read"],
        environment=world.emulator.environment,
        http_client=world.http,
        clock=world.clock,
    )
    login = idporten.start_login()
    callback = await world.emulator.idporten_login(login.url, pid=PID)
    session = await idporten.complete_login(callback, login, session_key=f"cookie-{PID}")
    person = idporten.session(f"cookie-{PID}")
    world.clock.now += 200
    refreshed = await person.get_token()
    assert refreshed.access_token != session.access_token
    await person.userinfo()
    person_altinn = await altinn.AltinnExchangeAuth(person).get_token()
    # A harvest.
    source = altinn.StorageInstances(storage, org="ttd", size=10, download=False)
    async with altinn.Harvest(
        source, sink=altinn.JsonLinesSink(world.tmp / "out.jsonl")
    ) as harvest:
        await harvest.run()

    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(callback).query))["code"]
    secrets = {
        CLIENT_SECRET,
        PID,
        code,
        login.code_verifier,
        session.access_token,
        session.id_token,
        session.refresh_token or "",
        refreshed.access_token,
        person_altinn.access_token,
        (await maskinporten.get_token()).access_token,
        (await exchange.get_token()).access_token,
        f"cookie-{PID}",
    }
    # Everything that went over the wire as a credential: bearer tokens, basic credentials,
    # grants, assertions, codes and verifiers in the forms.
    for request in world.sent:
        authorization = request.headers.get("Authorization")
        if authorization:
            secrets |= {authorization, authorization.partition(" ")[2]}
        if request.method == "POST":
            form = dict(urllib.parse.parse_qsl(request.content.decode()))
            for name in (
                "assertion",
                "client_assertion",
                "code",
                "code_verifier",
                "refresh_token",
                "client_secret",
                "token",
            ):
                if form.get(name):
                    secrets.add(form[name])
    assert any(r.url.path.endswith("/token") for r in world.sent)
    secrets.discard("")
    assert len(secrets) > 12

    spans = {s.name for s in telemetry.finished()}
    assert {"GET storage", "POST", "altinn.token.fetch", "altinn.token.exchange"} <= spans
    assert {"altinn.oauth.code_exchange", "altinn.oauth.token_refresh"} <= spans
    assert "altinn.harvest.page" in spans
    texts = _collected(telemetry, caplog.records)
    leaks = {(secret[:12], text[:80]) for text in texts for secret in secrets if secret in text}
    assert leaks == set()
