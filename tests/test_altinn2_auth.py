"""The Altinn 2 logins against a scripted server: ApiKey, password session, certificate flag."""

from __future__ import annotations

import json
import logging
import ssl
from pathlib import Path

import anyio
import anyio.lowlevel
import httpx
import pytest

import altinn_async as altinn
from altinn_async.testing import CertificateAuthority

from .helpers import MOCK_ENV, ScriptedMaskinporten, signing_key

SITE = "https://tt02.example"
BASE = f"{SITE}/api"


class Altinn2:
    """Accepts sessions it created; can forget them, and answers like Altinn without one."""

    def __init__(self, *, password: str = "pw", without_session: str = "html") -> None:
        self.password = password
        self.sessions: set[str] = set()
        self.requests: list[httpx.Request] = []
        self.logins = 0
        self.without_session = without_session

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        await anyio.lowlevel.checkpoint()
        self.requests.append(request)
        if request.url.path == "/api/authentication/authenticatewithpassword":
            body = json.loads(request.content)
            if body != {"UserName": "ola", "UserPassword": self.password}:
                return httpx.Response(401)
            self.logins += 1
            session = f"session-{self.logins}"
            self.sessions.add(session)
            return httpx.Response(
                200, headers={"Set-Cookie": f".AspxAuthTT02={session}; path=/; HttpOnly"}
            )
        cookies = dict(
            part.strip().split("=", 1)
            for part in request.headers.get("Cookie", "").split(";")
            if "=" in part
        )
        if cookies.get(".AspxAuthTT02") in self.sessions:
            return httpx.Response(200, json={"_embedded": {"messages": []}})
        if self.without_session == "redirect":
            return httpx.Response(302, headers={"Location": "https://tt02.example/ui/login"})
        return httpx.Response(
            200, text="<html>Logg inn</html>", headers={"Content-Type": "text/html"}
        )


def client(server: Altinn2, auth: httpx.Auth) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(server), auth=auth, base_url=BASE)


async def test_api_key_and_one_login_for_many_requests() -> None:
    server = Altinn2()
    login = altinn.PasswordLogin("ola", "pw")
    async with client(server, altinn.Altinn2Auth("my-api-key", base_url=SITE, login=login)) as http:
        responses: list[httpx.Response] = []

        async def one() -> None:
            responses.append(await http.get("/my/messages"))

        async with anyio.create_task_group() as group:
            for _ in range(100):
                group.start_soon(one)
    assert [r.status_code for r in responses] == [200] * 100
    assert server.logins == 1
    assert login.logins == 1
    assert all(r.headers["ApiKey"] == "my-api-key" for r in server.requests)  # the login too
    login_request = server.requests[0]
    assert login_request.method == "POST"
    assert login_request.headers["Content-Type"] == "application/hal+json"


@pytest.mark.parametrize("without_session", ["html", "redirect"])
async def test_logs_in_again_once_when_the_session_is_gone(without_session: str) -> None:
    server = Altinn2(without_session=without_session)
    async with client(
        server, altinn.Altinn2Auth("k", base_url=SITE, login=altinn.PasswordLogin("ola", "pw"))
    ) as http:
        assert (await http.get("/my/messages")).status_code == 200
        server.sessions.clear()  # Altinn restarted, or the session timed out
        response = await http.get("/my/messages")
    assert response.status_code == 200
    assert response.json() == {"_embedded": {"messages": []}}
    assert server.logins == 2


async def test_a_session_that_never_works_is_not_a_loop() -> None:
    server = Altinn2()
    server.sessions = _Forgetful()  # accepts every login, never a session
    auth = altinn.Altinn2Auth("k", base_url=SITE, login=altinn.PasswordLogin("ola", "pw"))
    async with client(server, auth) as http:
        response = await http.get("/my/messages")
    assert response.headers["Content-Type"].startswith("text/html")  # handed back, not looped
    assert server.logins == 2  # the first login, and one more


class _Forgetful(set[str]):
    def __contains__(self, item: object) -> bool:
        return False


async def test_a_wrong_password_is_a_login_error_without_the_password() -> None:
    server = Altinn2(password="right")
    auth = altinn.Altinn2Auth(
        "k", base_url=SITE, login=altinn.PasswordLogin("ola", "hunter2-wrong")
    )
    async with client(server, auth) as http:
        with pytest.raises(altinn.LoginError) as info:
            await http.get("/my/messages")
    assert "ola" in str(info.value)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(auth)
    assert server.logins == 0


def test_no_secret_in_reprs() -> None:
    auth = altinn.Altinn2Auth(
        "api-key-value", base_url=SITE, login=altinn.PasswordLogin("ola", "password-value")
    )
    assert "api-key-value" not in repr(auth)
    assert "password-value" not in repr(auth)


async def test_no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = Altinn2()
    async with client(
        server,
        altinn.Altinn2Auth("api-key-value", base_url=SITE, login=altinn.PasswordLogin("ola", "pw")),
    ) as http:
        await http.get("/my/messages")
    text = " ".join(record.getMessage() for record in caplog.records)
    assert "logged in" in text
    for secret in ("api-key-value", "session-1", '"pw"'):
        assert secret not in text


async def test_force_ei_authentication_on_every_request() -> None:
    seen: list[httpx.URL] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200)

    auth = altinn.Altinn2Auth("k", base_url=SITE, force_ei_authentication=True)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as http:
        await http.get(f"{BASE}/serviceowner/reportees")
        await http.get(f"{BASE}/serviceowner/reportees", params={"subject": "123", "$top": "500"})
        await http.get(f"{BASE}/serviceowner/reportees?ForceEIAuthentication")
    assert seen[0].query == b"ForceEIAuthentication"
    assert seen[1].query == b"subject=123&%24top=500&ForceEIAuthentication"
    assert seen[2].query == b"ForceEIAuthentication"


async def test_bearer_login_composes_with_the_api_key() -> None:
    endpoint = ScriptedMaskinporten(200)
    maskinporten = altinn.MaskinportenAuth(
        client_id="c",
        key=signing_key(),
        scopes=["altinn:serviceowner/reportees"],
        environment=MOCK_ENV,
        http_client=httpx.AsyncClient(transport=endpoint.transport()),
        allowed_origins=[SITE],
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    auth = altinn.Altinn2Auth("k", base_url=SITE, login=maskinporten)
    async with (
        maskinporten,
        httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as http,
    ):
        await http.get(f"{BASE}/serviceowner/reportees")
    assert seen[0].headers["ApiKey"] == "k"
    assert seen[0].headers["Authorization"] == "Bearer access-token-1"


def test_enterprise_tls_context(tmp_path: Path) -> None:
    ca = CertificateAuthority()
    p12 = tmp_path / "virksomhet.p12"
    p12.write_bytes(ca.issue_enterprise_certificate("910753614").pkcs12(b"pw"))
    cafile = tmp_path / "ca.pem"
    cafile.write_bytes(ca.ca_pem())
    context = altinn.enterprise_tls_context(p12, b"pw", verify=cafile)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(altinn.KeyLoadError, match="wrong password") as info:
        altinn.enterprise_tls_context(p12, "nope-secret", verify=cafile)
    assert "nope-secret" not in str(info.value)
    with pytest.raises(altinn.KeyLoadError, match="cannot read"):
        altinn.enterprise_tls_context(tmp_path / "missing.p12", b"pw")


def test_configuration_errors() -> None:
    with pytest.raises(altinn.ConfigurationError):
        altinn.Altinn2Auth("")
    with pytest.raises(altinn.ConfigurationError):
        altinn.PasswordLogin("ola", "")


# --- logins that fail ----------------------------------------------------------------------------


class Counting(Altinn2):
    """Counts password logins tried, and answers them with a fixed status."""

    def __init__(self, status: int, reason: str = "") -> None:
        super().__init__()
        self.attempts = 0
        self.status = status
        self.reason = reason

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/authenticatewithpassword"):
            self.attempts += 1
            await anyio.sleep(0.01)  # everyone else arrives while the login is under way
            extensions = {"reason_phrase": self.reason.encode()} if self.reason else {}
            return httpx.Response(self.status, extensions=extensions)
        return await super().__call__(request)


async def test_a_wrong_password_is_tried_once_however_many_requests_wait() -> None:
    server = Counting(401, "The username or password is wrong")
    auth = altinn.Altinn2Auth("k", base_url=SITE, login=altinn.PasswordLogin("ola", "wrong"))
    errors: list[BaseException] = []
    async with client(server, auth) as http:

        async def one() -> None:
            try:
                await http.get("/my/messages")
            except altinn.LoginError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(one)
        # Later requests do not try the refused password again either: Altinn locks the
        # account after 10 failed logins in two hours.
        with pytest.raises(altinn.LoginError, match="Not trying again"):
            await http.get("/my/messages")
    assert server.attempts == 1
    assert len(errors) == 20
    assert all("lock the account" in str(error) for error in errors)
    assert "The username or password is wrong" in str(errors[0])


@pytest.mark.parametrize(
    ("status", "hint"), [(403, "ApiKey may not"), (404, "base URL"), (400, "ApiKey")]
)
async def test_other_login_failures_say_what_they_are_without_the_lockout_hint(
    status: int, hint: str
) -> None:
    server = Counting(status)
    auth = altinn.Altinn2Auth("k", base_url=SITE, login=altinn.PasswordLogin("ola", "pw"))
    async with client(server, auth) as http:
        with pytest.raises(altinn.LoginError) as info:
            await http.get("/my/messages")
        assert "lock" not in str(info.value)
        assert hint in str(info.value)
        # Not a refused password: a later request may try again.
        with pytest.raises(altinn.LoginError):
            await http.get("/my/messages")
    assert server.attempts == 2


async def test_a_national_id_number_as_username_is_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pid = "24917298544"
    login = altinn.PasswordLogin(pid, "pw")
    assert pid not in repr(login)
    assert "249172*****" in repr(login)
    server = Counting(401)
    async with client(server, altinn.Altinn2Auth("k", base_url=SITE, login=login)) as http:
        with pytest.raises(altinn.LoginError) as info:
            await http.get("/my/messages")
    assert pid not in str(info.value)
    assert "249172*****" in str(info.value)
    login = altinn.PasswordLogin(pid, "pw")
    good_body = {"UserName": pid, "UserPassword": "pw"}

    async def accept(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/authenticatewithpassword"):
            assert json.loads(request.content) == good_body  # the real number goes to Altinn
            return httpx.Response(200, headers={"Set-Cookie": ".AspxAuthTT02=s; path=/"})
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(accept),
        auth=altinn.Altinn2Auth("k", base_url=SITE, login=login),
    ) as http:
        await http.get(f"{BASE}/my/messages")
    for record in caplog.records:
        assert pid not in record.getMessage()


async def test_a_login_that_gives_back_the_dead_cookie_is_not_a_loop() -> None:
    logins = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal logins
        if request.url.path.endswith("/authenticatewithpassword"):
            logins += 1
            return httpx.Response(200, headers={"Set-Cookie": ".AspxAuthTT02=always-the-same"})
        return httpx.Response(401)

    auth = altinn.Altinn2Auth("k", base_url=SITE, login=altinn.PasswordLogin("ola", "pw"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), auth=auth) as http:
        with anyio.fail_after(5):
            response = await http.get(f"{BASE}/my/messages")
    assert response.status_code == 401  # handed back to the caller
    assert logins <= 3
