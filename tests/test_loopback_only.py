"""The test suite itself reaches loopback addresses only."""

from __future__ import annotations

import socket

import httpx
import pytest

from .conftest import ForeignSocketError


def test_a_name_that_is_not_loopback_is_not_even_looked_up() -> None:
    with pytest.raises(ForeignSocketError, match=r"attacker\.example"):
        socket.getaddrinfo("attacker.example", 443)


def test_a_connection_to_a_public_address_is_refused() -> None:
    with socket.socket() as sock, pytest.raises(ForeignSocketError, match=r"192\.0\.2\.1"):
        sock.connect(("192.0.2.1", 443))


async def test_httpx_cannot_reach_the_internet_from_a_test() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError, match="loopback"):
            await http.get("https://attacker.example/")


def test_loopback_is_reachable(free_port: object) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
