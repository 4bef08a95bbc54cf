"""uvicorn glue (imported only when serving): custom reason phrases, TLS client certificates
and dropped connections, and a server that says when it has started.

uvicorn's h11 protocol writes the standard reason phrase for every status, does not put the TLS
peer certificate into the ASGI scope, and has no way for the app to drop the connection.
`EmulatorProtocol` is uvicorn's own `H11Protocol` with three additions:

- its h11 connection rewrites a response that carries `REASON_HEADER`: the header's value becomes
  the status line's reason phrase and the header is dropped;
- once the TLS handshake is done, it reads the client certificate OpenSSL verified
  (``ssl_object.getpeercert(binary_form=True)``) and wraps the connection's app so every request
  scope carries it in ``scope["extensions"]["tls"]`` (the ASGI TLS extension);
- when the app raises `ConnectionDropped`, it closes the socket right there (what was written,
  such as a partial body, goes out first) and lets the app finish once uvicorn has seen the
  connection go, so uvicorn neither answers 500 nor logs an incomplete response.

Python 3.11's ssl module exposes only the leaf of the client's chain, so ``client_cert_chain``
holds the leaf alone.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, overload

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .asgi import REASON_HEADER, ASGIApp, ConnectionDropped, Receive, Scope, Send
from .transport import tls_extension, with_tls_extension

_REASON = REASON_HEADER.encode()


class _ReasonPhraseConnection(h11.Connection):
    """An h11 server connection that takes the reason phrase from `REASON_HEADER`."""

    @overload
    def send(self, event: h11.ConnectionClosed) -> None: ...

    @overload
    def send(
        self,
        event: h11.Request | h11.InformationalResponse | h11.Response | h11.Data | h11.EndOfMessage,
    ) -> bytes: ...

    @overload
    def send(self, event: h11.Event) -> bytes | None: ...

    def send(self, event: h11.Event) -> bytes | None:
        if isinstance(event, h11.Response):
            reason: bytes | None = None
            kept: list[tuple[bytes, bytes]] = []
            for name, value in event.headers:
                if name == _REASON:
                    reason = value
                else:
                    kept.append((name, value))
            if reason is not None:
                event = h11.Response(
                    status_code=event.status_code,
                    headers=kept,
                    reason=reason,
                    http_version=event.http_version,
                )
        return super().send(event)


class EmulatorProtocol(H11Protocol):
    """uvicorn's h11 protocol with custom reason phrases and the ASGI TLS extension."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Same construction arguments, one overridden method: swap the class in place.
        self.conn.__class__ = _ReasonPhraseConnection

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        app: ASGIApp = _dropping(self.app, transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            extension = tls_extension([der] if der else [], tls_version=ssl_object.version())
            app = with_tls_extension(app, extension)
        self.app = app


def _dropping(app: ASGIApp, transport: asyncio.Transport) -> ASGIApp:
    """``app``, with `ConnectionDropped` closing the connection's socket."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except ConnectionDropped:
            transport.close()
            # Return once uvicorn has noticed the close; returning earlier makes it log the
            # response as incomplete.
            while (await receive())["type"] != "http.disconnect":
                pass

    return wrapped


class NotifyingServer(uvicorn.Server):
    """uvicorn's server that calls ``on_started`` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()
