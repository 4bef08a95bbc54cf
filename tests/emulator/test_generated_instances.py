"""Generated instances: listed exactly (every page, date windows that partition the list),
filtered as stored ones are, fetched and downloaded one by one, consistent after ``complete``;
and free of memory and of work that grows with their number."""

from __future__ import annotations

import datetime as dt
import gc
import tracemalloc
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import Emulator

from .conftest import INSTANCES, Clock, altinn_token

DAY = 86_400.0
ORG, APP = "digdir", "big"
Instance = dict[str, Any]


@pytest.fixture
async def auth(http: httpx.AsyncClient, client_key: RSAKey, clock: Clock) -> dict[str, str]:
    token = await altinn_token(http, client_key, clock.now)
    return {"Authorization": f"Bearer {token}"}


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


async def listing(
    http: httpx.AsyncClient, auth: dict[str, str], params: Any
) -> tuple[list[Instance], int]:
    """Every instance the query lists, following ``next`` verbatim; and the page count."""
    response = await http.get(INSTANCES, params=params, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    instances, pages = list(body["instances"]), 1
    while body["next"] is not None:
        response = await http.get(body["next"], headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        instances.extend(body["instances"])
        pages += 1
    return instances, pages


def ids(instances: list[Instance]) -> list[str]:
    return [i["id"] for i in instances]


@pytest.fixture
def generated(emu: Emulator, clock: Clock) -> Emulator:
    emu.generate_instances(ORG, APP, 1000, seed=4, start=clock.now - 10 * DAY, end=clock.now)
    return emu


# -- listing ---------------------------------------------------------------------------------


async def test_every_page_lists_each_instance_once_newest_first(
    generated: Emulator, http: httpx.AsyncClient, auth: dict[str, str], clock: Clock
) -> None:
    instances, pages = await listing(http, auth, {"org": ORG})
    assert len(instances) == 1000
    assert pages == 11  # ten full pages and the empty one a full last page leads to
    assert len(set(ids(instances))) == 1000
    changed = [moment(i["lastChanged"]) for i in instances]
    created = [moment(i["created"]) for i in instances]
    assert changed == sorted(changed, reverse=True)
    assert len(set(changed)) == 1000
    assert created == sorted(created, reverse=True)
    start = dt.datetime.fromtimestamp(clock.now - 10 * DAY, dt.UTC)
    end = dt.datetime.fromtimestamp(clock.now, dt.UTC)
    assert start <= created[-1]
    assert changed[0] <= end
    # Spread over the whole window, not bunched at one end.
    assert created[500] - start > dt.timedelta(days=4)
    assert end - created[500] > dt.timedelta(days=4)


async def test_they_look_like_real_instances(
    generated: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    instances, _ = await listing(http, auth, {"org": ORG, "size": "500"})
    owners = [i["instanceOwner"] for i in instances]
    persons = sum("personNumber" in o for o in owners)
    assert 500 < persons < 900
    assert all(("personNumber" in o) != ("organisationNumber" in o) for o in owners)
    assert len({o["partyId"] for o in owners}) > 100
    completed = [i for i in instances if "ended" in i["process"]]
    assert 0.5 < len(completed) / len(instances) < 0.7
    assert all(i["status"]["isArchived"] for i in completed)
    assert all(i["process"]["ended"] == i["lastChanged"] for i in completed)
    tasks = {i["process"]["currentTask"]["elementId"] for i in instances if i not in completed}
    assert tasks == {"Task_1", "Task_2"}
    assert any(i["status"]["isSoftDeleted"] for i in instances)
    assert any("dueBefore" in i for i in instances)
    for instance in instances:
        (element,) = instance["data"]
        assert element["contentType"] == "application/xml"
        assert element["filename"] == "model.xml"
        assert instance["id"] == f"{instance['instanceOwner']['partyId']}/{element['instanceGuid']}"
        assert instance["appId"] == f"{ORG}/{APP}"


def _valid_pid(pid: str) -> bool:
    digits = [int(d) for d in pid]
    first = 11 - sum(d * w for d, w in zip(digits, (3, 7, 6, 1, 8, 9, 4, 5, 2), strict=False)) % 11
    second = (
        11 - sum(d * w for d, w in zip(digits, (5, 4, 3, 2, 7, 6, 5, 4, 3, 2), strict=False)) % 11
    )
    return digits[9] == first % 11 and digits[10] == second % 11


async def test_owners_have_valid_numbers(
    generated: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    instances, _ = await listing(http, auth, {"org": ORG, "size": "300"})
    for instance in instances:
        owner = instance["instanceOwner"]
        if "personNumber" in owner:
            assert _valid_pid(owner["personNumber"]), owner
            assert int(owner["personNumber"][2:4]) > 80  # synthetic: month + 80
        else:
            number = owner["organisationNumber"]
            check = (
                11
                - sum(int(d) * w for d, w in zip(number, (3, 2, 7, 6, 5, 4, 3, 2), strict=False))
                % 11
            )
            assert int(number[8]) == check % 11


async def test_the_same_seed_makes_the_same_instances(clock: Clock, client_key: RSAKey) -> None:
    def listed(seed: int) -> list[str]:
        emu = Emulator(clock=clock)
        emu.generate_instances(ORG, APP, 50, seed=seed, start=clock.now - DAY, end=clock.now)
        store = emu._instances
        return [i.guid for i in store.page(store_selection(), None, 50)]

    assert listed(1) == listed(1)
    assert set(listed(1)).isdisjoint(listed(2))


def store_selection() -> Any:
    from altinn_async.testing._storage.model import Selection  # noqa: PLC0415

    return Selection(keep=lambda _: True)


async def test_continuation_tokens_are_the_real_format(
    generated: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await http.get(INSTANCES, params={"org": ORG, "size": "3"}, headers=auth)
    body = response.json()
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(body["next"]).query)["continuationToken"]
    assert "%253B" in body["next"]
    ticks, _, internal_id = urllib.parse.unquote(token[0]).partition(";")
    last = moment(body["instances"][-1]["lastChanged"])
    epoch = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
    assert int(ticks) == (last - epoch) // dt.timedelta(microseconds=1) * 10
    assert int(internal_id) > 0


# -- windows and filters -----------------------------------------------------------------------


@pytest.mark.parametrize("field", ["created", "lastChanged"])
async def test_date_windows_partition_the_list(
    generated: Emulator,
    http: httpx.AsyncClient,
    auth: dict[str, str],
    clock: Clock,
    field: str,
) -> None:
    everything, _ = await listing(http, auth, {"org": ORG})
    first, second = iso(clock.now - 7.5 * DAY), iso(clock.now - 0.3 * DAY)
    windows = [
        [("org", ORG), (field, f"lt:{first}")],
        [("org", ORG), (field, f"gte:{first}"), (field, f"lte:{second}")],
        [("org", ORG), (field, f"gt:{second}")],
    ]
    parts = [ids((await listing(http, auth, window))[0]) for window in windows]
    assert all(parts)
    assert sum(map(len, parts)) == 1000
    assert parts[2] + parts[1] + parts[0] == ids(everything)


def _brute(everything: list[Instance], test: Callable[[Instance], bool]) -> list[str]:
    return [i["id"] for i in everything if test(i)]


async def test_filters_match_what_the_instances_say(
    generated: Emulator, http: httpx.AsyncClient, auth: dict[str, str], clock: Clock
) -> None:
    everything, _ = await listing(http, auth, {"org": ORG, "size": "1000"})
    some = everything[137]
    party = some["instanceOwner"]["partyId"]
    middle = clock.now - 5 * DAY
    cases: list[tuple[dict[str, str], Callable[[Instance], bool]]] = [
        ({"process.isComplete": "true"}, lambda i: "ended" in i["process"]),
        ({"process.isComplete": "false"}, lambda i: "ended" not in i["process"]),
        ({"status.isSoftDeleted": "true"}, lambda i: i["status"]["isSoftDeleted"]),
        ({"status.isArchived": "false"}, lambda i: not i["status"]["isArchived"]),
        ({"status.isHardDeleted": "true"}, lambda i: False),
        (
            {"process.currentTask": "Task_2"},
            lambda i: i["process"].get("currentTask", {}).get("elementId") == "Task_2",
        ),
        ({"instanceOwner.partyId": party}, lambda i: i["instanceOwner"]["partyId"] == party),
        ({"appId": f"{ORG}/{APP}"}, lambda i: True),
        ({"appId": f"{ORG}/other"}, lambda i: False),
        (
            {"process.ended": f"lt:{iso(middle)}"},
            lambda i: (
                "ended" in i["process"] and moment(i["process"]["ended"]).timestamp() < middle
            ),
        ),
        (
            {"dueBefore": f"gt:{iso(middle + 30 * DAY)}"},
            lambda i: "dueBefore" in i and moment(i["dueBefore"]).timestamp() > middle + 30 * DAY,
        ),
        (
            {"visibleAfter": f"lte:{iso(middle)}", "process.isComplete": "true"},
            lambda i: moment(i["visibleAfter"]).timestamp() <= middle and "ended" in i["process"],
        ),
        ({"lastChanged": f"eq:{some['lastChanged']}"}, lambda i: i["id"] == some["id"]),
    ]
    for params, test in cases:
        found, _ = await listing(http, auth, {"org": ORG, "size": "70", **params})
        assert ids(found) == _brute(everything, test), params


async def test_party_filter_pages_only_that_partys_instances(
    generated: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    first = (await http.get(INSTANCES, params={"org": ORG, "size": "1"}, headers=auth)).json()
    party = first["instances"][0]["instanceOwner"]["partyId"]
    before = generated._instances.examined
    found, _ = await listing(http, auth, {"org": ORG, "instanceOwner.partyId": party})
    assert 1 <= len(found) < 10
    assert generated._instances.examined - before == len(found)
    unknown, _ = await listing(http, auth, {"org": ORG, "instanceOwner.partyId": "12345"})
    assert unknown == []


# -- one instance ----------------------------------------------------------------------------


async def test_one_instance_its_data_elements_and_data(
    generated: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    listed = (await http.get(INSTANCES, params={"org": ORG, "size": "5"}, headers=auth)).json()
    instance = listed["instances"][4]
    url = instance["selfLinks"]["platform"]
    one = await http.get(url, headers=auth)
    assert one.status_code == 200
    assert one.json() == instance
    elements = await http.get(f"{url}/dataelements", headers=auth)
    assert elements.json() == {"dataElements": instance["data"]}
    element = instance["data"][0]
    data = await http.get(element["selfLinks"]["platform"], headers=auth)
    assert data.status_code == 200
    assert data.headers["content-type"] == "application/xml"
    assert data.headers["content-disposition"].startswith("attachment; filename=model.xml")
    assert data.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<Skjema>')
    assert len(data.content) == element["size"]
    again = await http.get(element["selfLinks"]["platform"], headers=auth)
    assert again.content == data.content


async def test_guids_that_are_not_instances_are_not_found(
    generated: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    listed = (await http.get(INSTANCES, params={"org": ORG, "size": "1"}, headers=auth)).json()
    instance = listed["instances"][0]
    party = instance["instanceOwner"]["partyId"]
    data_guid = instance["data"][0]["id"]
    # A data element's GUID is no instance's.
    response = await http.get(f"{INSTANCES}/{party}/{data_guid}", headers=auth)
    assert response.status_code == 404
    assert response.json() == f"Unable to find instance {data_guid}"
    other = await http.get(
        f"{INSTANCES}/{party}/5b9b5a4e-2fd8-4a0a-9f57-5ed4b1a8c2d1", headers=auth
    )
    assert other.status_code == 404


# -- changes ---------------------------------------------------------------------------------


async def test_complete_materializes_one_and_the_list_stays_consistent(
    generated: Emulator, http: httpx.AsyncClient, auth: dict[str, str], clock: Clock
) -> None:
    before, _ = await listing(http, auth, {"org": ORG})
    chosen = [before[3], before[500], before[999]]
    clock.advance(60)
    for instance in chosen:
        response = await http.post(f"{instance['selfLinks']['platform']}/complete", headers=auth)
        assert response.status_code == 200, response.text
        confirmations = response.json()["completeConfirmations"]
        assert [c["stakeholderId"] for c in confirmations] == [ORG]
        clock.advance(1)
    after, _ = await listing(http, auth, {"org": ORG})
    assert sorted(ids(after)) == sorted(ids(before))
    # Changed last, listed first (newest first), and the rest keeps its order.
    assert ids(after)[:3] == [chosen[2]["id"], chosen[1]["id"], chosen[0]["id"]]
    assert ids(after)[3:] == [i for i in ids(before) if i not in ids(chosen)]
    remaining, _ = await listing(http, auth, {"org": ORG, "excludeConfirmedBy": ORG})
    assert ids(remaining) == ids(after)[3:]
    one = await http.get(chosen[1]["selfLinks"]["platform"], headers=auth)
    assert one.json()["completeConfirmations"][0]["stakeholderId"] == ORG
    assert len(generated._instances._order) == 3  # only those three are stored
    again = await http.post(f"{chosen[1]['selfLinks']['platform']}/complete", headers=auth)
    assert len(again.json()["completeConfirmations"]) == 1


async def test_stored_and_generated_instances_list_together(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str], clock: Clock
) -> None:
    emu.generate_instances(ORG, APP, 300, start=clock.now - 3 * DAY, end=clock.now)
    for offset in (0.5, 1.5, 2.5, 10):
        emu.add_instance(ORG, APP, created=clock.now - offset * DAY)
    emu.add_instances(ORG, "small", 40)
    instances, _ = await listing(http, auth, {"org": ORG, "size": "37"})
    assert len(instances) == 344
    changed = [moment(i["lastChanged"]) for i in instances]
    assert changed == sorted(changed, reverse=True)
    only, _ = await listing(http, auth, {"appId": f"{ORG}/{APP}", "size": "50"})
    assert len(only) == 304


# -- the arguments ---------------------------------------------------------------------------


def test_bad_arguments_are_refused(clock: Clock) -> None:
    emu = Emulator(clock=clock)
    for args, options, message in [
        ((ORG, APP, -1), {}, "count must be a whole number"),
        ((ORG, APP, 1.5), {}, "count must be a whole number"),
        ((ORG, APP, 10), {"seed": "x"}, "seed must be an integer"),
        (("", APP, 10), {}, "org and app must not be empty"),
        ((ORG, APP, 10), {"start": clock.now, "end": clock.now}, "start must be before end"),
        ((ORG, APP, 10), {"start": "yesterday"}, "start must be seconds since the epoch"),
        ((ORG, APP, 10**6), {"start": clock.now - 1}, "do not fit between start and end"),
    ]:
        with pytest.raises(ValueError, match=message):
            emu.generate_instances(*args, **options)  # type: ignore[arg-type]
    emu.generate_instances(ORG, APP, 0)


# -- memory and work -------------------------------------------------------------------------


def _allocated_by(make: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = make()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del kept
    return after - before


def test_a_generated_set_costs_no_memory_per_instance(clock: Clock) -> None:
    emu = Emulator(clock=clock)

    def make(count: int) -> Callable[[], object]:
        return lambda: emu.generate_instances(ORG, f"app-{count}", count)

    small = _allocated_by(make(1_000))
    large = _allocated_by(make(1_000_000))
    assert large < 20_000
    assert large - small < 2_000  # a thousand times as many: nothing per instance


async def test_a_far_window_costs_what_a_near_one_does(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str], clock: Clock
) -> None:
    emu.generate_instances(ORG, APP, 200_000, start=clock.now - 90 * DAY, end=clock.now)
    store = emu._instances

    async def work(params: dict[str, str]) -> tuple[int, int]:
        before = store.examined
        response = await http.get(INSTANCES, params={"org": ORG, **params}, headers=auth)
        body = response.json()
        assert body["count"] == 100
        second = (await http.get(body["next"], headers=auth)).json()
        assert second["count"] == 100
        return store.examined - before, len(body["instances"]) + len(second["instances"])

    near = await work({"created": f"gt:{iso(clock.now - 10 * DAY)}"})
    far = await work({"created": f"lt:{iso(clock.now - 80 * DAY)}"})
    oldest = await work({"lastChanged": f"lte:{iso(clock.now - 89.9 * DAY)}"})
    filtered = await work(
        {"created": f"lt:{iso(clock.now - 85 * DAY)}", "status.isSoftDeleted": "true"}
    )
    assert near == far == oldest == filtered == (200, 200)


async def test_a_far_window_of_stored_instances_skips_the_rest(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str], clock: Clock
) -> None:
    # Stored instances whose lastChanged says little about created (changed up to 14 days on).
    emu.add_instances(ORG, APP, 3000, seed=2)
    store = emu._instances
    everything = [store._by_key[key] for key in store._order]
    oldest = sorted(i.created for i in everything)[150]
    from altinn_async.testing._toolkit.dotnet import EPOCH_TICKS  # noqa: PLC0415

    cutoff = (oldest - EPOCH_TICKS) / 10**7
    for field in ("created", "lastChanged"):
        before = store.examined
        found, _ = await listing(http, auth, {"org": ORG, field: f"lt:{iso(cutoff)}"})
        expected = [i for i in everything if getattr(i, _attribute(field)) < oldest]
        assert sorted(ids(found)) == sorted(f"{i.party_id}/{i.guid}" for i in expected)
        assert store.examined - before < 1000, field  # not the 3000 a scan from the top costs


def _attribute(field: str) -> str:
    return {"created": "created", "lastChanged": "last_changed"}[field]
