"""Serving an ASGI app on a real port with uvicorn: a socket bound up front, then a server that
runs in the foreground (or in a thread) until it is stopped.

uvicorn is optional (the ``emulator`` extra): it is imported when a server is made, never when
the emulator is merely imported.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from .asgi import ASGIApp

if TYPE_CHECKING:
    import uvicorn

# uvicorn waits this long for requests in flight when stopping; idle keep-alive connections are
# closed at once.
_GRACE_SECONDS = 1
_BACKLOG = 128


@dataclass(frozen=True, slots=True)
class ServerTLS:
    """TLS settings for a `Server`, as PEM bytes.

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


def ensure_uvicorn() -> None:
    """Check that serving is possible before anything is bound.

    Raises:
        RuntimeError: uvicorn is not installed.
    """
    try:
        import uvicorn  # noqa: F401, PLC0415 - optional dependency, imported only when serving
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(
            "Serving the emulator on a port needs uvicorn: pip install 'altinn-async[emulator]'"
        ) from exc


def is_wildcard(host: str) -> bool:
    """Whether ``host`` means every address (``0.0.0.0``, ``::``)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""


def url_host(host: str) -> str:
    """``host`` as it stands in a URL: IPv6 addresses in brackets."""
    bare = host.strip("[]")
    return f"[{bare}]" if ":" in bare else bare


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0 picks a free port) and listening.

    Raises:
        OSError: the address is in use (the message says so), or cannot be bound.
    """
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # uvicorn writes the response head and body separately; with Nagle's algorithm on, the
        # body waits for the client's delayed ACK (40 ms a response). Accepted sockets inherit
        # this option from the listening one.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((bare, port))
        # Listening now queues clients that connect before the server runs, instead of
        # refusing them.
        sock.listen(_BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            where = f"{url_host(bare)}:{port}"
            raise OSError(
                exc.errno, f"cannot listen on {where}: the address is already in use"
            ) from exc
        raise
    return sock


@contextlib.contextmanager
def _tls_options(tls: ServerTLS | None) -> Iterator[dict[str, Any]]:
    """uvicorn's ``ssl_*`` options, the PEMs in a temporary directory until the config loads."""
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


def _uvicorn_server(
    app: ASGIApp, tls: ServerTLS | None, on_started: Callable[[], None]
) -> uvicorn.Server:
    ensure_uvicorn()
    import uvicorn  # noqa: PLC0415 - optional dependency, imported only when serving

    from .uvicorn_glue import EmulatorProtocol, NotifyingServer  # noqa: PLC0415 - needs it

    with _tls_options(tls) as tls_options:
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            loop="asyncio",
            http=EmulatorProtocol,
            ws="none",
            interface="asgi3",
            # The application dates its answers by the emulator's clock (which may be skewed
            # on purpose); uvicorn's own Date, from the real clock, would come first and win.
            date_header=False,
            timeout_graceful_shutdown=_GRACE_SECONDS,
            **tls_options,
        )
        # Loading reads the certificate files, which need not outlive this block.
        config.load()
    return NotifyingServer(config, on_started)


class Server:
    """``app`` under uvicorn on an already listening socket, with the emulator's own protocol
    (custom reason phrases, TLS client certificates, dropped connections).

    `run` serves in the foreground until `stop` (from any thread) or Ctrl-C; the socket is closed
    afterwards, or by `close` if the server never runs.
    """

    def __init__(self, app: ASGIApp, sock: socket.socket, url: str, tls: ServerTLS | None) -> None:
        self._socket = sock
        self._url = url
        self._started = threading.Event()
        self._ready = threading.Event()
        self._ran = False
        try:
            self._uvicorn = _uvicorn_server(app, tls, self._on_started)
        except BaseException:
            sock.close()  # the socket is ours from here on: never leak it
            raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self._url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
        self.close()

    @property
    def url(self) -> str:
        """The base URL clients reach the server at."""
        return self._url

    def run(self) -> None:
        """Serve in the foreground until `stop` is called or Ctrl-C is pressed, then return
        (within about a second: requests in flight get that long to finish).

        Raises:
            RuntimeError: the server already ran; a socket serves once.
        """
        if self._ran:
            raise RuntimeError("this server already ran; make a new one")
        self._ran = True
        try:
            self._uvicorn.run(sockets=[self._socket])
        except KeyboardInterrupt:
            # uvicorn shut down gracefully on SIGINT and raised it again; that was the stop.
            pass
        finally:
            self._socket.close()
            self._ready.set()

    def stop(self) -> None:
        """Ask a running server to stop (thread-safe; `run` returns soon after)."""
        self._uvicorn.should_exit = True

    def close(self) -> None:
        """Close the socket of a server that did not run (harmless otherwise)."""
        if not self._ran:
            self._socket.close()

    def run_in_thread(self, timeout: float) -> threading.Thread:
        """Run in a daemon thread; return once the server accepts connections.

        Raises:
            RuntimeError: it stopped, or did not start within ``timeout`` seconds.
        """
        thread = threading.Thread(target=self.run, name=f"emulator {self._url}", daemon=True)
        thread.start()
        self._ready.wait(timeout)
        if not self._started.is_set():
            self.stop()
            thread.join(timeout)
            raise RuntimeError(f"the emulator server at {self._url} did not start (see the log)")
        return thread

    def _on_started(self) -> None:
        self._started.set()
        self._ready.set()
