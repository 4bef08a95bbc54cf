"""The emulated Altinn 2 REST API, driven with plain httpx: ApiKey, content negotiation, the
message box with OData and the 50 cap, attachments and forms, reportees, the four logins, the
service-owner reportees and the continuation-token consent list."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import DEFAULT_PID, CertificateAuthority, Emulator, IssuedCertificate

from .conftest import (
    DIGDIR,
    EXCHANGE,
    Clock,
    add_idporten_clients,
    idporten_tokens,
    make_grant,
    request_token,
)

KEY = {"ApiKey": "end-user-key"}
SO_KEY = {"ApiKey": "service-owner-key"}
LOGIN = "/api/authentication/authenticatewithpassword"
ORG = "910672991"
OTHER_ORG = "910454013"
HAL = "application/hal+json; charset=utf-8"
JSON = "application/json; charset=utf-8"
NO_ORG = "Authorization failed: There is no authenticated organization number set on this request."
SO_REPORTEES = "altinn:serviceowner/reportees"


def seed(emu: Emulator) -> None:
    emu.add_api_key("end-user-key")
    emu.add_api_key("service-owner-key", service_owner=True)
    emu.add_reportee("DALEKVAM OG BORGEN", org_number=ORG, organization_form="AS")
    emu.add_altinn2_user("ola", "secret-pw", pid=DEFAULT_PID, reportees=[ORG])


@pytest.fixture
def a2(emu: Emulator) -> Emulator:
    seed(emu)
    return emu


def client(emu: Emulator, **options: Any) -> httpx.AsyncClient:
    altinn2 = emu.environment.altinn2
    assert altinn2 == "http://altinn.localhost/altinn2"
    return httpx.AsyncClient(transport=emu.transport(**options), base_url=altinn2)


@pytest.fixture
async def api(a2: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with client(a2) as http:
        yield http


async def login(
    http: httpx.AsyncClient, user: str = "ola", password: str = "secret-pw", query: str = ""
) -> httpx.Response:
    return await http.post(
        f"{LOGIN}{query}",
        json={"UserName": user, "UserPassword": password},
        headers={**KEY, "Content-Type": "application/hal+json"},
    )


@pytest.fixture
async def logged_in(api: httpx.AsyncClient) -> httpx.AsyncClient:
    response = await login(api)
    assert response.status_code == 200, response.reason_phrase
    return api


def assert_refused(response: httpx.Response, status: int, reason: str) -> None:
    """An Altinn 2 error: the status, the reason phrase, no body."""
    assert (response.status_code, response.reason_phrase) == (status, reason)
    assert response.content == b""
    assert "x-altinn-async-reason-phrase" not in response.headers


def embedded(response: httpx.Response, rel: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.reason_phrase
    assert response.headers["content-type"] == HAL
    items: list[dict[str, Any]] = response.json()["_embedded"][rel]
    return items


def utc_date(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).date().isoformat()


def at(year: int, month: int, day: int, hour: int = 12) -> float:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC).timestamp()


# -- ApiKey, negotiation, the login page ---------------------------------------------------------


async def test_api_key_is_required_on_every_call(a2: Emulator, api: httpx.AsyncClient) -> None:
    for path in ("/api/my/messages", "/api/reportees", "/api/serviceowner/reportees?subject=1"):
        assert_refused(await api.get(path), 400, "Required header 'ApiKey' is missing.")
        refused = await api.get(path, headers={"ApiKey": "nope"})
        assert_refused(refused, 403, "The API key is not authorized for this operation")
    missing = await api.post(LOGIN, json={"UserName": "ola", "UserPassword": "secret-pw"})
    assert_refused(missing, 400, "Required header 'ApiKey' is missing.")
    # An end-user key does not open the service-owner API.
    wrong_kind = await api.get("/api/serviceowner/reportees?subject=1", headers=KEY)
    assert_refused(wrong_kind, 403, "The API key is not authorized for this operation")
    assert a2.requests["altinn2.messages"] == 2
    assert a2.requests["altinn2.serviceowner_reportees"] == 3


async def test_without_a_login_the_answer_is_an_html_page(api: httpx.AsyncClient) -> None:
    for path in ("/api/my/messages", f"/api/{ORG}/messages/a1", "/api/reportees"):
        for headers in ({}, {"Cookie": ".AspxAuthTT02=not-a-session"}):
            response = await api.get(path, headers={**KEY, **headers})
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/html; charset=utf-8"
            assert response.text.startswith("<!doctype html>")
            assert "Logg inn" in response.text


async def test_hal_and_plain_json_negotiation(a2: Emulator, logged_in: httpx.AsyncClient) -> None:
    a2.add_altinn2_message(DEFAULT_PID, subject="Melding", service_owner="NAV")
    for accept in (None, "application/hal+json", "*/*", "application/xml, */*;q=0.5"):
        headers = KEY if accept is None else {**KEY, "Accept": accept}
        response = await logged_in.get("/api/my/messages", headers=headers)
        assert response.headers["content-type"] == HAL, accept
        assert set(response.json()) == {"_links", "_embedded"}
    plain = await logged_in.get("/api/my/messages", headers={**KEY, "Accept": "application/json"})
    assert plain.headers["content-type"] == JSON
    [item] = plain.json()  # a bare array
    assert item["Subject"] == "Melding"
    assert "_links" not in item
    single = await logged_in.get(
        f"/api/my/messages/{item['MessageId']}", headers={**KEY, "Accept": "application/json"}
    )
    assert single.headers["content-type"] == JSON
    assert "_links" not in single.json()
    for xml in ("application/xml", "application/hal+xml"):
        refused = await logged_in.get("/api/my/messages", headers={**KEY, "Accept": xml})
        assert refused.status_code == 406


# -- the message box -----------------------------------------------------------------------------


async def test_list_shape_is_the_resource_list_converters(
    a2: Emulator, logged_in: httpx.AsyncClient, clock: Clock
) -> None:
    a2.add_altinn2_message(
        DEFAULT_PID, subject="Brev", service_owner="Kommunene", created=clock.now - 60
    )
    a2.add_altinn2_message(
        DEFAULT_PID, subject="Skjema", service_owner="Skatteetaten", type="FormTask"
    )
    response = await logged_in.get("/api/my/messages?language=1033", headers=KEY)
    body = response.json()
    base = "http://altinn.localhost/altinn2/api/my/messages"
    assert body["_links"] == {
        "self": {"href": f"{base}?language=1033"},
        "find": {"href": f"{base}/{{MessageId}}", "isTemplated": True},
    }
    form_task, correspondence = body["_embedded"]["messages"]  # newest first
    assert re.fullmatch(r"a\d+", form_task["MessageId"])
    assert form_task["Type"] == "FormTask"
    assert form_task["Status"] == "Filling in"  # language=1033
    assert correspondence["Status"] == "Unread"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?", form_task["CreatedDate"])
    assert isinstance(form_task["ServiceEdition"], int)
    assert isinstance(form_task["ServiceCode"], str)
    links = form_task["_links"]
    assert links["self"] == {"href": f"{base}/{form_task['MessageId']}"}
    assert links["print"] == {
        "href": f"{base}/{form_task['MessageId']}/print",
        "mime-type": "application/pdf",
    }
    assert set(links) == {"self", "print", "metadata", "portalview"}
    # "print" is only valid for form tasks.
    assert set(correspondence["_links"]) == {"self", "metadata", "portalview"}
    norwegian = embedded(await logged_in.get("/api/my/messages", headers=KEY), "messages")
    assert [m["Status"] for m in norwegian] == ["Utfylling", "Ulest"]


async def test_fifty_items_at_most_and_skip_pages_to_the_end(
    a2: Emulator, logged_in: httpx.AsyncClient
) -> None:
    a2.add_altinn2_messages(ORG, 130, seed=7)
    first = embedded(await logged_in.get(f"/api/{ORG}/messages", headers=KEY), "messages")
    assert len(first) == 50
    capped = await logged_in.get(f"/api/{ORG}/messages", params={"$top": "100"}, headers=KEY)
    assert len(embedded(capped, "messages")) == 50
    seen: list[dict[str, Any]] = []
    pages = []
    while True:
        page = await logged_in.get(
            f"/api/{ORG}/messages", params={"$skip": str(len(seen))}, headers=KEY
        )
        items = embedded(page, "messages")
        pages.append(len(items))
        seen.extend(items)
        if len(items) < 50:
            break
    assert pages == [50, 50, 30]
    assert len({m["MessageId"] for m in seen}) == 130
    changed = [m["LastChangedDateTime"] for m in seen]
    assert changed == sorted(changed, reverse=True)
    assert all(m["MessageId"][0] in "ab" for m in seen)
    assert {m["MessageId"][0] for m in seen} == {"a", "b"}  # some are archived
    assert (a2.environment.altinn2 or "") in seen[0]["_links"]["self"]["href"]
    too_many = await logged_in.get(f"/api/{ORG}/messages?$top=10001", headers=KEY)
    assert_refused(
        too_many,
        400,
        "The limit of '10000' for Top query has been exceeded. The value from the incoming "
        "request is '10001'.",
    )
    bad_skip = await logged_in.get(f"/api/{ORG}/messages?$skip=-1", headers=KEY)
    assert bad_skip.status_code == 400
    assert "$skip" in bad_skip.reason_phrase


async def test_filter_examples_from_the_documentation(
    a2: Emulator, logged_in: httpx.AsyncClient
) -> None:
    def add(owner: str, when: float, edition: int = 1) -> None:
        a2.add_altinn2_message(
            ORG, subject=f"{owner} {when}", service_owner=owner, created=when,
            service_edition=edition,
        )  # fmt: skip

    for day in range(1, 6):
        add("Skatteetaten", at(2018, 1, 10 + day), edition=day)
    add("Asker Kommune", at(2018, 1, 20))
    add("Asker Kommune", at(2018, 1, 25))
    add("NAV", at(2018, 1, 26))

    async def ids(expression: str, **extra: str) -> list[str]:
        response = await logged_in.get(
            f"/api/{ORG}/messages", params={"$filter": expression, **extra}, headers=KEY
        )
        return [m["Subject"] for m in embedded(response, "messages")]

    top3 = await ids("ServiceOwner eq 'Skatteetaten'", **{"$top": "3"})
    assert top3 == [f"Skatteetaten {at(2018, 1, 10 + d)}" for d in (5, 4, 3)]
    assert await ids(
        "CreatedDate gt DateTime'2018-01-22T00:00:00' and ServiceOwner eq 'Asker Kommune'"
    ) == [f"Asker Kommune {at(2018, 1, 25)}"]
    assert len(await ids("ServiceOwner ne 'Skatteetaten'")) == 3
    assert len(await ids("ServiceEdition ge 2 and ServiceEdition le 4")) == 3
    assert len(await ids("ServiceEdition lt 2 or ServiceOwner eq 'NAV'")) == 4
    assert len(await ids("CreatedDate lt DateTime'2018-01-13'")) == 2
    assert await ids("not (ServiceOwner eq 'Skatteetaten') and startswith(ServiceOwner, 'N')") == [
        f"NAV {at(2018, 1, 26)}"
    ]
    ordered = await ids("ServiceOwner eq 'Skatteetaten'", **{"$orderby": "ServiceEdition asc"})
    assert ordered[0] == f"Skatteetaten {at(2018, 1, 11)}"
    # Local time (CET in January): 12:00 UTC is 13:00 in Oslo.
    assert len(await ids("CreatedDate eq DateTime'2018-01-20T13:00:00'")) == 1
    for expression, reason in (
        ("serviceOwner eq 'NAV'", "Could not find a property named 'serviceOwner'"),
        ("ServiceOwner eq 2", "A binary operator with incompatible types was detected."),
        ("ServiceOwner eq", "Syntax error at position 15"),
    ):
        refused = await logged_in.get(
            f"/api/{ORG}/messages", params={"$filter": expression}, headers=KEY
        )
        assert refused.status_code == 400
        assert refused.reason_phrase.startswith(reason), refused.reason_phrase


async def test_db_cap_warns_and_date_filters_go_below_it(clock: Clock) -> None:
    emu = Emulator(clock=clock, altinn2_db_cap=100)
    seed(emu)
    for day in range(150):
        emu.add_altinn2_message(
            ORG, subject=f"dag {day}", service_owner="NAV", created=clock.now - 86_400 * day
        )
    async with client(emu) as http:
        await login(http)
        capped = await http.get(f"/api/{ORG}/messages", headers=KEY)
        assert capped.headers["x-warning-limitreached"]
        # The oldest 50 are beyond the cap: OData never sees them.
        old = await http.get(
            f"/api/{ORG}/messages", params={"$filter": "Subject eq 'dag 120'"}, headers=KEY
        )
        assert embedded(old, "messages") == []
        assert old.headers["x-warning-limitreached"]
        window = {
            "dateFrom": utc_date(clock.now - 86_400 * 130),
            "dateTo": utc_date(clock.now - 86_400 * 110),
        }
        found = await http.get(
            f"/api/{ORG}/messages",
            params={**window, "$filter": "Subject eq 'dag 120'"},
            headers=KEY,
        )
        assert [m["Subject"] for m in embedded(found, "messages")] == ["dag 120"]
        assert "x-warning-limitreached" not in found.headers
        bad = await http.get(f"/api/{ORG}/messages?dateFrom=yesterday", headers=KEY)
        assert bad.status_code == 400


async def test_message_forms_formdata_and_print(a2: Emulator, logged_in: httpx.AsyncClient) -> None:
    xml = '<?xml version="1.0"?><Skjema><Felt>1</Felt></Skjema>'
    created = a2.add_altinn2_message(
        ORG,
        subject="RF-1028 Selvangivelse",
        service_owner="Skatteetaten",
        type="FormTask",
        forms=[("RF-1028 Selvangivelse", xml), ("RF-1016 Formue", b"<Skjema/>")],
        attachments=[("oppgaver.txt", b"hello", "text/plain")],
    )
    message_id = created["MessageId"]
    detail = await logged_in.get(f"/api/{ORG}/messages/{message_id}", headers=KEY)
    body = detail.json()
    base = f"http://altinn.localhost/altinn2/api/{ORG}/messages/{message_id}"
    forms = body["_links"]["form"]
    assert [f["name"] for f in forms] == ["RF-1028 Selvangivelse", "RF-1016 Formue"]
    assert all(set(f) == {"href", "name"} and f["href"].startswith(f"{base}/forms/") for f in forms)
    [attachment] = body["_links"]["attachment"]
    assert attachment == {
        "href": attachment["href"],
        "name": "oppgaver",
        "fileName": "oppgaver.txt",
        "encrypted": False,
        "signinglocked": False,
        "signedbydefault": True,
        "filesize": 5,
    }
    listed = embedded(await logged_in.get(f"{base}/forms", headers=KEY), "forms")
    assert [f["Type"] for f in listed] == ["MainForm", "SubForm"]
    form = await logged_in.get(forms[0]["href"], headers=KEY)
    document = form.json()
    assert document["Name"] == "RF-1028 Selvangivelse"
    assert isinstance(document["DataFormatVersion"], int)
    assert document["_links"]["formdata"] == {
        "href": f"{forms[0]['href']}/formdata",
        "mime-type": "application/xml",
    }
    data = await logged_in.get(document["_links"]["formdata"]["href"], headers=KEY)
    assert data.headers["content-type"].startswith("application/xml")
    assert data.text == xml
    printed = await logged_in.get(body["_links"]["print"]["href"], headers=KEY)
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.content.startswith(b"%PDF-1.4")
    assert printed.content.rstrip().endswith(b"%%EOF")
    # A correspondence has no print version; unknown ids and a wrong a/b prefix are 404.
    letter = a2.add_altinn2_message(ORG, subject="Brev", service_owner="NAV")
    for path in (
        f"{letter['MessageId']}/print",
        "a1",
        "c1",
        "b" + message_id[1:],
        f"{message_id}/forms/1",
    ):
        missing = await logged_in.get(f"/api/{ORG}/messages/{path}", headers=KEY)
        assert missing.status_code == 404, path


async def test_attachments_download_with_type_and_disposition(
    a2: Emulator, logged_in: httpx.AsyncClient
) -> None:
    big = 3 * 1024 * 1024 + 17
    created = a2.add_altinn2_message(
        DEFAULT_PID,
        subject="Vedtak",
        service_owner="NAV",
        attachments=[
            ("Tiltak 2013.pdf", b"%PDF-1.4 small", "application/pdf"),
            ("stor.bin", big, "application/octet-stream"),
        ],
    )
    small_link, big_link = (a["href"] for a in created["_links"]["attachment"])
    base = small_link.rsplit("/", 1)[0]
    listed = embedded(await logged_in.get(base, headers=KEY), "attachments")
    assert [(a["FileName"], a["Name"], a["FileSize"]) for a in listed] == [
        ("Tiltak 2013.pdf", "Tiltak 2013", 14),
        ("stor.bin", "stor", big),
    ]
    assert listed[0]["_links"]["self"]["href"] == small_link
    small = await logged_in.get(small_link, headers=KEY)
    assert small.content == b"%PDF-1.4 small"
    assert small.headers["content-type"] == "application/pdf"
    assert small.headers["content-disposition"] == (
        "attachment; filename=\"Tiltak 2013.pdf\"; filename*=UTF-8''Tiltak%202013.pdf"
    )
    large = await logged_in.get(big_link, headers=KEY)
    assert large.headers["content-length"] == str(big)
    assert len(large.content) == big
    again = await logged_in.get(big_link, headers=KEY)
    assert again.content == large.content  # generated, but deterministic
    missing = await logged_in.get(f"{base}/1", headers=KEY)
    assert missing.status_code == 404


async def test_reading_marks_a_correspondence_read_unless_asked_not_to(
    a2: Emulator, logged_in: httpx.AsyncClient
) -> None:
    message_id = a2.add_altinn2_message(DEFAULT_PID, subject="Hei", service_owner="NAV")[
        "MessageId"
    ]
    peek = await logged_in.get(f"/api/my/messages/{message_id}?markAsRead=false", headers=KEY)
    assert peek.json()["Status"] == "Ulest"
    read = await logged_in.get(f"/api/my/messages/{message_id}", headers=KEY)
    assert read.json()["Status"] == "Lest"
    assert read.json()["Summary"] == "Hei"


async def test_reportees_and_access_to_their_boxes(
    a2: Emulator, logged_in: httpx.AsyncClient
) -> None:
    a2.add_reportee("FOTLANDSVÅG OG VERMA REGNSKAP", org_number=OTHER_ORG)
    a2.add_reportee("NEDLAGT AS", org_number="999999999", active=False)
    a2.add_altinn2_right("ola", "999999999")
    a2.add_altinn2_message(ORG, subject="Til firmaet", service_owner="NAV")
    reportees = embedded(await logged_in.get("/api/reportees", headers=KEY), "reportees")
    assert [r["Type"] for r in reportees] == ["Person", "Foretak"]
    person, company = reportees
    assert person["SocialSecurityNumber"] == DEFAULT_PID
    assert company == {
        "ReporteeId": company["ReporteeId"],
        "Name": "DALEKVAM OG BORGEN",
        "Type": "Foretak",
        "OrganizationNumber": ORG,
        "Status": "Active",
        "_links": {
            "self": {
                "href": f"http://altinn.localhost/altinn2/api/reportees/{company['ReporteeId']}"
            },
            "messages": {
                "href": f"http://altinn.localhost/altinn2/api/{company['ReporteeId']}/messages"
            },
        },
    }
    inactive = await logged_in.get("/api/reportees?includeInactiveReportees=true", headers=KEY)
    assert len(embedded(inactive, "reportees")) == 3
    by_id = await logged_in.get(company["_links"]["messages"]["href"], headers=KEY)
    by_number = await logged_in.get(f"/api/{ORG}/messages", headers=KEY)
    ids = [m["MessageId"] for m in embedded(by_id, "messages")]
    assert ids == [m["MessageId"] for m in embedded(by_number, "messages")] != []
    # Links follow the {who} the list was asked for.
    assert embedded(by_number, "messages")[0]["_links"]["self"]["href"].startswith(
        f"http://altinn.localhost/altinn2/api/{ORG}/messages/"
    )
    one = await logged_in.get(company["_links"]["self"]["href"], headers=KEY)
    assert one.json()["Name"] == "DALEKVAM OG BORGEN"
    for path in (f"/api/{OTHER_ORG}/messages", "/api/r1/messages", f"/api/reportees/{OTHER_ORG}"):
        refused = await logged_in.get(path, headers=KEY)
        assert refused.status_code == 403, path
    filtered = await logged_in.get("/api/reportees?$filter=Type eq 'Person'", headers=KEY)
    assert [r["Type"] for r in embedded(filtered, "reportees")] == ["Person"]


# -- logins --------------------------------------------------------------------------------------


async def test_password_login_sets_the_tt02_cookie(a2: Emulator, api: httpx.AsyncClient) -> None:
    response = await login(api)
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert re.fullmatch(r"\.AspxAuthTT02=[0-9A-F]{128}; path=/; HttpOnly", cookie)
    value = cookie.split(";")[0].split("=", 1)[1]
    async with client(a2) as fresh:
        headers = {**KEY, "Cookie": f".AspxAuthTT02={value}"}
        assert (await fresh.get("/api/my/messages", headers=headers)).headers["content-type"] == HAL
        other_name = {**KEY, "Cookie": f".ASPXAUTH={value}"}
        page = await fresh.get("/api/my/messages", headers=other_name)
        assert page.headers["content-type"].startswith("text/html")
    # The person number works as the username.
    assert (await login(api, DEFAULT_PID)).status_code == 200
    assert_refused(
        await login(api, password="wrong"),
        401,
        "Authentication failed: wrong username or password.",
    )
    assert_refused(
        await login(api, user="nobody"), 401, "Authentication failed: wrong username or password."
    )
    malformed = await api.post(LOGIN, content=b"{", headers=KEY)
    assert malformed.status_code == 400
    assert a2.requests["altinn2.authenticate"] == 5


@pytest.mark.parametrize("name", [".AspxAuthProd", ".ASPXAUTH", ".AspxAuthCloud"])
async def test_cookie_name_follows_the_environment(clock: Clock, name: str) -> None:
    emu = Emulator(clock=clock, altinn2_cookie_name=name)
    seed(emu)
    async with client(emu) as http:
        response = await login(http)
        assert response.headers["set-cookie"].startswith(f"{name}=")
        listed = await http.get("/api/my/messages", headers=KEY)
        assert listed.headers["content-type"] == HAL
    with pytest.raises(ValueError, match="altinn2_cookie_name"):
        Emulator(altinn2_cookie_name=".aspxauth")


async def test_sessions_expire_when_idle_and_can_be_ended(
    a2: Emulator, logged_in: httpx.AsyncClient, clock: Clock
) -> None:
    async def answers_json() -> bool:
        response = await logged_in.get("/api/my/messages", headers=KEY)
        return response.headers["content-type"] == HAL

    clock.advance(1700)
    assert await answers_json()
    clock.advance(1700)  # sliding: 1700 s after the last use
    assert await answers_json()
    clock.advance(1801)
    assert not await answers_json()
    assert (await login(logged_in)).status_code == 200
    assert await answers_json()
    a2.end_altinn2_sessions()
    assert not await answers_json()
    assert (await login(logged_in)).status_code == 200
    assert await answers_json()


async def test_ten_failures_in_two_hours_lock_the_account_for_an_hour(
    api: httpx.AsyncClient, clock: Clock
) -> None:
    locked = "Authentication failed: the account is locked after too many failed logins."
    for _ in range(9):
        assert (await login(api, password="wrong")).status_code == 401
    clock.advance(7201)  # those nine are forgotten
    for _ in range(9):
        assert (await login(api, password="wrong")).status_code == 401
    assert (await login(api)).status_code == 200  # and a success resets the count
    for _ in range(10):
        assert (await login(api, DEFAULT_PID, password="wrong")).status_code == 401
    assert_refused(await login(api), 401, locked)
    clock.advance(3599)
    assert_refused(await login(api), 401, locked)
    clock.advance(2)
    assert (await login(api)).status_code == 200


async def test_idporten_bearer_token(
    a2: Emulator, http: httpx.AsyncClient, api: httpx.AsyncClient, idp_key: RSAKey, clock: Clock
) -> None:
    add_idporten_clients(a2, idp_key)
    a2.add_altinn2_message(DEFAULT_PID, subject="Til Ola", service_owner="NAV")
    tokens = await idporten_tokens(a2, http, idp_key, clock.now)
    bearer = {**KEY, "Authorization": f"Bearer {tokens['access_token']}"}
    messages = embedded(await api.get("/api/my/messages", headers=bearer), "messages")
    assert [m["Subject"] for m in messages] == ["Til Ola"]
    # The client's scope (altinn:instances.read) does not cover the reportee list.
    assert_refused(
        await api.get("/api/reportees", headers=bearer),
        403,
        "Authorization failed: the access token lacks a scope this operation requires.",
    )
    # An id_token is not an access token; a tampered or expired token is refused.
    for token in (tokens["id_token"], tokens["access_token"][:-4] + "AAAA"):
        refused = await api.get(
            "/api/my/messages", headers={**KEY, "Authorization": f"Bearer {token}"}
        )
        assert refused.status_code == 401
    clock.advance(3600)
    assert (await api.get("/api/my/messages", headers=bearer)).status_code == 401


async def test_maskinporten_bearer_on_the_service_owner_api(
    a2: Emulator, http: httpx.AsyncClient, api: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    a2.add_maskinporten_client(
        "so-client",
        org_number=DIGDIR,
        scopes=[SO_REPORTEES, "altinn:serviceowner/instances.read"],
        jwks=[client_key.as_dict(private=False)],
    )
    a2.add_maskinporten_client(
        "plain-client",
        org_number="910000003",
        scopes=[SO_REPORTEES],
        jwks=[client_key.as_dict(private=False)],
    )

    async def token(client_id: str, scope: str) -> str:
        grant = make_grant(client_key, clock.now, iss=client_id, scope=scope)
        response = await request_token(http, grant)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    path = f"/api/serviceowner/reportees?subject={DEFAULT_PID}"
    ok = await token("so-client", SO_REPORTEES)
    response = await api.get(path, headers={**SO_KEY, "Authorization": f"Bearer {ok}"})
    names = [r["Name"] for r in embedded(response, "reportees")]
    assert names == ["OLA TESTESEN", "DALEKVAM OG BORGEN"]
    # An exchanged Altinn token works too.
    narrow = await token("so-client", "altinn:serviceowner/instances.read")
    exchanged = await http.get(EXCHANGE, headers={"Authorization": f"Bearer {ok}"})
    altinn = {**SO_KEY, "Authorization": f"Bearer {exchanged.text}"}
    assert (await api.get(path, headers=altinn)).status_code == 200
    assert_refused(
        await api.get(path, headers={**SO_KEY, "Authorization": f"Bearer {narrow}"}),
        403,
        "Authorization failed: the access token lacks a scope this operation requires.",
    )
    not_owner = await token("plain-client", SO_REPORTEES)
    assert_refused(
        await api.get(path, headers={**SO_KEY, "Authorization": f"Bearer {not_owner}"}),
        403,
        "Authorization failed: the organization is not a service owner.",
    )
    assert_refused(await api.get(path, headers=SO_KEY), 401, NO_ORG)
    # Maskinporten authenticates no end user: the end-user API shows the login page.
    page = await api.get("/api/my/messages", headers={**KEY, "Authorization": f"Bearer {ok}"})
    assert page.headers["content-type"].startswith("text/html")


async def test_service_owner_reportees(
    a2: Emulator, http: httpx.AsyncClient, api: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    a2.add_maskinporten_client(
        "so-client",
        org_number=DIGDIR,
        scopes=["altinn:serviceowner"],
        jwks=[client_key.as_dict(private=False)],
    )
    grant = make_grant(client_key, clock.now, iss="so-client", scope="altinn:serviceowner")
    token = (await request_token(http, grant)).json()["access_token"]
    auth = {**SO_KEY, "Authorization": f"Bearer {token}"}
    a2.add_reportee("UNDERENHET", org_number="910000011", parent_org_number=ORG)
    a2.add_altinn2_right(DEFAULT_PID, "910000011", service_code="4936", service_edition=1)
    for number in range(120):
        a2.add_altinn2_right(DEFAULT_PID, str(920_000_000 + number), service_code="5555")

    async def reportees(accept: str = "application/json", **params: str) -> Any:
        response = await api.get(
            "/api/serviceowner/reportees",
            params={"subject": DEFAULT_PID, **params},
            headers={**auth, "Accept": accept},
        )
        assert response.status_code == 200, response.reason_phrase
        return response.json()

    everyone = await reportees()
    assert isinstance(everyone, list)
    assert len(everyone) == 1 + 1 + 1 + 120  # own, ORG (all services), the business, 120
    business = next(r for r in everyone if r["Name"] == "UNDERENHET")
    assert business["Type"] == "Business"
    assert business["ParentOrganizationNumber"] == ORG
    assert re.fullmatch(r"r\d+", business["ReporteeId"])
    own = everyone[0]
    assert (own["Type"], own["SocialSecurityNumber"]) == ("Person", DEFAULT_PID)
    for_service = await reportees(serviceCode="4936", serviceEdition="1")
    assert [r["Name"] for r in for_service] == ["OLA TESTESEN", "DALEKVAM OG BORGEN", "UNDERENHET"]
    assert len(await reportees(serviceCode="4936", serviceEdition="2")) == 2
    # NAV's loop: $top=50, $skip so far, Type ne 'Person', until an empty page.
    collected: list[dict[str, Any]] = []
    while True:
        page = await reportees(
            **{"serviceCode": "5555", "$top": "50", "$skip": str(len(collected))},
            **{"$filter": "Type ne 'Person'"},
        )
        if not page:
            break
        collected.extend(page)
    assert len(collected) == 121
    assert len(await reportees(**{"$top": "10000"})) == 123  # no 50 cap here
    hal = await reportees(accept="application/hal+json", **{"$top": "2"})
    assert [r["Type"] for r in hal["_embedded"]["reportees"]] == ["Person", "Enterprise"]
    assert set(hal["_links"]) == {"self"}
    too_many = await api.get(
        "/api/serviceowner/reportees",
        params={"subject": DEFAULT_PID, "$top": "10001"},
        headers=auth,
    )
    assert too_many.status_code == 400
    assert too_many.reason_phrase.startswith("The limit of '10000' for Top query has been exceeded")
    unknown = await api.get("/api/serviceowner/reportees?subject=01010112345", headers=auth)
    assert unknown.status_code == 400
    assert "User profile" in unknown.reason_phrase


async def test_consents_follow_the_continuation_token(
    a2: Emulator, enterprise_cert: IssuedCertificate, ca: CertificateAuthority, clock: Clock
) -> None:
    a2.trust_certificate_authority(ca)
    bank = "987654321"
    for index in range(7):
        a2.add_consent(
            service_code="4629",
            service_edition=2,
            offered_by=DEFAULT_PID,
            covered_by=bank,
            created=clock.now - 1000 + index * 10,
        )
    a2.add_consent(
        service_code="4629", service_edition=2, offered_by=ORG, covered_by=bank,
        status="Revoked", created=clock.now - 500,
    )  # fmt: skip
    a2.add_consent(  # expired: not listed
        service_code="4629", service_edition=2, offered_by=ORG, covered_by=bank,
        created=clock.now - 900, valid_to=clock.now - 1,
    )  # fmt: skip
    a2.add_consent(service_code="9999", service_edition=1, offered_by=ORG, covered_by=bank)
    async with client(a2, client_certificate=enterprise_cert) as http:
        url = "/api/serviceowner/consents?ForceEIAuthentication&serviceCode=4629&serviceEdition=2"
        response = await http.get(f"{url}&$top=3", headers=SO_KEY)
        pages: list[list[dict[str, Any]]] = []
        tokens: list[str] = []
        while True:
            body = response.json()
            items = body["_embedded"]["consents"]
            if not items:
                assert "next" not in body["_links"]
                assert "continuationtoken" not in body
                break
            pages.append(items)
            tokens.append(body["continuationtoken"])
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}_\d+", tokens[-1])
            next_href = body["_links"]["next"]["href"]
            assert "ForceEIAuthentication&" in next_href
            assert next_href.endswith(f"&continuation={tokens[-1]}")
            response = await http.get(next_href, headers=SO_KEY)
        assert [len(p) for p in pages] == [3, 3, 2]
        consents = [c for page in pages for c in page]
        assert [c["Status"] for c in consents] == ["Active"] * 7 + ["Revoked"]
        first = consents[0]
        assert first["OfferedBy"] == {
            "Name": "OLA TESTESEN",
            "Type": "Person",
            "SocialSecurityNumber": DEFAULT_PID,
        }
        assert first["CoveredBy"]["OrganizationNumber"] == bank
        assert re.fullmatch(r".+T.+[+]0[12]:00", first["LastChanged"])
        # New changes come after the last token.
        clock.advance(10)
        a2.add_consent(service_code="4629", service_edition=2, offered_by=ORG, covered_by=bank)
        later = await http.get(
            f"{url}&continuation={urllib.parse.quote(tokens[-1])}", headers=SO_KEY
        )
        assert len(later.json()["_embedded"]["consents"]) == 1
        active = await http.get(f"{url}&status=Active", headers=SO_KEY)
        assert len(active.json()["_embedded"]["consents"]) == 8
        bad = await http.get(f"{url}&continuation=yesterday", headers=SO_KEY)
        assert bad.status_code == 400
        missing = await http.get(
            "/api/serviceowner/consents?ForceEIAuthentication&serviceCode=4629", headers=SO_KEY
        )
        assert missing.status_code == 400


# -- the enterprise certificate ------------------------------------------------------------------


async def test_enterprise_certificate_in_process(
    a2: Emulator, enterprise_cert: IssuedCertificate, ca: CertificateAuthority
) -> None:
    path = f"/api/serviceowner/reportees?subject={DEFAULT_PID}"
    async with client(a2, client_certificate=enterprise_cert) as untrusted:
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            await untrusted.get(f"{path}&ForceEIAuthentication", headers=SO_KEY)
    a2.trust_certificate_authority(ca)
    a2.add_altinn2_user("digdir-bruker", "pw-1", enterprise_org=DIGDIR, reportees=[ORG])
    async with client(a2, client_certificate=enterprise_cert) as http:
        ok = await http.get(
            f"/api/serviceowner/reportees?ForceEIAuthentication&subject={DEFAULT_PID}",
            headers=SO_KEY,
        )
        assert ok.status_code == 200
        assert_refused(await http.get(path, headers=SO_KEY), 401, NO_ORG)
        # An enterprise user logs in with the flag and the certificate ...
        assert_refused(await login(http, "digdir-bruker", "pw-1"), 401, NO_ORG)
        assert (
            await login(http, "digdir-bruker", "pw-1", "?ForceEIAuthentication")
        ).status_code == 200
        # ... and needs both on every call.
        assert_refused(await http.get(f"/api/{ORG}/messages", headers=KEY), 401, NO_ORG)
        box = await http.get(f"/api/{ORG}/messages?ForceEIAuthentication", headers=KEY)
        assert box.headers["content-type"] == HAL
        mine = await http.get("/api/reportees?ForceEIAuthentication", headers=KEY)
        assert [r["OrganizationNumber"] for r in embedded(mine, "reportees")] == [DIGDIR, ORG]
        # A personal user is not an enterprise user.
        refused = await login(http, query="?ForceEIAuthentication")
        assert refused.status_code == 401
    async with client(a2) as no_certificate:
        assert_refused(
            await no_certificate.get(f"{path}&ForceEIAuthentication", headers=SO_KEY), 401, NO_ORG
        )
        assert_refused(
            await login(no_certificate, "digdir-bruker", "pw-1", "?ForceEIAuthentication"),
            401,
            NO_ORG,
        )


# -- the emulator around it ----------------------------------------------------------------------


async def test_faults_counts_and_the_feature_flag(clock: Clock) -> None:
    emu = Emulator(clock=clock)
    seed(emu)
    emu.inject_fault("altinn2.messages", status=503)
    async with client(emu) as http:
        await login(http)
        assert (await http.get("/api/my/messages", headers=KEY)).status_code == 503
        assert (await http.get("/api/my/messages", headers=KEY)).status_code == 200
    assert emu.requests["altinn2.messages"] == 2
    assert emu.requests["altinn2.authenticate"] == 1
    off = Emulator(clock=clock, altinn2=False)
    assert off.environment.altinn2 is None
    async with httpx.AsyncClient(transport=off.transport()) as http:
        response = await http.get("http://altinn.localhost/altinn2/api/my/messages")
        assert response.status_code == 404


def test_generated_boxes_are_realistic_and_deterministic(clock: Clock) -> None:
    # No time limit here: a timed unit test fails on a busy machine (timings live in benchmarks/).
    emu = Emulator(clock=clock)
    generated = emu.add_altinn2_messages(ORG, 5000, seed=3)
    assert len(generated) == 5000
    again = Emulator(clock=clock).add_altinn2_messages(ORG, 5000, seed=3)
    assert [m["Subject"] for m in generated] == [m["Subject"] for m in again]
    assert {m["Type"] for m in generated} == {"Correspondence", "FormTask"}
    assert len({m["ServiceOwner"] for m in generated}) > 3
    assert {m["Status"] for m in generated} >= {"Ulest", "Lest", "Utfylling", "Arkivert"}
    with pytest.raises(ValueError, match="only a FormTask has forms"):
        emu.add_altinn2_message(ORG, subject="x", service_owner="y", forms=[("f", "<a/>")])
    with pytest.raises(ValueError, match="status"):
        emu.add_altinn2_message(ORG, subject="x", service_owner="y", status="Utfylling")
    with pytest.raises(ValueError, match="unknown Altinn 2 reportee"):
        emu.add_altinn2_message("nobody", subject="x", service_owner="y")
