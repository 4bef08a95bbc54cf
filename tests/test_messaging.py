"""Altinn 3 messaging end to end against the emulator: a system user's one grant, exchanged
once, lists its parties, walks Dialogporten's keyset pages, reads dialogs and their
correspondences, downloads attachments, and harvests a whole mailbox exactly once."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import altinn_async as altinn
from altinn_async._harvest import Checkpoint
from altinn_async.testing import Emulator

from .helpers import signing_key

VENDOR = "vendor-system"
VENDOR_ORG = "991825827"
CUSTOMER = "310000001"
SUBUNIT = "310000002"
OTHER = "310000009"
SCOPES = [
    "digdir:dialogporten",
    "altinn:correspondence.read",
    "altinn:accessmanagement/authorizedparties",
    "altinn:instances.read",
]
CUSTOMER_URN = f"urn:altinn:organization:identifier-no:{CUSTOMER}"
SUBUNIT_URN = f"urn:altinn:organization:identifier-no:{SUBUNIT}"
OTHER_URN = f"urn:altinn:organization:identifier-no:{OTHER}"
RESOURCE = "skd-melding"
DAY = 86_400.0


@attrs.define
class World:
    emulator: Emulator
    http: httpx.AsyncClient
    tmp: Path

    @property
    def dialogporten(self) -> altinn.Dialogporten:
        return altinn.Dialogporten(self.http)

    @property
    def correspondence(self) -> altinn.CorrespondenceClient:
        return altinn.CorrespondenceClient(self.http)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    emulator = Emulator()
    key = signing_key()
    emulator.add_maskinporten_client(
        VENDOR, org_number=VENDOR_ORG, scopes=SCOPES, jwks=[key.public_jwk]
    )
    emulator.add_organization(CUSTOMER, name="MOTTAKER AS")
    emulator.add_organization(SUBUNIT, name="MOTTAKER AS AVD BERGEN", parent=CUSTOMER)
    emulator.add_organization(OTHER, name="ANDRE AS")
    emulator.add_system_user(client_id=VENDOR, customer_org=CUSTOMER)
    async with (
        httpx.AsyncClient(transport=emulator.transport()) as token_http,
        altinn.AltinnExchangeAuth(
            altinn.MaskinportenAuth(
                client_id=VENDOR,
                key=key,
                scopes=SCOPES,
                environment=emulator.environment,
                http_client=token_http,
                authorization_details=altinn.SystemUser(CUSTOMER),
            )
        ) as auth,
        httpx.AsyncClient(
            transport=emulator.transport(), auth=auth, base_url=emulator.environment.platform
        ) as http,
    ):
        yield World(emulator, http, tmp_path)


# --- parties ------------------------------------------------------------------------------------


async def test_the_system_user_acts_for_its_organisation_and_its_subunits(world: World) -> None:
    parties = await altinn.AuthorizedPartiesClient(world.http).mine()
    assert [party.organization_number for party in parties] == [CUSTOMER]
    assert [p.urn for p in altinn.flatten(parties)] == [CUSTOMER_URN, SUBUNIT_URN]
    assert parties[0].subunits[0].name == "MOTTAKER AS AVD BERGEN"
    assert world.emulator.requests["maskinporten.token"] == 1
    assert world.emulator.requests["authentication.exchange"] == 1


# --- Dialogporten's keyset paging ---------------------------------------------------------------


async def test_a_keyset_walk_lists_every_dialog_once_in_a_stable_order(world: World) -> None:
    emulator = world.emulator
    ids = set(emulator.generate_dialogs(CUSTOMER_URN, 130, seed=1, service_resource=RESOURCE))
    ids |= set(emulator.generate_dialogs(SUBUNIT_URN, 40, seed=2, service_resource=RESOURCE))
    emulator.generate_dialogs(OTHER_URN, 30, seed=3)  # not the system user's
    pager = world.dialogporten.search(
        party=[CUSTOMER, SUBUNIT, OTHER], order_by="createdAt_asc,id_asc", limit=7
    )
    seen = [dialog async for dialog in pager]
    assert len(seen) == len(ids) == 170
    assert {d.id for d in seen} == ids
    keys = [(d.raw_time("createdAt"), d.id) for d in seen]
    assert keys == sorted(keys)  # UTC 'o' strings sort as the times do
    assert pager.position is None
    # The last page's token stays: a later search from it lists only what came since.
    last = pager.continuation_token
    assert last is not None
    assert last.startswith("createdat_")
    assert last.endswith(f"id_{seen[-1].id}")
    newer = emulator.add_dialog(CUSTOMER_URN, service_resource=RESOURCE, title="Ny melding")
    later = world.dialogporten.search(
        party=[CUSTOMER, SUBUNIT], order_by="createdAt_asc,id_asc", continuation_token=last
    )
    assert [d.id async for d in later] == [newer]


async def test_a_walk_resumes_from_its_position_and_from_a_rebuilt_token(world: World) -> None:
    world.emulator.generate_dialogs(CUSTOMER_URN, 60, seed=4)
    order = "createdAt_asc,id_asc"
    everything = [d async for d in world.dialogporten.search(party=CUSTOMER, order_by=order)]
    first = world.dialogporten.search(party=CUSTOMER, order_by=order, limit=25)
    taken = (await anext(first.pages())).items
    assert first.position is not None
    rest = [d async for d in world.dialogporten.search(resume_from=first.position)]
    assert [d.id for d in taken + rest] == [d.id for d in everything]
    # A token lost, rebuilt from the last item kept.
    token = altinn.continuation_token_for(taken[-1], order)
    rebuilt = world.dialogporten.search(party=CUSTOMER, order_by=order, continuation_token=token)
    assert [d.id async for d in rebuilt] == [d.id for d in rest]


async def test_parties_the_caller_may_not_act_for_are_left_out_silently(world: World) -> None:
    world.emulator.generate_dialogs(OTHER_URN, 5, seed=5)
    assert [d async for d in world.dialogporten.search(party=OTHER)] == []


async def test_a_dialog_is_read_whole_and_reading_it_only_logs_that_it_was_seen(
    world: World,
) -> None:
    emulator = world.emulator
    dialog_id = emulator.add_dialog(
        CUSTOMER_URN,
        service_resource=RESOURCE,
        title={"nb": "Vedtak", "en": "Decision"},
        transmissions=[{"type": "Decision", "title": "Vedtak", "createdAt": emulator_now(world)}],
    )
    listed = [d async for d in world.dialogporten.search(party=CUSTOMER)]
    dialog = await world.dialogporten.dialog(dialog_id)
    assert dialog.title == "Vedtak"
    assert altinn.Dialogporten(world.http, languages="en").languages == ("en",)
    assert [t.type for t in dialog.transmissions] == ["Decision"]
    assert dialog.revision
    assert dialog.updated_at == listed[0].updated_at  # reading does not change the dialog
    assert len(emulator.dialog_seen_log(dialog_id)) == 1
    claims = emulator.verify_dialog_token(
        dialog.token or "", "http://altinn.localhost", emulator_now(world)
    )
    assert claims is not None
    assert claims["i"] == dialog_id
    assert "read" in claims["a"].split(";")


def emulator_now(world: World) -> float:
    del world
    return dt.datetime.now(dt.UTC).timestamp()


# --- Correspondence through its dialog ----------------------------------------------------------


async def test_a_correspondence_is_reached_from_its_dialog_and_downloaded_checked(
    world: World,
) -> None:
    emulator = world.emulator
    body = b"%PDF-1.7 vedtak"
    correspondence_id = emulator.add_correspondence(
        CUSTOMER, resource=RESOURCE, title="Vedtak", attachments={"vedtak.pdf": body}
    )
    (listed,) = [d async for d in world.dialogporten.search(party=CUSTOMER)]
    assert listed.service_resource_type == "CorrespondenceService"
    dialog = await world.dialogporten.dialog(listed.id)
    assert dialog.correspondence_id == correspondence_id
    correspondence = await world.correspondence.get(correspondence_id)
    assert correspondence.dialog_id == dialog.id
    (attachment,) = correspondence.content.attachments
    assert attachment.checksum == hashlib.md5(body).hexdigest()  # noqa: S324 - Altinn's checksum
    path = await world.correspondence.download(correspondence, attachment, world.tmp)
    assert path.read_bytes() == body
    # Reading set Fetched (and the download its status); nothing marked it read.
    statuses = emulator.correspondence_statuses(correspondence_id)
    assert "Fetched" in statuses
    assert "Read" not in statuses
    # Read and confirmed only when asked, explicitly.
    await world.correspondence.mark_as_read(correspondence_id)
    assert "Read" in emulator.correspondence_statuses(correspondence_id)


async def test_the_dialog_token_opens_its_correspondence_and_nothing_else(world: World) -> None:
    emulator = world.emulator
    mine = emulator.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"a.txt": b"a"})
    other = emulator.add_correspondence(CUSTOMER, resource=RESOURCE)
    listed = [d async for d in world.dialogporten.search(party=CUSTOMER)]
    dialogs = [await world.dialogporten.dialog(d.id) for d in listed]
    (dialog,) = [d for d in dialogs if d.correspondence_id == mine]
    async with httpx.AsyncClient(
        transport=emulator.transport(),
        auth=altinn.DialogTokenAuth(dialog),
        base_url=emulator.environment.platform,
    ) as http:
        client = altinn.CorrespondenceClient(http)
        assert (await client.get(mine)).id == mine
        with pytest.raises(altinn.APIError) as refused:
            await client.get(other)
    assert refused.value.status_code == 401


# --- harvesting a mailbox -----------------------------------------------------------------------


def seed_mailbox(emulator: Emulator) -> set[str]:
    """Correspondences with attachments for the organisation and its sub-unit, an app's
    dialogs without, and a dialog of another organisation; the dialogs the system user sees."""
    now = dt.datetime.now(dt.UTC).timestamp()
    seen = set(
        emulator.generate_mailbox(
            CUSTOMER, 90, seed=11, resource=RESOURCE, start=now - 10 * DAY, end=now
        )
    )
    seen |= set(
        emulator.generate_mailbox(SUBUNIT, 25, seed=12, resource=RESOURCE, start=now - 5 * DAY)
    )
    seen |= set(emulator.generate_dialogs(CUSTOMER_URN, 20, seed=13, attachments_per_dialog=(0, 0)))
    emulator.generate_mailbox(OTHER, 10, seed=14, resource=RESOURCE)
    return seen


def mailbox_sources(world: World, since: dt.datetime) -> list[altinn.DialogportenMailbox]:
    return altinn.DialogportenMailbox.sources(
        world.dialogporten,
        [CUSTOMER_URN, SUBUNIT_URN],
        correspondence=world.correspondence,
        since=since,
        limit=20,
    )


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def harvest(world: World, since: dt.datetime, **options: Any) -> altinn.HarvestSummary:
    async with altinn.Harvest(
        mailbox_sources(world, since),
        sink=altinn.JsonLinesSink(world.tmp / "mailbox.jsonl"),
        files=world.tmp / "files",
        **options,
    ) as run:
        return await run.run()


async def test_a_mailbox_is_harvested_whole_with_its_attachments_and_nothing_marked_read(
    world: World,
) -> None:
    emulator = world.emulator
    expected = seed_mailbox(emulator)
    since = dt.datetime.now(dt.UTC)
    summary = await harvest(world, since)
    records = lines(world.tmp / "mailbox.jsonl")
    assert sorted(r["dialog"]["id"] for r in records) == sorted(expected)
    assert summary.complete
    for record in records:
        assert "dialogToken" not in record["dialog"]  # a bearer token is not for an archive
        correspondence = record["correspondence"]
        if record["dialog"]["serviceResourceType"] != "CorrespondenceService":
            assert correspondence is None
            continue
        by_id = {a["id"]: a for a in correspondence["content"]["attachments"]}
        assert {a["id"] for a in record["attachments"]} == set(by_id)
        for attachment in record["attachments"]:
            if attachment["status"] == "downloaded":
                data = (world.tmp / "files" / attachment["file"]).read_bytes()
                checksum = hashlib.md5(data).hexdigest()  # noqa: S324 - Altinn's checksum
                assert checksum == by_id[attachment["id"]]["checksum"]
            else:
                assert attachment["status"] == "expired"
    assert summary.files == sum(
        1 for r in records for a in r["attachments"] if a["status"] == "downloaded"
    )
    for name in ("correspondence.markasread", "correspondence.content", "correspondence.confirm"):
        assert emulator.requests[name] == 0
    assert emulator.requests["maskinporten.token"] == 1
    assert emulator.requests["authentication.exchange"] == 1


async def test_an_interrupted_mailbox_harvest_resumed_ends_with_exactly_the_full_mailbox(
    world: World,
) -> None:
    emulator = world.emulator
    expected = seed_mailbox(emulator)
    since = dt.datetime.now(dt.UTC)
    # Stopped part way, then broken by a failing search, then resumed to the end.
    first = await harvest(world, since, max_items=37)
    assert first.items == 37
    assert not first.complete
    emulator.inject_fault("dialogporten.search", status=500, times=50)
    with pytest.raises(altinn.HarvestError):
        await harvest(world, since, resume=True)
    emulator.clear_faults()
    emulator.inject_fault("correspondence.overview", status=503, times=3)
    last = await harvest(world, since, resume=True)
    assert last.complete
    ids = [r["dialog"]["id"] for r in lines(world.tmp / "mailbox.jsonl")]
    assert len(ids) == len(set(ids))
    assert set(ids) == expected


async def test_later_runs_write_each_changed_dialog_once_per_revision(world: World) -> None:
    emulator = world.emulator
    expected = seed_mailbox(emulator)
    since = dt.datetime.now(dt.UTC)
    await harvest(world, since)
    changed = sorted(expected)[:3]
    for dialog_id in changed:
        emulator.update_dialog(dialog_id, status="Completed")
    new = emulator.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"ny.txt": b"ny"})
    for _ in range(2):  # the second run finds nothing new: the overlap is deduplicated
        await harvest(world, since, resume=True)
    records = lines(world.tmp / "mailbox.jsonl")
    revisions = [(r["dialog"]["id"], r["dialog"]["revision"]) for r in records]
    assert len(revisions) == len(set(revisions))
    by_id: dict[str, list[str]] = {}
    for dialog_id, revision in revisions:
        by_id.setdefault(dialog_id, []).append(revision)
    assert sorted(i for i, revs in by_id.items() if len(revs) == 2) == changed
    assert len(by_id) == len(expected) + 1
    (new_record,) = [
        r for r in records if r["correspondence"] and r["correspondence"]["correspondenceId"] == new
    ]
    assert new_record["attachments"][0]["status"] == "downloaded"


async def test_a_person_logged_in_with_idporten_reads_their_own_mailbox(tmp_path: Path) -> None:
    emulator = Emulator()
    emulator.add_idporten_client(
        "web",
        client_secret="web-secret",
        redirect_uris=["https://app.example/callback"],
        scopes=["openid", "digdir:dialogporten", "altinn:correspondence.read"],
    )
    person = emulator.person()
    mine = emulator.add_correspondence(
        person.pid, resource=RESOURCE, attachments={"brev.txt": b"hei"}
    )
    emulator.add_correspondence(CUSTOMER, resource=RESOURCE)  # not theirs
    async with (
        httpx.AsyncClient(transport=emulator.transport()) as token_http,
        altinn.IDPortenClient(
            client_id="web",
            client_secret="web-secret",
            redirect_uri="https://app.example/callback",
            scopes=["openid", "digdir:dialogporten", "altinn:correspondence.read"],
            environment=emulator.environment,
            http_client=token_http,
        ) as idporten,
    ):
        login = idporten.start_login()
        callback = await emulator.idporten_login(login.url)
        await idporten.complete_login(callback, login, session_key="person")
        async with (
            altinn.AltinnExchangeAuth(idporten.session("person")) as auth,
            httpx.AsyncClient(
                transport=emulator.transport(), auth=auth, base_url=emulator.environment.platform
            ) as http,
        ):
            dialogporten = altinn.Dialogporten(http)
            found = [d async for d in dialogporten.search(party=person.pid)]
            assert [d.party for d in found] == [f"urn:altinn:person:identifier-no:{person.pid}"]
            dialog = await dialogporten.dialog(found[0].id)
            assert dialog.correspondence_id == mine
            correspondence = await altinn.CorrespondenceClient(http).get(mine)
            (attachment,) = correspondence.content.attachments
            path = await altinn.CorrespondenceClient(http).download(
                correspondence, attachment, tmp_path
            )
            assert path.read_bytes() == b"hei"
            # Nothing else is theirs.
            assert [d async for d in dialogporten.search(party=CUSTOMER)] == []
    assert emulator.requests["authentication.exchange"] == 1
    assert person.pid not in repr(found[0])


async def test_an_app_dialogs_attachments_come_from_storage_and_only_from_the_platform(
    world: World,
) -> None:
    emulator = world.emulator
    now = emulator_now(world)
    instance = emulator.add_instance(
        "ttd", "skjema", data=b"<Skjema/>", filename="skjema.xml", organisation_number=CUSTOMER
    )
    data_url = instance["data"][0]["selfLinks"]["platform"]
    platform_url = "{platform}" + data_url.partition("/platform")[2]

    def attachment(name: str, url: str, **extra: Any) -> dict[str, Any]:
        media = "application/xml"
        return {
            "name": name,
            "urls": [{"url": url, "mediaType": media, "consumerType": "Api"}],
            **extra,
        }

    dialog_id = emulator.add_dialog(
        CUSTOMER_URN,
        service_resource="urn:altinn:resource:app_ttd_skjema",
        service_resource_type="AltinnApp",
        title="Skjema",
        attachments=[
            attachment("skjema.xml", platform_url),
            attachment("elsewhere.pdf", "https://example.invalid/a.pdf"),
            attachment("old.pdf", platform_url, expiresAt=now - DAY),
        ],
    )
    await harvest(world, dt.datetime.now(dt.UTC))
    (record,) = lines(world.tmp / "mailbox.jsonl")
    assert record["dialog"]["id"] == dialog_id
    statuses = {a["name"]: a["status"] for a in record["attachments"]}
    assert statuses == {
        "skjema.xml": "downloaded",
        "elsewhere.pdf": "elsewhere",  # the token is not sent to another host
        "old.pdf": "expired",
    }
    (downloaded,) = [a for a in record["attachments"] if a["status"] == "downloaded"]
    assert (world.tmp / "files" / downloaded["file"]).read_bytes() == b"<Skjema/>"


async def test_no_token_in_logs_reprs_errors_or_the_output(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    emulator = world.emulator
    emulator.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"a.txt": b"a"})
    caplog.set_level(logging.DEBUG)
    await harvest(world, dt.datetime.now(dt.UTC))
    (listed,) = [d async for d in world.dialogporten.search(party=CUSTOMER)]
    dialog = await world.dialogporten.dialog(listed.id)
    assert dialog.token
    emulator.inject_fault("dialogporten.dialog", status=500, times=10)
    with pytest.raises(altinn.APIError) as failed:
        await altinn.Dialogporten(world.http, retry=altinn.RetryPolicy.NEVER).dialog(listed.id)
    auth = world.http.auth
    assert isinstance(auth, altinn.AltinnExchangeAuth)
    altinn_token = (await auth.get_token()).access_token
    texts = [
        caplog.text,
        repr(dialog),
        repr(altinn.DialogTokenAuth(dialog)),
        repr(world.dialogporten),
        repr(world.correspondence),
        str(failed.value),
        (world.tmp / "mailbox.jsonl").read_text(),
    ]
    for text in texts:
        assert dialog.token not in text
        assert altinn_token not in text
        assert dialog.token.split(".")[2] not in text  # not even the signature


async def test_the_correspondence_walk_passes_the_1000_cap_against_the_emulator(
    world: World,
) -> None:
    now = emulator_now(world)
    ids = world.emulator.generate_correspondences(
        CUSTOMER, 2300, resource=RESOURCE, seed=21, start=now - 30 * DAY, end=now,
        attachments_per=(0, 0), dialogs=False,
    )  # fmt: skip
    capped = await world.correspondence.list(RESOURCE)
    assert capped.capped
    assert len(capped) == 1000
    walk = world.correspondence.walk(RESOURCE)
    walked = [correspondence_id async for correspondence_id in walk]
    assert len(walked) == len(set(walked)) == len(ids)
    assert set(walked) == set(ids)
    assert walk.position is None or walk.finished


async def test_a_service_owner_searches_its_own_dialogs_with_a_raw_maskinporten_token() -> None:
    emulator = Emulator()
    key = signing_key()
    scopes = ["digdir:dialogporten.serviceprovider", "digdir:dialogporten.serviceprovider.search"]
    emulator.add_maskinporten_client(
        "owner", org_number="405003309", scopes=scopes, jwks=[key.public_jwk]
    )
    emulator.add_organization(CUSTOMER)
    own = set(emulator.generate_dialogs(CUSTOMER_URN, 12, seed=31, org="ttd"))
    emulator.generate_dialogs(CUSTOMER_URN, 5, seed=32, org="digdir")
    async with (
        httpx.AsyncClient(transport=emulator.transport()) as token_http,
        altinn.MaskinportenAuth(
            client_id="owner",
            key=key,
            scopes=scopes,
            environment=emulator.environment,
            http_client=token_http,
        ) as auth,
        httpx.AsyncClient(
            transport=emulator.transport(), auth=auth, base_url=emulator.environment.platform
        ) as http,
    ):
        owner = altinn.Dialogporten(http, service_owner=True)
        found = [d async for d in owner.search(party=CUSTOMER, limit=5)]
        assert {d.id for d in found} == own
        assert (await owner.dialog(found[0].id)).id == found[0].id


async def test_an_idle_updates_feed_does_not_drift_back_run_after_run(world: World) -> None:
    emulator = world.emulator
    emulator.add_correspondence(CUSTOMER, resource=RESOURCE)
    since = dt.datetime.now(dt.UTC)
    await harvest(world, since)
    searches: list[str] = []
    for _ in range(3):  # nothing changes between the runs
        before = emulator.requests["dialogporten.search"]
        await harvest(world, since, resume=True)
        assert emulator.requests["dialogporten.search"] - before == 1  # the feed, once
        # The position the feed keeps, read back from the checkpoint.
        searches.append(httpx.URL(feed_position(world, "updates")).params["updatedAfter"])
    assert len(set(searches)) == 1, searches  # the same updatedAfter every time


def feed_position(world: World, name: str) -> str:
    checkpoint = Checkpoint(world.tmp / "mailbox.jsonl.checkpoint")
    try:
        position = checkpoint.sources()[name].position
    finally:
        checkpoint.close()
    assert position is not None
    return position
