"""Shared fixtures: every async test runs on asyncio and on trio; sockets reach loopback only."""

from __future__ import annotations

import contextlib
import inspect
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
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


HTTP_LIBRARIES = ("httpx", "httpx2")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--http-library",
        choices=HTTP_LIBRARIES,
        default="httpx",
        help="run the suite on httpx (default) or on httpx2: with httpx2, `import httpx` is "
        "httpx2 (httpx2.alias_httpx()) for the library, the emulator and the tests alike",
    )


def _choose_http_library(config: pytest.Config) -> None:
    if config.getoption("--http-library") != "httpx2":
        return
    try:
        import httpx2  # noqa: PLC0415 - only for this run
    except ImportError:
        raise pytest.UsageError("--http-library=httpx2 needs httpx2: pip install httpx2") from None
    real = sys.modules.get("httpx")
    if real is not None and real is not httpx2:
        raise pytest.UsageError(
            "--http-library=httpx2: httpx was imported before the alias (by a plugin?), so the "
            "suite would not run on httpx2"
        )
    # Before any test module imports httpx (conftest imports none; the altinn_async pytest
    # plugin imports the library only when a fixture of it first runs).
    httpx2.alias_httpx()


def pytest_report_header(config: pytest.Config) -> str:
    import httpx  # noqa: PLC0415 - after the alias, if any

    return f"http library: {httpx.__name__} {httpx.__version__}"


def pytest_configure(config: pytest.Config) -> None:
    _choose_http_library(config)
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


# --- a real Redis server ----------------------------------------------------------------------

REDIS_INSTALL = "apt-get install redis-server"


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_process(folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A ``redis-server`` of its own on a loopback port: its URL and its process (a test may
    stop it to play an outage). Skips (or fails under ``CI``) without ``redis-server``."""
    binary = shutil.which("redis-server")
    if binary is None:
        message = f"redis-server is not installed: run `{REDIS_INSTALL}`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [
        binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(folder),
    ]  # fmt: skip
    with (folder / "redis.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
    try:
        deadline = time.monotonic() + 20
        while not _redis_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start: {(folder / 'redis.log').read_text()}")
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a ``redis-server`` started for this test session on a loopback port.

    Without ``redis-server`` the tests that need it are skipped, saying how to install it, or
    fail under ``CI`` (where a missing server is a broken setup, not a choice).
    """
    with redis_process(tmp_path_factory.mktemp("redis")) as (url, _):
        yield url


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The URL of the session's Redis server, emptied for this test."""
    port = int(redis_server.rsplit(":", 1)[1].split("/", 1)[0])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"FLUSHALL\r\n")
        assert sock.recv(16).startswith(b"+OK")
    return redis_server
