"""Altinn 3 messaging end to end against the emulator: a system user's one grant, exchanged
once, lists its parties, walks Dialogporten's keyset pages, reads dialogs and their
correspondences, downloads attachments, and harvests a whole mailbox exactly once."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest

import altinn_async as altinn
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
