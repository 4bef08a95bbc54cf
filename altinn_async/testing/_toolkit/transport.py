"""The in-process transport, and the ASGI TLS extension the emulator reads client certificates
from.

ASGI has no reason-phrase field, no way to drop a connection, and the TLS extension
(https://asgi.readthedocs.io/en/latest/specs/tls.html) is optional, so the emulator brings all
three itself: `EmulatorTransport` (in-process) and the uvicorn protocol in
``uvicorn_protocol.py`` (served) turn the `REASON_HEADER` into the status line's reason phrase,
turn `ConnectionDropped` into the error a real socket gives, and put the TLS client certificate
into ``scope["extensions"]["tls"]``.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Iterable, Mapping
from types import ModuleType
from typing import Any, Protocol, cast

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .asgi import REASON_HEADER, ASGIApp, ConnectionDropped, Message, Receive, Scope, Send

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}

# What httpx raises (through httpcore and h11) when a server closes the socket: without any
# response, or before the Content-Length it announced has arrived.
NO_RESPONSE = "Server disconnected without sending a response."
CUT_SHORT = (
    "peer closed connection without sending complete message body (received {} bytes, expected {})"
)


def tls_extension(
    chain: Iterable[x509.Certificate | bytes],
    *,
    tls_version: str | None = None,
    server_cert: str | None = None,
) -> dict[str, Any]:
    """The ``scope["extensions"]["tls"]`` entry for a connection whose client presented
    ``chain`` (leaf first; certificates or DER bytes) and passed verification."""
    certificates = [
        c if isinstance(c, x509.Certificate) else x509.load_der_x509_certificate(c) for c in chain
    ]
    pems = [c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certificates]
    return {
        "server_cert": server_cert,
        "client_cert_chain": pems,
        "client_cert_name": certificates[0].subject.rfc4514_string() if certificates else None,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(tls_version or ""),
        "cipher_suite": None,
    }


def with_tls_extension(app: ASGIApp, extension: Mapping[str, Any]) -> ASGIApp:
    """Wrap ``app`` so every HTTP scope carries ``extension`` as its TLS extension."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in ("http", "websocket"):
            scope = dict(scope)
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": dict(extension)}
        await app(scope, receive, send)

    return wrapped


def client_cert_chain(scope: Scope) -> tuple[str, ...]:
    """The verified client certificate chain (PEM strings) of a scope, or ``()``."""
    extensions = scope.get("extensions") or {}
    tls = extensions.get("tls") if isinstance(extensions, Mapping) else None
    if not isinstance(tls, Mapping) or tls.get("client_cert_error") is not None:
        return ()
    chain = tls.get("client_cert_chain") or ()
    return tuple(str(pem) for pem in chain)


class _Connection:
    """One request's connection to the app: what was sent before the app dropped it."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.announced: int | None = None  # Content-Length, once the response started
        self.received = 0
        self.dropped = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.announced = _content_length(message)
            elif message["type"] == "http.response.body":
                self.received += len(message.get("body", b""))
            await send(message)

        try:
            await self._app(scope, receive, watched)
        except ConnectionDropped:
            self.dropped = True
            if self.announced is None:
                raise
            # End the message for httpx's bookkeeping; the stream fails in its place.
            await send({"type": "http.response.body", "body": b""})


class TransportClass(Protocol):
    """What `transport_class` gives: makes an `EmulatorTransport` (of httpx or httpx2)."""

    def __call__(
        self, app: ASGIApp, *, tls: Mapping[str, Any] | None = None, refuse: str | None = None
    ) -> httpx.ASGITransport: ...


def _transport_class(http: ModuleType) -> TransportClass:
    """`EmulatorTransport` for the httpx package ``http`` (``httpx``, or ``httpx2``: the same API,
    but each package's client takes only its own transports, streams and exceptions)."""

    class CutShort(http.AsyncByteStream):  # type: ignore[name-defined,misc]
        """The part of a body that arrived, then the error httpx raises for the rest."""

        def __init__(
            self, received: httpx.AsyncByteStream, error: httpx.RemoteProtocolError
        ) -> None:
            self._received = received
            self._error = error

        async def __aiter__(self) -> AsyncIterator[bytes]:
            async for chunk in self._received:
                yield chunk
            raise self._error

        async def aclose(self) -> None:
            await self._received.aclose()

    class Transport(http.ASGITransport):  # type: ignore[name-defined,misc]
        """`httpx.ASGITransport` that shows the emulator's custom reason phrases, fails the way
        a real socket does when the emulator drops the connection, and optionally plays a TLS
        connection that presented a client certificate.

        ``refuse`` makes every request fail as a refused TLS handshake would
        (`httpx.ConnectError`).
        """

        def __init__(
            self,
            app: ASGIApp,
            *,
            tls: Mapping[str, Any] | None = None,
            refuse: str | None = None,
        ) -> None:
            super().__init__(app=app if tls is None else with_tls_extension(app, tls))
            self._refuse = refuse

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if self._refuse is not None:
                raise http.ConnectError(self._refuse, request=request)
            connection = _Connection(self.app)
            try:
                # A transport per request: the connection state must not be shared.
                response: httpx.Response = await http.ASGITransport(
                    app=connection
                ).handle_async_request(request)
            except ConnectionDropped:
                raise http.RemoteProtocolError(NO_RESPONSE, request=request) from None
            if connection.dropped:
                message = CUT_SHORT.format(connection.received, connection.announced)
                error = http.RemoteProtocolError(message, request=request)
                assert isinstance(response.stream, http.AsyncByteStream)  # noqa: S101 - ASGI
                response.stream = CutShort(response.stream, error)
            reason = response.headers.get(REASON_HEADER)
            if reason is not None:
                del response.headers[REASON_HEADER]
                response.extensions["reason_phrase"] = reason.encode("latin-1", "replace")
            return response

    Transport.__name__ = Transport.__qualname__ = "EmulatorTransport"
    Transport.__module__ = __name__
    return cast("TransportClass", Transport)


EmulatorTransport = _transport_class(httpx)
"""The emulator's in-process transport for ``httpx`` clients."""

_TRANSPORTS: dict[str, TransportClass] = {"httpx": EmulatorTransport}

LIBRARIES = ("httpx", "httpx2")
"""The HTTP client packages `transport_class` makes transports for."""


def transport_class(library: str = "httpx") -> TransportClass:
    """The emulator's in-process transport class for clients of ``library`` (``"httpx"`` or
    ``"httpx2"``; httpx2 is imported on first use).

    Raises:
        ValueError: ``library`` is neither.
        ImportError: ``library`` is not installed.
    """
    made = _TRANSPORTS.get(library)
    if made is not None:
        return made
    if library not in LIBRARIES:
        raise ValueError(f"library must be one of {', '.join(LIBRARIES)}, not {library!r}")
    module = importlib.import_module(library)
    made = EmulatorTransport if module is httpx else _transport_class(module)
    _TRANSPORTS[library] = made
    return made


def _content_length(message: Message) -> int:
    for name, value in message.get("headers", ()):
        if bytes(name).lower() == b"content-length":
            return int(value)
    return 0
