"""Generated instances pinned byte for byte: what a seeded set serves (listings and their links,
single instances, data elements, data, events, completion) must not change when the generator
or the renderer is reworked. A mismatch here means the output changed, not that the test is
stale: seeded sets are documented to give the same instances in every run.

The clock is frozen at a fixed moment so that nothing depends on when the test runs.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import Emulator
from altinn_async.testing._storage import generated
from altinn_async.testing._storage.render import instance_bytes, render_instance

from .conftest import CLIENT_ID, DIGDIR, INSTANCES, READ, WRITE, Clock, altinn_token

NOW = 1_750_000_000.0  # 2025-06-15T15:06:40Z
DAY = 86_400.0
EVENTS = "/platform/events/api/v1/app/digdir"
SUBSCRIBE = "altinn:events.subscribe"
# An app name JSON must escape (a quote, a backslash) and one it writes as UTF-8 (æøå).
ODD_APP = 'skjema-æøå"\\'


@pytest.fixture
def pinned_emu(client_key: RSAKey) -> Emulator:
    """Three seeded sets: a thousand, a million (the full owner population), and an odd name."""
    emu = Emulator(clock=Clock(NOW))
    emu.add_maskinporten_client(
        CLIENT_ID,
        org_number=DIGDIR,
        scopes=[READ, WRITE, SUBSCRIBE],
        jwks=[client_key.as_dict(private=False)],
    )
    emu.generate_instances("digdir", "pinned", 1000, seed=11, start=NOW - 20 * DAY, end=NOW - DAY)
    emu.generate_instances(
        "digdir", "million", 1_000_000, seed=5, start=NOW - 400 * DAY, end=NOW - 2 * DAY
    )
    emu.generate_instances("digdir", ODD_APP, 30, seed=2, start=NOW - 3 * DAY, end=NOW - DAY)
    return emu


@pytest.fixture
async def pinned_http(pinned_emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    transport = pinned_emu.transport()
    async with httpx.AsyncClient(transport=transport, base_url=pinned_emu.base_url) as client:
        yield client


@pytest.fixture
async def pinned_auth(pinned_http: httpx.AsyncClient, client_key: RSAKey) -> dict[str, str]:
    token = await altinn_token(pinned_http, client_key, NOW, scope=f"{READ} {WRITE} {SUBSCRIBE}")
    return {"Authorization": f"Bearer {token}"}


def compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


# A few rendered instances of the thousand, one of each kind of status and owner, as the listing
# and GET /instances/{partyId}/{guid} write them (compact JSON in exactly this member order).
PINNED_INSTANCES: dict[int, dict[str, Any]] = {
    0: {
        "id": "70000017/94107bcf-b597-490f-bf48-e72f9e84c727",
        "instanceOwner": {"partyId": "70000017", "organisationNumber": "312189909"},
        "appId": "digdir/pinned",
        "org": "digdir",
        "selfLinks": {
            "apps": "http://altinn.localhost/digdir/pinned/instances/70000017/94107bcf-b597-490f-bf48-e72f9e84c727",
            "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000017/94107bcf-b597-490f-bf48-e72f9e84c727",
        },
        "visibleAfter": "2025-06-14T14:51:24.349954Z",
        "process": {
            "started": "2025-06-14T14:51:24.349954Z",
            "startEvent": "StartEvent_1",
            "ended": "2025-06-14T15:00:23.133907Z",
            "endEvent": "EndEvent_1",
        },
        "status": {
            "isArchived": True,
            "archived": "2025-06-14T15:00:23.133907Z",
            "isSoftDeleted": False,
            "isHardDeleted": False,
            "readStatus": "Read",
        },
        "data": [
            {
                "id": "cb317a45-ee1c-4b0b-b4d1-56bb7321211a",
                "instanceGuid": "94107bcf-b597-490f-bf48-e72f9e84c727",
                "dataType": "model",
                "filename": "model.xml",
                "contentType": "application/xml",
                "blobStoragePath": (
                    "digdir/pinned/94107bcf-b597-490f-bf48-e72f9e84c727"
                    "/data/cb317a45-ee1c-4b0b-b4d1-56bb7321211a"
                ),
                "selfLinks": {
                    "apps": "http://altinn.localhost/digdir/pinned/instances/70000017/94107bcf-b597-490f-bf48-e72f9e84c727/data/cb317a45-ee1c-4b0b-b4d1-56bb7321211a",
                    "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000017/94107bcf-b597-490f-bf48-e72f9e84c727/data/cb317a45-ee1c-4b0b-b4d1-56bb7321211a",
                },
                "size": 137,
                "locked": True,
                "refs": [],
                "isRead": True,
                "tags": [],
                "fileScanResult": "NotApplicable",
                "created": "2025-06-14T14:51:24.349954Z",
                "createdBy": "70000017",
                "lastChanged": "2025-06-14T14:51:24.349954Z",
                "lastChangedBy": "70000017",
            }
        ],
        "created": "2025-06-14T14:51:24.349954Z",
        "createdBy": "70000017",
        "lastChanged": "2025-06-14T15:00:23.133907Z",
        "lastChangedBy": "70000017",
    },
    3: {
        "id": "70000254/b88ecb83-b84a-4956-addf-57e4adcd9f07",
        "instanceOwner": {"partyId": "70000254", "personNumber": "17831534699"},
        "appId": "digdir/pinned",
        "org": "digdir",
        "selfLinks": {
            "apps": "http://altinn.localhost/digdir/pinned/instances/70000254/b88ecb83-b84a-4956-addf-57e4adcd9f07",
            "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000254/b88ecb83-b84a-4956-addf-57e4adcd9f07",
        },
        "dueBefore": "2025-07-14T13:21:50.765905Z",
        "visibleAfter": "2025-06-14T13:21:50.765905Z",
        "process": {
            "started": "2025-06-14T13:21:50.765905Z",
            "startEvent": "StartEvent_1",
            "currentTask": {
                "flow": 2,
                "started": "2025-06-14T13:21:50.765905Z",
                "elementId": "Task_1",
                "name": "Utfylling",
                "altinnTaskType": "data",
                "flowType": "CompleteCurrentMoveToNext",
            },
        },
        "status": {
            "isArchived": False,
            "isSoftDeleted": False,
            "isHardDeleted": False,
            "readStatus": "Unread",
        },
        "data": [
            {
                "id": "463a779e-607c-4531-a2a7-ca4eb7735cd0",
                "instanceGuid": "b88ecb83-b84a-4956-addf-57e4adcd9f07",
                "dataType": "model",
                "filename": "model.xml",
                "contentType": "application/xml",
                "blobStoragePath": (
                    "digdir/pinned/b88ecb83-b84a-4956-addf-57e4adcd9f07"
                    "/data/463a779e-607c-4531-a2a7-ca4eb7735cd0"
                ),
                "selfLinks": {
                    "apps": "http://altinn.localhost/digdir/pinned/instances/70000254/b88ecb83-b84a-4956-addf-57e4adcd9f07/data/463a779e-607c-4531-a2a7-ca4eb7735cd0",
                    "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000254/b88ecb83-b84a-4956-addf-57e4adcd9f07/data/463a779e-607c-4531-a2a7-ca4eb7735cd0",
                },
                "size": 139,
                "locked": False,
                "refs": [],
                "isRead": True,
                "tags": [],
                "fileScanResult": "NotApplicable",
                "created": "2025-06-14T13:21:50.765905Z",
                "createdBy": "70000254",
                "lastChanged": "2025-06-14T13:21:50.765905Z",
                "lastChangedBy": "70000254",
            }
        ],
        "created": "2025-06-14T13:21:50.765905Z",
        "createdBy": "70000254",
        "lastChanged": "2025-06-14T13:30:11.909026Z",
        "lastChangedBy": "70000254",
    },
    14: {
        "id": "70000121/f98ba0d0-f273-4181-b5de-ee35d24e68c6",
        "instanceOwner": {"partyId": "70000121", "organisationNumber": "314449525"},
        "appId": "digdir/pinned",
        "org": "digdir",
        "selfLinks": {
            "apps": "http://altinn.localhost/digdir/pinned/instances/70000121/f98ba0d0-f273-4181-b5de-ee35d24e68c6",
            "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000121/f98ba0d0-f273-4181-b5de-ee35d24e68c6",
        },
        "visibleAfter": "2025-06-14T08:18:07.952731Z",
        "process": {
            "started": "2025-06-14T08:18:07.952731Z",
            "startEvent": "StartEvent_1",
            "currentTask": {
                "flow": 2,
                "started": "2025-06-14T08:18:07.952731Z",
                "elementId": "Task_1",
                "name": "Utfylling",
                "altinnTaskType": "data",
                "flowType": "CompleteCurrentMoveToNext",
            },
        },
        "status": {
            "isArchived": False,
            "isSoftDeleted": True,
            "softDeleted": "2025-06-14T08:26:04.128956Z",
            "isHardDeleted": False,
            "readStatus": "Unread",
        },
        "data": [
            {
                "id": "a7b79f2e-dd14-4143-8e01-f5654f5a10f6",
                "instanceGuid": "f98ba0d0-f273-4181-b5de-ee35d24e68c6",
                "dataType": "model",
                "filename": "model.xml",
                "contentType": "application/xml",
                "blobStoragePath": (
                    "digdir/pinned/f98ba0d0-f273-4181-b5de-ee35d24e68c6"
                    "/data/a7b79f2e-dd14-4143-8e01-f5654f5a10f6"
                ),
                "selfLinks": {
                    "apps": "http://altinn.localhost/digdir/pinned/instances/70000121/f98ba0d0-f273-4181-b5de-ee35d24e68c6/data/a7b79f2e-dd14-4143-8e01-f5654f5a10f6",
                    "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000121/f98ba0d0-f273-4181-b5de-ee35d24e68c6/data/a7b79f2e-dd14-4143-8e01-f5654f5a10f6",
                },
                "size": 140,
                "locked": False,
                "refs": [],
                "isRead": True,
                "tags": [],
                "fileScanResult": "NotApplicable",
                "created": "2025-06-14T08:18:07.952731Z",
                "createdBy": "70000121",
                "lastChanged": "2025-06-14T08:18:07.952731Z",
                "lastChangedBy": "70000121",
            }
        ],
        "created": "2025-06-14T08:18:07.952731Z",
        "createdBy": "70000121",
        "lastChanged": "2025-06-14T08:26:04.128956Z",
        "lastChangedBy": "70000121",
    },
    16: {
        "id": "70000279/d3aee33c-1d0d-4bea-9240-3bc323aef692",
        "instanceOwner": {"partyId": "70000279", "personNumber": "23835811697"},
        "appId": "digdir/pinned",
        "org": "digdir",
        "selfLinks": {
            "apps": "http://altinn.localhost/digdir/pinned/instances/70000279/d3aee33c-1d0d-4bea-9240-3bc323aef692",
            "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000279/d3aee33c-1d0d-4bea-9240-3bc323aef692",
        },
        "dueBefore": "2025-07-14T07:29:38.616852Z",
        "visibleAfter": "2025-06-14T07:29:38.616852Z",
        "process": {
            "started": "2025-06-14T07:29:38.616852Z",
            "startEvent": "StartEvent_1",
            "currentTask": {
                "flow": 2,
                "started": "2025-06-14T07:29:38.616852Z",
                "elementId": "Task_2",
                "name": "Utfylling",
                "altinnTaskType": "data",
                "flowType": "CompleteCurrentMoveToNext",
            },
        },
        "status": {
            "isArchived": False,
            "isSoftDeleted": False,
            "isHardDeleted": False,
            "readStatus": "Unread",
        },
        "data": [
            {
                "id": "791685ac-180e-4886-b916-4a5a3f57a7c0",
                "instanceGuid": "d3aee33c-1d0d-4bea-9240-3bc323aef692",
                "dataType": "model",
                "filename": "model.xml",
                "contentType": "application/xml",
                "blobStoragePath": (
                    "digdir/pinned/d3aee33c-1d0d-4bea-9240-3bc323aef692"
                    "/data/791685ac-180e-4886-b916-4a5a3f57a7c0"
                ),
                "selfLinks": {
                    "apps": "http://altinn.localhost/digdir/pinned/instances/70000279/d3aee33c-1d0d-4bea-9240-3bc323aef692/data/791685ac-180e-4886-b916-4a5a3f57a7c0",
                    "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000279/d3aee33c-1d0d-4bea-9240-3bc323aef692/data/791685ac-180e-4886-b916-4a5a3f57a7c0",
                },
                "size": 137,
                "locked": False,
                "refs": [],
                "isRead": True,
                "tags": [],
                "fileScanResult": "NotApplicable",
                "created": "2025-06-14T07:29:38.616852Z",
                "createdBy": "70000279",
                "lastChanged": "2025-06-14T07:29:38.616852Z",
                "lastChangedBy": "70000279",
            }
        ],
        "created": "2025-06-14T07:29:38.616852Z",
        "createdBy": "70000279",
        "lastChanged": "2025-06-14T07:36:53.308492Z",
        "lastChangedBy": "70000279",
    },
    35: {
        "id": "70000110/18463844-6d6e-4a47-93dd-8c197866475c",
        "instanceOwner": {"partyId": "70000110", "personNumber": "01848149213"},
        "appId": "digdir/pinned",
        "org": "digdir",
        "selfLinks": {
            "apps": "http://altinn.localhost/digdir/pinned/instances/70000110/18463844-6d6e-4a47-93dd-8c197866475c",
            "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000110/18463844-6d6e-4a47-93dd-8c197866475c",
        },
        "visibleAfter": "2025-06-13T22:47:51.878547Z",
        "process": {
            "started": "2025-06-13T22:47:51.878547Z",
            "startEvent": "StartEvent_1",
            "ended": "2025-06-13T22:50:22.894694Z",
            "endEvent": "EndEvent_1",
        },
        "status": {
            "isArchived": True,
            "archived": "2025-06-13T22:50:22.894694Z",
            "isSoftDeleted": True,
            "softDeleted": "2025-06-13T22:50:22.894694Z",
            "isHardDeleted": False,
            "readStatus": "Read",
        },
        "data": [
            {
                "id": "30ba4d5b-0049-4b58-878c-9eb6543fdc04",
                "instanceGuid": "18463844-6d6e-4a47-93dd-8c197866475c",
                "dataType": "model",
                "filename": "model.xml",
                "contentType": "application/xml",
                "blobStoragePath": (
                    "digdir/pinned/18463844-6d6e-4a47-93dd-8c197866475c"
                    "/data/30ba4d5b-0049-4b58-878c-9eb6543fdc04"
                ),
                "selfLinks": {
                    "apps": "http://altinn.localhost/digdir/pinned/instances/70000110/18463844-6d6e-4a47-93dd-8c197866475c/data/30ba4d5b-0049-4b58-878c-9eb6543fdc04",
                    "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000110/18463844-6d6e-4a47-93dd-8c197866475c/data/30ba4d5b-0049-4b58-878c-9eb6543fdc04",
                },
                "size": 139,
                "locked": True,
                "refs": [],
                "isRead": True,
                "tags": [],
                "fileScanResult": "NotApplicable",
                "created": "2025-06-13T22:47:51.878547Z",
                "createdBy": "70000110",
                "lastChanged": "2025-06-13T22:47:51.878547Z",
                "lastChangedBy": "70000110",
            }
        ],
        "created": "2025-06-13T22:47:51.878547Z",
        "createdBy": "70000110",
        "lastChanged": "2025-06-13T22:50:22.894694Z",
        "lastChangedBy": "70000110",
    },
    71: {
        "id": "70000282/bfab39f0-c370-45b2-9a0a-e4ab80790acf",
        "instanceOwner": {"partyId": "70000282", "organisationNumber": "318933472"},
        "appId": "digdir/pinned",
        "org": "digdir",
        "selfLinks": {
            "apps": "http://altinn.localhost/digdir/pinned/instances/70000282/bfab39f0-c370-45b2-9a0a-e4ab80790acf",
            "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000282/bfab39f0-c370-45b2-9a0a-e4ab80790acf",
        },
        "dueBefore": "2025-07-13T06:30:00.772673Z",
        "visibleAfter": "2025-06-13T06:30:00.772673Z",
        "process": {
            "started": "2025-06-13T06:30:00.772673Z",
            "startEvent": "StartEvent_1",
            "ended": "2025-06-13T06:37:55.453788Z",
            "endEvent": "EndEvent_1",
        },
        "status": {
            "isArchived": True,
            "archived": "2025-06-13T06:37:55.453788Z",
            "isSoftDeleted": False,
            "isHardDeleted": False,
            "readStatus": "Read",
        },
        "data": [
            {
                "id": "72d73593-9a6a-428e-a3a2-ec267e1e3f07",
                "instanceGuid": "bfab39f0-c370-45b2-9a0a-e4ab80790acf",
                "dataType": "model",
                "filename": "model.xml",
                "contentType": "application/xml",
                "blobStoragePath": (
                    "digdir/pinned/bfab39f0-c370-45b2-9a0a-e4ab80790acf"
                    "/data/72d73593-9a6a-428e-a3a2-ec267e1e3f07"
                ),
                "selfLinks": {
                    "apps": "http://altinn.localhost/digdir/pinned/instances/70000282/bfab39f0-c370-45b2-9a0a-e4ab80790acf/data/72d73593-9a6a-428e-a3a2-ec267e1e3f07",
                    "platform": "http://altinn.localhost/platform/storage/api/v1/instances/70000282/bfab39f0-c370-45b2-9a0a-e4ab80790acf/data/72d73593-9a6a-428e-a3a2-ec267e1e3f07",
                },
                "size": 139,
                "locked": True,
                "refs": [],
                "isRead": True,
                "tags": [],
                "fileScanResult": "NotApplicable",
                "created": "2025-06-13T06:30:00.772673Z",
                "createdBy": "70000282",
                "lastChanged": "2025-06-13T06:30:00.772673Z",
                "lastChangedBy": "70000282",
            }
        ],
        "created": "2025-06-13T06:30:00.772673Z",
        "createdBy": "70000282",
        "lastChanged": "2025-06-13T06:37:55.453788Z",
        "lastChangedBy": "70000282",
    },
}


async def test_pinned_instances_render_byte_for_byte(
    pinned_http: httpx.AsyncClient, pinned_auth: dict[str, str]
) -> None:
    listing = await pinned_http.get(
        INSTANCES, params={"appId": "digdir/pinned", "size": "1000"}, headers=pinned_auth
    )
    assert listing.status_code == 200
    instances = listing.json()["instances"]
    assert len(instances) == 1000
    for position, expected in PINNED_INSTANCES.items():
        raw = compact(instances[position])
        assert raw == compact(expected), position
        # The listing writes the instance verbatim, and so does the single-instance GET.
        assert raw in listing.content
        one = await pinned_http.get(
            instances[position]["selfLinks"]["platform"], headers=pinned_auth
        )
        assert one.content == raw


async def transcript(http: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, bytes]:
    """The raw bodies (and next links) of a fixed series of requests, by label."""
    out: dict[str, bytes] = {}

    async def record(label: str, url: str, params: Any = None) -> httpx.Response:
        response = await http.get(url, params=params, headers=auth)
        assert response.status_code == 200, (label, response.text)
        body = response.content + b"\n" + response.headers.get("next", "").encode() + b"\n"
        out[label] = out.get(label, b"") + body
        return response

    async def walk(label: str, params: Any, limit: int = 1000) -> list[dict[str, Any]]:
        """Follow ``next`` verbatim (up to ``limit`` pages), recording every page."""
        response = await record(label, INSTANCES, params)
        instances: list[dict[str, Any]] = list(response.json()["instances"])
        pages = 1
        while response.json()["next"] is not None and pages < limit:
            response = await record(label, response.json()["next"])
            instances.extend(response.json()["instances"])
            pages += 1
        return instances

    pinned = {"appId": "digdir/pinned"}
    everything = await walk("pinned", {**pinned, "size": "97"})
    some = everything[137]
    party = some["instanceOwner"]["partyId"]
    for number, params in enumerate(
        [
            {"process.isComplete": "true"},
            {"process.isComplete": "false", "size": "33"},
            {"status.isSoftDeleted": "true"},
            {"status.isArchived": "false"},
            {"process.currentTask": "Task_2"},
            {"process.currentTask": "Task_1", "status.isSoftDeleted": "true"},
            {"instanceOwner.partyId": party},
            {"process.ended": "lt:2025-06-05T00:00:00Z", "size": "40"},
            {"dueBefore": "gt:2025-07-10T00:00:00Z"},
            {"visibleAfter": "lte:2025-06-01T12:00:00Z", "process.isComplete": "true"},
            {"created": "gte:2025-06-02T00:00:00Z", "size": "200"},
            {"lastChanged": f"eq:{some['lastChanged']}"},
        ]
    ):
        await walk(f"pinned-filter-{number}", {**pinned, "size": "50", **params})
    million = {"appId": "digdir/million", "size": "1000"}
    await walk("million-newest", million, limit=2)
    await walk("million-far", {**million, "created": "lt:2024-06-01T00:00:00Z"}, limit=2)
    await walk("million-oldest", {**million, "lastChanged": "lte:2024-05-12T00:00:00Z"}, limit=1)
    first = (await http.get(INSTANCES, params=million, headers=auth)).json()["instances"]
    await walk("million-party", {**million, "instanceOwner.partyId": first[3]["id"].split("/")[0]})
    await walk("odd", {"appId": f"digdir/{ODD_APP}", "size": "7"})
    for label, instance in (("pinned-one", some), ("million-one", first[999])):
        url = instance["selfLinks"]["platform"]
        await record(f"{label}", url)
        await record(f"{label}-elements", f"{url}/dataelements")
        await record(f"{label}-data", instance["data"][0]["selfLinks"]["platform"])
    for label, params in (
        ("events-all", {"from": "2000-01-01T00:00:00Z", "size": "250"}),
        ("events-million", {"from": "2024-09-01T00:00:00Z", "size": "300"}),
        ("events-party", {"from": "2000-01-01T00:00:00Z", "party": party, "size": "20"}),
    ):
        app = "million" if label == "events-million" else "pinned"
        await record(label, f"{EVENTS}/{app}", params)
    completed = await http.post(f"{some['selfLinks']['platform']}/complete", headers=auth)
    assert completed.status_code == 200
    out["complete"] = completed.content
    await walk("pinned-after-complete", {**pinned, "size": "500"})
    return out


# SHA-256 of each labelled body of `transcript`.
PINNED_DIGESTS: dict[str, str] = {
    "pinned": "fbb24e48605ea53e9b05b0cbb17cd303dfae94022bf660dc5a38a16e1384d658",
    "pinned-filter-0": "0ca6a0e5445a9f2785f8abac37769660e2964ee8d2f6d74988fabe44d8278bac",
    "pinned-filter-1": "4ed95da1ef09835b8a742dc0a47acdc8aceeecae11fba6e308688cc2cc97238a",
    "pinned-filter-2": "061061dbea18a195ac20a197ccfbee0989207b9990181a52cf5a78dfa68abae2",
    "pinned-filter-3": "2e8a09ff40bf0e8f700729aef5957ada845cf43a4afd6b1f85ad59880fcd41d5",
    "pinned-filter-4": "72cd7ef813eeccb7655f3ff6edc7c33dff88d42825ef7f66c071a088991cbf23",
    "pinned-filter-5": "77cb555faca54b39cb571c4caa6b8091f69e0d7f091201a6d48f1d7e234df0c9",
    "pinned-filter-6": "12a9d8a9de8125cb55d8acaaae45dabe7bf1d97373689e1c1c03a45c0648bef1",
    "pinned-filter-7": "83306850cc221cb58f297041ae94ed3651d8a50b0a6c63eb6080f6c23e50ab61",
    "pinned-filter-8": "81925d76e997b8ebe4de79f475ad2213328edf656ed2911229f5dfbf6f9628d5",
    "pinned-filter-9": "c223d0c61d64a86b2b27de2df4abb9ed384281533deaa1e669d35e090f830ff5",
    "pinned-filter-10": "dda32264767ef8b140475785c105acd307c1a2bf14d85a05f22cc097847b5a28",
    "pinned-filter-11": "37a9980d458d5a4e5426f7cadfd4edeedb134b4ecfcaa262ddbe5899df3a512c",
    "million-newest": "4754d2203cb4baeb9c3dcb4b0fdc0a0e71634272e2316814f90a35659a4f31f4",
    "million-far": "7f26ead1171accb3b78ea0309d0a4d5711365ecaedc14147ffdff98145a41b16",
    "million-oldest": "d5d2dbb7c6c8ef2ecf4ec3099725a98ea54155b3e71c34d6872761c8597586b5",
    "million-party": "a6e6fcbedc790e384be45d820f183aebe17ab5255bc40b1788e46b81d4b363f0",
    "odd": "a39e3fe491e083d0aecec23514ddfe95d6296ab17a4ab98f73f642c58af4d955",
    "pinned-one": "e71423d72b5ef8bc27fce6c6bb75dd717f492cb06d12552883be372d876c7f9b",
    "pinned-one-elements": "ee3a37846e99e77ce10cf12ec0e7f340c636afa4079310f15295c3d92e90dc0d",
    "pinned-one-data": "1d6450d1eb645d68c74432b3b100cc0f684c43089250995eb808b10c5de375cc",
    "million-one": "309fc0ad21d6228e93ce31daecb1ac63377024629edda2a587941562332dfe6d",
    "million-one-elements": "2fe0504f92bb46da40c1f846889a828645ab275fb18d8c1c76f5e9c447b64f96",
    "million-one-data": "cc0f0bd23595280ee287ed5e08062b8e5c1ed0801489347aad4b1bc54c2eba3c",
    "events-all": "4e5efda30dbb1cb73881e6821f0ce3eb6a42c444bf52d80fc3e32e8f4da3a529",
    "events-million": "ab285cbf1e6b65b543d3e3447e1c38854133cb8936aab89350f58ade6559eb64",
    "events-party": "2d82f0f94061edddc127729a690998c81729d62030b2e8b50e586bed030cb66b",
    "complete": "31688ed0ecfa69e959aedc80f010461372ee839aa7b232897a7bd874493e84a2",
    "pinned-after-complete": "38108e979ce976b3b04ba23848403b09836ed8f79504a52a0fa2f2980619ad0a",
}


async def test_a_seeded_transcript_is_pinned(
    pinned_http: httpx.AsyncClient, pinned_auth: dict[str, str]
) -> None:
    bodies = await transcript(pinned_http, pinned_auth)
    digests = {label: hashlib.sha256(body).hexdigest() for label, body in bodies.items()}
    assert digests == PINNED_DIGESTS


async def test_each_origin_gets_the_same_instances_with_its_own_links(
    pinned_emu: Emulator, pinned_http: httpx.AsyncClient, pinned_auth: dict[str, str]
) -> None:
    params = {"appId": "digdir/pinned", "size": "300"}
    here = await pinned_http.get(INSTANCES, params=params, headers=pinned_auth)
    for origin in ("http://127.0.0.1:9999", "https://altinn.localhost:8443", pinned_emu.base_url):
        async with httpx.AsyncClient(transport=pinned_emu.transport(), base_url=origin) as other:
            there = await other.get(INSTANCES, params=params, headers=pinned_auth)
        assert there.status_code == 200
        assert there.content == here.content.replace(pinned_emu.base_url.encode(), origin.encode())


# -- the building blocks against the implementations they replaced -------------------------------


def _reference_mod11(digits: str, weights: tuple[int, ...]) -> int | None:
    check = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return None if check == 10 else check % 11


def _reference_person_number(seed: int) -> str:
    day, month, year = 1 + seed % 28, 1 + (seed >> 5) % 12, (seed >> 9) % 100
    individual = (seed >> 16) % 500
    while True:
        base = f"{day:02d}{month + 80:02d}{year:02d}{individual:03d}"
        first = _reference_mod11(base, (3, 7, 6, 1, 8, 9, 4, 5, 2))
        if first is not None:
            second = _reference_mod11(f"{base}{first}", (5, 4, 3, 2, 7, 6, 5, 4, 3, 2))
            if second is not None:
                return f"{base}{first}{second}"
        individual = (individual + 1) % 1000


def _reference_organisation_number(seed: int) -> str:
    body = 31_000_000 + seed % 1_000_000
    while True:
        check = _reference_mod11(str(body), (3, 2, 7, 6, 5, 4, 3, 2))
        if check is not None:
            return f"{body}{check}"
        body += 1


def test_the_whole_owner_population_is_what_it_was() -> None:
    for k in range(generated.MAX_PARTIES):
        digest = hashlib.blake2b(k.to_bytes(8, "big"), key=b"generated-parties", digest_size=8)
        seed = int.from_bytes(digest.digest(), "big") >> 8
        owner = generated.party_owner.__wrapped__(k)
        assert generated.party_owner.__wrapped__(k) == owner  # read back from the memo
        assert owner.party_id == generated.PARTY_BASE + k
        if owner.person_number is not None:
            assert owner.person_number == _reference_person_number(seed), k
        else:
            assert owner.organisation_number == _reference_organisation_number(seed), k


def _reference_guid(key: bytes, tag: int, index: int, what: int) -> str:
    half = (1 << 61) - 1
    value = (tag << 64) | (index << 2) | what
    left, right = value >> 61, value & half
    for step in range(4):
        data = step.to_bytes(1, "big") + right.to_bytes(8, "big")
        mixed_in = hashlib.blake2b(data, key=key, digest_size=8).digest()
        left, right = right, left ^ (int.from_bytes(mixed_in, "big") & half)
    mixed = (left << 61) | right
    number = (
        ((mixed >> 74) << 80)
        | (4 << 76)
        | (((mixed >> 62) & 0xFFF) << 64)
        | (0b10 << 62)
        | (mixed & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=number))


@pytest.mark.parametrize(("seed", "count"), [(0, 1), (11, 1000), (5, 1_000_000), (-3, 10**9)])
def test_guids_are_what_they_were_and_decode(seed: int, count: int) -> None:
    made = generated.GeneratedInstances(
        "digdir", "app", count, seed=seed, number=1, start_us=0, end_us=count * 100, base_id=7
    )
    rng = random.Random(seed)  # noqa: S311 - test values
    indices = {0, count - 1, *(rng.randrange(count) for _ in range(2000))}
    for index in indices:
        for what in range(4):
            guid = made.guid(index, what)
            assert guid == _reference_guid(made._key, made._tag, index, what)
            assert made.decode(guid) == (index, what)
            assert made.decode(guid.upper()) == (index, what)
    assert made.decode(str(uuid.UUID(int=12345, version=4))) is None
    assert made.decode("not a guid") is None


# -- rendered straight from the set, as the document renders ------------------------------------

_FILTERED = (
    "internal_id",
    "guid",
    "party_id",
    "org",
    "app",
    "created",
    "last_changed",
    "visible_after",
    "due_before",
    "ended",
    "current_task",
    "is_archived",
    "is_soft_deleted",
    "is_hard_deleted",
    "confirmed_by",
    "owner_org_number",
)


@pytest.mark.parametrize(
    ("org", "app", "count", "start_us", "end_us"),
    [
        ("digdir", "pinned", 1000, 1_748_000_000_000_000, 1_749_000_000_000_000),
        ("digdir", "million", 1_000_000, 1_715_000_000_000_000, 1_749_000_000_000_000),
        ("ttd", ODD_APP, 5000, 1_749_000_000_000_000, 1_749_000_000_100_000),  # 20 µs apart
        ("Dígdir", "før-1970", 3000, -86_400_000_000_000, -86_000_000_000_000),
        ("ttd", "år-2300", 3000, 10_400_000_000_000_000, 10_400_000_100_000_000),
    ],
)
def test_rendering_straight_from_the_set_is_rendering_the_document(
    org: str, app: str, count: int, start_us: int, end_us: int
) -> None:
    made = generated.GeneratedInstances(
        org, app, count, seed=3, number=2, start_us=start_us, end_us=end_us, base_id=40
    )
    rng = random.Random(count)  # noqa: S311 - test values
    indices = {0, count - 1, *range(200), *(rng.randrange(count) for _ in range(1500))}
    origins = ("http://altinn.localhost", "https://127.0.0.1:8443", 'http://"odd"\\')
    for index in sorted(indices):
        instance = made.instance(index)
        derived = instance.generated
        assert derived is not None
        # The fields queries filter on are what building the spec makes of it.
        reference = made._spec(derived).build(org, app, made.base_id + index)
        for name in _FILTERED:
            assert getattr(instance, name) == getattr(reference, name), (index, name)
        assert instance.content is None  # nothing built yet
        for origin in origins:
            straight = instance_bytes(instance, origin)
            assert straight == compact(render_instance(reference, origin)), (index, origin)
            assert straight == compact(render_instance(instance, origin)), (index, origin)
        assert instance.document == reference.document
        assert instance.data.keys() == reference.data.keys()
        (element,) = instance.data.values()
        assert element.content == next(iter(reference.data.values())).content
