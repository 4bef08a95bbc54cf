"""The emulator's latency: every request waits it out, in-process and served, cancellably."""

from __future__ import annotations

import time

import anyio
import httpx
import pytest

from altinn_async.testing import Emulator

JWK = "/maskinporten/jwk"


def test_latency_is_validated_and_settable() -> None:
    emu = Emulator(latency=0.25)
    assert emu.latency == 0.25
    emu.latency = 0
    assert emu.latency == 0.0
    for bad in (-0.1, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="latency must be a finite number of seconds"):
            emu.latency = bad  # type: ignore[assignment]
        with pytest.raises(ValueError, match="latency must be a finite number of seconds"):
            Emulator(latency=bad)  # type: ignore[arg-type]


async def timed_gets(http: httpx.AsyncClient, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        assert (await http.get(JWK)).status_code == 200
    return time.perf_counter() - started


async def test_every_request_waits_in_process() -> None:
    emu = Emulator(latency=0.05)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        assert await timed_gets(http, 4) >= 4 * 0.05
        emu.latency = 0.0
        response = await http.get("/nowhere")
        assert response.status_code == 404
    assert emu.requests["maskinporten.jwk"] == 4


async def test_every_request_waits_when_served() -> None:
    emu = Emulator()
    with emu.serve() as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            await http.get(JWK)  # the connection is open before timing starts
            emu.latency = 0.05
            assert await timed_gets(http, 4) >= 4 * 0.05


async def test_unknown_paths_wait_too() -> None:
    emu = Emulator(latency=0.05)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        started = time.perf_counter()
        assert (await http.get("/nowhere")).status_code == 404
        assert time.perf_counter() - started >= 0.05


async def test_latency_adds_to_a_faults_delay() -> None:
    emu = Emulator(latency=0.05)
    emu.inject_fault("maskinporten.jwk", status=0, delay=0.05)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        assert await timed_gets(http, 1) >= 0.1


async def test_the_wait_honours_cancellation() -> None:
    emu = Emulator(latency=30)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        started = time.perf_counter()
        with anyio.move_on_after(0.1) as scope:
            await http.get(JWK)
        assert scope.cancelled_caught
        assert time.perf_counter() - started < 5


async def test_concurrent_requests_wait_side_by_side() -> None:
    # The wait is a sleep, not a lock: twenty requests at once take about one latency.
    emu = Emulator(latency=0.2)
    async with httpx.AsyncClient(transport=emu.transport(), base_url=emu.base_url) as http:
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(http.get, JWK)
        assert time.perf_counter() - started < 20 * 0.2
    assert emu.requests["maskinporten.jwk"] == 20
