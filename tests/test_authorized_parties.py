"""AuthorizedPartiesClient against a fake Access Management that plays the reference's wire
format: the enduser wrapper, bare arrays elsewhere, the POST body, nested sub-units."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import httpx
import pytest

from altinn_async import APIError, ConfigurationError, RetryPolicy
from altinn_async._parties import (
    SUBJECT_KINDS,
    AuthorizedPartiesClient,
    AuthorizedParty,
    flatten,
)
from altinn_async.exceptions import ResponseFormatError

BASE = "https://platform.example"
AM = f"{BASE}/accessmanagement/api/v1"
PID = "24917298544"
PARTY_UUID = "00000000-0000-0000-0001-000000000006"
FAST = RetryPolicy(backoff=0.001)

# The reference's example (test data OnlyAltinn3.json, trimmed), plus a person.
MAIN_AND_SUB: list[dict[str, Any]] = [
    {
        "partyUuid": PARTY_UUID,
        "name": "AUTHORIZEDPARTIES MAINUNIT",
        "organizationNumber": "901000006",
        "personId": None,
        "partyId": 50100006,
        "type": "Organization",
        "unitType": "AS",
        "isDeleted": False,
        "onlyHierarchyElementWithNoAccess": False,
        "authorizedResources": ["devtest_gar_authparties-main-to-org"],
        "authorizedRoles": [],
        "subunits": [
            {
                "partyUuid": "00000000-0000-0000-0001-000000000007",
                "name": "AUTHORIZEDPARTIES SUBUNIT ONE",
                "organizationNumber": "901000007",
                "personId": None,
                "partyId": 50100007,
                "type": "Organization",
                "unitType": "BEDR",
                "isDeleted": False,
                "onlyHierarchyElementWithNoAccess": False,
                "authorizedResources": [
                    "app_ttd_am-devtest-sub-to-org",
                    "devtest_gar_authparties-main-to-org",
                ],
                "authorizedRoles": [],
                "subunits": [],
            }
        ],
    },
    {
        "partyUuid": "00000000-0000-0000-0002-000000000001",
        "name": "KARI NORDMANN",
        "organizationNumber": None,
        "personId": PID,
        "partyId": 50002119,
        "type": "Person",
        "unitType": None,
        "isDeleted": False,
        "onlyHierarchyElementWithNoAccess": False,
        "parentId": None,
        "dateOfBirth": "1972-11-24",
        "emailId": None,
        "authorizedResources": [],
        "authorizedRoles": ["DAGL"],
        "authorizedAccessPackages": ["urn:altinn:accesspackage:skattegrunnlag"],
        "authorizedInstances": [
            {"resourceId": "app_ttd_x", "instanceId": "50002119/abc", "instanceRef": "r-1"}
        ],
        "subunits": [],
    },
]


class Fake:
    def __init__(self, body: Any = None, *, wrap: bool = True) -> None:
        self.body = MAIN_AND_SUB if body is None else body
        self.wrap = wrap
        self.requests: list[httpx.Request] = []
        self.before: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.before:
            return self.before.pop(0)
        if (
            request.method == "GET"
            and request.url.path == "/accessmanagement/api/v1/enduser/authorizedparties"
        ):
            body = {"links": {"next": None}, "data": self.body} if self.wrap else self.body
            return httpx.Response(200, json=body)
        if (
            request.method == "POST"
            and request.url.path == "/accessmanagement/api/v1/resourceowner/authorizedparties"
        ):
            subject = json.loads(request.content)
            if subject.get("type") not in SUBJECT_KINDS:
                return httpx.Response(
                    400,
                    json={
                        "title": "One or more validation errors occurred.",
                        "status": 400,
                        "errors": {
                            "Argument exception": [f"Unknown attribute type: {subject['type']}"]
                        },
                    },
                    headers={"Content-Type": "application/problem+json"},
                )
            return httpx.Response(200, json=self.body)
        return httpx.Response(404)


def http_for(fake: Fake) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.MockTransport(fake),
        base_url=BASE,
        headers={"Authorization": "Bearer altinn-token-SECRET"},
    )


async def test_mine_unwraps_the_enduser_list_and_sends_every_flag() -> None:
    fake = Fake()
    async with http_for(fake) as http:
        parties = await AuthorizedPartiesClient(http).mine(
            include_roles=True,
            include_inactive=False,
            resources=["skd-melding-x", "app_ttd_x"],
        )
    (request,) = fake.requests
    assert request.method == "GET"
    assert list(request.url.params.multi_items()) == [
        ("includeSubParties", "true"),
        ("includeRoles", "true"),
        ("includeResources", "false"),
        ("includeInstances", "false"),
        ("includeAccessPackages", "false"),
        ("includeInactiveParties", "false"),
        ("anyOfResourceIds", "skd-melding-x"),
        ("anyOfResourceIds", "app_ttd_x"),
    ]
    assert [p.name for p in parties] == ["AUTHORIZEDPARTIES MAINUNIT", "KARI NORDMANN"]


async def test_mine_takes_a_bare_array_too() -> None:
    fake = Fake(wrap=False)
    async with http_for(fake) as http:
        parties = await AuthorizedPartiesClient(http).mine()
    assert len(parties) == 2
    assert "includeInactiveParties" not in fake.requests[0].url.params  # "auto"


async def test_parties_read_every_field() -> None:
    async with http_for(Fake()) as http:
        main, person = await AuthorizedPartiesClient(http).mine()
    assert isinstance(main, AuthorizedParty)
    assert main.party_uuid == PARTY_UUID
    assert main.organization_number == "901000006"
    assert main.party_id == 50100006
    assert main.type == "Organization"
    assert main.unit_type == "AS"
    assert main.urn == "urn:altinn:organization:identifier-no:901000006"
    assert main.reportee_id == "r50100006"
    assert main.authorized_resources == ("devtest_gar_authparties-main-to-org",)
    (sub,) = main.subunits
    assert sub.unit_type == "BEDR"
    assert sub.urn == "urn:altinn:organization:identifier-no:901000007"
    assert person.person_id == PID
    assert person.urn == f"urn:altinn:person:identifier-no:{PID}"
    assert person.date_of_birth == dt.date(1972, 11, 24)
    assert person.authorized_roles == ("DAGL",)
    assert person.authorized_access_packages == ("urn:altinn:accesspackage:skattegrunnlag",)
    assert person.authorized_instances[0].instance_id == "50002119/abc"
    assert person.document["emailId"] is None
    text = repr(person)
    assert PID not in text
    assert "249172*****" in text
    assert "1972" not in text
    assert "KARI NORDMANN" in text


def test_a_party_without_numbers_has_no_urn() -> None:
    party = AuthorizedParty.from_dict({"partyUuid": PARTY_UUID, "type": "SelfIdentified"})
    assert party.urn is None
    assert party.reportee_id is None
    assert party.subunits == ()


@pytest.mark.parametrize(
    ("subject", "kind", "sent"),
    [
        (PID, None, ("urn:altinn:person:identifier-no", PID)),
        ("312345678", None, ("urn:altinn:organization:identifier-no", "312345678")),
        (PARTY_UUID, None, ("urn:altinn:party:uuid", PARTY_UUID)),
        (f"urn:altinn:person:identifier-no:{PID}", None, ("urn:altinn:person:identifier-no", PID)),
        ("50100006", "urn:altinn:partyid", ("urn:altinn:partyid", "50100006")),
        (PARTY_UUID, "urn:altinn:systemuser:uuid", ("urn:altinn:systemuser:uuid", PARTY_UUID)),
    ],
)
async def test_of_posts_the_subject_with_its_kind(
    subject: str, kind: str | None, sent: tuple[str, str]
) -> None:
    fake = Fake()
    async with http_for(fake) as http:
        parties = await AuthorizedPartiesClient(http).of(subject, kind=kind)
    assert len(parties) == 2
    (request,) = fake.requests
    assert request.method == "POST"
    assert request.url.path == "/accessmanagement/api/v1/resourceowner/authorizedparties"
    assert json.loads(request.content) == {"type": sent[0], "value": sent[1]}
    assert PID not in str(request.url)
    assert request.url.params["includeSubParties"] == "true"


async def test_of_sends_a_party_filter_in_the_body() -> None:
    fake = Fake()
    async with http_for(fake) as http:
        await AuthorizedPartiesClient(http).of(
            "312345678", party_filter=[PARTY_UUID], include_resources=True
        )
    body = json.loads(fake.requests[0].content)
    assert body["partyFilter"] == [{"type": "urn:altinn:party:uuid", "value": PARTY_UUID}]
    assert fake.requests[0].url.params["includeResources"] == "true"


@pytest.mark.parametrize(
    ("subject", "arguments", "match"),
    [
        (PID, {"kind": "urn:altinn:person:fnr"}, "is not one of"),
        ("12345", {}, "cannot tell what kind"),
        ("", {}, "non-empty"),
        ("312345678", {"party_filter": ["nope"]}, "party UUIDs"),
        ("312345678", {"party_filter": PARTY_UUID}, "not one string"),
        ("312345678", {"resources": "skd-melding-x"}, "not one string"),
    ],
)
async def test_of_refuses_what_it_cannot_send_before_any_request(
    subject: str, arguments: dict[str, Any], match: str
) -> None:
    fake = Fake()
    async with http_for(fake) as http:
        with pytest.raises(ConfigurationError, match=match):
            await AuthorizedPartiesClient(http).of(subject, **arguments)
    assert fake.requests == []


async def test_an_unrecognisable_pid_like_subject_is_masked_in_the_message() -> None:
    async with http_for(Fake()) as http:
        with pytest.raises(ConfigurationError) as info:
            await AuthorizedPartiesClient(http).of(f"x{PID}")
    assert PID not in str(info.value)


async def test_of_is_a_read_and_is_retried_like_one() -> None:
    fake = Fake()
    fake.before.append(httpx.Response(503))
    async with http_for(fake) as http:
        parties = await AuthorizedPartiesClient(http, retry=FAST).of("312345678")
    assert len(parties) == 2
    assert len(fake.requests) == 2
    assert fake.requests[0].content == fake.requests[1].content


async def test_an_error_is_an_api_error_without_the_token() -> None:
    fake = Fake()
    fake.before.append(
        httpx.Response(
            403,
            json={"title": "Forbidden", "status": 403, "detail": "missing scope"},
            headers={"Content-Type": "application/problem+json"},
        )
    )
    async with http_for(fake) as http:
        with pytest.raises(APIError, match="missing scope") as info:
            await AuthorizedPartiesClient(http).mine()
    assert info.value.status_code == 403
    assert "SECRET" not in str(info.value)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"links": {}, "data": {"a": 1}}, "$.data"),
        ("text", "$"),
        ([{"partyId": "x"}], "$.data[0].partyId"),
        ([{"subunits": [{"isDeleted": "no"}]}], "$.data[0].subunits[0].isDeleted"),
        ([{"authorizedResources": [1]}], "$.data[0].authorizedResources[0]"),
        ([5], "$.data[0]"),
    ],
)
async def test_a_malformed_list_is_a_format_error_naming_the_field(body: Any, path: str) -> None:
    fake = Fake(body, wrap=isinstance(body, list))
    async with http_for(fake) as http:
        with pytest.raises(ResponseFormatError) as info:
            await AuthorizedPartiesClient(http).mine()
    assert info.value.path == path


def test_flatten_yields_every_party_and_its_subunits_once_in_order() -> None:
    tree = copy.deepcopy(MAIN_AND_SUB)
    grand = copy.deepcopy(tree[0]["subunits"][0])
    grand |= {"partyUuid": "00000000-0000-0000-0001-000000000008", "name": "GRANDCHILD"}
    tree[0]["subunits"][0]["subunits"] = [grand]
    # The sub-unit is also listed on its own (by upper-case uuid): it comes out once.
    alone = copy.deepcopy(tree[0]["subunits"][0])
    alone["partyUuid"] = alone["partyUuid"].upper()
    tree.append(alone)
    parties = [AuthorizedParty.from_dict(p) for p in tree]
    names = [p.name for p in flatten(parties)]
    assert names == [
        "AUTHORIZEDPARTIES MAINUNIT",
        "AUTHORIZEDPARTIES SUBUNIT ONE",
        "GRANDCHILD",
        "KARI NORDMANN",
    ]
    assert list(flatten([])) == []


def test_the_client_repr_and_platform() -> None:
    client = AuthorizedPartiesClient(httpx.AsyncClient(), platform="https://platform.example/")
    assert repr(client) == "AuthorizedPartiesClient(platform='https://platform.example')"
    with pytest.raises(ConfigurationError, match="base_url"):
        AuthorizedPartiesClient(httpx.AsyncClient())
