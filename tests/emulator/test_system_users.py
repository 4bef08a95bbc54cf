"""The vendor's list of its system's users: who may ask, the body, and paging by links.next."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import Emulator

from .conftest import CLIENT_ID, DIGDIR, EXCHANGE, Clock, maskinporten_token

API = "/platform/authentication/api/v1"
SYSTEM = f"{DIGDIR}_smartcloud"
LISTING = f"{API}/systemuser/vendor/bysystem/{SYSTEM}"
WRITE = "altinn:authentication/systemregister.write"
CUSTOMERS = ("310000001", "310000002")


@pytest.fixture
def vendor(emu: Emulator, client_key: RSAKey) -> Emulator:
    """The emulator's client also holds the system register scopes."""
    emu.add_maskinporten_client(
        CLIENT_ID,
        org_number=DIGDIR,
        scopes=[WRITE, "altinn:authentication/systemregister.admin", "test:scope"],
        jwks=[client_key.as_dict(private=False)],
    )
    return emu


async def token(http: httpx.AsyncClient, key: RSAKey, clock: Clock, scope: str = WRITE) -> str:
    """An Altinn token exchanged from a Maskinporten token with ``scope``."""
    mp = await maskinporten_token(http, key, clock.now, scope=scope)
    response = await http.get(EXCHANGE, headers={"Authorization": f"Bearer {mp}"})
    assert response.status_code == 200
    return response.text


async def listing(
    http: httpx.AsyncClient, bearer: str, url: str = LISTING, **params: str
) -> httpx.Response:
    # No params at all when following a link: an empty mapping would replace its query.
    return await http.get(url, params=params or None, headers={"Authorization": f"Bearer {bearer}"})


async def test_the_vendor_lists_its_systems_users(
    vendor: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    first = vendor.add_system_user(
        client_id=CLIENT_ID, customer_org=CUSTOMERS[0], system_id=SYSTEM, created=1_750_000_000.5
    )
    second = vendor.add_system_user(
        client_id=CLIENT_ID,
        customer_org=CUSTOMERS[1],
        system_id=SYSTEM,
        external_ref="kunde-2",
        integration_title="Regnskap og MVA",
        created=1_750_000_060.0,
    )
    vendor.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMERS[0])  # another system
    response = await listing(http, await token(http, client_key, clock))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.json() == {
        "links": {},
        "data": [
            {
                "id": first,
                "integrationTitle": SYSTEM,
                "systemId": SYSTEM,
                "productName": "",
                "reporteeOrgNo": CUSTOMERS[0],
                "created": "2025-06-15T15:06:40.5Z",
                "isDeleted": False,
                "supplierName": "",
                "supplierOrgno": DIGDIR,
                "externalRef": CUSTOMERS[0],
                "userType": "standard",
            },
            {
                "id": second,
                "integrationTitle": "Regnskap og MVA",
                "systemId": SYSTEM,
                "productName": "",
                "reporteeOrgNo": CUSTOMERS[1],
                "created": "2025-06-15T15:07:40Z",
                "isDeleted": False,
                "supplierName": "",
                "supplierOrgno": DIGDIR,
                "externalRef": "kunde-2",
                "userType": "standard",
            },
        ],
    }
    assert vendor.requests["authentication.vendor_system_users"] == 1


async def test_the_default_system_is_named_after_the_client(
    vendor: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    user = vendor.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMERS[0])
    url = f"{API}/systemuser/vendor/bysystem/{DIGDIR}_{CLIENT_ID}"
    response = await listing(http, await token(http, client_key, clock), url)
    assert [u["id"] for u in response.json()["data"]] == [user]


async def test_a_maskinporten_token_is_accepted_too(
    vendor: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    # TT02 configures Maskinporten as an OIDC provider of the JwtCookie scheme.
    vendor.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMERS[0], system_id=SYSTEM)
    mp = await maskinporten_token(http, client_key, clock.now, scope=WRITE)
    response = await listing(http, mp)
    assert len(response.json()["data"]) == 1
    # The admin scope does as well, and the AltinnStudioRuntime cookie carries the token.
    admin = await token(http, client_key, clock, "altinn:authentication/systemregister.admin")
    response = await http.get(LISTING, headers={"Cookie": f"AltinnStudioRuntime={admin}"})
    assert response.status_code == 200


async def test_pages_of_50_follow_links_next(
    vendor: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    users = [
        vendor.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMERS[0], system_id=SYSTEM)
        for _ in range(101)
    ]
    bearer = await token(http, client_key, clock)
    seen: list[str] = []
    body = (await listing(http, bearer)).json()
    pages = [body]
    while "next" in body["links"] and len(pages) < 5:  # bounded: a repeated page must not hang
        next_url = body["links"]["next"]
        assert next_url.startswith(f"http://altinn.localhost{LISTING}?token=")
        body = (await listing(http, bearer, next_url)).json()
        pages.append(body)
    for page in pages:
        seen.extend(u["id"] for u in page["data"])
    assert [len(page["data"]) for page in pages] == [50, 50, 1]
    assert seen == users
    # The cursor is an Opaque<long>: base64url JSON of the next page's first sequence number.
    cursor = pages[0]["links"]["next"].rsplit("token=", 1)[1]
    assert json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))) == 51


async def test_exactly_one_full_page_has_no_next_link(
    vendor: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    for _ in range(50):
        vendor.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMERS[0], system_id=SYSTEM)
    body = (await listing(http, await token(http, client_key, clock))).json()
    assert (len(body["data"]), body["links"]) == (50, {})


# -- refusals ------------------------------------------------------------------------------------


def assert_system_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json; charset=utf-8"
    body: dict[str, Any] = response.json()
    assert body["type"] == "urn:altinn:error:AUTH-00011"
    assert body["code"] == "AUTH-00011"
    assert body["title"] == "The Id does not refer to a Registered System."
    assert body["status"] == 404
    assert body["traceId"].startswith("00-")


async def test_without_a_token_it_is_401(vendor: Emulator, http: httpx.AsyncClient) -> None:
    response = await http.get(LISTING)
    assert (response.status_code, response.content) == (401, b"")


async def test_an_expired_token_is_401(
    vendor: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    mp = await maskinporten_token(http, client_key, clock.now, scope=WRITE)
    clock.advance(120 + 11)
    assert (await listing(http, mp)).status_code == 401


async def test_without_the_system_register_scope_it_is_403(
    vendor: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    vendor.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMERS[0], system_id=SYSTEM)
    response = await listing(http, await token(http, client_key, clock, "test:scope"))
    assert (response.status_code, response.content) == (403, b"")


async def test_a_token_without_a_consumer_is_401_problem(vendor: Emulator, clock: Clock) -> None:
    # Only an Altinn token the emulator signs itself can lack the consumer claim.
    bearer = vendor._authentication.tokens.issue({"scope": WRITE}, clock.now)
    async with httpx.AsyncClient(transport=vendor.transport(), base_url=vendor.base_url) as http:
        response = await listing(http, bearer)
    assert response.status_code == 401
    assert response.json()["title"] == "Unauthorized"


async def test_another_vendors_system_is_not_found(
    vendor: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    vendor.add_maskinporten_client("other-vendor", org_number="310000009", scopes=[])
    vendor.add_system_user(client_id="other-vendor", customer_org=CUSTOMERS[0], system_id=SYSTEM)
    assert_system_not_found(await listing(http, await token(http, client_key, clock)))


async def test_an_unknown_system_is_not_found(
    vendor: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    url = f"{API}/systemuser/vendor/bysystem/{DIGDIR}_nothing"
    assert_system_not_found(await listing(http, await token(http, client_key, clock), url))


@pytest.mark.parametrize("cursor", ["%%%", "eyJ9", "InRleHQi"], ids=["not-base64", "bad", "text"])
async def test_a_cursor_that_is_no_opaque_long_is_a_validation_problem(
    vendor: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, cursor: str
) -> None:
    vendor.add_system_user(client_id=CLIENT_ID, customer_org=CUSTOMERS[0], system_id=SYSTEM)
    response = await listing(http, await token(http, client_key, clock), token=cursor)
    assert response.status_code == 400
    assert response.json()["errors"] == {"token": [f"The value '{cursor}' is not valid for token."]}


def test_system_id_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="system_id"):
        Emulator().add_system_user(client_id="c", customer_org=CUSTOMERS[0], system_id="")
