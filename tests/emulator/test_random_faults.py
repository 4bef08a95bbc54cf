"""Seeded faults: reproducible per endpoint whatever the interleaving, each kind failing in the
client as the real failure does (in-process and over a socket); and tokens expiring mid-run."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable

import anyio
import anyio.lowlevel
import httpx
import pytest
from joserfc.jwk import RSAKey

from altinn_async.testing import ENDPOINTS, FAULT_KINDS, Emulator

from .conftest import EXCHANGE, INSTANCES, Clock, altinn_token

JWK = "/maskinporten/jwk"
METADATA = "/maskinporten/.well-known/oauth-authorization-server"
REFRESH = "/platform/authentication/api/v1/refresh"


async def outcome(http: httpx.AsyncClient, path: str) -> str:
    """What one GET looked like to the client: a fault kind, or ``"ok"`` (a slow answer too)."""
    try:
        response = await http.get(path)
    except httpx.RemoteProtocolError as exc:
        return "drop" if "without sending a response" in str(exc) else "cut"
    if response.status_code != 200:
        return str(response.status_code)
    try:
        response.json()
    except ValueError:
        return "truncated_json"
    return "ok"


async def sequence(http: httpx.AsyncClient, path: str, count: int) -> list[str]:
    return [await outcome(http, path) for _ in range(count)]


def seeded(
    seed: int,
    rate: float = 0.5,
    *,
    kinds: Iterable[str] = FAULT_KINDS,
    endpoints: Iterable[str] | None = None,
    retry_after: float = 1.0,
) -> Emulator:
    emu = Emulator()
    emu.inject_random_faults(
        seed=seed,
        rate=rate,
        kinds=kinds,
        endpoints=endpoints,
        retry_after=retry_after,
        slow_delay=0.0,
    )
    return emu


async def run(emu: Emulator, path: str, count: int) -> list[str]:
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        return await sequence(http, path, count)


# -- the arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": "1"}, "seed must be an integer"),
        ({"seed": True}, "seed must be an integer"),
        ({"rate": 1.5}, "rate must be a number from 0 to 1"),
        ({"rate": -0.1}, "rate must be a number from 0 to 1"),
        ({"rate": float("nan")}, "rate must be a number from 0 to 1"),
        ({"kinds": []}, "kinds must be some of 429, 500"),
        ({"kinds": ["429", "404"]}, "unknown: '404'"),
        ({"kinds": "429"}, "not the string '429'"),
        ({"endpoints": ["storage.nothing"]}, "unknown endpoint 'storage.nothing'"),
        ({"endpoints": []}, "at least one endpoint"),
        ({"endpoints": "storage.instances"}, "not the string"),
        ({"retry_after": -1}, "retry_after must not be negative"),
        ({"slow_delay": float("inf")}, "slow_delay must be a finite number"),
    ],
)
def test_bad_arguments_are_refused(options: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"seed": 1, "rate": 0.5, **options}
    with pytest.raises(ValueError, match=message):
        Emulator().inject_random_faults(**arguments)  # type: ignore[arg-type]


def test_fault_kinds_are_public() -> None:
    assert FAULT_KINDS == ("429", "500", "503", "slow", "drop", "cut", "truncated_json")


# -- reproducible ----------------------------------------------------------------------------


async def test_the_same_seed_gives_the_same_faults() -> None:
    first = await run(seeded(7), JWK, 80)
    again = await run(seeded(7), JWK, 80)
    other = await run(seeded(8), JWK, 80)
    assert first == again
    assert first != other
    assert 20 < first.count("ok") < 60  # about half fail
    assert {"429", "500", "503", "drop", "cut", "truncated_json"} <= set(first)


async def test_the_faults_do_not_depend_on_how_endpoints_interleave() -> None:
    alone = seeded(3)
    one_after_the_other = {JWK: await run(alone, JWK, 40), METADATA: await run(alone, METADATA, 40)}

    mixed = seeded(3)
    seen: dict[str, list[str]] = {JWK: [], METADATA: []}

    async def worker(http: httpx.AsyncClient, path: str) -> None:
        for _ in range(40):
            seen[path].append(await outcome(http, path))
            await anyio.lowlevel.checkpoint()

    async with (
        httpx.AsyncClient(transport=mixed.transport(), base_url=mixed.base_url) as http,
        anyio.create_task_group() as group,
    ):
        group.start_soon(worker, http, METADATA)
        group.start_soon(worker, http, JWK)
    assert seen == one_after_the_other


async def test_requests_count_from_the_injection() -> None:
    emu = Emulator()
    await run(emu, JWK, 5)
    emu.inject_random_faults(seed=11, rate=0.5, slow_delay=0.0)
    assert await run(emu, JWK, 30) == await run(seeded(11), JWK, 30)


async def test_queued_faults_come_first_and_still_count() -> None:
    expected = await run(seeded(5), JWK, 20)
    emu = seeded(5)
    emu.inject_fault("maskinporten.jwk", status=418, times=2)
    assert await run(emu, JWK, 20) == ["418", "418", *expected[2:]]


async def test_only_the_named_endpoints_and_kinds() -> None:
    emu = seeded(1, rate=1.0, endpoints=["maskinporten.jwk"], kinds=["503", "500"])
    assert set(await run(emu, JWK, 30)) == {"500", "503"}
    assert set(await run(emu, METADATA, 10)) == {"ok"}


async def test_rate_zero_never_and_clear_faults_ends_them() -> None:
    assert set(await run(seeded(1, rate=0.0), JWK, 30)) == {"ok"}
    emu = seeded(1, rate=1.0)
    emu.clear_faults()
    assert set(await run(emu, JWK, 10)) == {"ok"}


async def test_a_second_injection_replaces_the_first() -> None:
    emu = seeded(1, rate=1.0, kinds=["500"])
    emu.inject_random_faults(seed=1, rate=1.0, kinds=["503"])
    assert set(await run(emu, JWK, 5)) == {"503"}


# -- each kind, as the client sees it -------------------------------------------------------


async def full_body(emu: Emulator) -> bytes:
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        return (await http.get(JWK)).content


async def check_kind(http: httpx.AsyncClient, kind: str, full: bytes) -> None:
    """One request to the JWKS with fault ``kind`` certain, checked as a client sees it."""
    if kind in ("drop", "cut"):
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await http.get(JWK)
        if kind == "drop":
            assert str(caught.value) == "Server disconnected without sending a response."
        else:
            assert str(caught.value) == (
                "peer closed connection without sending complete message body "
                f"(received {len(full) // 2} bytes, expected {len(full)})"
            )
        return
    started = time.perf_counter()
    response = await http.get(JWK)
    elapsed = time.perf_counter() - started
    if kind == "429":
        assert response.status_code == 429
        assert response.headers["retry-after"] == "2"
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {
            "statusCode": 429,
            "message": "Rate limit is exceeded. Try again in 2 seconds.",
        }
    elif kind in ("500", "503"):
        assert response.status_code == int(kind)
        assert response.content == b""
    elif kind == "slow":
        assert elapsed >= 0.05
        assert response.content == full
    else:
        assert kind == "truncated_json"
        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(full) // 2)
        assert response.content == full[: len(full) // 2]
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_each_kind_in_process(kind: str) -> None:
    emu = Emulator()
    full = await full_body(emu)
    emu.inject_random_faults(seed=0, rate=1.0, kinds=[kind], retry_after=2, slow_delay=0.06)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        await check_kind(http, kind, full)


@pytest.mark.parametrize("kind", FAULT_KINDS)
async def test_each_kind_over_a_socket(kind: str) -> None:
    emu = Emulator()
    full = await full_body(emu)
    emu.inject_random_faults(seed=0, rate=1.0, kinds=[kind], retry_after=2, slow_delay=0.06)
    with emu.serve() as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            await check_kind(http, kind, full)


async def test_a_fractional_retry_after_is_sent_as_one() -> None:
    emu = seeded(0, rate=1.0, kinds=["429"], retry_after=0.25)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        response = await http.get(JWK)
    assert response.headers["retry-after"] == "0.25"
    assert "Try again in 1 seconds." in response.text


async def test_a_body_less_answer_is_not_cut() -> None:
    emu = Emulator()
    emu.inject_random_faults(seed=0, rate=1.0, kinds=["cut", "truncated_json"])
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        response = await http.get(INSTANCES)  # 401 without a body
    assert (response.status_code, response.content) == (401, b"")


def test_every_endpoint_can_be_named() -> None:
    Emulator().inject_random_faults(seed=0, rate=0.1, endpoints=sorted(ENDPOINTS))


# -- tokens that expire mid-run ---------------------------------------------------------------


async def storage_status(http: httpx.AsyncClient, token: str) -> int:
    response = await http.get(
        INSTANCES, params={"org": "digdir"}, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code


async def test_expire_tokens_ends_every_token_issued_so_far(
    emu: Emulator, http: httpx.AsyncClient, client_key: RSAKey, clock: Clock
) -> None:
    first = await altinn_token(http, client_key, clock.now)
    second = await altinn_token(http, client_key, clock.now)
    assert await storage_status(http, first) == 200
    emu.expire_tokens()
    assert await storage_status(http, first) == 401
    assert await storage_status(http, second) == 401
    refreshed = await http.get(REFRESH, headers={"Authorization": f"Bearer {first}"})
    assert refreshed.status_code == 401
    fresh = await altinn_token(http, client_key, clock.now)
    assert await storage_status(http, fresh) == 200
    again = await http.get(REFRESH, headers={"Authorization": f"Bearer {fresh}"})
    assert again.status_code == 200
    assert await storage_status(http, again.text) == 200


async def test_a_short_altinn_token_lifetime(client_key: RSAKey, clock: Clock) -> None:
    emu = Emulator(clock=clock, altinn_token_lifetime=3)
    emu.add_maskinporten_client(
        "short",
        org_number="991825827",
        scopes=["altinn:serviceowner/instances.read"],
        jwks=[client_key.as_dict(private=False)],
    )
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        token = await altinn_token(
            http, client_key, clock.now, iss="short", scope="altinn:serviceowner/instances.read"
        )
        claims = json.loads(_payload(token))
        assert claims["exp"] - claims["iat"] == 3
        clock.advance(3 + 10)  # exp plus the validators' 10 s of clock skew
        assert await storage_status(http, token) == 200
        clock.advance(1)
        assert await storage_status(http, token) == 401
        exchanged = await http.get(EXCHANGE)
        assert exchanged.status_code == 401


def _payload(token: str) -> bytes:
    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
