"""The emulated Events API: who may call it, every rule and error text of its parameters, the
CloudEvents body, the ``next`` header, paging to ``[]``, and the events seeded instances bring
(generated ones too)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import DEFAULT_PID, Emulator

from .conftest import (
    DIGDIR,
    READ,
    Clock,
    add_idporten_clients,
    idporten_tokens,
    make_grant,
    request_token,
)

BASE = "http://altinn.localhost"
API = "/platform/events/api/v1"
APP = f"{API}/app/digdir/app"
PARTY = f"{API}/app/party"
GENERIC = f"{API}/events"
SUBSCRIBE = "altinn:events.subscribe"
CLOUDEVENTS = "application/cloudevents+json; charset=utf-8"
JSON_UTF8 = "application/json; charset=utf-8"
DAY = 86_400.0
EPOCH_SECOND = "2000-01-01T00:00:00Z"
Event = dict[str, Any]


async def token_for(
    emu: Emulator,
    http: httpx.AsyncClient,
    key: RSAKey,
    clock: Clock,
    *scopes: str,
    origin: str | None = None,
) -> dict[str, str]:
    """An exchanged Maskinporten token of digdir with ``scopes`` (at ``origin``, if served)."""
    client_id = "events-" + "-".join(s.replace(":", "-").replace("/", "-") for s in scopes)
    emu.add_maskinporten_client(
        client_id, org_number=DIGDIR, scopes=scopes, jwks=[key.as_dict(private=False)]
    )
    grant = make_grant(
        key,
        clock.now,
        iss=client_id,
        scope=" ".join(scopes),
        aud=emu.maskinporten_issuer_for(origin),
    )
    response = await request_token(http, grant)
    assert response.status_code == 200, response.text
    exchanged = await http.get(
        "/platform/authentication/api/v1/exchange/maskinporten",
        headers={"Authorization": f"Bearer {response.json()['access_token']}"},
    )
    assert exchanged.status_code == 200, exchanged.text
    return {"Authorization": f"Bearer {exchanged.text}"}


@pytest.fixture
async def org(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> dict[str, str]:
    """digdir, a service owner, allowed to subscribe to generic events too."""
    return await token_for(emu, http, client_key, clock, READ, SUBSCRIBE)


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def get(
    http: httpx.AsyncClient, url: str, auth: dict[str, str], params: Any = None, **headers: str
) -> httpx.Response:
    return await http.get(url, params=params, headers={**auth, **headers})


async def events_of(
    http: httpx.AsyncClient, url: str, auth: dict[str, str], params: Any = None, **headers: str
) -> list[Event]:
    response = await get(http, url, auth, params, **headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CLOUDEVENTS
    events: list[Event] = response.json()
    return events


async def walk(
    http: httpx.AsyncClient, url: str, auth: dict[str, str], params: Any, **headers: str
) -> tuple[list[Event], int]:
    """Follow ``next`` verbatim until a page is ``[]``; the events and the number of pages."""
    response = await get(http, url, auth, params, **headers)
    found: list[Event] = []
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        pages += 1
        page = response.json()
        if not page:
            assert "next" not in response.headers
            return found, pages
        found.extend(page)
        response = await http.get(response.headers["next"], headers={**auth, **headers})


def assert_problem(response: httpx.Response, detail: str, content_type: str = JSON_UTF8) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == content_type
    body = response.json()
    assert body["type"] == "https://tools.ietf.org/html/rfc9110#section-15.5.1"
    assert body["title"] == "Bad Request"
    assert body["status"] == 400
    assert body["detail"] == detail
    assert body["traceId"].startswith("00-")


@pytest.fixture
def seeded(emu: Emulator, clock: Clock) -> list[dict[str, Any]]:
    """Five instances of digdir/app a day apart, three completed half a day after creation."""
    made = []
    for day in range(5):
        created = clock.now - (10 - day) * DAY
        made.append(
            emu.add_instance(
                "digdir",
                "app",
                party_id=50_010_000 + day,
                created=created,
                completed=created + DAY / 2 if day % 2 == 0 else False,
                last_changed=created + DAY / 2 if day % 2 == 0 else created,
                person_number=f"0101199{day}123" if day < 3 else None,
                organisation_number=None if day < 3 else f"31000000{day}",
            )
        )
    return made


# -- who may call it --------------------------------------------------------------------------


@pytest.mark.parametrize("url", [APP, PARTY, GENERIC])
async def test_without_a_token_it_is_a_bare_401(http: httpx.AsyncClient, url: str) -> None:
    response = await http.get(url, params={"from": EPOCH_SECOND, "party": "1"})
    assert (response.status_code, response.content) == (401, b"")


async def test_the_app_endpoint_is_for_orgs_only(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    # Without a service-owner scope the exchange adds no urn:altinn:org.
    no_org = await token_for(emu, http, client_key, clock, "test:scope")
    response = await get(http, APP, no_org, {"from": EPOCH_SECOND})
    assert response.status_code == 401
    assert response.headers["content-type"] == JSON_UTF8
    assert response.json() == "Only orgs can call this api"
    # Before the controller's own checks, not before model binding.
    assert (await get(http, APP, no_org, {})).json() == "Only orgs can call this api"
    unbound = await get(http, APP, no_org, {"from": "soon"})
    assert unbound.status_code == 400
    assert unbound.json()["errors"] == {"from": ["The value 'soon' is not valid for from."]}


async def test_the_app_endpoint_needs_no_particular_scope(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, seeded: Any
) -> None:
    # AppController is [Authorize] only: any org token will do (here without events.subscribe).
    write_only = await token_for(
        emu, http, client_key, clock, "altinn:serviceowner/instances.write"
    )
    assert len(await events_of(http, APP, write_only, {"from": EPOCH_SECOND})) == 8


async def test_the_generic_endpoint_needs_the_subscribe_scope(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    reader = await token_for(emu, http, client_key, clock, READ)
    response = await get(http, GENERIC, reader, {"resource": "urn:altinn:resource:x", "after": "0"})
    assert (response.status_code, response.content) == (403, b"")


async def test_expired_tokens_are_refused(
    emu: Emulator, http: httpx.AsyncClient, org: dict[str, str]
) -> None:
    emu.expire_tokens()
    response = await get(http, APP, org, {"from": EPOCH_SECOND})
    assert (response.status_code, response.content) == (401, b"")


# -- the parameters ---------------------------------------------------------------------------

FROM_ZONE = "The 'From' parameter must specify timezone. E.g. 2022-07-07T11:00:53.3917Z for UTC"
TO_ZONE = "The 'To' parameter must specify timezone. E.g. 2022-07-07T11:00:53.3917Z for UTC"


SIZE = "The 'Size' parameter must be a number larger that 0."
PARTY_AND_PERSON = "Only one of 'Party' or 'Person' can be defined."
PARTY_AND_UNIT = "Only one of 'Party' or 'Unit' can be defined."
UNIT = "Value of 'Unit' needs to be exactly 9 digits."


@pytest.mark.parametrize("url", [APP, PARTY])
@pytest.mark.parametrize(
    ("params", "headers", "detail"),
    [
        ({"party": "1"}, {}, "The 'From' or 'After' parameter must be defined."),
        (
            {"from": "", "after": "", "party": "1"},
            {},
            "The 'From' or 'After' parameter must be defined.",
        ),
        ({"from": "2023-02-16T18:00:00", "party": "1"}, {}, FROM_ZONE),
        ({"from": "2023-02-16", "party": "1"}, {}, FROM_ZONE),
        ({"after": "x", "to": "2023-02-16T18:00", "party": "1"}, {}, TO_ZONE),
        ({"from": EPOCH_SECOND, "size": "0", "party": "1"}, {}, SIZE),
        ({"from": EPOCH_SECOND, "size": "-5", "party": "1"}, {}, SIZE),
        ({"from": EPOCH_SECOND, "party": "5"}, {"person": DEFAULT_PID}, PARTY_AND_PERSON),
        ({"from": EPOCH_SECOND, "party": "5", "unit": "991825827"}, {}, PARTY_AND_UNIT),
        ({"from": EPOCH_SECOND, "unit": "99182582"}, {}, UNIT),
        ({"from": EPOCH_SECOND, "unit": "99182582x"}, {}, UNIT),
        # In the controller's order: the first rule broken is the one reported.
        ({"from": "2023-02-16", "size": "0", "unit": "1"}, {}, FROM_ZONE),
    ],
)
async def test_each_rule_has_its_detail(
    *,
    http: httpx.AsyncClient,
    org: dict[str, str],
    url: str,
    params: dict[str, str],
    headers: dict[str, str],
    detail: str,
) -> None:
    assert_problem(await get(http, url, org, params, **headers), detail)


async def test_the_party_endpoint_needs_a_subject(
    http: httpx.AsyncClient, org: dict[str, str]
) -> None:
    response = await get(http, PARTY, org, {"from": EPOCH_SECOND})
    assert_problem(
        response,
        "Subject must be specified using either query params party or unit or header value person.",
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("from", "yesterday", "The value 'yesterday' is not valid for from."),
        ("to", "2023-13-01T00:00Z", "The value '2023-13-01T00:00Z' is not valid for to."),
        ("size", "ten", "The value 'ten' is not valid for size."),
        ("party", "", "The value '' is invalid."),
    ],
)
async def test_values_that_do_not_bind_are_validation_problems(
    http: httpx.AsyncClient, org: dict[str, str], name: str, value: str, message: str
) -> None:
    response = await get(http, APP, org, {"from": EPOCH_SECOND, name: value})
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON_UTF8
    body = response.json()
    assert body["title"] == "One or more validation errors occurred."
    assert body["errors"] == {name: [message]}


async def test_an_unknown_person_or_unit_is_404(
    http: httpx.AsyncClient, org: dict[str, str]
) -> None:
    for params, headers in (({}, {"person": "01017012345"}), ({"unit": "999999999"}, {})):
        response = await get(http, PARTY, org, {"from": EPOCH_SECOND, **params}, **headers)
        assert response.status_code == 404
        assert response.headers["content-type"] == JSON_UTF8
        assert response.json()["title"] == "Not Found"


@pytest.mark.parametrize(
    ("params", "headers", "detail"),
    [
        ({"resource": "urn:altinn:app:x", "after": "0"}, {}, None),
        ({"resource": "urn:altinn:resource:x"}, {}, "The 'after' parameter must be defined."),
        (
            {"resource": "urn:altinn:resource:x", "after": "0", "subject": "/party/1"},
            {"Altinn-AlternativeSubject": "/person/01017012345"},
            "Only one of 'subject' or 'alternativeSubject' can be defined.",
        ),
    ],
)
async def test_generic_rules(
    http: httpx.AsyncClient,
    org: dict[str, str],
    params: dict[str, str],
    headers: dict[str, str],
    detail: str | None,
) -> None:
    expected = detail or "The 'resource' parameter must begin with `urn:altinn:resource:`"
    response = await get(http, GENERIC, org, params, **headers)
    assert_problem(response, expected, content_type=CLOUDEVENTS)


async def test_generic_resource_is_required(http: httpx.AsyncClient, org: dict[str, str]) -> None:
    for params in ({"after": "0"}, {"after": "0", "resource": ""}):
        response = await get(http, GENERIC, org, params)
        assert response.status_code == 400
        assert response.headers["content-type"] == CLOUDEVENTS
        assert response.json()["errors"] == {"resource": ["The resource field is required."]}


# -- the body ---------------------------------------------------------------------------------


async def test_instances_bring_their_events_in_time_order(
    http: httpx.AsyncClient, org: dict[str, str], seeded: list[dict[str, Any]]
) -> None:
    response = await get(http, APP, org, {"from": EPOCH_SECOND})
    assert response.headers["content-type"] == CLOUDEVENTS
    assert response.text.startswith('[{"specversion":"1.0","id":"')
    assert '}, {"specversion"' in response.text
    events = response.json()
    assert [e["type"].rsplit(".", 1)[1] for e in events] == [
        "created",
        "completed",
        "created",
        "created",
        "completed",
        "created",
        "created",
        "completed",
    ]
    assert [seconds(e["time"]) for e in events] == sorted(seconds(e["time"]) for e in events)
    first, completed = events[0], events[1]
    instance = seeded[0]
    party, guid = instance["id"].split("/")
    assert list(first) == [
        "specversion",
        "id",
        "time",
        "type",
        "source",
        "subject",
        "resource",
        "resourceinstance",
        "alternativesubject",
    ]
    assert first["specversion"] == "1.0"
    assert first["time"] == instance["created"]
    assert first["source"] == f"{BASE}/digdir/app/instances/{party}/{guid}"
    assert first["source"] == instance["selfLinks"]["apps"]
    assert first["subject"] == f"/party/{party}"
    assert first["resource"] == "urn:altinn:resource:app_digdir_app"
    assert first["resourceinstance"] == f"{party}/{guid}"
    assert first["alternativesubject"] == "/person/01011990123"
    assert completed["time"] == instance["process"]["ended"]
    assert completed["resourceinstance"] == first["resourceinstance"]
    assert events[-1]["alternativesubject"] == "/org/310000004"
    assert len({e["id"] for e in events}) == 8


async def test_next_is_the_request_after_the_last_event(
    http: httpx.AsyncClient, org: dict[str, str], seeded: Any
) -> None:
    query = "from=2000-01-01T00:00:00Z&size=3&type=app.instance.%25&Type=app.instance.created"
    response = await http.get(f"{APP}?{query}", headers=org)
    events = response.json()
    assert len(events) == 3
    # The other parameters as bound (decoded, not re-encoded), grouped by name.
    assert response.headers["next"] == (
        f"{BASE}{APP}?after={events[-1]['id']}&from=2000-01-01T00:00:00Z&size=3"
        "&type=app.instance.%&type=app.instance.created"
    )
    again = await http.get(f"{APP}?after=x&{query}&after=y", headers=org)
    assert again.headers["next"].startswith(f"{BASE}{APP}?after={again.json()[-1]['id']}&from=")
    assert "after=x" not in again.headers["next"]


async def test_paging_to_the_empty_page(
    http: httpx.AsyncClient, org: dict[str, str], seeded: Any
) -> None:
    everything = await events_of(http, APP, org, {"from": EPOCH_SECOND})
    walked, pages = await walk(http, APP, org, {"from": EPOCH_SECOND, "size": "3"})
    assert walked == everything
    assert pages == 4  # 3 + 3 + 2, then []
    empty = await get(http, APP, org, {"after": everything[-1]["id"]})
    assert empty.json() == []
    assert "next" not in empty.headers


async def test_after_an_unknown_id_starts_from_the_beginning(
    http: httpx.AsyncClient, org: dict[str, str], seeded: Any
) -> None:
    everything = await events_of(http, APP, org, {"from": EPOCH_SECOND})
    assert await events_of(http, APP, org, {"after": "no-such-event"}) == everything
    assert await events_of(http, APP, org, {"after": everything[3]["id"]}) == everything[4:]


async def test_from_and_to_bound_the_time(
    http: httpx.AsyncClient, org: dict[str, str], seeded: Any
) -> None:
    everything = await events_of(http, APP, org, {"from": EPOCH_SECOND})
    low, high = everything[2]["time"], everything[5]["time"]
    window = await events_of(http, APP, org, {"from": low, "to": high})
    assert window == everything[2:6]
    offset = dt.datetime.fromisoformat(low.replace("Z", "+00:00")).astimezone(
        dt.timezone(dt.timedelta(hours=2))
    )
    assert await events_of(http, APP, org, {"from": offset.isoformat()}) == everything[2:]
    assert await events_of(http, APP, org, {"from": "2000-01-01Z"}) == everything


async def test_type_patterns_are_case_insensitive_like(
    http: httpx.AsyncClient, org: dict[str, str], seeded: Any
) -> None:
    base = {"from": EPOCH_SECOND}
    created = await events_of(http, APP, org, {**base, "type": "APP.INSTANCE.CREATED"})
    assert [e["type"] for e in created] == ["app.instance.created"] * 5
    both = await events_of(http, APP, org, [*base.items(), ("type", "%completed"), ("type", "x")])
    assert [e["type"] for e in both] == ["app.instance.process.completed"] * 3
    assert await events_of(http, APP, org, {**base, "type": "app_instance_created"}) == created


async def test_subject_by_party_person_or_unit(
    http: httpx.AsyncClient, org: dict[str, str], seeded: list[dict[str, Any]]
) -> None:
    base = {"from": EPOCH_SECOND}
    by_party = await events_of(http, APP, org, {**base, "party": "50010000"})
    assert [e["subject"] for e in by_party] == ["/party/50010000"] * 2
    by_person = await events_of(http, PARTY, org, base, person="01011990123")
    assert by_person == by_party
    by_unit = await events_of(http, PARTY, org, {**base, "unit": "310000004"})
    assert {e["subject"] for e in by_unit} == {"/party/50010004"}


async def test_party_endpoint_sources(
    http: httpx.AsyncClient, org: dict[str, str], seeded: list[dict[str, Any]]
) -> None:
    base = {"from": EPOCH_SECOND, "party": "50010002"}
    everything = await events_of(http, PARTY, org, base)
    assert len(everything) == 2
    pattern = f"{BASE.upper()}/DIGDIR/%"
    assert await events_of(http, PARTY, org, {**base, "source": pattern}) == everything
    assert await events_of(http, PARTY, org, {**base, "source": f"{BASE}/ttd/%"}) == []


async def test_another_orgs_app_events_are_filtered_out(
    emu: Emulator, http: httpx.AsyncClient, org: dict[str, str], clock: Clock
) -> None:
    emu.add_instance("ttd", "app", created=clock.now - DAY)
    response = await get(http, f"{API}/app/ttd/app", org, {"from": EPOCH_SECOND})
    assert response.json() == []
    assert "next" not in response.headers


async def test_events_are_listed_30_seconds_after_they_happen(
    emu: Emulator, http: httpx.AsyncClient, org: dict[str, str], clock: Clock
) -> None:
    emu.add_instance("digdir", "app")  # created now
    assert await events_of(http, APP, org, {"from": EPOCH_SECOND}) == []
    clock.advance(29)
    assert await events_of(http, APP, org, {"from": EPOCH_SECOND}) == []
    clock.advance(1)
    assert len(await events_of(http, APP, org, {"from": EPOCH_SECOND})) == 1


async def test_events_delay_zero_lists_them_at_once(clock: Clock, client_key: RSAKey) -> None:
    emu = Emulator(clock=clock, events_delay=0)
    emu.add_instance("digdir", "app")
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        auth = await token_for(emu, http, client_key, clock, READ)
        assert len(await events_of(http, APP, auth, {"from": EPOCH_SECOND})) == 1
    with pytest.raises(ValueError, match="events_delay"):
        Emulator(events_delay=-1)


async def test_a_person_reads_their_own_partys_events(
    emu: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    person = emu.person(DEFAULT_PID)
    emu.add_instance("digdir", "app", party_id=person.party_id, created=clock.now - DAY)
    emu.add_instance("digdir", "app", party_id=50_999_999, created=clock.now - DAY)
    add_idporten_clients(emu, idp_key)
    tokens = await idporten_tokens(emu, http, idp_key, clock.now)
    exchanged = await http.get(
        "/platform/authentication/api/v1/exchange/id-porten",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    auth = {"Authorization": f"Bearer {exchanged.text}"}
    own = await events_of(http, PARTY, auth, {"from": EPOCH_SECOND, "party": person.party_id})
    assert [e["subject"] for e in own] == [f"/party/{person.party_id}"]
    assert await events_of(http, PARTY, auth, {"from": EPOCH_SECOND}, person=DEFAULT_PID) == own
    other = await get(http, PARTY, auth, {"from": EPOCH_SECOND, "party": "50999999"})
    assert other.json() == []
    assert "next" not in other.headers
    response = await get(http, APP, auth, {"from": EPOCH_SECOND})
    assert response.json() == "Only orgs can call this api"


# -- generic events ---------------------------------------------------------------------------


async def test_add_event_and_the_generic_endpoint(
    emu: Emulator, http: httpx.AsyncClient, org: dict[str, str], clock: Clock
) -> None:
    resource = "urn:altinn:resource:skattemelding"
    added = [
        emu.add_event(
            "no.skatt.melding.mottatt",
            source=f"https://skatt.example/meldinger/{n}",
            resource=resource,
            subject=f"/party/{500 + n % 2}",
            alternative_subject=f"/person/0101199012{n}",
            time=clock.now - 100 + n,
            data={"zeta": n, "år": "æ&<>'+", "nested": {"bb": 1, "a": [True, None]}},
            data_content_type="application/json",
        )
        for n in range(5)
    ]
    first = added[0]
    assert list(first) == [
        "specversion",
        "id",
        "time",
        "type",
        "source",
        "subject",
        "resource",
        "datacontenttype",
        "alternativesubject",
        "data",
    ]
    assert list(first["data"]) == ["år", "zeta", "nested"]  # jsonb: shortest key first
    assert list(first["data"]["nested"]) == ["a", "bb"]
    response = await get(http, GENERIC, org, {"resource": resource, "after": "0"})
    assert response.json() == added
    assert '"\\u00E5r":"\\u00E6\\u0026\\u003C\\u003E\\u0027\\u002B"' in response.text
    assert response.headers["next"] == (
        f"{BASE}{GENERIC}?after={added[-1]['id']}&resource={resource}"
    )
    by_subject = await events_of(
        http, GENERIC, org, {"resource": resource, "after": "0", "subject": "/party/501"}
    )
    assert by_subject == [added[1], added[3]]
    by_type = await events_of(
        http, GENERIC, org, {"resource": resource, "after": "0", "type": "no.skatt.%"}
    )
    assert by_type == added
    # LIKE, unlike the app endpoints' ILIKE, minds case.
    assert (
        await events_of(
            http, GENERIC, org, {"resource": resource, "after": "0", "type": "NO.SKATT.%"}
        )
        == []
    )


async def test_generic_by_alternative_subject_names_the_subject_in_next(
    emu: Emulator, http: httpx.AsyncClient, org: dict[str, str], clock: Clock
) -> None:
    resource = "urn:altinn:resource:r"
    emu.add_event(
        "t",
        source="urn:x:1",
        resource=resource,
        subject="/party/7",
        alternative_subject="/person/01017012345",
        time=clock.now - 60,
    )
    response = await get(
        http,
        GENERIC,
        org,
        {"resource": resource, "after": "0"},
        **{"Altinn-AlternativeSubject": "/person/01017012345"},
    )
    assert len(response.json()) == 1
    assert response.headers["next"].endswith("&resource=urn:altinn:resource:r&subject=/party/7")


async def test_generic_size_defaults_to_50_and_stops_at_1000(
    emu: Emulator, http: httpx.AsyncClient, org: dict[str, str], clock: Clock
) -> None:
    emu.generate_instances("digdir", "many", 700, start=clock.now - 10 * DAY, end=clock.now - DAY)
    resource = "urn:altinn:resource:app_digdir_many"
    for size, expected in (("0", 50), ("-3", 50), ("7", 7), ("5000", 1000)):
        params = {"resource": resource, "after": "0", "size": size}
        assert len(await events_of(http, GENERIC, org, params)) == expected


async def test_generic_app_events_follow_the_app_rules(
    emu: Emulator, http: httpx.AsyncClient, org: dict[str, str], clock: Clock, seeded: Any
) -> None:
    own = await events_of(
        http, GENERIC, org, {"resource": "urn:altinn:resource:app_digdir_app", "after": "0"}
    )
    assert len(own) == 8
    emu.add_instance("ttd", "app", created=clock.now - DAY)
    others = await get(
        http, GENERIC, org, {"resource": "urn:altinn:resource:app_ttd_app", "after": "0"}
    )
    assert others.json() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"type": ""}, "type must be a non-empty string"),
        ({"source": " x"}, "source must be a non-empty string"),
        ({"resource": "resource:x"}, "resource must be a URN"),
        ({"subject": 5}, "subject must be a non-empty string or None"),
        ({"data": {1, 2}}, "data must be JSON"),
        ({"data": float("nan")}, "data must be JSON"),
        ({"time": "now"}, "time must be seconds since the epoch"),
    ],
)
def test_add_event_refuses_bad_arguments(options: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "type": "t",
        "source": "urn:x:y",
        "resource": "urn:altinn:resource:r",
    }
    arguments.update(options)
    with pytest.raises(ValueError, match=message):
        Emulator().add_event(**arguments)


def test_add_event_refuses_a_second_event_with_the_same_id_and_source() -> None:
    emu = Emulator()
    emu.add_event("t", source="urn:x:1", resource="urn:altinn:resource:r", id="one")
    emu.add_event("t", source="urn:x:2", resource="urn:altinn:resource:r", id="one")
    with pytest.raises(ValueError, match="already exists"):
        emu.add_event("t", source="urn:x:1", resource="urn:altinn:resource:r", id="one")


# -- generated instances' events ---------------------------------------------------------------


async def test_generated_instances_have_their_events(
    emu: Emulator, http: httpx.AsyncClient, org: dict[str, str], clock: Clock
) -> None:
    emu.generate_instances("digdir", "app", 120, seed=3, start=clock.now - 5 * DAY, end=clock.now)
    instances = []
    listing = await http.get(
        "/platform/storage/api/v1/instances", params={"org": "digdir", "size": "200"}, headers=org
    )
    instances = listing.json()["instances"]
    completed = [i for i in instances if "ended" in i["process"]]
    walked, _ = await walk(http, APP, org, {"from": EPOCH_SECOND, "size": "25"})
    visible = clock.now - 30
    expected_created = [i for i in instances if seconds(i["created"]) <= visible]
    expected_completed = [i for i in completed if seconds(i["process"]["ended"]) <= visible]
    assert len(walked) == len(expected_created) + len(expected_completed)
    assert len({e["id"] for e in walked}) == len(walked)
    times = [seconds(e["time"]) for e in walked]
    assert times == sorted(times)
    by_instance: dict[str, list[Event]] = {}
    for event in walked:
        by_instance.setdefault(event["resourceinstance"], []).append(event)
    for instance in expected_created:
        mine = by_instance[instance["id"]]
        assert mine[0]["type"] == "app.instance.created"
        assert mine[0]["time"] == instance["created"]
        assert mine[0]["source"] == instance["selfLinks"]["apps"]
        owner = instance["instanceOwner"]
        alternative = (
            f"/person/{owner['personNumber']}"
            if "personNumber" in owner
            else f"/org/{owner['organisationNumber']}"
        )
        assert mine[0]["alternativesubject"] == alternative
        if "ended" in instance["process"]:
            assert [e["type"] for e in mine] == [
                "app.instance.created",
                "app.instance.process.completed",
            ]
            assert mine[1]["time"] == instance["process"]["ended"]
    # after= a generated event's id continues right after it; the party filter finds its own.
    assert (
        await events_of(http, APP, org, {"after": walked[40]["id"], "size": "5"}) == walked[41:46]
    )
    party = walked[7]["subject"].removeprefix("/party/")
    own = await events_of(http, APP, org, {"from": EPOCH_SECOND, "party": party, "size": "500"})
    assert own == [e for e in walked if e["subject"] == f"/party/{party}"]
    person = next(e for e in walked if e["alternativesubject"].startswith("/person/"))
    pid = person["alternativesubject"].removeprefix("/person/")
    by_person = await events_of(http, PARTY, org, {"from": EPOCH_SECOND, "size": "500"}, person=pid)
    assert by_person == [e for e in walked if e["subject"] == person["subject"]]


async def test_generated_events_mix_with_stored_ones_in_time_order(
    emu: Emulator, http: httpx.AsyncClient, org: dict[str, str], clock: Clock
) -> None:
    emu.generate_instances("digdir", "app", 50, start=clock.now - 5 * DAY, end=clock.now - DAY)
    for offset in (0.5, 2.5, 4.5, 6):
        emu.add_instance("digdir", "app", created=clock.now - offset * DAY)
    walked, _ = await walk(http, APP, org, {"from": EPOCH_SECOND, "size": "7"})
    times = [seconds(e["time"]) for e in walked]
    assert times == sorted(times)
    assert sum(e["type"] == "app.instance.created" for e in walked) == 54


async def test_events_over_a_socket(
    emu: Emulator, client_key: RSAKey, clock: Clock, seeded: Any
) -> None:
    with emu.serve() as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            auth = await token_for(emu, http, client_key, clock, READ, origin=base_url)
            response = await http.get(APP, params={"from": EPOCH_SECOND, "size": "5"}, headers=auth)
            assert response.headers["content-type"] == CLOUDEVENTS
            events = response.json()
            assert events[0]["source"].startswith(f"{base_url}/digdir/app/instances/")
            assert response.headers["next"].startswith(f"{base_url}{APP}?after={events[-1]['id']}")
            rest = await http.get(response.headers["next"], headers=auth)
            assert len(rest.json()) == 3
    assert emu.requests["events.app"] == 2


async def test_a_zoned_time_in_next_arrives_as_the_real_one_does(
    http: httpx.AsyncClient, org: dict[str, str], seeded: Any
) -> None:
    # next repeats the value as bound, "+01:00" unencoded: followed verbatim, the "+" is a
    # space, which no DateTime parses (as with the real API; "Z" times page safely).
    response = await get(http, APP, org, {"from": "2000-01-01T01:00:00+01:00", "size": "2"})
    assert "&from=2000-01-01T01:00:00+01:00&" in response.headers["next"]
    followed = await http.get(response.headers["next"], headers=org)
    assert followed.status_code == 400
    assert followed.json()["errors"] == {
        "from": ["The value '2000-01-01T01:00:00 01:00' is not valid for from."]
    }
