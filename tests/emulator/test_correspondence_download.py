"""Downloading a correspondence's attachments from the emulated Correspondence: the streamed
bytes and their headers, the checksum, AttachmentsDownloaded, the zip of all attachments, and
the refusals (2001, 2019, 2020, 401/4001, the login redirect, IDX10205 for Maskinporten)."""

from __future__ import annotations

import hashlib
import io
import urllib.parse
import zipfile

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import Emulator

from .conftest import Clock
from .correspondence_tokens import (
    API,
    CUSTOMER,
    OTHER_CUSTOMER,
    RESOURCE,
    DialogTokens,
    bearer,
    org_urn,
    system_user_token,
)

DAY = 86_400.0
PROBLEM = "application/problem+json; charset=utf-8"


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@pytest.fixture
async def reader(emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock) -> str:
    return await system_user_token(emu, http, client_key, clock)


async def attachments_of(http: httpx.AsyncClient, token: str, item: str) -> list[dict[str, str]]:
    response = await http.get(f"{API}/{item}", headers=bearer(token))
    assert response.status_code == 200, response.text
    return list(response.json()["content"]["attachments"])


def download_url(item: str, attachment: str) -> str:
    return f"{API}/{item}/attachment/{attachment}/download"


def assert_error(response: httpx.Response, status: int, code: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["errorCode"], body["code"], body["status"]) == (code, f"CORR-{code:05d}", status)


def attached(name: str) -> str:
    return f"attachment; filename={name}; filename*=UTF-8''{name}"


@pytest.mark.parametrize(
    "case",
    [
        ("vedtak.pdf", "application/pdf", "inline; filename*=UTF-8''vedtak.pdf"),
        ("Bilde av kåk.PNG", "image/png", "inline; filename*=UTF-8''Bilde%20av%20k%C3%A5k.PNG"),
        ("foto.jpeg", "image/jpeg", "inline; filename*=UTF-8''foto.jpeg"),
        ("notat.txt", "text/plain; charset=utf-8", attached("notat.txt")),
        ("tabell.csv", "text/csv; charset=utf-8", attached("tabell.csv")),
        ("data.xml", "application/xml", attached("data.xml")),
        ("data.json", "application/json", attached("data.json")),
        ("bilde.dcm", "application/dicom", attached("bilde.dcm")),
        ("ark.xlsx", "application/octet-stream", attached("ark.xlsx")),
    ],
)
async def test_a_download_streams_the_bytes_with_extension_based_headers(
    emu: Emulator, http: httpx.AsyncClient, reader: str, case: tuple[str, str, str]
) -> None:
    name, content_type, disposition = case
    data = b"bytes of " + name.encode()
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={name: data})
    (attachment,) = await attachments_of(http, reader, item)
    response = await http.get(download_url(item, attachment["id"]), headers=bearer(reader))
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == content_type
    assert response.headers["content-disposition"] == disposition
    assert response.headers["content-length"] == str(len(data))
    assert attachment["checksum"] == md5(data)
    assert emu.correspondence_statuses(item)[-1] == "AttachmentsDownloaded"
    assert emu.requests["correspondence.download"] == 1


async def test_a_large_generated_attachment_streams_and_matches_its_checksum(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    (item,) = emu.generate_correspondences(
        CUSTOMER,
        1,
        resource=RESOURCE,
        start=clock.now - DAY,  # attachments expire 14 days after publishing
        attachments_per=(2, 2),
        attachment_size=300_000,
    )
    for attachment in await attachments_of(http, reader, item):
        url = download_url(item, attachment["id"])
        async with http.stream("GET", url, headers=bearer(reader)) as response:
            assert response.headers["content-length"] == "300000"
            data = b"".join([chunk async for chunk in response.aiter_raw()])
        assert len(data) == 300_000
        assert md5(data) == attachment["checksum"]
        again = await http.get(url, headers=bearer(reader))
        assert again.content == data  # the same bytes every time


async def test_all_attachments_come_in_one_zip(
    emu: Emulator, http: httpx.AsyncClient, reader: str
) -> None:
    files = {"vedtak.pdf": b"%PDF vedtak", "data.xml": b"<data/>" * 1000, "æøå.txt": b"tekst"}
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, attachments=files)
    response = await http.get(f"{API}/{item}/attachments/downloadall", headers=bearer(reader))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-length"] == str(len(response.content))
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.testzip() is None
    assert archive.namelist() == list(files)  # in the overview's order: created, then id
    assert {name: archive.read(name) for name in archive.namelist()} == files
    assert emu.correspondence_statuses(item)[-1] == "AttachmentsDownloaded"


async def test_an_attachment_of_another_correspondence_is_2001(
    emu: Emulator, http: httpx.AsyncClient, reader: str
) -> None:
    first = emu.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"a.txt": b"a"})
    second = emu.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"b.txt": b"b"})
    (foreign,) = await attachments_of(http, reader, second)
    response = await http.get(download_url(first, foreign["id"]), headers=bearer(reader))
    assert_error(response, 404, 2001)
    assert response.json()["detail"] == "The requested attachment was not found"
    unknown = download_url("0198ffff-0000-7000-8000-000000000000", foreign["id"])
    assert_error(await http.get(unknown, headers=bearer(reader)), 404, 1001)


async def test_attachments_of_a_purged_correspondence_are_2019(
    emu: Emulator, http: httpx.AsyncClient, reader: str
) -> None:
    item = emu.add_correspondence(
        CUSTOMER, resource=RESOURCE, attachments={"a.txt": b"a", "b.txt": b"b"}
    )
    (attachment, _) = await attachments_of(http, reader, item)
    assert (await http.delete(f"{API}/{item}/purge", headers=bearer(reader))).status_code == 200
    assert_error(
        await http.get(download_url(item, attachment["id"]), headers=bearer(reader)), 400, 2019
    )
    response = await http.get(f"{API}/{item}/attachments/downloadall", headers=bearer(reader))
    assert_error(response, 400, 2019)


async def test_an_expired_attachment_is_2020_by_the_emulator_clock(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    item = emu.add_correspondence(
        CUSTOMER,
        resource=RESOURCE,
        attachments={"a.txt": b"a"},
        published=clock.now - DAY,
        attachment_expires=clock.now + 60,
    )
    reader = await system_user_token(emu, http, client_key, clock)
    (attachment,) = await attachments_of(http, reader, item)
    url = download_url(item, attachment["id"])
    assert (await http.get(url, headers=bearer(reader))).status_code == 200
    clock.advance(60)  # expirationTime <= now
    assert_error(await http.get(url, headers=bearer(reader)), 400, 2020)
    response = await http.get(f"{API}/{item}/attachments/downloadall", headers=bearer(reader))
    assert_error(response, 400, 2020)


async def test_the_default_expiry_is_14_days_after_publishing(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    item = emu.add_correspondence(
        CUSTOMER,
        resource=RESOURCE,
        attachments={"a.txt": b"a"},
        published=clock.now - 14 * DAY + 30,
    )
    reader = await system_user_token(emu, http, client_key, clock)
    (attachment,) = await attachments_of(http, reader, item)
    url = download_url(item, attachment["id"])
    assert (await http.get(url, headers=bearer(reader))).status_code == 200
    clock.advance(30)
    assert_error(await http.get(url, headers=bearer(reader)), 400, 2020)


async def test_without_authorization_a_download_redirects_to_the_login(
    emu: Emulator, http: httpx.AsyncClient, reader: str
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"a.pdf": b"a"})
    (attachment,) = await attachments_of(http, reader, item)
    for url in (download_url(item, attachment["id"]), f"{API}/{item}/attachments/downloadall"):
        response = await http.get(url)
        assert response.status_code == 302
        location = urllib.parse.urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == (
            "http://altinn.localhost/idporten/authorize"
        )
        query = dict(urllib.parse.parse_qsl(location.query))
        assert query["acr_values"] == "selfregistered-email idporten-loa-substantial"
        assert query["response_type"] == "code"
    # A bad bearer token is no login: 401.
    response = await http.get(download_url(item, attachment["id"]), headers=bearer("nonsense"))
    assert (response.status_code, response.content) == (401, b"")


async def test_a_raw_maskinporten_token_gets_idx10205(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, reader: str
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"a.pdf": b"a"})
    (attachment,) = await attachments_of(http, reader, item)
    raw = await system_user_token(emu, http, client_key, clock, exchange=False)
    for url in (download_url(item, attachment["id"]), f"{API}/{item}/attachments/downloadall"):
        response = await http.get(url, headers=bearer(raw))
        assert response.status_code == 403
        assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "IDX10205: Issuer validation failed"
        assert response.json()["detail"].startswith("Maskinporten token is not valid.")


async def test_another_organisation_may_not_download(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock, reader: str
) -> None:
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"a.pdf": b"a"})
    (attachment,) = await attachments_of(http, reader, item)
    other = await system_user_token(emu, http, client_key, clock, OTHER_CUSTOMER)
    response = await http.get(download_url(item, attachment["id"]), headers=bearer(other))
    assert_error(response, 401, 4001)
    assert_error(
        await http.get(f"{API}/{item}/attachments/downloadall", headers=bearer(other)), 401, 4001
    )


async def test_a_dialog_token_downloads_from_its_dialog_only(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    tokens = DialogTokens()
    emu._correspondence.dialog_token_claims = tokens.verify
    item = emu.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"a.pdf": b"pdf"})
    other = emu.add_correspondence(CUSTOMER, resource=RESOURCE, attachments={"b.pdf": b"pdf"})
    emu.set_correspondence_dialog(item, "0198dddd-0000-7000-8000-000000000001")
    (attachment,) = await attachments_of(http, reader, item)
    (foreign,) = await attachments_of(http, reader, other)
    token = tokens.issue("0198dddd-0000-7000-8000-000000000001", org_urn(CUSTOMER), now=clock.now)
    response = await http.get(download_url(item, attachment["id"]), headers=bearer(token))
    assert (response.status_code, response.content) == (200, b"pdf")
    response = await http.get(download_url(other, foreign["id"]), headers=bearer(token))
    assert_error(response, 401, 4001)
    no_read = tokens.issue(
        "0198dddd-0000-7000-8000-000000000001", org_urn(CUSTOMER), now=clock.now, actions="write"
    )
    response = await http.get(download_url(item, attachment["id"]), headers=bearer(no_read))
    assert response.status_code == 401


async def test_a_download_before_publishing_is_404(
    emu: Emulator, http: httpx.AsyncClient, reader: str, clock: Clock
) -> None:
    item = emu.add_correspondence(
        CUSTOMER, resource=RESOURCE, attachments={"a.pdf": b"a"}, published=clock.now + 600
    )
    attachment = emu._correspondence_seeding.get(item).attachments[0].id
    assert_error(await http.get(download_url(item, attachment), headers=bearer(reader)), 404, 1001)
