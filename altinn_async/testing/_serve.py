"""Serve an ASGI app on a real port with uvicorn, in a daemon thread with its own event loop."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..exceptions import ConfigurationError

_STARTUP_TIMEOUT = 10.0
_SHUTDOWN_TIMEOUT = 10.0


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str, port: int) -> Iterator[str]:
    """Run ``app`` under uvicorn on ``host:port`` (0 picks a free port); yield its base URL.

    The socket is bound here, before the thread starts, so the port is known and in use as soon
    as this returns; uvicorn only starts accepting on it.
    """
    try:
        import uvicorn  # noqa: PLC0415 - optional dependency, imported only when serving
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigurationError(
            "Serving the emulator on a port needs uvicorn: pip install 'altinn-async[emulator]'"
        ) from exc

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # uvicorn writes the response head and body separately; with Nagle's algorithm on, the
        # body waits for the client's delayed ACK (40 ms a response). Accepted sockets inherit
        # this option from the listening one.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    bound_port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop="asyncio",
        http="h11",
        ws="none",
        interface="asgi3",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run,
        kwargs={"sockets": [sock]},
        name=f"altinn-async-emulator-{bound_port}",
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError("the emulator server stopped while starting (see the log)")
        if time.monotonic() > deadline:
            server.should_exit = True
            thread.join(_SHUTDOWN_TIMEOUT)
            sock.close()
            raise RuntimeError(f"the emulator server did not start within {_STARTUP_TIMEOUT} s")
        time.sleep(0.005)
    url_host = f"[{host}]" if family == socket.AF_INET6 else host
    try:
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(_SHUTDOWN_TIMEOUT)
        sock.close()
