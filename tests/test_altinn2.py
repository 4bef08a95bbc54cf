"""The Altinn 2 client and logins against the emulator: in-process, and over real TLS."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import attrs
import httpx
import pytest

import altinn_async as altinn
from altinn_async._cli import main
from altinn_async.testing import DEFAULT_PID, CertificateAuthority, Emulator

from .helpers import signing_key

API_KEY = "end-user-api-key"
OWNER_KEY = "service-owner-api-key"


@attrs.define
class World:
    emulator: Emulator
    own: str  # the user's own ReporteeId

    def client(self, auth: httpx.Auth) -> tuple[httpx.AsyncClient, altinn.Altinn2Client]:
        http = httpx.AsyncClient(transport=self.emulator.transport(), auth=auth)
        return http, altinn.Altinn2Client(http, base_url=self.emulator.environment.altinn2)

    def password(self) -> altinn.Altinn2Auth:
        return altinn.Altinn2Auth(
            API_KEY,
            environment=self.emulator.environment,
            login=altinn.PasswordLogin("ola", "Passord1"),
        )


@pytest.fixture
def world() -> World:
    emulator = Emulator(altinn2_db_cap=10_000)
    emulator.add_api_key(API_KEY)
    emulator.add_api_key(OWNER_KEY, service_owner=True)
    own = emulator.add_altinn2_user("ola", "Passord1", pid=DEFAULT_PID)
    emulator.add_altinn2_messages(own, 120, seed=1)
    return World(emulator, own)


async def test_password_login_pages_the_whole_box(world: World) -> None:
    http, altinn2 = world.client(world.password())
    async with http:
        pager = altinn2.messages()
        messages = [m async for m in pager]
    assert len(messages) == 120
    assert len({m["MessageId"] for m in messages}) == 120
    assert world.emulator.requests["altinn2.authenticate"] == 1
    assert world.emulator.requests["altinn2.messages"] == 3  # 50 + 50 + 20 (a short page ends it)


async def test_logs_in_again_when_the_session_ends(world: World) -> None:
    http, altinn2 = world.client(world.password())
    async with http:
        first = [m async for m in altinn2.messages(max_items=10)]
        world.emulator.end_altinn2_sessions()
        again = [m async for m in altinn2.messages(max_items=10)]
    assert [m["MessageId"] for m in first] == [m["MessageId"] for m in again]
    assert world.emulator.requests["altinn2.authenticate"] == 2


async def test_filter_and_dates(world: World) -> None:
    world.emulator.add_altinn2_message(
        world.own, subject="Skattemelding", service_owner="Skatteetaten"
    )
    http, altinn2 = world.client(world.password())
    async with http:
        found = [m async for m in altinn2.messages(filter="ServiceOwner eq 'Skatteetaten'")]
    assert found
    assert {m["ServiceOwner"] for m in found} == {"Skatteetaten"}


async def test_limit_reached_warning_says_to_narrow_by_date() -> None:
    emulator = Emulator(altinn2_db_cap=100)
    emulator.add_api_key(API_KEY)
    own = emulator.add_altinn2_user("ola", "Passord1", pid=DEFAULT_PID)
    emulator.add_altinn2_messages(own, 150, seed=2)
    auth = altinn.Altinn2Auth(
        API_KEY, environment=emulator.environment, login=altinn.PasswordLogin("ola", "Passord1")
    )
    async with httpx.AsyncClient(transport=emulator.transport(), auth=auth) as http:
        altinn2 = altinn.Altinn2Client(http, base_url=emulator.environment.altinn2)
        with pytest.warns(altinn.LimitReachedWarning, match="dateFrom"):
            [m async for m in altinn2.messages()]


async def test_message_attachments_forms_and_print(world: World, tmp_path: Path) -> None:
    message = world.emulator.add_altinn2_message(
        world.own,
        subject="Vedtak",
        service_owner="NAV",
        type="FormTask",
        forms=[("Skjema", "<Skjema><Felt>1</Felt></Skjema>")],
        attachments=[
            ("vedtak.pdf", b"%PDF-1.4 vedtak", "application/pdf"),
            ("stor.bin", 3_000_000, "application/octet-stream"),
        ],
    )
    http, altinn2 = world.client(world.password())
    async with http:
        full = await altinn2.message(message["MessageId"])
        links = altinn2.attachments(full)
        assert [link.attributes.get("fileName") for link in links] == ["vedtak.pdf", "stor.bin"]
        small = await altinn2.download(links[0], tmp_path)
        big = await altinn2.download(links[1], tmp_path / "out")
        forms = await altinn2.forms(full)
        data = await altinn2.form_data(forms[0])
        pdf = await altinn2.print_pdf(full)
    assert small == tmp_path / "vedtak.pdf"
    assert big == tmp_path / "out" / "stor.bin"
    assert small.read_bytes() == b"%PDF-1.4 vedtak"
    assert big.stat().st_size == 3_000_000
    assert not list((tmp_path / "out").glob(".*"))  # no partial file left behind
    assert b"<Felt>1</Felt>" in data
    assert pdf.startswith(b"%PDF")


async def test_links_to_another_origin_are_not_followed(world: World) -> None:
    http, altinn2 = world.client(world.password())
    async with http:
        with pytest.raises(altinn.ConfigurationError, match="origin"):
            await altinn2.get("https://evil.example/api/my/messages")


async def test_idporten_bearer_login(world: World) -> None:
    emulator = world.emulator
    emulator.add_idporten_client(
        "web",
        redirect_uris=["https://app.example/cb"],
        client_secret="s",
        scopes=["openid", "altinn:instances.read"],
    )
    async with httpx.AsyncClient(transport=emulator.transport()) as token_http:
        idporten = altinn.IDPortenClient(
            client_id="web", client_secret="s", redirect_uri="https://app.example/cb",
            scopes=["openid", "altinn:instances.read"], environment=emulator.environment,
            http_client=token_http,
        )  # fmt: skip
        login = idporten.start_login()
        await idporten.complete_login(await emulator.idporten_login(login.url), login)
        http, altinn2 = world.client(altinn.Altinn2Auth(API_KEY, login=idporten.session()))
        async with http:
            messages = [m async for m in altinn2.messages(max_items=5)]
    assert len(messages) == 5
    assert emulator.requests["altinn2.authenticate"] == 0


async def test_maskinporten_service_owner_reportees(world: World) -> None:
    emulator = world.emulator
    key = signing_key("so-kid")
    emulator.add_maskinporten_client(
        "owner", org_number="405003309", scopes=["altinn:serviceowner/reportees"],
        jwks=[key.public_jwk],
    )  # fmt: skip
    for index in range(7):
        company = emulator.add_reportee(f"Firma {index} AS", org_number=f"91000000{index}")
        emulator.add_altinn2_right(DEFAULT_PID, company["ReporteeId"])
    async with httpx.AsyncClient(transport=emulator.transport()) as token_http:
        maskinporten = altinn.MaskinportenAuth(
            client_id="owner", key=key, scopes=["altinn:serviceowner/reportees"],
            environment=emulator.environment, http_client=token_http,
        )  # fmt: skip
        http, altinn2 = world.client(altinn.Altinn2Auth(OWNER_KEY, login=maskinporten))
        async with http:
            reportees = [r async for r in altinn2.serviceowner_reportees(DEFAULT_PID, page_size=3)]
    names = {r["Name"] for r in reportees}
    assert {f"Firma {i} AS" for i in range(7)} <= names


async def test_continuation_list(world: World) -> None:
    emulator = world.emulator
    for index in range(5):
        emulator.add_consent(
            service_code="5678", service_edition=1, offered_by=f"91000001{index}",
            covered_by="405003309",
        )  # fmt: skip
    key = signing_key("so-kid")
    emulator.add_maskinporten_client(
        "owner", org_number="405003309", scopes=["altinn:serviceowner/consents"],
        jwks=[key.public_jwk],
    )  # fmt: skip
    async with httpx.AsyncClient(transport=emulator.transport()) as token_http:
        maskinporten = altinn.MaskinportenAuth(
            client_id="owner", key=key, scopes=["altinn:serviceowner/consents"],
            environment=emulator.environment, http_client=token_http,
        )  # fmt: skip
        http, altinn2 = world.client(altinn.Altinn2Auth(OWNER_KEY, login=maskinporten))
        async with http:
            pager = altinn2.continuation_list(
                "serviceowner/consents",
                "consents",
                params={"$top": "2", "serviceCode": "5678", "serviceEdition": "1"},
            )
            pages = [page async for page in pager.pages()]
    assert sum(len(page.items) for page in pages) == 5
    assert pages[0].continuation_token
    assert pages[-1].items == [] or pages[-1].next is None


# --- the enterprise certificate over real TLS ---------------------------------------------------


@pytest.fixture
def tls(world: World, tmp_path: Path) -> tuple[str, Path, Path, CertificateAuthority]:
    ca = CertificateAuthority()
    world.emulator.trust_certificate_authority(ca.root)
    cert = ca.issue_enterprise_certificate("405003309", "TESTDEPARTEMENTET")
    p12 = tmp_path / "virksomhet.p12"
    p12.write_bytes(cert.pkcs12(b"hemmelig"))
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.ca_pem())
    world.emulator.add_altinn2_user("bedrift", "Passord2", enterprise_org="405003309")
    return "", p12, ca_file, ca


@pytest.fixture
async def served_tls(
    world: World, tls: tuple[str, Path, Path, CertificateAuthority]
) -> AsyncIterator[str]:
    with world.emulator.serve(certificate_authority=tls[3], require_client_certificate=True) as url:
        yield url


async def test_certificate_login_over_real_tls(
    world: World, tls: tuple[str, Path, Path, CertificateAuthority], served_tls: str
) -> None:
    _, p12, ca_file, _ = tls
    assert served_tls.startswith("https://127.0.0.1:")
    base = world.emulator.environment_for(served_tls).altinn2
    context = altinn.enterprise_tls_context(p12, b"hemmelig", verify=ca_file)
    world.emulator.add_altinn2_right(DEFAULT_PID, "405003309")
    auth = altinn.Altinn2Auth(OWNER_KEY, base_url=base, force_ei_authentication=True)
    async with httpx.AsyncClient(auth=auth, verify=context) as http:
        altinn2 = altinn.Altinn2Client(http, base_url=base)
        reportees = [r async for r in altinn2.serviceowner_reportees(DEFAULT_PID)]
    assert reportees


async def test_enterprise_user_password_login_over_the_certificate(
    world: World, tls: tuple[str, Path, Path, CertificateAuthority], served_tls: str
) -> None:
    _, p12, ca_file, _ = tls
    base = world.emulator.environment_for(served_tls).altinn2
    context = altinn.enterprise_tls_context(p12, b"hemmelig", verify=ca_file)
    login = altinn.PasswordLogin("bedrift", "Passord2")
    auth = altinn.Altinn2Auth(API_KEY, base_url=base, login=login, force_ei_authentication=True)
    async with httpx.AsyncClient(auth=auth, verify=context) as http:
        altinn2 = altinn.Altinn2Client(http, base_url=base)
        [m async for m in altinn2.messages(max_items=3)]
    assert login.logins == 1


async def test_refused_without_a_client_certificate(
    world: World, tls: tuple[str, Path, Path, CertificateAuthority], served_tls: str
) -> None:
    _, _, ca_file, _ = tls
    base = world.emulator.environment_for(served_tls).altinn2
    no_cert = ssl.create_default_context(cafile=str(ca_file))
    auth = altinn.Altinn2Auth(OWNER_KEY, base_url=base, force_ei_authentication=True)
    async with httpx.AsyncClient(auth=auth, verify=no_cert) as http:
        altinn2 = altinn.Altinn2Client(http, base_url=base)
        with pytest.raises(altinn.NetworkError):
            [r async for r in altinn2.serviceowner_reportees(DEFAULT_PID)]


# --- the harvest command ------------------------------------------------------------------------


def test_harvest_to_json_lines_with_attachments_and_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator = Emulator()
    emulator.add_api_key(API_KEY)
    own = emulator.add_altinn2_user("ola", "Passord1", pid=DEFAULT_PID)
    seeded = emulator.add_altinn2_messages(own, 130, seed=3)
    with_attachment = [m for m in seeded if m.get("_links", {}).get("attachment")]
    monkeypatch.setenv("ALTINN2_KEY", API_KEY)
    monkeypatch.setenv("ALTINN2_PASSWORD", "Passord1")
    out = tmp_path / "messages.jsonl"
    with emulator.serve() as base_url:
        common = [
            "harvest", "altinn2", "--env", f"{base_url}/altinn2", "--api-key-env", "ALTINN2_KEY",
            "--username", "ola", "--password-env", "ALTINN2_PASSWORD", "--out", str(out),
            "--files", str(tmp_path / "attachments"),
        ]  # fmt: skip
        assert main([*common, "--max", "70"]) == 0
        first = [json.loads(line)["MessageId"] for line in out.read_text().splitlines()]
        assert len(first) == 70
        assert (tmp_path / "messages.jsonl.checkpoint").exists()
        assert main([*common, "--resume"]) == 0
    ids = [json.loads(line)["MessageId"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(m["MessageId"] for m in seeded)  # each exactly once
    with contextlib.closing(sqlite3.connect(tmp_path / "messages.jsonl.checkpoint")) as db:
        ((position, finished),) = db.execute("SELECT position, finished FROM sources")
    assert finished == 1
    assert position is None
    assert "harvest complete: 60 items" in capsys.readouterr().err
    files = [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
    assert len(files) >= len(with_attachment)


# --- reading is safe -----------------------------------------------------------------------------


async def test_a_server_file_name_never_leaves_the_download_folder(
    world: World, tmp_path: Path
) -> None:
    names = ["../../evil.txt", "/etc/passwd", "..\\\\..\\\\win.ini", ".bashrc", "CON", "a\x00b.pdf"]
    message = world.emulator.add_altinn2_message(
        world.own,
        subject="Vedlegg",
        service_owner="NAV",
        attachments=[(name, name.encode() or b"x", "text/plain") for name in names],
    )
    out = tmp_path / "deep" / "out"
    http, altinn2 = world.client(world.password())
    async with http:
        full = await altinn2.message(message["MessageId"])
        paths = [await altinn2.download(link, out) for link in altinn2.attachments(full)]
    assert [p.name for p in paths] == ["evil.txt", "passwd", "win.ini", "bashrc", "_CON", "a_b.pdf"]
    for path in paths:
        assert path.parent == out
    every_file = await anyio.to_thread.run_sync(lambda: list(tmp_path.rglob("*")))
    written = sorted(p.relative_to(tmp_path) for p in every_file if p.is_file())
    assert written == sorted(p.relative_to(tmp_path) for p in paths)


async def test_reading_a_message_does_not_mark_it_read(world: World) -> None:
    message = world.emulator.add_altinn2_message(
        world.own, subject="Ulest brev", service_owner="NAV", status="Ulest",
        attachments=[("brev.pdf", b"%PDF", "application/pdf")],
    )  # fmt: skip
    http, altinn2 = world.client(world.password())

    async def listed() -> altinn.HalResource:
        async for item in altinn2.messages():
            if item["MessageId"] == message["MessageId"]:
                return item
        raise AssertionError("the message is not in the box")

    async with http:
        await altinn2.message_details(await listed())
        await altinn2.message(message["MessageId"])
        assert (await listed())["Status"] == "Ulest"
        await altinn2.message(message["MessageId"], mark_as_read=True)
        # The emulator does mark a message read when asked: the check above can fail.
        assert (await listed())["Status"] == "Lest"


def test_harvest_with_attachments_leaves_unread_messages_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = Emulator()
    emulator.add_api_key(API_KEY)
    own = emulator.add_altinn2_user("ola", "Passord1", pid=DEFAULT_PID)
    for index in range(7):
        emulator.add_altinn2_message(
            own, subject=f"Brev {index}", service_owner="NAV", status="Ulest",
            attachments=[(f"brev-{index}.pdf", b"%PDF-1.4", "application/pdf")],
        )  # fmt: skip
    monkeypatch.setenv("ALTINN2_KEY", API_KEY)
    monkeypatch.setenv("ALTINN2_PASSWORD", "Passord1")
    with emulator.serve() as base_url:
        assert main([
            "harvest", "altinn2", "--env", f"{base_url}/altinn2", "--api-key-env", "ALTINN2_KEY",
            "--username", "ola", "--password-env", "ALTINN2_PASSWORD",
            "--out", str(tmp_path / "out.jsonl"), "--files", str(tmp_path / "files"),
        ]) == 0  # fmt: skip
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(lines) == 7
    assert {line["Status"] for line in lines} == {"Ulest"}
    assert len(list((tmp_path / "files").rglob("*.pdf"))) == 7

    async def statuses() -> set[str]:
        auth = altinn.Altinn2Auth(
            API_KEY, environment=emulator.environment, login=altinn.PasswordLogin("ola", "Passord1")
        )
        async with httpx.AsyncClient(transport=emulator.transport(), auth=auth) as http:
            altinn2 = altinn.Altinn2Client(http)
            return {m["Status"] async for m in altinn2.messages()}

    assert anyio.run(statuses) == {"Ulest"}  # the box itself is unchanged
