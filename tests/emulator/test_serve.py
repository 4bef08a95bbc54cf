"""The emulator served by uvicorn on 127.0.0.1, spoken to over a real socket."""

from __future__ import annotations

import logging
import socket
import ssl
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import DEFAULT_PID, CertificateAuthority, Emulator, IssuedCertificate

from .conftest import DIGDIR, EXCHANGE, INSTANCES, READ, WRITE, Clock, make_grant, request_token

NO_RESPONSE = "Server disconnected without sending a response."


async def test_full_flow_over_a_socket(emu: Emulator, client_key: RSAKey, clock: Clock) -> None:
    emu.add_instances("digdir", "app", 5)
    with emu.serve() as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        port = int(base_url.rsplit(":", 1)[1])
        assert port > 0
        env = emu.environment_for(base_url)
        async with httpx.AsyncClient(base_url=base_url) as http:
            metadata = await http.get("/maskinporten/.well-known/oauth-authorization-server")
            assert metadata.json()["issuer"] == env.maskinporten.issuer
            assert metadata.json()["token_endpoint"] == env.maskinporten.token_endpoint

            grant = make_grant(
                client_key, clock.now, aud=env.maskinporten.issuer, scope=f"{READ} {WRITE}"
            )
            token = await request_token(http, grant)
            assert token.status_code == 200, token.text
            access_token = token.json()["access_token"]

            exchanged = await http.get(
                EXCHANGE, headers={"Authorization": f"Bearer {access_token}"}
            )
            assert exchanged.status_code == 200
            auth = {"Authorization": f"Bearer {exchanged.text}"}

            page = await http.get(INSTANCES, params={"org": "digdir", "size": "3"}, headers=auth)
            body = page.json()
            assert body["next"].startswith(f"{base_url}/platform/storage/api/v1/instances?")
            second = await http.get(body["next"], headers=auth)
            assert second.json()["count"] == 2
            instance = body["instances"][0]
            data_url = instance["data"][0]["selfLinks"]["platform"]
            assert data_url.startswith(base_url)
            data = await http.get(data_url, headers=auth)
            assert data.content.startswith(b"<?xml")
    assert emu.requests["maskinporten.token"] == 1
    assert emu.requests["storage.instances"] == 2
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as after:
            await after.get(f"{base_url}/maskinporten/jwk")


async def test_grant_for_the_in_process_issuer_is_refused_when_served(
    emu: Emulator, client_key: RSAKey, clock: Clock
) -> None:
    with emu.serve() as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            # aud is http://altinn.localhost/maskinporten/, but this origin is 127.0.0.1:port.
            response = await request_token(http, make_grant(client_key, clock.now))
    assert response.status_code == 400
    assert response.json()["error_uri"] == "https://maskinporten.no/errors/MP-110"


async def test_faults_apply_when_served(emu: Emulator) -> None:
    emu.inject_fault("maskinporten.jwk", status=503, body=b"down")
    with emu.serve() as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            first = await http.get("/maskinporten/jwk")
            second = await http.get("/maskinporten/jwk")
    assert (first.status_code, first.text) == (503, "down")
    assert second.status_code == 200


def test_two_servers_at_once() -> None:
    emu = Emulator()
    with emu.serve() as first, emu.serve() as second:
        assert first != second
        with httpx.Client() as http:
            one = http.get(f"{first}/maskinporten/jwk").json()
            two = http.get(f"{second}/maskinporten/jwk").json()
    # One emulator, one signing key, whatever the origin.
    assert one == two


# -- HTTPS with client certificates (Altinn 2's enterprise-certificate login) ---------------------

NO_ORG = "Authorization failed: There is no authenticated organization number set on this request."
SO_REPORTEES = f"/altinn2/api/serviceowner/reportees?subject={DEFAULT_PID}"


@pytest.fixture
def certificate_files(tmp_path: Path, enterprise_cert: IssuedCertificate) -> tuple[str, str]:
    chain, key = tmp_path / "virksomhet.pem", tmp_path / "virksomhet-key.pem"
    chain.write_bytes(enterprise_cert.chain_pem())
    key.write_bytes(enterprise_cert.private_key_pem())
    return str(chain), str(key)


@pytest.fixture(scope="module")
def other_ca() -> CertificateAuthority:
    return CertificateAuthority("Someone Else's CA")


def tls_context(
    ca: CertificateAuthority, certificate: tuple[str, str] | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca.ca_pem().decode())
    if certificate is not None:
        context.load_cert_chain(*certificate)
    return context


def altinn2_emulator() -> Emulator:
    emu = Emulator()
    emu.add_api_key("so-key", service_owner=True)
    emu.add_api_key("key")
    emu.add_altinn2_user("digdir-bruker", "pw", enterprise_org=DIGDIR)
    return emu


async def test_altinn2_over_tls_with_a_required_client_certificate(
    ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    certificate_files: tuple[str, str],
    tmp_path: Path,
) -> None:
    emu = altinn2_emulator()
    with emu.serve(certificate_authority=ca, require_client_certificate=True) as base_url:
        assert base_url.startswith("https://127.0.0.1:")
        assert emu.environment_for(base_url).altinn2 == f"{base_url}/altinn2"
        verify = tls_context(ca, certificate_files)
        async with httpx.AsyncClient(verify=verify, base_url=base_url) as http:
            ok = await http.get(
                f"{SO_REPORTEES}&ForceEIAuthentication", headers={"ApiKey": "so-key"}
            )
            assert ok.status_code == 200, ok.reason_phrase
            assert ok.json()["_links"]["self"]["href"].startswith(f"{base_url}/altinn2/api/")
            # Without the flag the certificate does not count: the reason phrase says so.
            refused = await http.get(SO_REPORTEES, headers={"ApiKey": "so-key"})
            assert (refused.status_code, refused.reason_phrase) == (401, NO_ORG)
            assert refused.content == b""
            assert "x-altinn-async-reason-phrase" not in refused.headers
            # An enterprise user logs in with the certificate; the cookie is Secure over https.
            login = await http.post(
                "/altinn2/api/authentication/authenticatewithpassword?ForceEIAuthentication",
                json={"UserName": "digdir-bruker", "UserPassword": "pw"},
                headers={"ApiKey": "key"},
            )
            assert login.status_code == 200
            assert "; secure; HttpOnly" in login.headers["set-cookie"]
            box = await http.get(
                f"/altinn2/api/{DIGDIR}/messages?ForceEIAuthentication", headers={"ApiKey": "key"}
            )
            assert box.headers["content-type"] == "application/hal+json; charset=utf-8"
        # No client certificate: the TLS handshake is refused.
        async with httpx.AsyncClient(verify=tls_context(ca), base_url=base_url) as http:
            with pytest.raises(httpx.TransportError):
                await http.get(
                    f"{SO_REPORTEES}&ForceEIAuthentication", headers={"ApiKey": "so-key"}
                )
        # A certificate from a CA the emulator does not trust: refused as well.
        stranger = other_ca.issue_enterprise_certificate(DIGDIR)
        (tmp_path / "other.pem").write_bytes(stranger.chain_pem())
        (tmp_path / "other-key.pem").write_bytes(stranger.private_key_pem())
        files = (str(tmp_path / "other.pem"), str(tmp_path / "other-key.pem"))
        async with httpx.AsyncClient(verify=tls_context(ca, files), base_url=base_url) as http:
            with pytest.raises(httpx.TransportError):
                await http.get(
                    f"{SO_REPORTEES}&ForceEIAuthentication", headers={"ApiKey": "so-key"}
                )
        # The server's certificate is the test CA's: a default client does not trust it.
        async with httpx.AsyncClient(base_url=base_url) as http:
            with pytest.raises(httpx.ConnectError):
                await http.get(SO_REPORTEES)


async def test_altinn2_over_tls_with_an_optional_client_certificate(
    ca: CertificateAuthority, certificate_files: tuple[str, str]
) -> None:
    emu = altinn2_emulator()
    with emu.serve(certificate_authority=ca) as base_url:
        flagged = f"{SO_REPORTEES}&ForceEIAuthentication"
        async with httpx.AsyncClient(verify=tls_context(ca), base_url=base_url) as http:
            # The handshake succeeds; the API refuses what needs the certificate.
            refused = await http.get(flagged, headers={"ApiKey": "so-key"})
            assert (refused.status_code, refused.reason_phrase) == (401, NO_ORG)
            missing = await http.get(flagged)
            assert (missing.status_code, missing.reason_phrase) == (
                400,
                "Required header 'ApiKey' is missing.",
            )
            # The rest of the emulator works over https too.
            metadata = await http.get("/maskinporten/.well-known/oauth-authorization-server")
            assert metadata.json()["issuer"] == f"{base_url}/maskinporten/"
        verify = tls_context(ca, certificate_files)
        async with httpx.AsyncClient(verify=verify, base_url=base_url) as http:
            ok = await http.get(flagged, headers={"ApiKey": "so-key"})
            assert ok.status_code == 200
    with (
        pytest.raises(ValueError, match="certificate_authority"),
        emu.serve(require_client_certificate=True),
    ):
        pass  # pragma: no cover


# -- network faults on a real socket ------------------------------------------------------------


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _error_of(http: httpx.AsyncClient, path: str) -> httpx.RemoteProtocolError:
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        await http.get(path)
    return caught.value


async def test_network_faults_fail_alike_in_process_and_on_a_socket(emu: Emulator) -> None:
    logged = _Records()
    logging.getLogger("uvicorn.error").addHandler(logged)
    try:
        async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
            emu.inject_fault("maskinporten.jwk", drop=True)
            in_process_drop = await _error_of(http, "/maskinporten/jwk")
            emu.inject_fault("maskinporten.jwk", cut_after=7)
            in_process_cut = await _error_of(http, "/maskinporten/jwk")
        with emu.serve() as base_url:
            async with httpx.AsyncClient(base_url=base_url) as http:
                emu.inject_fault("maskinporten.jwk", drop=True)
                served_drop = await _error_of(http, "/maskinporten/jwk")
                emu.inject_fault("maskinporten.jwk", cut_after=7)
                served_cut = await _error_of(http, "/maskinporten/jwk")
                # The server goes on serving on a new connection.
                assert (await http.get("/maskinporten/jwk")).status_code == 200
    finally:
        logging.getLogger("uvicorn.error").removeHandler(logged)
    assert str(served_drop) == str(in_process_drop) == NO_RESPONSE
    assert str(served_cut) == str(in_process_cut)
    assert "(received 7 bytes, expected " in str(served_cut)
    # uvicorn neither answered 500 nor logged an incomplete response.
    assert [r for r in logged.records if r.levelno >= logging.ERROR] == []


def test_a_dropped_connection_is_really_closed(emu: Emulator) -> None:
    emu.inject_fault("maskinporten.jwk", cut_after=3)
    with emu.serve() as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /maskinporten/jwk HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):  # until the server closes the socket
                received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == b'{"k'
