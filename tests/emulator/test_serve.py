"""The emulator served by uvicorn on 127.0.0.1, spoken to over a real socket."""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import (
    DEFAULT_PID,
    CertificateAuthority,
    Emulator,
    EmulatorServer,
    IssuedCertificate,
)
from altinn_async.testing._toolkit.server import Server, ServerTLS, listen

from .conftest import DIGDIR, EXCHANGE, INSTANCES, READ, WRITE, Clock, make_grant, request_token

NO_RESPONSE = "Server disconnected without sending a response."


async def test_served_answers_carry_the_emulators_date_alone(clock: Clock) -> None:
    # uvicorn dates responses by the real clock; the emulator's (skewed here) must be the only one.
    clock.now = 1_000_000_000.0
    emulator = Emulator(clock=clock)
    with emulator.serve() as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.get("/maskinporten/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.headers.get_list("date") == ["Sun, 09 Sep 2001 01:46:40 GMT"]


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


# -- a server bound first, run in the foreground ------------------------------------------------


def test_a_busy_port_fails_before_anything_runs() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="already in use") as caught:
            Emulator().server(port=port)
    assert caught.value.errno == errno.EADDRINUSE


def test_the_server_is_bound_and_knows_its_url_before_it_runs() -> None:
    emu = Emulator()
    with emu.server() as server:
        assert isinstance(server, EmulatorServer)
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        assert (host, int(port) > 0) == ("127.0.0.1", True)
        assert server.environment == emu.environment_for(server.url)
        assert server.environment.maskinporten.issuer == f"{server.url}/maskinporten/"
        # Already listening: a client can connect before the server runs.
        socket.create_connection(("127.0.0.1", int(port)), timeout=5).close()
    # Closed without running: the port is free again.
    with socket.socket() as again:
        again.bind(("127.0.0.1", int(port)))


def test_run_serves_until_stop_and_returns_quickly(emu: Emulator) -> None:
    server = emu.server()
    thread = threading.Thread(target=server.run)
    thread.start()
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/maskinporten/jwk").status_code == 200
        # The client keeps its connection open (keep-alive, idle) while the server stops.
        started = time.perf_counter()
        server.stop()
        thread.join(5)
        elapsed = time.perf_counter() - started
    assert not thread.is_alive()
    assert elapsed < 1.0
    with pytest.raises(RuntimeError, match="already ran"):
        server.run()


def test_run_returns_on_ctrl_c(emu: Emulator) -> None:
    server = emu.server()
    answered: list[int] = []

    def press_ctrl_c() -> None:
        # Once a request was answered, run() is serving with its signal handlers in place.
        with httpx.Client(base_url=server.url) as http:
            answered.append(http.get("/maskinporten/jwk").status_code)
        os.kill(os.getpid(), signal.SIGINT)

    presser = threading.Thread(target=press_ctrl_c)
    presser.start()
    started = time.perf_counter()
    try:
        server.run()
    except KeyboardInterrupt:  # pragma: no cover - the failure this test is about
        pytest.fail("run() let Ctrl-C through")
    presser.join(5)
    assert answered == [200]
    assert time.perf_counter() - started < 5


def test_a_stopped_server_that_never_ran_returns_at_once(emu: Emulator) -> None:
    server = emu.server()
    server.stop()
    started = time.perf_counter()
    server.run()
    assert time.perf_counter() - started < 1.0


async def test_serve_on_ipv6_loopback(emu: Emulator) -> None:
    with emu.serve("::1") as base_url:
        assert base_url.startswith("http://[::1]:")
        async with httpx.AsyncClient(base_url=base_url) as http:
            metadata = await http.get("/maskinporten/.well-known/oauth-authorization-server")
    assert metadata.json()["issuer"] == f"{base_url}/maskinporten/"


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])  # noqa: S104 - the point of the test
def test_a_wildcard_host_needs_the_public_url(host: str) -> None:
    emu = Emulator()
    with pytest.raises(ValueError, match="public_url"):
        emu.server(host)
    with pytest.raises(ValueError, match="public_url"), emu.serve(host):
        pass  # pragma: no cover


async def test_a_wildcard_host_serves_at_the_public_url(
    emu: Emulator, free_port: Callable[[], int]
) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    with emu.serve("0.0.0.0", port, public_url=public) as base_url:  # noqa: S104
        assert base_url == public
        async with httpx.AsyncClient(base_url=base_url) as http:
            assert (await http.get("/maskinporten/jwk")).status_code == 200
    server = emu.server("::", public_url="http://emulator.localhost:8080/")
    with server:
        assert server.url == "http://emulator.localhost:8080"
        assert server.environment.platform == "http://emulator.localhost:8080/platform"


@pytest.mark.parametrize(
    "public_url",
    ["emulator.localhost:8080", "ftp://emulator.localhost", "http://x.localhost/path"],
)
def test_public_url_must_be_an_origin(public_url: str) -> None:
    with pytest.raises(ValueError, match="public_url"):
        Emulator().server(public_url=public_url)


def test_public_url_scheme_must_match_tls(ca: CertificateAuthority) -> None:
    emu = Emulator()
    with pytest.raises(ValueError, match="https"):
        emu.server(certificate_authority=ca, public_url="http://emulator.localhost:8443")
    with pytest.raises(ValueError, match="http URL"):
        emu.server(public_url="https://emulator.localhost:8443")


async def test_tls_server_certificate_names_the_public_host(ca: CertificateAuthority) -> None:
    emu = Emulator()
    with emu.server(certificate_authority=ca, public_url="https://emulator.localhost:1") as server:
        thread = server.run_in_thread(10)
        port = int(server._socket.getsockname()[1])
        try:
            context = ssl.create_default_context(cadata=ca.ca_pem().decode())
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname="emulator.localhost") as tls,
            ):
                assert tls.version() is not None  # the name checked out
        finally:
            server.stop()
            thread.join(5)


def test_a_server_that_cannot_be_made_closes_its_socket(emu: Emulator) -> None:
    sock = listen("127.0.0.1", 0)
    broken = ServerTLS(b"no certificate", b"no key", b"", require_client_certificate=False)
    with pytest.raises(ssl.SSLError):
        Server(emu, sock, "https://127.0.0.1:1", broken)
    assert sock.fileno() == -1
