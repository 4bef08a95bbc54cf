"""`EmulatorServer`: the emulator bound to a port, with the `Environment` for its URL."""

from __future__ import annotations

import socket

from .._environment import Environment
from ._toolkit.asgi import ASGIApp
from ._toolkit.server import Server, ServerTLS

__all__ = ["EmulatorServer"]


class EmulatorServer(Server):
    """The emulator on a real port, made by `Emulator.server`: bound and listening, not yet
    serving.

    Call `run` to serve in the foreground; it returns within about a second of `stop` (from
    another thread or a signal handler) or Ctrl-C. Use it as a context manager, or call `close`,
    to free the port of a server that never runs.

    Example::

        with emu.server(port=8080) as server:
            print(f"emulator on {server.url}")
            server.run()

    Attributes:
        url: the base URL clients reach the emulator at: ``http://127.0.0.1:<port>`` (the real
            port when 0 was asked for), ``http://[::1]:<port>``, ``https://…`` with TLS, or the
            ``public_url`` given.
        environment: the `Environment` for ``url``.
    """

    def __init__(
        self,
        app: ASGIApp,
        sock: socket.socket,
        url: str,
        tls: ServerTLS | None,
        environment: Environment,
    ) -> None:
        super().__init__(app, sock, url, tls)
        self.environment = environment
