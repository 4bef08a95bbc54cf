"""Type-checked by mypy, never run: the public API as users write it must type-check cleanly."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, assert_type

import httpx

import altinn_async as altinn
from altinn_async.testing import CertificateAuthority, Emulator


async def service_owner() -> None:
    key = altinn.SigningKey.from_pem_file("client.pem", kid="my-key-id")
    p12 = altinn.SigningKey.from_pkcs12_file("virksomhet.p12", password=b"secret")
    assert_type(p12.organization_number, str | None)
    maskinporten = altinn.MaskinportenAuth(
        client_id="id",
        key=key,
        scopes=["altinn:serviceowner/instances.read"],
        environment=altinn.TEST,
        authorization_details=altinn.SystemUser("123456789"),
    )
    auth = altinn.AltinnExchangeAuth(maskinporten, test=True)
    async with httpx.AsyncClient(auth=auth, base_url=altinn.TEST.platform) as http:
        storage = altinn.StorageClient(http)
        async for instance in storage.instances(org="ttd", size=50):
            assert_type(instance, dict[str, Any])
        async for page in storage.instances(org="ttd").pages():
            assert_type(page, altinn.InstancePage)
    token = await auth.get_token()
    assert_type(token, altinn.AccessToken)
    assert_type(token.expires_in(0.0), float)


async def errors() -> None:
    try:
        await altinn.MaskinportenAuth(
            client_id="id",
            key=altinn.SigningKey.from_jwk({"kty": "RSA"}, kid="k"),
            scopes=["altinn:serviceowner"],
            environment=altinn.PRODUCTION,
        ).get_token()
    except altinn.MaskinportenError as exc:
        assert_type(exc.code, str | None)
        assert_type(exc.hint, str | None)
    except altinn.TokenError:
        pass


async def custom_environment() -> altinn.Environment:
    return await altinn.Environment.discover(
        name="at22",
        maskinporten="https://maskinporten.example/",
        platform="https://platform.at22.altinn.cloud",
    )


def emulator() -> altinn.Environment:
    ca = CertificateAuthority()
    emu = Emulator()
    emu.trust_certificate_authority(ca.root)
    emu.add_maskinporten_client("c", org_number="405003309", scopes=["altinn:serviceowner"])
    emu.inject_fault("storage.instances", status=503, times=2)
    assert_type(emu.requests["maskinporten.token"], int)
    busy = Emulator(latency=0.05, events_delay=0, altinn_token_lifetime=5)
    busy.latency = 0.1
    assert_type(busy.latency, float)
    busy.inject_random_faults(seed=7, rate=0.05, kinds=["429", "drop"], endpoints=["events.app"])
    busy.expire_tokens()
    busy.clear_faults()
    assert_type(busy.generate_instances("ttd", "app", 1_000_000, seed=1), None)
    event = busy.add_event("t", source="urn:x:y", resource="urn:altinn:resource:r", data={})
    assert_type(event, dict[str, Any])
    return emu.environment


async def web_backend(web_session_id: str, callback_url: str) -> None:
    idporten = altinn.IDPortenClient(
        client_id="web",
        client_secret="secret",
        redirect_uri="https://app.example/callback",
        scopes=["openid", "altinn:instances.read"],
        environment=altinn.TEST,
        store=altinn.FileTokenStore("sessions.json"),
    )
    async with idporten:
        login = idporten.start_login()
        assert_type(altinn.LoginRequest.from_dict(login.to_dict()), altinn.LoginRequest)
        person = await idporten.complete_login(callback_url, login, session_key=web_session_id)
        assert_type(person.claims.pid, str | None)
        session = idporten.session(web_session_id)
        assert_type(session, altinn.IDPortenSession)
        auth = altinn.AltinnExchangeAuth(session)
        async with httpx.AsyncClient(auth=auth, base_url=altinn.TEST.platform) as http:
            storage = altinn.StorageClient(http, retry=altinn.RetryPolicy(attempts=6))
            await storage.get_instance("50002119/3b8b3f4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
        await session.revoke()


async def altinn2_box(api_key: str, password: str) -> None:
    auth = altinn.Altinn2Auth(
        api_key, environment=altinn.TEST, login=altinn.PasswordLogin("user", password)
    )
    async with httpx.AsyncClient(auth=auth) as http:
        altinn2 = altinn.Altinn2Client(http, retry=altinn.RetryPolicy.NEVER)
        async for message in altinn2.messages():
            full = await altinn2.message_details(message)
            for link in altinn2.attachments(full):
                path = await altinn2.download(link, "attachments")
                assert_type(path, Path)


async def event_feed(saved_position: str | None) -> str:
    maskinporten = altinn.MaskinportenAuth(
        client_id="id",
        key=altinn.SigningKey.from_pem_file("client.pem", kid="k"),
        scopes=["altinn:serviceowner", "altinn:events.subscribe"],
        environment=altinn.TEST,
    )
    async with httpx.AsyncClient(
        auth=altinn.AltinnExchangeAuth(maskinporten), base_url=altinn.TEST.platform
    ) as http:
        events = altinn.EventsClient(http, retry=altinn.RetryPolicy(attempts=6))
        feed = events.app_events("ttd", "apps-test", after="0", resume_from=saved_position)
        async for event in feed:
            assert_type(event, altinn.CloudEvent)
            assert_type(event.time, datetime | None)
            assert_type(event.instance_id, str | None)
            assert_type(event.document, dict[str, Any])
        async for page in events.events("urn:altinn:resource:x", after="0").pages():
            assert_type(page, altinn.EventPage)
            assert_type(page.events, list[altinn.CloudEvent])
        assert_type(feed.last_event_id, str | None)
        return feed.feed_position
