"""The emulated Authorized Parties API (``altinn3-messaging.md`` §3, §5 item 13): Altinn tokens
only, the scope policies, the enduser wrapper and the bare arrays, the code defaults of the
query parameters, nested sub-units, and the resource owner's subject types."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import DEFAULT_PID, Emulator

from .conftest import Clock
from .dialogporten_support import (
    AM,
    CUSTOMER,
    EXCHANGE_IDP,
    bearer,
    exchanged,
    maskinporten,
    person,
)

ENDUSER = f"{AM}/enduser/authorizedparties"
PARTIES = f"{AM}/authorizedparties"
RESOURCE_OWNER = f"{AM}/resourceowner/authorizedparties"
SUBUNIT = "310000003"
PERSON_SCOPE = "openid altinn:portal/enduser"
RO_SCOPE = "altinn:accessmanagement/authorizedparties.resourceowner altinn:serviceowner"
MAIN_UNIT: dict[str, Any] = {
    "name": "KUNDE AS",
    "organizationNumber": CUSTOMER,
    "parentId": None,
    "personId": None,
    "dateOfBirth": None,
    "emailId": None,
    "partyId": 51_000_001,
    "type": "Organization",
    "unitType": "AS",
    "isDeleted": False,
    "onlyHierarchyElementWithNoAccess": False,
    "authorizedAccessPackages": [],
    "authorizedInstances": [],
}


@pytest.fixture
def directory(emu: Emulator) -> Emulator:
    """The default person is managing director of the customer, which has a sub-unit."""
    emu.add_organization(CUSTOMER, name="KUNDE AS")
    emu.add_organization(SUBUNIT, parent=CUSTOMER, name="KUNDE AS AVD BERGEN")
    emu.add_role(DEFAULT_PID, CUSTOMER, resources=["app_ttd_skjema", "urn:altinn:resource:melding"])
    return emu


async def person_token(
    emu: Emulator, http: httpx.AsyncClient, key: RSAKey, clock: Clock, scope: str = PERSON_SCOPE
) -> str:
    return await exchanged(http, await person(emu, http, key, clock, scope=scope), EXCHANGE_IDP)


async def org_token(
    emu: Emulator,
    http: httpx.AsyncClient,
    key: RSAKey,
    clock: Clock,
    scope: str,
    *,
    customer: str | None = None,
) -> str:
    raw = await maskinporten(
        emu, http, key, clock, scope=scope, customer=customer, client_id=f"am-{len(scope)}"
    )
    return await exchanged(http, raw)


async def post(
    http: httpx.AsyncClient, token: str, body: Any, path: str = RESOURCE_OWNER, **params: Any
) -> httpx.Response:
    return await http.post(path, json=body, params=params or None, headers=bearer(token))


async def test_the_enduser_list_of_a_person(
    directory: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    token = await person_token(directory, http, idp_key, clock)
    response = await http.get(ENDUSER, headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["links"] == {"next": None}
    me, org = body["data"]
    # The enduser defaults leave out roles, resources and instances.
    assert me == {
        "partyUuid": directory.person(DEFAULT_PID).party_uuid,
        "name": "Ola Testesen",
        "organizationNumber": None,
        "parentId": None,
        "personId": DEFAULT_PID,
        "dateOfBirth": "1972-11-24",
        "emailId": None,
        "partyId": 50002119,
        "type": "Person",
        "unitType": None,
        "isDeleted": False,
        "onlyHierarchyElementWithNoAccess": False,
        "authorizedAccessPackages": [],
        "authorizedResources": [],
        "authorizedRoles": [],
        "authorizedInstances": [],
        "subunits": [],
    }
    [sub] = org.pop("subunits")
    assert org == {
        **MAIN_UNIT,
        "partyUuid": org["partyUuid"],
        "authorizedResources": [],
        "authorizedRoles": [],
    }
    assert sub["parentId"] == org["partyUuid"]
    assert (sub["organizationNumber"], sub["unitType"], sub["subunits"]) == (SUBUNIT, "BEDR", [])


async def test_query_parameters_switch_parts_on_and_off(
    directory: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    token = await person_token(directory, http, idp_key, clock)
    response = await http.get(
        ENDUSER,
        params={
            "includeRoles": "true",
            "includeResources": "True",
            "includeSubParties": "false",
            "includeAltinn2": "true",
            "includeAltinn3": "false",
        },
        headers=bearer(token),
    )
    _, org = response.json()["data"]
    assert org["authorizedRoles"] == ["DAGL"]
    assert org["authorizedResources"] == ["app_ttd_skjema", "melding"]
    assert org["subunits"] == []
    # Parties reached through a key role (DAGL) can be left out.
    response = await http.get(
        ENDUSER, params={"includePartiesViaKeyRoles": "FALSE"}, headers=bearer(token)
    )
    assert [p["type"] for p in response.json()["data"]] == ["Person"]
    response = await http.get(ENDUSER, params={"includeRoles": "maybe"}, headers=bearer(token))
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "includeRoles": ["The value 'maybe' is not valid for includeRoles."]
    }
    response = await http.get(
        ENDUSER, params={"includeSubParties": "sometimes"}, headers=bearer(token)
    )
    assert response.status_code == 400


async def test_party_filter_and_resource_filter(
    directory: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    token = await person_token(directory, http, idp_key, clock)
    _, org = (await http.get(ENDUSER, headers=bearer(token))).json()["data"]
    sub_uuid = org["subunits"][0]["partyUuid"]
    response = await http.get(ENDUSER, params={"partyFilter": sub_uuid}, headers=bearer(token))
    [only] = response.json()["data"]
    assert [s["partyUuid"] for s in only["subunits"]] == [sub_uuid]
    response = await http.get(
        ENDUSER, params={"anyOfResourceIds": "urn:altinn:resource:melding"}, headers=bearer(token)
    )
    # The person's own party covers every resource; the organisation this one too.
    assert len(response.json()["data"]) == 2
    response = await http.get(
        ENDUSER, params={"anyOfResourceIds": "something-else"}, headers=bearer(token)
    )
    assert [p["type"] for p in response.json()["data"]] == ["Person"]


async def test_the_enduser_list_of_a_system_user(
    directory: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await org_token(
        directory,
        http,
        client_key,
        clock,
        "altinn:accessmanagement/authorizedparties",
        customer=CUSTOMER,
    )
    response = await http.get(ENDUSER, headers=bearer(token))
    assert response.status_code == 200, response.text
    [org] = response.json()["data"]
    assert (org["organizationNumber"], len(org["subunits"])) == (CUSTOMER, 1)
    # System users have no user id: the other GET endpoints refuse them.
    assert (await http.get(PARTIES, headers=bearer(token))).status_code == 401


async def test_the_enduser_scopes_and_callers(
    directory: Emulator,
    http: httpx.AsyncClient,
    client_key: RSAKey,
    idp_key: RSAKey,
    clock: Clock,
) -> None:
    no_scope = await person_token(
        directory, http, idp_key, clock, scope="openid altinn:instances.read"
    )
    response = await http.get(ENDUSER, headers=bearer(no_scope))
    assert (response.status_code, response.content) == (403, b"")
    enterprise = await org_token(
        directory, http, client_key, clock, "altinn:accessmanagement/authorizedparties"
    )
    response = await http.get(ENDUSER, headers=bearer(enterprise))
    assert (response.status_code, response.text) == (401, "Unknown user type")


async def test_only_altinn_tokens_are_accepted(
    directory: Emulator,
    http: httpx.AsyncClient,
    client_key: RSAKey,
    idp_key: RSAKey,
    clock: Clock,
) -> None:
    raw_person = await person(directory, http, idp_key, clock, scope=PERSON_SCOPE)
    raw_org = await maskinporten(
        directory, http, client_key, clock, scope=RO_SCOPE, customer=None, client_id="raw"
    )
    for token in (raw_person, raw_org, "garbage"):
        for response in (
            await http.get(ENDUSER, headers=bearer(token)),
            await http.get(PARTIES, headers=bearer(token)),
            await post(
                http, token, {"type": "urn:altinn:person:identifier-no", "value": DEFAULT_PID}
            ),
        ):
            assert (response.status_code, response.content) == (401, b"")
    assert (await http.get(ENDUSER)).status_code == 401
    # The Altinn cookie works as well as the header.
    altinn = await person_token(directory, http, idp_key, clock)
    http.cookies.set("AltinnStudioRuntime", altinn, domain="altinn.localhost")
    assert (await http.get(ENDUSER)).status_code == 200


async def test_the_users_list_and_one_party(
    directory: Emulator, http: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    token = await person_token(directory, http, idp_key, clock)
    response = await http.get(PARTIES, headers=bearer(token))
    me, org = response.json()  # a bare array, roles and resources on by default
    assert org["authorizedRoles"] == ["DAGL"]
    assert me["authorizedRoles"] == ["PRIV"]
    assert org["authorizedResources"] == ["app_ttd_skjema", "melding"]
    sub = org["subunits"][0]
    one = await http.get(f"{AM}/authorizedparty/{sub['partyId']}", headers=bearer(token))
    assert one.json() == sub
    assert (
        await http.get(f"{AM}/authorizedparty/{org['partyId']}", headers=bearer(token))
    ).json() == org
    missing = await http.get(f"{AM}/authorizedparty/99999999", headers=bearer(token))
    assert missing.status_code == 400
    message = (
        "The party id is either invalid or is not an authorized party for the authenticated user"
    )
    assert missing.json()["errors"] == {"InvalidParty": [message]}
    zero = await http.get(f"{AM}/authorizedparty/0", headers=bearer(token))
    assert zero.json()["errors"] == {
        "InvalidParty": ["The party id must be a valid non-zero integer"]
    }


async def test_the_resource_owner_asks_for_any_subject(
    directory: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    system_user = directory.add_system_user(client_id="vendor", customer_org=CUSTOMER)
    token = await org_token(directory, http, client_key, clock, RO_SCOPE)
    me = directory.person(DEFAULT_PID)
    main = directory.add_organization("310000004", name="ANNEN AS")
    subjects = {
        "urn:altinn:person:identifier-no": DEFAULT_PID,
        "urn:altinn:party:uuid": me.party_uuid,
        "urn:altinn:person:uuid": me.party_uuid,
        "urn:altinn:partyid": str(me.party_id),
        "urn:altinn:userid": str(me.user_id),
    }
    for kind, value in subjects.items():
        response = await post(http, token, {"type": kind, "value": value})
        assert response.status_code == 200, (kind, response.text)
        assert [p["type"] for p in response.json()] == ["Person", "Organization"], kind
        assert response.json()[1]["authorizedRoles"] == ["DAGL"]  # resource owner defaults
    for kind, value in {
        "urn:altinn:organization:identifier-no": "310000004",
        "urn:altinn:organization:uuid": main.party_uuid,
    }.items():
        [org] = (await post(http, token, {"type": kind, "value": value})).json()
        assert org["name"] == "ANNEN AS", kind
    [owner] = (
        await post(http, token, {"type": "urn:altinn:systemuser:uuid", "value": system_user})
    ).json()
    assert owner["organizationNumber"] == CUSTOMER
    nobody = await post(http, token, {"type": "urn:altinn:enterpriseuser:username", "value": "x"})
    assert nobody.json() == []
    alias = await post(
        http,
        token,
        {"type": "urn:altinn:person:identifier-no", "value": DEFAULT_PID},
        f"{AM}/serviceowner/authorizedparties",
        includeSubParties="false",
    )
    assert alias.json()[1]["subunits"] == []
    filtered = await post(
        http,
        token,
        {
            "type": "urn:altinn:person:identifier-no",
            "value": DEFAULT_PID,
            "partyFilter": [{"type": "urn:altinn:party:uuid", "value": me.party_uuid}],
        },
    )
    assert [p["personId"] for p in filtered.json()] == [DEFAULT_PID]


async def test_an_unknown_subject_type_is_a_400(
    directory: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    token = await org_token(directory, http, client_key, clock, RO_SCOPE)
    response = await post(http, token, {"type": "urn:altinn:person:email", "value": "a@b.no"})
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "One or more validation errors occurred."
    assert body["errors"] == {
        "Argument exception": ["Unknown attribute type: urn:altinn:person:email"]
    }
    assert (await post(http, token, [1, 2])).status_code == 400


async def test_the_resource_owner_scopes_and_org_code(
    directory: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    subject = {"type": "urn:altinn:person:identifier-no", "value": DEFAULT_PID}
    wrong = await org_token(directory, http, client_key, clock, "altinn:serviceowner")
    assert (await post(http, wrong, subject)).status_code == 403
    token = await org_token(directory, http, client_key, clock, RO_SCOPE)
    assert (await post(http, token, subject, orgCode="digdir")).status_code == 200
    assert (await post(http, token, subject, orgCode="skd")).status_code == 403
    admin = await org_token(
        directory, http, client_key, clock, "altinn:accessmanagement/authorizedparties.admin"
    )
    assert (await post(http, admin, subject, orgCode="skd")).status_code == 200
