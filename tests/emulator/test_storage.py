"""The emulated Altinn Storage: authorization, the instance query, paging, data and completion."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import Emulator

from .conftest import (
    CLIENT_ID,
    DIGDIR,
    INSTANCES,
    READ,
    WRITE,
    Clock,
    altinn_token,
    maskinporten_token,
    systemuser_details,
)

BASE = "http://altinn.localhost"
DAY = 86_400.0


@pytest.fixture
async def auth(http: httpx.AsyncClient, client_key: RSAKey, clock: Clock) -> dict[str, str]:
    token = await altinn_token(http, client_key, clock.now)
    return {"Authorization": f"Bearer {token}"}


async def token_with(
    emu: Emulator, http: httpx.AsyncClient, key: RSAKey, clock: Clock, *scopes: str
) -> dict[str, str]:
    client_id = "client-" + "-".join(s.rsplit("/", 1)[-1] for s in scopes)
    emu.add_maskinporten_client(
        client_id, org_number=DIGDIR, scopes=scopes, jwks=[key.as_dict(private=False)]
    )
    from .conftest import make_grant, request_token  # noqa: PLC0415

    grant = make_grant(key, clock.now, iss=client_id, scope=" ".join(scopes))
    mp = (await request_token(http, grant)).json()["access_token"]
    exchanged = await http.get(
        "/platform/authentication/api/v1/exchange/maskinporten",
        headers={"Authorization": f"Bearer {mp}"},
    )
    return {"Authorization": f"Bearer {exchanged.text}"}


def iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def has_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(has_null(v) for v in value.values())
    if isinstance(value, list):
        return any(has_null(v) for v in value)
    return False


async def query(http: httpx.AsyncClient, auth: dict[str, str], params: Any) -> dict[str, Any]:
    response = await http.get(INSTANCES, params=params, headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def all_pages(
    http: httpx.AsyncClient, auth: dict[str, str], params: Any
) -> tuple[list[dict[str, Any]], int]:
    """Follow ``next`` verbatim until it is null; return the instances and the page count."""
    body = await query(http, auth, params)
    instances, pages = list(body["instances"]), 1
    while body["next"] is not None:
        response = await http.get(body["next"], headers=auth)
        assert response.status_code == 200
        body = response.json()
        instances.extend(body["instances"])
        pages += 1
    return instances, pages


# -- authorization -------------------------------------------------------------------------------


async def test_missing_token_is_401_without_body(http: httpx.AsyncClient) -> None:
    response = await http.get(INSTANCES, params={"org": "digdir"})
    assert response.status_code == 401
    assert response.content == b""


async def test_maskinporten_token_is_not_accepted(
    http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    from .conftest import maskinporten_token  # noqa: PLC0415

    token = await maskinporten_token(http, client_key, clock.now)
    response = await http.get(
        INSTANCES, params={"org": "digdir"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401


async def test_expired_altinn_token_is_401(
    http: httpx.AsyncClient, auth: dict[str, str], clock: Clock
) -> None:
    clock.advance(1800 + 11)
    response = await http.get(INSTANCES, params={"org": "digdir"}, headers=auth)
    assert response.status_code == 401


async def test_cookie_authentication_works(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    token = auth["Authorization"].removeprefix("Bearer ")
    response = await http.get(
        INSTANCES, params={"org": "digdir"}, headers={"Cookie": f"AltinnStudioRuntime={token}"}
    )
    assert response.status_code == 200


async def test_org_token_without_read_scope_is_403(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    headers = await token_with(emu, http, client_key, clock, WRITE)
    response = await http.get(INSTANCES, params={"org": "digdir"}, headers=headers)
    assert response.status_code == 403
    assert response.content == b""


async def test_token_without_org_claim_is_400(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    headers = await token_with(emu, http, client_key, clock, "test:scope")
    response = await http.get(INSTANCES, params={"org": "digdir"}, headers=headers)
    assert response.status_code == 400
    assert response.json()["title"] == "Bad Request"


async def test_no_org_or_app_id_is_400(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await http.get(INSTANCES, headers=auth)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == "Org or AppId must be defined."


async def test_another_orgs_instances_are_forbidden(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await http.get(INSTANCES, params={"appId": "skd/app"}, headers=auth)
    assert response.status_code == 403
    response = await http.get(INSTANCES, params={"org": "skd"}, headers=auth)
    assert response.status_code == 400
    assert response.json() == "AppId must be defined."


async def test_sync_adapter_reads_any_org(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_instance("skd", "app")
    headers = await token_with(
        emu, http, client_key, clock, WRITE, "altinn:storage/instances.syncadapter"
    )
    body = await query(http, headers, {"org": "skd"})
    assert body["count"] == 1


async def test_org_comparison_ignores_case(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    emu.add_instance("digdir", "app")
    body = await query(http, auth, {"org": "DIGDIR"})
    assert body["count"] == 1


# -- shape -------------------------------------------------------------------------------------


async def test_response_shape(emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    emu.add_instances("digdir", "app", 3)
    response = await http.get(INSTANCES, params={"org": "digdir"}, headers=auth)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert list(body) == ["count", "self", "next", "instances"]
    assert body["count"] == 3
    assert body["next"] is None
    assert body["self"] == f"{BASE}{INSTANCES}?org=digdir"
    for instance in body["instances"]:
        assert not has_null(instance)
        party, guid = instance["id"].split("/")
        assert instance["selfLinks"]["platform"] == f"{BASE}{INSTANCES}/{party}/{guid}"
        assert instance["appId"] == "digdir/app"
        (element,) = instance["data"]
        assert element["selfLinks"]["platform"] == (
            f"{BASE}{INSTANCES}/{party}/{guid}/data/{element['id']}"
        )


async def test_add_instance_returns_the_stored_json(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    added = emu.add_instance(
        "digdir", "app", party_id=50001234, data=b"<a/>", person_number="01017012345"
    )
    body = await query(http, auth, {"org": "digdir"})
    assert body["instances"] == [added]
    assert added["instanceOwner"] == {"partyId": "50001234", "personNumber": "01017012345"}
    assert added["process"]["currentTask"]["elementId"] == "Task_1"
    assert "ended" not in added["process"]
    assert added["status"]["isArchived"] is False
    assert added["data"][0]["filename"] == "model.xml"


async def test_links_follow_the_request_origin(emu: Emulator, auth: dict[str, str]) -> None:
    emu.add_instances("digdir", "app", 2)
    async with httpx.AsyncClient(
        transport=emu.transport(), base_url="http://127.0.0.1:8123"
    ) as http:
        body = await query(http, auth, {"org": "digdir", "size": "1"})
    assert body["self"].startswith("http://127.0.0.1:8123/platform/storage/api/v1/instances?")
    assert body["next"].startswith("http://127.0.0.1:8123/platform/storage/api/v1/instances?")
    assert body["instances"][0]["selfLinks"]["platform"].startswith("http://127.0.0.1:8123/")


# -- paging ------------------------------------------------------------------------------------


async def test_default_page_size_is_100_and_next_only_on_full_pages(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    emu.add_instances("digdir", "app", 250)
    first = await query(http, auth, {"org": "digdir"})
    assert first["count"] == 100
    assert first["next"] is not None
    instances, pages = await all_pages(http, auth, {"org": "digdir"})
    assert pages == 3
    assert len(instances) == 250
    assert len({i["id"] for i in instances}) == 250
    changed = [i["lastChanged"] for i in instances]
    assert changed == sorted(changed, reverse=True)


async def test_full_last_page_yields_one_extra_empty_page(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    emu.add_instances("digdir", "app", 20)
    instances, pages = await all_pages(http, auth, {"org": "digdir", "size": "10"})
    assert len(instances) == 20
    assert pages == 3


async def test_continuation_token_is_double_encoded(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    emu.add_instances("digdir", "app", 5)
    body = await query(http, auth, {"appId": "digdir/app", "size": "2"})
    nxt = body["next"]
    assert nxt.startswith(f"{BASE}{INSTANCES}?appId=digdir%2Fapp&size=2&continuationToken=")
    raw = nxt.split("continuationToken=", 1)[1]
    assert "%253B" in raw
    ticks, internal_id = urllib.parse.unquote(urllib.parse.unquote(raw)).split(";")
    last = body["instances"][-1]["lastChanged"]
    moment = dt.datetime.fromisoformat(last.replace("Z", "+00:00"))
    epoch_ticks = 621_355_968_000_000_000
    assert int(ticks) == epoch_ticks + round(moment.timestamp() * 1_000_000) * 10
    assert int(internal_id) > 0
    second = (await http.get(nxt, headers=auth)).json()
    # self echoes the incoming token, again double-encoded.
    assert second["self"] == nxt
    assert second["instances"][0]["id"] != body["instances"][-1]["id"]


async def test_single_encoded_token_is_accepted_too(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    emu.add_instances("digdir", "app", 3)
    body = await query(http, auth, {"org": "digdir", "size": "1"})
    token = urllib.parse.unquote(urllib.parse.unquote(body["next"].split("continuationToken=")[1]))
    again = await query(http, auth, {"org": "digdir", "size": "1", "continuationToken": token})
    assert again["instances"][0]["id"] != body["instances"][0]["id"]


async def test_invalid_continuation_token_is_400(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await http.get(
        INSTANCES, params={"org": "digdir", "continuationToken": "nonsense"}, headers=auth
    )
    assert response.status_code == 400


async def test_instance_changed_while_paging_is_not_repeated(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str], clock: Clock
) -> None:
    added = [
        emu.add_instance("digdir", "app", created=clock.now - 100 + i, data=b"x") for i in range(6)
    ]
    first = await query(http, auth, {"org": "digdir", "size": "3"})
    # Completing an instance from the first page moves it to the top (newest lastChanged).
    party, guid = first["instances"][0]["id"].split("/")
    clock.advance(5)
    assert (
        await http.post(f"{INSTANCES}/{party}/{guid}/complete", headers=auth)
    ).status_code == 200
    rest, _ = await all_pages(http, auth, {"org": "digdir", "size": "3"})
    second = (await http.get(first["next"], headers=auth)).json()
    seen = [i["id"] for i in first["instances"]] + [i["id"] for i in second["instances"]]
    assert sorted(seen) == sorted(i["id"] for i in added)
    assert len(rest) == 6


@pytest.mark.parametrize("size", ["abc", "0", "-1"])
async def test_invalid_size_is_400(
    http: httpx.AsyncClient, auth: dict[str, str], size: str
) -> None:
    response = await http.get(INSTANCES, params={"org": "digdir", "size": size}, headers=auth)
    assert response.status_code == 400


# -- filters -----------------------------------------------------------------------------------


@pytest.fixture
def timeline(emu: Emulator, clock: Clock) -> dict[str, dict[str, Any]]:
    now = clock.now
    return {
        "open": emu.add_instance(
            "digdir",
            "app",
            created=now - 10 * DAY,
            last_changed=now - 9 * DAY,
            data=b"1",
            due_before=now + 5 * DAY,
        ),
        "task2": emu.add_instance(
            "digdir",
            "app",
            created=now - 8 * DAY,
            last_changed=now - 7 * DAY,
            data=b"2",
            current_task="Task_2",
            party_id=50009999,
        ),
        "done": emu.add_instance(
            "digdir",
            "app",
            created=now - 6 * DAY,
            last_changed=now - 5 * DAY,
            data=b"3",
            completed=True,
        ),
        "confirmed": emu.add_instance(
            "digdir",
            "app",
            created=now - 4 * DAY,
            last_changed=now - 3 * DAY,
            data=b"4",
            completed=True,
            confirmed_by=["digdir"],
        ),
        "deleted": emu.add_instance(
            "digdir",
            "app",
            created=now - 2 * DAY,
            last_changed=now - 1 * DAY,
            data=b"5",
            soft_deleted=True,
            visible_after=now + DAY,
        ),
        "hard": emu.add_instance(
            "digdir",
            "app",
            created=now - 2 * DAY,
            last_changed=now - 2 * DAY,
            hard_deleted=True,
        ),
        "other_app": emu.add_instance("digdir", "other", created=now - DAY, data=b"6"),
    }


def ids(body: dict[str, Any]) -> set[str]:
    return {i["id"] for i in body["instances"]}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"appId": "digdir/app"}, {"open", "task2", "done", "confirmed", "deleted", "hard"}),
        ({"appId": "digdir/app", "process.currentTask": "Task_2"}, {"task2"}),
        ({"appId": "digdir/app", "process.isComplete": "true"}, {"done", "confirmed"}),
        (
            {"appId": "digdir/app", "process.isComplete": "False"},
            {"open", "task2", "deleted", "hard"},
        ),
        ({"appId": "digdir/app", "status.isArchived": "true"}, {"done", "confirmed"}),
        ({"appId": "digdir/app", "status.isSoftDeleted": "true"}, {"deleted"}),
        ({"appId": "digdir/app", "status.isHardDeleted": "true"}, {"hard"}),
        (
            {"appId": "digdir/app", "excludeConfirmedBy": "digdir"},
            {"open", "task2", "done", "deleted", "hard"},
        ),
        ({"appId": "digdir/app", "instanceOwner.partyId": "50009999"}, {"task2"}),
        ({"org": "digdir", "process.isComplete": "true"}, {"done", "confirmed"}),
        (
            {"org": "digdir", "status.isHardDeleted": "false", "status.isSoftDeleted": "false"},
            {"open", "task2", "done", "confirmed", "other_app"},
        ),
    ],
)
async def test_filters(
    http: httpx.AsyncClient,
    auth: dict[str, str],
    timeline: dict[str, dict[str, Any]],
    params: dict[str, str],
    expected: set[str],
) -> None:
    body = await query(http, auth, params)
    assert ids(body) == {timeline[name]["id"] for name in expected}


async def test_date_filters_repeat_and_combine(
    http: httpx.AsyncClient, auth: dict[str, str], timeline: dict[str, dict[str, Any]], clock: Clock
) -> None:
    now = clock.now
    params = [
        ("appId", "digdir/app"),
        ("lastChanged", f"gt:{iso(now - 8 * DAY)}"),
        ("lastChanged", f"lte:{iso(now - 3 * DAY)}"),
    ]
    body = await query(http, auth, params)
    assert ids(body) == {timeline[n]["id"] for n in ("task2", "done", "confirmed")}


@pytest.mark.parametrize(
    ("name", "operator", "days", "expected"),
    [
        ("created", "gte", -6, {"done", "confirmed", "deleted", "hard"}),
        ("created", "lt", -6, {"open", "task2"}),
        ("dueBefore", "gt", 0, {"open"}),
        ("visibleAfter", "gt", 0, {"deleted"}),
        ("process.ended", "lte", 0, {"done", "confirmed"}),
        ("lastChanged", "eq", -5, {"done"}),
    ],
)
async def test_date_operators(
    http: httpx.AsyncClient,
    auth: dict[str, str],
    timeline: dict[str, dict[str, Any]],
    clock: Clock,
    *,
    name: str,
    operator: str,
    days: int,
    expected: set[str],
) -> None:
    value = f"{operator}:{iso(clock.now + days * DAY)}"
    body = await query(http, auth, {"appId": "digdir/app", name: value})
    assert ids(body) == {timeline[n]["id"] for n in expected}


async def test_date_only_value_is_accepted(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    emu.add_instance("digdir", "app", created=dt.datetime(2024, 5, 2, tzinfo=dt.UTC).timestamp())
    emu.add_instance("digdir", "app", created=dt.datetime(2024, 4, 2, tzinfo=dt.UTC).timestamp())
    body = await query(http, auth, {"org": "digdir", "created": "gt:2024-05-01"})
    assert body["count"] == 1


@pytest.mark.parametrize("value", ["2024-05-01", "between:2024-05-01", "gt:yesterday"])
async def test_invalid_date_expression_is_400(
    http: httpx.AsyncClient, auth: dict[str, str], value: str
) -> None:
    response = await http.get(
        INSTANCES, params={"org": "digdir", "lastChanged": value}, headers=auth
    )
    assert response.status_code == 400
    assert response.json() == f"Invalid date expression: {value} for query key: lastChanged"


async def test_invalid_boolean_is_a_validation_problem(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    response = await http.get(
        INSTANCES, params={"org": "digdir", "process.isComplete": "maybe"}, headers=auth
    )
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "One or more validation errors occurred."
    assert "process.isComplete" in body["errors"]


# -- single instance, data and completion --------------------------------------------------------


async def test_get_instance(emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    added = emu.add_instance("digdir", "app", data=b"<x/>")
    response = await http.get(f"{INSTANCES}/{added['id']}", headers=auth)
    assert response.status_code == 200
    assert response.json() == added


async def test_unknown_instance_is_404(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    guid = "6a1ed9b4-2d47-4f9c-9a55-3f0d1d8f2a11"
    response = await http.get(f"{INSTANCES}/50001/{guid}", headers=auth)
    assert response.status_code == 404
    assert response.json() == f"Unable to find instance {guid}"


async def test_non_guid_path_is_404(http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await http.get(f"{INSTANCES}/50001/not-a-guid", headers=auth)
    assert response.status_code == 404


async def test_instance_of_another_org_is_403(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    added = emu.add_instance("skd", "app", data=b"x")
    assert (await http.get(f"{INSTANCES}/{added['id']}", headers=auth)).status_code == 403
    data_url = f"{INSTANCES}/{added['id']}/data/{added['data'][0]['id']}"
    assert (await http.get(data_url, headers=auth)).status_code == 403


async def test_instance_needs_a_token(emu: Emulator, http: httpx.AsyncClient) -> None:
    added = emu.add_instance("digdir", "app")
    assert (await http.get(f"{INSTANCES}/{added['id']}")).status_code == 401


async def test_download_data(emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    payload = b"%PDF-1.7 binary \x00\xff"
    added = emu.add_instance(
        "digdir", "app", data=payload, content_type="application/pdf", filename="receipt.pdf"
    )
    element = added["data"][0]
    assert element["size"] == len(payload)
    response = await http.get(element["selfLinks"]["platform"], headers=auth)
    assert response.status_code == 200
    assert response.content == payload
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        "attachment; filename=receipt.pdf; filename*=UTF-8''receipt.pdf"
    )


async def test_download_filename_with_spaces_and_non_ascii(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    added = emu.add_instance("digdir", "app", data=b"x", filename="søknad 1.xml")
    response = await http.get(added["data"][0]["selfLinks"]["platform"], headers=auth)
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="=?utf-8?B?')
    assert disposition.endswith("filename*=UTF-8''s%C3%B8knad%201.xml")


async def test_unknown_data_element_is_404(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    added = emu.add_instance("digdir", "app", data=b"x")
    guid = "0d0c9a7e-52a4-4a26-b1f2-0f8d6b8b4a01"
    response = await http.get(f"{INSTANCES}/{added['id']}/data/{guid}", headers=auth)
    assert response.status_code == 404
    assert response.json() == f"Unable to find any data element with id: {guid}."


async def test_data_of_unknown_instance_is_404(
    http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    guid = "6a1ed9b4-2d47-4f9c-9a55-3f0d1d8f2a11"
    response = await http.get(f"{INSTANCES}/50001/{guid}/data/{guid}", headers=auth)
    assert response.status_code == 404
    assert response.json() == f"Unable to find any instance with id: 50001/{guid}."


async def test_data_elements(emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]) -> None:
    added = emu.add_instance("digdir", "app", data=b"<x/>")
    response = await http.get(f"{INSTANCES}/{added['id']}/dataelements", headers=auth)
    assert response.status_code == 200
    assert response.json() == {"dataElements": added["data"]}


async def test_complete_adds_a_confirmation(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str], clock: Clock
) -> None:
    added = emu.add_instance("digdir", "app", created=clock.now - 100, data=b"x", completed=True)
    clock.advance(1)
    response = await http.post(f"{INSTANCES}/{added['id']}/complete", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["completeConfirmations"] == [
        {"stakeholderId": "digdir", "confirmedOn": iso(clock.now).replace("+00:00", "Z")}
    ]
    assert body["lastChanged"] > added["lastChanged"]
    assert body["lastChangedBy"] == DIGDIR
    # Confirming again changes nothing.
    again = (await http.post(f"{INSTANCES}/{added['id']}/complete", headers=auth)).json()
    assert again["completeConfirmations"] == body["completeConfirmations"]
    stored = (await http.get(f"{INSTANCES}/{added['id']}", headers=auth)).json()
    assert stored == body


async def test_complete_needs_the_write_scope(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    added = emu.add_instance("digdir", "app")
    headers = await token_with(emu, http, client_key, clock, READ)
    response = await http.post(f"{INSTANCES}/{added['id']}/complete", headers=headers)
    assert response.status_code == 403


async def test_complete_of_another_org_or_missing_instance_is_403(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    added = emu.add_instance("skd", "app")
    assert (await http.post(f"{INSTANCES}/{added['id']}/complete", headers=auth)).status_code == 403
    guid = "6a1ed9b4-2d47-4f9c-9a55-3f0d1d8f2a11"
    assert (await http.post(f"{INSTANCES}/5001/{guid}/complete", headers=auth)).status_code == 403


async def test_complete_needs_post(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    added = emu.add_instance("digdir", "app")
    response = await http.get(f"{INSTANCES}/{added['id']}/complete", headers=auth)
    assert response.status_code == 405


async def test_download_then_complete_flow(
    emu: Emulator, http: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    emu.add_instances("digdir", "app", 30)
    params = {"appId": "digdir/app", "process.isComplete": "true", "excludeConfirmedBy": "digdir"}
    pending, _ = await all_pages(http, auth, {**params, "size": "7"})
    assert pending
    for instance in pending:
        for element in instance["data"]:
            response = await http.get(element["selfLinks"]["platform"], headers=auth)
            assert response.status_code == 200
            assert response.content.startswith(b"<?xml")
        response = await http.post(f"{instance['selfLinks']['platform']}/complete", headers=auth)
        assert response.status_code == 200
    after = await query(http, auth, params)
    assert after["count"] == 0
    confirmed = await query(http, auth, {"appId": "digdir/app", "process.isComplete": "true"})
    assert confirmed["count"] == len(pending)


# -- system users ------------------------------------------------------------------------------

VENDOR = "310000009"
CUSTOMER = "310000001"
CUSTOMER_PARTY = 50_500_001


@pytest.fixture
async def system_user(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> dict[str, str]:
    """An Altinn token of the vendor's system user at CUSTOMER (scopes without serviceowner)."""
    emu.add_maskinporten_client(
        "vendor",
        org_number=VENDOR,
        scopes=["altinn:instances.read"],
        jwks=[client_key.as_dict(private=False)],
    )
    emu.add_system_user(client_id="vendor", customer_org=CUSTOMER)
    token = await altinn_token(
        http,
        client_key,
        clock.now,
        iss="vendor",
        scope="altinn:instances.read",
        authorization_details=systemuser_details(CUSTOMER),
    )
    return {"Authorization": f"Bearer {token}"}


async def test_system_user_reads_its_owners_instances(
    emu: Emulator, http: httpx.AsyncClient, system_user: dict[str, str]
) -> None:
    own = emu.add_instance(
        "ttd", "app", party_id=CUSTOMER_PARTY, organisation_number=CUSTOMER, data=b"<a/>"
    )
    emu.add_instance("ttd", "app", party_id=CUSTOMER_PARTY)  # no organisation number: not its
    params = {"instanceOwner.partyId": str(CUSTOMER_PARTY)}
    body = await query(http, system_user, params)
    assert [i["id"] for i in body["instances"]] == [own["id"]]
    own_path = f"{INSTANCES}/{own['id']}"
    assert (await http.get(own_path, headers=system_user)).json()["id"] == own["id"]
    data_path = own["data"][0]["selfLinks"]["platform"].removeprefix(BASE)
    assert (await http.get(data_path, headers=system_user)).content == b"<a/>"
    elements = await http.get(f"{own_path}/dataelements", headers=system_user)
    assert elements.status_code == 200


async def test_system_user_gets_other_organisations_instances_filtered_or_forbidden(
    emu: Emulator, http: httpx.AsyncClient, system_user: dict[str, str]
) -> None:
    other = emu.add_instance("ttd", "app", party_id=50_500_002, organisation_number=DIGDIR)
    # The query runs; the PDP filters the page (no refusal, an empty page).
    body = await query(http, system_user, {"instanceOwner.partyId": "50500002"})
    assert body["count"] == 0
    assert body["instances"] == []
    assert (await http.get(f"{INSTANCES}/{other['id']}", headers=system_user)).status_code == 403


async def test_system_user_must_name_the_instance_owner(
    http: httpx.AsyncClient, system_user: dict[str, str]
) -> None:
    response = await http.get(INSTANCES, params={"org": "ttd"}, headers=system_user)
    assert response.status_code == 400
    assert response.json() == (
        "Either InstanceOwnerPartyId or InstanceOwnerIdentifier need to be defined."
    )


async def test_system_user_cannot_confirm_downloads(
    emu: Emulator, http: httpx.AsyncClient, system_user: dict[str, str]
) -> None:
    own = emu.add_instance("ttd", "app", party_id=CUSTOMER_PARTY, organisation_number=CUSTOMER)
    response = await http.post(f"{INSTANCES}/{own['id']}/complete", headers=system_user)
    assert response.status_code == 403


async def test_system_user_token_from_maskinporten_is_not_accepted(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMER)
    token = await maskinporten_token(
        http,
        client_key,
        clock.now,
        scope="test:scope",
        authorization_details=systemuser_details(CUSTOMER),
    )
    params = {"instanceOwner.partyId": str(CUSTOMER_PARTY)}
    response = await http.get(
        INSTANCES, params=params, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
