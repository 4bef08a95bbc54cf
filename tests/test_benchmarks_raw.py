"""The benchmarks' raw HTTP/1.1 client (`benchmarks._raw`): bodies by length, chunked and to the
end of the connection, keep-alive reuse within its pool, a non-200 raised; and its harvest sends
the requests the library's harvest engine sends. It runs on asyncio alone."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

import altinn_async as altinn
from altinn_async.testing import Emulator
from benchmarks._raw import RawClient, RawError, RawStatusError
from benchmarks.harvest_baseline import engine_harvest
from benchmarks.limits import raw_harvest

from .helpers import signing_key

ASYNCIO_ONLY = pytest.mark.parametrize("anyio_backend", ["asyncio"])  # asyncio streams

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value\r\nhello\r\n1\r\n,\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
)
RESPONSES = {
    "/length": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Twice: a\r\nX-Twice: b\r\n\r\nhello",
    "/chunked": CHUNKED,
    "/missing": b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
    "/close": b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye",
    "/eof": b"HTTP/1.0 200 OK\r\n\r\nuntil the end",
    "/empty": b"HTTP/1.1 204 No Content\r\n\r\n",
    "/interim": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "/garbage": b"SPDY/3 200 OK\r\n\r\n",
    "/short": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
}
ENDS_CONNECTION = ("/close", "/eof", "/short")


@dataclass
class Server:
    """A scripted HTTP/1.1 server on 127.0.0.1: each path has its fixed response."""

    url: str = ""
    connections: int = 0
    requests: list[tuple[int, str, dict[str, str]]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                lines = head.decode("latin-1").split("\r\n")[:-2]
                method, path, version = lines[0].split(" ")
                assert (method, version) == ("GET", "HTTP/1.1")
                headers = dict(line.split(": ", 1) for line in lines[1:])
                self.requests.append((connection, path, headers))
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                await asyncio.sleep(0.01 if path == "/length" else 0)
                self.in_flight -= 1
                writer.write(RESPONSES[path])
                await writer.drain()
                if path in ENDS_CONNECTION:
                    return
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    scripted = Server()
    listening = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    scripted.url = f"http://127.0.0.1:{port}"
    async with listening:
        yield scripted


@ASYNCIO_ONLY
async def test_bodies_by_length_chunked_and_to_the_end(server: Server) -> None:
    async with RawClient(server.url, concurrency=1, headers={"Authorization": "Bearer t"}) as raw:
        response = await raw.fetch(f"{server.url}/length")
        assert (response.status, response.body) == (200, b"hello")
        assert response.headers["x-twice"] == "a, b"
        assert await raw.get(f"{server.url}/chunked") == b"hello, world"
        assert await raw.get(f"{server.url}/interim") == b"ok"
        assert (await raw.fetch(f"{server.url}/empty")).body == b""
        assert await raw.get(f"{server.url}/eof") == b"until the end"
    host = server.url.removeprefix("http://")
    assert server.requests[0][2] == {"Host": host, "Authorization": "Bearer t"}


@ASYNCIO_ONLY
async def test_a_connection_is_kept_alive_and_the_pool_bounded(server: Server) -> None:
    async with RawClient(server.url, concurrency=2) as raw:
        for _ in range(3):
            await raw.get(f"{server.url}/length")
            await raw.get(f"{server.url}/chunked")
        assert (raw.opened, server.connections) == (1, 1)
        async with anyio.create_task_group() as group:
            for _ in range(6):
                group.start_soon(raw.get, f"{server.url}/length")
        assert raw.opened == server.connections == 2
        assert server.most_in_flight == 2
        assert raw.requests == len(server.requests) == 12
        for _ in range(3):  # each ends its connection: the two idle ones, then a new one
            await raw.get(f"{server.url}/close")
        assert raw.opened == server.connections == 3
        used = [connection for connection, _, _ in server.requests[-3:]]
        assert (sorted(used[:2]), used[2]) == ([1, 2], 3)


@ASYNCIO_ONLY
async def test_a_status_other_than_200_raises_and_the_connection_stays(server: Server) -> None:
    async with RawClient(server.url, concurrency=1) as raw:
        with pytest.raises(RawStatusError, match="answered 404") as raised:
            await raw.get(f"{server.url}/missing")
        assert raised.value.status == 404
        assert (await raw.fetch(f"{server.url}/missing")).body == b"not found"
        assert await raw.get(f"{server.url}/length") == b"hello"
        assert raw.opened == 1


@ASYNCIO_ONLY
async def test_what_it_cannot_read_raises(server: Server) -> None:
    async with RawClient(server.url, concurrency=1) as raw:
        with pytest.raises(RawError, match="status line"):
            await raw.get(f"{server.url}/garbage")
        with pytest.raises(RawError, match="closed the connection"):
            await raw.get(f"{server.url}/short")
        with pytest.raises(ValueError, match="is not on"):
            await raw.get("http://127.0.0.2:1/length")
        assert await raw.get(f"{server.url}/length") == b"hello"  # on a new connection
    with pytest.raises(ValueError, match="plain http"):
        RawClient("https://127.0.0.1:1", concurrency=1)


@ASYNCIO_ONLY
async def test_the_raw_harvest_sends_the_engines_requests(tmp_path: Path) -> None:
    emulator = Emulator()
    key = signing_key()
    scopes = ["altinn:serviceowner/instances.read"]
    emulator.add_maskinporten_client(
        "bench", org_number="405003309", scopes=scopes, jwks=[key.public_jwk]
    )
    emulator.add_instances("ttd", "app", 230)  # three pages of 100
    with emulator.serve() as url:
        environment = emulator.environment_for(url)
        async with altinn.AltinnExchangeAuth(
            altinn.MaskinportenAuth(
                client_id="bench", key=key, scopes=scopes, environment=environment
            )
        ) as auth:
            token = (await auth.get_token()).access_token
        sent: dict[str, Counter[str]] = {}
        for name, harvester in (("engine", engine_harvest), ("raw", raw_harvest)):
            before = Counter(emulator.requests)
            stats = await harvester(environment.platform, token, "ttd", 4, tmp_path / name)
            sent[name] = Counter(emulator.requests) - before
            assert (stats.elements, stats.requests) == (230, stats.pages + 230)
    assert sent["raw"] == sent["engine"]
    assert sent["raw"]["storage.data"] == 230
