"""Shared fixtures: every async test runs on asyncio and on trio; sockets reach loopback only."""

from __future__ import annotations

import inspect
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import pytest

_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("idna")
    if not isinstance(host, str):
        return False
    host = host.strip("[]").lower()
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class ForeignSocketError(OSError):
    """A test tried to reach something other than this machine."""


def _refuse(what: object) -> ForeignSocketError:
    return ForeignSocketError(f"tests may reach loopback addresses only, not {what!r}")


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    # host None means "the wildcard address" for binding; a name that is not loopback would be a
    # DNS lookup leaving the machine.
    if host is not None and not _is_loopback(host):
        raise _refuse(host)
    return _real_getaddrinfo(host, *args, **kwargs)


def _checked(address: Any) -> Any:
    if isinstance(address, tuple) and address and not _is_loopback(address[0]):
        raise _refuse(address[0])
    return address


def _guarded_connect(self: Any, address: Any) -> None:
    _real_connect(self, _checked(address))


def _guarded_connect_ex(self: Any, address: Any) -> int:
    return _real_connect_ex(self, _checked(address))


def pytest_configure(config: pytest.Config) -> None:
    # For the whole session, session-scoped fixtures included: no test talks to the network.
    socket.getaddrinfo = _guarded_getaddrinfo
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    socket.getaddrinfo = _real_getaddrinfo
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def free_port() -> Callable[[], int]:
    """A function returning a TCP port on 127.0.0.1 that was free a moment ago."""

    def pick() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    return pick


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector: pytest.Collector, name: str, obj: Any) -> None:
    # Mark coroutine tests before anyio's own collection hook looks for the marker, so that it
    # parametrizes them over anyio_backend.
    if inspect.iscoroutinefunction(obj) and name.startswith("test"):
        pytest.mark.anyio(obj)
