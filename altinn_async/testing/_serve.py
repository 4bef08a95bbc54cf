"""Serve an ASGI app on a real port with uvicorn, in a daemon thread with its own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..exceptions import ConfigurationError

_STARTUP_TIMEOUT = 10.0
_SHUTDOWN_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ServerTLS:
    """TLS settings for `serve_in_thread`, as PEM bytes.

    Attributes:
        certificate_chain: the server certificate, then its chain.
        private_key: the server certificate's unencrypted private key.
        client_ca: the certificates trusted for client certificates (concatenated PEM).
        require_client_certificate: refuse the handshake without a client certificate
            (``CERT_REQUIRED``); otherwise one is asked for but optional (``CERT_OPTIONAL``).
    """

    certificate_chain: bytes
    private_key: bytes = field(repr=False)
    client_ca: bytes
    require_client_certificate: bool


@contextlib.contextmanager
def _tls_options(tls: ServerTLS | None) -> Iterator[dict[str, Any]]:
    """uvicorn's ``ssl_*`` options, with the PEMs in a temporary directory while serving."""
    if tls is None:
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="altinn-async-emulator-") as directory:
        files = {
            "ssl_certfile": ("server-chain.pem", tls.certificate_chain),
            "ssl_keyfile": ("server-key.pem", tls.private_key),
            "ssl_ca_certs": ("client-ca.pem", tls.client_ca),
        }
        options: dict[str, Any] = {}
        for option, (name, content) in files.items():
            path = Path(directory) / name
            path.write_bytes(content)
            options[option] = str(path)
        options["ssl_cert_reqs"] = (
            ssl.CERT_REQUIRED if tls.require_client_certificate else ssl.CERT_OPTIONAL
        )
        yield options


@contextlib.contextmanager
def serve_in_thread(
    app: Any, host: str, port: int, *, tls: ServerTLS | None = None
) -> Iterator[str]:
    """Run ``app`` under uvicorn on ``host:port`` (0 picks a free port); yield its base URL.

    The socket is bound here, before the thread starts, so the port is known and in use as soon
    as this returns; uvicorn only starts accepting on it. With ``tls`` the server speaks HTTPS
    and asks for client certificates.
    """
    try:
        import uvicorn  # noqa: PLC0415 - optional dependency, imported only when serving

        from ._uvicorn import EmulatorProtocol  # noqa: PLC0415 - needs uvicorn
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigurationError(
            "Serving the emulator on a port needs uvicorn: pip install 'altinn-async[emulator]'"
        ) from exc
    with (
        _tls_options(tls) as tls_options,
        _serve(
            uvicorn, EmulatorProtocol, app, host=host, port=port, tls_options=tls_options
        ) as url,
    ):
        yield url


@contextlib.contextmanager
def _serve(
    uvicorn: ModuleType,
    protocol: type[asyncio.Protocol],
    app: Any,
    *,
    host: str,
    port: int,
    tls_options: dict[str, Any],
) -> Iterator[str]:
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
        http=protocol,
        ws="none",
        interface="asgi3",
        **tls_options,
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
    scheme = "https" if tls_options else "http"
    try:
        yield f"{scheme}://{url_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(_SHUTDOWN_TIMEOUT)
        sock.close()
