"""The opt-in aiohttp transport: it works on the served emulator, and a connection that breaks
after the request was sent is not mistaken for one that was never made (a POST is not sent
twice)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

import altinn_async as altinn
from altinn_async.testing import Emulator

ASYNCIO_ONLY = pytest.mark.parametrize("anyio_backend", ["asyncio"])  # aiohttp: asyncio only


@pytest.fixture
def served() -> Iterator[tuple[Emulator, str]]:
    emulator = Emulator()
    emulator.add_instances("ttd", "app", 30)
    with emulator.serve() as url:
        yield emulator, url


@ASYNCIO_ONLY
async def test_it_carries_requests(served: tuple[Emulator, str]) -> None:
    _, url = served
    async with httpx.AsyncClient(transport=altinn.aiohttp_transport()) as http:
        response = await http.get(f"{url}/maskinporten/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    assert response.json()["issuer"].startswith(url)


@ASYNCIO_ONLY
async def test_a_connection_dropped_after_sending_is_not_a_connect_error(
    served: tuple[Emulator, str],
) -> None:
    emulator, url = served
    emulator.inject_fault("maskinporten.metadata", drop=True, times=5)  # aiohttp tries again
    async with httpx.AsyncClient(transport=altinn.aiohttp_transport()) as http:
        with pytest.raises(httpx.RemoteProtocolError, match="after the request was sent"):
            await http.get(f"{url}/maskinporten/.well-known/oauth-authorization-server")


@ASYNCIO_ONLY
async def test_a_post_dropped_after_sending_is_not_retried(served: tuple[Emulator, str]) -> None:
    emulator, url = served
    emulator.inject_fault("maskinporten.token", drop=True, times=5)
    async with httpx.AsyncClient(transport=altinn.aiohttp_transport()) as http:
        with pytest.raises(altinn.NetworkError):
            await altinn._retry.request(  # the library's own send path
                http, "POST", f"{url}/maskinporten/token", policy=altinn.RetryPolicy(backoff=0)
            )
    assert emulator.requests["maskinporten.token"] == 1


@ASYNCIO_ONLY
async def test_a_connection_that_cannot_be_made_stays_a_connect_error(
    free_port: Callable[[], int],
) -> None:
    async with httpx.AsyncClient(transport=altinn.aiohttp_transport()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/")


def test_trio_is_refused_with_a_message() -> None:
    import trio  # noqa: PLC0415

    async def main() -> None:
        async with httpx.AsyncClient(transport=altinn.aiohttp_transport()) as http:
            await http.get("http://127.0.0.1:1/")

    with pytest.raises(altinn.ConfigurationError, match="asyncio only"):
        trio.run(main)
