"""EventsClient, EventPager and CloudEvent against scripted Events endpoints (httpx.MockTransport).

`Feed` answers as Altinn's AppController and EventsController do (protocol notes §5.3): the
events after ``after`` in order (an unknown id reads from the oldest), ``size`` at a time, and
a ``next`` header only on a non-empty page, made of ``after=<last id>`` and the other query
parameters copied unencoded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, assert_type

import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from altinn_async import (
    APIError,
    CloudEvent,
    CloudEventError,
    ConfigurationError,
    EventPage,
    EventPager,
    EventsClient,
    PaginationError,
    RetryPolicy,
)

PLATFORM = "https://platform.example"
APP = f"{PLATFORM}/events/api/v1/app/ttd/apps-test"
PARTY = f"{PLATFORM}/events/api/v1/app/party"
GENERIC = f"{PLATFORM}/events/api/v1/events"
RESOURCE = "urn:altinn:resource:app_ttd_apps-test"
PID = "16035001577"  # the shape of a fødselsnummer: it must never leave the headers
MASKED = "160350*****"
FAST = RetryPolicy(backoff=0.0)


def instance_guid(n: int) -> str:
    return f"f21e491f-f862-4776-b81f-{n:012d}"


def event(n: int, **attributes: Any) -> dict[str, Any]:
    """App event number n as Altinn writes it (extension attributes included)."""
    document: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"e{n}",
        "time": f"2023-02-16T18:{n % 60:02d}:11.0276259Z",
        "source": f"https://ttd.apps.tt02.altinn.no/ttd/apps-test/instances/50019855/"
        f"{instance_guid(n)}",
        "subject": "/party/50019855",
        "type": "app.instance.created",
        "resource": RESOURCE,
        "resourceinstance": f"50019855/{instance_guid(n)}",
    }
    document.update(attributes)
    return {name: value for name, value in document.items() if value is not None}


def problem(detail: str) -> httpx.Response:
    return httpx.Response(
        400,
        json={
            "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
            "title": "Bad Request",
            "status": 400,
            "detail": detail,
        },
    )


def cloudevents(documents: list[Any], headers: dict[str, str] | None = None) -> httpx.Response:
    # Joined with ", " as Altinn's CloudEventJsonOutputFormatter writes them.
    body = "[" + ", ".join(json.dumps(d) for d in documents) + "]"
    return httpx.Response(
        200,
        content=body.encode(),
        headers={"Content-Type": "application/cloudevents+json; charset=utf-8", **(headers or {})},
    )


@attrs.define
class Feed:
    """An Events endpoint that pages as Altinn does; records every request."""

    events: list[dict[str, Any]]
    faults: dict[int, httpx.Response] = attrs.field(factory=dict)  # by request number
    requests: list[httpx.Request] = attrs.field(factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        fault = self.faults.pop(len(self.requests) - 1, None)
        if fault is not None:
            return fault
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        params = request.url.params
        generic = request.url.path == "/events/api/v1/events"
        if generic:
            size = int(params.get("size", "0"))
            size = 50 if size < 1 else min(size, 1000)  # EventsController clamps
        else:
            size = int(params.get("size", "50"))
        page = self._select(request)[:size]
        headers = {}
        if page:
            # SetNextLink: after the last id, then the other parameters as they were decoded.
            rest = "".join(f"&{k}={v}" for k, v in params.multi_items() if k != "after")
            link = f"{PLATFORM}{request.url.path}?after={page[-1]['id']}{rest}"
            if (
                generic
                and "Altinn-AlternativeSubject" in request.headers
                and "subject" not in params
            ):
                link += f"&subject={page[0]['subject']}"
            headers["next"] = link
        return cloudevents(page, headers)

    @staticmethod
    def _refusal(request: httpx.Request) -> httpx.Response | None:
        generic = request.url.path == "/events/api/v1/events"
        detail = generic_refusal(request) if generic else app_refusal(request)
        return None if detail is None else problem(detail)

    def _select(self, request: httpx.Request) -> list[dict[str, Any]]:
        params = request.url.params
        selected = self._after(params.get("after"))
        wanted: dict[str, str] = {}
        if "subject" in params:
            wanted["subject"] = params["subject"]
        if "party" in params:
            wanted["subject"] = f"/party/{params['party']}"
        if "Altinn-AlternativeSubject" in request.headers:
            wanted["alternativesubject"] = request.headers["Altinn-AlternativeSubject"]
        if "person" in request.headers:
            wanted["alternativesubject"] = f"/person/{request.headers['person']}"
        types = params.get_list("type")
        return [
            e
            for e in selected
            if all(e.get(k) == v for k, v in wanted.items()) and (not types or e["type"] in types)
        ]

    def _after(self, after: str | None) -> list[dict[str, Any]]:
        ids = [e["id"] for e in self.events]
        if not after or after not in ids:
            return list(self.events)  # an id Altinn does not know reads from the oldest
        return self.events[ids.index(after) + 1 :]

    @property
    def urls(self) -> list[str]:
        return [str(request.url) for request in self.requests]

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        kwargs.setdefault("base_url", PLATFORM)
        return httpx.AsyncClient(transport=httpx.MockTransport(self), **kwargs)


def generic_refusal(request: httpx.Request) -> str | None:
    """What EventsController's checks refuse, as its ProblemDetails ``detail``."""
    params = request.url.params
    if not params.get("resource", "").startswith("urn:altinn:resource:"):
        return "The 'resource' parameter must begin with `urn:altinn:resource:`"
    if not params.get("after"):
        return "The 'after' parameter must be defined."
    if params.get("subject") and request.headers.get("Altinn-AlternativeSubject"):
        return "Only one of 'subject' or 'alternativeSubject' can be defined."
    return None


def app_refusal(request: httpx.Request) -> str | None:
    """What AppController's checks (and its DateTime binding) refuse."""
    params = request.url.params
    if not params.get("after") and "from" not in params:
        return "The 'From' or 'After' parameter must be defined."
    for name in ("from", "to"):
        if name not in params:
            continue
        try:
            when = datetime.fromisoformat(params[name])
        except ValueError:  # a + that came back as a space, say
            return f"The value '{params[name]}' is not valid."
        if when.tzinfo is None:
            return f"The '{name.title()}' parameter must specify timezone."
    return None


def ids(events: list[CloudEvent]) -> list[str]:
    return [e.id for e in events]


# --- CloudEvent -------------------------------------------------------------------------------


def test_every_attribute_is_read() -> None:
    document = event(
        1,
        alternativesubject=f"/person/{PID}",
        datacontenttype="application/json",
        dataschema="https://schemas.example/created.json",
        data={"note": "hei", "list": [1, 2]},
        originalsubjectreplacedforauthorization="x",
        traceparent="00-abc-def-01",
    )
    e = CloudEvent.from_dict(document)
    assert e.id == "e1"
    assert e.source == document["source"]
    assert e.type == "app.instance.created"
    assert e.specversion == "1.0"
    assert e.time == datetime(2023, 2, 16, 18, 1, 11, 27625, tzinfo=UTC)
    assert e.subject == "/party/50019855"
    assert e.alternativesubject == f"/person/{PID}"
    assert e.datacontenttype == "application/json"
    assert e.dataschema == "https://schemas.example/created.json"
    assert e.data == {"note": "hei", "list": [1, 2]}
    assert e.resource == RESOURCE
    assert e.resourceinstance == f"50019855/{instance_guid(1)}"
    assert dict(e.extensions) == {
        "originalsubjectreplacedforauthorization": "x",
        "traceparent": "00-abc-def-01",
    }
    assert e.document == document  # as sent, 7-digit time and all
    assert json.loads(json.dumps(e.document)) == document
    assert e.party_id == "50019855"
    assert e.instance_id == f"50019855/{instance_guid(1)}"
    with pytest.raises(TypeError):
        e.extensions["x"] = 1  # type: ignore[index]


def test_the_minimal_event_and_nulls_as_absent() -> None:
    e = CloudEvent.from_dict(
        {
            "specversion": "1.0",
            "id": "a",
            "source": "urn:x",
            "type": "t",
            "subject": None,
            "x": None,
        }
    )
    assert (e.time, e.subject, e.data, e.resource, e.party_id, e.instance_id) == (None,) * 6
    assert dict(e.extensions) == {}


def test_data_base64_is_bytes() -> None:
    e = CloudEvent.from_dict(event(1, data_base64="aGVpIHDDpSBkZWc="))
    assert e.data == "hei på deg".encode()
    assert "data_base64" not in e.extensions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-02-16T18:02:11.0276259Z", datetime(2023, 2, 16, 18, 2, 11, 27625, tzinfo=UTC)),
        ("2023-02-16T18:02:11.9999999Z", datetime(2023, 2, 16, 18, 2, 11, 999999, tzinfo=UTC)),
        ("2023-02-16T18:02:11Z", datetime(2023, 2, 16, 18, 2, 11, tzinfo=UTC)),
        ("2023-02-16t18:02:11.5z", datetime(2023, 2, 16, 18, 2, 11, 500000, tzinfo=UTC)),
        (
            "2023-02-16T19:02:11.027625912+01:00",
            datetime(2023, 2, 16, 19, 2, 11, 27625, tzinfo=timezone(timedelta(hours=1))),
        ),
        (
            "2023-02-16T15:32:11-02:30",
            datetime(2023, 2, 16, 15, 32, 11, tzinfo=timezone(-timedelta(hours=2, minutes=30))),
        ),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ],
)
def test_rfc3339_times_with_any_fraction(text: str, expected: datetime) -> None:
    e = CloudEvent.from_dict(event(1, time=text))
    assert e.time == expected
    assert e.time is not None
    assert e.time.utcoffset() == expected.utcoffset()
    assert e.document["time"] == text


# Naive bounds, as hypothesis wants them; a day in from the ends so every offset fits.
EARLIEST = datetime(1, 1, 2)  # noqa: DTZ001
LATEST = datetime(9999, 12, 30)  # noqa: DTZ001
OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=EARLIEST, max_value=LATEST, timezones=OFFSETS))
def test_any_dotnet_time_reads_back(value: datetime) -> None:
    offset = value.utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    zone = "Z" if not minutes else f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:"
    zone += "" if not minutes else f"{abs(minutes) % 60:02d}"
    # .NET's 7th digit (100 ns ticks) is below a microsecond: it is cut off, never rounded up.
    text = value.replace(tzinfo=None).isoformat(timespec="microseconds") + "9" + zone
    parsed = CloudEvent.from_dict(event(1, time=text)).time
    assert parsed == value
    assert parsed is not None
    assert parsed.utcoffset() == offset


@pytest.mark.parametrize(
    ("document", "attribute", "message"),
    [
        (event(1, id=None), "id", "'id' is missing"),
        (event(1, id=7), "id", "'id' is a number"),
        (event(1, source=""), "source", "'source' is an empty string"),
        (event(1, type=["a"]), "type", "'type' is an array"),
        (event(1, specversion=None), "specversion", "'specversion' is missing"),
        (event(1, specversion="0.3"), "specversion", "not 1.x"),
        (event(1, specversion=1.0), "specversion", "a number"),
        (event(1, time="yesterday"), "time", "not an RFC 3339"),
        (event(1, time="2023-02-16T18:02:11"), "time", "not an RFC 3339"),
        (event(1, time="2023-02-30T18:02:11Z"), "time", "not an RFC 3339"),
        (event(1, time="2023-02-16T18:02:11+24:00"), "time", "not an RFC 3339"),
        (event(1, subject=50019855), "subject", "'subject' is a number"),
        (event(1, resourceinstance={}), "resourceinstance", "an object"),
        (event(1, data={}, data_base64="aGk="), "data", "not both"),
        (event(1, data_base64="not base64!"), "data_base64", "not base64"),
        (event(1, data_base64=5), "data_base64", "a number"),
    ],
)
def test_a_malformed_event_is_a_cloud_event_error(
    document: dict[str, Any], attribute: str, message: str
) -> None:
    with pytest.raises(CloudEventError, match=message) as info:
        CloudEvent.from_dict(document)
    assert info.value.attribute == attribute


def test_a_document_that_is_not_an_object() -> None:
    with pytest.raises(CloudEventError, match="not an array") as info:
        CloudEvent.from_dict([])  # type: ignore[arg-type]
    assert info.value.attribute is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=5,
)
NAMES = st.sampled_from(
    [
        "id",
        "source",
        "type",
        "specversion",
        "time",
        "subject",
        "data",
        "data_base64",
        "resource",
        "resourceinstance",
        "alternativesubject",
        "ext",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(NAMES, JSON | st.sampled_from(["1.0", "2023-02-16T18:02:11Z"])))
def test_any_object_is_an_event_or_a_cloud_event_error(document: dict[str, Any]) -> None:
    outcome = event_or_error(document)
    if isinstance(outcome, CloudEventError):
        assert outcome.attribute is None or outcome.attribute in str(outcome)
    else:
        assert outcome.document == document
        assert isinstance(outcome.id, str)


def event_or_error(document: dict[str, Any]) -> CloudEvent | CloudEventError:
    try:
        return CloudEvent.from_dict(document)
    except CloudEventError as exc:
        return exc


def test_helpers() -> None:
    by_urn = CloudEvent.from_dict(event(1, subject="urn:altinn:party:id:50019855"))
    assert by_urn.party_id == "50019855"
    person = CloudEvent.from_dict(event(1, subject=f"urn:altinn:person:identifier-no:{PID}"))
    assert person.party_id is None
    # No resourceinstance: the source URL names the instance.
    from_source = CloudEvent.from_dict(event(2, resourceinstance=None))
    assert from_source.instance_id == f"50019855/{instance_guid(2)}"
    data_source = event(3, resourceinstance="not-an-instance")
    data_source["source"] += "/data/0b7b6e8e-5a5e-4d79-9e5b-1d3c2f3d4e5f"
    assert CloudEvent.from_dict(data_source).instance_id == f"50019855/{instance_guid(3)}"
    generic = CloudEvent.from_dict(
        {"specversion": "1.0", "id": "x", "source": "https://a.example/b", "type": "t"}
    )
    assert generic.instance_id is None


def test_repr_masks_person_numbers_and_leaves_out_data() -> None:
    e = CloudEvent.from_dict(
        event(
            1,
            subject=f"urn:altinn:person:identifier-no:{PID}",
            alternativesubject=f"/person/{PID}",
            data={"secret": "payload"},
            traceparent="t",
        )
    )
    text = repr(e)
    assert PID not in text
    assert f"/person/{MASKED}" in text
    assert f"identifier-no:{MASKED}" in text
    assert "payload" not in text
    assert "time='2023-02-16T18:01:11.027625Z'" in text
    assert "extensions=['traceparent']" in text


def test_an_event_made_in_code() -> None:
    when = datetime(2024, 5, 1, 12, 0, 0, 5, tzinfo=UTC)
    e = CloudEvent(id="1", source="urn:s", type="t", time=when, data=b"\x00", extensions={"k": 1})
    assert e.document == {
        "specversion": "1.0",
        "id": "1",
        "source": "urn:s",
        "type": "t",
        "time": "2024-05-01T12:00:00.000005Z",
        "k": 1,
        "data_base64": "AA==",
    }
    assert CloudEvent.from_dict(e.document) == e
    # Hashable although data and extensions are not; the hash is that of (source, id).
    assert hash(e) == hash(CloudEvent.from_dict(e.document)) == hash(("urn:s", "1"))
    assert len({e, CloudEvent.from_dict(e.document)}) == 1


# --- paging -----------------------------------------------------------------------------------


async def test_pages_through_to_the_empty_page() -> None:
    feed = Feed([event(n) for n in range(1, 6)])
    async with feed.client() as http:
        pager = EventsClient(http).app_events("ttd", "apps-test", after="0", size=2)
        assert_type(pager, EventPager)
        pages = [page async for page in pager.pages()]
    assert_type(pages, list[EventPage])
    assert [ids(page.events) for page in pages] == [["e1", "e2"], ["e3", "e4"], ["e5"], []]
    assert all(isinstance(e, CloudEvent) for page in pages for e in page.items)
    # Each next header was followed as sent; the last (empty) page has none.
    assert feed.urls == [
        f"{APP}?after=0&size=2",
        f"{APP}?after=e2&size=2",
        f"{APP}?after=e4&size=2",
        f"{APP}?after=e5&size=2",
    ]
    assert pages[-1].next is None
    assert pages[0].next == f"{APP}?after=e2&size=2"
    assert pager.position is None
    assert pager.feed_position == f"{APP}?after=e5&size=2" == pages[-1].url
    assert pager.last_event_id == "e5"


async def test_the_next_header_is_followed_verbatim() -> None:
    # Altinn copies the other parameters into the link unencoded; they go out exactly so.
    link = f"{APP}?after=e1&from=2023-02-16T18:00:00Z&type=app.instance.created&x=a%2Fb"
    answers = {
        f"{APP}?from=2023-02-16T18%3A00%3A00Z": cloudevents([event(1)], {"next": link}),
        link: cloudevents([]),
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.get(str(request.url)) or httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        pager = EventsClient(http, platform=PLATFORM).app_events(
            "ttd", "apps-test", from_="2023-02-16T18:00Z"
        )
        assert ids([e async for e in pager]) == ["e1"]
    assert seen[1].url.raw_path == link.removeprefix(PLATFORM).encode()
    assert pager.feed_position == link


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/events/api/v1/app/ttd/apps-test?after=e1",
        "http://platform.example/events/api/v1/app/ttd/apps-test?after=e1",
        "https://platform.example:8443/events/api/v1/app/ttd/apps-test?after=e1",
    ],
)
async def test_a_next_header_to_another_origin_is_not_followed(link: str) -> None:
    feed = Feed([], faults={0: cloudevents([event(1)], {"next": link})})
    async with feed.client(headers={"Authorization": "Bearer token"}) as http:
        pager = EventsClient(http).app_events("ttd", "apps-test", after="0")
        with pytest.raises(PaginationError, match="another origin") as info:
            await anext(pager)
    assert len(feed.requests) == 1
    assert info.value.position == f"{APP}?after=0"
    assert pager.feed_position == f"{APP}?after=0"


async def test_a_page_without_its_next_header_goes_on_after_its_last_event() -> None:
    # Altinn always sends next with a non-empty page; should something drop it, the feed
    # still ends only with [], so feed_position is where new events appear.
    feed = Feed([event(1), event(2), event(3)], faults={0: cloudevents([event(1), event(2)])})
    async with feed.client() as http:
        pager = EventsClient(http).app_events("ttd", "apps-test", after="0", size=2)
        assert ids([e async for e in pager]) == ["e1", "e2", "e3"]
    assert feed.urls[1] == f"{APP}?after=e2&size=2"
    assert pager.feed_position == f"{APP}?after=e3&size=2"


async def test_a_server_that_ignores_after_is_not_followed_in_a_loop() -> None:
    # Without next headers and with after ignored, the made-up link comes back: an error.
    page = cloudevents([event(1)])
    feed = Feed([], faults={0: page, 1: cloudevents([event(1)])})
    async with feed.client() as http:
        pager = EventsClient(http).app_events("ttd", "apps-test", after="0")
        with pytest.raises(PaginationError, match="already fetched"):
            [e async for e in pager]
    assert len(feed.requests) == 2


@pytest.mark.parametrize(
    "body",
    [
        [event(1), event(2, type=None), event(3)],
        [event(1), event(2, time="2023-02-16 18:02:11"), event(3)],
        [event(1), event(2, specversion="0.3"), event(3)],
    ],
)
async def test_a_malformed_event_on_a_page_names_the_page_and_the_index(body: Any) -> None:
    feed = Feed([], faults={0: cloudevents(body, {"next": f"{APP}?after=e3"})})
    async with feed.client() as http:
        pager = EventsClient(http).app_events("ttd", "apps-test", after="0")
        with pytest.raises(PaginationError) as info:
            await anext(pager)
    message = str(info.value)
    assert f"{APP}?after=0" in message
    assert "event [1] (id 'e2') is not a CloudEvent" in message
    assert isinstance(info.value.__cause__, CloudEventError)
    assert info.value.position == f"{APP}?after=0"
    assert pager.position == f"{APP}?after=0"  # nothing of the bad page was handed out


@pytest.mark.parametrize("body", [{"events": []}, [1], [event(1), None], "[]"])
async def test_a_page_that_is_not_an_array_of_objects(body: Any) -> None:
    feed = Feed([], faults={0: httpx.Response(200, json=body)})
    async with feed.client() as http:
        with pytest.raises(PaginationError, match="not a list of objects"):
            await anext(EventsClient(http).app_events("ttd", "apps-test", after="0"))


async def test_a_feed_with_nothing_new() -> None:
    feed = Feed([event(1)])
    async with feed.client() as http:
        pager = EventsClient(http).app_events("ttd", "apps-test", after="e1")
        pages = [page async for page in pager.pages()]
        assert [page.events for page in pages] == [[]]
    assert pager.feed_position == f"{APP}?after=e1"
    assert pager.last_event_id == "e1"
    assert pager.position is None


# --- resuming ---------------------------------------------------------------------------------


async def test_feed_position_asks_again_for_what_came_since() -> None:
    feed = Feed([event(n) for n in range(1, 4)])
    async with feed.client() as http:
        events = EventsClient(http)
        first = events.app_events("ttd", "apps-test", from_="2023-02-16T18:00Z", size=2)
        assert ids([e async for e in first]) == ["e1", "e2", "e3"]
        saved = first.feed_position
        assert saved == f"{APP}?after=e3&from=2023-02-16T18:00:00Z&size=2"
        feed.events += [event(4), event(5)]  # later, new events
        feed.requests.clear()
        later = events.app_events("ttd", "apps-test", resume_from=saved)
        assert ids([e async for e in later]) == ["e4", "e5"]
    assert feed.urls[0] == saved
    assert later.feed_position == f"{APP}?after=e5&from=2023-02-16T18:00:00Z&size=2"


async def test_a_stop_in_the_middle_of_a_page() -> None:
    feed = Feed([event(n) for n in range(1, 6)])
    async with feed.client() as http:
        events = EventsClient(http)
        pager = events.app_events("ttd", "apps-test", after="0", size=2, max_items=3)
        assert ids([e async for e in pager]) == ["e1", "e2", "e3"]
        assert pager.last_event_id == "e3"
        assert pager.feed_position == f"{APP}?after=e2&size=2"  # e3's page
        # after= the last id: exactly once; resume_from= the position: at least once.
        exact = events.app_events("ttd", "apps-test", after=pager.last_event_id, size=2)
        assert ids([e async for e in exact]) == ["e4", "e5"]
        again = events.app_events("ttd", "apps-test", resume_from=pager.feed_position)
        assert ids([e async for e in again]) == ["e3", "e4", "e5"]


async def test_last_event_id_before_any_event() -> None:
    async with Feed([]).client() as http:
        events = EventsClient(http)
        assert events.app_events("ttd", "apps-test", after="e9").last_event_id == "e9"
        assert events.app_events("ttd", "apps-test", from_=datetime.now(UTC)).last_event_id is None
        resumed = events.app_events("ttd", "apps-test", resume_from=f"{APP}?after=e7&size=5")
        assert resumed.last_event_id == "e7"


def test_resume_from_another_origin_or_feed_is_refused() -> None:
    events = EventsClient(httpx.AsyncClient(base_url=PLATFORM))
    with pytest.raises(ConfigurationError, match="origin"):
        events.app_events("ttd", "apps-test", resume_from="https://evil.example/x?after=1")
    with pytest.raises(ConfigurationError, match="another feed"):
        events.app_events("ttd", "other-app", resume_from=f"{APP}?after=e1")
    with pytest.raises(ConfigurationError, match="another feed"):
        events.events(RESOURCE, after="0", resume_from=f"{APP}?after=e1")
    with pytest.raises(ConfigurationError, match="empty"):
        events.app_events("ttd", "apps-test", resume_from="")


def test_resuming_a_party_feed_by_person_needs_the_person_again() -> None:
    events = EventsClient(httpx.AsyncClient(base_url=PLATFORM))
    with pytest.raises(ConfigurationError, match="pass person= again"):
        events.party_events(resume_from=f"{PARTY}?after=e1")
    events.party_events(resume_from=f"{PARTY}?after=e1", person=PID)
    events.party_events(resume_from=f"{PARTY}?after=e1&party=50019855")


# --- requests: parameters, headers, retries ---------------------------------------------------


async def test_app_event_query_parameters() -> None:
    feed = Feed([])
    oslo = timezone(timedelta(hours=1))
    async with feed.client() as http:
        pager = EventsClient(http).app_events(
            "ttd",
            "apps-test",
            after="e1",
            from_=datetime(2023, 2, 16, 19, 0, tzinfo=oslo),
            to="2023-02-17T00:00:00.1234567+01:00",
            party=50019855,
            types=["app.instance.created", "app.instance.process.completed"],
            size=10,
        )
        assert [e async for e in pager] == []
    params = feed.requests[0].url.params
    assert list(params.multi_items()) == [
        ("after", "e1"),
        # As UTC with a Z: Altinn copies them into its next link unencoded, where a + would
        # come back as a space.
        ("from", "2023-02-16T18:00:00Z"),
        ("to", "2023-02-16T23:00:00.123456Z"),
        ("party", "50019855"),
        ("type", "app.instance.created"),
        ("type", "app.instance.process.completed"),
        ("size", "10"),
    ]


async def test_times_with_an_offset_survive_the_next_link() -> None:
    feed = Feed([event(1), event(2)])
    async with feed.client() as http:
        pager = EventsClient(http).app_events(
            "ttd", "apps-test", from_="2023-02-16T19:00+01:00", size=1
        )
        assert ids([e async for e in pager]) == ["e1", "e2"]
    # Feed parses "from" on every page as Altinn does: a + turned into a space would fail.
    assert [r.url.params["from"] for r in feed.requests] == ["2023-02-16T18:00:00Z"] * 3


async def test_party_event_query_parameters() -> None:
    feed = Feed([])
    async with feed.client() as http:
        pager = EventsClient(http).party_events(
            from_="2023-02-16T18:00Z",
            unit="910123456",
            source=["https://ttd.apps.altinn.no/ttd/%"],
            types="app.instance.created",
        )
        assert [e async for e in pager] == []
    assert list(feed.requests[0].url.params.multi_items()) == [
        ("from", "2023-02-16T18:00:00Z"),
        ("unit", "910123456"),
        ("source", "https://ttd.apps.altinn.no/ttd/%"),
        ("type", "app.instance.created"),
    ]
    assert feed.requests[0].url.path == "/events/api/v1/app/party"


async def test_generic_event_query_parameters() -> None:
    feed = Feed([])
    async with feed.client() as http:
        pager = EventsClient(http).events(
            RESOURCE, after="0", subject="/party/50019855", types=["a.%"], size=1000
        )
        assert [e async for e in pager] == []
    assert list(feed.requests[0].url.params.multi_items()) == [
        ("resource", RESOURCE),
        ("after", "0"),
        ("subject", "/party/50019855"),
        ("type", "a.%"),
        ("size", "1000"),
    ]
    assert feed.requests[0].url.path == "/events/api/v1/events"


async def test_the_person_header_goes_with_every_page() -> None:
    mine = {"alternativesubject": f"/person/{PID}"}
    feed = Feed([event(1, **mine), event(2), event(3, **mine), event(4, **mine)])
    async with feed.client() as http:
        pager = EventsClient(http).party_events(after="0", person=PID, size=2)
        assert ids([e async for e in pager]) == ["e1", "e3", "e4"]
    # Altinn's next link has no person parameter: without the header page 2 would be unfiltered.
    assert [r.headers.get("person") for r in feed.requests] == [PID] * 3
    assert not any(PID in url for url in feed.urls)


async def test_the_alternative_subject_header_goes_until_the_next_link_names_the_subject() -> None:
    mine = {"alternativesubject": f"/person/{PID}"}
    feed = Feed([event(1, **mine), event(2), event(3, **mine), event(4, **mine)])
    async with feed.client() as http:
        pager = EventsClient(http).events(
            RESOURCE, after="0", alternative_subject=f"/person/{PID}", size=2
        )
        assert ids([e async for e in pager]) == ["e1", "e3", "e4"]
    # Altinn answers the header with a next link that carries subject=, and refuses both.
    assert feed.urls[1] == f"{GENERIC}?after=e3&resource={RESOURCE}&size=2&subject=/party/50019855"
    headers = [r.headers.get("Altinn-AlternativeSubject") for r in feed.requests]
    assert headers == [f"/person/{PID}", None, None]
    assert not any(PID in url for url in feed.urls)


async def test_a_503_page_is_retried() -> None:
    unavailable = httpx.Response(503, json={"title": "Service Unavailable"})
    feed = Feed([event(n) for n in range(1, 4)], faults={1: unavailable})
    async with feed.client() as http:
        pager = EventsClient(http, retry=FAST).app_events("ttd", "apps-test", after="0", size=2)
        assert ids([e async for e in pager]) == ["e1", "e2", "e3"]
    assert feed.urls[1] == feed.urls[2] == f"{APP}?after=e2&size=2"
    assert len(feed.requests) == 4


async def test_without_retries_a_503_keeps_the_position() -> None:
    unavailable = httpx.Response(503, headers={"Retry-After": "7"})
    feed = Feed([event(n) for n in range(1, 4)], faults={1: unavailable})
    async with feed.client() as http:
        pager = EventsClient(http, retry=RetryPolicy.NEVER).app_events(
            "ttd", "apps-test", after="0", size=2
        )
        seen: list[str] = []
        with pytest.raises(APIError) as info:
            async for e in pager:
                seen.append(e.id)  # noqa: PERF401 - keeps what came before the error
        assert info.value.status_code == 503
        assert info.value.retry_after == 7.0
        assert seen == ["e1", "e2"]
        assert pager.feed_position == f"{APP}?after=e2&size=2"
        assert pager.last_event_id == "e2"
        seen += [e.id async for e in pager]  # the fault cleared: the same pager carries on
    assert seen == ["e1", "e2", "e3"]


async def test_a_bad_request_is_an_api_error_with_the_problem() -> None:
    feed = Feed([], faults={0: problem("Value of 'Unit' needs to be exactly 9 digits.")})
    async with feed.client() as http:
        with pytest.raises(APIError, match="HTTP 400") as info:
            await anext(EventsClient(http).app_events("ttd", "apps-test", after="0"))
    assert info.value.problem is not None
    assert info.value.problem["detail"] == "Value of 'Unit' needs to be exactly 9 digits."


async def test_the_person_number_is_never_in_a_url_repr_or_message() -> None:
    feed = Feed(
        [],
        faults={
            0: problem("Only one of 'Party' or 'Person' can be defined."),
            1: cloudevents([event(1, id=None)]),
        },
    )
    async with feed.client() as http:
        events = EventsClient(http)
        pager = events.app_events("ttd", "apps-test", after="0", person=PID)
        texts = [repr(events), repr(pager), pager.feed_position]
        with pytest.raises(APIError) as api:
            await anext(pager)
        with pytest.raises(PaginationError) as page:
            await anext(pager)
        texts += [str(api.value), repr(api.value), api.value.url, str(page.value)]
        texts += [str(page.value.position), repr(pager)]
    with pytest.raises(ConfigurationError) as bad:
        events.app_events("ttd", "apps-test", after="0", person=PID[:-1])
    with pytest.raises(ConfigurationError) as both:
        events.app_events("ttd", "apps-test", after="0", person=PID, party=1)
    texts += [str(bad.value), str(both.value)]
    texts += feed.urls
    assert [r.headers["person"] for r in feed.requests] == [PID, PID]
    assert not [text for text in texts if PID in text or PID[:-1] in text]


async def test_reprs() -> None:
    async with Feed([event(1)]).client() as http:
        events = EventsClient(http)
        assert repr(events) == f"EventsClient(platform={PLATFORM!r})"
        pager = events.events(RESOURCE, after="0", subject=f"urn:altinn:person:identifier-no:{PID}")
        assert PID not in repr(pager)
        assert MASKED in repr(pager)
        assert "last_event_id='0'" in repr(pager)
        assert "handed_out=0" in repr(pager)


def test_needs_a_platform_url() -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        EventsClient(httpx.AsyncClient())
    events = EventsClient(httpx.AsyncClient(), platform=f"{PLATFORM}/")
    assert events.app_events("ttd", "apps-test", after="0").position == f"{APP}?after=0"


# --- client-side checks -----------------------------------------------------------------------

NAIVE = datetime(2023, 2, 16, 18, 0)  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "after .* or from_"),
        ({"to": "2023-02-16T18:00Z"}, "after .* or from_"),
        ({"after": ""}, "after must be an event id"),
        ({"from_": NAIVE}, "from_ must carry a timezone"),
        ({"from_": "2023-02-16T18:00"}, "from_ must carry a timezone"),
        ({"from_": "2023-02-16"}, "from_ must carry a timezone"),
        ({"after": "0", "to": NAIVE}, "to must carry a timezone"),
        ({"from_": "last tuesday"}, "not an ISO 8601 time"),
        ({"after": "0", "unit": "91012345"}, "9 digits"),
        ({"after": "0", "unit": "91012345x"}, "9 digits"),
        ({"after": "0", "party": 1, "person": PID}, "one of party, unit and person"),
        ({"after": "0", "party": 1, "unit": "910123456"}, "one of party, unit and person"),
        ({"after": "0", "unit": "910123456", "person": PID}, "one of party, unit and person"),
        ({"after": "0", "party": 0}, "positive party id"),
        ({"after": "0", "party": "50019855x"}, "positive party id"),
        ({"after": "0", "person": "1603500157"}, "11 digits"),
        ({"after": "0", "person": "1603500157x"}, "11 digits"),
        ({"after": "0", "size": 0}, "at least 1"),
        ({"after": "0", "types": ["a", ""]}, "each type"),
    ],
)
def test_app_events_are_checked_before_any_request(arguments: dict[str, Any], message: str) -> None:
    events = EventsClient(httpx.AsyncClient(base_url=PLATFORM))
    with pytest.raises(ConfigurationError, match=message):
        events.app_events("ttd", "apps-test", **arguments)


def test_app_events_take_what_altinn_takes() -> None:
    events = EventsClient(httpx.AsyncClient(base_url=PLATFORM))
    big = events.app_events("ttd", "apps-test", after="0", size=5000)  # no maximum here
    assert big.position == f"{APP}?after=0&size=5000"
    seven = events.app_events("ttd", "apps-test", from_="2023-02-16T18:02:11.0276259Z")
    assert seven.position == f"{APP}?from=2023-02-16T18%3A02%3A11.027625Z"
    for bad in ("", "a/b"):
        with pytest.raises(ConfigurationError, match="without '/'"):
            events.app_events(bad, "apps-test", after="0")
        with pytest.raises(ConfigurationError, match="without '/'"):
            events.app_events("ttd", bad, after="0")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"party": 1}, "after .* or from_"),
        ({"after": "0"}, "party, unit or person"),
        ({"after": "0", "party": 1, "person": PID}, "one of party, unit and person"),
        ({"after": "0", "party": 1, "source": [""]}, "each source"),
        ({"from_": NAIVE, "party": 1}, "timezone"),
    ],
)
def test_party_events_are_checked_before_any_request(
    arguments: dict[str, Any], message: str
) -> None:
    events = EventsClient(httpx.AsyncClient(base_url=PLATFORM))
    with pytest.raises(ConfigurationError, match=message):
        events.party_events(**arguments)


@pytest.mark.parametrize(
    ("resource", "arguments", "message"),
    [
        ("app_ttd_apps-test", {"after": "0"}, "urn:altinn:resource"),
        ("urn:altinn:resource:", {"after": "0"}, "urn:altinn:resource"),
        (RESOURCE, {"after": ""}, "after must be an event id"),
        (
            RESOURCE,
            {"after": "0", "subject": "/party/1", "alternative_subject": "/person/x"},
            "not both",
        ),
        (RESOURCE, {"after": "0", "subject": ""}, "subject must be a non-empty"),
        (RESOURCE, {"after": "0", "alternative_subject": ""}, "alternative_subject must be"),
        (RESOURCE, {"after": "0", "size": 0}, "at least 1"),
        (RESOURCE, {"after": "0", "size": 1001}, "at most 1000"),
    ],
)
def test_generic_events_are_checked_before_any_request(
    resource: str, arguments: dict[str, Any], message: str
) -> None:
    events = EventsClient(httpx.AsyncClient(base_url=PLATFORM))
    with pytest.raises(ConfigurationError, match=message):
        events.events(resource, **arguments)
