"""The Emulator object: environment, seeding, statistics, faults, ASGI plumbing and speed."""

from __future__ import annotations

import threading
import time
from collections.abc import MutableMapping
from typing import Any

import anyio
import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async._environment import Environment
from altinn_async.testing import ENDPOINTS, Emulator

from .conftest import DIGDIR, INSTANCES, READ, Clock, altinn_token, make_grant, request_token

# -- where it lives ----------------------------------------------------------------------------


def test_environment_points_at_the_emulator() -> None:
    env = Emulator().environment
    assert isinstance(env, Environment)
    assert env.name == "emulator"
    assert env.maskinporten.issuer == "http://altinn.localhost/maskinporten/"
    assert env.maskinporten.token_endpoint == "http://altinn.localhost/maskinporten/token"
    assert env.maskinporten.jwks_uri == "http://altinn.localhost/maskinporten/jwk"
    assert env.platform == "http://altinn.localhost/platform"
    assert env.altinn_issuer == "http://altinn.localhost/platform/authentication/api/v1/openid/"


def test_environment_for_another_origin() -> None:
    emu = Emulator()
    env = emu.environment_for("http://127.0.0.1:4321")
    assert env.maskinporten.issuer == "http://127.0.0.1:4321/maskinporten/"
    assert env.platform == "http://127.0.0.1:4321/platform"
    assert emu.maskinporten_issuer_for("http://127.0.0.1:4321") == env.maskinporten.issuer
    assert emu.altinn_issuer_for("http://127.0.0.1:4321") == env.altinn_issuer


def test_custom_base_url() -> None:
    emu = Emulator(base_url="http://emu.localhost:8080/")
    assert emu.base_url == "http://emu.localhost:8080"
    assert emu.environment.platform == "http://emu.localhost:8080/platform"


@pytest.mark.parametrize("base_url", ["altinn.localhost", "ftp://x", "http://x.localhost/path"])
def test_base_url_must_be_an_origin(base_url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        Emulator(base_url=base_url)


def test_repr_shows_no_keys(client_key: RSAKey) -> None:
    emu = Emulator()
    emu.add_maskinporten_client(
        "c", org_number=DIGDIR, scopes=[READ], jwks=[client_key.as_dict(private=True)]
    )
    text = repr(emu)
    assert "clients=1" in text
    assert str(client_key.as_dict(private=True)["d"]) not in text
    assert "keys=" not in repr(emu._maskinporten_store.clients["c"])


# -- seeding validation ------------------------------------------------------------------------


def test_client_validation(client_key: RSAKey) -> None:
    emu = Emulator()
    with pytest.raises(ValueError, match="organisation number"):
        emu.add_maskinporten_client("c", org_number="123", scopes=[])
    with pytest.raises(ValueError, match="kid"):
        emu.add_maskinporten_client(
            "c", org_number=DIGDIR, scopes=[], jwks=[{"kty": "RSA", "n": "x", "e": "AQAB"}]
        )
    with pytest.raises(ValueError, match="RSA"):
        emu.add_maskinporten_client(
            "c", org_number=DIGDIR, scopes=[], jwks=[{"kty": "EC", "kid": "k"}]
        )
    with pytest.raises(ValueError, match="client_id"):
        emu.add_maskinporten_client("", org_number=DIGDIR, scopes=[])


def test_private_jwk_is_stored_as_public(client_key: RSAKey) -> None:
    emu = Emulator()
    emu.add_maskinporten_client(
        "c", org_number=DIGDIR, scopes=[], jwks=[client_key.as_dict(private=True)]
    )
    stored = emu._maskinporten_store.clients["c"].keys["key-1"]
    assert stored.key.is_private is False
    assert "d" not in stored.jwk


def test_other_seeding_validation() -> None:
    emu = Emulator()
    with pytest.raises(ValueError, match="at_max_age"):
        emu.add_scope("a:b", at_max_age=0)
    with pytest.raises(ValueError, match="consumer_org"):
        emu.add_delegation(consumer_org="x", supplier_org=DIGDIR, scope="a:b")
    with pytest.raises(ValueError, match="customer_org"):
        emu.add_system_user(client_id="c", customer_org="1")
    with pytest.raises(ValueError, match="org_number"):
        emu.add_service_owner("brg", "97476067")
    with pytest.raises(TypeError):
        emu.trust_certificate_authority("not a certificate")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="party_id"):
        emu.add_instance("digdir", "app", party_id="abc")
    with pytest.raises(ValueError, match="count"):
        emu.add_instances("digdir", "app", -1)


def test_system_user_ids_are_uuids() -> None:
    emu = Emulator()
    first = emu.add_system_user(client_id="c", customer_org=DIGDIR)
    second = emu.add_system_user(client_id="c", customer_org=DIGDIR)
    assert first != second
    assert len(first) == 36


def test_duplicate_instance_guid_is_refused() -> None:
    emu = Emulator()
    guid = "6a1ed9b4-2d47-4f9c-9a55-3f0d1d8f2a11"
    emu.add_instance("digdir", "app", instance_guid=guid)
    with pytest.raises(ValueError, match="already exists"):
        emu.add_instance("digdir", "app", instance_guid=guid)


def test_generated_instances_are_realistic_deterministic_and_fast() -> None:
    emu = Emulator(clock=Clock(1_750_000_000.0))
    started = time.perf_counter()
    instances = emu.add_instances("digdir", "app", 3000, seed=7)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0
    assert len(instances) == 3000
    assert len({i["id"] for i in instances}) == 3000
    assert all(len(i["data"]) == 1 for i in instances)
    assert any("ended" in i["process"] for i in instances)
    assert any("currentTask" in i["process"] for i in instances)
    assert any("personNumber" in i["instanceOwner"] for i in instances)
    assert any("organisationNumber" in i["instanceOwner"] for i in instances)
    again = Emulator(clock=Clock(1_750_000_000.0)).add_instances("digdir", "app", 3000, seed=7)
    assert [i["id"] for i in again] == [i["id"] for i in instances]
    # A second batch in the same emulator gets new instances.
    more = emu.add_instances("digdir", "app", 10, seed=7)
    assert not {i["id"] for i in more} & {i["id"] for i in instances}


def test_seeding_is_thread_safe() -> None:
    emu = Emulator()

    def seed() -> None:
        for _ in range(50):
            emu.add_instance("digdir", "app")

    threads = [threading.Thread(target=seed) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(emu._instances._order) == 200


# -- statistics --------------------------------------------------------------------------------


async def test_requests_are_counted_per_endpoint(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    await http.get("/maskinporten/.well-known/oauth-authorization-server")
    await http.get("/maskinporten/jwk")
    await request_token(http, "garbage")  # refused, still counted
    await altinn_token(http, client_key, clock.now)
    await http.get(INSTANCES)  # 401, still counted
    await http.get("/nowhere")
    assert emu.requests["maskinporten.metadata"] == 1
    assert emu.requests["maskinporten.jwk"] == 1
    assert emu.requests["maskinporten.token"] == 2
    assert emu.requests["authentication.exchange"] == 1
    assert emu.requests["storage.instances"] == 1
    assert emu.requests["not_found"] == 1


async def test_unknown_path_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get("/platform/storage/api/v2/instances")
    assert response.status_code == 404


async def test_head_is_answered_without_body(http: httpx.AsyncClient) -> None:
    response = await http.head("/maskinporten/jwk")
    assert response.status_code == 200
    assert response.content == b""


async def test_every_answer_is_dated_by_the_emulators_clock(
    emu: Emulator, http: httpx.AsyncClient, clock: Clock
) -> None:
    # A date no real clock shows now: the header cannot come from anywhere but the emulator.
    clock.now = 1_000_000_000.5  # Sun, 09 Sep 2001 01:46:40 GMT
    emu.inject_fault("maskinporten.jwk", status=503)
    answers = [
        await http.get("/maskinporten/.well-known/oauth-authorization-server"),
        await http.post("/maskinporten/token", data={"grant_type": "nonsense"}),  # refused
        await http.get("/maskinporten/jwk"),  # the injected fault
        await http.get("/platform/no-such-api"),  # no route
    ]
    assert [r.status_code for r in answers] == [200, 400, 503, 404]
    for response in answers:
        # RFC 9110 §5.6.7's IMF-fixdate (RFC 7231's preferred format), one header only.
        assert response.headers.get_list("date") == ["Sun, 09 Sep 2001 01:46:40 GMT"]


async def test_an_injected_date_is_not_overwritten(emu: Emulator, http: httpx.AsyncClient) -> None:
    emu.inject_fault(
        "maskinporten.jwk", status=503, headers={"Date": "Mon, 01 Jan 2024 00:00:00 GMT"}
    )
    response = await http.get("/maskinporten/jwk")
    assert response.headers.get_list("date") == ["Mon, 01 Jan 2024 00:00:00 GMT"]


# -- faults ------------------------------------------------------------------------------------


# The names tests and users pass to requests and inject_fault; they must not change.
NAMES = frozenset(
    {
        "maskinporten.metadata",
        "maskinporten.jwk",
        "maskinporten.token",
        "idporten.metadata",
        "idporten.jwks",
        "idporten.authorize",
        "idporten.login",
        "idporten.par",
        "idporten.token",
        "idporten.userinfo",
        "idporten.logout",
        "idporten.revoke",
        "authentication.exchange",
        "authentication.refresh",
        "authentication.openid_configuration",
        "authentication.jwks",
        "storage.instances",
        "storage.instance",
        "storage.data",
        "storage.dataelements",
        "storage.complete",
        "events.app",
        "events.party",
        "events.generic",
        "altinn2.authenticate",
        "altinn2.messages",
        "altinn2.message",
        "altinn2.forms",
        "altinn2.form",
        "altinn2.formdata",
        "altinn2.attachments",
        "altinn2.attachment",
        "altinn2.print",
        "altinn2.reportees",
        "altinn2.reportee",
        "altinn2.serviceowner_reportees",
        "altinn2.consents",
    }
)


def test_endpoints_are_the_registered_route_names() -> None:
    assert NAMES <= ENDPOINTS
    assert Emulator()._router.names == ENDPOINTS
    without = Emulator(altinn2=False)._router.names
    assert without == {name for name in ENDPOINTS if not name.startswith("altinn2.")}


def test_fault_validation() -> None:
    emu = Emulator()
    with pytest.raises(ValueError, match="unknown endpoint"):
        emu.inject_fault("maskinporten.nothing")
    with pytest.raises(ValueError, match="status"):
        emu.inject_fault("maskinporten.token", status=42)
    with pytest.raises(ValueError, match="times"):
        emu.inject_fault("maskinporten.token", times=0)
    with pytest.raises(ValueError, match="delay"):
        emu.inject_fault("maskinporten.token", delay=-1)
    with pytest.raises(ValueError, match="cut_after"):
        emu.inject_fault("maskinporten.token", cut_after=-1)
    for answer in ({"status": 503}, {"body": b"x"}, {"headers": {"a": "b"}}, {"cut_after": 1}):
        with pytest.raises(ValueError, match="drop"):
            emu.inject_fault("maskinporten.token", drop=True, **answer)
    assert "storage.complete" in ENDPOINTS


async def test_fault_answers_the_next_requests_then_stops(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.inject_fault(
        "maskinporten.token",
        status=503,
        times=2,
        body=b"busy",
        headers={"Retry-After": "1", "Content-Type": "text/plain"},
    )
    for _ in range(2):
        response = await request_token(http, make_grant(client_key, clock.now))
        assert response.status_code == 503
        assert response.text == "busy"
        assert response.headers["retry-after"] == "1"
    response = await request_token(http, make_grant(client_key, clock.now))
    assert response.status_code == 200
    assert emu.requests["maskinporten.token"] == 3


async def test_faults_queue_in_order(emu: Emulator, http: httpx.AsyncClient) -> None:
    emu.inject_fault("maskinporten.jwk", status=500)
    emu.inject_fault("maskinporten.jwk", status=502)
    statuses = [(await http.get("/maskinporten/jwk")).status_code for _ in range(3)]
    assert statuses == [500, 502, 200]


async def test_clear_faults(emu: Emulator, http: httpx.AsyncClient) -> None:
    emu.inject_fault("maskinporten.jwk", status=500, times=5)
    emu.clear_faults()
    assert (await http.get("/maskinporten/jwk")).status_code == 200


async def test_slow_response_then_normal_answer(emu: Emulator, http: httpx.AsyncClient) -> None:
    emu.inject_fault("maskinporten.metadata", status=0, delay=0.2)
    started = time.perf_counter()
    response = await http.get("/maskinporten/.well-known/oauth-authorization-server")
    assert time.perf_counter() - started >= 0.2
    assert response.status_code == 200
    assert response.json()["issuer"].endswith("/maskinporten/")


async def test_delay_honours_cancellation(emu: Emulator, http: httpx.AsyncClient) -> None:
    emu.inject_fault("maskinporten.jwk", status=500, delay=30)
    started = time.perf_counter()
    with anyio.move_on_after(0.1) as scope:
        await http.get("/maskinporten/jwk")
    assert scope.cancelled_caught
    assert time.perf_counter() - started < 5


# -- network faults ----------------------------------------------------------------------------

JWK = "/maskinporten/jwk"


async def test_drop_fails_like_a_server_that_disconnects(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    emu.inject_fault("maskinporten.jwk", drop=True)
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        await http.get(JWK)
    assert str(caught.value) == "Server disconnected without sending a response."
    assert caught.value.request.url.path == JWK
    assert (await http.get(JWK)).status_code == 200
    assert emu.requests["maskinporten.jwk"] == 2


async def test_drop_after_a_delay(emu: Emulator, http: httpx.AsyncClient) -> None:
    emu.inject_fault("maskinporten.jwk", drop=True, delay=0.05)
    started = time.perf_counter()
    with pytest.raises(httpx.RemoteProtocolError):
        await http.get(JWK)
    assert time.perf_counter() - started >= 0.05


async def test_cut_after_stops_the_normal_body(emu: Emulator, http: httpx.AsyncClient) -> None:
    full = (await http.get(JWK)).content
    emu.inject_fault("maskinporten.jwk", cut_after=10, times=2)
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        await http.get(JWK)
    assert str(caught.value) == (
        "peer closed connection without sending complete message body "
        f"(received 10 bytes, expected {len(full)})"
    )
    # Streamed, the headers and the first bytes arrive before the error.
    received = b""
    async with http.stream("GET", JWK) as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(full))
        with pytest.raises(httpx.RemoteProtocolError):
            async for chunk in response.aiter_raw():
                received += chunk
    assert received == full[:10]
    assert (await http.get(JWK)).content == full


async def test_cut_after_applies_to_an_injected_answer(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    emu.inject_fault("maskinporten.jwk", status=503, body=b"x" * 100, cut_after=0)
    with pytest.raises(httpx.RemoteProtocolError, match=r"\(received 0 bytes, expected 100\)"):
        await http.get(JWK)


async def test_a_body_no_longer_than_the_cut_arrives_whole(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    emu.inject_fault("maskinporten.jwk", status=503, body=b"down", cut_after=4)
    response = await http.get(JWK)
    assert (response.status_code, response.content) == (503, b"down")


async def test_cut_after_counts_bytes_across_streamed_chunks(emu: Emulator) -> None:
    # An Altinn 2 attachment is sent in 64 KiB chunks; the cut falls inside the second one.
    emu.add_api_key("key")
    emu.add_altinn2_user("kari", "pw", reportees=["910000001"])
    message = emu.add_altinn2_message(
        "910000001",
        subject="Vedlegg",
        service_owner="NAV",
        attachments=[("stor.pdf", 200_000, "application/pdf")],
    )
    url = message["_links"]["attachment"][0]["href"]
    emu.inject_fault("altinn2.attachment", cut_after=70_000)
    async with httpx.AsyncClient(transport=emu.transport(), headers={"ApiKey": "key"}) as http:
        login = await http.post(
            f"{emu.base_url}/altinn2/api/authentication/authenticatewithpassword",
            json={"UserName": "kari", "UserPassword": "pw"},
        )
        assert login.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError, match="received 70000 bytes"):
            await http.get(url)


# -- ASGI plumbing -----------------------------------------------------------------------------


async def test_lifespan_protocol() -> None:
    emu = Emulator()
    inbox: list[MutableMapping[str, Any]] = [
        {"type": "lifespan.startup"},
        {"type": "lifespan.shutdown"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        return inbox.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await emu({"type": "lifespan"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_oversized_body_is_413(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/maskinporten/token",
        content=b"a" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


# -- speed -------------------------------------------------------------------------------------


async def test_500_concurrent_requests_are_fast(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    emu.add_instances("digdir", "app", 3000)
    token = await altinn_token(http, client_key, clock.now)
    headers = {"Authorization": f"Bearer {token}"}
    statuses: list[int] = []

    async def one(index: int) -> None:
        params = {"org": "digdir", "size": "20", "process.isComplete": str(index % 2 == 0)}
        response = await http.get(INSTANCES, params=params, headers=headers)
        statuses.append(response.status_code)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for index in range(500):
            group.start_soon(one, index)
    elapsed = time.perf_counter() - started
    assert statuses == [200] * 500
    assert elapsed < 5.0
