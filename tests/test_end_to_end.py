"""The client against the emulator: the whole Maskinporten → exchange → Storage path."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import attrs
import httpx
import pytest
from joserfc import jws

import altinn_async as altinn
from altinn_async.testing import CertificateAuthority, Emulator

from .helpers import Clock, private_pem, signing_key

CLIENT = "e2e-client"
ORG_NUMBER = "405003309"  # ttd
READ = "altinn:serviceowner/instances.read"
WRITE = "altinn:serviceowner/instances.write"


@attrs.define
class World:
    emulator: Emulator
    clock: Clock
    key: altinn.SigningKey
    token_http: httpx.AsyncClient

    def maskinporten(self, **options: Any) -> altinn.MaskinportenAuth:
        defaults: dict[str, Any] = {
            "client_id": CLIENT,
            "key": self.key,
            "scopes": [READ, WRITE],
            "environment": self.emulator.environment,
            "http_client": self.token_http,
            "clock": self.clock,
        }
        return altinn.MaskinportenAuth(**(defaults | options))

    def exchange(self, upstream: altinn.TokenSource, **options: Any) -> altinn.AltinnExchangeAuth:
        return altinn.AltinnExchangeAuth(upstream, **options)

    def api(self, auth: httpx.Auth) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=self.emulator.transport(),
            auth=auth,
            base_url=self.emulator.environment.platform,
        )


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = Clock()
    emulator = Emulator(clock=clock)
    key = signing_key("e2e-kid")
    emulator.add_maskinporten_client(
        CLIENT, org_number=ORG_NUMBER, scopes=[READ, WRITE], jwks=[key.public_jwk]
    )
    emulator.add_instances("ttd", "app", 250)
    async with httpx.AsyncClient(transport=emulator.transport()) as token_http:
        yield World(emulator, clock, key, token_http)


async def _hammer(http: httpx.AsyncClient, count: int) -> list[int]:
    statuses: list[int] = []

    async def one() -> None:
        response = await http.get("/storage/api/v1/instances", params={"org": "ttd", "size": 5})
        statuses.append(response.status_code)

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(one)
    return statuses


async def test_500_concurrent_requests_cold_cache_one_grant_one_token_one_exchange(
    world: World,
) -> None:
    auth = world.exchange(world.maskinporten())
    async with world.api(auth) as http:
        statuses = await _hammer(http, 500)
    assert statuses == [200] * 500
    assert world.emulator.requests["maskinporten.token"] == 1
    assert world.emulator.requests["authentication.exchange"] == 1
    assert world.emulator.requests["storage.instances"] == 500


async def test_the_same_across_an_expiry_boundary(world: World) -> None:
    auth = world.exchange(world.maskinporten())
    async with world.api(auth) as http:
        assert await _hammer(http, 50) == [200] * 50
        token = await auth.get_token()
        world.clock.now = token.expires_at + 1  # the Altinn token (and the upstream) expired
        assert await _hammer(http, 500) == [200] * 500
    assert world.emulator.requests["maskinporten.token"] == 2
    assert world.emulator.requests["authentication.exchange"] == 2


async def test_altinn_token_outlives_the_maskinporten_token(world: World) -> None:
    auth = world.exchange(world.maskinporten())
    async with world.api(auth) as http:
        await _hammer(http, 10)
        world.clock.now += 600  # the 120 s Maskinporten token is long gone; 30 min Altinn is not
        await _hammer(http, 10)
    assert world.emulator.requests["maskinporten.token"] == 1
    assert world.emulator.requests["authentication.exchange"] == 1


async def test_a_401_refreshes_once_and_retries_once(world: World) -> None:
    auth = world.exchange(world.maskinporten())
    async with world.api(auth) as http:
        await _hammer(http, 1)
        world.emulator.inject_fault("storage.instances", status=401, times=1)
        response = await http.get("/storage/api/v1/instances", params={"org": "ttd"})
    assert response.status_code == 200
    assert world.emulator.requests["authentication.exchange"] == 2
    assert world.emulator.requests["maskinporten.token"] == 1  # the upstream was still good


async def test_a_persistent_401_is_returned_not_looped(world: World) -> None:
    auth = world.exchange(world.maskinporten())
    async with world.api(auth) as http:
        world.emulator.inject_fault("storage.instances", status=401, times=10)
        response = await http.get("/storage/api/v1/instances", params={"org": "ttd"})
    assert response.status_code == 401
    assert world.emulator.requests["storage.instances"] == 2
    assert world.emulator.requests["authentication.exchange"] == 2


async def test_the_exchanged_token_carries_the_org(world: World) -> None:
    token = await world.exchange(world.maskinporten()).get_token()
    claims = _claims(token.access_token)
    assert claims["urn:altinn:org"] == "ttd"
    assert claims["urn:altinn:orgNumber"] == ORG_NUMBER
    assert claims["urn:altinn:authenticatemethod"] == "maskinporten"
    assert claims["iss"] == world.emulator.environment.altinn_issuer


def _claims(token: str) -> dict[str, Any]:
    import json  # noqa: PLC0415

    result: dict[str, Any] = json.loads(jws.extract_compact(token.encode()).payload)
    return result


async def test_enterprise_certificate_login(world: World) -> None:
    ca = CertificateAuthority()
    world.emulator.trust_certificate_authority(ca.root)
    issued = ca.issue_enterprise_certificate("910753614", "VIRKSOMHET AS")
    world.emulator.add_maskinporten_client("cert-client", org_number="910753614", scopes=[READ])
    key = altinn.SigningKey.from_pkcs12(issued.pkcs12(b"pw"), b"pw")
    token = await world.maskinporten(client_id="cert-client", key=key, scopes=[READ]).get_token()
    claims = _claims(token.access_token)
    assert claims["client_amr"] == "virksomhetssertifikat"
    assert claims["consumer"] == {"authority": "iso6523-actorid-upis", "ID": "0192:910753614"}


async def test_certificate_of_another_org_is_refused_with_mp_122(world: World) -> None:
    ca = CertificateAuthority()
    world.emulator.trust_certificate_authority(ca.root)
    issued = ca.issue_enterprise_certificate("999999999")
    world.emulator.add_maskinporten_client("cert-client", org_number="910753614", scopes=[READ])
    key = altinn.SigningKey.from_pkcs12(issued.pkcs12(None), None)
    with pytest.raises(altinn.MaskinportenError) as info:
        await world.maskinporten(client_id="cert-client", key=key, scopes=[READ]).get_token()
    assert info.value.code == "MP-122"


async def test_system_user_token(world: World) -> None:
    system_user = world.emulator.add_system_user(
        client_id=CLIENT, customer_org="310000000", external_ref="x"
    )
    auth = world.maskinporten(
        scopes=[READ], authorization_details=altinn.SystemUser("310000000", external_ref="x")
    )
    claims = _claims((await auth.get_token()).access_token)
    (detail,) = claims["authorization_details"]
    assert detail["type"] == "urn:altinn:systemuser"
    assert detail["systemuser_id"] == [system_user]


# --- Maskinporten's refusals, as the client reports them ---------------------------------------


async def test_wrong_aud_is_mp_110_with_a_hint(world: World) -> None:
    env = world.emulator.environment
    wrong = attrs.evolve(
        env,
        maskinporten=attrs.evolve(env.maskinporten, issuer=env.maskinporten.issuer.rstrip("/")),
    )
    with pytest.raises(altinn.MaskinportenError) as info:
        await world.maskinporten(environment=wrong).get_token()
    assert info.value.code == "MP-110"
    assert info.value.error == "invalid_grant"
    assert info.value.trace_id
    assert info.value.hint is not None
    assert "aud" in info.value.hint


async def test_unknown_client_is_mp_100(world: World) -> None:
    with pytest.raises(altinn.MaskinportenError) as info:
        await world.maskinporten(client_id="nobody").get_token()
    assert info.value.code == "MP-100"


async def test_scope_not_granted_is_mp_200(world: World) -> None:
    with pytest.raises(altinn.MaskinportenError) as info:
        await world.maskinporten(scopes=["altinn:serviceowner/reportees"]).get_token()
    assert info.value.code == "MP-200"
    assert info.value.error == "invalid_scope"


async def test_wrong_key_is_mp_124(world: World) -> None:
    other = altinn.SigningKey.from_pem(private_pem(3), kid="e2e-kid")
    with pytest.raises(altinn.MaskinportenError) as info:
        await world.maskinporten(key=other).get_token()
    assert info.value.code == "MP-124"


async def test_clock_ahead_gives_the_clock_hint(world: World) -> None:
    ahead = Clock()
    ahead.now = world.clock.now + 60
    with pytest.raises(altinn.MaskinportenError) as info:
        await world.maskinporten(clock=ahead).get_token()
    assert info.value.hint is not None
    assert "clock" in info.value.hint


async def test_a_replayed_grant_is_mp_012(world: World) -> None:
    auth = world.maskinporten()
    grant = await auth.create_grant()
    endpoint = world.emulator.environment.maskinporten.token_endpoint
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": grant}
    first = await world.token_http.post(endpoint, data=form)
    second = await world.token_http.post(endpoint, data=form)
    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["error_uri"].endswith("MP-012")


# --- Storage paging ----------------------------------------------------------------------------


async def test_pages_through_every_instance_once(world: World) -> None:
    auth = world.exchange(world.maskinporten())
    async with world.api(auth) as http:
        storage = altinn.StorageClient(http)
        pages = [page async for page in storage.instances(org="ttd", size=40).pages()]
    ids = [instance["id"] for page in pages for instance in page.instances]
    assert len(ids) == 250
    assert len(set(ids)) == 250
    assert len(pages) == 7  # 6 full pages of 40, then 10
    assert pages[-1].next is None
    assert "%253B" in (pages[0].next or "")  # the double-encoded continuation token, verbatim


async def test_resume_from_a_saved_position(world: World) -> None:
    auth = world.exchange(world.maskinporten())
    async with world.api(auth) as http:
        storage = altinn.StorageClient(http)
        pager = storage.instances(org="ttd", size=100)
        first: list[str] = []
        async for page in pager.pages():
            first += [i["id"] for i in page.instances]
            break
        saved = pager.position
        assert saved is not None
        rest = [i["id"] async for i in storage.instances(resume_from=saved)]
    assert len(first) == 100
    assert len(first + rest) == 250
    assert not set(first) & set(rest)


async def test_a_500_mid_list_raises_and_keeps_the_position(world: World) -> None:
    auth = world.exchange(world.maskinporten())
    async with world.api(auth) as http:
        storage = altinn.StorageClient(http)
        pager = storage.instances(org="ttd", size=100)
        seen: list[str] = []
        with pytest.raises(altinn.APIError) as info:
            async for page in pager.pages():
                seen += [i["id"] for i in page.instances]
                world.emulator.inject_fault("storage.instances", status=500, times=1)
        assert info.value.status_code == 500
        assert pager.position is not None
        rest = [i["id"] async for i in storage.instances(resume_from=pager.position)]
    assert len(seen) + len(rest) == 250
    assert len(set(seen + rest)) == 250


async def test_download_and_complete(world: World) -> None:
    auth = world.exchange(world.maskinporten())
    async with world.api(auth) as http:
        storage = altinn.StorageClient(http)
        instance = await anext(aiter(storage.instances(org="ttd", size=1)))
        (element,) = instance["data"]
        data = await storage.download(element)
        streamed = b"".join([chunk async for chunk in storage.stream(element)])
        assert data == streamed
        assert len(data) == element["size"]
        await storage.complete(instance)
        remaining = [
            i["id"]
            async for i in storage.instances(
                org="ttd", size=100, params={"excludeConfirmedBy": "ttd"}
            )
        ]
    assert len(remaining) == 249
    assert instance["id"] not in remaining


async def test_storage_refuses_without_the_scope(world: World) -> None:
    world.emulator.add_maskinporten_client(
        "meta-client",
        org_number=ORG_NUMBER,
        scopes=["altinn:serviceowner/reportees"],
        jwks=[world.key.public_jwk],
    )
    auth = world.exchange(
        world.maskinporten(client_id="meta-client", scopes=["altinn:serviceowner/reportees"])
    )
    async with world.api(auth) as http:
        with pytest.raises(altinn.APIError) as info:
            await anext(aiter(altinn.StorageClient(http).instances(org="ttd")))
    assert info.value.status_code == 403


# --- secrets ------------------------------------------------------------------------------------


async def test_no_secret_in_logs_or_reprs(world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    maskinporten = world.maskinporten()
    auth = world.exchange(maskinporten)
    async with world.api(auth) as http:
        await _hammer(http, 3)
        world.emulator.inject_fault("storage.instances", status=401, times=1)
        await _hammer(http, 1)
        mp_token = await maskinporten.get_token()
        altinn_token = await auth.get_token()
        texts = [repr(auth), repr(maskinporten), repr(mp_token), repr(altinn_token)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    assert any("Maskinporten" in text for text in texts)
    for text in texts:
        assert mp_token.access_token not in text
        assert altinn_token.access_token not in text
        assert mp_token.access_token.split(".")[2] not in text


# --- the emulator served on a real port ---------------------------------------------------------


@pytest.fixture
def served(world: World) -> Iterator[str]:
    with world.emulator.serve(host="127.0.0.1", port=0) as base_url:
        yield base_url


async def test_the_whole_path_over_a_real_socket(world: World, served: str) -> None:
    assert served.startswith("http://127.0.0.1:")
    env = world.emulator.environment_for(served)
    async with httpx.AsyncClient() as token_http:
        maskinporten = altinn.MaskinportenAuth(
            client_id=CLIENT,
            key=world.key,
            scopes=[READ],
            environment=env,
            http_client=token_http,
        )
        auth = altinn.AltinnExchangeAuth(maskinporten, http_client=token_http)
        async with httpx.AsyncClient(auth=auth, base_url=env.platform) as http:
            storage = altinn.StorageClient(http)
            ids = [i["id"] async for i in storage.instances(org="ttd", size=100)]
            statuses = await _hammer(http, 100)
    assert len(ids) == 250
    assert statuses == [200] * 100
    assert world.emulator.requests["maskinporten.token"] == 1
    assert world.emulator.requests["authentication.exchange"] == 1


async def test_discovery_against_the_served_emulator(world: World, served: str) -> None:
    env = await altinn.Environment.discover(
        name="served", maskinporten=f"{served}/maskinporten/", platform=f"{served}/platform"
    )
    assert env.maskinporten == world.emulator.environment_for(served).maskinporten


async def test_the_events_feed_of_generated_instances_through_seeded_faults(
    world: World,
) -> None:
    # The client's NextHeader paging and retry policy against the emulator's Events API, with a
    # fifth of the page requests answered 429 or 503 or dropped (reproducibly, by the seed).
    day = 86_400.0
    emulator = world.emulator
    emulator.generate_instances(
        "ttd", "feed", 1500, start=world.clock.now - 10 * day, end=world.clock.now - day
    )
    emulator.inject_random_faults(
        seed=5, rate=0.2, kinds=["429", "503", "drop"], endpoints=["events.app"], retry_after=0
    )
    retry = altinn.RetryPolicy(attempts=12, backoff=0.001, max_backoff=0.005)
    async with world.api(world.exchange(world.maskinporten())) as http:
        pager = altinn.Paginator(
            http,
            "/events/api/v1/app/ttd/feed?from=2000-01-01T00:00:00Z&size=200",
            altinn.NextHeader(),
            retry=retry,
        )
        events = [event async for event in pager]
    assert len({event["id"] for event in events}) == len(events)
    assert sum(event["type"] == "app.instance.created" for event in events) == 1500
    assert 800 < sum(event["type"] == "app.instance.process.completed" for event in events) < 1000
    pages = -(-len(events) // 200) + 1  # the last one is []
    assert emulator.requests["events.app"] > pages  # some were faults, and retried
